"""Scenes kept in memory for the life of a process, shared by every dataset over them.

A notebook kernel builds new datasets for every pre-training and probe run (67 in the quick report), and each
used to read, check and voxel-group the same scenes again: about 4 s per probe run on the quick rooms
(bench/data_loading.py, case new_run), minutes of a report. `SCENES` keeps, per scene folder, the arrays a
dataset's `load` returns and the scene's voxel grouping per voxel size. Entries are keyed by the folder and the
size and modification time of its required files, so a scene written again (new data in the same place) is read
again.

Arrays are kept up to a byte bound (later scenes are read from disk per item); voxel groupings are always kept,
as grouping a scene (a sort) costs more than reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from byol3d.data.cache import REQUIRED
from byol3d.transforms import VoxelGroups, voxel_groups

SceneArrays = tuple[np.ndarray, np.ndarray, np.ndarray]  # coord (V, 3) float64, color (V, 3) uint8, label (V,)
SceneKey = tuple  # (folder, ((file, size, mtime_ns), ...))


def scene_key(scene_dir: Path) -> SceneKey:
    """What identifies a scene's content without reading it: its resolved folder and its required files'
    size and modification time (a missing file gets (-1, -1); reading it then raises the usual DataError)."""
    files = []
    for name in REQUIRED:
        try:
            stat = (scene_dir / f"{name}.npy").stat()
            files.append((name, stat.st_size, stat.st_mtime_ns))
        except OSError:
            files.append((name, -1, -1))
    return str(scene_dir.resolve()), tuple(files)


class SceneMemory:
    """Scene arrays (read-only, up to `max_bytes`) and voxel groupings, keyed by `scene_key`."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._arrays: dict[SceneKey, SceneArrays] = {}
        self._groups: dict[tuple[SceneKey, float], VoxelGroups] = {}
        self.array_bytes = 0  # held by the kept arrays
        self.reads = 0  # scenes read from disk (through `arrays`'s `read`)

    def arrays(self, scene_dir: Path, read: Callable[[], SceneArrays]) -> SceneArrays:
        """The scene's arrays: kept ones, or `read()`'s (read-only arrays, as they are shared; kept while within
        the bound)."""
        key = scene_key(scene_dir)
        if key in self._arrays:
            return self._arrays[key]
        arrays = read()
        self.reads += 1
        nbytes = sum(a.nbytes for a in arrays)
        if self.array_bytes + nbytes <= self.max_bytes:
            self._arrays[key] = arrays
            self.array_bytes += nbytes
        return arrays

    def groups(self, scene_dir: Path, voxel_size: float, coord: np.ndarray) -> VoxelGroups:
        """The voxel grouping of the scene's `coord` (its `arrays`' coord) at `voxel_size`: computed once."""
        key = (scene_key(scene_dir), float(voxel_size))
        if key not in self._groups:
            self._groups[key] = voxel_groups(coord, voxel_size)
        return self._groups[key]

    def nbytes(self) -> int:
        """Memory held: the kept arrays and every voxel grouping."""
        return self.array_bytes + sum(a.nbytes for g in self._groups.values() for a in vars(g).values())

    def clear(self) -> None:
        """Forget every scene (the next use reads from disk again)."""
        self._arrays.clear()
        self._groups.clear()
        self.array_bytes = 0


# The process's scenes. The quick profile's 40 rooms hold 0.56 GiB of arrays and 0.28 GiB of groupings.
SCENES = SceneMemory(max_bytes=2 << 30)
