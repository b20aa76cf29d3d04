"""The BYOL module for point clouds (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

    online:  PointNeXt (encoder + decoder) -> projector(s) -> predictor(s)     trained by gradients
    target:  PointNeXt (encoder + decoder) -> projector(s)                      EMA of the online one

The target is a deep copy of the online backbone + projectors. `BYOL.forward(view1, view2)` runs both
views through the online network and, without gradients, the target, and returns their projections and
predictions; the loss is a plain function of those (byol3d.byol.loss.byol_objective). What the training
loop does around them, in plain sight there (byol3d.pretrain): `freeze_for_training` (the target, and
the parts of PointNeXt no loss reads), the DistributedDataParallel wrapper, and the EMA update of the
target (byol3d.byol.ema.ema_update). Each view goes through the backbone and heads separately, as in
the paper, so BatchNorm statistics are per view. Sampling and grouping depend on coordinates only: each
view's NeighbourPlan is computed once and used by both networks.

Representations compared (`loss`, kinds joined by "+", e.g. "region+dense"): "global" pools the last
encoder stage per scene view (byol3d.byol.loss.pool_scenes); "dense" compares decoder features point by
point on the points the two views share; "region" averages those shared points' decoder features per
cell of a coarse grid (byol3d.byol.loss.region_ids). PointNeXt's segmentation head is never used here;
with the global loss alone the decoder is not used either (`freeze_for_training` freezes both).
With `mask_ratio` > 0 the online network sees each view with the input features of random grid cells
hidden (byol3d.byol.masking, after MSC and Sonata), while the target sees it whole.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from byol3d.byol.heads import MLPHead
from byol3d.byol.loss import match_views, pool_regions, pool_scenes, region_ids
from byol3d.byol.masking import mask_cells, masked_view
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import NeighbourPlan, PointNeXt
from byol3d.ops import offset_to_batch

KINDS = ("global", "region", "dense")  # the representations BYOL can compare, in the order they are summed


def loss_kinds(loss: str) -> tuple[str, ...]:
    """The kinds a loss name such as "region+dense" compares, in KINDS order; ValueError when not valid."""
    parts = loss.split("+") if isinstance(loss, str) else []
    if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(KINDS):
        raise ValueError(f"loss must be kinds of {list(KINDS)} joined by '+' (each at most "
                         f"once), e.g. 'region+dense'; got {loss!r}")
    return tuple(k for k in KINDS if k in parts)


@dataclass
class SharedPoints:
    """Points both views hold, as rows of each view, with their region for the region loss."""

    rows1: torch.Tensor  # (P,) rows of view 1
    rows2: torch.Tensor  # (P,) rows of view 2 holding the same original points
    region: torch.Tensor | None  # (P,) region of each pair in [0, num_regions), None without a region loss
    num_regions: int


class ProjectedBackbone(nn.Module):
    """PointNeXt + one projector per representation kind: the part the target network copies."""

    def __init__(self, cfg: PointNeXtConfig, loss: str, pool: str, proj_hidden: int, proj_out: int):
        super().__init__()
        self.kinds, self.pool = loss_kinds(loss), pool
        self.pointwise = any(k in self.kinds for k in ("region", "dense"))  # reads the decoder
        self.backbone = PointNeXt(cfg)
        dims = {"global": self.backbone.encoder_channels[-1], "region": self.backbone.decoder_channels,
                "dense": self.backbone.decoder_channels}
        self.projectors = nn.ModuleDict({k: MLPHead(dims[k], proj_hidden, proj_out) for k in self.kinds})

    def plan(self, view: dict) -> NeighbourPlan:
        """The view's neighbour indices (decoder included only when the region or dense loss reads it)."""
        return self.backbone.plan(view, decoder=self.pointwise)

    def forward(self, view: dict, plan: NeighbourPlan, rows: torch.Tensor | None,
                shared: SharedPoints | None) -> dict[str, torch.Tensor]:
        """One view and its plan -> {'global': z (B, d), 'region': z (R, d), 'dense': z (P, d)} (the kinds
        of the loss); `rows` (P,) are this view's rows of the `shared` points."""
        enc = self.backbone.encode(view, plan)
        out = {}
        if "global" in self.kinds:
            out["global"] = self.projectors["global"](pool_scenes(enc.feats[-1], enc.offsets[-1], self.pool))
        if self.pointwise:
            point_feats = self.backbone.decode(enc, plan)[rows]  # (P, C) at the shared points
        if "region" in self.kinds:
            pooled = pool_regions(point_feats, shared.region, shared.num_regions)  # (R, C)
            out["region"] = self.projectors["region"](pooled)
        if "dense" in self.kinds:
            out["dense"] = self.projectors["dense"](point_feats)
        return out


