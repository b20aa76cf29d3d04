"""Neighbour plans kept between evaluations (byol3d.eval.plan_cache): evaluating with a PlanCache gives
the very predictions of evaluating without it, for every kind of predictor; a second evaluation of the
same rooms searches nothing; networks with other neighbour settings never share a plan; the byte bound
holds; a plan built for hypercolumns gives the interpolation computed from coordinates; and two frozen networks
on the same training crops share their feature passes' and BatchNorm recalibrations' plans, with the very
features and statistics computed without them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from byol3d.data.dataset import DataConfig, EvalDataset, SegmentationDataset, collate_scenes
from byol3d.data.labels import NUM_CLASSES
from byol3d.eval.features import FeaturePlanner, collect_features, extract_features, freeze, recalibrate_batchnorm
from byol3d.eval.linear import FrozenProbeModel, LinearProbe, MajorityClass
from byol3d.eval.plan_cache import PlanCache, batch_digest
from byol3d.eval.predict import evaluate
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt

CROP_POINTS = 1500  # validation rooms are predicted in several crops of this size
DATA = DataConfig(voxel_size=0.06, voxel_max=CROP_POINTS)  # coarse voxels: a ~38k-point room, ~50 crops


def _net(**fields) -> PointNeXt:
    torch.manual_seed(0)
    return PointNeXt(PointNeXtConfig(width=16, **fields)).eval()


def _frozen_probe(net: PointNeXt, batch: dict, kind: str) -> FrozenProbeModel:
    """A linear probe with random weights on the frozen net's standardised `kind` features."""
    feats = extract_features(freeze(net), batch, kind)
    probe = LinearProbe(feats.shape[1], NUM_CLASSES, "standardize")
    probe.fit_normalization(feats)
    torch.nn.init.normal_(probe.linear.weight)
    return FrozenProbeModel(net, probe, kind).eval()


@pytest.fixture(scope="module")
def val_set(synth_processed):
    return EvalDataset(synth_processed, "val", DATA, fraction=0.01)  # one room


@pytest.fixture(scope="module")
def train_batch(synth_processed):
    return collate_scenes([SegmentationDataset(synth_processed, "train", DATA, train=True)[0]])


@pytest.mark.parametrize("kind", ["network", "hypercolumn", "both", "majority"])
def test_cached_plans_give_the_same_predictions(val_set, train_batch, kind, one_thread):
    net = _net()
    others = {"network": net, "majority": MajorityClass(3, NUM_CLASSES)}
    model = others[kind] if kind in others else _frozen_probe(net, train_batch, kind)
    cpu = torch.device("cpu")
    uncached = evaluate(model, val_set, cpu, crop_points=CROP_POINTS)
    cache = PlanCache(max_bytes=1 << 30)
    first = evaluate(model, val_set, cpu, crop_points=CROP_POINTS, plans=cache)
    crop_batches = cache.misses
    second = evaluate(model, val_set, cpu, crop_points=CROP_POINTS, plans=cache)
    np.testing.assert_array_equal(first, uncached)
    np.testing.assert_array_equal(second, uncached)
    if kind == "majority":  # no network, nothing to plan
        assert (cache.hits, cache.misses, len(cache)) == (0, 0, 0)
    else:
        assert crop_batches >= len(val_set) and cache.hits == crop_batches == cache.misses == len(cache)
        assert cache.bytes > 0


def test_other_neighbour_settings_never_share_a_plan(val_set, one_thread):
    cpu = torch.device("cpu")
    wide_ball = _net(radius=0.2)
    expected = evaluate(wide_ball, val_set, cpu, crop_points=CROP_POINTS)
    cache = PlanCache(max_bytes=1 << 30)
    evaluate(_net(), val_set, cpu, crop_points=CROP_POINTS, plans=cache)
    planned = cache.misses
    np.testing.assert_array_equal(evaluate(wide_ball, val_set, cpu, crop_points=CROP_POINTS, plans=cache), expected)
    assert cache.hits == 0 and cache.misses == 2 * planned
    wider = PointNeXt(dataclasses.replace(wide_ball.cfg, width=32)).eval()  # weights and widths do not matter
    evaluate(wider, val_set, cpu, crop_points=CROP_POINTS, plans=cache)
    assert cache.hits == planned


