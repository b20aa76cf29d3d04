"""Device choice and seeding, shared by every entry point (CLI, notebook, torchrun)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import zlib

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


def scene_rng(scene_id: str, seed: int) -> np.random.Generator:
    """Independent stream per (seed, scene id): a scene's draws do not depend on which other scenes exist
    or their order (SynthRooms regenerates any scene alone; sparse labels pick the same voxels per room)."""
    return np.random.default_rng([seed, zlib.crc32(scene_id.encode())])


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 fast: CUDA, or a CPU with AVX-512 BF16 / AMX through oneDNN."""
    return device.type == "cuda" or (device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def bf16_active(device: torch.device, wanted: bool) -> bool:
    """Whether `bf16_autocast(device, wanted)` computes in bfloat16. `run.amp` only asks for it, so runs
    record this too: the same config trains in float32 on a CPU without fast bf16."""
    return wanted and fast_bf16(device)


def bf16_autocast(device: torch.device, wanted: bool) -> torch.autocast:
    """bfloat16 autocast for `device` when `wanted` and `fast_bf16(device)`; otherwise a disabled
    autocast, so float32 runs unchanged."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16_active(device, wanted))


# glibc's mallopt parameters (malloc.h) and the value given to both: blocks up to 1 GiB come from the heap,
# and up to 1 GiB of freed memory at its top stays mapped.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks in the process for reuse; False where the C library is not glibc.

    By default glibc gives every block above its mmap threshold (dynamic, at most 32 MB) back to the
    system when it is freed, so each training step page-faults its large tensors in again; on the 2-core
    VMs of reports/benchmarks.md that costs 10-20 % of a float32 step. Raising the mmap and trim
    thresholds keeps those blocks for the next step. Process-wide and permanent: resident memory then
    stays near its peak. Training entry points call it when `run.keep_freed_memory` is set.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
