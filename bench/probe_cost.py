"""The frozen linear probe's two costliest steps before evaluation, old way against new, side by side.

Two cases on the quick preset's probe inputs (SynthRooms training rooms, a random-init PointNeXt-S,
bfloat16 autocast where the CPU has fast bf16, as `byol3d.probe` runs it):
  feature_cache  frozen features (hypercolumn + decoder) of 1,000 points of one crop of every training
                 room: one crop per network pass (reference) against `byol3d.probe.CROPS_PER_PASS`
                 crops per pass (ours). Both see the same crops and keep the same points
                 (`same_points`); `max_abs_feature_diff` is the largest difference of their features
                 (bf16 rounding of differently shaped batches).
  standardize    the probe's per-feature mean / std over a feature cache of the quick probe's size
                 (16 crops x 30 rooms x 1,000 points, 1,024 features; random numbers, as only the shape
                 matters): torch's column-wise std (reference) against the chunked sums of
                 `LinearProbe.fit_normalization` (ours); `max_abs_std_diff` between the two.
Times are medians of interleaved repeats (reference, ours, reference, ...).

    .venv/bin/python bench/probe_cost.py      # one JSON line per case
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from byol3d.data.dataset import SegmentationDataset
from byol3d.eval.features import collect_features, freeze
from byol3d.eval.linear import LinearProbe
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import CROPS_PER_PASS
from byol3d.profile import Profile
from byol3d.utils.runtime import bf16_autocast, pick_device


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthrooms/processed", help="preprocessed cache (make data)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each way per case")
    parser.add_argument("--rows", type=int, default=480_000, help="standardize: cached points (16 x 30 x 1,000)")
    parser.add_argument("--dim", type=int, default=1024, help="standardize: features per point (quick probe)")
    args = parser.parse_args()
    print(json.dumps(feature_cache_case(args.data, args.repeats)), flush=True)
    print(json.dumps(standardize_case(args.rows, args.dim, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
