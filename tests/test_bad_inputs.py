"""Bad inputs and faults (issue 13): nothing lost, nothing silently wrong, and a clear error (the file,
the reason, what to do) instead of a traceback. Each test failed before its fix; the item number of the
issue is in the test's docstring."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_scannet_reader import grid_mesh, labels, write_raw_dataset, write_raw_scene

from byol3d.config import ConfigError, load_yaml, save_yaml
from byol3d.data.cache import data_fingerprint, load_scene, write_scene
from byol3d.data.dataset import DataConfig
from byol3d.data.errors import DataError
from byol3d.data.preprocess import preprocess_dataset
from byol3d.data.scannet import read_scene
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.pretrain import run_pretrain
from byol3d.probe import load_probe
from byol3d.profile import Profile
from byol3d.run_store import MARKER
from byol3d.train.checkpoint import CheckpointError, export_encoder, load_checkpoint, load_pretrained
from byol3d.train.finite import NonFiniteError, check_finite_losses
from byol3d.transforms import AugmentConfig
from byol3d.transforms.augment import elastic_distortion
from byol3d.utils.atomic import DiskFullError, atomic_torch_save, atomic_write
from conftest import smoke_profile

TINY_DATA = DataConfig(voxel_size=0.06, voxel_max=600)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tiny_pretrain(*overrides: str) -> Profile:
    return smoke_profile("byol.steps=1", "byol.ckpt_every=1", "byol.dense_pairs=64", "byol.proj_hidden=32",
                         "byol.proj_out=16", *overrides, data=TINY_DATA)


def _cli(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def _user_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, one `error:` line naming the words, no traceback."""
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert "Traceback" not in result.stderr and last.startswith("error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _copy_with_moved_scene(root: Path, dest: Path) -> Path:
    """The same scenes, names and file sizes as `root`, with one training scene shifted by 1 cm."""
    shutil.copytree(root, dest)
    scene = sorted((dest / "train").iterdir())[0]
    arrays = load_scene(scene)
    write_scene(scene, {**arrays, "coord": arrays["coord"] + np.float32(0.01)})
    return dest


# --- 1. run folders -------------------------------------------------------------------------------------

def test_probe_refuses_to_replace_a_folder_that_is_not_a_probe_run(synth_processed, tmp_path):
    """1: `probe --out` pointed at a pre-training run or at the data root deleted it and exited 0."""
    run = tmp_path / "byol_run"
    run.mkdir()
    (run / "encoder.pt").write_bytes(b"precious")
    data = tmp_path / "data"
    shutil.copytree(synth_processed, data)  # a copy: the session's data must survive a regression
    args = ("--data", data, "--method", "majority", "--config", "smoke")
    _user_error(_cli("byol3d.probe", *args, "--out", run), str(run), "not a byol3d run folder")
    assert (run / "encoder.pt").read_bytes() == b"precious"
    _user_error(_cli("byol3d.probe", *args, "--out", data), str(data))
    assert (data / "train").is_dir()
    probe_run = tmp_path / "probe_run"
    for _ in range(2):  # its own kind of folder is replaced
        assert _cli("byol3d.probe", *args, "--out", probe_run).returncode == 0
    assert (probe_run / "metrics.json").is_file()


def test_pretrain_refuses_a_foreign_or_other_kind_folder(synth_processed, tmp_path):
    """1: pre-training into the data root or a probe run would mix its files into them."""
    with pytest.raises(ConfigError, match="not a byol3d run folder"):
        run_pretrain(_tiny_pretrain(), synth_processed, synth_processed)
    probe_run = tmp_path / "probe_run"
    probe_run.mkdir()
    (probe_run / "byol3d-run.json").write_text('{"kind": "probe"}')
    with pytest.raises(ConfigError, match="is a probe run"):
        run_pretrain(_tiny_pretrain(), synth_processed, probe_run)


# --- 2. data identity by content, 10. stale temporaries ----------------------------------------------------

def test_finished_run_is_not_reused_on_other_content_and_stale_temporaries_go(synth_processed, tmp_path):
    """2: same scene names, other content: the run was reused. 10: killed writes' `.tmp` files stayed."""
    out = tmp_path / "run"
    cfg = _tiny_pretrain()
    run_pretrain(cfg, synth_processed, out)
    stale = [out / ".encoder.pt.k3j2.tmp", out / "checkpoints" / ".last.pt.x9y8.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    assert run_pretrain(cfg, synth_processed, out) == out  # reused: same config, same data
    assert not any(path.exists() for path in stale)
    other = _copy_with_moved_scene(synth_processed, tmp_path / "other")
    with pytest.raises(ConfigError, match=r"run: this run folder holds another run .*different data"):
        run_pretrain(cfg, other, out)
    (out / MARKER).write_text('{"kind": "pretrain"}')  # as written by an older byol3d: no identity to check
    with pytest.raises(ConfigError, match=r"run: made by an older byol3d"):
        run_pretrain(cfg, synth_processed, out)


def test_data_fingerprint_sees_content_with_the_same_names_and_sizes(synth_processed, tmp_path):
    """2: the probe cache key hashed names and sizes only."""
    other = _copy_with_moved_scene(synth_processed, tmp_path / "other")
    assert data_fingerprint(other) != data_fingerprint(synth_processed)
    for manifest in other.glob("*/*/manifest.json"):  # a Pointcept-style cache has no manifests
        manifest.unlink()
    assert data_fingerprint(other) != data_fingerprint(synth_processed)


# --- 3. non-finite values ----------------------------------------------------------------------------------

def test_non_finite_config_values_are_refused(tmp_path):
    """3: `lr: .inf` or `voxel_size: .inf` were accepted."""
    path = tmp_path / "run.yaml"
    for text, field in (("byol:\n  lr: .inf\n", "lr"), ("data:\n  voxel_size: .inf\n", "voxel_size"),
                        ("finetune:\n  lr: .nan\n", "lr")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"run\.yaml: .*{field}: must be a finite number"):
            load_yaml(Profile, path)
    with pytest.raises(ConfigError, match="ByolConfig.lr: must be a finite number"):
        dataclasses.replace(Profile.smoke().byol, lr=float("inf"))
    with pytest.raises(ConfigError, match="DataConfig.voxel_size: must be a finite number"):
        DataConfig(voxel_size=float("nan"))
    with pytest.raises(ConfigError, match="AugmentConfig.scale_max: must be finite"):
        AugmentConfig(scale_max=float("inf"))


def test_diverging_pretraining_stops_naming_the_step(synth_processed, tmp_path):
    """3: a diverged run exported an encoder full of NaN and exited 0."""
    out = tmp_path / "run"
    with pytest.raises(NonFiniteError, match=r"run: step \d+: .*, so training diverged"):
        run_pretrain(_tiny_pretrain("byol.lr=1e30", "byol.steps=4", "byol.warmup=0"), synth_processed, out)
    assert not (out / "encoder.pt").exists()


def test_probe_refuses_a_non_finite_encoder(tmp_path):
    """3: the probe trained on NaN features and reported a normal-looking mIoU."""
    with pytest.raises(NonFiniteError, match=r"probe: the loss became nan at step 2"):
        check_finite_losses([1.0, float("nan"), 0.5], "probe")
    cfg = PointNeXtConfig(width=8, blocks=(1, 1), strides=(1, 4))
    model = PointNeXt(cfg)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = export_encoder(model, cfg, tmp_path / "encoder.pt")
    with pytest.raises(CheckpointError, match=r"encoder\.pt: weight .* holds NaN/inf.*refusing to probe"):
        load_pretrained(path)


# --- 4. preprocessing re-runs verify finished scenes ---------------------------------------------------------

def test_rerun_repairs_a_truncated_scene(tmp_path):
    """4: a truncated coord.npy was reported as skipped and never repaired."""
    raw = write_raw_dataset(tmp_path / "raw", ["scene0000_00", "scene0000_01"], ["scene0001_00"])
    out = tmp_path / "out"
    preprocess_dataset(raw, out, progress=False)
    coord = out / "train" / "scene0000_00" / "coord.npy"
    coord.write_bytes(coord.read_bytes()[:-8])
    (out / "val" / "scene0001_00" / "manifest.json").unlink()  # written by an older version: unverifiable
    summary = preprocess_dataset(raw, out, progress=False)
    status = {name: entry["status"] for name, entry in summary["per_scene"].items()}
    assert status == {"train/scene0000_00": "done", "train/scene0000_01": "skipped", "val/scene0001_00": "done"}
    assert load_scene(coord.parent)["coord"].shape == (15, 3)


# --- 5. output folder and disk full ----------------------------------------------------------------------

def test_preprocess_checks_its_output_folder_first(tmp_path):
    """5: --out under a regular file failed only after reading every scene, with a traceback."""
    raw = write_raw_dataset(tmp_path / "raw", ["scene0000_00"], ["scene0001_00"])
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _cli("byol3d.data.preprocess", "--scannet-root", raw, "--out", blocker / "out")
    _user_error(result, str(blocker / "out"), "cannot write the output folder")


def test_disk_full_names_the_file(tmp_path):
    """5: a full disk gave torch / numpy internals and no path."""
    with pytest.raises(DiskFullError, match=r"x\.bin: no space left on device"):  # ENOSPC from the OS
        atomic_write(tmp_path / "x.bin", lambda p: Path("/dev/full").write_bytes(b"x"))
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        with pytest.raises(DiskFullError, match=r"last\.pt: no space left on device"):
            atomic_torch_save({"w": torch.zeros(100_000)}, small / "last.pt")
        arrays = {"coord": np.zeros((20_000, 3), np.float32), "color": np.zeros((20_000, 3), np.uint8),
                  "segment20": np.zeros(20_000, np.int64)}
        with pytest.raises(DiskFullError, match=r"scene0: no space left on device"):
            write_scene(small / "scene0", arrays)
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


# --- 6. raw files that name neither file nor cause ---------------------------------------------------------

@pytest.mark.parametrize("seg_ids, reason", [
    ([2**70] * 15, "beyond the int64 range"),
    ([2**63] * 15, "beyond the int64 range"),
    ([1.5] * 15, "must be integers, found fractional numbers"),
    ([True] * 15, "must be integers, found bool"),
])
def test_bad_seg_indices_are_refused(tmp_path, seg_ids, reason):
    """6: segIndices beyond int64 gave an OverflowError; floats were silently truncated."""
    raw = write_raw_dataset(tmp_path / "raw", ["scene0000_00"], [])
    write_raw_scene(raw, "scene0000_00", seg_ids=seg_ids, groups=[])
    with pytest.raises(DataError, match=rf"segs\.json: 'segIndices' .*{reason}"):
        read_scene(raw, "scene0000_00", labels(raw))


@pytest.mark.parametrize("scale", [1e4, 1e30])
def test_coordinates_not_in_metres_are_refused(tmp_path, scale):
    """6: millimetres or +-1e30 slipped through (1e30 overflowed past the elastic-distortion guard)."""
    raw = write_raw_dataset(tmp_path / "raw", ["scene0000_00"], [])
    coord, _ = grid_mesh()  # 0.4 m across; x 1e4 spans 4,000 units, as a 4 m room in millimetres
    write_raw_scene(raw, "scene0000_00", coord=coord * scale + scale)
    with pytest.raises(DataError, match=r"_vh_clean_2\.ply: .*looks like it is not in metres"):
        read_scene(raw, "scene0000_00", labels(raw))
    huge = np.array([[-1e30, 0, 0], [1e30, 1, 1]])
    with pytest.raises(ValueError, match="too large a grid"):
        elastic_distortion(huge, 0.2, 0.4, np.random.default_rng(0))


# --- 7. the probe checks its inputs before training --------------------------------------------------------

def test_probe_reads_every_scene_before_training(synth_processed, tmp_path):
    """7: a bad validation scene was found only after training (here: 100,000 steps)."""
    data = tmp_path / "data"
    shutil.copytree(synth_processed, data)
    bad = sorted((data / "val").iterdir())[0] / "color.npy"
    bad.write_bytes(b"not numpy")
    config = tmp_path / "long.yaml"
    save_yaml(smoke_profile("finetune.steps=100000", "eval.eval_fraction=1.0"), config)
    result = _cli("byol3d.probe", "--data", data, "--method", "scratch", "--config", config, "--out",
                  tmp_path / "probe", timeout=120)
    _user_error(result, str(bad), "not a readable .npy array")


# --- 8. one handler per command line -------------------------------------------------------------------------

def test_user_errors_exit_2_without_a_traceback(synth_processed, tmp_path):
    """8: pretrain and probe printed raw tracebacks for user errors."""
    _user_error(_cli("byol3d.pretrain", "--data", tmp_path / "nowhere", "--config", "smoke", "--out",
                     tmp_path / "run"), "nowhere", "split folder not found")
    _user_error(_cli("byol3d.pretrain", "--data", synth_processed, "--config", tmp_path / "absent.yaml"),
                "absent.yaml: config file not found")
    _user_error(_cli("byol3d.probe", "--data", synth_processed, "--method", "linear", "--checkpoint",
                     tmp_path / "encoder.pt", "--config", "smoke", "--out", tmp_path / "probe"),
                "encoder.pt: encoder file not found")


# --- 9. refused pickles --------------------------------------------------------------------------------------

def test_a_checkpoint_holding_code_is_refused_as_such(tmp_path):
    """9: reported as corrupt, quoting torch's advice to retry with weights_only=False."""
    ckpt = tmp_path / "last.pt"
    torch.save({"step": 1, "payload": pathlib.PurePosixPath("/x")}, ckpt)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt)
    assert "holds pickled code (pathlib." in str(err.value) and "PurePosixPath)" in str(err.value)
    assert "weights_only" not in str(err.value) and "corrupt" not in str(err.value)
    (tmp_path / "probe").mkdir()
    shutil.copy(ckpt, tmp_path / "probe" / "probe.pt")
    with pytest.raises(CheckpointError, match=r"probe\.pt: the probe checkpoint holds pickled code"):
        load_probe(tmp_path / "probe")


# --- 10. preprocessing workers die with their parent ------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killing_preprocess_ends_its_workers(synth_raw, tmp_path):
    """10: SIGKILL of the preprocess parent left its pool workers blocked forever."""
    raw = tmp_path / "raw"
    shutil.copytree(synth_raw, raw, ignore=shutil.ignore_patterns("scans"))
    source = sorted((synth_raw / "scans").iterdir())[0]
    ids = [f"scene{i:04d}_00" for i in range(40)]
    for scene_id in ids:  # 40 copies of one scene: enough work to be killed mid-way
        (raw / "scans" / scene_id).mkdir(parents=True)
        for f in source.iterdir():
            (raw / "scans" / scene_id / f.name.replace(source.name, scene_id)).symlink_to(f)
    (raw / "scannetv2_train.txt").write_text("\n".join(ids) + "\n")
    (raw / "scannetv2_val.txt").write_text("")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "byol3d.data.preprocess", "--scannet-root", str(raw), "--out",
                             str(out), "--workers", "2"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(out.glob("train/scene*/coord.npy")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.kill()
    proc.wait()
    assert workers and not (out / "summary.json").exists(), "the run finished before it could be killed"
    deadline = time.time() + 30
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "pool workers outlived their parent"


# --- 11. duplicates across splits, numeric strings, empty YAML ----------------------------------------------

def test_a_scene_in_both_splits_is_warned_about_and_counted(tmp_path):
    """11: the same scene in the train and val lists was processed into both without a word."""
    raw = write_raw_dataset(tmp_path / "raw", ["scene0000_00", "scene0001_00"], ["scene0001_00"])
    with pytest.warns(UserWarning, match=r"1 scene\(s\) are listed in more than one split.*scene0001_00"):
        summary = preprocess_dataset(raw, tmp_path / "out", progress=False)
    assert summary["in_several_splits"] == {"count": 1, "scenes": ["scene0001_00"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preprocess_dataset(write_raw_dataset(tmp_path / "ok", ["scene0000_00"], ["scene0001_00"]),
                           tmp_path / "out_ok", progress=False)


def test_numeric_strings_for_floats_and_empty_yaml(tmp_path):
    """11: `lr: 1e-3` (a string to PyYAML) was rejected; an empty file silently meant the defaults."""
    path = tmp_path / "run.yaml"
    path.write_text("byol:\n  lr: 1e-3\n  steps: 7\n")
    assert load_yaml(Profile, path).byol.lr == 0.001
    for text, reason in (("byol:\n  lr: fast\n", "lr: expected float"),
                         ("byol:\n  steps: '7'\n", "steps: expected int"), ("", "the config file is empty")):
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"run\.yaml: .*{reason}"):
            load_yaml(Profile, path)
    path.write_text("{}\n")
    assert load_yaml(Profile, path) == Profile()
