"""How hard BYOL's two views are: overlap, how much the augmentations change a shared point, and how
well a point can be found again from its own input channels alone.

The dense loss compares the same original point in the two views. If a point's colour and height
survive the augmentations nearly unchanged, the online network can match the target's feature of that
point from those per-point channels alone, without learning anything about its neighbourhood: the
"geometric shortcut" reported by Sonata (Wu et al., CVPR 2025) and MSC (Wu et al., CVPR 2023).
`shortcut_hit_rate` measures it directly: for every shared point of view 1, the nearest shared point of
view 2 in (rgb, height) input space; the share of hits on the same point. Near 0 the per-point
channels cannot solve the dense task; near 1 they can.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from byol3d.data.dataset import TwoViewDataset

RGB, HEIGHT = slice(3, 6), 6  # input channels (byol3d.transforms.features): xyz, rgb, height


def shortcut_hit_rate(feat1: np.ndarray, feat2: np.ndarray) -> float:
    """feat1, feat2: (P, 7) input features of the same P points in view 1 and view 2 -> share of points
    whose nearest neighbour in view 2, by (rgb, height) alone, is the point itself."""
    keys1 = np.concatenate([feat1[:, RGB], feat1[:, HEIGHT:HEIGHT + 1]], axis=1)
    keys2 = np.concatenate([feat2[:, RGB], feat2[:, HEIGHT:HEIGHT + 1]], axis=1)
    _, nearest = cKDTree(keys2).query(keys1, k=1)
    return float(np.mean(nearest == np.arange(len(keys1))))


def pair_statistics(view1: dict, view2: dict) -> dict[str, float]:
    """Overlap and shortcut numbers of one view pair (items of TwoViewDataset, one scene each)."""
    index1, index2 = view1["index"].numpy(), view2["index"].numpy()
    shared, rows1, rows2 = np.intersect1d(index1, index2, return_indices=True)
    feat1, feat2 = view1["feat"].numpy()[rows1], view2["feat"].numpy()[rows2]
    return {
        "overlap": len(shared) / len(index1),
        "shared_points": float(len(shared)),
        "rgb_change": float(np.abs(feat1[:, RGB] - feat2[:, RGB]).mean()),
        "height_change_m": float(np.abs(feat1[:, HEIGHT] - feat2[:, HEIGHT]).mean()),
        "shortcut_hit_rate": shortcut_hit_rate(feat1, feat2) if len(shared) > 1 else 1.0,
    }


def view_difficulty(dataset: TwoViewDataset, pairs: int) -> dict[str, float]:
    """Mean of `pair_statistics` over the first `pairs` items of the dataset (seeded, reproducible)."""
    if pairs < 1:
        raise ValueError(f"view_difficulty: pairs must be >= 1, got {pairs}")
    rows = [pair_statistics(*dataset[i % len(dataset)]) for i in range(pairs)]
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