def test_the_byte_bound_holds(val_set, train_batch, one_thread):
    net = _net()
    plan_bytes = net.plan(train_batch).nbytes()
    cache = PlanCache(max_bytes=0)
    assert cache.plan(net, train_batch) is not None and len(cache) == 0 and cache.bytes == 0
    cache = PlanCache(max_bytes=plan_bytes)
    first = cache.plan(net, train_batch)
    assert cache.plan(net, train_batch) is first and cache.bytes == plan_bytes  # the same tensors, not a copy
    other = {**train_batch, "coord": train_batch["coord"] + 0.5}  # another geometry: no room left for it
    assert cache.plan(net, other) is not None and len(cache) == 1 and cache.bytes <= cache.max_bytes
    cache.clear()
    assert (len(cache), cache.bytes, cache.hits, cache.misses) == (0, 0, 0, 0)
    with pytest.raises(ValueError, match="max_bytes"):
        PlanCache(max_bytes=-1)


def test_the_digest_follows_coordinates_and_offsets(train_batch):
    key = batch_digest(train_batch)
    assert batch_digest({k: v.clone() for k, v in train_batch.items()}) == key
    moved = train_batch["coord"].clone()
    moved[0, 0] += 1e-3
    assert batch_digest({**train_batch, "coord": moved}) != key
    n = len(train_batch["coord"])
    assert batch_digest({**train_batch, "offset": torch.tensor([n // 2, n])}) != key


def test_a_hypercolumn_plan_interpolates_as_coordinates_do(train_batch):
    net = _net()
    plan = net.plan(train_batch, decoder=True, to_points=True)
    assert plan.to_points[0] is None and plan.to_points[1] is plan.up[0]  # stage 1 -> points searched once
    enc = net.encode(train_batch, plan)
    for s in range(1, len(enc.feats)):
        torch.testing.assert_close(net.interpolate_to_points(enc, s, enc.feats[s], plan),
                                   net.interpolate_to_points(enc, s, enc.feats[s]), rtol=0, atol=0)
    assert net.plan(train_batch).to_points is None


@pytest.mark.parametrize("kind", ["hypercolumn", "decoder", "both"])
def test_frozen_networks_share_their_feature_passes(synth_processed, kind, one_thread):
    crops = SegmentationDataset(synth_processed, "train", DATA, train=True, fraction=0.2)
    cpu = torch.device("cpu")

    def features(seed: int, plans: PlanCache | None, points_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(seed)  # another seed: other weights, the same crops
        net = freeze(PointNeXt(PointNeXtConfig(width=16)))
        return collect_features(net, crops, kind, cpu, 300, seed=points_seed, scenes_per_batch=2, plans=plans)

    expected, labels = features(1, None)
    cache = PlanCache(max_bytes=1 << 30)
    features(0, cache)  # the first network searches and keeps every pass's plan
    passes = cache.misses
    shared, shared_labels = features(1, cache)
    assert torch.equal(shared, expected) and torch.equal(shared_labels, labels)
    assert passes == len(cache) == cache.hits > 0 and cache.misses == passes
    features(1, cache, points_seed=1)  # other points of the same crops: other plans
    assert cache.misses == 2 * passes


def test_a_feature_plan_serves_chunked_rows(train_batch):
    net = freeze(_net())
    rows = torch.arange(0, len(train_batch["coord"]), 3)  # (R,) sorted rows
    plan = FeaturePlanner(net, "both", rows).plan(train_batch)
    assert plan.nbytes() > net.plan(train_batch, decoder=False).nbytes()
    expected = extract_features(net, train_batch, "both", rows)
    torch.testing.assert_close(extract_features(net, train_batch, "both", rows, chunk=97, plan=plan), expected,
                               rtol=0, atol=0)


def test_batchnorm_recalibration_takes_kept_plans(synth_processed, one_thread):
    crops = SegmentationDataset(synth_processed, "train", DATA, train=True, fraction=0.2)
    batches = [collate_scenes([crops[i]]) for i in range(len(crops))]

    def statistics(plans: PlanCache | None) -> list[torch.Tensor]:
        net = recalibrate_batchnorm(_net(), batches, plans)
        return [t for name, t in net.state_dict().items() if "running" in name]

    expected, cache = statistics(None), PlanCache(max_bytes=1 << 30)
    statistics(cache)
    shared = statistics(cache)
    assert cache.hits == cache.misses == len(batches)
    for got, want in zip(shared, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
