"""Parity of byol3d.ops on a GPU: a device backend on `--device` tensors against "cpu" on CPU tensors.

The test suite (tests/test_ops.py) checks the cpu and torch backends against each other on the CPU
only; this script runs the same comparisons where the torch backend is meant to run, on CUDA, with
the offsets on the device as the model passes them. Clouds: uniform random scenes of very different
sizes (a 37- and a 2-point scene included) and two room-surface clouds from bench/ops.py.
Per op and cloud one JSON line: how many rows agree and the largest absolute difference.
Pointcept's optional `pointops` backend is compared the same way when it is installed.

    python3 bench/gpu_parity.py --device cuda        # on the GPU machine (bench/gpu_check.sh)
    .venv/bin/python bench/gpu_parity.py --device cpu --points 2000   # the same checks on the CPU

Exit status 1 when any op disagrees beyond float-tie effects (thresholds in `check`), else 0.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

import ops as bench_ops  # a script's own folder (bench/) is first on sys.path
from byol3d import ops
from byol3d.ops import pointops_backend
from byol3d.ops.common import pair_dist2, scene_ranges

K_NN, K_BALL = 16, 32


def clouds(points: int) -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    """[(name, xyz (N, 3) float32 CPU, offset (B,) int64, ball radius)]."""
    g = torch.Generator().manual_seed(0)
    sizes = [points, points // 7 + 3, 37, 2]
    rand = torch.cat([torch.rand(n, 3, generator=g) * 2 for n in sizes])  # scenes overlap in space
    room = bench_ops.room_cloud
    rooms = [room(points, seed=0), room(points // 2, seed=1)]
    return [("random", rand, ops.batch_to_offset(sizes), 0.15),
            ("rooms", torch.cat(rooms), ops.batch_to_offset([len(r) for r in rooms]), 0.2)]


def check(row: dict, ok: bool) -> dict:
    return row | {"ok": bool(ok)}


def same_rows(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of rows of a, b (M, k) holding the same set of indices."""
    return float((a.sort(1).values == b.sort(1).values).all(1).float().mean()) if len(a) else 1.0


def compare_fps(xyz, off, new_off, run) -> tuple[dict, torch.Tensor]:
    """FPS: first sample of every scene is its first row; sequences and sets as the cpu backend's."""
    a = ops.farthest_point_sample(xyz, off, new_off, backend="cpu")  # (M,)
    b = run(lambda x, o, no: ops.farthest_point_sample(x, o, no, backend=run.backend), xyz, off, new_off)
    scenes = zip(scene_ranges(off.tolist()), scene_ranges(new_off.tolist()))  # ((start, end), (qstart, qend))
    firsts = [int(b[qs]) == s for (s, _), (qs, qe) in scenes if qe > qs]
    same_set = len(set(a.tolist()) & set(b.tolist())) / len(a)
    row = {"op": "farthest_point_sample", "rows": len(a), "first_index_ok": all(firsts),
           "same_position_fraction": round(float((a == b).float().mean()), 5), "same_set_fraction": round(same_set, 5)}
    return check(row, all(firsts) and same_set >= 0.99), a


def compare_knn(xyz, off, queries, q_off, run) -> dict:
    """kNN: identical sorted distances (same arithmetic on both), same index sets up to ties."""
    ia, da = ops.knn(K_NN, xyz, off, queries, q_off, backend="cpu")  # (M, k), (M, k)
    ib, db = run(lambda x, o, q, qo: ops.knn(K_NN, x, o, q, qo, backend=run.backend), xyz, off, queries, q_off)
    diff = float((da - db).abs().max())
    row = {"op": "knn", "k": K_NN, "rows": len(ia), "same_set_fraction": round(same_rows(ia, ib), 5),
           "max_abs_diff_dist2": diff}
    return check(row, diff <= 1e-6 and row["same_set_fraction"] >= 0.99)


def compare_ball(xyz, off, queries, q_off, radius, run) -> tuple[dict, torch.Tensor]:
    """Ball query: the same neighbour distances per row (ties may swap indices), same sets."""
    ia = ops.ball_query(K_BALL, radius, xyz, off, queries, q_off, backend="cpu")  # (M, k)
    ib = run(lambda x, o, q, qo: ops.ball_query(K_BALL, radius, x, o, q, qo, backend=run.backend),
             xyz, off, queries, q_off)
    da = pair_dist2(xyz, queries, ia).sort(1).values  # (M, k)
    db = pair_dist2(xyz, queries, ib).sort(1).values
    same_dist = float((da == db).all(1).float().mean())
    row = {"op": "ball_query", "k": K_BALL, "radius": radius, "rows": len(ia),
           "same_set_fraction": round(same_rows(ia, ib), 5), "same_distances_fraction": round(same_dist, 5),
           "max_abs_diff_dist2": float((da - db).abs().max())}
    return check(row, same_dist >= 0.999 and row["same_set_fraction"] >= 0.99), ia


