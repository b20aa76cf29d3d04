"""Triangulated surface primitives sampled at scan density: planar grids (with holes), boxes,
(elliptic) cylinders and frusta, disks and wavy sheets.

Every primitive is a regular grid in its own (u, v) parameters, so it comes with a real
triangulation (two triangles per grid quad) and per-vertex normals. Grids are cut into cells of
about `cell` metres: these cells are the over-segments written to `*.segs.json`, standing in for
the small surface patches of ScanNet's graph-based over-segmentation (Dai et al., CVPR 2017).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Keep = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (a (n,), b (n,)) metres along u, v -> bool mask


@dataclass
class Surface:
    """A triangulated surface patch with per-vertex attributes."""

    xyz: np.ndarray  # (n, 3) float64 positions in metres
    normal: np.ndarray  # (n, 3) float64 unit outward normals
    faces: np.ndarray  # (m, 3) int64 vertex indices, counter-clockwise seen from the normal side
    seg: np.ndarray  # (n,) int64 local over-segment index, 0..k-1
    color: np.ndarray | None = None  # (n, 3) float64 RGB 0-255, set by `paint`

    def __len__(self) -> int:
        return len(self.xyz)


def subset(s: Surface, mask: np.ndarray) -> Surface:
    """Keep the vertices in `mask` and the faces whose three corners are all kept."""
    remap = np.full(len(s), -1, dtype=np.int64)
    remap[mask] = np.arange(int(mask.sum()))
    faces = remap[s.faces]
    faces = faces[(faces >= 0).all(axis=1)]
    color = None if s.color is None else s.color[mask]
    return Surface(s.xyz[mask], s.normal[mask], faces, s.seg[mask], color)


def _cells(a: np.ndarray, length: float, cell: float) -> tuple[np.ndarray, int]:
    """Cell index along one parameter for cells of about `cell` metres."""
    count = max(1, int(round(length / cell)))
    return np.minimum((a / max(length, 1e-9) * count).astype(np.int64), count - 1), count


def _grid_faces(nu: int, nv: int, wrap_u: bool = False) -> np.ndarray:
    """(2 * quads, 3) triangles of an nu x nv vertex grid (row-major in u), optionally closed in u."""
    idx = np.arange(nu * nv).reshape(nu, nv)
    if wrap_u:
        idx = np.concatenate([idx, idx[:1]], axis=0)
    q00, q10, q01, q11 = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    tri1 = np.stack([q00, q10, q11], axis=-1).reshape(-1, 3)
    tri2 = np.stack([q00, q11, q01], axis=-1).reshape(-1, 3)
    return np.concatenate([tri1, tri2]).astype(np.int64)


def grid(origin, u, v, spacing: float, cell: float = 0.6, keep: Keep | None = None) -> Surface:
    """Planar parallelogram origin + a*u + b*v, normal u x v; `keep(a, b)` cuts holes."""
    origin, u, v = (np.asarray(x, dtype=np.float64) for x in (origin, u, v))
    lu, lv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    nu, nv = max(2, int(np.ceil(lu / spacing)) + 1), max(2, int(np.ceil(lv / spacing)) + 1)
    a, b = np.meshgrid(np.linspace(0, lu, nu), np.linspace(0, lv, nv), indexing="ij")
    a, b = a.ravel(), b.ravel()
    uh, vh = u / max(lu, 1e-12), v / max(lv, 1e-12)
    xyz = origin + a[:, None] * uh + b[:, None] * vh
    n = np.array([uh[1] * vh[2] - uh[2] * vh[1], uh[2] * vh[0] - uh[0] * vh[2], uh[0] * vh[1] - uh[1] * vh[0]])
    normal = np.broadcast_to(n / np.linalg.norm(n), xyz.shape).copy()
    cu, _ = _cells(a, lu, cell)
    cv, count_v = _cells(b, lv, cell)
    s = Surface(xyz, normal, _grid_faces(nu, nv), cu * count_v + cv)
    return s if keep is None else subset(s, keep(a, b))


_BOX_FACES = {  # name -> (origin corner as (x?, y?, z?) picks of lo/hi, u axis, v axis); u x v = outward
    "top": ((0, 0, 1), 0, 1), "bottom": ((0, 0, 0), 1, 0), "front": ((0, 0, 0), 0, 2),
    "back": ((0, 1, 0), 2, 0), "left": ((0, 0, 0), 2, 1), "right": ((1, 0, 0), 1, 2),
}


def box(lo, hi, spacing: float, skip: str = "", cell: float = 0.5) -> list[Surface]:
    """Axis-aligned box [lo, hi]; `skip` names faces to leave out ("bottom back", ...).

    front is -y, back is +y, left is -x, right is +x (the furniture local frame).
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    size = hi - lo
    out = []
    for name, (pick, iu, iv) in _BOX_FACES.items():
        if name in skip.split():
            continue
        origin = np.where(np.asarray(pick) == 1, hi, lo)
        u, v = np.zeros(3), np.zeros(3)
        u[iu], v[iv] = size[iu], size[iv]
        out.append(grid(origin, u, v, spacing, cell))
    return out


