"""BYOL pre-training end to end on generated SynthRooms scenes: config validation, the BYOL module on
real views, a short run, exact kill/resume, a 2-process gloo DDP run, exported encoder."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from byol3d.byol.ema import ema_update, tau_base_for
from byol3d.byol.loss import byol_objective
from byol3d.byol.model import BYOL, freeze_for_training
from byol3d.config import ConfigError, save_yaml
from byol3d.data.cache import list_scenes
from byol3d.data.dataset import DataConfig, TwoViewDataset, collate_views
from byol3d.models.config import PointNeXtConfig
from byol3d.pretrain import pretrain_identity, run_pretrain
from byol3d.profile import ByolConfig, Profile, load_profile
from byol3d.train.metrics_log import METRIC_KEYS
from byol3d.train.checkpoint import load_checkpoint, load_pretrained
from conftest import smoke_profile


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tiny(*overrides: str) -> Profile:
    """Smoke preset on CPU: 1000-point views, small heads; "byol.field=value" overrides."""
    return smoke_profile(*overrides, data=DataConfig(voxel_max=1000))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("tau_base", 1.0, "tau_base: must be in (0, 1)"),
        ("tau_base", 0.0, "tau_base"),
        ("loss", "contrastive", "loss: must be kinds of ['global', 'region', 'dense'] joined by '+'"),
        ("region_size", 0.0, "region_size: must be > 0"),
        ("mask_ratio", 1.0, "mask_ratio: must be in [0, 1)"),
        ("mask_size", 0.0, "mask_size: must be > 0"),
        ("steps", 0, "steps (or epochs) must be a positive number"),
        ("batch_size", 1, "batch_size: must be >= 2"),
        ("pool", "sum", "pool"),
        ("lr", -1.0, "lr: must be > 0"),
    ],
)
def test_bad_config_values_rejected(field, value, message):
    with pytest.raises(ConfigError, match="ByolConfig") as err:
        dataclasses.replace(Profile.quick().byol, **{field: value})
    assert message in str(err.value)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "my_run.yaml"
    save_yaml(Profile.smoke(), path)
    assert load_profile(str(path)) == Profile.smoke()
    path.write_text(path.read_text().replace("tau_base: null", "tau_base: 1.5"))
    with pytest.raises(ConfigError, match=r"my_run\.yaml.*ByolConfig.tau_base"):
        load_profile(str(path))
    path.write_text("byol:\n  tau_bse: 0.9\n")
    with pytest.raises(ConfigError, match=r"my_run\.yaml: byol.*unknown key.*tau_bse.*ByolConfig"):
        load_profile(str(path))
    with pytest.raises(ConfigError, match="unknown preset|not found"):
        load_profile("medium")


def test_a_partial_yaml_keeps_the_defaults_of_every_other_field(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("byol:\n  steps: 7\nrun:\n  seed: 3\n")
    profile = load_profile(str(path))
    assert profile.byol == ByolConfig(steps=7) and profile.run.seed == 3 and profile.model == Profile().model


def _views(root: Path, count: int = 2):
    data = TwoViewDataset(root, "train", DataConfig(voxel_max=1500), seed=0)
    return collate_views([data[i] for i in range(count)])


@pytest.mark.parametrize("kinds", ["global+dense", "region+dense"])
def test_target_gets_no_gradient_and_moves_only_by_ema(synth_processed, kinds):
    torch.manual_seed(0)
    view1, view2 = _views(synth_processed)
    model = BYOL(PointNeXtConfig.S(), loss=kinds, proj_hidden=64, proj_out=32, dense_pairs=128)
    freeze_for_training(model)
    assert all(not p.requires_grad for p in model.target.parameters())
    assert not any(p.requires_grad for p in model.encoder.head.parameters())
    before = {k: v.clone() for k, v in model.target.state_dict().items()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    outputs = model(view1, view2, generator=torch.Generator().manual_seed(0))
    loss, metrics = byol_objective(outputs, model.kinds)
    loss.backward()
    assert all(p.grad is None for p in model.target.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.online.net.backbone.parameters())
    optimizer.step()
    for name, value in model.target.state_dict().items():
        if value.is_floating_point() and "running" not in name:  # target forward (train mode) moves BN stats
            assert torch.equal(value, before[name]), name
    ema_update(model.online.net, model.target, 0.5)
    moved = [n for n, v in model.target.named_parameters() if not torch.equal(v, before[n])]
    terms = [f"loss_{kind}" for kind in kinds.split("+")]
    assert moved and set(metrics) >= {"loss", *terms, "collapse_std", "cos_online_target"}


def test_shared_neighbour_plans_give_the_same_loss(synth_processed):
    """The target network reusing the online network's neighbour plans computes what it would alone."""
    view1, view2 = _views(synth_processed)
    losses = []
    for share in (True, False):
        torch.manual_seed(0)
        model = BYOL(PointNeXtConfig.S(), loss="global+dense", proj_hidden=64, proj_out=32, dense_pairs=128)
        outputs = model(view1, view2, generator=torch.Generator().manual_seed(0), share_plans=share)
        losses.append(byol_objective(outputs, model.kinds)[0].item())
    assert losses[0] == losses[1]


def test_masked_online_views_leave_the_target_alone(synth_processed):
    """With a mask, only the online network's input changes: the target's projections are those of an
    unmasked model with the same weights, the online predictions are not."""
    view1, view2 = _views(synth_processed)
    outputs = []
    for ratio in (0.0, 0.5):
        torch.manual_seed(0)
        model = BYOL(PointNeXtConfig.S(), loss="region+dense", proj_hidden=64, proj_out=32, dense_pairs=128,
                     mask_ratio=ratio, mask_size=0.2)
        outputs.append(model(view1, view2, generator=torch.Generator().manual_seed(0)))
    plain, masked = outputs
    assert torch.equal(plain["t_dense"], masked["t_dense"]) and torch.equal(plain["t_region"], masked["t_region"])
    assert not torch.allclose(plain["q_dense"], masked["q_dense"])


