"""Per-point input features for PointNeXt on ScanNet (Qian et al., NeurIPS 2022): 7 channels =
xyz (3) + normalised rgb (3) + height above the floor (1).

Colours are scaled to [0, 1] and standardised with PointNeXt's ScanNet statistics, so a dropped colour
(all zeros, see augment.py) becomes a constant, clearly "no colour" value.
"""

from __future__ import annotations

import numpy as np

COLOR_MEAN = np.array([0.4626, 0.4625, 0.4625], dtype=np.float32)  # of rgb / 255 (PointNeXt, ScanNet)
COLOR_STD = np.array([0.6936, 0.6853, 0.6806], dtype=np.float32)
NUM_FEATURES = 7


def normalize_color(color: np.ndarray) -> np.ndarray:
    """(N, 3) rgb in [0, 255] (uint8 or float) -> (N, 3) float32, (rgb / 255 - mean) / std."""
    return ((np.asarray(color, dtype=np.float32) / 255.0 - COLOR_MEAN) / COLOR_STD).astype(np.float32)


def make_features(coord: np.ndarray, color: np.ndarray, floor_z: float | None = None) -> np.ndarray:
    """coord (N, 3) metres, color (N, 3) in [0, 255] -> feat (N, 7) float32.

    Height is z - floor_z, clipped at 0 (jitter can push a floor point a few mm below). floor_z
    defaults to the lowest z of `coord`; the dataset passes the whole scene's floor so that a crop
    without floor still gets true heights.
    """
    coord = np.asarray(coord, dtype=np.float32)
    if coord.ndim != 2 or coord.shape[1] != 3 or np.shape(color) != coord.shape:
        raise ValueError(f"make_features: need coord and color of shape (N, 3), got {coord.shape} and "
                         f"{np.shape(color)}")
    if len(coord) == 0:
        raise ValueError("make_features: empty point set")
    floor = coord[:, 2].min() if floor_z is None else np.float32(floor_z)
    height = np.maximum(coord[:, 2:3] - floor, 0.0)  # (N, 1)
    return np.concatenate([coord, normalize_color(color), height], axis=1).astype(np.float32)
