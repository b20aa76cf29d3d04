"""Benchmark one PointNeXt-S training step (forward + backward) on CPU with each neighbour-op implementation.

Workload: 2 scenes x 24k points, each the 24k points nearest a random centre (PointNeXt's training
crop) of a 6 x 5 x 3 m room cloud from bench/ops.py sampled at about ScanNet's density after 0.02 m
voxelisation (~2,500 points per m^2 of surface), 7 features from byol3d.transforms.make_features.
Implementations, all in this process on the same batch and weights:
  cpu        byol3d.ops "cpu" backend (pykdtree + fpsample)
  torch      byol3d.ops "torch" backend (pure PyTorch, chunked brute force)
  reference  the naive pure-torch reference of bench/ops.py (python-loop FPS, cdist + top-k),
             swapped in for byol3d.ops' search functions by `reference_ops()` below.
Neighbour-op share: one extra profiled step (torch.profiler) sums the time inside the model's
"byol3d.ops.*" record_function ranges (FPS, ball query, 3-NN interpolation; grouping gathers
reported separately). Step seconds and points/s come from unprofiled steps (best of --repeats).

    .venv/bin/python bench/model.py   # one JSON line per implementation
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from unittest import mock

import numpy as np
import torch

import ops as bench_ops  # a script's own folder (bench/) is first on sys.path
from byol3d import ops
from byol3d.models import PointNeXt, PointNeXtConfig
from byol3d.transforms.features import make_features

SURFACE_DENSITY = 2500  # points per m^2, about ScanNet surfaces after 0.02 m voxel sampling
ROOM_AREA = 2 * (6 * 5 + 6 * 3 + 5 * 3) + 20  # m^2: room shell of bench/ops.py + ~20 m^2 of boxes
SEARCH_LABELS = ("farthest_point_sample", "ball_query", "three_nn_interpolate")


def make_batch(points: int, scenes: int, seed: int) -> dict:
    """`scenes` crops of `points` points each -> offset batch (coord, feat, offset, label)."""
    rng = np.random.default_rng(seed)
    coords, feats = [], []
    for b in range(scenes):
        cloud = bench_ops.room_cloud(SURFACE_DENSITY * ROOM_AREA, seed=seed + b).numpy()  # (V, 3)
        centre = cloud[rng.integers(len(cloud))]
        dist2 = ((cloud - centre) ** 2).sum(1)
        crop = cloud[np.sort(np.argpartition(dist2, points - 1)[:points])]  # (points, 3)
        coords.append(crop)
        feats.append(make_features(crop, rng.integers(0, 256, crop.shape)))
    n = points * scenes
    return {
        "coord": torch.from_numpy(np.concatenate(coords)),
        "feat": torch.from_numpy(np.concatenate(feats)),
        "offset": torch.arange(1, scenes + 1) * points,
        "label": torch.from_numpy(rng.integers(0, 20, n)),
    }


@contextlib.contextmanager
def reference_ops():
    """Route byol3d.ops' FPS, ball query and 3-NN search to bench/ops.py's naive reference."""

    def fps(xyz, offset, new_offset, backend=None):
        return bench_ops.ref_fps(xyz, offset, new_offset)

    def ball(k, radius, xyz, offset, new_xyz, new_offset, backend=None):
        return bench_ops.ref_neighbours(k, xyz, offset, new_xyz, new_offset, radius)[0]

    def weights(xyz_known, offset_known, xyz_query, offset_query, backend=None):
        return bench_ops.ref_three_nn_weights(xyz_known, offset_known, xyz_query, offset_query)

    with mock.patch.object(ops, "farthest_point_sample", fps), mock.patch.object(ops, "ball_query", ball), \
            mock.patch.object(ops, "three_nn_weights", weights):
        yield


def train_step(model: PointNeXt, batch: dict) -> None:
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
    loss.backward()


def op_shares(model: PointNeXt, batch: dict) -> dict:
    """One profiled step -> share of its wall time inside the byol3d.ops ranges."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        train_step(model, batch)
        total = time.perf_counter() - t
    inside = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key.startswith("byol3d.ops.")}
    search = sum(inside.get(f"byol3d.ops.{name}", 0.0) for name in SEARCH_LABELS)
    return {
        "ops_share": round(search / total, 3),
        "group_share": round(inside.get("byol3d.ops.group", 0.0) / total, 3),
        "ops_s": {k.removeprefix("byol3d.ops."): round(v, 3) for k, v in sorted(inside.items())},
    }


def run(name: str, model: PointNeXt, batch: dict, repeats: int) -> dict:
    """Time `repeats` steps (best), peak RSS of the first, then the profiled op shares."""
    times = []
    for r in range(repeats):
        with bench_ops.PeakRSS() as mem:
            t = time.perf_counter()
            train_step(model, batch)
            times.append(time.perf_counter() - t)
        peak = mem.mb if r == 0 else peak
    n = batch["coord"].shape[0]
    row = {"ops": name, "step_s": round(min(times), 3), "points_per_s": round(n / min(times)),
           "peak_mem_mb": round(peak, 1)}
    return row | op_shares(model, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=24000, help="points per scene")
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["cpu", "torch", "reference"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = make_batch(args.points, args.scenes, seed=0)
    model = PointNeXt(PointNeXtConfig.S()).train()
    train_step(model, batch)  # warm-up (allocator, thread pools)
    for name in ("cpu", "torch", "reference"):
        if name in args.skip:
            continue
        model.ops_backend = "cpu" if name == "reference" else name
        with reference_ops() if name == "reference" else contextlib.nullcontext():
            row = run(name, model, batch, args.repeats if name == "cpu" else 1)
        print(json.dumps({"model": "PointNeXt-S", "points": args.points, "scenes": args.scenes,
                          "threads": args.threads} | row), flush=True)


if __name__ == "__main__":
    main()
