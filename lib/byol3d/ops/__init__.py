"""Point-neighbour operations for offset-batched point clouds (the lowest layer of PointNeXt).

PointNeXt (Qian et al., NeurIPS 2022) builds on PointNet++'s set abstraction: farthest point
sampling, ball query, grouping, and 3-NN inverse-distance interpolation for feature propagation.
Batches follow pointops / Pointcept: `xyz (N, 3)` concatenates B scenes and `offset (B,)` holds
cumulative counts (scene b owns rows [offset[b-1], offset[b]), offset[-1] == N). Every operation
works per scene, so scenes never see each other's points. Returned indices are global rows.

Semantics (identical in every backend, ties between equal distances aside):
  farthest_point_sample  exact FPS; starts at the first point of each scene; scene b gets
                         new_offset[b] - new_offset[b-1] samples (at most its point count).
  knn                    the k nearest points sorted by distance; a scene with fewer than k points
                         pads by repeating the nearest neighbour (and its distance).
  ball_query             the k NEAREST points with squared distance < radius**2, sorted, padded by
                         repeating the first (nearest) one; a query with no point inside the radius
                         (possible only when it is not one of the points) gets its nearest point.
  group                  gathers features of neighbour indices; differentiable w.r.t. features.
  three_nn_interpolate   features at query points from the 3 nearest known points of the same scene,
                         weights 1/(d + 1e-8) normalised (d Euclidean); scenes with 1 or 2 known
                         points use those only. Differentiable w.r.t. features. Split into
                         three_nn_weights (coordinates only) + interpolate_with (features).

Backends: "cpu" (pykdtree + fpsample, CPU tensors only), "torch" (pure PyTorch, any device,
chunked), "pointops" (Pointcept's CUDA extension, optional). backend=None picks the process default
(`set_default_backend` / `use_backend`), which is "auto": CPU tensors -> "cpu", CUDA tensors ->
"pointops" when installed, else "torch".
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from . import cpu, pointops_backend, torch_backend
from .common import (
    OpsInputError,
    check_k,
    check_fps_offsets,
    check_pair,
    group,
    interpolation_weights,
    offset_to_batch,
    batch_to_offset,
)

__all__ = [
    "BACKENDS",
    "OpsInputError",
    "ball_query",
    "batch_to_offset",
    "farthest_point_sample",
    "get_default_backend",
    "group",
    "knn",
    "offset_to_batch",
    "resolve_backend",
    "set_default_backend",
    "interpolate_with",
    "three_nn_interpolate",
    "three_nn_weights",
    "use_backend",
]

BACKENDS = ("auto", "cpu", "torch", "pointops")
_default_backend = "auto"


def set_default_backend(name: str | None) -> None:
    """Set the backend used when a call passes backend=None ("auto", "cpu", "torch", "pointops")."""
    global _default_backend
    name = "auto" if name is None else name
    if name not in BACKENDS:
        raise OpsInputError(f"set_default_backend: unknown backend {name!r}, choose one of {BACKENDS}")
    _default_backend = name


def get_default_backend() -> str:
    return _default_backend


@contextlib.contextmanager
def use_backend(name: str | None) -> Iterator[None]:
    """Temporarily set the default backend: `with use_backend("torch"): ...`."""
    previous = _default_backend
    set_default_backend(name)
    try:
        yield
    finally:
        set_default_backend(previous)


def resolve_backend(backend: str | None, device: torch.device, where: str) -> str:
    """Concrete backend name for tensors on `device` ("auto" resolved; availability checked)."""
    name = _default_backend if backend is None else backend
    if name not in BACKENDS:
        raise OpsInputError(f"{where}: unknown backend {name!r}, choose one of {BACKENDS}")
    if name == "auto":
        if device.type == "cpu":
            return "cpu"
        return "pointops" if device.type == "cuda" and pointops_backend.available() else "torch"
    if name == "cpu" and device.type != "cpu":
        raise OpsInputError(
            f"{where}: backend 'cpu' needs CPU tensors, got {device}; use 'torch' or 'pointops'"
        )
    if name == "pointops":
        pointops_backend.require(device, where)
    return name


def _module(name: str):
    return {"cpu": cpu, "torch": torch_backend, "pointops": pointops_backend}[name]


@torch.no_grad()
def farthest_point_sample(xyz, offset, new_offset, backend=None) -> torch.Tensor:
    """Exact FPS per scene: xyz (N, 3), offset (B,), new_offset (B,) -> idx (M,) int64 global rows.

    Scene b contributes M_b = new_offset[b] - new_offset[b-1] samples (0 <= M_b <= N_b), starting
    from its first point. On exactly equal distances the torch backend takes the lowest row and the
    cpu backend (fpsample, float32) its own choice, so sequences can differ after an exact tie.
    """
    off, new_off = check_fps_offsets(xyz, offset, new_offset)
    name = resolve_backend(backend, xyz.device, "farthest_point_sample")
    return _module(name).farthest_point_sample(xyz, off, new_off)


@torch.no_grad()
def knn(k, xyz, offset, new_xyz, new_offset, backend=None) -> tuple[torch.Tensor, torch.Tensor]:
    """k nearest points of each query within its scene -> (idx (M, k) int64 global rows, dist2 (M, k)).

    xyz (N, 3) with offset (B,) are the points; new_xyz (M, 3) with new_offset (B,) the queries.
    Sorted by distance; scenes with fewer than k points repeat the nearest neighbour.
    """
    check_k(k, "knn")
    off, new_off = check_pair(xyz, offset, new_xyz, new_offset, "knn")
    name = resolve_backend(backend, xyz.device, "knn")
    return _module(name).knn(k, xyz, off, new_xyz, new_off)


@torch.no_grad()
def ball_query(k, radius, xyz, offset, new_xyz, new_offset, backend=None) -> torch.Tensor:
    """Up to k nearest points with dist2 < radius**2 -> idx (M, k) int64 global rows.

    Padded by repeating the nearest found neighbour; with nothing inside the radius, the nearest point.
    """
    check_k(k, "ball_query")
    if not float(radius) > 0:
        raise OpsInputError(f"ball_query: radius must be > 0, got {radius!r}")
    off, new_off = check_pair(xyz, offset, new_xyz, new_offset, "ball_query")
    name = resolve_backend(backend, xyz.device, "ball_query")
    return _module(name).ball_query(k, float(radius), xyz, off, new_xyz, new_off)


def three_nn_weights(xyz_known, offset_known, xyz_query, offset_query, backend=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3 nearest known points of each query in its scene and their inverse-distance weights:
    (idx (M, 3) int64 global rows of xyz_known, weights (M, 3) float summing to 1 per row).

    xyz_known (N, 3), offset_known (B,); xyz_query (M, 3), offset_query (B,). They depend on the
    coordinates only, so a network can compute them once and interpolate many feature sets.
    """
    idx, dist2 = knn(3, xyz_known, offset_known, xyz_query, offset_query, backend=backend)  # (M, 3), (M, 3)
    counts = torch.diff(offset_known.long(), prepend=offset_known.new_zeros(1).long())  # (B,)
    n_known = counts[offset_to_batch(offset_query)].to(xyz_known.device)  # (M,)
    return idx, interpolation_weights(dist2, n_known)  # (M, 3), (M, 3)


