"""Optional backend wrapping Pointcept's CUDA `pointops` extension (CUDA tensors only).

`pointops` is not a dependency: importing byol3d.ops never needs it, and asking for this backend
without it raises an error saying how to install it. Its outputs (int32 indices, -1 placeholders in
ball query) are converted to the byol3d.ops conventions (int64 global rows, nearest-padding).
Pointcept's ball-query kernel keeps the nearest k inside the radius (a distance heap), the same
choice as the other backends. Not exercised by the CPU-only test suite (no GPU in CI).
"""

from __future__ import annotations

import importlib
import importlib.util

import torch

from .common import OpsInputError, finish_candidates, pad_with_first, pair_dist2, scene_ranges

INSTALL_HINT = (
    "Pointcept's CUDA `pointops` is not installed. Build it from a Pointcept checkout on a machine "
    "with CUDA and nvcc: `cd Pointcept/libs/pointops && pip install . --no-build-isolation` "
    "(see https://github.com/Pointcept/Pointcept#installation); or use backend='torch', which "
    "runs on CUDA without any compiled extension."
)


def available() -> bool:
    """True when `import pointops` can succeed (checked without importing it)."""
    return importlib.util.find_spec("pointops") is not None


def require(device: torch.device, where: str) -> None:
    """Raise a clear error unless pointops is installed and the tensors are on CUDA."""
    if not available():
        raise OpsInputError(f"{where}: backend 'pointops' requested, but {INSTALL_HINT}")
    if device.type != "cuda":
        raise OpsInputError(f"{where}: backend 'pointops' needs CUDA tensors, got {device}")


def _lib():
    return importlib.import_module("pointops")


def _int_offset(offset: list[int], device: torch.device) -> torch.Tensor:
    return torch.tensor(offset, dtype=torch.int32, device=device)  # (B,)


def farthest_point_sample(xyz, offset: list[int], new_offset: list[int]) -> torch.Tensor:
    """pointops FPS (starts at each scene's first point) -> idx (M,) int64 global rows."""
    idx = _lib().farthest_point_sampling(
        xyz.float().contiguous(), _int_offset(offset, xyz.device), _int_offset(new_offset, xyz.device)
    )
    return idx.long()  # (M,)


def knn(k, xyz, offset, new_xyz, new_offset) -> tuple[torch.Tensor, torch.Tensor]:
    """pointops kNN scene by scene (so short scenes ask for only their own points), padded to k."""
    idx = torch.empty(new_xyz.shape[0], k, dtype=torch.int64, device=xyz.device)  # (M, k)
    for (s, e), (qs, qe) in zip(scene_ranges(offset), scene_ranges(new_offset)):
        if qe == qs:
            continue
        local, _ = _lib().knn_query(
            min(k, e - s), xyz[s:e].float().contiguous(), _int_offset([e - s], xyz.device),
            new_xyz[qs:qe].float().contiguous(), _int_offset([qe - qs], xyz.device),
        )  # (Q, min(k, P)) int32 scene rows
        local = local.long() + s
        idx[qs:qe] = pad_with_first(local, local, k)[0]
    return idx, pair_dist2(xyz, new_xyz, idx)


def ball_query(k, radius, xyz, offset, new_xyz, new_offset) -> torch.Tensor:
    """pointops ball query, re-sorted and padded to byol3d.ops semantics -> idx (M, k) int64."""
    cand, _ = _lib().ball_query(
        k, radius, 0.0, xyz.float().contiguous(), _int_offset(offset, xyz.device),
        new_xyz.float().contiguous(), _int_offset(new_offset, xyz.device),
    )  # (M, k) int32, -1 = none

    def nearest(rows: torch.Tensor) -> torch.Tensor:
        return knn(1, xyz, offset, new_xyz, new_offset)[0][rows, 0]  # (R,)

    return finish_candidates(xyz, new_xyz, cand.long(), radius, nearest)
