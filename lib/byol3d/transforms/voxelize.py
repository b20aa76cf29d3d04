"""Voxel-grid sampling: keep one point per occupied voxel, and remember where every vertex went.

PointNeXt (Qian et al., NeurIPS 2022) trains and evaluates ScanNet at a 0.02 m voxel size. For
training we keep a *random* point of each voxel (a different one every epoch, a cheap augmentation);
for evaluation we keep a deterministic one and the inverse map (V,) from every original vertex to the
row of the kept point of its voxel, so per-voxel predictions scatter back to the full-resolution scan.
"""

from __future__ import annotations

import numpy as np


def voxel_keys(coord: np.ndarray, voxel_size: float) -> np.ndarray:
    """(V, 3) positions -> (V,) int64 id of the voxel holding each point (same id = same voxel)."""
    if not voxel_size > 0:
        raise ValueError(f"voxelize: voxel_size must be > 0, got {voxel_size}")
    if coord.ndim != 2 or coord.shape[1] != 3 or len(coord) == 0:
        raise ValueError(f"voxelize: expected a non-empty (V, 3) array, got shape {coord.shape}")
    if not np.isfinite(coord).all():
        raise ValueError("voxelize: coordinates contain NaN or inf")
    coord = np.asarray(coord, dtype=np.float64)  # float32 rounding would move points across voxel faces
    grid = np.floor((coord - coord.min(axis=0)) / voxel_size).astype(np.int64)  # (V, 3) >= 0
    dims = grid.max(axis=0) + 1
    return (grid[:, 0] * dims[1] + grid[:, 1]) * dims[2] + grid[:, 2]


def voxelize(
    coord: np.ndarray, voxel_size: float, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep one point per voxel.

    coord: (V, 3) float. rng: a Generator picks a random point per voxel (training); None picks the
    lowest-index point of each voxel (evaluation, deterministic).
    Returns keep (M,) int64 vertex indices of the kept points, ordered by voxel, and
    inverse (V,) int64 with inverse[v] = the row in `keep` of the point kept in v's voxel,
    so `values_per_kept[inverse]` gives every vertex the value of its voxel.
    """
    keys = voxel_keys(coord, voxel_size)  # (V,)
    if rng is None:  # np.unique's first occurrence = the lowest vertex index of each voxel
        _, keep, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return keep.astype(np.int64), inverse.reshape(-1).astype(np.int64)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1).astype(np.int64)  # (V,) voxel rank, in [0, M)
    # One float sort groups points by voxel in a random order within each voxel; the random part stays
    # below 0.5 so rounding can never carry a point into the next voxel's group.
    order = np.argsort(inverse + 0.5 * rng.random(len(keys)))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # (M,) first slot of each voxel in `order`
    return order[starts].astype(np.int64), inverse
