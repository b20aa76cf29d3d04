"""Furnishing by room type: which objects a bedroom, office, kitchen, bathroom or living room gets,
and how they group (chairs around tables, nightstands beside beds, sinks in counters, ...)."""

from __future__ import annotations

import numpy as np

from byol3d.data.synthrooms import fixtures as fx
from byol3d.data.synthrooms import furniture as fu
from byol3d.data.synthrooms.layout import Placed, Room, free_spot, on_wall, relative, try_walls
from byol3d.data.synthrooms.palette import paint, pick
from byol3d.data.synthrooms.shapes import box

ROOM_TYPES = ("office", "bedroom", "kitchen", "bathroom", "living")
SCENE_TYPES = {"office": "Office", "bedroom": "Bedroom / Hotel", "kitchen": "Kitchen", "bathroom": "Bathroom",
               "living": "Living room / Lounge"}  # ScanNet's sceneType names, written to <scene>.txt


def furnish(room: Room, rng: np.random.Generator, sp: float) -> None:
    """Fill `room` according to its type, then add what every room gets: curtains, pictures, bins,
    boxes and unlabelled clutter on tables and counters."""
    {"office": _office, "bedroom": _bedroom, "kitchen": _kitchen, "bathroom": _bathroom,
     "living": _living}[room.room_type](room, rng, sp)
    _curtains(room, rng, sp)
    for _ in range(int(rng.integers(1, 4))):
        _picture(room, rng, sp, "picture")
    if rng.random() < 0.7:
        try_walls(room, fu.trash_can(rng, sp), rng, gap=0.05)
    if rng.random() < 0.3:
        try_walls(room, fu.low_unit(rng, sp, "box"), rng, gap=0.05)
    _clutter(room, rng, sp)


def _dining(room: Room, rng, sp, kind="table") -> None:
    """A table with chairs on its long sides (and sometimes the ends), placed in open floor."""
    table = fu.table(rng, sp, kind)
    w, d = table.size[:2]
    chairs = [fu.chair(rng, sp) for _ in range(8)]
    cd = max(c.size[1] for c in chairs)
    spot = free_spot(room, (w + 2 * cd + 0.3, d + 2 * cd + 0.3), rng)
    if spot is None:
        return
    t = room.add(table, spot[0], spot[1], room.free(spot[0], spot[1], table.size))
    per_side = max(1, int(w / 0.65))
    slots = [((i + 0.5) * w / per_side - w / 2, side) for i in range(per_side) for side in (-1, 1)]
    slots += [(e, 0) for e in (-1, 1)] if rng.random() < 0.4 else []
    for (x, side), c in zip(slots, chairs):
        if rng.random() < 0.2:
            continue
        pull = rng.uniform(-0.02, 0.25)
        if side == 0:
            relative(room, t, c, x * (w / 2 + c.size[1] / 2 + pull), 0, -x * np.pi / 2 + rng.normal(0, 0.2))
        else:
            yaw = (0.0 if side > 0 else np.pi) + rng.normal(0, 0.2)
            relative(room, t, c, x + rng.normal(0, 0.03), side * (d / 2 + c.size[1] / 2 + pull), yaw)


def _desk(room: Room, rng, sp) -> None:
    """A desk against a wall, an office chair in front, a monitor on top."""
    d = try_walls(room, fu.desk(rng, sp), rng)
    if d is None:
        return
    chair = fu.office_chair(rng, sp)
    relative(room, d, chair, rng.uniform(-0.2, 0.2), -d.furn.size[1] / 2 - rng.uniform(0.2, 0.45),
             np.pi + rng.normal(0, 0.4))
    if rng.random() < 0.8:
        mon = fu.screen(rng, sp, "monitor", rng.uniform(0.45, 0.7))
        relative(room, d, mon, rng.uniform(-0.2, 0.2), d.furn.size[1] / 2 - 0.15, dz=d.furn.size[2], check=False)


