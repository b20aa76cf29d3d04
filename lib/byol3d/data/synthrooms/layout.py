"""Room shell and furniture placement without overlaps.

The room is the axis-aligned rectangle [0, W] x [0, D] with the floor at z = 0. Walls are numbered
counter-clockwise: 0 at y = 0, 1 at x = W, 2 at y = D, 3 at x = 0; a position on a wall is `s`, metres
from the wall's start corner. A 5 cm occupancy grid of the floor keeps furniture from overlapping;
per-wall rectangles keep pictures, openings and furniture backs from overlapping on the walls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from byol3d.data.synthrooms.furniture import Furniture

RES = 0.05  # occupancy grid cell (metres)


@dataclass
class Opening:
    """A door or window hole in a wall."""

    kind: str  # "door" | "window"
    wall: int
    s0: float  # extent along the wall (metres from its start corner)
    s1: float
    z0: float  # extent in height
    z1: float


@dataclass
class Placed:
    """A furniture instance with its pose in room coordinates."""

    furn: Furniture
    pos: np.ndarray  # (3,) world position of the local origin
    yaw: float  # rotation about z (radians) from local to world
    annotated: bool = True  # False: clutter left out of the aggregation, as unlabelled scan parts


@dataclass
class Room:
    """An empty rectangular room and the bookkeeping of what is in it."""

    room_type: str
    width: float  # W, along x (metres)
    depth: float  # D, along y
    height: float  # wall height
    thickness: float  # wall thickness, seen only in door and window reveals
    openings: list[Opening] = field(default_factory=list)
    placed: list[Placed] = field(default_factory=list)
    wall_rects: list[list[tuple[float, float, float, float]]] = field(default_factory=lambda: [[], [], [], []])
    occ: np.ndarray = field(init=False)

    def __post_init__(self):
        self.occ = np.zeros((int(np.ceil(self.width / RES)), int(np.ceil(self.depth / RES))), dtype=bool)

    def wall_frame(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(start (2,), direction (2,), inward normal (2,), length) of wall k."""
        w, d = self.width, self.depth
        start = np.array([(0, 0), (w, 0), (w, d), (0, d)][k], float)
        direc = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)][k], float)
        return start, direc, np.array([-direc[1], direc[0]]), (w if k % 2 == 0 else d)

    def wall_yaw(self, k: int) -> float:
        """Yaw that turns a local frame's back (+y) towards wall k."""
        n = self.wall_frame(k)[2]
        return float(np.arctan2(n[0], -n[1]))

    def footprint(self, pos, yaw, sx, sy, clearance) -> np.ndarray | None:
        """Occupancy cells covered by an sx x sy rectangle at pos/yaw, or None if it leaves the room."""
        c, s = np.cos(yaw), np.sin(yaw)
        corners = np.array([[sx, sy], [sx, -sy], [-sx, sy], [-sx, -sy]]) / 2 @ np.array([[c, s], [-s, c]])
        corners += pos[:2]
        if corners.min() < -1e-6 or corners[:, 0].max() > self.width + 1e-6 or corners[:, 1].max() > self.depth + 1e-6:
            return None
        gx = (np.arange(self.occ.shape[0]) + 0.5) * RES - pos[0]
        gy = (np.arange(self.occ.shape[1]) + 0.5) * RES - pos[1]
        lx = c * gx[:, None] + s * gy[None, :]
        ly = -s * gx[:, None] + c * gy[None, :]
        return (np.abs(lx) <= sx / 2 + clearance) & (np.abs(ly) <= sy / 2 + clearance)

    def free(self, pos, yaw, size, clearance=0.03) -> np.ndarray | None:
        """The footprint if the floor there is free, else None (padded by half a cell, so that thin
        things such as curtains still claim the cells they cross)."""
        cells = self.footprint(pos, yaw, size[0], size[1], clearance + RES / 2)
        return None if cells is None or (cells & self.occ).any() else cells

    def wall_free(self, k, s0, s1, z0, z1) -> bool:
        return all(s1 <= a or s0 >= b or z1 <= c or z0 >= d for a, b, c, d in self.wall_rects[k])

    def touching(self, pos, yaw, size, reach: float = 0.1) -> list[tuple[int, float, float, float, float]]:
        """(wall, s0, s1, z0, z1) for every wall an object at pos/yaw comes within `reach` of."""
        c, s = np.cos(yaw), np.sin(yaw)
        corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) * np.array(size[:2]) / 2 @ np.array([[c, s], [-s, c]])
        corners = corners + pos[:2]
        out = []
        for k in range(4):
            start, direc, normal, _ = self.wall_frame(k)
            if ((corners - start) @ normal).min() < reach:
                along = (corners - start) @ direc
                out.append((k, float(along.min()), float(along.max()), float(pos[2]), float(pos[2] + size[2])))
        return out

    def add(self, furn: Furniture, pos, yaw, cells=None, annotated=True) -> Placed:
        """Record a placed object, its floor cells and the wall area it covers."""
        p = Placed(furn, np.asarray(pos, float), float(yaw), annotated)
        self.placed.append(p)
        if cells is not None:
            self.occ |= cells
        for k, s0, s1, z0, z1 in self.touching(p.pos, p.yaw, furn.size):
            self.wall_rects[k].append((s0, s1, z0, z1))
        return p


