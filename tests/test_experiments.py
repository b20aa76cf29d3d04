"""byol3d.experiments: finished runs are reused (not retrained), different configs get different
folders, interrupted pre-trainings are resumed, on the real SynthRooms data with tiny configs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from byol3d import experiments
from byol3d.data.cache import data_fingerprint
from byol3d.data.dataset import DataConfig
from byol3d.pretrain import pretrain_identity
from byol3d.probe import probe_identity
from byol3d.profile import Profile
from byol3d.report import HEADLINE_ENV
from byol3d.report.headline import run_counts
from byol3d.run_store import identity_key
from conftest import smoke_profile

# Whole-scene evaluation dominates a probe's cost: a coarse voxel keeps these tests fast.
TINY_DATA = DataConfig(voxel_size=0.06, voxel_max=600)


@pytest.fixture(scope="module")
def tiny() -> Profile:
    return smoke_profile("linear_probe.points_per_scene=300", "linear_probe.steps=5", "linear_probe.batch=256",
                         "finetune.steps=1", "byol.steps=2", "byol.ckpt_every=1", "byol.dense_pairs=64",
                         "byol.proj_hidden=32", "byol.proj_out=16", data=TINY_DATA)


@pytest.fixture(scope="module")
def pretrained(tiny, synth_processed, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, experiments.pretrain(tiny, synth_processed, runs)


def _steps(run_dir) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _key(profile: Profile, data, method: str, fraction: float = 1.0, checkpoint=None) -> str:
    return identity_key(probe_identity(profile, data, method, fraction, checkpoint))


@pytest.mark.slow
def test_pretrain_is_reused_then_resumed(tiny, pretrained, synth_processed):
    runs, first = pretrained
    assert not first.reused and first.encoder.is_file()
    assert first.run_dir == runs / "byol" / identity_key(pretrain_identity(tiny, synth_processed))
    stamp = first.encoder.stat().st_mtime_ns
    again = experiments.pretrain(tiny.on_device("auto"), synth_processed, runs)  # the device is not the result
    assert again.reused and again.run_dir == first.run_dir
    assert again.encoder.stat().st_mtime_ns == stamp  # not retrained
    # Interrupted after its last checkpoint (encoder not exported yet): resumed, not trained again.
    first.encoder.unlink()
    resumed = experiments.pretrain(tiny, synth_processed, runs)
    assert not resumed.reused and resumed.encoder.is_file()
    assert _steps(resumed.run_dir) == [1, 2]


def test_a_run_is_keyed_by_the_sections_it_reads(tiny, synth_processed):
    """A probe setting does not re-key a pre-training; a BYOL setting does not re-key a random probe."""
    probe_change = dataclasses.replace(tiny, linear_probe=dataclasses.replace(tiny.linear_probe, steps=6))
    byol_change = dataclasses.replace(tiny, byol=dataclasses.replace(tiny.byol, lr=2e-3))
    assert pretrain_identity(probe_change, synth_processed) == pretrain_identity(tiny, synth_processed)
    assert pretrain_identity(byol_change, synth_processed) != pretrain_identity(tiny, synth_processed)
    assert _key(byol_change, synth_processed, "random") == _key(tiny, synth_processed, "random")
    assert _key(probe_change, synth_processed, "random") != _key(tiny, synth_processed, "random")
    assert _key(probe_change, synth_processed, "scratch") == _key(tiny, synth_processed, "scratch")
    assert _key(tiny.with_seed(1), synth_processed, "scratch") != _key(tiny, synth_processed, "scratch")


def test_the_pretrained_lr_scale_keys_finetune_runs_only(tiny, synth_processed, tmp_path):
    """Scratch has no pre-trained layers, so the scale cannot change its result nor its key."""
    slower = dataclasses.replace(tiny, finetune=dataclasses.replace(tiny.finetune, pretrained_lr_scale=0.1))
    checkpoint = tmp_path / "encoder.pt"
    checkpoint.write_bytes(b"weights")  # the key reads the checkpoint's bytes only
    assert _key(slower, synth_processed, "scratch") == _key(tiny, synth_processed, "scratch")
    assert _key(slower, synth_processed, "finetune", checkpoint=checkpoint) != \
        _key(tiny, synth_processed, "finetune", checkpoint=checkpoint)


def _head_dropout(profile: Profile, rate: float) -> Profile:
    return dataclasses.replace(profile, model=dataclasses.replace(profile.model, head_dropout=rate))


def test_the_head_dropout_keys_the_runs_that_train_the_head_only(tiny, synth_processed, tmp_path):
    """Scratch and fine-tune train a segmentation head; pre-training and the frozen probes never do."""
    no_dropout = _head_dropout(tiny, 0.0)
    assert tiny.model.head_dropout != 0.0
    checkpoint = tmp_path / "encoder.pt"
    checkpoint.write_bytes(b"weights")
    assert pretrain_identity(no_dropout, synth_processed) == pretrain_identity(tiny, synth_processed)
    for method, start in (("linear", checkpoint), ("random", None), ("raw", None)):
        assert _key(no_dropout, synth_processed, method, checkpoint=start) == \
            _key(tiny, synth_processed, method, checkpoint=start)
    for method, start in (("finetune", checkpoint), ("scratch", None)):
        assert _key(no_dropout, synth_processed, method, checkpoint=start) != \
            _key(tiny, synth_processed, method, checkpoint=start)


@pytest.mark.slow
def test_another_head_dropout_pretrains_the_same_weights(tiny, pretrained, synth_processed, tmp_path):
    """What makes leaving the rate out of a pre-training's key safe: trained again elsewhere with another
    rate, the same seed gives the same encoder, bit for bit; in the same store it is simply reused."""
    runs, first = pretrained
    no_dropout = _head_dropout(tiny, 0.0)
    assert experiments.pretrain(no_dropout, synth_processed, runs).reused
    again = experiments.pretrain(no_dropout, synth_processed, tmp_path / "runs")
    assert not again.reused
    weights = [torch.load(run.encoder, weights_only=True)["state_dict"] for run in (first, again)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


@pytest.mark.slow
def test_probe_is_reused_and_keyed_by_config_method_and_checkpoint(tiny, pretrained, synth_processed, tmp_path,
                                                                  monkeypatch):
    runs, pre = pretrained
    monkeypatch.setenv(HEADLINE_ENV, str(tmp_path / "report"))  # as under `make report`
    first = experiments.probe(tiny, synth_processed, runs, "random")
    assert not first.reused and 0.0 <= first.metrics["miou"] <= 1.0
    stamp = (first.run_dir / "metrics.json").stat().st_mtime_ns
    again = experiments.probe(tiny, synth_processed, runs, "random")
    assert again.reused and again.run_dir == first.run_dir and again.metrics == first.metrics
    assert (first.run_dir / "metrics.json").stat().st_mtime_ns == stamp
    # The run-time device does not change the result: same run.
    assert experiments.probe(tiny.on_device("auto"), synth_processed, runs, "random").reused
    assert first.run_dir.name == f"random-{_key(tiny, synth_processed, 'random')}"
    assert first.metrics["run_key"] == _key(tiny, synth_processed, "random")
    byol = experiments.probe(tiny, synth_processed, runs, "linear", checkpoint=pre.encoder)
    assert not byol.reused and byol.run_dir != first.run_dir
    assert byol.metrics["checkpoint"] == str(pre.encoder)
    assert experiments.probe(tiny, synth_processed, runs, "linear", checkpoint=pre.encoder).reused
    assert run_counts(tmp_path / "report") == {"trained": 2, "reused": 0}  # each trained once, then reused


def test_probe_key_dedupes_fractions_selecting_the_same_scenes(tiny, synth_processed):
    scenes = probe_identity(tiny, synth_processed, "scratch", 1.0)["train_scenes"]
    assert len(scenes) >= 2
    one = _key(tiny, synth_processed, "scratch", 0.01)
    assert _key(tiny, synth_processed, "scratch", 0.02) == one  # both pick 1 scene
    assert _key(tiny, synth_processed, "scratch", 1.0) != one
    assert _key(tiny, synth_processed, "random", 0.01) != one


def test_probe_key_rejects_a_missing_or_unneeded_checkpoint(tiny, synth_processed, tmp_path):
    with pytest.raises(ValueError, match="needs --checkpoint"):
        _key(tiny, synth_processed, "linear")
    with pytest.raises(ValueError, match="random weights"):
        _key(tiny, synth_processed, "scratch", checkpoint=tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="x.pt"):
        _key(tiny, synth_processed, "linear", checkpoint=tmp_path / "x.pt")


def test_data_fingerprint_changes_with_the_data(synth_processed, tmp_path):
    fingerprint = data_fingerprint(synth_processed)
    assert fingerprint == data_fingerprint(synth_processed)
    for split in ("train", "val"):
        for scene in sorted((synth_processed / split).iterdir())[:1]:
            target = tmp_path / split / scene.name
            target.mkdir(parents=True)
            for f in scene.glob("*.npy"):
                (target / f.name).write_bytes(f.read_bytes())
    assert data_fingerprint(tmp_path) != fingerprint
    with pytest.raises(ValueError, match="no preprocessed scenes"):
        data_fingerprint(tmp_path / "nowhere")
