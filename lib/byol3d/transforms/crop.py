"""Spherical crop: the `max_points` points nearest to a centre point.

PointNeXt (Qian et al., NeurIPS 2022) trains ScanNet on crops of at most 64,000 voxelised points
around a random point; whole scenes are used for validation.
"""

from __future__ import annotations

import numpy as np


def crop_around(coord: np.ndarray, max_points: int, center: np.ndarray) -> np.ndarray:
    """Indices (K,) int64, sorted, of the min(N, max_points) points of coord (N, 3) nearest `center` (3,)."""
    if max_points < 1:
        raise ValueError(f"crop: max_points must be >= 1, got {max_points}")
    n = len(coord)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    delta = coord - center
    dist2 = np.einsum("ij,ij->i", delta, delta)  # (N,) squared distances (faster than a sum over axis 1)
    nearest = np.argpartition(dist2, max_points - 1)[:max_points]
    return np.sort(nearest).astype(np.int64)


def random_crop(coord: np.ndarray, max_points: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Crop around a random point of coord (N, 3).

    Returns (indices (K,) int64 sorted, center_row) where center_row is the row used as the centre.
    """
    if len(coord) == 0:
        raise ValueError("crop: cannot crop an empty point set")
    center_row = int(rng.integers(len(coord)))
    return crop_around(coord, max_points, coord[center_row]), center_row
