"""BYOL objective on point clouds: global (per scene) and dense (per shared point) variants.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Eq. 2: with q the online prediction of one
view and z' the target projection of the other view, the loss is the normalised mean squared error
    L = || q/||q|| - z'/||z'|| ||^2 = 2 - 2 cos(q, z'),
symmetrised by swapping the two views and summing (Eq. 4): L_BYOL = L(v1 -> v2) + L(v2 -> v1).
The target side carries no gradient (stop-gradient).

Global variant: the last (coarsest) encoder stage of PointNeXt is pooled per scene view into one
vector, the analogue of the ResNet global average pool used in the paper. `pool_scenes` supports the
mean (default, as in the paper's ResNet) and the max (PointNeXt's classification / global feature).
Dense variant: the decoder features at input resolution are compared point by point on the points the
two views share (same original `index` in the same scene), sub-sampled to a fixed number of pairs per
scene so the cost does not grow with the crop size.
Region variant: the same shared points, grouped into cells of a coarse grid laid over view 1, and their
decoder features averaged per cell in each view: every cell holds the same original points in both
views. This is DetCon's idea (Henaff et al., "Efficient Visual Pretraining with Contrastive Detection",
ICCV 2021: BYOL on features pooled over regions) with grid cells as regions. It gives the heads'
BatchNorm tens of rows per scene where the global variant has one, and a region's mean cannot be
matched across views from one point's colour or height alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from byol3d.byol.monitor import collapse_std, mean_cosine
from byol3d.ops import offset_to_batch


def normalized_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of 2 - 2 cos(pred, target); pred, target: (M, D). Target gets no gradient."""
    if pred.shape != target.shape or pred.dim() != 2 or pred.shape[0] == 0:
        raise ValueError(
            f"normalized_mse: pred and target must be equal non-empty (M, D), got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    p = F.normalize(pred.float(), dim=1)
    z = F.normalize(target.detach().float(), dim=1)
    return (2.0 - 2.0 * (p * z).sum(dim=1)).mean()


def symmetric_loss(
    q1: torch.Tensor, z2_target: torch.Tensor, q2: torch.Tensor, z1_target: torch.Tensor
) -> torch.Tensor:
    """BYOL's symmetrised loss: L(q1, z'2) + L(q2, z'1) (Grill et al. 2020, Eq. 4); each (M, D)."""
    return normalized_mse(q1, z2_target) + normalized_mse(q2, z1_target)


def pool_scenes(feats: torch.Tensor, offset: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """Pool per-point features per scene: feats (N, C), offset (B,) -> (B, C) by 'mean' or 'max'."""
    if mode not in ("mean", "max"):
        raise ValueError(f"pool_scenes: mode must be 'mean' or 'max', got {mode!r}")
    batch = offset_to_batch(offset).to(feats.device)  # (N,) scene of each row
    num_scenes = offset.numel()
    if mode == "max":
        out = feats.new_zeros(num_scenes, feats.shape[1])
        return out.scatter_reduce(0, batch.unsqueeze(1).expand_as(feats), feats, reduce="amax", include_self=False)
    return pool_regions(feats, batch, num_scenes)  # each scene one region


def _unique_keys(index: torch.Tensor, offset: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys scene * stride + index for a view, deduplicated: returns (sorted keys (U,), their rows (U,))."""
    batch = offset_to_batch(offset).to(index.device)
    keys = batch * stride + index
    sorted_keys, order = torch.sort(keys, stable=True)
    first = torch.ones_like(sorted_keys, dtype=torch.bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return sorted_keys[first], order[first]


def match_views(
    index1: torch.Tensor,
    offset1: torch.Tensor,
    index2: torch.Tensor,
    offset2: torch.Tensor,
    pairs_per_scene: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of view 1 and view 2 holding the same original point of the same scene.

    index1 (N1,), offset1 (B,), index2 (N2,), offset2 (B,): scene b of view 1 and scene b of view 2 are
    two views of one scene; `index` is the original point index within that scene. Returns
    (rows1 (P,), rows2 (P,)) with index1[rows1] == index2[rows2] in the same scene, at most
    `pairs_per_scene` pairs per scene, drawn uniformly without replacement (all pairs when fewer).
    Raises ValueError when no scene shares any point (the views do not overlap at all).
    """
    if offset1.numel() != offset2.numel():
        raise ValueError(
            f"match_views: views hold {offset1.numel()} and {offset2.numel()} scenes"
        )
    if pairs_per_scene < 1:
        raise ValueError(f"match_views: pairs_per_scene must be >= 1, got {pairs_per_scene}")
    device = index1.device
    index2 = index2.to(device)
    stride = int(max(index1.max(), index2.max())) + 1
    keys1, rows1 = _unique_keys(index1, offset1.to(device), stride)
    keys2, rows2 = _unique_keys(index2, offset2.to(device), stride)
    shared = torch.isin(keys1, keys2)  # keys1 sorted and unique
    keys, rows1 = keys1[shared], rows1[shared]
    rows2 = rows2[torch.searchsorted(keys2, keys)]
    if keys.numel() == 0:
        raise ValueError("match_views: the two views share no point in any scene")
    scene = keys // stride  # (S,) sorted by scene
    # Random priority per pair; keep the `pairs_per_scene` smallest within each scene.
    priority = torch.rand(keys.numel(), generator=generator, device="cpu").to(device)
    order = torch.argsort(scene.double() + priority.double() * 0.5, stable=True)
    scene_sorted = scene[order]
    starts = torch.searchsorted(scene_sorted, scene_sorted, right=False)
    rank = torch.arange(keys.numel(), device=device) - starts
    keep = order[rank < pairs_per_scene]
    return rows1[keep], rows2[keep]


def region_ids(coord: torch.Tensor, scene: torch.Tensor, size: float) -> tuple[torch.Tensor, int]:
    """Cell of a `size`-metre grid of each point, numbered per (scene, cell): coord (P, 3), scene (P,) ->
    (region (P,) in [0, R), R)."""
    if size <= 0:
        raise ValueError(f"region_ids: size must be > 0 metres, got {size}")
    cells = torch.floor(coord.float() / size).long()  # (P, 3)
    keys = torch.cat([scene.long().unsqueeze(1), cells], dim=1)  # (P, 4)
    unique, region = torch.unique(keys, dim=0, return_inverse=True)
    return region, int(unique.shape[0])


def pool_regions(feats: torch.Tensor, region: torch.Tensor, num_regions: int) -> torch.Tensor:
    """Mean of the rows of feats (P, C) in each region: region (P,) in [0, R) -> (R, C) (0 for an empty one)."""
    out = feats.new_zeros(num_regions, feats.shape[1]).index_add(0, region, feats)
    counts = torch.bincount(region, minlength=num_regions).clamp_min(1).to(feats.dtype)
    return out / counts.unsqueeze(1)


def byol_objective(outputs: dict[str, torch.Tensor], kinds: tuple[str, ...],
                   dense_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one step and its metrics, from `BYOL.forward`'s outputs ('q_/z_/t_<kind>', each
    (2, M, d), view axis first): per kind, view 1's prediction of view 2's target projection and back
    (`symmetric_loss`); the kinds summed, dense weighted by `dense_weight`. Metrics: loss, loss_<kind>,
    and the collapse monitor (byol3d.byol.monitor) per kind and for the kind with the most rows (the
    last of `kinds`, the steadiest)."""
    losses, metrics = {}, {}
    for kind in kinds:
        q, z, t = outputs[f"q_{kind}"], outputs[f"z_{kind}"], outputs[f"t_{kind}"]
        losses[kind] = symmetric_loss(q[0], t[1], q[1], t[0])  # view 1 predicts view 2 and back
        metrics[f"loss_{kind}"] = float(losses[kind].detach())
        metrics[f"collapse_std_{kind}"] = collapse_std(torch.cat([z[0], z[1]]))
        metrics[f"cos_online_target_{kind}"] = mean_cosine(torch.cat([z[0], z[1]]), torch.cat([t[0], t[1]]))
    total = sum(dense_weight * value if kind == "dense" else value for kind, value in losses.items())
    metrics["collapse_std"] = metrics[f"collapse_std_{kinds[-1]}"]
    metrics["cos_online_target"] = metrics[f"cos_online_target_{kinds[-1]}"]
    metrics["loss"] = float(total.detach())
    return total, metrics