def interpolate_with(idx: torch.Tensor, weights: torch.Tensor, feats_known: torch.Tensor) -> torch.Tensor:
    """sum_j weights[:, j] * feats_known[idx[:, j]] -> (M, C); idx / weights (M, 3) from
    `three_nn_weights`. Differentiable w.r.t. feats_known (the weights are constants)."""
    return (group(idx, feats_known) * weights.to(feats_known.dtype)[:, :, None]).sum(1)  # (M, C)


def three_nn_interpolate(xyz_known, offset_known, feats_known, xyz_query, offset_query, backend=None) -> torch.Tensor:
    """Inverse-distance interpolation (PointNet++ feature propagation) -> (M, C).

    xyz_known (N, 3), offset_known (B,), feats_known (N, C); xyz_query (M, 3), offset_query (B,).
    Weights 1/(d + 1e-8) over the 3 nearest known points of the same scene, normalised to sum 1.
    Differentiable w.r.t. feats_known (the weights are constants).
    """
    n_rows = xyz_known.shape[0]
    if not isinstance(feats_known, torch.Tensor) or feats_known.dim() != 2 or feats_known.shape[0] != n_rows:
        raise OpsInputError(
            f"three_nn_interpolate: feats_known must be (N, C) with N = {n_rows}, "
            f"got {tuple(getattr(feats_known, 'shape', ()))}"
        )
    idx, weights = three_nn_weights(xyz_known, offset_known, xyz_query, offset_query, backend)  # (M, 3) x2
    return interpolate_with(idx, weights, feats_known)  # (M, C)