class OnlineNetwork(nn.Module):
    """ProjectedBackbone + predictors; forward takes both views so DDP sees a single call."""

    def __init__(self, net: ProjectedBackbone, proj_hidden: int, proj_out: int):
        super().__init__()
        self.net = net
        self.predictors = nn.ModuleDict({k: MLPHead(proj_out, proj_hidden, proj_out) for k in net.kinds})

    def forward(self, view1: dict, plan1: NeighbourPlan, view2: dict, plan2: NeighbourPlan,
                shared: SharedPoints | None) -> dict[str, torch.Tensor]:
        """-> {'z_<kind>': (2, M, d) projections, 'q_<kind>': (2, M, d) predictions}, view axis first."""
        out = {}
        rows1, rows2 = (None, None) if shared is None else (shared.rows1, shared.rows2)
        per_view = [self.net(view1, plan1, rows1, shared), self.net(view2, plan2, rows2, shared)]
        for kind in self.net.kinds:
            z = [p[kind] for p in per_view]
            out[f"z_{kind}"] = torch.stack(z)
            out[f"q_{kind}"] = torch.stack([self.predictors[kind](zi) for zi in z])
        return out


class BYOL(nn.Module):
    """Online and target networks (see the module docstring): forward(view1, view2) -> outputs."""

    def __init__(self, cfg: PointNeXtConfig, loss: str = "global", pool: str = "mean", proj_hidden: int = 4096,
                 proj_out: int = 256, dense_pairs: int = 1024, region_size: float = 0.5, mask_ratio: float = 0.0,
                 mask_size: float = 0.2):
        super().__init__()
        self.dense_pairs, self.region_size = dense_pairs, region_size
        self.mask_ratio, self.mask_size = mask_ratio, mask_size  # online views' masked cells (byol3d.byol.masking)
        self.online = OnlineNetwork(ProjectedBackbone(cfg, loss, pool, proj_hidden, proj_out), proj_hidden, proj_out)
        self.target = copy.deepcopy(self.online.net)  # moved only by the EMA update of the training loop

    @property
    def kinds(self) -> tuple[str, ...]:
        """The representation kinds the loss compares, in KINDS order."""
        return self.online.net.kinds

    @property
    def encoder(self) -> PointNeXt:
        """The online PointNeXt: what pre-training produces and `encoder.pt` exports."""
        return self.online.net.backbone

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.online.parameters() if p.requires_grad]

    def match(self, view1: dict, view2: dict, generator: torch.Generator | None) -> SharedPoints | None:
        """The shared points the region and dense losses compare (None when neither is used); regions are
        cells of a `region_size` grid over view 1's coordinates, so a region holds the same points in both."""
        if not self.online.net.pointwise:
            return None
        rows1, rows2 = match_views(view1["index"], view1["offset"], view2["index"], view2["offset"],
                                   self.dense_pairs, generator)
        if "region" not in self.kinds:
            return SharedPoints(rows1, rows2, None, 0)
        scene = offset_to_batch(view1["offset"]).to(rows1.device)[rows1]
        region, num_regions = region_ids(view1["coord"][rows1], scene, self.region_size)
        return SharedPoints(rows1, rows2, region, num_regions)

    def online_view(self, view: dict, generator: torch.Generator | None) -> dict:
        """What the online network sees of a view: the view itself, or with `mask_ratio` of its grid cells'
        input features hidden (the target always sees the whole view)."""
        if self.mask_ratio == 0.0:
            return view
        return masked_view(view, mask_cells(view["coord"], view["offset"], self.mask_size, self.mask_ratio, generator))

    def forward(self, view1: dict, view2: dict, generator: torch.Generator | None = None,
                share_plans: bool = True) -> dict[str, torch.Tensor]:
        """Both views (offset batches) -> for each kind of the loss, view axis first: 'q_<kind>' (2, M, d)
        online predictions, 'z_<kind>' (2, M, d) online projections, 't_<kind>' (2, M, d) target
        projections (no gradient). `generator` draws the shared points (then the masks). share_plans=False
        makes the target search its own (identical) neighbours: the reference path bench/train_step.py times."""
        shared = self.match(view1, view2, generator)
        rows1, rows2 = (None, None) if shared is None else (shared.rows1, shared.rows2)
        plan1, plan2 = self.online.net.plan(view1), self.online.net.plan(view2)
        online1, online2 = self.online_view(view1, generator), self.online_view(view2, generator)
        out = self.online(online1, plan1, online2, plan2, shared)
        if not share_plans:
            plan1, plan2 = self.target.plan(view1), self.target.plan(view2)
        with torch.no_grad():
            target = [self.target(view1, plan1, rows1, shared), self.target(view2, plan2, rows2, shared)]
        for kind in self.kinds:
            out[f"t_{kind}"] = torch.stack([t[kind] for t in target])
        return out


def freeze_for_training(model: BYOL) -> None:
    """Turn off gradients where BYOL must not learn: the target (it moves only by the EMA update),
    PointNeXt's segmentation head (no loss reads it) and, when only the global loss is used, the decoder
    (it then stays at its initialisation). The optimiser takes `model.trainable_parameters()` after this."""
    model.target.requires_grad_(False)
    model.encoder.head.requires_grad_(False)
    if not model.online.net.pointwise:
        model.encoder.decoder.requires_grad_(False)
