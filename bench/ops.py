"""Benchmark byol3d.ops against a naive pure-torch reference on a room-sized cloud.

Workload (one PointNeXt stage on a ScanNet-sized crop): 64k points sampled on the floor, walls and
a few boxes of a 6 x 5 x 3 m room (with 5 mm noise); FPS to 16k centres, ball query k=32 r=0.1 m
for the centres, 3-NN interpolation of 16k-centre features back to the 64k points.
The reference is the textbook algorithm in plain torch: python-loop FPS with a running
min-distance vector, and cdist + top-k per scene for the neighbour queries (its cdist is split in
row blocks only so that it fits in memory). Both run in this process, on the same tensors; a
"check" line per op says how far the results agree. With `--device cuda` the reference and the torch
backend run on the GPU (the cpu backend only exists on the CPU); their results come back to the CPU
inside the timed call, which also waits for the queued kernels.

    .venv/bin/python bench/ops.py            # prints one JSON line per op, then FPS+ball combined
    .venv/bin/python bench/ops.py --rounds 5 --no-torch-backend   # + the median speedup and its range
    python3 bench/ops.py --device cuda       # the same on a GPU
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import threading
import time

import numpy as np
import torch

from byol3d import ops

REF_ROWS = 2048  # reference cdist row block: 2048 x 64k float32 = 0.5 GB


def room_cloud(n: int, seed: int = 0) -> torch.Tensor:
    """n points on the surfaces of a 6 x 5 x 3 m room with 4 boxes, 5 mm noise -> (n, 3) float32."""
    rng = np.random.default_rng(seed)
    # Axis-aligned boxes (x0, y0, z0, x1, y1, z1): room shell, then furniture-like boxes.
    boxes = [(0, 0, 0, 6, 5, 3), (0.5, 0.5, 0, 2.0, 1.3, 0.75), (3.5, 3.8, 0, 5.8, 4.9, 2.0),
             (2.5, 1.5, 0, 3.1, 2.1, 0.45), (4.2, 0.4, 0, 5.0, 1.4, 1.1)]
    faces = []  # (origin (3,), edge u (3,), edge v (3,))
    for x0, y0, z0, x1, y1, z1 in boxes:
        lo, hi = np.array([x0, y0, z0], float), np.array([x1, y1, z1], float)
        for axis in range(3):
            u, v = [a for a in range(3) if a != axis]
            for side in (lo, hi):
                if axis == 2 and side is lo and z0 == 0 and (x1 - x0) < 6:
                    continue  # a box's bottom face lies on the floor: invisible
                o = lo.copy()
                o[axis] = side[axis]
                eu, ev = np.zeros(3), np.zeros(3)
                eu[u], ev[v] = hi[u] - lo[u], hi[v] - lo[v]
                faces.append((o, eu, ev))
    areas = np.array([np.linalg.norm(np.cross(eu, ev)) for _, eu, ev in faces])
    face = rng.choice(len(faces), size=n, p=areas / areas.sum())  # (n,)
    st = rng.random((n, 2))  # (n, 2)
    origin, eu, ev = (np.stack([f[i] for f in faces]) for i in range(3))  # (F, 3) each
    pts = origin[face] + st[:, :1] * eu[face] + st[:, 1:] * ev[face] + rng.normal(0, 0.005, (n, 3))
    return torch.from_numpy(pts.astype(np.float32))


def ref_fps(xyz, offset, new_offset) -> torch.Tensor:
    """Textbook FPS: python loop, running min-distance vector, first point of each scene first."""
    out, start, qstart = [], 0, 0
    for end, qend in zip(offset.tolist(), new_offset.tolist()):
        pts = xyz[start:end]
        mind = torch.full((end - start,), float("inf"), device=xyz.device)
        cur = 0
        for _ in range(qend - qstart):
            out.append(cur + start)
            mind = torch.minimum(mind, ((pts - pts[cur]) ** 2).sum(1))
            cur = int(torch.argmax(mind))
        start, qstart = end, qend
    return torch.tensor(out)


def ref_neighbours(k, xyz, offset, new_xyz, new_offset, radius=None):
    """cdist + top-k per scene (ball query: distances >= radius masked, padded with the first)."""
    idx, dist2, start, qstart = [], [], 0, 0
    for end, qend in zip(offset.tolist(), new_offset.tolist()):
        for q in torch.split(new_xyz[qstart:qend], REF_ROWS):
            d2 = torch.cdist(q, xyz[start:end]) ** 2  # (rows, N_b)
            if radius is not None:
                nearest = d2.argmin(1, keepdim=True)
                d2 = d2.masked_fill(d2 >= radius**2, float("inf"))
            val, i = torch.topk(d2, min(k, end - start), dim=1, largest=False)
            if radius is not None:
                first = torch.where(torch.isinf(val[:, :1]), nearest, i[:, :1])
                i = torch.where(torch.isinf(val), first, i)
            idx.append(i + start)
            dist2.append(val)
        start, qstart = end, qend
    return torch.cat(idx), torch.cat(dist2)


def ref_three_nn_weights(xyz_known, offset_known, xyz_query, offset_query):
    """cdist + top-3 picks the neighbours; weights from their exact distances (cdist's matrix
    product is ~1e-3 m off at zero distance, which would wreck 1/(d + 1e-8))."""
    idx, _ = ref_neighbours(3, xyz_known, offset_known, xyz_query, offset_query)
    w = 1.0 / ((xyz_known[idx] - xyz_query[:, None]).norm(dim=-1) + 1e-8)
    return idx, w / w.sum(1, keepdim=True)


def ref_interpolate(xyz_known, offset_known, feats, xyz_query, offset_query):
    idx, w = ref_three_nn_weights(xyz_known, offset_known, xyz_query, offset_query)
    return (feats[idx] * w[..., None]).sum(1)


class PeakRSS:
    """Peak resident memory above the starting level while the block runs (sampled every 2 ms), MB.

    glibc keeps freed memory mapped, which hides later peaks: large blocks are made to come from
    mmap (returned on free) and the heap is trimmed before each measurement. The first `with` fixes
    that for the rest of the process, and it makes large allocations slower (page faults on every
    fresh block: a quick training step ran 1.8x slower), so a script that times steps measures memory
    after its timings. Importing this module changes nothing.
    """

    libc = ctypes.CDLL("libc.so.6")

    def __enter__(self):
        self.libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD = 1 MB, fixed (no dynamic growth)
        self.libc.malloc_trim(0)
        self.base = self.peak = self._rss()
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.mb = (max(self.peak, self._rss()) - self.base) / 2**20

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn, repeats: int):
    """(best wall time over repeats, peak MB of the first run, result)."""
    times = []
    for r in range(repeats):
        with PeakRSS() as mem:
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        peak = mem.mb if r == 0 else peak
    return min(times), peak, result


def to_cpu(fn):
    """fn with its tensor result copied to the CPU (on CUDA the copy waits for the kernels, so timings are whole)."""
    return lambda: fn().cpu()


def measure(op: str, ours, reference, torch_fn, args) -> tuple[dict, object, object]:
    """Time one op for the cpu backend, the reference and (optionally) the torch backend; print its line."""
    ours_s, peak, out = timed(ours, args.repeats)
    ref_s, ref_peak, ref_out = timed(to_cpu(reference), 1)
    row = {"op": op, "device": args.device, "ours_s": round(ours_s, 4), "reference_s": round(ref_s, 4),
           "speedup": round(ref_s / ours_s, 1), "peak_mem_mb": round(peak, 1),
           "reference_peak_mem_mb": round(ref_peak, 1)}
    if not args.no_torch_backend:
        torch_repeats = 1 if args.device == "cpu" else args.repeats  # best-of on a GPU: the first call warms up
        row["torch_backend_s"] = round(timed(to_cpu(torch_fn), torch_repeats)[0], 4)
    print(json.dumps(row), flush=True)
    return row, out, ref_out


def combined_row(fps: dict, ball: dict) -> dict:
    ours, ref = fps["ours_s"] + ball["ours_s"], fps["reference_s"] + ball["reference_s"]
    row = {"op": "fps+ball_query", "ours_s": round(ours, 4), "reference_s": round(ref, 4),
           "speedup": round(ref / ours, 1), "peak_mem_mb": max(fps["peak_mem_mb"], ball["peak_mem_mb"])}
    if "torch_backend_s" in fps:
        row["torch_backend_s"] = round(fps["torch_backend_s"] + ball["torch_backend_s"], 4)
    return row


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=64000)
    parser.add_argument("--samples", type=int, default=16000)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--radius", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3, help="best-of for the cpu backend (and torch on a GPU)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole comparison; print median and range")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-torch-backend", action="store_true", help="skip timing the torch backend")
    parser.add_argument("--device", default="cpu", help="where the reference and the torch backend run: cpu, cuda")
    return parser.parse_args()


def one_round(args: argparse.Namespace) -> dict:
    """Time every op against the reference once (printing a line per op and check); the FPS + ball row."""
    xyz = room_cloud(args.points)  # (N, 3)
    off, new_off = torch.tensor([args.points]), torch.tensor([args.samples])  # (1,), (1,)
    feats = torch.randn(args.samples, 32)  # (M, 32) centre features to interpolate back
    xyz_d, feats_d = xyz.to(args.device), feats.to(args.device)  # reference / torch backend copies

    fps, centres, ref_centres = measure(
        "fps", lambda: ops.farthest_point_sample(xyz, off, new_off, backend="cpu"),
        lambda: ref_fps(xyz_d, off, new_off),
        lambda: ops.farthest_point_sample(xyz_d, off, new_off, backend="torch"), args)
    same = float((centres == ref_centres).float().mean())
    overlap = len(set(centres.tolist()) & set(ref_centres.tolist())) / len(centres)
    print(json.dumps({"check": "fps", "same_position_fraction": round(same, 4), "same_set_fraction": round(overlap, 4),
                      "note": "differences come from exact float32 distance ties, broken differently"}), flush=True)

    new_xyz = xyz[centres]  # (M, 3)
    new_xyz_d = new_xyz.to(args.device)
    ball, idx, ref_idx = measure(
        "ball_query", lambda: ops.ball_query(args.k, args.radius, xyz, off, new_xyz, new_off, backend="cpu"),
        lambda: ref_neighbours(args.k, xyz_d, off, new_xyz_d, new_off, args.radius)[0],
        lambda: ops.ball_query(args.k, args.radius, xyz_d, off, new_xyz_d, new_off, backend="torch"), args)
    d_ours = ((xyz[idx] - new_xyz[:, None]) ** 2).sum(-1).sort(1).values  # (M, k)
    d_ref = ((xyz[ref_idx] - new_xyz[:, None]) ** 2).sum(-1).sort(1).values
    agree = float(torch.isclose(d_ours, d_ref, atol=1e-5).all(1).float().mean())
    print(json.dumps({"check": "ball_query", "rows_same_distances_fraction": round(agree, 4),
                      "note": "the reference's matrix-product cdist rounds distances near the radius"}), flush=True)

    _, up, ref_up = measure(
        "three_nn_interpolate", lambda: ops.three_nn_interpolate(new_xyz, new_off, feats, xyz, off, backend="cpu"),
        lambda: ref_interpolate(new_xyz_d, new_off, feats_d, xyz_d, off),
        lambda: ops.three_nn_interpolate(new_xyz_d, new_off, feats_d, xyz_d, off, backend="torch"), args)
    agree = float(torch.isclose(up, ref_up, atol=1e-4).all(1).float().mean())
    note = "neighbour choice differs only where cdist's rounding reorders near-equal distances"
    print(json.dumps({"check": "three_nn_interpolate", "rows_within_1e-4_fraction": round(agree, 4), "note": note}),
          flush=True)
    row = combined_row(fps, ball)
    print(json.dumps(row), flush=True)
    return row


def spread_row(rows: list[dict]) -> dict:
    """FPS + ball query over several rounds: the median speedup and its range (the reference, a python
    loop, slows far more than ours when other jobs share the cores, so quote an idle machine's median)."""
    speedups = sorted(r["speedup"] for r in rows)
    return {"op": "fps+ball_query", "rounds": len(rows), "speedup_median": round(float(np.median(speedups)), 1),
            "speedup_min": speedups[0], "speedup_max": speedups[-1],
            "ours_s_median": round(float(np.median([r["ours_s"] for r in rows])), 4),
            "reference_s_median": round(float(np.median([r["reference_s"] for r in rows])), 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rows = [one_round(args) for _ in range(args.rounds)]
    if args.rounds > 1:
        print(json.dumps(spread_row(rows)), flush=True)


if __name__ == "__main__":
    main()