def _picture(room: Room, rng, sp, raw: str, w=None, h=None) -> Placed | None:
    """A picture (or whiteboard / mirror) hung on a free patch of wall."""
    w = w or rng.uniform(0.3, 1.2)
    h = h or rng.uniform(0.3, 0.9)
    panel = fx.wall_panel(rng, sp, raw, w, h)
    z = rng.uniform(1.1, max(1.15, room.height - h - 0.3))
    return try_walls(room, panel, rng, gap=0.005, z=z, floor=False)


def _curtains(room: Room, rng, sp) -> None:
    """Curtains beside or across some windows, floor-length or to the sill."""
    p = {"bedroom": 0.8, "living": 0.8, "office": 0.4, "kitchen": 0.4, "bathroom": 0.2}[room.room_type]
    for o in [o for o in room.openings if o.kind == "window"]:
        if rng.random() > p:
            continue
        top = min(room.height - 0.03, o.z1 + rng.uniform(0.05, 0.25))
        bottom = 0.02 if rng.random() < 0.6 else max(0.02, o.z0 - rng.uniform(0.0, 0.05))
        gap = rng.uniform(0.06, 0.15)
        if rng.random() < 0.5:
            panels = [((o.s0 + o.s1) / 2, o.s1 - o.s0 + 0.3)]
        else:
            pw = rng.uniform(0.3, 0.6)
            panels = [(o.s0 - 0.05 + pw / 2 - 0.1, pw), (o.s1 + 0.05 - pw / 2 + 0.1, pw)]
        for s, width in panels:
            cur = fx.curtain(rng, sp, "curtain", width, bottom, top)
            _hang(room, cur, o.wall, s, gap, bottom < 0.1)


def _hang(room: Room, furn, k, s, gap, floor) -> Placed | None:
    """Place without the wall-area check (curtains hang in front of their window)."""
    start, direc, normal, length = room.wall_frame(k)
    if s - furn.size[0] / 2 < 0 or s + furn.size[0] / 2 > length:
        return None
    xy = start + direc * s + normal * (gap + furn.size[1] / 2)
    pos, yaw = np.array([xy[0], xy[1], 0.0]), room.wall_yaw(k)
    cells = room.free(pos, yaw, furn.size, 0.0) if floor else None
    if floor and cells is None:
        return None
    return room.add(furn, pos, yaw, cells)


def _clutter(room: Room, rng, sp) -> None:
    """Unlabelled small things on tables, desks and counters (left out of the aggregation)."""
    tops = [p for p in room.placed if p.furn.raw in ("table", "desk", "kitchen counter", "coffee table",
                                                     "dining table", "bathroom counter")]
    for p in tops:
        for _ in range(int(rng.integers(0, 4))):
            w, d, h = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.25), rng.uniform(0.02, 0.25)
            thing = fu.assemble("object", paint(box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), sp, "bottom"),
                                                pick(rng, "any")), (w, d, h), False)
            sx, sy = p.furn.size[0] / 2 - w / 2, p.furn.size[1] / 2 - d / 2
            if sx > 0 and sy > 0:
                relative(room, p, thing, rng.uniform(-sx, sx), rng.uniform(-sy, sy), rng.normal(0, 0.5),
                         dz=p.furn.size[2], check=False, annotated=False)


def _office(room: Room, rng, sp) -> None:
    for _ in range(int(rng.integers(1, 4))):
        _desk(room, rng, sp)
    for _ in range(int(rng.integers(1, 3))):
        try_walls(room, fu.bookshelf(rng, sp), rng)
    for _ in range(int(rng.integers(0, 3))):
        try_walls(room, fu.cabinet(rng, sp, str(rng.choice(["cabinet", "file cabinet"]))), rng)
    if rng.random() < 0.6:
        _dining(room, rng, sp)
    if rng.random() < 0.3:
        try_walls(room, fu.sofa(rng, sp), rng, gap=0.03)
    if rng.random() < 0.35:
        try_walls(room, fu.refrigerator(rng, sp), rng)
    if rng.random() < 0.5:
        _picture(room, rng, sp, "whiteboard", rng.uniform(1.0, 2.0), rng.uniform(0.8, 1.2))


