"""The BYOL module for point clouds (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

    online:  PointNeXt (encoder + decoder) -> projector(s) -> predictor(s)     trained by gradients
    target:  PointNeXt (encoder + decoder) -> projector(s)                      EMA of the online one

The target is a deep copy of the online backbone + projectors with `requires_grad=False`; it changes
only through `update_target(tau)` (byol3d.byol.ema). Both views of a step go through one call of the
online network (so DistributedDataParallel sees one forward per backward) but through the backbone
and heads separately, as in the paper, so BatchNorm statistics are per view. Sampling and grouping
depend on coordinates only: each view's NeighbourPlan is computed once and used by both networks.

Variants (`loss`): "global" pools the last encoder stage per scene view (byol3d.byol.loss.pool_scenes);
"dense" compares decoder features point by point on the points the two views share; "both" adds them,
dense weighted by `dense_weight`. PointNeXt's segmentation head is never used here and is frozen; with
the global loss alone the decoder gets no gradient and is frozen too (it stays at its initialisation).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from byol3d.byol.ema import ema_update
from byol3d.byol.heads import MLPHead
from byol3d.byol.loss import match_views, pool_scenes, symmetric_loss
from byol3d.byol.monitor import collapse_std, mean_cosine
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import NeighbourPlan, PointNeXt

LOSSES = ("global", "dense", "both")


def _kinds(loss: str) -> tuple[str, ...]:
    """Which representations a loss variant uses: ('global',), ('dense',) or both."""
    if loss not in LOSSES:
        raise ValueError(f"byol3d.byol.model: loss must be one of {list(LOSSES)}, got {loss!r}")
    return ("global", "dense") if loss == "both" else (loss,)


class ProjectedBackbone(nn.Module):
    """PointNeXt + one projector per representation kind: the part the target network copies."""

    def __init__(self, cfg: PointNeXtConfig, loss: str, pool: str, proj_hidden: int, proj_out: int):
        super().__init__()
        self.kinds, self.pool = _kinds(loss), pool
        self.backbone = PointNeXt(cfg)
        self.backbone.head.requires_grad_(False)
        if "dense" not in self.kinds:
            self.backbone.decoder.requires_grad_(False)
        dims = {"global": self.backbone.encoder_channels[-1], "dense": self.backbone.decoder_channels}
        self.projectors = nn.ModuleDict({k: MLPHead(dims[k], proj_hidden, proj_out) for k in self.kinds})

    def plan(self, view: dict) -> NeighbourPlan:
        """The view's neighbour indices (decoder included only when the dense loss reads it)."""
        return self.backbone.plan(view, decoder="dense" in self.kinds)

    def forward(self, view: dict, rows: torch.Tensor | None, plan: NeighbourPlan) -> dict[str, torch.Tensor]:
        """One view and its plan -> {'global': z (B, d)} and/or {'dense': z (P, d)} for the matched
        `rows` (P,)."""
        enc = self.backbone.encode(view, plan)
        out = {}
        if "global" in self.kinds:
            out["global"] = self.projectors["global"](pool_scenes(enc.feats[-1], enc.offsets[-1], self.pool))
        if "dense" in self.kinds:
            out["dense"] = self.projectors["dense"](self.backbone.decode(enc, plan)[rows])
        return out


class OnlineNetwork(nn.Module):
    """ProjectedBackbone + predictors; forward takes both views so DDP sees a single call."""

    def __init__(self, net: ProjectedBackbone, proj_hidden: int, proj_out: int):
        super().__init__()
        self.net = net
        self.predictors = nn.ModuleDict({k: MLPHead(proj_out, proj_hidden, proj_out) for k in net.kinds})

    def forward(self, view1: dict, rows1, plan1: NeighbourPlan, view2: dict, rows2,
                plan2: NeighbourPlan) -> dict[str, torch.Tensor]:
        """-> {'z_<kind>': (2, M, d) projections, 'q_<kind>': (2, M, d) predictions}, view axis first."""
        out = {}
        per_view = [self.net(view1, rows1, plan1), self.net(view2, rows2, plan2)]
        for kind in self.net.kinds:
            z = [p[kind] for p in per_view]
            out[f"z_{kind}"] = torch.stack(z)
            out[f"q_{kind}"] = torch.stack([self.predictors[kind](zi) for zi in z])
        return out


class BYOL(nn.Module):
    """Online and target networks plus the loss of one step (see the module docstring)."""

    def __init__(self, cfg: PointNeXtConfig, loss: str = "global", pool: str = "mean", proj_hidden: int = 4096,
                 proj_out: int = 256, dense_weight: float = 1.0, dense_pairs: int = 1024):
        super().__init__()
        self.loss_kind, self.dense_weight, self.dense_pairs = loss, dense_weight, dense_pairs
        self.online = OnlineNetwork(ProjectedBackbone(cfg, loss, pool, proj_hidden, proj_out), proj_hidden, proj_out)
        self.target = copy.deepcopy(self.online.net)
        self.target.requires_grad_(False)

    @property
    def encoder(self) -> PointNeXt:
        """The online PointNeXt: what pre-training produces and `encoder.pt` exports."""
        return self.online.net.backbone

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.online.parameters() if p.requires_grad]

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """target <- tau * target + (1 - tau) * online (parameters and buffers, byol3d.byol.ema)."""
        ema_update(self.online.net, self.target, tau)

    def match(self, view1: dict, view2: dict, generator: torch.Generator | None) -> tuple:
        """Matched rows (rows1, rows2) for the dense loss, (None, None) when it is not used."""
        if "dense" not in self.online.net.kinds:
            return None, None
        return match_views(view1["index"], view1["offset"], view2["index"], view2["offset"],
                           self.dense_pairs, generator)

    def step_loss(self, view1: dict, view2: dict, online: nn.Module | None = None,
                  generator: torch.Generator | None = None,
                  share_plans: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss of one step and its metrics; `online` is the (possibly DDP-wrapped) online net.
        share_plans=False makes the target search its own (identical) neighbours: the reference
        path that bench/train_step.py times; the loss is the same either way."""
        rows1, rows2 = self.match(view1, view2, generator)
        plan1, plan2 = self.online.net.plan(view1), self.online.net.plan(view2)
        out = (self.online if online is None else online)(view1, rows1, plan1, view2, rows2, plan2)
        if not share_plans:
            plan1, plan2 = self.target.plan(view1), self.target.plan(view2)
        with torch.no_grad():
            target = [self.target(view1, rows1, plan1), self.target(view2, rows2, plan2)]
        losses, metrics = {}, {}
        for kind in self.online.net.kinds:
            z, q = out[f"z_{kind}"], out[f"q_{kind}"]
            zt = [t[kind] for t in target]
            losses[kind] = symmetric_loss(q[0], zt[1], q[1], zt[0])  # view 1 predicts view 2 and back
            metrics[f"loss_{kind}"] = float(losses[kind].detach())
            metrics[f"collapse_std_{kind}"] = collapse_std(torch.cat([z[0], z[1]]))
            metrics[f"cos_online_target_{kind}"] = mean_cosine(torch.cat([z[0], z[1]]), torch.cat(zt))
        if self.loss_kind == "both":
            total = losses["global"] + self.dense_weight * losses["dense"]
        else:
            total = losses[self.loss_kind]
        main = "dense" if "dense" in losses else "global"  # more rows -> steadier monitor
        metrics["collapse_std"] = metrics[f"collapse_std_{main}"]
        metrics["cos_online_target"] = metrics[f"cos_online_target_{main}"]
        metrics["loss"] = float(total.detach())
        return total, metrics
