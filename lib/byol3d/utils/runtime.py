"""Device choice and seeding, shared by every entry point (CLI, notebook, torchrun)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(name: str = "auto") -> torch.device:
    """'auto' gives CUDA when present (the local rank's GPU under torchrun), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for, but CUDA is not available on this machine")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so CPU runs repeat bit for bit."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 fast: CUDA, or a CPU with AVX-512 BF16 / AMX through oneDNN."""
    return device.type == "cuda" or (device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def bf16_autocast(device: torch.device, wanted: bool) -> torch.autocast:
    """bfloat16 autocast for `device` when `wanted` and `fast_bf16(device)`; otherwise a disabled
    autocast, so float32 runs unchanged."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=wanted and fast_bf16(device))
