"""Stop on NaN / inf: a diverged run must fail loudly, not export NaN weights or report a normal-looking mIoU."""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch


class NonFiniteError(ArithmeticError):
    """Training produced NaN or inf; the message names the run, the step and what to change."""


def first_non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """Name of the first floating-point tensor holding NaN or inf, or None when all are finite."""
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


def check_finite_losses(losses: Iterable[float], where: str) -> None:
    """Raise NonFiniteError at the first NaN / inf loss (steps counted from 1)."""
    for step, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            raise NonFiniteError(f"{where}: the loss became {loss} at step {step}: training diverged; "
                                 "lower the learning rate or check the data")
