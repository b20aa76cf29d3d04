"""Colours: broad, overlapping material palettes and scan-like shading.

Every class draws its colours from several shared materials (white, beige, greys, woods, fabrics),
so no class owns a colour: a per-point colour (+ height) classifier cannot separate the classes and
geometry has to matter, as in real ScanNet scans.
"""

from __future__ import annotations

import numpy as np

from byol3d.data.synthrooms.shapes import Surface

MATERIALS: dict[str, tuple[int, int, int]] = {
    "white": (228, 226, 220), "offwhite": (214, 206, 190), "beige": (200, 182, 150), "cream": (225, 214, 180),
    "lightgrey": (178, 178, 176), "grey": (128, 128, 130), "darkgrey": (72, 72, 76), "black": (34, 34, 36),
    "lightwood": (196, 160, 112), "wood": (150, 104, 62), "darkwood": (92, 62, 40), "walnut": (118, 80, 54),
    "red": (160, 52, 48), "blue": (60, 82, 140), "navy": (40, 48, 80), "green": (84, 120, 76),
    "teal": (56, 120, 124), "yellow": (212, 182, 84), "brown": (112, 78, 56), "tan": (176, 146, 110),
    "paleblue": (176, 196, 214), "palegreen": (186, 204, 176), "pink": (214, 170, 170), "metal": (160, 164, 170),
}

_FABRIC = ["red", "blue", "navy", "green", "teal", "yellow", "brown", "tan", "grey", "darkgrey", "beige",
           "cream", "black", "pink", "offwhite"]
_WOOD = ["lightwood", "wood", "darkwood", "walnut"]
_NEUTRAL = ["white", "offwhite", "beige", "lightgrey", "grey", "darkgrey", "black", "cream"]

# Materials each surface kind may take. Kinds overlap on purpose (see module docstring).
KIND_MATERIALS: dict[str, list[str]] = {
    "wall": ["white", "offwhite", "beige", "cream", "lightgrey", "paleblue", "palegreen", "pink", "yellow", "tan"],
    "floor": _WOOD + ["grey", "darkgrey", "beige", "lightgrey", "tan", "brown", "offwhite", "navy"],
    "fabric": _FABRIC,
    "board": _WOOD + _NEUTRAL,
    "metal": ["metal", "black", "darkgrey", "grey", "white", "lightgrey"],
    "ceramic": ["white", "offwhite", "cream", "lightgrey", "beige"],
    "glass": ["paleblue", "lightgrey", "white", "grey", "darkgrey"],
    "any": list(MATERIALS),
}


def pick(rng: np.random.Generator, kind: str) -> np.ndarray:
    """One base colour for a material kind, jittered per object so instances differ."""
    base = np.asarray(MATERIALS[KIND_MATERIALS[kind][rng.integers(len(KIND_MATERIALS[kind]))]], float)
    return np.clip(base * rng.uniform(0.85, 1.12) + rng.normal(0, 10, 3), 0, 255)


def paint(parts: list[Surface], rgb: np.ndarray) -> list[Surface]:
    """Give every vertex of `parts` the colour `rgb` (3,)."""
    for p in parts:
        p.color = np.broadcast_to(np.asarray(rgb, float), (len(p), 3)).copy()
    return parts


def texture(s: Surface, rng: np.random.Generator) -> Surface:
    """A smooth random image (a few sinusoids of random colours) painted over a surface: pictures."""
    xyz = s.xyz - s.xyz.mean(axis=0)
    color = np.zeros((len(s), 3)) + rng.uniform(40, 200, 3)
    for _ in range(4):
        k = rng.normal(0, 12, 3)
        wave = np.sin(xyz @ k + rng.uniform(0, 2 * np.pi))
        color += wave[:, None] * rng.uniform(-60, 60, 3)
    s.color = np.clip(color, 0, 255)
    return s


def shade(color: np.ndarray, normal: np.ndarray, xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scan-like appearance: diffuse light from a random direction, a slow brightness drift across the
    room (auto-exposure), a colour cast per scene and per-vertex sensor noise. -> (n, 3) uint8."""
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), 1.0])
    light /= np.linalg.norm(light)
    lambert = 0.72 + 0.28 * np.abs(normal @ light)
    k = rng.normal(0, 0.6, (3, 3))
    drift = 1 + 0.08 * np.sin(xyz @ k).sum(axis=1) / 3
    cast = rng.uniform(0.9, 1.1, 3) * rng.uniform(0.8, 1.1)
    noisy = color * (lambert * drift)[:, None] * cast + rng.normal(0, 7, color.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
