"""Pure-PyTorch backend of byol3d.ops: runs on any device (CPU, CUDA), no compiled extension.

Memory stays bounded: kNN distances are computed for a chunk of queries against one scene at a
time (`CHUNK_ELEMENTS` query-point pairs at most), never for the whole (M, N) matrix, and only the
(M, k) result is kept. FPS keeps one running min-distance vector per scene (O(N)).
"""

from __future__ import annotations

import torch

from .common import pad_with_first, pair_dist2, radius_mask, scene_ranges, sq_dist

# Query-point pairs per distance chunk: 2**22 pairs = 16 MB per float32 (c, P) temporary.
CHUNK_ELEMENTS = 2**22


def farthest_point_sample(xyz: torch.Tensor, offset: list[int], new_offset: list[int]) -> torch.Tensor:
    """Exact FPS, all scenes at once (padded to the largest scene): xyz (N, 3) -> idx (M,) global rows.

    Starts from the first point of every scene; each step takes the point with the largest
    squared distance to the chosen set (the lowest row on ties, torch.argmax's rule).
    """
    ranges = scene_ranges(offset)  # B x (start, end)
    m_counts = [b - a for a, b in scene_ranges(new_offset)]  # (B,)
    if sum(m_counts) == 0:
        return torch.zeros(0, dtype=torch.int64, device=xyz.device)
    n_max = max(e - s for s, e in ranges)
    pts = xyz.new_zeros(len(ranges), n_max, 3)  # (B, Nmax, 3)
    mind = xyz.new_full((len(ranges), n_max), -1.0)  # (B, Nmax): -1 marks padding, never chosen
    for b, (s, e) in enumerate(ranges):
        pts[b, : e - s] = xyz[s:e]
        mind[b, : e - s] = float("inf")
    rows = torch.arange(len(ranges), device=xyz.device)  # (B,)
    cur = torch.zeros(len(ranges), dtype=torch.int64, device=xyz.device)  # (B,) local index
    chosen = [cur]
    for _ in range(max(m_counts) - 1):
        mind = torch.minimum(mind, sq_dist(pts, pts[rows, cur][:, None, :]))  # (B, Nmax)
        cur = torch.argmax(mind, dim=1)  # (B,)
        chosen.append(cur)
    local = torch.stack(chosen, 1)  # (B, max M_b)
    starts = torch.tensor([s for s, _ in ranges], device=xyz.device)  # (B,)
    return torch.cat([local[b, :m] + starts[b] for b, m in enumerate(m_counts)])  # (M,)


def _knn_scene(k: int, pts: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """k nearest (local rows, sorted) of queries (Q, 3) among pts (P, 3), chunked -> (Q, min(k, P))."""
    kk = min(k, pts.shape[0])
    chunk = max(1, CHUNK_ELEMENTS // pts.shape[0])
    out = []
    for q in torch.split(queries, chunk):
        d2 = sq_dist(q[:, None, :], pts[None, :, :])  # (c, P)
        out.append(torch.topk(d2, kk, dim=1, largest=False, sorted=True).indices)  # (c, kk)
    return torch.cat(out) if out else queries.new_zeros(0, kk, dtype=torch.int64)


def knn(k, xyz, offset, new_xyz, new_offset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-scene kNN -> idx (M, k) int64 global rows, dist2 (M, k); short scenes pad with the nearest."""
    idx = torch.empty(new_xyz.shape[0], k, dtype=torch.int64, device=xyz.device)  # (M, k)
    for (s, e), (qs, qe) in zip(scene_ranges(offset), scene_ranges(new_offset)):
        if qe == qs:
            continue
        local = _knn_scene(k, xyz[s:e], new_xyz[qs:qe]) + s  # (Q, min(k, P))
        idx[qs:qe] = pad_with_first(local, local, k)[0]
    return idx, pair_dist2(xyz, new_xyz, idx)


def ball_query(k, radius, xyz, offset, new_xyz, new_offset) -> torch.Tensor:
    """Up to k nearest points within radius (padded with the nearest) -> idx (M, k) int64 global rows."""
    idx, dist2 = knn(k, xyz, offset, new_xyz, new_offset)  # (M, k), (M, k)
    return radius_mask(idx, dist2, radius)
