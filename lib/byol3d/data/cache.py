"""The preprocessed scene cache, in the Pointcept layout: `<root>/<split>/<scene>/<name>.npy`.

    coord.npy      (V, 3) float32 metres          required
    color.npy      (V, 3) uint8 RGB               required
    segment20.npy  (V,)   int, -1 = ignore        required
    normal.npy     (V, 3) float                   optional
    instance.npy   (V,)   int, -1 = unannotated   optional

This is our own preprocessing output and also the layout of the widely shared Pointcept-preprocessed
ScanNet (which stores labels as int16 and may lack normals/instances), so `load_scene` accepts any
integer label dtype and returns one canonical set of dtypes. Scenes are written whole-or-not-at-all
(temporary folder, then rename), and each gets a `manifest.json` (size and SHA-256 of every .npy),
written last: `verify_scene` uses it to tell a finished scene from one damaged since (a truncated
file), and `data_fingerprint` to identify a dataset by its content without reading the arrays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from byol3d.data.errors import DataError
from byol3d.utils.atomic import atomic_dir, read_json_object

REQUIRED = ("coord", "color", "segment20")
OPTIONAL = ("normal", "instance")
MANIFEST = "manifest.json"
MAX_EXTENT_M = 1000.0  # a scene wider than this is not an indoor scan in metres (millimetres? a stray point?)


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


def check_metres(coord: np.ndarray, path: str | Path) -> None:
    """Refuse coordinates spanning more than MAX_EXTENT_M: the scene is not in metres (or has stray points).
    Runs on every scene load: one strided pass per column (numpy's axis-0 reductions over (V, 3) are ~20x
    slower), the difference taken in Python floats so that +-1e30 cannot overflow."""
    extent = np.array([float(col.max()) - float(col.min()) for col in coord.T])  # (3,)
    if not np.isfinite(extent).all() or extent.max() > MAX_EXTENT_M:
        raise DataError(path, f"the points span {extent.max():.3g} units; the scene looks like it is not in "
                              f"metres (over {MAX_EXTENT_M:g} m across): convert it to metres (millimetres / 1000)")


def validate_arrays(arrays: dict[str, np.ndarray], where: Path) -> dict[str, np.ndarray]:
    """Check shapes, dtypes and ranges; return canonical dtypes. `where` is the scene folder for errors."""
    coord = arrays["coord"]
    _check(coord.ndim == 2 and coord.shape[1] == 3 and len(coord) > 0, where, "coord",
           f"expected shape (V>0, 3), got {coord.shape}")
    _check(np.issubdtype(coord.dtype, np.floating), where, "coord", f"expected float coordinates, got {coord.dtype}")
    _check(bool(np.isfinite(coord).all()), where, "coord", "contains NaN/inf coordinates")
    check_metres(coord, where / "coord.npy")
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
        (tmp / MANIFEST).write_text(json.dumps(_describe(tmp), indent=1))  # last: it vouches for the rest
    return scene_dir


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe(scene_dir: Path) -> dict:
    """{file name: {"bytes", "sha256"}} of the scene's .npy files, read from disk."""
    return {f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)} for f in sorted(scene_dir.glob("*.npy"))}


def verify_scene(scene_dir: str | Path) -> bool:
    """True when the scene has its required files and they match its manifest (sizes, then checksums).

    False for a folder without a manifest (written by an older version, or by hand): it cannot be vouched for.
    """
    scene_dir = Path(scene_dir)
    manifest = read_json_object(scene_dir / MANIFEST)
    if manifest is None or not all(f"{name}.npy" in manifest for name in REQUIRED):
        return False
    files = {name: scene_dir / name for name in manifest}
    try:
        if any(path.stat().st_size != manifest[name].get("bytes") for name, path in files.items()):
            return False
        return all(file_sha256(path) == manifest[name].get("sha256") for name, path in files.items())
    except (OSError, AttributeError):
        return False


def data_fingerprint(root: str | Path, splits: tuple[str, ...] | None = None) -> str:
    """12-character hash of a cache's content: every scene's files with sizes and checksums.

    Cheap for our own caches (it reads the manifests only); a scene without one (a Pointcept-style
    cache) has its files hashed. `splits` defaults to every split folder of `root`.
    """
    root = Path(root)
    if splits is None:
        splits = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
                       if root.is_dir() else ())
    entries = [[split, scene.name, read_json_object(scene / MANIFEST) or _describe(scene)]
               for split in splits for scene in list_scenes(root, split)]
    if not any(files for _, _, files in entries):
        raise DataError(root, "no preprocessed scenes found (expected <root>/<split>/<scene>/*.npy)")
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:12]
