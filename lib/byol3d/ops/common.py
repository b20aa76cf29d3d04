"""Backend-independent pieces of byol3d.ops: input checks, offset helpers, grouping, 3-NN weights.

Batches follow the pointops / Pointcept offset convention: the points of B scenes are concatenated
into one `xyz (N, 3)` and `offset (B,)` holds cumulative counts, so scene b owns rows
`[offset[b-1], offset[b])` (with offset[-1] == N). Every backend works scene by scene on these
row ranges, which is what guarantees that scenes never see each other's points.
"""

from __future__ import annotations

from typing import Sequence

import torch

# Added to the Euclidean distance before inverting it in 3-NN interpolation (PointNet++ / PointNeXt).
INTERP_EPS = 1e-8


class OpsInputError(ValueError):
    """Bad input to a byol3d.ops function (shape, dtype, device, or offsets)."""


def _fail(where: str, reason: str) -> None:
    raise OpsInputError(f"{where}: {reason}")


def check_xyz(xyz: torch.Tensor, where: str, name: str = "xyz") -> None:
    """xyz must be a floating (N, 3) tensor."""
    if not isinstance(xyz, torch.Tensor):
        _fail(where, f"{name} must be a torch.Tensor, got {type(xyz).__name__}")
    if xyz.dim() != 2 or xyz.shape[1] != 3:
        _fail(where, f"{name} must have shape (N, 3), got {tuple(xyz.shape)}")
    if not xyz.is_floating_point():
        _fail(where, f"{name} must be a floating tensor, got {xyz.dtype}")


def check_offset(offset: torch.Tensor, n: int, where: str, name: str, allow_empty: bool) -> list[int]:
    """Validate an offset (B,) against n rows; return it as a Python list of ints.

    allow_empty=False (point sets): counts must be >= 1, i.e. offset strictly increasing.
    allow_empty=True (query sets): counts may be 0, i.e. offset non-decreasing.
    """
    if not isinstance(offset, torch.Tensor):
        _fail(where, f"{name} must be a torch.Tensor of int64, got {type(offset).__name__}")
    if offset.dim() != 1 or offset.numel() == 0:
        _fail(where, f"{name} must have shape (B,) with B >= 1, got {tuple(offset.shape)}")
    if offset.is_floating_point() or offset.dtype == torch.bool or offset.is_complex():
        _fail(where, f"{name} must be an integer tensor, got {offset.dtype}")
    values = [int(v) for v in offset.tolist()]
    counts = [b - a for a, b in zip([0] + values[:-1], values)]
    if allow_empty and min(counts) < 0:
        _fail(where, f"{name} must be non-decreasing and >= 0, got {values}")
    if not allow_empty and min(counts) < 1:
        _fail(where, f"{name} must be strictly increasing and > 0 (no empty scene), got {values}")
    if values[-1] != n:
        _fail(where, f"{name}[-1] must equal the number of rows {n}, got {values[-1]}")
    return values


def check_pair(xyz, offset, new_xyz, new_offset, where: str) -> tuple[list[int], list[int]]:
    """Checks shared by knn / ball_query / interpolation: points, queries, matching B and device."""
    check_xyz(xyz, where, "xyz")
    check_xyz(new_xyz, where, "new_xyz")
    if xyz.device != new_xyz.device:
        _fail(where, f"xyz is on {xyz.device} but new_xyz is on {new_xyz.device}")
    if xyz.dtype != new_xyz.dtype:
        _fail(where, f"xyz is {xyz.dtype} but new_xyz is {new_xyz.dtype}")
    off = check_offset(offset, xyz.shape[0], where, "offset", allow_empty=False)
    new_off = check_offset(new_offset, new_xyz.shape[0], where, "new_offset", allow_empty=True)
    if len(off) != len(new_off):
        _fail(where, f"offset has {len(off)} scenes but new_offset has {len(new_off)}")
    return off, new_off


