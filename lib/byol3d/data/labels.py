"""ScanNet20 label space (Dai et al., "ScanNet", CVPR 2017; the benchmark's 20 nyu40 classes).

Raw annotation categories map to nyu40 ids through `scannetv2-labels.combined.tsv`; the benchmark
keeps 20 of those ids, in the order below. Everything else is IGNORE_INDEX.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -1

SCANNET20_NAMES: tuple[str, ...] = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
    "bathtub", "otherfurniture",
)

# nyu40 id of each ScanNet20 class, same order as SCANNET20_NAMES.
SCANNET20_NYU40_IDS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)

NUM_CLASSES = len(SCANNET20_NAMES)

# One distinct RGB colour (0-255) per class, for viewers and plots.
SCANNET20_COLORS: tuple[tuple[int, int, int], ...] = (
    (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34),
    (140, 86, 75), (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189),
    (196, 156, 148), (23, 190, 207), (247, 182, 210), (219, 219, 141), (255, 127, 14),
    (158, 218, 229), (44, 160, 44), (112, 128, 144), (227, 119, 194), (82, 84, 163),
)
IGNORE_COLOR = (0, 0, 0)
RIGHT_COLOR = (200, 200, 200)  # error maps: grey where a prediction is right ...
WRONG_COLOR = (214, 39, 40)  # ... red where it is wrong (IGNORE_COLOR where the point is unlabelled)


def nyu40_to_scannet20_table() -> np.ndarray:
    """(41,) int64 lookup: nyu40 id -> ScanNet20 index, IGNORE_INDEX for ids outside the 20."""
    table = np.full(41, IGNORE_INDEX, dtype=np.int64)
    for index, nyu40 in enumerate(SCANNET20_NYU40_IDS):
        table[nyu40] = index
    return table


def label_colors(labels: np.ndarray) -> np.ndarray:
    """(N,) ScanNet20 labels (IGNORE_INDEX allowed) -> (N, 3) uint8 colours."""
    palette = np.array(SCANNET20_COLORS + (IGNORE_COLOR,), dtype=np.uint8)
    return palette[np.where(labels < 0, NUM_CLASSES, labels)]


def error_colors(labels: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """labels, pred (N,) -> (N, 3) uint8 error map: RIGHT_COLOR, WRONG_COLOR, IGNORE_COLOR where unlabelled."""
    colors = np.where((labels == pred)[:, None], np.array(RIGHT_COLOR, dtype=np.uint8),
                      np.array(WRONG_COLOR, dtype=np.uint8))  # (N, 3)
    colors[labels < 0] = IGNORE_COLOR
    return colors
