"""The evaluation protocol: stratified SynthRooms splits, training-size tiles covering whole scenes,
scenes kept in memory with their voxel grouping, BatchNorm re-estimation of frozen networks, and the
two trivial floors (majority class, linear probe on the raw input channels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from byol3d.data.dataset import DataConfig, EvalDataset, SegmentationDataset, TwoViewDataset, collate_scenes
from byol3d.data.synthrooms import room_type_of, scene_ids, split_scenes
from byol3d.data.synthrooms.rooms import ROOM_TYPES
from byol3d.eval.features import recalibrate_batchnorm
from byol3d.eval.predict import evaluate, predict_scores
from byol3d.experiments import ProbeRun, mean_std
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import load_probe, run_probe
from byol3d.transforms import tile_crops, voxel_groups, voxel_keys, voxelize
from byol3d.utils.runtime import bf16_autocast
from conftest import smoke_profile


def test_split_is_stratified_by_room_type():
    ids = scene_ids(40)
    train, val = split_scenes(ids, seed=0, val_fraction=0.25)
    assert sorted(train + val) == ids and len(val) == 10
    assert {room_type_of(s, 0) for s in val} == set(ROOM_TYPES)  # 2 of each of the 5 types
    assert split_scenes(ids, seed=0, val_fraction=0.25) == (train, val)  # seeded
    assert split_scenes(ids, seed=1, val_fraction=0.25)[1] != val
    tiny_train, tiny_val = split_scenes(scene_ids(2), seed=0, val_fraction=0.25)
    assert len(tiny_train) == 1 and len(tiny_val) == 1


def test_tiles_cover_every_point_within_their_core():
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, [6, 5, 3], size=(5000, 3))
    crops = tile_crops(coord, 800, core=0.5)
    assert all(len(c) == 800 and len(np.unique(c)) == 800 for c in crops)
    for rows in crops:  # nearest first: each crop is the 800 points nearest its first row
        dist = np.linalg.norm(coord - coord[rows[0]], axis=1)
        assert np.all(np.diff(dist[rows]) >= 0) and dist[rows[-1]] <= np.sort(dist)[799] + 1e-12
    in_core = np.zeros(5000, bool)
    for rows in crops:
        in_core[rows[:400]] = True
    assert in_core.all()
    assert len(crops) < 3 * 5000 / 400  # evenly spread: no more than ~3x the minimum number of crops
    assert [c.tolist() for c in tile_crops(coord, 800, core=0.5)] == [c.tolist() for c in crops]
    assert [c.tolist() for c in tile_crops(coord[:300], 800)] == [list(range(300))]
    with pytest.raises(ValueError, match="core"):
        tile_crops(coord, 800, core=0.0)


def test_voxel_groups_sample_one_point_per_voxel():
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, 1, size=(4000, 3))
    groups = voxel_groups(coord, 0.1)
    keys = voxel_keys(coord, 0.1)
    first = groups.sample()
    assert np.array_equal(first, voxelize(coord, 0.1)[0])
    _, lowest = np.unique(keys, return_index=True)
    assert np.array_equal(first, lowest)  # deterministic: the lowest index of every voxel
    a, b = groups.sample(np.random.default_rng(1)), groups.sample(np.random.default_rng(2))
    for keep in (a, b):
        assert np.array_equal(np.unique(keys[keep]), np.unique(keys)) and len(keep) == len(lowest)
    assert not np.array_equal(a, b)
    assert np.array_equal(keys[first][groups.inverse], keys)  # inverse maps every vertex to its voxel


def _net(seed: int = 0) -> PointNeXt:
    torch.manual_seed(seed)
    return PointNeXt(PointNeXtConfig(width=16)).eval()


def test_one_tile_equals_one_pass(synth_processed):
    """A scene no larger than the crop size is predicted exactly as in one pass (it is already centred)."""
    data = DataConfig(voxel_size=0.1)
    batch = collate_scenes([EvalDataset(synth_processed, "val", data)[0]])
    n = len(batch["coord"])
    model = _net()
    with torch.no_grad():
        expected = torch.softmax(model(batch), dim=1)
    tiled = predict_scores(model, batch, crop_points=n)
    assert torch.allclose(tiled, expected, atol=1e-5)
    smaller = predict_scores(model, batch, crop_points=n // 3)  # several tiles: every point predicted
    assert smaller.shape == expected.shape and bool((smaller.sum(1) >= 1 - 1e-4).all())


def test_batched_tiles_equal_tiles_one_by_one(synth_processed):
    """Crops predicted together in one offset batch get the scores they get alone (ops work per scene)."""
    data = DataConfig(voxel_size=0.1)
    batch = collate_scenes([EvalDataset(synth_processed, "train", data)[i] for i in range(2)])
    model = _net()
    crop = len(batch["coord"]) // 7
    one_by_one = predict_scores(model, batch, crop_points=crop, tiles_per_pass=1)
    batched = predict_scores(model, batch, crop_points=crop, tiles_per_pass=5)
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_batchnorm_recalibration_forgets_old_statistics(synth_processed):
    data = DataConfig(voxel_size=0.1, voxel_max=1500)
    crops = SegmentationDataset(synth_processed, "train", data, train=True)
    batches = [collate_scenes([crops[i]]) for i in range(len(crops))]
    fresh, shifted = _net(), _net()
    for module in shifted.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.add_(3.0)
            module.running_var.mul_(5.0)
    params = {k: v.clone() for k, v in fresh.named_parameters()}
    for model in (fresh, shifted):
        assert not recalibrate_batchnorm(model, batches).training
    for (name, a), b in zip(fresh.state_dict().items(), shifted.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    assert all(torch.equal(params[k], v) for k, v in fresh.named_parameters())  # weights untouched
    with pytest.raises(ValueError, match="no batch"):
        recalibrate_batchnorm(fresh, [])


@pytest.mark.slow
def test_majority_and_raw_floors(synth_processed, tmp_path):
    cfg = smoke_profile("linear_probe.points_per_scene=500", "linear_probe.steps=60", "eval.tiled_eval=true",
                        data=DataConfig(voxel_max=1500))
    majority = run_probe(cfg, synth_processed, "majority", tmp_path / "majority")
    confusion = np.array(majority["confusion"])
    predicted = np.flatnonzero(confusion.sum(0))
    assert len(predicted) == 1 and majority["train_loss"] == []
    raw = run_probe(cfg, synth_processed, "raw", tmp_path / "raw")
    assert 0 <= raw["miou"] <= 1 and 0 < raw["train_accuracy"] <= 1
    assert raw["train_loss"][-1] < raw["train_loss"][0]
    eval_set = EvalDataset(synth_processed, "val", cfg.data, fraction=cfg.eval.eval_fraction)
    for name in ("majority", "raw"):
        with bf16_autocast(torch.device("cpu"), cfg.run.amp):
            reloaded = evaluate(load_probe(tmp_path / name), eval_set, torch.device("cpu"), crop_points=cfg.data.voxel_max)
        np.testing.assert_array_equal(reloaded, np.array({"majority": majority, "raw": raw}[name]["confusion"]))


def test_mean_and_spread_over_seeds(tmp_path):
    runs = [ProbeRun(tmp_path, {"miou": v}, True) for v in (0.2, 0.4, 0.6)]
    mean, std = mean_std(runs)
    assert mean == pytest.approx(0.4) and std == pytest.approx(0.2)
    assert mean_std(runs[:1]) == (pytest.approx(0.2), 0.0)


@pytest.mark.parametrize("make", ["train", "two_views", "eval"])
def test_items_of_cached_scenes_own_their_memory(synth_processed, make):
    """Items are built from the kept read-only arrays: every tensor must be a copy (no warning about a
    non-writable array), so changing one item cannot change the next item of the same scene."""
    cfg = DataConfig(voxel_max=1500)
    dataset = {"train": lambda: SegmentationDataset(synth_processed, "train", cfg, train=True, seed=4),
               "two_views": lambda: TwoViewDataset(synth_processed, "train", cfg, seed=4),
               "eval": lambda: EvalDataset(synth_processed, "val", cfg)}[make]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = dataset[0]
        views = first if isinstance(first, tuple) else (first,)
        expected = [{k: v.clone() for k, v in view.items() if torch.is_tensor(v)} for view in views]
        for view in views:
            for value in view.values():
                if torch.is_tensor(value):
                    value.zero_()
        again = dataset[0]
    for view, want in zip(again if isinstance(again, tuple) else (again,), expected):
        assert all(torch.equal(view[k], want[k]) for k in want)
