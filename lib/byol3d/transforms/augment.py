"""Training augmentations for indoor scans, as used for ScanNet by PointNeXt (Qian et al., NeurIPS 2022)
and Pointcept: rotation about the gravity axis, scaling, horizontal flips, jitter, elastic distortion,
chromatic auto-contrast, colour jitter and colour drop.

Every augmentation maps point i to point i: nothing is dropped or reordered, so labels and original
indices stay aligned with the points. Geometric ones act about the origin (the dataset puts the floor at
z = 0 first, so scaling keeps the floor there and rotation about z keeps every height). Randomness comes
only from the numpy Generator passed in, so a seeded item is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from byol3d.config import ConfigError

MAX_ELASTIC_CELLS = 20_000_000  # noise-grid size guard: a scene tens of metres wide would not fit


@dataclass
class AugmentConfig:
    """Which augmentations a training crop gets, and how strong. All values are checked on creation."""

    rotate_z_deg: float = 180.0  # rotation about z, angle uniform in [-rotate_z_deg, rotate_z_deg]
    scale_min: float = 0.8  # isotropic scale factor, uniform in [scale_min, scale_max]
    scale_max: float = 1.2
    flip_p: float = 0.5  # probability of mirroring x, and independently of mirroring y
    jitter_sigma: float = 0.005  # per-point Gaussian position noise (metres) ...
    jitter_clip: float = 0.02  # ... clipped to +-jitter_clip
    elastic_p: float = 1.0  # probability of applying the elastic distortion
    elastic_granularity: tuple[float, ...] = (0.2, 0.8)  # noise-grid spacing (m) of each distortion level
    elastic_magnitude: tuple[float, ...] = (0.4, 1.6)  # displacement scale of each level
    autocontrast_p: float = 0.2  # probability of chromatic auto-contrast (random blend factor)
    color_jitter_std: float = 0.0  # per-point colour noise, as a fraction of 255 (0 = off)
    color_drop_p: float = 0.2  # probability of zeroing every colour (the net must use geometry)

    def __post_init__(self) -> None:
        for f in fields(self):  # NaN / inf pass every range check below
            value = getattr(self, f.name)
            _check(bool(np.isfinite(value).all()), f.name, "must be finite", value)
        _check(0 <= self.rotate_z_deg <= 180, "rotate_z_deg", "must be in [0, 180]", self.rotate_z_deg)
        _check(0 < self.scale_min <= self.scale_max, "scale_min/scale_max", "need 0 < min <= max",
               (self.scale_min, self.scale_max))
        for name in ("flip_p", "elastic_p", "autocontrast_p", "color_drop_p"):
            _check(0 <= getattr(self, name) <= 1, name, "must be a probability in [0, 1]", getattr(self, name))
        for name in ("jitter_sigma", "jitter_clip", "color_jitter_std"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(len(self.elastic_granularity) == len(self.elastic_magnitude), "elastic_granularity",
               "needs as many entries as elastic_magnitude", self.elastic_granularity)
        _check(all(g > 0 for g in self.elastic_granularity), "elastic_granularity", "entries must be > 0",
               self.elastic_granularity)
        _check(all(m >= 0 for m in self.elastic_magnitude), "elastic_magnitude", "entries must be >= 0",
               self.elastic_magnitude)

    @classmethod
    def weak(cls) -> "AugmentConfig":
        """Geometry only, mild: rotation, +-10 % scale, flips, jitter. No colour changes."""
        return cls(scale_min=0.9, scale_max=1.1, elastic_p=0.0, autocontrast_p=0.0, color_drop_p=0.0)

    @classmethod
    def default(cls) -> "AugmentConfig":
        """PointNeXt's ScanNet recipe (scale [0.8, 1.2], auto-contrast, colour drop 0.2) plus Pointcept's
        elastic distortion."""
        return cls()

    @classmethod
    def strong(cls) -> "AugmentConfig":
        """For BYOL views (Grill et al., NeurIPS 2020, rely on strong colour changes): more auto-contrast,
        colour jitter and colour drop on top of the default geometry."""
        return cls(autocontrast_p=0.5, color_jitter_std=0.05, color_drop_p=0.3)


def _check(ok: bool, name: str, reason: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"AugmentConfig.{name}: {reason}, got {value!r}")


def augment(
    coord: np.ndarray, color: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Augment one point set. coord (N, 3) metres, color (N, 3) in [0, 255].

    Returns new arrays (inputs untouched): coord (N, 3) float32, color (N, 3) float32 in [0, 255];
    row i of the outputs is row i of the inputs.
    """
    coord = augment_geometry(coord, cfg, rng)
    color = augment_color(color, cfg, rng)
    return coord, color