def frustum(center, z0: float, z1: float, r0, r1, spacing: float, inward: bool = False,
            cell: float = 0.4) -> Surface:
    """Lateral surface of a vertical elliptic frustum; radii r = (rx, ry) at z0 and z1."""
    r0, r1 = np.broadcast_to(np.asarray(r0, float), (2,)), np.broadcast_to(np.asarray(r1, float), (2,))
    height = z1 - z0
    nt = max(8, int(np.ceil(2 * np.pi * max(r0.max(), r1.max()) / spacing)))
    nz = max(2, int(np.ceil(height / spacing)) + 1)
    t, z = np.meshgrid(np.linspace(0, 2 * np.pi, nt, endpoint=False), np.linspace(0, 1, nz), indexing="ij")
    t, z = t.ravel(), z.ravel()
    r = r0[None] + (r1 - r0)[None] * z[:, None]  # (n, 2)
    xyz = np.stack([center[0] + r[:, 0] * np.cos(t), center[1] + r[:, 1] * np.sin(t), z0 + z * height], 1)
    slope = (r0.mean() - r1.mean()) / max(height, 1e-9)
    normal = np.stack([np.cos(t) / r[:, 0].clip(1e-6), np.sin(t) / r[:, 1].clip(1e-6),
                       slope / r.mean(axis=1).clip(1e-6)], 1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    seg = _cells(t, 2 * np.pi, 2 * np.pi / 4)[0] * 64 + _cells(z * height, height, cell)[0]
    faces = _grid_faces(nt, nz, wrap_u=True)
    s = Surface(xyz, normal, faces, seg)
    return flip(s) if inward else s


def disk(center, z: float, radius, spacing: float, down: bool = False, inner: float = 0.0) -> Surface:
    """Horizontal elliptic disk (or ring when inner > 0, as a fraction of the radius) facing up."""
    radius = np.broadcast_to(np.asarray(radius, float), (2,))
    nt = max(8, int(np.ceil(2 * np.pi * radius.max() / spacing)))
    nr = max(2, int(np.ceil(radius.max() * (1 - inner) / spacing)) + 1)
    t, rr = np.meshgrid(np.linspace(0, 2 * np.pi, nt, endpoint=False), np.linspace(inner, 1, nr), indexing="ij")
    t, rr = t.ravel(), rr.ravel()
    xyz = np.stack([center[0] + rr * radius[0] * np.cos(t), center[1] + rr * radius[1] * np.sin(t),
                    np.full_like(t, z)], 1)
    normal = np.tile([0.0, 0.0, 1.0], (len(t), 1))
    faces = _grid_faces(nt, nr, wrap_u=True)[:, [0, 2, 1]]  # (t, r) grid: flip so normals face +z
    s = Surface(xyz, normal, faces, _cells(t, 2 * np.pi, 2 * np.pi / 4)[0])
    return flip(s) if down else s


def wavy_sheet(width: float, height: float, amplitude: float, period: float, spacing: float,
               phase: float = 0.0, cell: float = 0.5) -> Surface:
    """Hanging fabric in the x-z plane (x in [0, width], z in [0, height]) folded along y; faces -y."""
    stretch = np.sqrt(1 + 0.5 * (2 * np.pi * amplitude / max(period, 1e-3)) ** 2)  # mean arc length per metre
    nu = max(2, int(np.ceil(width * stretch / spacing)) + 1)
    nv = max(2, int(np.ceil(height / spacing)) + 1)
    a, b = np.meshgrid(np.linspace(0, width, nu), np.linspace(0, height, nv), indexing="ij")
    a, b = a.ravel(), b.ravel()
    k = 2 * np.pi / period
    y = amplitude * np.sin(k * a + phase)
    xyz = np.stack([a, y, b], 1)
    normal = np.stack([amplitude * k * np.cos(k * a + phase), -np.ones_like(a), np.zeros_like(a)], 1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    cu, _ = _cells(a, width, cell)
    cv, count_v = _cells(b, height, cell)
    faces = _grid_faces(nu, nv)  # u = x, v = z: x cross z = -y, the facing side
    return Surface(xyz, normal, faces, cu * count_v + cv)


def flip(s: Surface) -> Surface:
    """The same surface seen from the other side (normals and winding reversed)."""
    return Surface(s.xyz, -s.normal, s.faces[:, [0, 2, 1]], s.seg, s.color)


def transform(s: Surface, rot: np.ndarray, shift) -> Surface:
    """Rigid motion x -> rot @ x + shift."""
    return Surface(s.xyz @ rot.T + np.asarray(shift, float), s.normal @ rot.T, s.faces, s.seg, s.color)


def rot_z(yaw: float) -> np.ndarray:
    """(3, 3) rotation about +z by `yaw` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def merge(parts: list[Surface]) -> Surface:
    """Concatenate surfaces; over-segment ids stay distinct per part."""
    xyz, normal, faces, seg, color = [], [], [], [], []
    n_vert = n_seg = 0
    for p in parts:
        if len(p) == 0:
            continue
        xyz.append(p.xyz), normal.append(p.normal), faces.append(p.faces + n_vert)
        seg.append(p.seg + n_seg)
        color.append(p.color if p.color is not None else np.full((len(p), 3), 128.0))
        n_vert += len(p)
        n_seg += int(p.seg.max()) + 1
    if not xyz:
        return Surface(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.int64),
                       np.zeros((0, 3)))
    return Surface(np.concatenate(xyz), np.concatenate(normal), np.concatenate(faces),
                   np.concatenate(seg), np.concatenate(color))
