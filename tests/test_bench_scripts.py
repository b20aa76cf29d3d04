"""The benchmark scripts still run against today's presets (a preset change once broke one unnoticed):
tiny workloads, checking the JSON lines they print, never their timings."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from byol3d.data.dataset import DataConfig, SegmentationDataset, collate_scenes
from byol3d.data.labels import NUM_CLASSES
from byol3d.eval.features import extract_features, freeze
from byol3d.eval.linear import FrozenProbeModel, LinearProbe
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from conftest import MALLINFO_PRELUDE

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _json_lines(*args: str) -> list[dict]:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_train_step_bench_runs_both_cases_within_the_loss_tolerance(synth_processed):
    rows = _json_lines(str(BENCH / "train_step.py"), "--data", str(synth_processed), "--repeats", "1")
    assert [r["case"] for r in rows] == ["byol", "segmentation"]
    for row in rows:
        assert row["within_tolerance"] and row["speedup"] > 0 and row["peak_mem_mb"] >= 0


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_train_step_bench_times_the_allocator_lever_across_processes(synth_processed):
    rows = _json_lines(str(BENCH / "train_step.py"), "--data", str(synth_processed), "--repeats", "1",
                       "--cases", "segmentation", "--allocator-ab", "1")
    assert [r["case"] for r in rows] == ["segmentation"]
    assert len(rows[0]["runs"]["reference"]) == len(rows[0]["runs"]["ours"]) == 1 and rows[0]["speedup"] > 0


def test_data_loading_bench_compares_identical_batches(synth_processed):
    rows = _json_lines(str(BENCH / "data_loading.py"), "--data", str(synth_processed), "--batches", "1",
                       "--repeats", "1")
    assert [r["case"] for r in rows] == ["segmentation", "byol", "new_run"]
    for row in rows[:2]:
        assert row["same_batches"] and row["speedup"] > 0 and row["kept_mb"] > 0 and row["scenes"] >= 1
    assert rows[2]["same_items"] and rows[2]["speedup"] > 0 and rows[2]["rooms"] >= 2


def test_probe_cost_bench_compares_the_same_points_and_predictions(synth_processed):
    rows = _json_lines(str(BENCH / "probe_cost.py"), "--data", str(synth_processed), "--repeats", "1",
                       "--rows", "3000", "--dim", "16", "--crops", "1")
    assert [r["case"] for r in rows] == ["feature_cache", "training_plans", "standardize", "linear_training",
                                         "evaluation_frozen", "evaluation_network"]
    assert rows[0]["same_points"] and rows[0]["max_abs_feature_diff"] < 0.01 * rows[0]["feature_scale"]
    assert rows[1]["same_features"] and rows[1]["cache_mb"] > 0
    assert rows[2]["max_abs_std_diff"] < 1e-4 and all(r["speedup"] > 0 for r in rows)
    assert rows[3]["loss_ours"] == pytest.approx(rows[3]["loss_reference"], rel=0.05)
    assert rows[3]["same_prediction"] > 0.9
    for row in rows[4:]:  # the validation room's crops were planned once, then every plan was reused
        assert row["same_confusion"] and row["crop_batches"] >= row["rooms"] and row["cache_mb"] > 0


MMAPPED_AFTER_REUSE = MALLINFO_PRELUDE + """
sys.path.insert(0, sys.argv[1])
import ops  # bench/ops.py, as the timing scripts import it
libc.free(libc.malloc(8 << 20))  # glibc then raises its mmap threshold to 8 MB (dynamic threshold)
before = libc.mallinfo2().hblks  # mmapped blocks
block = libc.malloc(4 << 20)
print(libc.mallinfo2().hblks - before)  # 0 when the 4 MB block came from the heap
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_importing_the_bench_helpers_leaves_the_allocator_alone():
    """bench/ops.py's PeakRSS once fixed glibc's mmap threshold at import, which slowed every step that
    bench/train_step.py timed by 1.8x (page faults on each large tensor)."""
    result = subprocess.run([sys.executable, "-c", MMAPPED_AFTER_REUSE, str(BENCH)], capture_output=True,
                            text=True, timeout=120, check=True)
    assert result.stdout.split() == ["0"]


@pytest.mark.slow
def test_ops_bench_reports_the_median_speedup_over_rounds():
    rows = _json_lines(str(BENCH / "ops.py"), "--points", "3000", "--samples", "800", "--rounds", "2",
                       "--no-torch-backend")
    summary = rows[-1]
    assert summary["rounds"] == 2 and summary["speedup_min"] <= summary["speedup_median"] <= summary["speedup_max"]
    assert sum(r.get("op") == "fps+ball_query" and "speedup" in r for r in rows) == 2


