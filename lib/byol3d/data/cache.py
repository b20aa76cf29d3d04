"""The preprocessed scene cache, in the Pointcept layout: `<root>/<split>/<scene>/<name>.npy`.

    coord.npy      (V, 3) float32 metres          required
    color.npy      (V, 3) uint8 RGB               required
    segment20.npy  (V,)   int, -1 = ignore        required
    normal.npy     (V, 3) float                   optional
    instance.npy   (V,)   int, -1 = unannotated   optional

This is our own preprocessing output and also the layout of the widely shared Pointcept-preprocessed
ScanNet (which stores labels as int16 and may lack normals/instances), so `load_scene` accepts any
integer label dtype and returns one canonical set of dtypes. Scenes are written whole-or-not-at-all
(temporary folder, then rename), so a folder that exists is a finished scene.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from byol3d.data.errors import DataError
from byol3d.utils.atomic import atomic_dir

REQUIRED = ("coord", "color", "segment20")
OPTIONAL = ("normal", "instance")


def list_scenes(root: str | Path, split: str) -> list[Path]:
    """Sorted scene folders of `<root>/<split>/` (hidden temporary folders are skipped)."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(folder, f"split folder not found (expected <root>/{split}/<scene>/coord.npy)")
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(path, f"not a readable .npy array ({err})") from err


def load_scene(scene_dir: str | Path) -> dict[str, np.ndarray]:
    """Read and validate one cached scene.

    Returns coord (V,3) float32, color (V,3) uint8, segment20 (V,) int64, and when present
    normal (V,3) float32 and instance (V,) int64.
    """
    scene_dir = Path(scene_dir)
    if not scene_dir.is_dir():
        raise DataError(scene_dir, "scene folder not found")
    arrays = {}
    for name in REQUIRED + OPTIONAL:
        path = scene_dir / f"{name}.npy"
        if path.is_file():
            arrays[name] = _load(path)
        elif name in REQUIRED:
            raise DataError(path, f"required file {name}.npy is missing")
    return validate_arrays(arrays, scene_dir)


def _check(cond: bool, where: Path, name: str, reason: str) -> None:
    if not cond:
        raise DataError(where / f"{name}.npy", reason)


def validate_arrays(arrays: dict[str, np.ndarray], where: Path) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and ranges; return canonical dtypes. `where` is the scene folder for errors."""
    coord = arrays["coord"]
    _check(coord.ndim == 2 and coord.shape[1] == 3 and len(coord) > 0, where, "coord",
           f"expected shape (V>0, 3), got {coord.shape}")
    _check(np.issubdtype(coord.dtype, np.floating), where, "coord", f"expected float coordinates, got {coord.dtype}")
    _check(bool(np.isfinite(coord).all()), where, "coord", "contains NaN/inf coordinates")
    num = len(coord)
    out = {"coord": coord.astype(np.float32, copy=False)}
    color = arrays["color"]
    _check(color.shape == (num, 3), where, "color", f"expected shape ({num}, 3), got {color.shape}")
    _check(color.dtype == np.uint8 or (np.issubdtype(color.dtype, np.integer) and color.min() >= 0
                                       and color.max() <= 255), where, "color",
           f"expected uint8 RGB (0-255), got {color.dtype}")
    out["color"] = color.astype(np.uint8, copy=False)
    for name in ("segment20", "instance"):
        if name in arrays:
            value = arrays[name]
            _check(value.shape == (num,), where, name, f"expected shape ({num},), got {value.shape}")
            _check(np.issubdtype(value.dtype, np.integer), where, name, f"expected integer ids, got {value.dtype}")
            out[name] = value.astype(np.int64, copy=False)
    _check(int(out["segment20"].min()) >= -1 and int(out["segment20"].max()) < 20, where, "segment20",
           "values must be ScanNet20 indices 0..19 or -1 (ignore)")
    if "normal" in arrays:
        normal = arrays["normal"]
        _check(normal.shape == (num, 3), where, "normal", f"expected shape ({num}, 3), got {normal.shape}")
        _check(np.issubdtype(normal.dtype, np.floating), where, "normal", f"expected float normals, got {normal.dtype}")
        out["normal"] = normal.astype(np.float32, copy=False)
    return out


def write_scene(scene_dir: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Validate and write one scene atomically: the folder appears complete or not at all."""
    scene_dir = Path(scene_dir)
    arrays = validate_arrays(arrays, scene_dir)
    with atomic_dir(scene_dir) as tmp:
        for name, value in arrays.items():
            np.save(tmp / f"{name}.npy", value)
    return scene_dir


def is_cached(scene_dir: str | Path) -> bool:
    """True when the scene folder exists with its required files (it was written atomically)."""
    return all((Path(scene_dir) / f"{name}.npy").is_file() for name in REQUIRED)
