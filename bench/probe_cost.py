"""The probe's costliest steps, old way against new, side by side.

Six cases on the quick preset's probe inputs (SynthRooms rooms, a random-init PointNeXt-S, bfloat16
autocast where the CPU has fast bf16, as `byol3d.probe` runs it):
  feature_cache  frozen features (hypercolumn + decoder) of 1,000 points of one crop of every training
                 room: one crop per network pass (reference) against `byol3d.probe.CROPS_PER_PASS`
                 crops per pass (ours). Both see the same crops and keep the same points
                 (`same_points`); `max_abs_feature_diff` is the largest difference of their features
                 (bf16 rounding of differently shaped batches).
  training_plans a frozen probe's training inputs as `byol3d.probe` computes them
                 (`frozen_training_features`: BatchNorm recalibration on the training crops, then the feature
                 cache of `--crops` crops per room) for a second random-init network, the first network's
                 seed + 1, on the same crops: every neighbour search done anew (reference) against the plans a
                 PlanCache kept from the first network's pass (ours, as `byol3d.probe.TRAINING_PLANS` does for
                 the random and BYOL arms of a seed; `fill_s` is that first pass). `same_features`: the two
                 give the same features and BatchNorm statistics, bit for bit.
  standardize    the probe's per-feature mean / std over a feature cache of the quick probe's size
                 (16 crops x 30 rooms x 1,000 points, 1,024 features; random numbers, as only the shape
                 matters): torch's column-wise std (reference) against the chunked sums of
                 `LinearProbe.fit_normalization` (ours); `max_abs_std_diff` between the two.
  linear_training
                 the quick probe's Adam steps on a cache of that size (random features, labels from a random
                 linear map of them plus noise, so there is something to learn): float32 steps (reference)
                 against bf16 steps on the normalised cache (ours, `train_linear(bf16=True)`, as a run with
                 `run.amp` on a CPU with fast bf16 trains it). `loss_*` are the means of the last 100 steps;
                 `same_prediction` is the share of the cached points both trained probes put in one class.
  evaluation_frozen / evaluation_network
                 scoring every validation room crop by crop, as `byol3d.probe` does, with a frozen
                 network's linear probe (hypercolumn + decoder, standardised) or with the network's own
                 head (the finetune / scratch arms): every crop batch's neighbour search done anew
                 (reference) against the plans of a `PlanCache` filled by one earlier evaluation (ours;
                 `fill_s` is that first evaluation). `same_confusion`: all three give the same confusion.
Times are medians of interleaved repeats (reference, ours, reference, ...). The process keeps freed memory
for reuse when the quick profile's runs do (`run.keep_freed_memory`), as `byol3d.probe` sets it up.

    .venv/bin/python bench/probe_cost.py      # one JSON line per case
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import numpy as np
import torch

from byol3d.data.dataset import EvalDataset, SegmentationDataset, collate_scenes
from byol3d.eval.features import collect_features, extract_features, freeze
from byol3d.eval.linear import FrozenProbeModel, LinearProbe, train_linear
from byol3d.eval.plan_cache import PlanCache
from byol3d.eval.predict import evaluate
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import CROPS_PER_PASS, VALIDATION_PLANS, frozen_training_features
from byol3d.profile import Profile
from byol3d.utils.runtime import bf16_autocast, keep_freed_memory, pick_device


def interleaved(reference, ours, repeats: int) -> tuple[float, float, object, object]:
    """Median seconds of reference() and ours(), run alternately, and the last result of each."""
    times = {"reference": [], "ours": []}
    results = {}
    for _ in range(repeats):
        for name, fn in (("reference", reference), ("ours", ours)):
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    ref_s, ours_s = statistics.median(times["reference"]), statistics.median(times["ours"])
    return ref_s, ours_s, results["reference"], results["ours"]


def feature_cache_case(data_root: str, repeats: int) -> dict:
    profile = Profile.quick()
    device = pick_device(profile.run.device)
    data = dataclasses.replace(profile.data, augment=profile.linear_probe.augment)
    train_set = SegmentationDataset(data_root, profile.eval.train_split, data, train=True, seed=0)
    torch.manual_seed(0)
    net = freeze(PointNeXt(profile.model).to(device))
    points = profile.linear_probe.points_per_scene

    def cache(scenes_per_batch: int):
        with bf16_autocast(device, profile.run.amp):
            return collect_features(net, train_set, "both", device, points, seed=0, scenes_per_batch=scenes_per_batch)

    cache(CROPS_PER_PASS)  # warm-up: the first pass reads every room from disk
    ref_s, ours_s, (ref_f, ref_l), (our_f, our_l) = interleaved(lambda: cache(1), lambda: cache(CROPS_PER_PASS),
                                                                repeats)
    return {"case": "feature_cache", "crops": len(train_set), "crops_per_pass": CROPS_PER_PASS,
            "reference_s": round(ref_s, 3), "ours_s": round(ours_s, 3), "speedup": round(ref_s / ours_s, 2),
            "same_points": bool(torch.equal(ref_l, our_l)),
            "max_abs_feature_diff": float((ref_f - our_f).abs().max()), "feature_scale": float(ref_f.abs().max())}


def training_plans_case(data_root: str, crops: int, repeats: int) -> dict:
    profile = Profile.quick()
    profile = dataclasses.replace(profile, linear_probe=dataclasses.replace(profile.linear_probe, crops=crops))
    device = pick_device(profile.run.device)
    data = dataclasses.replace(profile.data, augment=profile.linear_probe.augment)
    train_set = SegmentationDataset(data_root, profile.eval.train_split, data, train=True, seed=0)
    cache = PlanCache(max_bytes=4 << 30)

    def inputs(seed: int, plans: PlanCache | None) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(seed)
        net, feats, _ = frozen_training_features(profile, "random", PointNeXt(profile.model), train_set, device, plans)
        return feats, *(t for name, t in net.state_dict().items() if "running" in name)

    inputs(1, None)  # warm-up: the first pass reads every room from disk
    start = time.perf_counter()
    inputs(0, cache)
    fill_s = time.perf_counter() - start
    ref_s, ours_s, ref, ours = interleaved(lambda: inputs(1, None), lambda: inputs(1, cache), repeats)
    return {"case": "training_plans", "rooms": len(train_set), "crops_per_room": crops,
            "bn_batches": profile.linear_probe.bn_batches, "reference_s": round(ref_s, 3), "ours_s": round(ours_s, 3),
            "speedup": round(ref_s / ours_s, 2), "fill_s": round(fill_s, 3), "cache_mb": round(cache.bytes / 2**20, 1),
            "same_features": all(torch.equal(a, b) for a, b in zip(ref, ours))}


def standardize_case(rows: int, dim: int, repeats: int) -> dict:
    torch.manual_seed(0)
    feats = 3.0 + torch.randn(rows, dim)  # (M, D)
    probe = LinearProbe(dim, 20, "standardize")

    def ours() -> torch.Tensor:
        probe.fit_normalization(feats)
        return probe.std.clone()

    ref_s, ours_s, ref_std, our_std = interleaved(lambda: feats.std(dim=0), ours, repeats)
    return {"case": "standardize", "rows": rows, "dim": dim, "reference_s": round(ref_s, 3),
            "ours_s": round(ours_s, 3), "speedup": round(ref_s / ours_s, 2),
            "max_abs_std_diff": float((ref_std - our_std).abs().max())}


def linear_training_case(rows: int, dim: int, repeats: int) -> dict:
    settings = Profile.quick().linear_probe
    torch.manual_seed(0)
    feats = 3.0 + torch.randn(rows, dim)  # (M, D)
    teacher = torch.randn(dim, 20)  # (D, classes)
    labels = (feats @ teacher + 8.0 * torch.randn(rows, 20)).argmax(dim=1)  # (M,)

    def fit(bf16: bool) -> tuple[LinearProbe, list[float]]:
        torch.manual_seed(0)
        probe = LinearProbe(dim, 20, "standardize")
        losses = train_linear(probe, feats, labels, settings.steps, settings.lr, settings.weight_decay,
                              settings.batch, seed=0, bf16=bf16)
        return probe, losses

    ref_s, ours_s, (ref_probe, ref_losses), (our_probe, our_losses) = interleaved(
        lambda: fit(False), lambda: fit(True), repeats)
    with torch.no_grad():
        agree = float((ref_probe(feats[:100_000]).argmax(1) == our_probe(feats[:100_000]).argmax(1)).float().mean())
    return {"case": "linear_training", "rows": rows, "dim": dim, "steps": settings.steps,
            "reference_s": round(ref_s, 3), "ours_s": round(ours_s, 3), "speedup": round(ref_s / ours_s, 2),
            "loss_reference": round(statistics.mean(ref_losses[-100:]), 4),
            "loss_ours": round(statistics.mean(our_losses[-100:]), 4), "same_prediction": round(agree, 4)}


def _random_probe(net: PointNeXt, train_set: SegmentationDataset, device: torch.device) -> FrozenProbeModel:
    """A linear probe with random weights, standardised on the frozen net's features of one training crop."""
    feats = extract_features(freeze(net), collate_scenes([train_set[0]]), "both")
    probe = LinearProbe(feats.shape[1], net.cfg.num_classes, "standardize")
    probe.fit_normalization(feats)
    torch.nn.init.normal_(probe.linear.weight, std=feats.shape[1] ** -0.5)
    return FrozenProbeModel(net, probe.to(device), "both")


