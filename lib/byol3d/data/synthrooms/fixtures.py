"""Builders for fixtures and wall-mounted things: counters with sink cut-outs, sinks, toilets,
bathtubs, (shower) curtains, pictures, mirrors, doors and windows.

Same local frame as `furniture.py`: footprint centred on the origin, front -y, back +y, floor z = 0.
Doors and windows are built around their wall opening: the wall's room-side face is the plane
y = 0, the room is at -y and the opening goes through the wall towards +y.
"""

from __future__ import annotations

import numpy as np

from byol3d.data.synthrooms.furniture import Furniture, assemble, uniform
from byol3d.data.synthrooms.palette import paint, pick, texture
from byol3d.data.synthrooms.shapes import Surface, box, disk, flip, frustum, grid, subset, transform, wavy_sheet


def _slab_with_hole(lo, hi, hole, sp) -> list[Surface]:
    """A slab [lo, hi] whose top face has a rectangular hole (x0, x1, y0, y1); no bottom (hidden)."""
    (x0, y0, _), (x1, y1, z1) = lo, hi
    keep = (lambda a, b: ~((a + x0 > hole[0]) & (a + x0 < hole[1]) & (b + y0 > hole[2]) & (b + y0 < hole[3]))) \
        if hole is not None else None
    top = grid((x0, y0, z1), (x1 - x0, 0, 0), (0, y1 - y0, 0), sp, 0.6, keep)
    return [top] + box(lo, hi, sp, "top bottom back", cell=0.6)


def basin(rng, sp, w, d, depth, top_z, faucet=True) -> list[Surface]:
    """The inside of a sink bowl whose rim is at `top_z`, plus a faucet behind it; uncoloured."""
    inner = [flip(p) for p in box((-w / 2, -d / 2, top_z - depth), (w / 2, d / 2, top_z), sp, "top", cell=0.2)]
    if faucet:
        inner += [frustum((0, d / 2 + 0.05), top_z, top_z + 0.2, 0.018, 0.018, sp)]
        inner += box((-0.015, d / 2 - 0.08, top_z + 0.17), (0.015, d / 2 + 0.05, top_z + 0.2), sp)
    return inner


def counter(rng, sp, raw, length, depth, z0, sink_x=None) -> tuple[Furniture, Furniture | None]:
    """A counter top of `length` x `depth` (plus overhang) at height z0, with an optional inset sink
    centred at x = sink_x; returns (counter, sink)."""
    t, over = uniform(rng, 0.03, 0.05), uniform(rng, 0.01, 0.04)
    lo, hi = (-length / 2, -depth / 2 - over, z0), (length / 2, depth / 2, z0 + t)
    sw, sd = uniform(rng, 0.4, 0.6), min(uniform(rng, 0.35, 0.45), depth - 0.15)
    hole = None if sink_x is None else (sink_x - sw / 2, sink_x + sw / 2, -sd / 2 - over / 2, sd / 2 - over / 2)
    top = assemble(raw, paint(_slab_with_hole(lo, hi, hole, sp), pick(rng, rng.choice(["board", "ceramic"]))),
                  (length, depth + over, z0 + t), False)
    if hole is None:
        return top, None
    parts = basin(rng, sp, sw, sd, uniform(rng, 0.14, 0.22), z0 + t)
    parts = [transform(p, np.eye(3), (sink_x, -over / 2, 0)) for p in parts]
    sink = assemble("sink", paint(parts, pick(rng, rng.choice(["metal", "ceramic"]))), (sw, sd, z0 + t), False)
    return top, sink


def pedestal_sink(rng, sp) -> Furniture:
    """Wash basin on a pedestal, against a wall."""
    w, d, h = uniform(rng, 0.45, 0.65), uniform(rng, 0.38, 0.5), uniform(rng, 0.8, 0.9)
    parts = [frustum((0, 0.05), 0, h - 0.18, 0.08, 0.1, sp)]
    parts += _slab_with_hole((-w / 2, -d / 2, h - 0.18), (w / 2, d / 2, h), (-w / 2 + 0.05, w / 2 - 0.05,
                             -d / 2 + 0.05, d / 2 - 0.1), sp)
    parts += basin(rng, sp, w - 0.1, d - 0.15, 0.14, h)
    return assemble("sink", paint(parts, pick(rng, "ceramic")), (w, d, h), False)


def toilet(rng, sp) -> Furniture:
    """Toilet: elliptic bowl, seat and lid (open or closed), cistern against the wall."""
    tw, td, th = uniform(rng, 0.36, 0.5), uniform(rng, 0.15, 0.22), uniform(rng, 0.3, 0.42)
    rx, ry, hb = uniform(rng, 0.17, 0.2), uniform(rng, 0.22, 0.27), uniform(rng, 0.38, 0.43)
    depth = td + 2 * ry + 0.05
    cy = depth / 2 - td - ry
    parts = box((-tw / 2, depth / 2 - td, hb), (tw / 2, depth / 2, hb + th), sp, "back", cell=0.2)
    parts += box((-0.1, depth / 2 - td - 0.1, 0), (0.1, depth / 2 - td + 0.01, hb), sp, "bottom back top")
    parts += [frustum((0, cy), 0, hb, (rx * 0.6, ry * 0.6), (rx, ry), sp)]
    if rng.random() < 0.5:
        parts += [disk((0, cy), hb + 0.02, (rx, ry), sp), frustum((0, cy), hb, hb + 0.02, (rx, ry), (rx, ry), sp)]
    else:
        parts += [disk((0, cy), hb + 0.01, (rx, ry), sp, inner=0.6), flip(disk((0, cy), hb - 0.12,
                                                                              (rx * 0.5, ry * 0.5), sp))]
        parts += [frustum((0, cy), hb - 0.12, hb, (rx * 0.5, ry * 0.5), (rx * 0.6, ry * 0.6), sp, inward=True)]
    return assemble("toilet", paint(parts, pick(rng, "ceramic")), (max(tw, 2 * rx), depth, hb + th), True)


