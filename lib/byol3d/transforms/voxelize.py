"""Voxel-grid sampling: keep one point per occupied voxel, and remember where every vertex went.

PointNeXt (Qian et al., NeurIPS 2022) trains and evaluates ScanNet at a 0.02 m voxel size. For
training we keep a *random* point of each voxel (a different one every epoch, a cheap augmentation);
for evaluation we keep a deterministic one and the inverse map (V,) from every original vertex to the
row of the kept point of its voxel, so per-voxel predictions scatter back to the full-resolution scan.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class VoxelGroups:
    """The vertices of a scene grouped by voxel, computed once (one sort) and sampled cheaply many times."""

    order: np.ndarray  # (V,) int64 vertex indices, grouped by voxel, ascending index within a voxel
    starts: np.ndarray  # (M,) int64 first slot of each voxel in `order`
    counts: np.ndarray  # (M,) int64 vertices per voxel
    inverse: np.ndarray  # (V,) int64 voxel rank of every vertex, in [0, M)

    def sample(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """keep (M,) int64: one vertex per voxel, ordered by voxel; a uniformly random one of each voxel
        (rng) or the lowest-index one (None, deterministic)."""
        if rng is None:
            return self.order[self.starts]
        pick = np.minimum((rng.random(len(self.starts)) * self.counts).astype(np.int64), self.counts - 1)
        return self.order[self.starts + pick]


def voxel_groups(coord: np.ndarray, voxel_size: float) -> VoxelGroups:
    """Group coord (V, 3) by voxel of `voxel_size` metres (see VoxelGroups)."""
    keys = voxel_keys(coord, voxel_size)  # (V,)
    order = np.argsort(keys, kind="stable").astype(np.int64)
    sorted_keys = keys[order]
    is_start = np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
    starts = np.flatnonzero(is_start).astype(np.int64)  # (M,)
    counts = np.diff(np.append(starts, len(keys))).astype(np.int64)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(is_start) - 1
    return VoxelGroups(order, starts, counts, inverse)


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
    groups = voxel_groups(coord, voxel_size)
    return groups.sample(rng), groups.inverse
