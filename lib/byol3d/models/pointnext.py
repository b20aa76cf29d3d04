"""PointNeXt for semantic segmentation (Qian et al., "PointNeXt: Revisiting PointNet++ with Improved
Training and Scaling Strategies", NeurIPS 2022), written from the paper and the official ScanNet setting.

Encoder: a stem (one 1x1 conv, no norm/act) then stages of SetAbstraction (FPS + ball query + grouped
MLP + max) and InvResMLP blocks; channels double per stage. Decoder: PointNet++ feature propagation back
to the input points. Head: per-point features + the scene's global max feature, conv-BN-ReLU, dropout,
conv to classes. The encoder and decoder are what BYOL pre-trains; the head is `model.head`.

Batches are offset-batched dicts (`coord (N, 3)`, `feat (N, C)`, `offset (B,)`), so scenes of any
sizes are processed together and never see each other's points (all neighbour ops work per scene).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from byol3d import ops
from byol3d.models.blocks import Dropout, FeaturePropagation, InvResMLP, LinearBNAct, SetAbstraction, upsampling
from byol3d.models.config import PointNeXtConfig



@dataclass
class EncoderOutput:
    """Per-stage point sets of the encoder; stage 0 is the input resolution.

    coords[s] (N_s, 3), offsets[s] (B,), feats[s] (N_s, C_s) with C_s = width * 2**s.
    """

    coords: list[torch.Tensor]
    offsets: list[torch.Tensor]
    feats: list[torch.Tensor]


@dataclass
class NeighbourPlan:
    """Every neighbour index one forward pass needs, computed from the coordinates alone.

    Sampling and grouping do not depend on features or weights, so two networks that see the same
    batch (BYOL's online and target networks) can share one plan: the neighbour search then runs once
    per view instead of once per network. Stage s: coords[s] (N_s, 3), offsets[s] (B,); group[s]
    (N_s, k) SetAbstraction ball query into stage s-1 (None for the stem), block[s] (N_s, k) the
    InvResMLP ball query within stage s (None without blocks); up[s] = (idx, weights) (N_s, 3), the
    3-NN interpolation of stage s+1 onto stage s (None when the plan is for the encoder only);
    to_points[s] = (idx, weights) (N_0, 3), the 3-NN interpolation of stage s onto the input points that
    hypercolumns read (to_points[0] None; the whole list None unless asked for).
    """

    coords: list[torch.Tensor]
    offsets: list[torch.Tensor]
    group: list[torch.Tensor | None]
    block: list[torch.Tensor | None]
    up: list[tuple[torch.Tensor, torch.Tensor]] | None
    to_points: list[tuple[torch.Tensor, torch.Tensor] | None] | None = None

    def nbytes(self) -> int:
        """Bytes held by the plan's tensors (one shared by two fields counted twice)."""
        pairs = [pair for pair in [*(self.up or []), *(self.to_points or [])] if pair is not None]
        tensors = [*self.coords, *self.offsets, *self.group, *self.block, *(t for pair in pairs for t in pair)]
        return sum(t.nbytes for t in tensors if t is not None)


class Stage(nn.Module):
    """One encoder stage: entry (stem for stage 0, SetAbstraction after) + (blocks - 1) InvResMLPs."""

    def __init__(self, cfg: PointNeXtConfig, s: int):
        super().__init__()
        c_out = cfg.channels[s]
        sa_radius, self.block_radius = cfg.stage_radii()[s]
        self.nsample = cfg.nsample
        if s == 0:
            self.entry: nn.Module = nn.Linear(cfg.in_channels, c_out)  # stem: 1x1 conv with bias, no norm/act
        else:
            c_in = cfg.channels[s - 1]
            self.entry = SetAbstraction(c_in, c_out, cfg.sa_layers, cfg.strides[s], sa_radius, cfg.nsample,
                                        cfg.fused_max)
        self.blocks = nn.ModuleList(
            InvResMLP(c_out, cfg.expansion, self.block_radius, cfg.fused_max) for _ in range(cfg.blocks[s] - 1)
        )

    @torch.no_grad()
    def neighbours(self, xyz: torch.Tensor, offset: torch.Tensor, backend: str | None) -> tuple:
        """Previous level (xyz (N, 3), offset (B,)) -> this stage's (xyz, offset, group idx | None,
        block idx | None); see NeighbourPlan."""
        group = None
        if isinstance(self.entry, SetAbstraction):
            xyz, offset, group = self.entry.neighbours(xyz, offset, backend)
        block = None
        if len(self.blocks):
            # All blocks of a stage group the same points with the same radius: query once.
            with torch.profiler.record_function("byol3d.ops.ball_query"):
                block = ops.ball_query(self.nsample, self.block_radius, xyz, offset, xyz, offset, backend=backend)
        return xyz, offset, group, block

    def forward(self, plan: NeighbourPlan, s: int, feats: torch.Tensor) -> torch.Tensor:
        """Stage s of `plan`: features of the previous level (N_{s-1}, C_prev), or the input
        features for the stem -> (N_s, C_s)."""
        xyz = plan.coords[s]
        if isinstance(self.entry, SetAbstraction):
            feats = self.entry(plan.coords[s - 1], feats, xyz, plan.group[s])
        else:
            feats = self.entry(feats)  # (N, C_0)
        for block in self.blocks:
            feats = block(xyz, feats, plan.block[s])  # (N_s, C_s)
        return feats


class SegHead(nn.Module):
    """Segmentation head: [per-point feature, scene max feature] -> conv-BN-ReLU -> dropout -> conv."""

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.hidden = LinearBNAct(2 * channels, 2 * channels)
        self.dropout = Dropout(dropout)
        self.classify = nn.Linear(2 * channels, num_classes)

    def forward(self, feats: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """feats (N, C), offset (B,) -> logits (N, num_classes)."""
        counts = torch.diff(offset, prepend=offset.new_zeros(1)).tolist()  # B scene sizes
        scene_max = torch.stack([f.amax(dim=0) for f in feats.split(counts)])  # (B, C)
        # hidden([f, max]) = W_f f + W_max max: the scene term is projected once per scene, not per point
        weight = self.hidden.linear.weight  # (2C, 2C): point-feature columns first, then scene-max columns
        c = feats.shape[1]
        scene_term = torch.repeat_interleave(F.linear(scene_max, weight[:, c:]), offset.new_tensor(counts), dim=0)
        h = self.hidden.normalize(F.linear(feats, weight[:, :c]) + scene_term)  # (N, 2C)
        return self.classify(self.dropout(h))  # (N, num_classes)


class PointNeXt(nn.Module):
    """PointNeXt segmentation model: `encode` -> `decode` -> `head` (see the module docstring).

    ops_backend: byol3d.ops backend for the neighbour ops ("cpu", "torch", "pointops"; None = auto by
    device). It is a run-time choice, not part of the config: weights are the same for every backend.
    """

    def __init__(self, cfg: PointNeXtConfig, ops_backend: str | None = None):
        super().__init__()
        if not isinstance(cfg, PointNeXtConfig):
            raise TypeError(f"PointNeXt needs a PointNeXtConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.ops_backend = ops_backend
        ch = cfg.channels
        self.stages = nn.ModuleList(Stage(cfg, s) for s in range(len(ch)))
        # decoder[s] brings level s+1 back to level s; its output width is the encoder width of level s.
        self.decoder = nn.ModuleList(FeaturePropagation(ch[s + 1], ch[s], ch[s]) for s in range(len(ch) - 1))
        self.head = SegHead(ch[0], cfg.num_classes, cfg.head_dropout)

    @property
    def encoder_channels(self) -> list[int]:
        """C_s of every encoder stage (stage 0 = input resolution)."""
        return list(self.cfg.channels)

    @property
    def decoder_channels(self) -> int:
        """Channels of `decode`'s per-point output (= width)."""
        return self.cfg.channels[0]

    def plan_key(self, decoder: bool = True, to_points: bool = False) -> tuple:
        """What decides `plan(batch, decoder, to_points)` besides the batch's coordinates and offsets: the
        strides, radii, group size and block counts, and the ops backend (weights never matter)."""
        cfg = self.cfg
        return (cfg.strides, cfg.blocks, tuple(cfg.stage_radii()), cfg.nsample, self.ops_backend, decoder, to_points)

    @torch.no_grad()
    def plan(self, batch: dict, decoder: bool = True, to_points: bool = False) -> NeighbourPlan:
        """batch {coord (N, 3), offset (B,)} -> the NeighbourPlan of a forward pass (the decoder's
        3-NN interpolations too unless `decoder` is False; each stage's 3-NN onto the input points, for
        hypercolumns, if `to_points`)."""
        xyz, _, offset = self._inputs(batch)
        coords, offsets, group, block = [], [], [], []
        for stage in self.stages:
            xyz, offset, group_idx, block_idx = stage.neighbours(xyz, offset, self.ops_backend)
            coords.append(xyz)
            offsets.append(offset)
            group.append(group_idx)
            block.append(block_idx)
        return self._with_interpolations(NeighbourPlan(coords, offsets, group, block, None), decoder, to_points)

    @torch.no_grad()
    def plan_onto_rows(self, plan: NeighbourPlan, rows: torch.Tensor, decoder: bool, to_points: bool) -> NeighbourPlan:
        """The 3-NN interpolations onto `rows` (sorted (R,) indices into the batch) only, for features of those
        rows (byol3d.eval.features): `plan`'s stages with stage 0 cut down to the rows, and the decoder's
        (`decoder`) and the hypercolumn's (`to_points`) interpolations onto them. No sampling or grouping:
        the encoder runs on every point with `plan` itself."""
        coords, offsets = [plan.coords[0][rows], *plan.coords[1:]], [torch.searchsorted(rows, plan.offsets[0]),
                                                                    *plan.offsets[1:]]
        empty = [None] * len(coords)
        return self._with_interpolations(NeighbourPlan(coords, offsets, empty, empty, None), decoder, to_points)

    def _with_interpolations(self, plan: NeighbourPlan, decoder: bool, to_points: bool) -> NeighbourPlan:
        """`plan` with the decoder's 3-NN interpolations (`decoder`) and every stage's onto stage 0
        (`to_points`) searched on its coordinates."""
        coords, offsets = plan.coords, plan.offsets
        up = None
        if decoder:
            up = [upsampling((coords[s + 1], offsets[s + 1]), (coords[s], offsets[s]), self.ops_backend)
                  for s in range(len(self.decoder))]
        onto_points = None
        if to_points:  # stage 1 -> points is the decoder's last upsampling: searched once when both are asked
            onto_points = [None] + [up[0] if up is not None and s == 1 else
                                    upsampling((coords[s], offsets[s]), (coords[0], offsets[0]), self.ops_backend)
                                    for s in range(1, len(coords))]
        return replace(plan, up=up, to_points=onto_points)

    def encode(self, batch: dict, plan: NeighbourPlan | None = None) -> EncoderOutput:
        """batch {coord (N, 3), feat (N, in_channels), offset (B,)} -> per-stage points and features;
        `plan`: this batch's NeighbourPlan (computed here when None)."""
        _, feats, _ = self._inputs(batch)
        plan = self.plan(batch, decoder=False) if plan is None else plan
        out = EncoderOutput(list(plan.coords), list(plan.offsets), [])
        for s, stage in enumerate(self.stages):
            feats = stage(plan, s, feats)
            out.feats.append(feats)
        return out

    def decode(self, enc: EncoderOutput, plan: NeighbourPlan | None = None) -> torch.Tensor:
        """Feature propagation from the coarsest stage back to stage 0 -> (N, width). The 3-NN
        interpolations come from `plan` when it has them, else from enc's coordinates."""
        feats = enc.feats[-1]
        for s in range(len(self.decoder) - 1, -1, -1):
            if plan is not None and plan.up is not None:
                up = plan.up[s]
            else:
                up = upsampling((enc.coords[s + 1], enc.offsets[s + 1]), (enc.coords[s], enc.offsets[s]),
                                self.ops_backend)
            feats = self.decoder[s](feats, enc.feats[s], up)  # (N_s, C_s)
        return feats

    def forward(self, batch: dict, plan: NeighbourPlan | None = None) -> torch.Tensor:
        """batch -> per-point logits (N, num_classes); `plan` as in `encode`."""
        plan = self.plan(batch) if plan is None else plan
        enc = self.encode(batch, plan)
        return self.head(self.decode(enc, plan), enc.offsets[0])

    def hypercolumn(self, enc: EncoderOutput, plan: NeighbourPlan | None = None) -> torch.Tensor:
        """Every stage's features 3-NN interpolated to the input points, concatenated -> (N, sum C_s); the
        3-NN from `plan` (with `to_points`) when given, else searched on enc's coordinates.

        Uses only the encoder, so a linear probe can read an encoder whose decoder was never trained.
        """
        cols = [enc.feats[0]] + [self.interpolate_to_points(enc, s, enc.feats[s], plan)
                                 for s in range(1, len(enc.feats))]
        return torch.cat(cols, dim=1)  # (N, sum C_s)

    def interpolate_to_points(self, enc: EncoderOutput, s: int, values: torch.Tensor,
                              plan: NeighbourPlan | None = None) -> torch.Tensor:
        """values (N_s, D) at stage s's points, 3-NN interpolated to the input points -> (N, D); the 3-NN
        come from `plan` (the batch's plan, with `to_points`) when given, else from enc's coordinates."""
        if plan is not None and plan.to_points is not None:
            idx, weights = plan.to_points[s]
        else:
            idx, weights = upsampling((enc.coords[s], enc.offsets[s]), (enc.coords[0], enc.offsets[0]),
                                      self.ops_backend)
        return ops.interpolate_with(idx, weights, values)  # (N, D)

    def reset_head(self, dropout: float | None = None) -> None:
        """Re-initialise the segmentation head (fresh classifier when fine-tuning pre-trained weights),
        with dropout rate `dropout` if given: a head's dropout belongs to the training that follows, not
        to the pre-training that saved the checkpoint."""
        for module in self.head.modules():
            if isinstance(module, (nn.Linear, nn.BatchNorm1d)):
                module.reset_parameters()
        if dropout is not None:
            self.head.dropout = Dropout(dropout)  # a rate outside [0, 1) is refused here, before the config
            self.cfg = replace(self.cfg, head_dropout=dropout)

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Check the batch dict and return coord (N, 3), feat (N, C), offset (B,) int64."""
        if not isinstance(batch, dict) or any(k not in batch for k in ("coord", "feat", "offset")):
            keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"PointNeXt input: the batch must be a dict with coord, feat and offset; got {keys}")
        xyz, feats, offset = batch["coord"], batch["feat"], batch["offset"]
        if xyz.dim() != 2 or xyz.shape[1] != 3:
            raise ValueError(f"PointNeXt input: batch['coord'] must be (N, 3), got {tuple(xyz.shape)}")
        if feats.shape != (xyz.shape[0], self.cfg.in_channels):
            raise ValueError(
                f"PointNeXt input: batch['feat'] must be (N, {self.cfg.in_channels}) with N = {xyz.shape[0]}, "
                f"got {tuple(feats.shape)}"
            )
        if offset.dim() != 1 or offset.numel() == 0 or int(offset[-1]) != xyz.shape[0]:
            raise ValueError("PointNeXt input: batch['offset'] must be (B,) with offset[-1] == N, "
                             f"got {offset.tolist()}")
        return xyz, feats, offset.long()