def _bedroom(room: Room, rng, sp) -> None:
    bed, pillows = fu.bed(rng, sp)
    b = try_walls(room, bed, rng)
    if b is not None:
        for p in pillows:
            relative(room, b, p, 0, 0, check=False)
        for side in (-1, 1):
            if rng.random() < 0.75:
                ns = fu.low_unit(rng, sp, "nightstand")
                relative(room, b, ns, side * (bed.size[0] / 2 + ns.size[0] / 2 + 0.05),
                         bed.size[1] / 2 - ns.size[1] / 2 - 0.01)
    try_walls(room, fu.cabinet(rng, sp, "wardrobe cabinet" if rng.random() < 0.3 else "cabinet"), rng)
    if rng.random() < 0.6:
        try_walls(room, fu.low_unit(rng, sp, "dresser"), rng)
    if rng.random() < 0.5:
        _desk(room, rng, sp)
    if rng.random() < 0.4:
        try_walls(room, fu.bookshelf(rng, sp), rng)
    if rng.random() < 0.4:
        try_walls(room, fu.armchair(rng, sp), rng, gap=0.05)
    if rng.random() < 0.4:
        try_walls(room, fu.lamp(rng, sp), rng, gap=0.1)


def _kitchen(room: Room, rng, sp) -> None:
    _counter_run(room, rng, sp, "kitchen cabinet", "kitchen counter", upper=True)
    if rng.random() < 0.5:
        _counter_run(room, rng, sp, "kitchen cabinet", "kitchen counter", upper=False)
    try_walls(room, fu.refrigerator(rng, sp), rng)
    _dining(room, rng, sp, "dining table" if rng.random() < 0.5 else "table")
    if rng.random() < 0.4:
        try_walls(room, fu.cabinet(rng, sp), rng)


def _counter_run(room: Room, rng, sp, cab_raw, top_raw, upper: bool, units=None) -> None:
    """Base cabinets along a wall, one counter top over them with a sink, wall cabinets above."""
    depth, h = rng.uniform(0.55, 0.65), rng.uniform(0.82, 0.9)
    for _ in range(20):
        n = units or int(rng.integers(2, 6))
        widths = rng.uniform(0.4, 0.8, n)
        length = float(widths.sum())
        k = int(rng.integers(4))
        probe = fu.assemble("probe", [], (length, depth, h + 0.05), True)
        start_len = room.wall_frame(k)[3]
        if start_len < length + 0.1:
            continue
        s = float(rng.uniform(length / 2 + 0.02, start_len - length / 2 - 0.02))
        if on_wall(room, probe, k, s) is None:
            continue
        anchor = room.placed.pop()  # the probe reserved the floor and wall; keep its pose, drop the object
        x = -length / 2
        for i, wdt in enumerate(widths):
            skip = "bottom top" if i in (0, n - 1) else "bottom top left right"  # inner sides are hidden
            cab = fu.cabinet(rng, sp, cab_raw, w=wdt - 0.005, d=depth - 0.02, h=h, skip=skip)
            relative(room, anchor, cab, -(x + wdt / 2), -0.01, check=False)
            x += wdt
        sink_x = float(rng.uniform(-length / 2 + 0.35, length / 2 - 0.35)) if length > 0.8 else None
        top, sink = fx.counter(rng, sp, top_raw, length, depth, h, sink_x)
        relative(room, anchor, top, 0, 0, check=False)
        if sink is not None:
            relative(room, anchor, sink, 0, 0, check=False)
        if upper:
            _upper_cabinets(room, rng, sp, k, float(np.dot(anchor.pos[:2] - room.wall_frame(k)[0],
                                                           room.wall_frame(k)[1])), length)
        return


