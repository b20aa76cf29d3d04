"""One SynthRooms scene: room shell, furniture, scan effects, over-segments and annotations.

Scan effects, after ScanNet (Dai et al., CVPR 2017): surfaces no sensor sees are missing (undersides,
backs against walls, floor under solid furniture, wall behind it), walls are cut below the ceiling
and have random holes, there is usually no ceiling, positions get ~4 mm depth noise along the normal,
colours get shading, exposure drift and noise, and a few segments are left unannotated.

Frames: the room is built axis-aligned (floor z = 0, walls along x and y). Like real ScanNet, the
stored vertices are NOT axis-aligned: they are the aligned ones moved by the inverse of a random
rotation about z plus translation, and `<scene>.txt` holds `axisAlignment` = that rotation and
translation as a row-major 4x4 matrix, so `axisAlignment @ [x, y, z, 1]` recovers the aligned room.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from byol3d.data.labels import IGNORE_INDEX
from byol3d.data.synthrooms import fixtures as fx
from byol3d.data.synthrooms.categories import scannet20_of
from byol3d.data.synthrooms.layout import Room, make_room
from byol3d.data.synthrooms.palette import paint, pick, shade
from byol3d.data.synthrooms.rooms import ROOM_TYPES, SCENE_TYPES, furnish
from byol3d.data.synthrooms.shapes import Surface, grid, merge, rot_z, subset, transform
from byol3d.utils.runtime import scene_rng

DEPTH_NOISE = 0.004  # metres, std along the normal
UNANNOTATED_SEGMENTS = 0.03  # fraction of segments of large objects left out of every segGroup


@dataclass
class SynthScene:
    """A generated scene with per-vertex ground truth, exactly as written to disk."""

    scene_id: str
    coord: np.ndarray  # (V, 3) float32, stored (not axis-aligned) frame, as in the PLY
    color: np.ndarray  # (V, 3) uint8
    faces: np.ndarray  # (F, 3) int32
    seg_ids: np.ndarray  # (V,) int64 over-segment id (the id of the segment's first vertex)
    instance: np.ndarray  # (V,) int64 aggregation objectId, -1 where unannotated
    segment20: np.ndarray  # (V,) int64 ScanNet20 index, -1 = ignore / unannotated
    raw_category: list[str]  # per objectId, the aggregation label
    seg_groups: list[dict]  # aggregation segGroups: id, objectId, segments, label
    axis_alignment: np.ndarray  # (4, 4) float64: aligned = axis_alignment @ [coord, 1]
    scene_type: str  # ScanNet sceneType, e.g. "Bedroom / Hotel"

    def aligned_coord(self) -> np.ndarray:
        """(V, 3) float64 vertices in the axis-aligned room frame."""
        return self.coord.astype(np.float64) @ self.axis_alignment[:3, :3].T + self.axis_alignment[:3, 3]


def room_type_of(scene_id: str, seed: int) -> str:
    """Room types cycle with the scene number so that every few scenes cover all five."""
    digits = "".join(ch for ch in scene_id[5:9] if ch.isdigit()) if scene_id.startswith("scene") else ""
    index = int(digits) if digits else zlib.crc32(scene_id.encode())
    return ROOM_TYPES[(index + seed) % len(ROOM_TYPES)]


def _walls(room: Room, rng, sp) -> list[Surface]:
    """One mesh per wall: its inner face with openings, hidden areas and scan holes cut out, plus the
    reveals of its openings."""
    solid = [t for p in room.placed if p.furn.solid for t in room.touching(p.pos, p.yaw, p.furn.size, 0.08)]
    out = []
    for k in range(4):
        start, direc, normal, length = room.wall_frame(k)
        cut = room.height - rng.uniform(0.0, 0.45)
        rects = [(o.s0, o.s1, o.z0, o.z1) for o in room.openings if o.wall == k]
        rects += [(s0 + 0.02, s1 - 0.02, -1.0, z1 - 0.02) for j, s0, s1, _, z1 in solid if j == k]
        holes = [(rng.uniform(0, length), rng.uniform(0, cut), rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.3))
                 for _ in range(int(rng.integers(0, 4)))]

        def keep(a, b, rects=rects, holes=holes, cut=cut):
            ok = a <= cut
            for s0, s1, z0, z1 in rects:
                ok &= ~((b > s0) & (b < s1) & (a > z0) & (a < z1))
            for cs, cz, rs, rz in holes:
                ok &= ((b - cs) / rs) ** 2 + ((a - cz) / rz) ** 2 > 1
            return ok

        origin = np.array([start[0], start[1], 0.0])
        parts = [grid(origin, (0, 0, room.height), (*(direc * length), 0), sp, rng.uniform(0.6, 1.2), keep)]
        for o in [o for o in room.openings if o.wall == k]:
            parts += _reveals(room, o, sp, 0.05 if o.kind == "door" else room.thickness)
        out.append(merge(parts))
    return out


def _reveals(room: Room, o, sp, depth) -> list[Surface]:
    """Side (and top/bottom) faces of an opening, `depth` deep into the wall, facing the hole."""
    start, direc, normal, _ = room.wall_frame(o.wall)
    d3, n3, z3 = np.array([*direc, 0.0]), np.array([*normal, 0.0]), np.array([0.0, 0.0, 1.0])
    at = lambda s, z: np.array([*(start + direc * s), z])  # noqa: E731 - a point on the wall face
    faces = [(at(o.s0, o.z0), -n3 * depth, z3 * (o.z1 - o.z0), d3), (at(o.s1, o.z0), -n3 * depth,
                                                                       z3 * (o.z1 - o.z0), -d3),
             (at(o.s0, o.z1), -n3 * depth, d3 * (o.s1 - o.s0), -z3)]
    if o.z0 > 0:
        faces.append((at(o.s0, o.z0), -n3 * depth, d3 * (o.s1 - o.s0), z3))
    out = []
    for origin, u, v, want in faces:
        u, v = (u, v) if np.cross(u, v) @ want > 0 else (v, u)
        out.append(grid(origin, u, v, sp, 0.5))
    return out


def _floor(room: Room, rng, sp) -> Surface:
    """Floor minus what solid furniture stands on, with a few scan holes."""
    solid = [p for p in room.placed if p.furn.solid and p.pos[2] < 0.01]
    holes = [(rng.uniform(0, room.width), rng.uniform(0, room.depth), rng.uniform(0.1, 0.35))
             for _ in range(int(rng.integers(0, 3)))]

    def keep(a, b):
        ok = np.ones(a.shape, bool)
        for p in solid:
            c, s = np.cos(p.yaw), np.sin(p.yaw)
            lx, ly = c * (a - p.pos[0]) + s * (b - p.pos[1]), -s * (a - p.pos[0]) + c * (b - p.pos[1])
            ok &= ~((np.abs(lx) < p.furn.size[0] / 2 - 0.02) & (np.abs(ly) < p.furn.size[1] / 2 - 0.02))
        for cx, cy, r in holes:
            ok &= (a - cx) ** 2 + (b - cy) ** 2 > r * r
        return ok

    return grid((0, 0, 0), (room.width, 0, 0), (0, room.depth, 0), sp, rng.uniform(0.6, 1.2), keep)


def _cull(room: Room, s: Surface) -> Surface:
    """Drop what no sensor sees: undersides below 1 m, faces pressed against walls, outside the room."""
    keep = ~((s.normal[:, 2] < -0.5) & (s.xyz[:, 2] < 1.0))
    for k in range(4):
        start, _, normal, _ = room.wall_frame(k)
        dist = (s.xyz[:, :2] - start) @ normal
        keep &= ~((dist < 0.06) & (s.normal[:, :2] @ normal < -0.5)) & (dist > -0.005)
    return subset(s, keep)


def _objects(room: Room, rng, sp) -> list[tuple[str, Surface, bool]]:
    """(raw category, world-frame coloured mesh, annotated) for every object in the scene."""
    sps = sp  # one spacing for structure and furniture: ScanNet's vh_clean_2 meshes are roughly uniform
    wall_col, floor_col = pick(rng, "wall"), pick(rng, "floor")
    objs = [("floor", paint([_floor(room, rng, sps)], floor_col)[0], True)]
    objs += [("wall", paint([w], wall_col)[0], True) for w in _walls(room, rng, sps)]
    if rng.random() < 0.15:
        keep = lambda a, b: b < rng.uniform(0.5, room.depth)  # noqa: E731 - a partial ceiling
        ceil = grid((0, room.depth, room.height), (room.width, 0, 0), (0, -room.depth, 0), sps, 1.0, keep)
        objs.append(("ceiling", paint([ceil], pick(rng, "wall"))[0], True))
    for o in room.openings:
        start, direc, _, _ = room.wall_frame(o.wall)
        xy = start + direc * (o.s0 + o.s1) / 2
        if o.kind == "door":
            f = fx.door(rng, sp, o.s1 - o.s0, o.z1, rng.uniform(0.02, 0.05))
        else:
            f = fx.window(rng, sp, o.s1 - o.s0, o.z0, o.z1, room.thickness)
        objs.append((f.raw, transform(f.mesh, rot_z(room.wall_yaw(o.wall)), (xy[0], xy[1], 0.0)), True))
    for p in room.placed:
        mesh = _cull(room, transform(p.furn.mesh, rot_z(p.yaw), p.pos))
        objs.append((p.furn.raw, mesh, p.annotated))
    return [(raw, m, a) for raw, m, a in objs if len(m) > 0]


def generate_scene(scene_id: str, seed: int, spacing: float = 0.015) -> SynthScene:
    """Build one room (type cycling with the scene number) with vertices every `spacing` metres."""
    if not scene_id or "/" in scene_id or "\\" in scene_id or scene_id in (".", ".."):
        raise ValueError(f"synthrooms: scene id {scene_id!r} is not a plain name (path separators?)")
    if not 0.003 <= spacing <= 0.2:
        raise ValueError(f"synthrooms: spacing {spacing} m is outside [0.003, 0.2]")
    rng = scene_rng(scene_id, seed)
    room = make_room(rng, room_type_of(scene_id, seed))
    furnish(room, rng, spacing)
    return _assemble(scene_id, room, _objects(room, rng, spacing), rng)


def _assemble(scene_id: str, room: Room, objs: list[tuple[str, Surface, bool]], rng) -> SynthScene:
    """Merge objects, add sensor noise and shading, number over-segments, write the annotation."""
    mesh = merge([m for _, m, _ in objs])
    n = len(mesh)
    bounds = np.cumsum([0] + [len(m) for _, m, _ in objs])
    aligned = mesh.xyz + mesh.normal * rng.normal(0, DEPTH_NOISE, (n, 1)) + rng.normal(0, 0.0015, (n, 3))
    color = shade(mesh.color, mesh.normal, mesh.xyz, rng)
    _, inverse = np.unique(mesh.seg, return_inverse=True)
    first = np.full(int(inverse.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(n))
    seg_ids = first[inverse]  # like ScanNet, a segment is named by one of its vertex indices
    instance = np.full(n, -1, dtype=np.int64)
    segment20 = np.full(n, IGNORE_INDEX, dtype=np.int64)
    groups, raws = [], []
    for i, (raw, _, annotated) in enumerate(objs):
        if not annotated:
            continue
        rows = slice(bounds[i], bounds[i + 1])
        segs = np.unique(seg_ids[rows])
        if len(segs) >= 4:
            segs = segs[rng.random(len(segs)) >= UNANNOTATED_SEGMENTS]
        inside = np.isin(seg_ids[rows], segs)
        instance[rows][inside] = len(groups)
        segment20[rows][inside] = scannet20_of(raw)
        groups.append({"id": len(groups), "objectId": len(groups), "segments": segs.tolist(), "label": raw})
        raws.append(raw)
    theta = rng.uniform(0, 2 * np.pi)
    align = np.eye(4)
    align[:3, :3] = rot_z(theta)
    align[:3, 3] = [rng.uniform(-2, 2) - room.width / 2, rng.uniform(-2, 2) - room.depth / 2, 0.0]
    align = np.round(align, 6)  # exactly the numbers written to <scene>.txt
    inv = np.linalg.inv(align)
    stored = aligned @ inv[:3, :3].T + inv[:3, 3]
    return SynthScene(scene_id, stored.astype(np.float32), color, mesh.faces.astype(np.int32), seg_ids,
                      instance, segment20, raws, groups, align, SCENE_TYPES[room.room_type])