def bathtub(rng, sp) -> Furniture:
    """Built-in tub: apron, rim with the bowl cut out, and the inside of the bowl."""
    w, d, h, rim = uniform(rng, 1.5, 1.8), uniform(rng, 0.7, 0.8), uniform(rng, 0.5, 0.6), uniform(rng, 0.06, 0.1)
    hole = (-w / 2 + rim, w / 2 - rim, -d / 2 + rim, d / 2 - rim)
    parts = _slab_with_hole((-w / 2, -d / 2, 0), (w / 2, d / 2, h), hole, sp)
    bowl = box((hole[0], hole[2], 0.08), (hole[1], hole[3], h), sp, "top", cell=0.4)
    return assemble("bathtub", paint(parts + [flip(p) for p in bowl], pick(rng, "ceramic")), (w, d, h), True)


def curtain(rng, sp, raw, width, z0, z1) -> Furniture:
    """Folded fabric hanging between heights z0 and z1, `width` wide, with its rod."""
    amp, period = uniform(rng, 0.02, 0.06), uniform(rng, 0.12, 0.25)
    sheet = wavy_sheet(width, z1 - z0, amp, period, sp, rng.uniform(0, 2 * np.pi))
    sheet.xyz += [-width / 2, 0, z0]
    rod = box((-width / 2 - 0.05, -0.01, z1), (width / 2 + 0.05, 0.01, z1 + 0.02), sp, "back")
    parts = paint([sheet], pick(rng, rng.choice(["fabric", "glass"]))) + paint(rod, pick(rng, "metal"))
    return assemble(raw, parts, (width + 0.1, 2 * amp + 0.02, z1 + 0.02), False)


def wall_panel(rng, sp, raw, w, h) -> Furniture:
    """A flat thing hung on a wall ('picture' with a random image, 'mirror', 'whiteboard'); the back
    face (against the wall) is left out. Bottom edge at z = 0 of the local frame."""
    t = uniform(rng, 0.01, 0.04)
    parts = box((-w / 2, -t / 2, 0), (w / 2, t / 2, h), sp, "back", cell=0.3)
    paint(parts, pick(rng, {"picture": "board", "mirror": "glass"}.get(raw, "ceramic")))
    if raw == "picture":
        texture([p for p in parts if p.normal[0, 1] < -0.9][0], rng)  # the image on the front face
    return assemble(raw, parts, (w, t, h), False)


def door(rng, sp, w, h, recess) -> Furniture:
    """Closed door panel recessed into its opening, a handle and frame trims on the wall face."""
    col = pick(rng, "board")
    panel = grid((-w / 2, recess, 0), (w, 0, 0), (0, 0, h), sp, 0.5)
    trim = []
    tw = uniform(rng, 0.05, 0.09)
    for lo, hi in (((-w / 2 - tw, -0.015, 0), (-w / 2, 0, h + tw)), ((w / 2, -0.015, 0), (w / 2 + tw, 0, h + tw)),
                   ((-w / 2, -0.015, h), (w / 2, 0, h + tw))):
        trim += box(lo, hi, sp, "back bottom")
    hx = w / 2 - 0.08 if rng.random() < 0.5 else -w / 2 + 0.08
    handle = box((hx - 0.06, recess - 0.06, 0.98), (hx + 0.06, recess, 1.02), sp, "back")
    parts = paint([panel] + trim, col) + paint(handle, pick(rng, "metal"))
    return assemble("door", parts, (w, 0.1, h), False)


def window(rng, sp, w, z0, z1, depth) -> Furniture:
    """Window in an opening from z0 to z1: frame bars, sparse glass and an inside sill."""
    mid, f = depth * uniform(rng, 0.3, 0.7), uniform(rng, 0.04, 0.08)
    col = pick(rng, rng.choice(["metal", "board", "ceramic"]))
    frame = box((-w / 2, mid - 0.03, z0), (w / 2, mid + 0.03, z0 + f), sp, "back")
    frame += box((-w / 2, mid - 0.03, z1 - f), (w / 2, mid + 0.03, z1), sp, "back")
    frame += box((-w / 2, mid - 0.03, z0), (-w / 2 + f, mid + 0.03, z1), sp, "back")
    frame += box((w / 2 - f, mid - 0.03, z0), (w / 2, mid + 0.03, z1), sp, "back")
    if w > 1.0:
        frame += box((-f / 2, mid - 0.03, z0), (f / 2, mid + 0.03, z1), sp, "back")
    glass = grid((-w / 2, mid, z0), (w, 0, 0), (0, 0, z1 - z0), sp * 2, 0.5)
    glass = subset(glass, rng.random(len(glass)) < 0.4)  # glass returns few depth samples
    sill = box((-w / 2 - 0.05, -uniform(rng, 0.02, 0.06), z0 - 0.03), (w / 2 + 0.05, mid - 0.03, z0), sp, "back")
    parts = paint(frame + sill, col) + paint([glass], pick(rng, "glass"))
    return assemble("window", parts, (w, depth, z1), False)