def check_k(k: int, where: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        _fail(where, f"k must be an int >= 1, got {k!r}")
    return k


def scene_ranges(offset: Sequence[int]) -> list[tuple[int, int]]:
    """[offset...] -> [(start, end)] row range of each scene."""
    starts = [0] + list(offset[:-1])
    return list(zip(starts, offset))


def offset_to_batch(offset: torch.Tensor) -> torch.Tensor:
    """offset (B,) cumulative counts -> (N,) int64 scene index of every row."""
    offset = offset.long()
    counts = torch.diff(offset, prepend=offset.new_zeros(1))  # (B,)
    return torch.repeat_interleave(torch.arange(offset.numel(), device=offset.device), counts)


def batch_to_offset(counts: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Per-scene point counts (B,) -> offset (B,) int64 (their cumulative sum)."""
    counts = torch.as_tensor(counts, dtype=torch.int64)
    if counts.dim() != 1 or (counts < 0).any():
        raise OpsInputError(f"batch_to_offset: counts must be a 1-D list of ints >= 0, got {counts}")
    return torch.cumsum(counts, 0)


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared distance between broadcastable a (..., 3) and b (..., 3) -> (...).

    Written coordinate by coordinate, (dx*dx + dy*dy) + dz*dz, so that every backend and every
    op rounds the same way (cpu and torch results then agree bit for bit on the same indices),
    and so that no (..., 3) difference tensor is materialised.
    """
    d = a[..., 0] - b[..., 0]
    out = d * d
    d = a[..., 1] - b[..., 1]
    out = out + d * d
    d = a[..., 2] - b[..., 2]
    return out + d * d


def pair_dist2(xyz: torch.Tensor, new_xyz: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Squared distances (M, k) between each query new_xyz (M, 3) and its neighbours xyz[idx (M, k)]."""
    m, k = idx.shape
    nbr = xyz.index_select(0, idx.reshape(-1)).view(m, k, 3)  # (M, k, 3)
    return sq_dist(nbr, new_xyz[:, None, :])  # (M, k)


def pad_with_first(idx: torch.Tensor, dist2: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Widen idx/dist2 (M, j<=k) to (M, k) by repeating column 0 (the nearest neighbour)."""
    j = idx.shape[1]
    if j == k:
        return idx, dist2
    idx = torch.cat([idx, idx[:, :1].expand(-1, k - j)], 1)  # (M, k)
    dist2 = torch.cat([dist2, dist2[:, :1].expand(-1, k - j)], 1)  # (M, k)
    return idx, dist2


def radius_mask(idx: torch.Tensor, dist2: torch.Tensor, radius: float) -> torch.Tensor:
    """Ball-query semantics on sorted kNN results idx/dist2 (M, k) -> idx (M, k).

    Neighbours with dist2 >= radius**2 are replaced by column 0, the nearest one (PointNet++ pads with
    the first found neighbour). Column 0 itself is always kept: a query with no point inside the
    radius therefore gets its nearest point k times.
    """
    outside = dist2 >= radius * radius  # (M, k)
    outside[:, 0] = False
    return torch.where(outside, idx[:, :1].expand_as(idx), idx)


def group(idx: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """Gather neighbour features: idx (M, k) global rows, feats (N, C) -> (M, k, C).

    Differentiable w.r.t. feats (index_select's backward scatters the gradients back).
    """
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
        _fail("group", f"idx must be an int64 tensor of shape (M, k), got {getattr(idx, 'shape', idx)}")
    if not isinstance(feats, torch.Tensor) or feats.dim() != 2:
        _fail("group", f"feats must be a tensor of shape (N, C), got {getattr(feats, 'shape', feats)}")
    if idx.device != feats.device:
        _fail("group", f"idx is on {idx.device} but feats is on {feats.device}")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= feats.shape[0]):
        _fail("group", f"idx values must lie in [0, {feats.shape[0]}), got [{int(idx.min())}, {int(idx.max())}]")
    m, k = idx.shape
    return feats.index_select(0, idx.reshape(-1).long()).view(m, k, feats.shape[1])  # (M, k, C)


def interpolation_weights(dist2: torch.Tensor, n_known: torch.Tensor) -> torch.Tensor:
    """Inverse-distance weights (M, 3) from the 3-NN squared distances dist2 (M, 3).

    w_j = 1 / (d_j + 1e-8) with d_j the Euclidean distance, normalised over the neighbours.
    n_known (M,): number of known points in the query's scene; columns j >= n_known are the
    padding repeats of the nearest point and get weight 0 (so 1 or 2 known points work).
    """
    w = 1.0 / (dist2.clamp_min(0).sqrt() + INTERP_EPS)  # (M, 3)
    real = torch.arange(dist2.shape[1], device=dist2.device)[None, :] < n_known[:, None]  # (M, 3)
    w = w * real
    return w / w.sum(1, keepdim=True)  # (M, 3)


def check_fps_offsets(xyz, offset, new_offset) -> tuple[list[int], list[int]]:
    """FPS inputs: xyz (N, 3), offset (B,), new_offset (B,) with 0 <= M_b <= N_b samples per scene."""
    where = "farthest_point_sample"
    check_xyz(xyz, where)
    off = check_offset(offset, xyz.shape[0], where, "offset", allow_empty=False)
    total = int(new_offset[-1]) if isinstance(new_offset, torch.Tensor) and new_offset.numel() else 0
    new_off = check_offset(new_offset, total, where, "new_offset", allow_empty=True)
    if len(off) != len(new_off):
        _fail(where, f"offset has {len(off)} scenes but new_offset has {len(new_off)}")
    for b, ((s, e), (qs, qe)) in enumerate(zip(scene_ranges(off), scene_ranges(new_off))):
        if qe - qs > e - s:
            _fail(where, f"scene {b} asks for {qe - qs} samples but has only {e - s} points")
    return off, new_off


def finish_candidates(xyz, new_xyz, cand: torch.Tensor, radius: float | None, nearest=None) -> torch.Tensor:
    """Turn raw neighbour candidates of a backend into the byol3d.ops conventions -> idx (M, k) int64.

    cand (M, k): global rows in any order, -1 = no candidate. Entries are sorted by dist2 (computed
    with `pair_dist2`, stable on ties), dropped when dist2 >= radius**2 (if radius is given), and the
    gaps filled with the nearest kept one. Rows left with nothing ask `nearest(rows (R,)) -> (R,)`.
    """
    missing = cand < 0  # (M, k)
    safe = cand.clamp_min(0)  # (M, k)
    dist2 = pair_dist2(xyz, new_xyz, safe)  # (M, k)
    if radius is not None:
        missing = missing | (dist2 >= radius * radius)
    dist2, order = torch.sort(dist2.masked_fill(missing, float("inf")), dim=1, stable=True)  # (M, k)
    idx = torch.gather(safe, 1, order)  # (M, k)
    empty = torch.isinf(dist2[:, 0]).nonzero().flatten()  # (R,)
    if empty.numel():
        idx[empty, 0] = nearest(empty)
    return torch.where(torch.isinf(dist2), idx[:, :1].expand_as(idx), idx)  # (M, k)
