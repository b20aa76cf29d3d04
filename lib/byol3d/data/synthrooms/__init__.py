"""SynthRooms: procedurally generated indoor rooms written in ScanNet v2's raw layout, the default
dataset of byol3d (the real ScanNet is gated and never shipped). The ScanNet reader runs on these
files unchanged. `python -m byol3d.data.synthrooms --out RAW --scenes N --seed S`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from tqdm import tqdm

from byol3d.data.synthrooms.categories import tsv_text
from byol3d.data.synthrooms.scene import SynthScene, generate_scene, room_type_of
from byol3d.data.synthrooms.writer import write_scene
from byol3d.utils.atomic import atomic_write_text

__all__ = ["SynthScene", "generate_dataset", "generate_scene", "scene_ids", "split_scenes"]


def scene_ids(scenes: int) -> list[str]:
    """scene0000_00, scene0001_00, ... (ScanNet's naming: scene number, scan number)."""
    return [f"scene{i:04d}_00" for i in range(scenes)]


def split_scenes(ids: list[str], seed: int, val_fraction: float) -> tuple[list[str], list[str]]:
    """Seeded train/val split, stratified by room type: each room type gives round(val_fraction * its
    count) scenes to val, so every type (and with it every ScanNet20 class: toilets and bathtubs only
    stand in bathrooms, sofas in living rooms) is scored. Both splits are non-empty from two scenes on."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"synthrooms: val_fraction {val_fraction} must be in [0, 1)")
    rng = np.random.default_rng([seed, 7])
    by_type: dict[str, list[str]] = {}
    for sid in ids:
        by_type.setdefault(room_type_of(sid, seed), []).append(sid)
    val: list[str] = []
    for room_type in sorted(by_type):
        group = by_type[room_type]
        order = rng.permutation(len(group))
        val += [group[i] for i in order[:int(round(len(group) * val_fraction))]]
    if len(ids) >= 2 and val_fraction > 0 and not val:
        val = [ids[int(rng.integers(len(ids)))]]
    if len(val) == len(ids) and len(ids) >= 2:
        val = val[1:]
    return sorted(set(ids) - set(val)), sorted(val)


def _write_one(job: tuple[str, str, int, float]) -> list[str]:
    """Generate and write one scene (a worker's job); returns its raw categories for the label table."""
    scans, sid, seed, spacing = job
    scene = generate_scene(sid, seed, spacing)
    write_scene(Path(scans), scene, seed, spacing)
    return scene.raw_category


def generate_dataset(out: str | os.PathLike, scenes: int, seed: int, spacing: float = 0.015,
                     val_fraction: float = 0.25, workers: int = 1) -> list[str]:
    """Write `scenes` rooms to <out>/scans/ plus the label tsv and split lists; returns the scene ids.
    Every scene depends only on (seed, scene id), so `workers` processes give the same bytes as one."""
    if scenes < 1:
        raise ValueError(f"synthrooms: need at least one scene, got {scenes}")
    if workers < 1:
        raise ValueError(f"synthrooms: workers must be >= 1, got {workers}")
    out = Path(out)
    ids = scene_ids(scenes)
    jobs = [(str(out / "scans"), sid, seed, spacing) for sid in ids]
    counts: Counter[str] = Counter()
    with multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else nullcontext() as pool:
        results = pool.imap(_write_one, jobs) if pool is not None else map(_write_one, jobs)
        for categories in tqdm(results, total=len(jobs), desc="synthrooms", unit="scene"):
            counts.update(categories)
    train, val = split_scenes(ids, seed, val_fraction)
    atomic_write_text(out / "scannetv2-labels.combined.tsv", tsv_text(counts))
    atomic_write_text(out / "scannetv2_train.txt", "".join(f"{s}\n" for s in train))
    atomic_write_text(out / "scannetv2_val.txt", "".join(f"{s}\n" for s in val))
    return ids
