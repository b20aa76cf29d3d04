"""Masked online views: the online network sees where some points are, not what they look like.

Masked scene modelling made 3D self-supervision learn context rather than per-point appearance: MSC
(Wu et al., "Masked Scene Contrast", CVPR 2023) hides the colour and normals of random grid cells of one
view, and Sonata (Wu et al., CVPR 2025) masks cells of the student's view and has it match the teacher's
features there. Here the idea is applied to BYOL: the points of a random `ratio` of the cells of a
`size`-metre grid keep their coordinates (so the neighbour search, and with it the network's geometry,
is unchanged) but their input features are set to zero, one "mask token" for all of them. Only the online
network sees masked views; the target sees them whole, so a masked point's prediction has to come from
its visible neighbourhood.
"""

from __future__ import annotations

import torch

from byol3d.byol.loss import region_ids
from byol3d.ops import offset_to_batch


def mask_cells(coord: torch.Tensor, offset: torch.Tensor, size: float, ratio: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """coord (N, 3), offset (B,) -> masked (N,) bool: the points of a random `ratio` of the cells of a
    `size`-metre grid, laid per scene with a random shift, each cell masked independently."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask_cells: ratio must be in [0, 1), got {ratio}")
    if size <= 0:
        raise ValueError(f"mask_cells: size must be > 0 metres, got {size}")
    shift = torch.rand(3, generator=generator) * size  # (3,): the grid does not sit on fixed planes
    scene = offset_to_batch(offset).to(coord.device)  # (N,)
    cell, num_cells = region_ids(coord.float() + shift.to(coord.device), scene, size)  # (N,) in [0, C)
    hidden = torch.rand(num_cells, generator=generator) < ratio  # (C,)
    return hidden.to(coord.device)[cell]


def masked_view(view: dict, masked: torch.Tensor) -> dict:
    """The view with the input features of `masked` (N,) bool points set to zero (coordinates kept)."""
    return {**view, "feat": view["feat"].masked_fill(masked.unsqueeze(1), 0.0)}