def evaluation_case(data_root: str, predictor: str, repeats: int) -> dict:
    profile = Profile.quick()
    device = pick_device(profile.run.device)
    eval_set = EvalDataset(data_root, profile.eval.eval_split, profile.data, fraction=profile.eval.eval_fraction)
    torch.manual_seed(0)
    net = PointNeXt(profile.model).to(device).eval()
    if predictor == "frozen":
        train_set = SegmentationDataset(data_root, profile.eval.train_split, profile.data, train=True, seed=0)
        model = _random_probe(net, train_set, device)
    else:
        model = net
    cache = PlanCache(VALIDATION_PLANS.max_bytes)

    def score(plans: PlanCache | None) -> np.ndarray:
        with bf16_autocast(device, profile.run.amp):
            return evaluate(model, eval_set, device, net.cfg.num_classes, profile.data.voxel_max, plans)

    start = time.perf_counter()
    filled = score(cache)
    fill_s = time.perf_counter() - start
    ref_s, ours_s, ref_c, our_c = interleaved(lambda: score(None), lambda: score(cache), repeats)
    return {"case": f"evaluation_{predictor}", "rooms": len(eval_set), "crop_batches": len(cache),
            "reference_s": round(ref_s, 3), "ours_s": round(ours_s, 3), "speedup": round(ref_s / ours_s, 2),
            "fill_s": round(fill_s, 3), "cache_mb": round(cache.bytes / 2**20, 1),
            "same_confusion": bool(np.array_equal(ref_c, our_c) and np.array_equal(ref_c, filled))}


CASES = ("feature_cache", "training_plans", "standardize", "linear_training", "evaluation_frozen", "evaluation_network")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthrooms/processed", help="preprocessed cache (make data)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each way per case")
    parser.add_argument("--rows", type=int, default=480_000,
                        help="standardize, linear_training: cached points (16 x 30 x 1,000)")
    parser.add_argument("--dim", type=int, default=1024,
                        help="standardize, linear_training: features per point (quick probe)")
    parser.add_argument("--crops", type=int, default=Profile.quick().linear_probe.crops,
                        help="training_plans: crops per training room (the quick probe's)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run, in order")
    args = parser.parse_args()
    if Profile.quick().run.keep_freed_memory:
        keep_freed_memory()
    for case in args.cases:
        if case == "feature_cache":
            row = feature_cache_case(args.data, args.repeats)
        elif case == "training_plans":
            row = training_plans_case(args.data, args.crops, args.repeats)
        elif case == "standardize":
            row = standardize_case(args.rows, args.dim, args.repeats)
        elif case == "linear_training":
            row = linear_training_case(args.rows, args.dim, args.repeats)
        else:
            row = evaluation_case(args.data, case.removeprefix("evaluation_"), args.repeats)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
