"""open3d point clouds: normals for scenes that lack them, coloured `.ply` files, the desktop viewer.

Every open3d call of byol3d is here, and open3d is imported only when one of these functions runs: it
needs a system library (libusb-1.0-0) at import time, so a machine without it can still train, probe
and build the report, and only `byol3d export` / `byol3d view` stop, saying what to install.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

import numpy as np

from byol3d.data.errors import DataError
from byol3d.utils.atomic import atomic_write
from byol3d.utils.optional import NotAvailable, import_optional

OPEN3D_HINT = ("run `make setup` (it installs open3d and, as root, the Debian package it needs), or "
               "`sudo apt-get install libusb-1.0-0` and `pip install open3d==0.20.0`")
NORMAL_RADIUS = 0.1  # metres: neighbourhood of a normal's plane fit (a few cm between ScanNet vertices) ...
NORMAL_MAX_NN = 30  # ... and at most this many neighbours in it (open3d's hybrid KD-tree search)


def open3d() -> ModuleType:
    """The open3d module, or NotAvailable saying how to install it."""
    return import_optional("open3d", OPEN3D_HINT)


def estimate_normals(coord: np.ndarray, radius: float = NORMAL_RADIUS, max_nn: int = NORMAL_MAX_NN) -> np.ndarray:
    """coord (V, 3) metres -> (V, 3) float32 unit normals, from a plane fitted to each point's neighbours.

    A plane fit gives a direction up to its sign. Each normal is turned towards the centre of the scene's
    bounding box, the inside of a room: floors then face up and walls face into the room, as the normals
    of a scanned mesh (seen from inside) do. For scenes stored without normal.npy (some shared caches).
    """
    o3d = open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(coord, dtype=np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    centre = (cloud.get_min_bound() + cloud.get_max_bound()) / 2  # (3,)
    cloud.orient_normals_towards_camera_location(centre)
    cloud.normalize_normals()
    return np.asarray(cloud.normals, dtype=np.float32)


def point_cloud(coord: np.ndarray, colors: np.ndarray, normals: np.ndarray | None = None):
    """An open3d PointCloud: coord (N, 3) metres, colors (N, 3) uint8 RGB, normals (N, 3) or None."""
    coord, colors = np.asarray(coord), np.asarray(colors)
    if coord.ndim != 2 or coord.shape[1] != 3 or colors.shape != coord.shape or colors.dtype != np.uint8:
        raise ValueError(f"need coord (N, 3) and uint8 colours (N, 3), got {coord.shape} "
                         f"and {colors.shape} {colors.dtype}")
    o3d = open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(coord.astype(np.float64)))
    cloud.colors = o3d.utility.Vector3dVector(colors.astype(np.float64) / 255.0)  # open3d keeps [0, 1]
    if normals is not None:
        cloud.normals = o3d.utility.Vector3dVector(np.asarray(normals, dtype=np.float64))
    return cloud


def cloud_colors(cloud) -> np.ndarray:
    """(N, 3) uint8 RGB of an open3d PointCloud (the inverse of `point_cloud`'s scaling)."""
    return np.round(np.asarray(cloud.colors) * 255.0).astype(np.uint8)


def write_ply(path: str | os.PathLike, cloud) -> Path:
    """Write `cloud` as a binary .ply (coordinates, 8-bit colours, normals) that open3d, MeshLab and
    CloudCompare open; atomically, so a killed export leaves no half-written file."""
    o3d = open3d()

    def write(tmp: Path) -> None:
        staged = tmp.with_suffix(".ply")  # open3d picks the format from the file's extension
        try:
            if not o3d.io.write_point_cloud(str(staged), cloud):
                raise RuntimeError(f"{path}: open3d could not write the point cloud")
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)

    return atomic_write(path, write)


def read_ply(path: str | os.PathLike):
    """An open3d PointCloud read from a .ply file; a missing or unreadable file is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such .ply file")
    cloud = open3d().io.read_point_cloud(str(path), format="ply")
    if not cloud.has_points():
        raise DataError(path, "not a point-cloud .ply (open3d read no points from it)")
    return cloud


def place_in_a_row(clouds: Sequence, gap: float = 0.5) -> list:
    """Shift the clouds (in place) along x so that they lie next to each other, `gap` metres apart, in
    the order given: ground truth beside prediction in one window."""
    edge = None  # x of the right end of the clouds placed so far
    for cloud in clouds:
        if edge is not None:
            cloud.translate((edge + gap - cloud.get_min_bound()[0], 0.0, 0.0))
        edge = cloud.get_max_bound()[0]
    return list(clouds)


def require_display() -> None:
    """NotAvailable unless a desktop window can open (on Linux: an X11 or Wayland display is set)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise NotAvailable("open3d viewer: no display here (DISPLAY / WAYLAND_DISPLAY not set); write the "
                           "scene as .ply files with `byol3d export` and open them where there is a screen")


def show(geometries: Sequence, title: str) -> None:
    """Open open3d's desktop viewer on `geometries` (blocks until the window is closed)."""
    require_display()
    open3d().visualization.draw_geometries(list(geometries), window_name=title)
