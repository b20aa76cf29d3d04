"""Collapse monitor for BYOL (Grill et al., NeurIPS 2020).

BYOL has no negative pairs, so the trivial solution "every input maps to the same vector" is a real
risk; the predictor and the slow-moving target avoid it in practice. Two cheap numbers logged every
step tell whether it happens:
- collapse_std: L2-normalise the online projections (M, d), take the standard deviation of each
  dimension over the M rows, average over dimensions. For projections spread over the unit sphere it
  is about 1/sqrt(d); it goes to 0 when all rows coincide (collapse).
- cos_online_target: mean cosine between the online and the target projection of the same inputs.
  It rises towards 1 as the target catches up with the online network; together with collapse_std
  near 0 it signals collapse, while near 1 with a healthy std simply means the two networks agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def collapse_std(z: torch.Tensor) -> float:
    """Mean over dimensions of the per-dimension std of L2-normalised rows; z: (M, d), M >= 2."""
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"collapse_std: need (M >= 2, d) projections, got {tuple(z.shape)}")
    return float(F.normalize(z.float(), dim=1).std(dim=0).mean())


@torch.no_grad()
def mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean cosine similarity between matching rows of a and b, both (M, d)."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"mean_cosine: shapes must match (M, d), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return float(F.cosine_similarity(a.float(), b.float(), dim=1).mean())
