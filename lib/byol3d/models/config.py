"""PointNeXt configuration: one typed dataclass with the paper's S/B/L/XL presets.

The presets follow Qian et al., "PointNeXt: Revisiting PointNet++ with Improved Training and Scaling
Strategies" (NeurIPS 2022), official ScanNet segmentation setting (voxel 0.02 m, 7 input channels).
With `in_channels=7, num_classes=20` they have 0.709M / 3.832M / 7.129M / 41.591M parameters, matching
the official 0.71M / 3.83M / 7.13M / 41.59M (checked in tests/test_pointnext.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from byol3d.config import ConfigError, check_fields, to_dict

_COUNTS = ("in_channels", "num_classes", "width", "sa_layers", "nsample", "expansion")  # ints >= 1


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


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
    fused_max: bool = True  # each grouped MLP's last BatchNorm + ReLU + max in one step (blocks.norm_relu_max)

    def __post_init__(self) -> None:
        self.blocks = tuple(self.blocks)
        self.strides = tuple(self.strides)
        counts = [(_is_count(getattr(self, name)), name, "must be an int >= 1") for name in _COUNTS]
        check_fields(self, counts + [
            (len(self.blocks) == len(self.strides) >= 2, "blocks", f"needs as many entries as strides "
             f"{self.strides}, at least 2"),
            (all(b >= 1 for b in self.blocks), "blocks", "must all be >= 1"),
            (self.strides[:1] == (1,) and all(s >= 2 for s in self.strides[1:]), "strides",
             "must be 1 (the stem) then values >= 2"),
            (self.radius > 0, "radius", "must be > 0 metres"),
            (self.radius_scaling > 0, "radius_scaling", "must be > 0"),
            (0.0 <= self.head_dropout < 1.0, "head_dropout", "must be in [0, 1)"),
            (isinstance(self.fused_max, bool), "fused_max", "must be true or false"),
        ])

    def result_fields(self, trains_head: bool) -> dict:
        """What a run's identity (byol3d.run_store) holds of this section, as RunConfig.result_fields: every
        field, but `head_dropout` only for a run that trains the segmentation head. The rate builds no
        weights and draws no random numbers until the head trains, so it cannot change a pre-training or a
        frozen probe, nor re-key it."""
        fields = to_dict(self)
        if not trains_head:
            del fields["head_dropout"]
        return fields

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
            raise ConfigError(f"PointNeXtConfig: unknown preset {name!r}; known: {list(table)}")
        return table[name.upper()]()
