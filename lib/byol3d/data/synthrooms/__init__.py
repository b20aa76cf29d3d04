"""SynthRooms: procedurally generated indoor rooms written in ScanNet v2's raw layout, the default
dataset of byol3d (the real ScanNet is gated and never shipped). The ScanNet reader runs on these
files unchanged. `python -m byol3d.data.synthrooms --out RAW --scenes N --seed S`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from byol3d.data.synthrooms.categories import tsv_text
from byol3d.data.synthrooms.scene import SynthScene, generate_scene
from byol3d.data.synthrooms.writer import write_scene
from byol3d.utils.atomic import atomic_write_text

__all__ = ["SynthScene", "generate_dataset", "generate_scene", "scene_ids", "split_scenes"]


def scene_ids(scenes: int) -> list[str]:
    """scene0000_00, scene0001_00, ... (ScanNet's naming: scene number, scan number)."""
    return [f"scene{i:04d}_00" for i in range(scenes)]


def split_scenes(ids: list[str], seed: int, val_fraction: float) -> tuple[list[str], list[str]]:
    """Seeded train/val split; both non-empty when there are at least two scenes."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"synthrooms: val_fraction {val_fraction} must be in [0, 1)")
    n_val = int(round(len(ids) * val_fraction))
    if len(ids) >= 2 and val_fraction > 0:
        n_val = min(max(n_val, 1), len(ids) - 1)
    order = np.random.default_rng([seed, 7]).permutation(len(ids))
    val = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(val)), val


def generate_dataset(out: str | os.PathLike, scenes: int, seed: int, spacing: float = 0.015,
                     val_fraction: float = 0.25) -> list[str]:
    """Write `scenes` rooms to <out>/scans/ plus the label tsv and split lists; returns the scene ids."""
    if scenes < 1:
        raise ValueError(f"synthrooms: need at least one scene, got {scenes}")
    out = Path(out)
    ids = scene_ids(scenes)
    counts: Counter[str] = Counter()
    for sid in tqdm(ids, desc="synthrooms", unit="scene"):
        scene = generate_scene(sid, seed, spacing)
        counts.update(scene.raw_category)
        write_scene(out / "scans", scene, seed, spacing)
    train, val = split_scenes(ids, seed, val_fraction)
    atomic_write_text(out / "scannetv2-labels.combined.tsv", tsv_text(counts))
    atomic_write_text(out / "scannetv2_train.txt", "".join(f"{s}\n" for s in train))
    atomic_write_text(out / "scannetv2_val.txt", "".join(f"{s}\n" for s in val))
    return ids