def compare_interp(known, k_off, xyz, off, run) -> dict:
    """3-NN interpolation of 32 random channels from `known` (M, 3) back to every point (N, 3)."""
    feats = torch.randn(known.shape[0], 32, generator=torch.Generator().manual_seed(1))  # (M, 32)
    va = ops.three_nn_interpolate(known, k_off, feats, xyz, off, backend="cpu")  # (N, 32)
    vb = run(lambda k, ko, f, x, o: ops.three_nn_interpolate(k, ko, f, x, o, backend=run.backend),
             known, k_off, feats, xyz, off)
    close = float(((va - vb).abs() <= 1e-4).all(1).float().mean())
    row = {"op": "three_nn_interpolate", "rows": len(va), "rows_within_1e-4_fraction": round(close, 5),
           "max_abs_diff": float((va - vb).abs().max())}
    return check(row, close >= 0.999)


def compare_group(idx, n_points, run) -> dict:
    """Grouping forward (exact) and its backward scatter (atomics on CUDA: summation order differs)."""
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(n_points, 32, generator=g)  # (N, 32)
    upstream = torch.randn(*idx.shape, 32, generator=g)  # (M, k, 32)

    def forward_backward(i, f, u):
        f = f.clone().requires_grad_(True)
        out = ops.group(i, f)  # (M, k, 32)
        (out * u).sum().backward()
        return out.detach(), f.grad

    (oa, ga), (ob, gb) = forward_backward(idx, feats, upstream), run(forward_backward, idx, feats, upstream)
    row = {"op": "group", "rows": len(idx), "max_abs_diff": float((oa - ob).abs().max()),
           "grad_max_abs_diff": float((ga - gb).abs().max())}
    return check(row, row["max_abs_diff"] == 0 and row["grad_max_abs_diff"] <= 1e-4)


class OnDevice:
    """Runs an op with its tensor arguments moved to `device`; results come back to the CPU."""

    def __init__(self, backend: str, device: torch.device):
        self.backend, self.device = backend, device

    def __call__(self, fn, *args):
        out = fn(*(a.to(self.device) for a in args))
        return tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu()


def run_suite(backend: str, device: torch.device, points: int):
    """Yield one result row per op and cloud for `backend` on `device` against "cpu" on the CPU."""
    run = OnDevice(backend, device)
    g = torch.Generator().manual_seed(3)
    for name, xyz, off, radius in clouds(points):
        counts = torch.diff(off, prepend=off.new_zeros(1)).tolist()
        new_off = ops.batch_to_offset([max(1, n // 4) for n in counts])  # PointNeXt's stride 4
        fps_row, centres = compare_fps(xyz, off, new_off, run)
        known = xyz[centres]  # (M, 3) FPS centres, as the model's next level
        queries = known.clone()
        queries[1::2] += 0.02 * torch.randn(queries[1::2].shape, generator=g)  # every other query off the cloud
        ball_row, idx = compare_ball(xyz, off, queries, new_off, radius, run)
        for row in (fps_row, compare_knn(xyz, off, queries, new_off, run), ball_row,
                    compare_interp(known, new_off, xyz, off, run), compare_group(idx, xyz.shape[0], run)):
            yield {"backend": backend, "device": str(device), "cloud": name} | row


def pointops_skip_reason(device: torch.device) -> str | None:
    if not pointops_backend.available():
        return "not installed (optional: Pointcept's CUDA extension)"
    return None if device.type == "cuda" else f"needs CUDA tensors, device is {device}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="where the device backends run: cuda, cuda:1, cpu")
    parser.add_argument("--points", type=int, default=20000, help="points of the largest scene")
    args = parser.parse_args()
    device = torch.device(args.device)
    backends = ["torch"]
    reason = pointops_skip_reason(device)
    if reason:
        print(json.dumps({"backend": "pointops", "status": "skipped", "reason": reason}), flush=True)
    else:
        backends.append("pointops")
    failed = 0
    for backend in backends:
        try:
            for row in run_suite(backend, device, args.points):
                print(json.dumps(row), flush=True)
                failed += not row["ok"]
        except Exception as err:  # a crash of one backend must not hide the others' results
            print(json.dumps({"backend": backend, "device": str(device), "error": repr(err)}), flush=True)
            failed += 1
    print(json.dumps({"summary": "gpu_parity", "device": str(device), "failed": failed}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