def augment_geometry(coord: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Rotate about z, scale, flip x / y, jitter, elastic distortion. (N, 3) -> (N, 3) float32."""
    coord = np.asarray(coord, dtype=np.float64)
    angle = np.deg2rad(rng.uniform(-cfg.rotate_z_deg, cfg.rotate_z_deg))
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    scale = rng.uniform(cfg.scale_min, cfg.scale_max)
    flip = np.where(rng.random(2) < cfg.flip_p, -1.0, 1.0)  # x, y
    linear = rotation * scale * np.array([flip[0], flip[1], 1.0])[:, None]  # flip after rotating
    coord = coord @ linear.T  # (N, 3)
    if cfg.jitter_sigma > 0:
        noise = rng.normal(0.0, cfg.jitter_sigma, size=coord.shape)
        coord = coord + np.clip(noise, -cfg.jitter_clip, cfg.jitter_clip)
    if rng.random() < cfg.elastic_p:
        for granularity, magnitude in zip(cfg.elastic_granularity, cfg.elastic_magnitude):
            coord = elastic_distortion(coord, granularity, magnitude, rng)
    return coord.astype(np.float32)


def elastic_distortion(
    coord: np.ndarray, granularity: float, magnitude: float, rng: np.random.Generator
) -> np.ndarray:
    """Smooth random displacement field: Gaussian noise on a grid of spacing `granularity` (m), blurred
    twice with a 3-cell box filter, trilinearly interpolated at each point and scaled by `magnitude`."""
    low = coord.min(axis=0) - 2 * granularity
    cells = np.floor((coord.max(axis=0) - low) / granularity) + 4  # (3,) with margin, float: cannot overflow
    if not np.isfinite(cells).all() or np.prod(cells) > MAX_ELASTIC_CELLS:
        raise ValueError(f"elastic_distortion: the points span {cells.tolist()} cells of {granularity} m; "
                         "too large a grid (is the scene in metres? crop it first or use a coarser granularity)")
    dims = cells.astype(np.int64)
    noise = rng.standard_normal((3, *dims.tolist()))  # (3, X, Y, Z)
    for _ in range(2):
        noise = ndimage.uniform_filter(noise, size=(1, 3, 3, 3), mode="constant")
    grid_pos = ((coord - low) / granularity).T  # (3, N) fractional grid coordinates
    shift = np.stack([ndimage.map_coordinates(noise[axis], grid_pos, order=1, mode="nearest")
                      for axis in range(3)], axis=1)  # (N, 3)
    return coord + shift * magnitude


def augment_color(color: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Auto-contrast, colour jitter, colour drop. (N, 3) in [0, 255] -> (N, 3) float32 in [0, 255]."""
    color = np.asarray(color, dtype=np.float32)
    if rng.random() < cfg.autocontrast_p:
        color = auto_contrast(color, blend=rng.random())
    if cfg.color_jitter_std > 0:
        noise = rng.normal(0.0, cfg.color_jitter_std * 255.0, size=color.shape)
        color = np.clip(color + noise, 0.0, 255.0).astype(np.float32)
    if rng.random() < cfg.color_drop_p:
        color = np.zeros_like(color)
    return color


def auto_contrast(color: np.ndarray, blend: float) -> np.ndarray:
    """Stretch each channel to the full [0, 255] range, then mix with the original:
    (1 - blend) * color + blend * stretched. A constant channel is left as it is."""
    low = color.min(axis=0, keepdims=True)  # (1, 3)
    span = color.max(axis=0, keepdims=True) - low
    stretched = np.where(span > 0, (color - low) * (255.0 / np.maximum(span, 1e-6)), color)
    return ((1.0 - blend) * color + blend * stretched).astype(np.float32)
