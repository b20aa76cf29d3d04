"""PointNeXt building blocks (Qian et al., NeurIPS 2022) on offset-batched points.

Points of all scenes are rows of one (N, C) tensor (see byol3d.ops), so a "1x1 conv" is an
`nn.Linear` on the last dimension and BatchNorm is `nn.BatchNorm1d` over the rows (for grouped
(M, k, C) tensors over the M*k rows, which is what the official BatchNorm2d over (B, C, M, k) does).
Layers followed by BatchNorm have no bias, as in the official conv-norm-act blocks.

Grouped MLPs take [relative position / radius, neighbour feature] per neighbour. Their first layer is
linear, so instead of gathering (M, k, 3 + C) inputs we apply the feature part of the weight once
per point and gather its (N, C') output: the same function and the same parameters, 8-32x fewer FLOPs.
Their last BatchNorm, ReLU and max over neighbours can run as one step (`norm_relu_max`): per channel,
BatchNorm is an affine map and ReLU is monotone, so the max can be taken first, on (M, C) instead of
(M, k, C) values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from byol3d import ops


class LinearBNAct(nn.Module):
    """1x1 conv (bias-free Linear) + BatchNorm1d + optional ReLU on (..., C_in) -> (..., C_out)."""

    def __init__(self, c_in: int, c_out: int, act: bool = True):
        super().__init__()
        self.linear = nn.Linear(c_in, c_out, bias=False)
        self.bn = nn.BatchNorm1d(c_out)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.linear(x))

    def normalize(self, h: torch.Tensor) -> torch.Tensor:
        """BatchNorm (+ ReLU) of an already projected h (..., C_out), statistics over all leading dims."""
        shape = h.shape
        h = self.bn(h.reshape(-1, shape[-1])).view(shape)
        return F.relu(h) if self.act else h


class Dropout(nn.Module):
    """Inverted dropout (zero with probability p, scale the rest by 1 / (1 - p)) from a uniform draw:
    the same distribution as nn.Dropout, 2-3x faster on the CPU than its Bernoulli sampling
    (bench/train_step.py, reports/benchmarks.md)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p  # (..., C) bool
        return x * keep * (1.0 / (1.0 - self.p))