@pytest.mark.slow
def test_supervised_curve_lab_script_logs_every_evaluation_and_a_whole_scene_score(synth_processed):
    rows = _json_lines(str(BENCH / "lab" / "supervised_curve.py"), "--data", str(synth_processed),
                       "--config", "smoke", "--steps", "2", "--every", "1")
    header, steps, final = rows[0], rows[1:-1], rows[-1]
    assert header["config"]["run"]["amp"] in (True, False)
    assert [r["step"] for r in steps] == [1, 2]
    assert final["final"] and final["steps"] == 2 and 0.0 <= final["val_whole_miou"] <= 1.0
    assert final["loss_window_steps"] == 1 and len(final["loss_window_means"]) == 2
    confusion = np.array(final["confusion"])
    assert confusion.shape == (20, 20) and confusion.sum() > 0
    assert np.trace(confusion) / confusion.sum() == pytest.approx(final["val_whole_oa"], abs=1e-4)


@pytest.mark.slow
def test_head_first_lab_script_trains_only_the_head_then_every_layer(synth_processed):
    rows = _json_lines(str(BENCH / "lab" / "head_first.py"), "--data", str(synth_processed), "--config", "smoke",
                       "--method", "scratch", "--head-steps", "2", "--set", "finetune.steps=2")
    (row,) = rows
    assert row["body_moved_in_head_phase"] is False and row["head_steps"] == 2 and row["steps"] == 2
    for phase in ("after_head", "after_all"):
        assert 0.0 <= row[phase]["miou"] <= 1.0 and 0.0 <= row[phase]["oa"] <= 1.0


@pytest.mark.parametrize("script", ["head_first", "hypercolumn_finetune"])
def test_lab_arm_scripts_refuse_a_checkpoint_for_scratch(tmp_path, script):
    result = subprocess.run([sys.executable, str(BENCH / "lab" / f"{script}.py"), "--data", str(tmp_path),
                             "--method", "scratch", "--checkpoint", "encoder.pt"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2 and "--checkpoint is needed by finetune and refused by scratch" in result.stderr


def _lab_module(name: str, monkeypatch):
    """A bench/lab script imported as a module (its classes and functions, without running main); its
    folder goes on sys.path, as when it runs as a script."""
    monkeypatch.syspath_prepend(str(BENCH / "lab"))
    spec = importlib.util.spec_from_file_location(name, BENCH / "lab" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hypercolumn_segmenter_starts_from_the_frozen_probe_and_trains_every_layer(synth_processed, one_thread,
                                                                                   monkeypatch):
    lab = _lab_module("hypercolumn_finetune", monkeypatch)
    data = DataConfig(voxel_size=0.06, voxel_max=1500)
    batch = collate_scenes([SegmentationDataset(synth_processed, "train", data, train=True)[0]])
    torch.manual_seed(0)
    net = PointNeXt(PointNeXtConfig(width=16)).eval()
    feats = extract_features(freeze(net), batch, "both")
    probe = LinearProbe(feats.shape[1], NUM_CLASSES, "standardize")
    probe.fit_normalization(feats)
    torch.nn.init.normal_(probe.linear.weight)
    expected = FrozenProbeModel(net, probe, "both").eval()(batch)  # (N, classes)
    segmenter = lab.HypercolumnSegmenter(net.requires_grad_(True), probe).eval()
    logits = segmenter(batch)
    assert torch.allclose(logits, expected, atol=1e-5 * float(expected.abs().max()))
    logits.logsumexp(dim=1).sum().backward()
    assert segmenter.head.weight.grad is not None
    assert all(p.grad is not None for p in segmenter.backbone.stages[0].parameters())
    with pytest.raises(ValueError, match="standardising probe"):
        lab.HypercolumnSegmenter(net, LinearProbe(feats.shape[1], NUM_CLASSES, "l2"))
    # Frozen BatchNorm: in training mode it is still the probe's function, and the statistics do not move.
    stats = [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    frozen = lab.HypercolumnSegmenter(net, probe, frozen_norm=True).train()
    assert frozen.training and torch.allclose(frozen(batch), expected, atol=1e-5 * float(expected.abs().max()))
    moved = [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert all(torch.equal(a, b) for a, b in zip(stats, moved))
    assert not torch.allclose(lab.HypercolumnSegmenter(net, probe).train()(batch), expected, atol=1e-3)


@pytest.mark.slow
def test_hypercolumn_finetune_lab_script_scores_both_phases(synth_processed):
    rows = _json_lines(str(BENCH / "lab" / "hypercolumn_finetune.py"), "--data", str(synth_processed),
                       "--config", "smoke", "--method", "scratch", "--frozen-norm", "--set", "finetune.steps=2",
                       "linear_probe.steps=5")
    (row,) = rows
    assert row["frozen_norm"] is True
    assert 0.0 <= row["probe_train_accuracy"] <= 1.0 and len(row["train_scenes"]) >= 1
    for phase in ("after_probe", "after_all"):
        assert 0.0 <= row[phase]["miou"] <= 1.0 and 0.0 <= row[phase]["oa"] <= 1.0
