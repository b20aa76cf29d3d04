"""Furniture builders: one function per object kind, each returning a coloured mesh in a local frame.

Local frame: the footprint is centred on the origin, the object's front faces -y and its back +y
(the side put against a wall), the floor is z = 0. Sizes follow common furniture dimensions with
wide random ranges; the raw category names are ScanNet's (see `categories.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from byol3d.data.synthrooms.palette import paint, pick
from byol3d.data.synthrooms.shapes import Surface, box, disk, flip, frustum, merge, rot_z, transform


@dataclass
class Furniture:
    """One object: its mesh in the local frame and what layout needs to place it."""

    raw: str  # ScanNet raw category written to the aggregation
    mesh: Surface  # coloured, local frame
    size: tuple[float, float, float]  # footprint width (x), depth (y), height (z) in metres
    solid: bool  # hides the floor (and the wall behind it) when placed


def uniform(rng, lo, hi) -> float:
    """One uniform draw as a plain float."""
    return float(rng.uniform(lo, hi))


def _legs(rng, sp, sx, sy, h, inset, t, round_legs) -> list[Surface]:
    """Four legs under a w x d top, inset from the corners."""
    out = []
    for x in (-sx / 2 + inset, sx / 2 - inset):
        for y in (-sy / 2 + inset, sy / 2 - inset):
            if round_legs:
                out += [frustum((x, y), 0.0, h, t / 2, t / 2, sp)]
            else:
                out += box((x - t / 2, y - t / 2, 0), (x + t / 2, y + t / 2, h), sp, "bottom top")
    return out


def assemble(raw, parts, size, solid) -> Furniture:
    """Merge coloured parts into one Furniture."""
    return Furniture(raw, merge(parts), tuple(float(s) for s in size), solid)


def chair(rng, sp) -> Furniture:
    """Dining/side chair: four legs or a sled, seat, backrest."""
    w, d, hs = uniform(rng, 0.4, 0.52), uniform(rng, 0.4, 0.52), uniform(rng, 0.42, 0.48)
    t, hb = uniform(rng, 0.03, 0.08), uniform(rng, 0.35, 0.5)
    seat = box((-w / 2, -d / 2, hs - t), (w / 2, d / 2, hs), sp, cell=0.25)
    back = box((-w / 2, d / 2 - 0.04, hs), (w / 2, d / 2, hs + hb), sp, "bottom", cell=0.25)
    legs = _legs(rng, sp, w, d, hs - t, 0.03, uniform(rng, 0.025, 0.045), rng.random() < 0.5)
    top = paint(seat + back, pick(rng, rng.choice(["fabric", "board"])))
    return assemble("chair", top + paint(legs, pick(rng, rng.choice(["metal", "board"]))), (w, d, hs + hb), False)


def office_chair(rng, sp) -> Furniture:
    """Swivel chair: five-star base, gas stem, cushioned seat and back, optional arms."""
    w, hs = uniform(rng, 0.46, 0.6), uniform(rng, 0.44, 0.52)
    base = []
    for k in range(5):
        leg = box((0, -0.02, 0.04), (0.3, 0.02, 0.08), sp, "bottom")
        base += [transform(p, rot_z(2 * np.pi * k / 5), (0, 0, 0)) for p in leg]
    stem = [frustum((0, 0), 0.08, hs - 0.08, 0.03, 0.03, sp)]
    seat = box((-w / 2, -w / 2, hs - 0.08), (w / 2, w / 2 - 0.05, hs), sp, cell=0.25)
    back = box((-w / 2 + 0.03, w / 2 - 0.1, hs + 0.05), (w / 2 - 0.03, w / 2 - 0.03, hs + uniform(rng, 0.4, 0.65)), sp,
               cell=0.25)
    parts = paint(base + stem, pick(rng, "metal")) + paint(seat + back, pick(rng, "fabric"))
    if rng.random() < 0.6:
        arms = [box((x - 0.03, -w / 4, hs + 0.15), (x + 0.03, w / 4, hs + 0.2), sp) for x in (-w / 2, w / 2)]
        parts += paint(sum(arms, []), pick(rng, "metal"))
    return assemble("office chair", parts, (0.62, 0.62, hs + 0.6), False)


def armchair(rng, sp) -> Furniture:
    """Upholstered armchair; `couch` reuses this shape at sofa length."""
    return _upholstered(rng, sp, "armchair", uniform(rng, 0.75, 0.95))


def sofa(rng, sp) -> Furniture:
    return _upholstered(rng, sp, str(rng.choice(["couch", "sofa"])), uniform(rng, 1.5, 2.4))


def _upholstered(rng, sp, raw, w) -> Furniture:
    d, hs, hb, arm = uniform(rng, 0.8, 1.0), uniform(rng, 0.38, 0.46), uniform(rng, 0.7, 0.95), uniform(rng, 0.1, 0.25)
    ha = uniform(rng, 0.52, 0.68)
    bd = uniform(rng, 0.15, 0.25)
    parts = box((-w / 2 + arm, -d / 2, 0), (w / 2 - arm, d / 2 - bd, hs), sp, "bottom back")
    parts += box((-w / 2 + arm, d / 2 - bd, 0), (w / 2 - arm, d / 2, hb), sp, "bottom left right")
    for x0 in (-w / 2, w / 2 - arm):
        parts += box((x0, -d / 2, 0), (x0 + arm, d / 2, ha), sp, "bottom")
    cushions = []
    n = max(1, int(round((w - 2 * arm) / 0.6)))
    for k in range(n):
        x0 = -w / 2 + arm + k * (w - 2 * arm) / n
        cushions += box((x0 + 0.01, -d / 2 + 0.02, hs), (x0 + (w - 2 * arm) / n - 0.01, d / 2 - bd, hs + 0.1),
                        sp, "bottom back", cell=0.3)
    return assemble(raw, paint(parts + cushions, pick(rng, "fabric")), (w, d, hb), True)


def table(rng, sp, kind: str = "table") -> Furniture:
    """Rectangular table on legs, or a round one on a pedestal; kind 'coffee table' is low."""
    low = kind == "coffee table"
    h = uniform(rng, 0.35, 0.48) if low else uniform(rng, 0.7, 0.78)
    t = uniform(rng, 0.025, 0.06)
    wood = pick(rng, "board")
    if rng.random() < 0.3 and not low:
        r = uniform(rng, 0.4, 0.6)
        top = [frustum((0, 0), h - t, h, r, r, sp), disk((0, 0), h, r, sp)]
        foot = [frustum((0, 0), 0.02, h - t, 0.04, 0.04, sp), frustum((0, 0), 0, 0.02, r * 0.5, r * 0.5, sp),
                disk((0, 0), 0.02, r * 0.5, sp)]
        return assemble(kind, paint(top + foot, wood), (2 * r, 2 * r, h), False)
    w = uniform(rng, 0.8, 1.3) if low else uniform(rng, 0.9, 2.0)
    d = uniform(rng, 0.45, 0.7) if low else uniform(rng, 0.7, 1.0)
    top = box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h), sp, cell=0.5)
    legs = _legs(rng, sp, w, d, h - t, 0.06, uniform(rng, 0.04, 0.07), rng.random() < 0.4)
    parts = paint(top, wood) + paint(legs, wood if rng.random() < 0.5 else pick(rng, "metal"))
    if low and rng.random() < 0.5:
        parts += paint(box((-w / 2 + 0.06, -d / 2 + 0.06, 0.12), (w / 2 - 0.06, d / 2 - 0.06, 0.14), sp), wood)
    return assemble(kind, parts, (w, d, h), False)


def desk(rng, sp) -> Furniture:
    """Writing desk: top on two side panels with a modesty panel and often a drawer pedestal."""
    w, d, h = uniform(rng, 1.0, 1.8), uniform(rng, 0.55, 0.8), uniform(rng, 0.7, 0.78)
    t, p = uniform(rng, 0.025, 0.04), uniform(rng, 0.02, 0.04)
    col = pick(rng, "board")
    parts = box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h), sp, cell=0.5)
    for x0 in (-w / 2, w / 2 - p):
        parts += box((x0, -d / 2, 0), (x0 + p, d / 2, h - t), sp, "top bottom")
    parts += box((-w / 2 + p, d / 2 - 0.05, h * 0.4), (w / 2 - p, d / 2 - 0.03, h - t), sp, "top bottom")
    if rng.random() < 0.7:
        x0 = w / 2 - p - 0.42 if rng.random() < 0.5 else -w / 2 + p
        parts += box((x0, -d / 2 + 0.02, 0), (x0 + 0.42, d / 2 - 0.05, h - t), sp, "top bottom")
    return assemble("desk", paint(parts, col), (w, d, h), False)


def cabinet(rng, sp, raw: str = "cabinet", w=None, d=None, h=None, skip: str = "bottom") -> Furniture:
    """Closed storage box with door/drawer handles; kitchen and file cabinets and wardrobes too."""
    w = w if w is not None else uniform(rng, 0.4, 1.2)
    d = d if d is not None else uniform(rng, 0.35, 0.65)
    h = h if h is not None else float(rng.choice([uniform(rng, 0.5, 1.0), uniform(rng, 1.6, 2.1)]))
    parts = paint(box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), sp, skip, cell=0.4), pick(rng, "board"))
    rows = max(1, int(h / 0.45)) if rng.random() < 0.5 else 1
    cols = 1 if w < 0.6 else 2
    handles = []
    for i in range(rows):
        for j in range(cols):
            x = -w / 2 + (j + 0.5) * w / cols + (0.15 * w / cols * (1 - 2 * j) if cols == 2 else 0)
            z = h - (i + 0.5) * h / rows if rows > 1 else h * 0.55
            handles += box((x - 0.06, -d / 2 - 0.025, z - 0.012), (x + 0.06, -d / 2, z + 0.012), sp, "back")
    return assemble(raw, parts + paint(handles, pick(rng, "metal")), (w, d, h), True)


def bookshelf(rng, sp) -> Furniture:
    """Open shelving unit: sides, top, back panel, shelves loaded with rows of books."""
    w, d, h = uniform(rng, 0.6, 1.5), uniform(rng, 0.28, 0.4), uniform(rng, 1.0, 2.1)
    t = 0.02
    col = pick(rng, "board")
    frame = box((-w / 2, -d / 2, 0), (-w / 2 + t, d / 2, h), sp, "bottom back")
    frame += box((w / 2 - t, -d / 2, 0), (w / 2, d / 2, h), sp, "bottom back")
    frame += box((-w / 2 + t, d / 2 - t, 0), (w / 2 - t, d / 2, h), sp, "bottom back left right")
    n = max(2, int(h / 0.35))
    books = []
    for k in range(n + 1):
        z = k * (h - t) / n
        frame += box((-w / 2 + t, -d / 2, z), (w / 2 - t, d / 2 - t, z + t), sp, "back left right")
        if k == n:
            break
        x = -w / 2 + t + uniform(rng, 0.0, 0.15)
        while x < w / 2 - t - 0.05 and rng.random() < 0.97:
            bw, bh, bd = uniform(rng, 0.02, 0.06), uniform(rng, 0.15, 0.3), uniform(rng, 0.15, d - 0.05)
            bh = min(bh, (h - t) / n - 0.03)
            if x + bw > w / 2 - t:
                break
            books += paint(box((x, d / 2 - t - bd, z + t), (x + bw, d / 2 - t, z + t + bh), sp,
                               "bottom back left right"),  # sides hide against the neighbours
                           pick(rng, "any"))
            x += bw + (uniform(rng, 0.1, 0.3) if rng.random() < 0.08 else 0.0)
    return assemble("bookshelf", paint(frame, col) + books, (w, d, h), True)


def bed(rng, sp) -> tuple[Furniture, list[Furniture]]:
    """Bed (frame, mattress, headboard) plus the pillows lying on it (separate 'pillow' objects)."""
    w = float(rng.choice([uniform(rng, 0.9, 1.1), uniform(rng, 1.4, 1.9)]))
    d, hf, hm = uniform(rng, 1.95, 2.15), uniform(rng, 0.2, 0.35), uniform(rng, 0.18, 0.28)
    hh = uniform(rng, 0.8, 1.2)
    parts = paint(box((-w / 2, -d / 2, 0), (w / 2, d / 2 - 0.06, hf), sp, "bottom back"), pick(rng, "board"))
    parts += paint(box((-w / 2 + 0.02, -d / 2 + 0.02, hf), (w / 2 - 0.02, d / 2 - 0.06, hf + hm), sp,
                       "bottom back", cell=0.6), pick(rng, "fabric"))
    parts += paint(box((-w / 2, d / 2 - 0.06, 0), (w / 2, d / 2, hh), sp, "bottom back"), pick(rng, "board"))
    pillows = []
    n = 1 if w < 1.2 else 2
    for k in range(n):
        pw = min(0.6, (w - 0.1) / n - 0.05)
        x = -w / 2 + (k + 0.5) * w / n
        lo, hi = (x - pw / 2, d / 2 - 0.5, hf + hm), (x + pw / 2, d / 2 - 0.12, hf + hm + uniform(rng, 0.08, 0.15))
        pillows.append(assemble("pillow", paint(box(lo, hi, sp, "bottom"), pick(rng, "fabric")), (pw, 0.4, 0.1),
                               False))
    return assemble("bed", parts, (w, d, hh), True), pillows


def refrigerator(rng, sp) -> Furniture:
    """Fridge: tall box with one or two doors and vertical handles; sometimes a mini fridge."""
    mini = rng.random() < 0.2
    w, d = uniform(rng, 0.5, 0.6) if mini else uniform(rng, 0.6, 0.9), uniform(rng, 0.55, 0.75)
    h = uniform(rng, 0.8, 0.9) if mini else uniform(rng, 1.5, 1.95)
    parts = paint(box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), sp, "bottom back", cell=0.5), pick(rng, "metal"))
    handles = []
    for z0, z1 in ([(h * 0.35, h * 0.8)] if mini else [(h * 0.7, h * 0.92), (h * 0.2, h * 0.6)]):
        x = w / 2 - 0.08
        handles += box((x - 0.015, -d / 2 - 0.05, z0), (x + 0.015, -d / 2, z1), sp, "back")
    return assemble("mini fridge" if mini else "refrigerator", parts + paint(handles, pick(rng, "metal")),
                   (w, d, h), True)


def trash_can(rng, sp) -> Furniture:
    """Open bin, round or square, with a visible inside."""
    h, r = uniform(rng, 0.3, 0.7), uniform(rng, 0.12, 0.22)
    if rng.random() < 0.5:
        parts = [frustum((0, 0), 0, h, r * 0.85, r, sp), frustum((0, 0), 0.02, h, r * 0.8, r * 0.95, sp, inward=True),
                 disk((0, 0), 0.02, r * 0.8, sp)]
    else:
        inner = box((-r + 0.01, -r + 0.01, 0.02), (r - 0.01, r - 0.01, h), sp, "top")
        parts = box((-r, -r, 0), (r, r, h), sp, "bottom top") + [flip(p) for p in inner]
    return assemble("trash can", paint(parts, pick(rng, rng.choice(["metal", "board", "fabric"]))), (2 * r, 2 * r, h),
                   False)


def lamp(rng, sp) -> Furniture:
    """Floor lamp: base disk, pole and a shade (an ignored nyu40 class: lamp, 35)."""
    h, r = uniform(rng, 1.3, 1.8), uniform(rng, 0.15, 0.25)
    parts = [frustum((0, 0), 0, 0.03, 0.14, 0.14, sp), disk((0, 0), 0.03, 0.14, sp),
             frustum((0, 0), 0.03, h - 0.3, 0.015, 0.015, sp)]
    shade = [frustum((0, 0), h - 0.3, h, r, r * 0.7, sp), frustum((0, 0), h - 0.3, h, r, r * 0.7, sp, inward=True)]
    return assemble("lamp", paint(parts, pick(rng, "metal")) + paint(shade, pick(rng, "fabric")), (0.3, 0.3, h), False)


def low_unit(rng, sp, raw: str) -> Furniture:
    """Low furniture: 'tv stand' (open shelf), 'nightstand', 'dresser', 'ottoman', 'bench', 'box'."""
    sizes = {"tv stand": ((1.0, 1.8), (0.35, 0.5), (0.4, 0.6)), "nightstand": ((0.4, 0.55), (0.35, 0.45), (0.45, 0.65)),
             "dresser": ((0.8, 1.4), (0.4, 0.55), (0.75, 1.05)), "ottoman": ((0.4, 0.8), (0.4, 0.8), (0.35, 0.45)),
             "bench": ((0.9, 1.6), (0.3, 0.45), (0.4, 0.48)), "box": ((0.25, 0.6), (0.25, 0.5), (0.2, 0.5))}[raw]
    w, d, h = (uniform(rng, *r) for r in sizes)
    if raw == "bench":
        top = box((-w / 2, -d / 2, h - 0.04), (w / 2, d / 2, h), sp)
        legs = _legs(rng, sp, w, d, h - 0.04, 0.05, 0.05, False)
        return assemble(raw, paint(top + legs, pick(rng, "board")), (w, d, h), False)
    kind = {"ottoman": "fabric", "box": "board"}.get(raw, "board")
    parts = box((-w / 2, -d / 2, 0), (w / 2, d / 2, h), sp, "bottom", cell=0.35)
    if raw == "tv stand":
        parts = box((-w / 2, -d / 2, 0), (w / 2, d / 2, 0.08), sp, "bottom")
        parts += box((-w / 2, -d / 2, h - 0.03), (w / 2, d / 2, h), sp) + box((-w / 2, -d / 2, 0.08),
                                                                              (-w / 2 + 0.03, d / 2, h - 0.03), sp)
        parts += box((w / 2 - 0.03, -d / 2, 0.08), (w / 2, d / 2, h - 0.03), sp)
    return assemble(raw, paint(parts, pick(rng, kind)), (w, d, h), raw != "tv stand")


def screen(rng, sp, raw: str, width: float) -> Furniture:
    """A 'monitor' or 'tv' on a small foot, to stand on a desk or a tv stand (ignored nyu40 classes)."""
    w = width
    h = w * uniform(rng, 0.55, 0.65)
    foot = box((-0.1, -0.08, 0), (0.1, 0.08, 0.02), sp, "bottom") + box((-0.02, 0.0, 0.02), (0.02, 0.03, 0.08), sp)
    panel = box((-w / 2, -0.02, 0.08), (w / 2, 0.03, 0.08 + h), sp)
    return assemble(raw, paint(foot + panel, pick(rng, "metal")), (w, 0.16, 0.08 + h), False)