class LocalAggregation(nn.Module):
    """Grouped MLP + max over neighbours: for each query, max_j MLP([(p_j - p_i) / r, f_j]).

    channels = [C_in + 3, c_1, ..., c_out]; every layer is conv-BN-ReLU (PointNet++ style, PointNeXt
    "dp_fj" features with normalised relative positions, max reduction). fused: the last layer's
    BatchNorm, ReLU and the max in one step (`norm_relu_max`); otherwise, and for a SyncBatchNorm (multi-GPU
    training, whose statistics `norm_relu_max` cannot gather across ranks), one after the other.
    """

    def __init__(self, channels: list[int], fused: bool):
        super().__init__()
        self.layers = nn.ModuleList(LinearBNAct(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.fused = fused

    def forward(
        self, xyz: torch.Tensor, feats: torch.Tensor, new_xyz: torch.Tensor, idx: torch.Tensor, radius: float
    ) -> torch.Tensor:
        """xyz (N, 3), feats (N, C), new_xyz (M, 3), idx (M, k) global rows of xyz -> (M, c_out)."""
        first = self.layers[0]
        weight = first.linear.weight  # (c_1, 3 + C): position columns first, then feature columns
        proj = F.linear(feats, weight[:, 3:])  # (N, c_1)
        with torch.profiler.record_function("byol3d.ops.group"):
            h = ops.group(idx, proj)  # (M, k, c_1)
            rel = (ops.group(idx, xyz) - new_xyz[:, None, :]) / radius  # (M, k, 3)
        h = h + F.linear(rel, weight[:, :3])  # (M, k, c_1), before the first BatchNorm
        for previous, layer in zip(self.layers[:-1], self.layers[1:]):
            h = layer.linear(previous.normalize(h))  # (M, k, c), before this layer's BatchNorm
        last = self.layers[-1]
        if self.fused and not isinstance(last.bn, nn.SyncBatchNorm):
            return norm_relu_max(h, last.bn)  # (M, c_out)
        return max_over_neighbours(last.normalize(h))  # (M, c_out)


def max_over_neighbours(h: torch.Tensor) -> torch.Tensor:
    """h (M, k, C) -> (M, C). With a gradient, torch.max sends it to one arg-max neighbour (as the official
    code); without one (BYOL's target network, frozen features, evaluation) `amax` gives the same values
    about 10x faster, as it finds no indices."""
    if torch.is_grad_enabled() and h.requires_grad:
        return h.max(dim=1).values
    return h.amax(dim=1)


def norm_relu_max(h: torch.Tensor, bn: nn.BatchNorm1d) -> torch.Tensor:
    """max over neighbours of ReLU(bn(h)) for h (M, k, C) -> (M, C), as the unfused layers compute it, with
    the same BatchNorm statistics and running-average updates, but without the (M, k, C) BatchNorm output,
    its ReLU or torch.max's arg-max indices (reports/benchmarks.md, "BatchNorm, ReLU and max in one step").
    A maximum tied between neighbours shares its gradient equally among them (as torch.amax does; torch.max
    gives it to one): for the copies of a neighbour that ball query pads with, the same total."""
    if bn.training or bn.running_mean is None:
        factor = 0.0
        if bn.training and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        rows = h.reshape(-1, h.shape[-1])  # (M * k, C): the rows BatchNorm normalises over
        with torch.no_grad():
            _, mean, invstd = torch.native_batch_norm(rows, None, None, bn.running_mean, bn.running_var, True,
                                                      factor, bn.eps)
        return _NormReluMax.apply(h, bn.weight, bn.bias, mean, invstd, True)
    invstd = torch.rsqrt(bn.running_var + bn.eps)
    return _NormReluMax.apply(h, bn.weight, bn.bias, bn.running_mean, invstd, False)


class _NormReluMax(torch.autograd.Function):
    """ReLU(scale * x + shift) with x the max over neighbours of h (M, k, C) (the min where scale < 0),
    scale = weight * invstd, shift = bias - mean * scale. With batch statistics, mean and invstd are
    functions of h: the backward adds their gradient (BatchNorm's) to the arg-max one."""

    @staticmethod
    def forward(ctx, h, weight, bias, mean, invstd, batch_stats: bool):
        scale = weight * invstd  # (C,), float32 or wider
        shift = bias - mean * scale
        x = h.amax(dim=1)  # (M, C)
        flipped = scale < 0  # BatchNorm reverses the order in these channels: their max comes from the min
        if bool(flipped.any()):
            x = torch.where(flipped, h.amin(dim=1), x)
        z = torch.addcmul(shift, x, scale)  # (M, C) in scale's dtype, before the ReLU
        ctx.batch_stats = batch_stats
        ctx.save_for_backward(h, x, z, mean, invstd, scale)
        return F.relu(z).to(h.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        h, x, z, mean, invstd, scale = ctx.saved_tensors
        g = grad_out.to(scale.dtype) * (z > 0)  # (M, C) through the ReLU
        grad_bias = g.sum(dim=0)
        grad_weight = (g * (x.to(scale.dtype) - mean) * invstd).sum(dim=0)
        bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[h.element_size()]
        tied = h.view(bits) == x.view(bits)[:, None, :]  # (M, k, C): where the max came from, ties included
        picked = scale * g / _counts_over_neighbours(tied)  # (M, C)
        if not ctx.batch_stats:
            return torch.where(tied, picked.to(h.dtype)[:, None, :], 0), grad_weight, grad_bias, None, None, None
        # through the batch statistics, BatchNorm's backward adds const + coef * h everywhere
        rows = h.numel() // h.shape[-1]
        coef = -scale * invstd * grad_weight / rows
        const = -scale * grad_bias / rows - coef * mean
        grad_h = torch.where(tied, (picked + const).to(h.dtype)[:, None, :], const.to(h.dtype))
        return grad_h.addcmul_(h, coef.to(h.dtype)), grad_weight, grad_bias, None, None, None


def _counts_over_neighbours(mask: torch.Tensor) -> torch.Tensor:
    """mask (M, k, C) bool -> (M, C) int16, True entries per (query, channel), at least 1. One add per
    neighbour slice: several times faster on the CPU than a sum over the middle dimension of a bool tensor."""
    flags = mask.view(torch.uint8)
    counts = flags[:, 0].to(torch.int16)
    for j in range(1, mask.shape[1]):
        counts += flags[:, j]
    return counts.clamp_(min=1)


def downsampled_offset(offset: torch.Tensor, stride: int) -> torch.Tensor:
    """offset (B,) -> offset (B,) of floor(n_b / stride) points per scene, at least 1 per scene."""
    counts = torch.diff(offset, prepend=offset.new_zeros(1))  # (B,)
    return torch.cumsum(torch.clamp(counts // stride, min=1), 0)


class SetAbstraction(nn.Module):
    """Down-sampling stage entry: FPS to N/stride points per scene, ball query on the previous level,
    grouped MLP (`layers` conv-BN-ReLU, hidden width out/2 when layers > 1), max over neighbours.
    `neighbours` (coordinates only) and `forward` (features) are separate, so the neighbour search
    can be planned once per batch and reused (byol3d.models.pointnext.NeighbourPlan)."""

    def __init__(self, c_in: int, c_out: int, layers: int, stride: int, radius: float, nsample: int, fused: bool):
        super().__init__()
        hidden = [c_out // 2] * (layers - 1)
        self.aggregate = LocalAggregation([c_in + 3, *hidden, c_out], fused)
        self.stride, self.radius, self.nsample = stride, radius, nsample

    @torch.no_grad()
    def neighbours(
        self, xyz: torch.Tensor, offset: torch.Tensor, backend: str | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """xyz (N, 3), offset (B,) -> new_xyz (M, 3), new_offset (B,), idx (M, k) ball-query rows of xyz."""
        new_offset = downsampled_offset(offset, self.stride)  # (B,)
        with torch.profiler.record_function("byol3d.ops.farthest_point_sample"):
            keep = ops.farthest_point_sample(xyz, offset, new_offset, backend=backend)  # (M,)
        new_xyz = xyz[keep]  # (M, 3)
        with torch.profiler.record_function("byol3d.ops.ball_query"):
            idx = ops.ball_query(self.nsample, self.radius, xyz, offset, new_xyz, new_offset, backend=backend)
        return new_xyz, new_offset, idx

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor, new_xyz: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """xyz (N, 3), feats (N, C_in), new_xyz (M, 3), idx (M, k) from `neighbours` -> feats (M, C_out)."""
        return self.aggregate(xyz, feats, new_xyz, idx, self.radius)


class InvResMLP(nn.Module):
    """PointNeXt's inverted residual MLP block on a fixed point set:
    local aggregation (C+3 -> C, BN, ReLU, max), then C -> expansion*C (BN, ReLU) -> C (BN),
    residual add, ReLU. The neighbour indices are computed once per stage by the caller."""

    def __init__(self, channels: int, expansion: int, radius: float, fused: bool):
        super().__init__()
        self.aggregate = LocalAggregation([channels + 3, channels], fused)
        self.expand = LinearBNAct(channels, channels * expansion)
        self.project = LinearBNAct(channels * expansion, channels, act=False)
        self.radius = radius

    def forward(self, xyz: torch.Tensor, feats: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """xyz (N, 3), feats (N, C), idx (N, k) ball-query rows of xyz around each point -> (N, C)."""
        h = self.aggregate(xyz, feats, xyz, idx, self.radius)  # (N, C)
        return F.relu(self.project(self.expand(h)) + feats)  # (N, C)


class FeaturePropagation(nn.Module):
    """Decoder stage (PointNet++ feature propagation): 3-NN inverse-distance interpolation of the
    coarse features onto the fine points, concatenated with the fine level's skip features, then
    2 x conv-BN-ReLU."""

    def __init__(self, c_coarse: int, c_skip: int, c_out: int):
        super().__init__()
        self.mlp = nn.Sequential(LinearBNAct(c_skip + c_coarse, c_out), LinearBNAct(c_out, c_out))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor, up: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """coarse (M, C_coarse), skip (N, C_skip), up = (idx, weights) (N, 3) of each fine point's 3
        nearest coarse points (ops.three_nn_weights) -> (N, c_out) at the fine points."""
        interpolated = ops.interpolate_with(up[0], up[1], coarse)  # (N, C_coarse)
        return self.mlp(torch.cat([skip, interpolated], dim=1))  # (N, c_out)


@torch.no_grad()
def upsampling(
    coarse: tuple[torch.Tensor, torch.Tensor], fine: tuple[torch.Tensor, torch.Tensor], backend: str | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """coarse / fine = (xyz (M|N, 3), offset (B,)) -> (idx, weights) (N, 3) of the 3-NN interpolation."""
    with torch.profiler.record_function("byol3d.ops.three_nn_interpolate"):
        return ops.three_nn_weights(coarse[0], coarse[1], fine[0], fine[1], backend=backend)