def test_the_mask_enters_the_run_key_only_when_on(synth_processed):
    """Runs from before the mask existed keep their keys: its fields are in the identity only when it is on."""
    off = pretrain_identity(_tiny(), synth_processed)["byol"]
    on = pretrain_identity(_tiny("byol.mask_ratio=0.5"), synth_processed)["byol"]
    assert "mask_ratio" not in off and "mask_size" not in off
    assert on["mask_ratio"] == 0.5 and on["mask_size"] == ByolConfig().mask_size


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_events_are_the_metrics(run: Path, scalars: dict) -> None:
    """The run's TensorBoard scalars are metrics.jsonl's columns: tag byol/<key> for every key in use (not
    None), one point per step, the same values (stored as float32)."""
    rows = _metrics(run)
    keys = [key for key in METRIC_KEYS if key != "step" and rows[0][key] is not None]
    assert sorted(scalars) == sorted(f"byol/{key}" for key in keys)
    for key in keys:
        assert scalars[f"byol/{key}"] == [(r["step"], float(np.float32(r[key]))) for r in rows], key


@pytest.mark.slow
def test_short_run_lowers_loss_without_collapse(synth_processed, tmp_path, event_scalars):
    cfg = _tiny("byol.steps=12", "byol.warmup=2", "byol.lr=2e-3", "byol.loss=global+dense")
    run = run_pretrain(cfg, synth_processed, tmp_path / "run")
    rows = _metrics(run)
    assert [r["step"] for r in rows] == list(range(1, 13))
    _assert_events_are_the_metrics(run, event_scalars(run))
    assert "byol/loss_region" not in event_scalars(run)  # a term the config does not use: no tag
    first, last = sum(r["loss"] for r in rows[:3]) / 3, sum(r["loss"] for r in rows[-3:]) / 3
    assert last < first, (first, last)
    healthy = 1 / cfg.byol.proj_out**0.5
    assert min(r["collapse_std"] for r in rows) > 0.3 * healthy
    assert cfg.byol.tau_base is None  # the presets follow the run-length rule
    assert rows[0]["tau"] == pytest.approx(tau_base_for(cfg.byol.steps)) and rows[-1]["tau"] > rows[0]["tau"]
    online = load_checkpoint(run / "checkpoints" / "last.pt")["online"]
    for name, value in load_pretrained(run / "encoder.pt").state_dict().items():  # the online PointNeXt
        assert torch.equal(value, online[f"net.backbone.{name}"]), name
    assert run_pretrain(cfg, synth_processed, run) == run  # finished run with the same config: reused
    assert run_pretrain(cfg.on_device("auto"), synth_processed, run) == run  # the device is not the result
    with pytest.raises(ConfigError, match="holds another run"):
        run_pretrain(dataclasses.replace(cfg, byol=dataclasses.replace(cfg.byol, lr=1e-4)), synth_processed, run)
    other = tmp_path / "other_data"  # the same scenes but one: the finished run must not be reused for it
    shutil.copytree(synth_processed, other)
    shutil.rmtree(list_scenes(other, "train")[0])
    with pytest.raises(ConfigError, match="a different config or different data"):
        run_pretrain(cfg, other, run)


def _cli(data: Path, config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "byol3d.pretrain", "--data", str(data), "--config", str(config), "--out", str(out)]
    return subprocess.Popen([*cmd, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_and_resume_gives_identical_weights(synth_processed, tmp_path, event_scalars):
    config = tmp_path / "resume.yaml"
    save_yaml(_tiny("byol.steps=10", "byol.ckpt_every=3", "byol.loss=global+dense"), config)
    reference = _cli(synth_processed, config, tmp_path / "ref")
    killed_out = tmp_path / "killed"
    proc = _cli(synth_processed, config, killed_out)
    ckpt = killed_out / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed_out / "encoder.pt").exists(), "the run finished before it could be killed"
    assert load_checkpoint(ckpt)["step"] < 10
    resumed = _cli(synth_processed, config, killed_out, "--resume")
    for p in (reference, resumed):
        assert p.wait(timeout=300) == 0, p.stderr.read()
    ref, res = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (tmp_path / "ref", killed_out))
    assert ref["step"] == res["step"] == 10
    for part in ("online", "target"):
        for name, value in ref[part].items():
            assert torch.equal(value, res[part][name]), f"{part}.{name} differs after resume"
    assert [r["step"] for r in _metrics(killed_out)] == list(range(1, 11))
    assert [r["loss"] for r in _metrics(killed_out)] == [r["loss"] for r in _metrics(tmp_path / "ref")]
    # two event files (killed attempt, resume); read back, one point per step: what metrics.jsonl holds
    assert len(list((killed_out / "tensorboard").glob("events.out.tfevents.*"))) == 2
    _assert_events_are_the_metrics(killed_out, event_scalars(killed_out))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run_pretrain(_tiny("byol.steps=2", "byol.loss=global+dense"), data, out)  # checks that replicas stayed equal


@pytest.mark.slow
def test_two_process_gloo_ddp_run(synth_processed, tmp_path, event_scalars):
    out = tmp_path / "ddp"
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), str(synth_processed), str(out)), nprocs=2)
    rows = _metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    assert len(list((out / "tensorboard").iterdir())) == 1  # only rank 0 writes events
    _assert_events_are_the_metrics(out, event_scalars(out))
    assert load_pretrained(out / "encoder.pt") is not None
