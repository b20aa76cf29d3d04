"""CPU backend of byol3d.ops on well-kept native libraries: pykdtree and fpsample.

- kNN / ball query: one `pykdtree` KD-tree over all scenes of the batch, laid side by side far apart,
  queried in parallel (OpenMP, all cores); ball query bounds the search with `distance_upper_bound`,
  so no distance matrix is ever formed. pykdtree, not scipy's cKDTree: the same neighbours up to
  ties, and training steps 1.1x faster (reports/benchmarks.md, "A faster KD-tree").
- FPS: fpsample's bucket FPS (QuickFPS, Han et al. 2023: exact FPS pruned with a KD-tree of
  buckets), one scene after the other. fpsample 1.0.x applies `start_idx` AFTER its KD-tree has reordered
  the points, so `start_idx=0` does not start at row 0. `_kdline_start_position` replays the
  (deterministic) tree build along the path of row 0 to find the index that does; the result is
  checked (first sample must be row 0) and otherwise falls back to fpsample's vanilla exact FPS.
Distances are then recomputed with `common.pair_dist2`, so values match the torch backend exactly.
"""

from __future__ import annotations

import math

import fpsample
import numpy as np
import torch
from pykdtree.kdtree import KDTree

from .common import finish_candidates, pair_dist2, scene_ranges

# Scenes smaller than this use fpsample's vanilla FPS: below it, replaying the tree build to start at
# row 0 (`_kdline_start_position`) costs more than bucket FPS saves (measured from 500 to 2,000 points).
SMALL_SCENE = 768
MAX_HEIGHT = 9  # KD-line tree height cap: 512 buckets


def _kdline_start_position(pts: np.ndarray, height: int) -> int:
    """Position of row 0 after fpsample's KD-line tree build (median-of-mean Hoare splits).

    pts (n, 3) float32. Follows only the node holding row 0, so the cost is O(n).
    """
    order = np.arange(pts.shape[0])  # node position -> original row
    base = 0
    for _ in range(height):
        if order.size == 1:
            break
        seg = pts[order]  # (c, 3)
        span = seg.max(0) - seg.min(0)  # (3,) float32
        dim = int(np.argmax(span)) if span.max() > 0 else 0
        col = seg[:, dim]  # (c,)
        split = np.cumsum(col, dtype=np.float32)[-1] / np.float32(col.size)  # sequential float32 mean
        n_less = int((col < split).sum())
        big_left = np.flatnonzero(col[:n_less] >= split)  # ascending
        small_right = n_less + np.flatnonzero(col[n_less:] < split)[::-1]  # descending
        order[big_left], order[small_right] = order[small_right], order[big_left].copy()
        cut = 1 if n_less == 0 else (col.size - 1 if n_less == col.size else n_less)
        pos = int(np.flatnonzero(order == 0)[0])
        if pos < cut:
            order = order[:cut]
        else:
            base, order = base + cut, order[cut:]
    return base + int(np.flatnonzero(order == 0)[0])


def _bucket_height(n: int) -> int:
    """KD-line tree height for bucket FPS of n points: about sqrt(n / 8) buckets, the fastest height
    measured at every size from 500 to 64,000 points (m = n / 4; 250 points a bucket at 4,000)."""
    return int(min(MAX_HEIGHT, max(1, round(0.5 * math.log2(n / 8)))))


def _fps_scene(pts: np.ndarray, m: int) -> np.ndarray:
    """Exact FPS of m samples from pts (n, 3) float32 starting at row 0 -> (m,) int64 local rows."""
    n = pts.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    if n < SMALL_SCENE or m == 1:
        return fpsample.fps_sampling(pts, m, start_idx=0).astype(np.int64)
    height = _bucket_height(n)
    for start in (_kdline_start_position(pts, height), 0):
        out = fpsample.bucket_fps_kdline_sampling(pts, m, height, start_idx=start)
        if int(out[0]) == 0:
            return out.astype(np.int64)
    return fpsample.fps_sampling(pts, m, start_idx=0).astype(np.int64)


