"""Learning-rate schedule: linear warm-up, then cosine decay to zero (per optimisation step).

BYOL (Grill et al., NeurIPS 2020) trains with a cosine-decayed learning rate after a warm-up; we use the
same shape for every optimiser here. The schedule is a pure function of the step, so a resumed run
recomputes it exactly from the step stored in the checkpoint.
"""

from __future__ import annotations

import functools
import math

import torch


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Multiplier of the base learning rate at optimisation step `step` (0-based) of `total`.

    Steps 0 .. warmup-1 ramp linearly to 1 ((step + 1) / warmup); the rest follow
    (1 + cos(pi * t)) / 2 with t the fraction of the post-warm-up steps already done.
    """
    if total < 1 or warmup < 0:
        raise ValueError(f"lr_factor: need total >= 1 and warmup >= 0, got {total}, {warmup}")
    if step < warmup:
        return (step + 1) / warmup
    t = min(step - warmup, total - warmup) / max(total - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total: int, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR applying `lr_factor`; call `.step()` once after each optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(lr_factor, total=total, warmup=warmup))