def on_wall(room: Room, furn: Furniture, k: int, s: float, gap: float = 0.01, z: float = 0.0,
            floor: bool = True) -> Placed | None:
    """Put `furn` with its back against wall k centred at s (its base at height z); None if it does
    not fit (floor taken, wall area taken, or the wall too short)."""
    start, direc, normal, length = room.wall_frame(k)
    half = furn.size[0] / 2
    if s - half < 0.02 or s + half > length - 0.02:
        return None
    if not room.wall_free(k, s - half, s + half, z, z + furn.size[2]):
        return None
    xy = start + direc * s + normal * (furn.size[1] / 2 + gap)
    pos, yaw = np.array([xy[0], xy[1], z]), room.wall_yaw(k)
    cells = room.free(pos, yaw, furn.size) if floor else None
    if floor and cells is None:
        return None
    return room.add(furn, pos, yaw, cells)


def try_walls(room: Room, furn: Furniture, rng, walls=(0, 1, 2, 3), tries: int = 30, gap=0.01, z=0.0,
              floor=True) -> Placed | None:
    """Random positions along the given walls until one fits."""
    for _ in range(tries):
        k = int(rng.choice(walls))
        length = room.wall_frame(k)[3]
        if length <= furn.size[0] + 0.05:
            continue
        placed = on_wall(room, furn, k, float(rng.uniform(furn.size[0] / 2 + 0.03, length - furn.size[0] / 2 - 0.03)),
                         gap, z, floor)
        if placed is not None:
            return placed
    return None


def relative(room: Room, parent: Placed, furn: Furniture, dx, dy, dyaw=0.0, dz=0.0, check=True,
             annotated=True) -> Placed | None:
    """Place `furn` at (dx, dy) in the parent's local frame, turned by dyaw; None if the floor is taken."""
    c, s = np.cos(parent.yaw), np.sin(parent.yaw)
    pos = parent.pos + np.array([c * dx - s * dy, s * dx + c * dy, dz])
    yaw = parent.yaw + dyaw
    cells = room.free(pos, yaw, furn.size, 0.01) if check else None
    if check and cells is None:
        return None
    return room.add(furn, pos, yaw, cells, annotated=annotated)


def free_spot(room: Room, size, rng, tries: int = 40, margin: float = 0.5) -> tuple[np.ndarray, float] | None:
    """A random pose in open floor for a (group) footprint `size`, yaw a right angle plus jitter."""
    for _ in range(tries):
        yaw = float(rng.integers(4) * np.pi / 2 + rng.normal(0, 0.08))
        pos = np.array([rng.uniform(margin, room.width - margin), rng.uniform(margin, room.depth - margin), 0.0])
        if room.free(pos, yaw, size, 0.05) is not None:
            return pos, yaw
    return None


def make_room(rng: np.random.Generator, room_type: str) -> Room:
    """Room size by type, one door, one to three windows (never overlapping each other or corners)."""
    dims = {"bathroom": ((2.6, 4.0), (2.2, 3.4)), "kitchen": ((3.5, 6.0), (3.2, 5.0)),
            "bedroom": ((3.4, 5.2), (3.6, 5.2)), "office": ((4.0, 7.0), (4.0, 6.0)),
            "living": ((4.2, 7.0), (4.0, 6.0))}[room_type]
    room = Room(room_type, rng.uniform(*dims[0]), rng.uniform(*dims[1]), rng.uniform(2.4, 2.9),
                rng.uniform(0.12, 0.25))
    k = int(rng.integers(4))
    w = rng.uniform(0.75, 0.95)
    _open(room, rng, "door", k, w, 0.0, rng.uniform(1.95, 2.1))
    n_win = 1 if room_type == "bathroom" else int(rng.integers(1, 4))
    for _ in range(n_win * 4):
        if sum(o.kind == "window" for o in room.openings) >= n_win:
            break
        sill = rng.uniform(0.9, 1.2) if room_type in ("bathroom", "kitchen") else rng.uniform(0.6, 1.0)
        top = min(room.height - 0.2, sill + rng.uniform(0.9, 1.5))
        _open(room, rng, "window", int(rng.integers(4)), rng.uniform(0.6, 1.8), sill, top)
    start, direc, normal, _ = room.wall_frame(k)
    door = room.openings[0]
    xy = start + direc * (door.s0 + door.s1) / 2 + normal * 0.45
    room.occ |= room.footprint(np.array([*xy, 0.0]), room.wall_yaw(k), door.s1 - door.s0 + 0.2, 0.9, 0.0)
    return room


def _open(room: Room, rng, kind, k, w, z0, z1) -> None:
    length = room.wall_frame(k)[3]
    if length < w + 0.6:
        return
    s0 = float(rng.uniform(0.3, length - w - 0.3))
    if room.wall_free(k, s0 - 0.15, s0 + w + 0.15, 0.0, room.height):
        room.openings.append(Opening(kind, k, s0, s0 + w, float(z0), float(z1)))
        room.wall_rects[k].append((s0 - 0.1, s0 + w + 0.1, z0 - 0.05, z1 + 0.1))
