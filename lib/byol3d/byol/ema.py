"""The target network of BYOL: an exponential moving average (EMA) of the online network.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Sec. 3.1 and 3.2: after each optimisation step
the target weights move towards the online ones, xi <- tau * xi + (1 - tau) * theta, with
tau_k = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2, going from tau_base at k = 0 to 1 at k = K.

tau_base and run length: at step 0 the target is an average over about 1 / (1 - tau_base) recent online
networks: 250 for the paper's 0.996, a tiny share of its ~300k steps. A run of a few hundred steps with
0.996 ends with a target that is still mostly its random initialisation. `tau_base_for` states our rule:
the starting window is a fifteenth of the run, at least 10 steps and at most the paper's 250 (so runs of
3,750 steps or more use 0.996, and the paper itself uses a smaller tau_base, 0.99, for shorter schedules).

Buffers (BatchNorm running statistics): the target's running mean / variance are averaged with the
same tau as the weights, so the target stays one consistent temporal ensemble of the online network;
integer buffers (BatchNorm's `num_batches_tracked`) are copied, since averaging a counter means
nothing. The target itself runs in training mode like in the paper (batch statistics), so its
running statistics only matter if someone evaluates the target in eval mode; the exported encoder is
the online one.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def tau_schedule(step: int, total: int, tau_base: float) -> float:
    """tau_k = 1 - (1 - tau_base)(cos(pi k / K) + 1) / 2 for step k of K (clamped to [0, K])."""
    if total < 1:
        raise ValueError(f"tau_schedule: total steps must be >= 1, got {total}")
    if not 0.0 < tau_base < 1.0:
        raise ValueError(f"tau_schedule: tau_base must be in (0, 1), got {tau_base}")
    k = min(max(step, 0), total)
    return 1.0 - (1.0 - tau_base) * (math.cos(math.pi * k / total) + 1.0) / 2.0


def tau_base_for(total_steps: int) -> float:
    """The run-length rule (module docstring): 1 - 1 / clamp(total_steps / 15, 10, 250)."""
    if total_steps < 1:
        raise ValueError(f"tau_base_for: total steps must be >= 1, got {total_steps}")
    window = min(max(total_steps / 15.0, 10.0), 250.0)
    return 1.0 - 1.0 / window


@torch.no_grad()
def ema_update(online: nn.Module, target: nn.Module, tau: float) -> None:
    """In place: target <- tau * target + (1 - tau) * online, for parameters and floating buffers.

    Integer buffers are copied. Both modules must have the same structure (the target is a deep copy
    of the online module); a mismatch raises a ValueError naming the first differing entry.
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"ema_update: tau must be in [0, 1], got {tau}")
    pairs = [
        (dict(online.named_parameters()), dict(target.named_parameters()), "parameter"),
        (dict(online.named_buffers()), dict(target.named_buffers()), "buffer"),
    ]
    for src, dst, kind in pairs:
        if src.keys() != dst.keys():
            diff = sorted(set(src) ^ set(dst))
            raise ValueError(f"ema_update: online and target differ in {kind} {diff[0]!r}")
        for name, value in src.items():
            out = dst[name]
            if out.shape != value.shape:
                raise ValueError(
                    f"ema_update: {kind} {name!r} has shape {tuple(value.shape)} online "
                    f"but {tuple(out.shape)} in the target"
                )
            if out.is_floating_point():
                out.lerp_(value.detach().to(out.dtype), 1.0 - tau)
            else:
                out.copy_(value)
