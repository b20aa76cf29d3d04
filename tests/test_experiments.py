"""byol3d.experiments: finished runs are reused (not retrained), different configs get different
folders, interrupted pre-trainings are resumed, on the real SynthRooms data with tiny configs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from byol3d import experiments
from byol3d.config import config_hash
from byol3d.data.dataset import DataConfig
from byol3d.pretrain import PretrainConfig
from byol3d.probe import ProbeConfig

# Whole-scene evaluation dominates a probe's cost: a coarse voxel keeps these tests fast.
TINY_DATA = DataConfig(voxel_size=0.06, voxel_max=600)


@pytest.fixture(scope="module")
def tiny_probe() -> ProbeConfig:
    return dataclasses.replace(ProbeConfig.smoke(), data=TINY_DATA, points_per_scene=300, linear_steps=5,
                               linear_batch=256, steps=1, device="cpu")


@pytest.fixture(scope="module")
def pretrained(synth_processed, tmp_path_factory):
    cfg = dataclasses.replace(PretrainConfig.smoke(), data=TINY_DATA, steps=2, ckpt_every=1, dense_pairs=64,
                              proj_hidden=32, proj_out=16, device="cpu")
    runs = tmp_path_factory.mktemp("runs")
    return cfg, runs, experiments.pretrain(cfg, synth_processed, runs)


def _steps(run_dir) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_pretrain_is_reused_then_resumed(pretrained, synth_processed):
    cfg, runs, first = pretrained
    assert not first.reused and first.encoder.is_file()
    assert first.run_dir == runs / "byol" / config_hash(cfg)
    stamp = first.encoder.stat().st_mtime_ns
    again = experiments.pretrain(cfg, synth_processed, runs)
    assert again.reused and again.run_dir == first.run_dir
    assert again.encoder.stat().st_mtime_ns == stamp  # not retrained
    # Interrupted after its last checkpoint (encoder not exported yet): resumed, not trained again.
    first.encoder.unlink()
    resumed = experiments.pretrain(cfg, synth_processed, runs)
    assert not resumed.reused and resumed.encoder.is_file()
    assert _steps(resumed.run_dir) == [1, 2]


@pytest.mark.slow
def test_probe_is_reused_and_keyed_by_config_method_and_checkpoint(pretrained, tiny_probe, synth_processed):
    _, runs, pre = pretrained
    first = experiments.probe(tiny_probe, synth_processed, runs, "random")
    assert not first.reused and 0.0 <= first.metrics["miou"] <= 1.0
    stamp = (first.run_dir / "metrics.json").stat().st_mtime_ns
    again = experiments.probe(tiny_probe, synth_processed, runs, "random")
    assert again.reused and again.run_dir == first.run_dir and again.metrics == first.metrics
    assert (first.run_dir / "metrics.json").stat().st_mtime_ns == stamp
    # The run-time device does not change the result: same run.
    assert experiments.probe(dataclasses.replace(tiny_probe, device="auto"), synth_processed, runs, "random").reused
    other_key = experiments.probe_key(dataclasses.replace(tiny_probe, linear_steps=6), synth_processed, "random")
    assert first.run_dir.name == f"random-{experiments.probe_key(tiny_probe, synth_processed, 'random')}"
    assert first.run_dir.name != f"random-{other_key}"
    byol = experiments.probe(tiny_probe, synth_processed, runs, "linear", checkpoint=pre.encoder)
    assert not byol.reused and byol.run_dir != first.run_dir
    assert byol.metrics["checkpoint"] == str(pre.encoder)
    assert experiments.probe(tiny_probe, synth_processed, runs, "linear", checkpoint=pre.encoder).reused


def test_probe_key_dedupes_fractions_selecting_the_same_scenes(tiny_probe, synth_processed):
    n_train = len(experiments.training_scenes(tiny_probe, synth_processed, 1.0))
    assert n_train >= 2
    one = experiments.probe_key(tiny_probe, synth_processed, "scratch", 0.01)
    assert experiments.training_scenes(tiny_probe, synth_processed, 0.01) == \
        experiments.training_scenes(tiny_probe, synth_processed, 0.02)
    assert experiments.probe_key(tiny_probe, synth_processed, "scratch", 0.02) == one  # both pick 1 scene
    assert experiments.probe_key(tiny_probe, synth_processed, "scratch", 1.0) != one
    assert experiments.probe_key(tiny_probe, synth_processed, "random", 0.01) != one


def test_probe_key_rejects_a_missing_or_unneeded_checkpoint(tiny_probe, synth_processed, tmp_path):
    with pytest.raises(ValueError, match="needs a checkpoint"):
        experiments.probe_key(tiny_probe, synth_processed, "linear")
    with pytest.raises(ValueError, match="random weights"):
        experiments.probe_key(tiny_probe, synth_processed, "scratch", checkpoint=tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="x.pt"):
        experiments.probe_key(tiny_probe, synth_processed, "linear", checkpoint=tmp_path / "x.pt")


def test_data_fingerprint_changes_with_the_data(synth_processed, tmp_path):
    fingerprint = experiments.data_fingerprint(synth_processed)
    assert fingerprint == experiments.data_fingerprint(synth_processed)
    for split in ("train", "val"):
        for scene in sorted((synth_processed / split).iterdir())[:1]:
            target = tmp_path / split / scene.name
            target.mkdir(parents=True)
            for f in scene.glob("*.npy"):
                (target / f.name).write_bytes(f.read_bytes())
    assert experiments.data_fingerprint(tmp_path) != fingerprint
    with pytest.raises(ValueError, match="no preprocessed scenes"):
        experiments.data_fingerprint(tmp_path / "nowhere")