def _upper_cabinets(room: Room, rng, sp, k, s_mid, length) -> None:
    z, h, d = rng.uniform(1.4, 1.55), rng.uniform(0.55, 0.8), rng.uniform(0.3, 0.38)
    n = max(1, int(round(length / 0.6)))
    for i in range(n):
        s = s_mid - length / 2 + (i + 0.5) * length / n
        cab = fu.cabinet(rng, sp, "kitchen cabinet", w=length / n - 0.01, d=d, h=h, skip="")
        on_wall(room, cab, k, s, z=z, floor=False)


def _bathroom(room: Room, rng, sp) -> None:
    tub = fx.bathtub(rng, sp)
    for _ in range(12):
        k = int(rng.integers(4))
        length = room.wall_frame(k)[3]
        s = tub.size[0] / 2 + 0.021 if rng.random() < 0.5 else length - tub.size[0] / 2 - 0.021
        t = on_wall(room, tub, k, s)
        if t is not None:
            rod = rng.uniform(1.85, 2.05)
            sc = fx.curtain(rng, sp, "shower curtain", tub.size[0] - 0.04, tub.size[2] + rng.uniform(0.05, 0.2), rod)
            relative(room, t, sc, 0, -tub.size[1] / 2 + 0.06, check=False)
            break
    try_walls(room, fx.toilet(rng, sp), rng)
    if rng.random() < 0.6:
        _counter_run(room, rng, sp, "bathroom cabinet", "bathroom counter", upper=False, units=int(rng.integers(1, 3)))
    else:
        try_walls(room, fx.pedestal_sink(rng, sp), rng)
    sinks = [p for p in room.placed if p.furn.raw == "sink"]
    if sinks and rng.random() < 0.7:
        k = int(np.argmax([np.cos(sinks[0].yaw - room.wall_yaw(j)) for j in range(4)]))
        s = float(np.dot(sinks[0].pos[:2] - room.wall_frame(k)[0], room.wall_frame(k)[1]))
        on_wall(room, fx.wall_panel(rng, sp, "mirror", rng.uniform(0.4, 0.9), rng.uniform(0.5, 0.9)), k, s, 0.005,
                rng.uniform(1.15, 1.3), floor=False)
    if rng.random() < 0.4:
        try_walls(room, fu.cabinet(rng, sp, "cabinet"), rng)


def _living(room: Room, rng, sp) -> None:
    s = try_walls(room, fu.sofa(rng, sp), rng, gap=0.03)
    if s is not None and rng.random() < 0.85:
        ct = fu.table(rng, sp, "coffee table")
        relative(room, s, ct, rng.normal(0, 0.1), -s.furn.size[1] / 2 - ct.size[1] / 2 - rng.uniform(0.35, 0.6),
                 rng.normal(0, 0.05))
    for _ in range(int(rng.integers(0, 3))):
        spot = free_spot(room, (1.0, 1.0), rng)
        if spot is not None:
            a = fu.armchair(rng, sp)
            room.add(a, spot[0], spot[1], room.free(spot[0], spot[1], a.size))
    tv = try_walls(room, fu.low_unit(rng, sp, "tv stand"), rng)
    if tv is not None:
        relative(room, tv, fu.screen(rng, sp, "tv", min(1.4, tv.furn.size[0] - 0.1)), 0, 0.05, dz=tv.furn.size[2],
                 check=False)
    for _ in range(int(rng.integers(0, 3))):
        try_walls(room, fu.bookshelf(rng, sp), rng)
    if rng.random() < 0.6:
        try_walls(room, fu.cabinet(rng, sp), rng)
    if rng.random() < 0.4:
        spot = free_spot(room, (0.8, 0.8), rng)
        if spot is not None:
            o = fu.low_unit(rng, sp, str(rng.choice(["ottoman", "bench"])))
            room.add(o, spot[0], spot[1], room.free(spot[0], spot[1], o.size))
    if rng.random() < 0.3:
        _dining(room, rng, sp)
    if rng.random() < 0.5:
        try_walls(room, fu.lamp(rng, sp), rng, gap=0.1)
