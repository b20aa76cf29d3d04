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


def tile_crops(coord: np.ndarray, max_points: int, core: float = 1.0) -> list[np.ndarray]:
    """Cover a whole scene with crops of the training size, for prediction that sees what training saw.

    coord (N, 3) -> list of row indices (K,), each the `max_points` points nearest a centre, nearest first
    (so row 0 of a crop is its centre).
    Every point lies in the nearest `core` share of at least one crop (core < 1: no point is seen only at
    a crop's rim; the default 1.0 covers each point at least once, about 2x the scene's points in all,
    and most rim points fall in a second crop whose probabilities are averaged in). Centres are chosen
    deterministically, farthest-point style: row 0 first, then each time the not-yet-covered point
    farthest from every centre so far, which spreads the crops evenly.
    A scene of at most `max_points` points is one crop.
    """
    if not 0 < core <= 1:
        raise ValueError(f"tile_crops: core must be in (0, 1], got {core}")
    n = len(coord)
    if n <= max_points:
        return [np.arange(n, dtype=np.int64)]
    inner = max(1, int(core * max_points))
    covered = np.zeros(n, dtype=bool)
    to_centres = np.full(n, np.inf)  # (N,) squared distance to the nearest centre so far
    crops, row = [], 0
    while True:
        delta = coord - coord[row]
        dist2 = np.einsum("ij,ij->i", delta, delta)  # (N,)
        nearest = np.argpartition(dist2, max_points - 1)[:max_points]
        nearest = nearest[np.argsort(dist2[nearest], kind="stable")].astype(np.int64)
        covered[nearest[:inner]] = True
        crops.append(nearest)
        np.minimum(to_centres, dist2, out=to_centres)
        if covered.all():
            return crops
        row = int(np.argmax(np.where(covered, -1.0, to_centres)))
