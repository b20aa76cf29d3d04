"""PointNeXt configuration: one typed dataclass with the paper's S/B/L/XL presets.

The presets follow Qian et al., "PointNeXt: Revisiting PointNet++ with Improved Training and Scaling
Strategies" (NeurIPS 2022), official ScanNet segmentation setting (voxel 0.02 m, 7 input channels).
With `in_channels=7, num_classes=20` they have 0.709M / 3.832M / 7.129M / 41.591M parameters, matching
the official 0.71M / 3.83M / 7.13M / 41.59M (checked in tests/test_pointnext.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class ModelConfigError(ValueError):
    """A PointNeXtConfig value is invalid; the message names the field and the reason."""


@dataclass
class PointNeXtConfig:
    in_channels: int = 7  # per-point input features: xyz + rgb + height (PointNeXt ScanNet input)
    num_classes: int = 20  # segmentation classes of the head (ScanNet20)
    width: int = 32  # channels of stage 0; stage s has width * 2**s
    blocks: tuple[int, ...] = (1, 1, 1, 1, 1)  # per stage: 1 (stem or SetAbstraction) + InvResMLP blocks
    strides: tuple[int, ...] = (1, 4, 4, 4, 4)  # per stage: 1 for the stem stage, FPS down-sampling after
    sa_layers: int = 3  # conv-BN-ReLU layers inside each SetAbstraction (hidden = out / 2 when > 1)
    radius: float = 0.05  # ball-query radius (m) of the first SetAbstraction (voxel 0.02 m)
    radius_scaling: float = 2.0  # radius multiplier per down-sampling stage (see stage_radii)
    nsample: int = 32  # neighbours per ball query (k)
    expansion: int = 4  # InvResMLP inverted-bottleneck expansion (C -> expansion*C -> C)
    head_dropout: float = 0.5  # dropout between the two 1x1 convs of the segmentation head

    def __post_init__(self) -> None:
        self.blocks = tuple(self.blocks)
        self.strides = tuple(self.strides)
        where = "byol3d/models/config.py: PointNeXtConfig"
        for name in ("in_channels", "num_classes", "width", "sa_layers", "nsample", "expansion"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelConfigError(f"{where}.{name} must be an int >= 1, got {value!r}")
        if len(self.blocks) != len(self.strides) or len(self.blocks) < 2:
            raise ModelConfigError(
                f"{where}: blocks {self.blocks} and strides {self.strides} need the same length >= 2"
            )
        if any(b < 1 for b in self.blocks):
            raise ModelConfigError(f"{where}.blocks must all be >= 1, got {self.blocks}")
        if self.strides[0] != 1 or any(s < 2 for s in self.strides[1:]):
            raise ModelConfigError(f"{where}.strides must be 1 then values >= 2, got {self.strides}")
        if self.radius <= 0 or self.radius_scaling <= 0:
            raise ModelConfigError(f"{where}: radius and radius_scaling must be > 0")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ModelConfigError(f"{where}.head_dropout must be in [0, 1), got {self.head_dropout}")

    @property
    def channels(self) -> list[int]:
        """Encoder channels per stage: [w, 2w, 4w, ...]."""
        return [self.width * 2**s for s in range(len(self.blocks))]

    def stage_radii(self) -> list[tuple[float, float]]:
        """(SetAbstraction radius, InvResMLP radius) per stage, as in the official encoder.

        Stage 0 (the stem) has no SetAbstraction grouping; its blocks use `radius`. For stage s >= 1 the
        SetAbstraction groups the previous level's points with radius * scaling**(s-1) (0.05, 0.1, 0.2,
        0.4 m) and the InvResMLP blocks, working on the new, 4x sparser points, use the next radius
        radius * scaling**s (0.1, 0.2, 0.4, 0.8 m).
        """
        radii = [(self.radius, self.radius)]
        for s in range(1, len(self.blocks)):
            radii.append((self.radius * self.radius_scaling ** (s - 1), self.radius * self.radius_scaling**s))
        return radii

    def for_voxel(self, voxel_size: float) -> "PointNeXtConfig":
        """The same network with its radii scaled to another voxel size: the official radius 0.05 m goes
        with 0.02 m voxels, so coarser voxels (the CPU profile) keep the same neighbours per ball."""
        return dataclasses.replace(self, radius=self.radius * voxel_size / 0.02)

    @classmethod
    def S(cls) -> "PointNeXtConfig":
        """PointNeXt-S: blocks [1,1,1,1,1], width 32, 3 SA layers (0.71M parameters)."""
        return cls(blocks=(1, 1, 1, 1, 1), width=32, sa_layers=3)

    @classmethod
    def B(cls) -> "PointNeXtConfig":
        """PointNeXt-B: blocks [1,2,3,2,2], width 32, 1 SA layer (3.83M parameters)."""
        return cls(blocks=(1, 2, 3, 2, 2), width=32, sa_layers=1)

    @classmethod
    def L(cls) -> "PointNeXtConfig":
        """PointNeXt-L: blocks [1,3,5,3,3], width 32, 1 SA layer (7.13M parameters)."""
        return cls(blocks=(1, 3, 5, 3, 3), width=32, sa_layers=1)

    @classmethod
    def XL(cls) -> "PointNeXtConfig":
        """PointNeXt-XL: blocks [1,4,7,4,4], width 64, 1 SA layer (41.59M parameters)."""
        return cls(blocks=(1, 4, 7, 4, 4), width=64, sa_layers=1)

    @classmethod
    def preset(cls, name: str) -> "PointNeXtConfig":
        """Preset by name: 'S', 'B', 'L' or 'XL' (case-insensitive)."""
        table = {"S": cls.S, "B": cls.B, "L": cls.L, "XL": cls.XL}
        if name.upper() not in table:
            raise ModelConfigError(f"byol3d/models/config.py: unknown PointNeXt preset {name!r}; known: {list(table)}")
        return table[name.upper()]()