def farthest_point_sample(xyz, offset: list[int], new_offset: list[int]) -> torch.Tensor:
    """Exact FPS per scene, one scene after the other (fpsample holds the GIL, so threads over scenes
    only added their start-up: 16.2 against 12.8 ms on 8 crops of 4,000 points) -> idx (M,) int64 rows."""
    pts = np.ascontiguousarray(xyz.detach().cpu().numpy(), dtype=np.float32)  # (N, 3)
    parts = [_fps_scene(pts[s:e], qe - qs) + s
             for (s, e), (qs, qe) in zip(scene_ranges(offset), scene_ranges(new_offset))]
    return torch.from_numpy(np.concatenate(parts)).to(xyz.device)  # (M,)


def _scene_shifts(pts: np.ndarray, offset: list[int], qry: np.ndarray) -> np.ndarray:
    """Per-scene shift along x (B,) that puts scenes side by side, each farther from every other than
    any two of its own points and queries are from each other. pts (N, 3), qry (M, 3) float64.

    Every scene lies in the batch's bounding box, of diagonal `span` >= any in-scene distance; shifted
    by b * (2 span + 1), two scenes are at least span + 1 apart along x."""
    both = np.concatenate([pts, qry])  # (N + M, 3), never empty: `_query_scenes` returns early on empty sets
    span = float(np.linalg.norm(both.max(0) - both.min(0)))
    return np.arange(len(offset)) * (2.0 * span + 1.0)  # (B,)


def _query_scenes(k, xyz, offset, new_xyz, new_offset, radius=None) -> np.ndarray:
    """One KD-tree query over all scenes -> (M, k) int64 global rows, -1 where nothing was found.

    Without radius: the min(k, N_b) nearest of the query's own scene (sorted), then -1 columns. With
    radius: only points closer than a slightly enlarged radius (float32 rounding is settled later on
    exact dist2). Scenes are placed apart (`_scene_shifts`), so one tree build and one threaded query
    serve every scene (instead of one per scene: most of the cost on batches of many small crops), and
    a neighbour from another scene can only come after all of the query's own scene; it is dropped.
    """
    pts = xyz.detach().cpu().numpy().astype(np.float64)  # (N, 3)
    qry = new_xyz.detach().cpu().numpy().astype(np.float64)  # (M, 3)
    n, m = len(pts), len(qry)
    out = np.full((m, k), -1, dtype=np.int64)  # (M, k)
    if m == 0 or n == 0:
        return out
    shifts = _scene_shifts(pts, offset, qry)  # (B,)
    n_per_scene, m_per_scene = np.diff([0, *offset]), np.diff([0, *new_offset])  # (B,), (B,)
    pts[:, 0] += np.repeat(shifts, n_per_scene)
    qry[:, 0] += np.repeat(shifts, m_per_scene)
    bound = None if radius is None else radius * (1 + 1e-4) + 1e-12
    kk = min(k, n)
    _, found = KDTree(pts).query(qry, k=kk, distance_upper_bound=bound)
    found = found.reshape(m, kk).astype(np.int64)  # (M, kk); n marks "none"
    start = np.repeat(np.asarray([0, *offset[:-1]]), m_per_scene)[:, None]  # (M, 1) query's scene rows
    end = np.repeat(np.asarray(offset), m_per_scene)[:, None]  # (M, 1)
    out[:, :kk] = np.where((found >= start) & (found < end), found, -1)
    return out


def knn(k, xyz, offset, new_xyz, new_offset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-scene kNN -> idx (M, k) int64 global rows, dist2 (M, k); short scenes pad with the nearest."""
    cand = torch.from_numpy(_query_scenes(k, xyz, offset, new_xyz, new_offset)).to(xyz.device)  # (M, k)
    idx = finish_candidates(xyz, new_xyz, cand, None)  # (M, k)
    return idx, pair_dist2(xyz, new_xyz, idx)


def ball_query(k, radius, xyz, offset, new_xyz, new_offset) -> torch.Tensor:
    """Up to k nearest points with dist2 < radius**2 (nearest-padded) -> idx (M, k) int64 global rows."""
    cand = torch.from_numpy(_query_scenes(k, xyz, offset, new_xyz, new_offset, radius)).to(xyz.device)

    def nearest(rows: torch.Tensor) -> torch.Tensor:
        return knn(1, xyz, offset, new_xyz, new_offset)[0][rows, 0]  # (R,)

    return finish_candidates(xyz, new_xyz, cand, radius, nearest)
