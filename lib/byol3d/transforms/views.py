"""Two overlapping crops of one scene, for BYOL (Grill et al., NeurIPS 2020) on point clouds.

Both crops are taken from the same voxelised scene, so a point present in both views is the *same*
original vertex: its original index identifies it, and the BYOL loss compares the two views' features at
those shared points. The second crop's centre is drawn inside the first crop, close to its centre, so the
views always overlap (at least at that centre point); we retry a few centres to reach `min_overlap`.
The two crops are then augmented independently (see TwoViewDataset in byol3d.data.dataset).
"""

from __future__ import annotations

import numpy as np

from byol3d.transforms.crop import crop_around, random_crop


def overlap_fraction(rows1: np.ndarray, rows2: np.ndarray) -> float:
    """Share of the points of view 1 that view 2 also holds (rows are unique indices)."""
    return np.intersect1d(rows1, rows2, assume_unique=True).size / max(len(rows1), 1)


def overlapping_crops(
    coord: np.ndarray,
    max_points: int,
    shift: float,
    min_overlap: float,
    tries: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (sorted, int64) of two crops of coord (N, 3), each of at most `max_points` points.

    Crop 1 is centred on a random point. Crop 2 is centred on a random point of crop 1 that lies within
    `shift` x (radius of crop 1) of crop 1's centre; up to `tries` centres are drawn, stopping at the
    first whose overlap (share of crop 1 also in crop 2) reaches `min_overlap`, else keeping the best.
    A scene of at most `max_points` points gives two full views (overlap 1).
    """
    if not 0 <= shift <= 1:
        raise ValueError(f"overlapping_crops: shift must be in [0, 1] (a fraction of the crop radius), got {shift}")
    if not 0 <= min_overlap <= 1 or tries < 1:
        raise ValueError(f"overlapping_crops: need 0 <= min_overlap <= 1 and tries >= 1, got {min_overlap}, {tries}")
    rows1, center1 = random_crop(coord, max_points, rng)
    delta = coord[rows1] - coord[center1]
    dist2 = np.einsum("ij,ij->i", delta, delta)  # (K,) squared distances to crop 1's centre
    candidates = rows1[dist2 <= shift**2 * dist2.max()]  # never empty: holds center1 itself
    best_rows, best_overlap = rows1, -1.0
    for _ in range(tries):
        center2 = candidates[rng.integers(len(candidates))]
        rows2 = crop_around(coord, max_points, coord[center2])
        overlap = overlap_fraction(rows1, rows2)
        if overlap > best_overlap:
            best_rows, best_overlap = rows2, overlap
        if overlap >= min_overlap:
            break
    return rows1, best_rows
