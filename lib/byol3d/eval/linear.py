"""Linear probe on frozen features: a non-learned normalisation, then one linear layer.

The probe measures how linearly separable the ScanNet20 classes are in a frozen network's per-point
features (the linear-probing protocol of 3D self-supervised learning: Sonata, MSC). Features are
computed once per training scene (byol3d.eval.features.collect_features), so training the linear layer
is a few hundred cheap steps of Adam on an in-memory matrix.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm  # plain bars: widget bars break the offline HTML report

from byol3d.data.labels import IGNORE_INDEX
from byol3d.eval.features import freeze, iter_features
from byol3d.models.pointnext import NeighbourPlan, PointNeXt

NORMALIZATIONS = ("standardize", "l2", "none")


def _column_std(feats: torch.Tensor, mean: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Sample standard deviation (D,) of every column of feats (N, D) around its `mean` (D,); NaN for N < 2,
    as torch.std. Sums of squared deviations chunk by chunk: on a probe's (~500k, ~1000) feature cache
    this takes a third of the time of torch's column-wise std on the CPU."""
    if len(feats) < 2:
        return torch.full_like(mean, torch.nan)
    total = torch.zeros(feats.shape[1], dtype=torch.float64, device=feats.device)  # (D,)
    for part in feats.split(chunk):
        deviation = part - mean  # (chunk, D)
        total += (deviation * deviation).sum(dim=0).double()
    return (total / (len(feats) - 1)).sqrt().to(mean.dtype)


class LinearProbe(nn.Module):
    """features (N, D) -> normalised -> logits (N, classes).

    normalize: "standardize" (per-feature mean / std of the training features, stored as buffers, so the
    same shift and scale apply at evaluation), "l2" (each point's feature vector to unit length) or "none".
    """

    def __init__(self, in_dim: int, num_classes: int, normalize: str):
        super().__init__()
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalisation {normalize!r}; known: {list(NORMALIZATIONS)}")
        self.normalize = normalize
        self.register_buffer("mean", torch.zeros(in_dim))  # (D,)
        self.register_buffer("std", torch.ones(in_dim))  # (D,)
        self.linear = nn.Linear(in_dim, num_classes)

    @torch.no_grad()
    def fit_normalization(self, feats: torch.Tensor) -> None:
        """Set mean / std from the training features (N, D); constant features get std 1."""
        if self.normalize == "standardize":
            self.mean.copy_(feats.mean(dim=0))
            std = _column_std(feats, self.mean)
            self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (classes, D), bias (classes,)) of the standardised probe as one linear map of the raw
        features: W (x - mean) / std + b = (W / std) x + (b - (W / std) mean)."""
        weight = self.linear.weight / self.std  # (classes, D)
        return weight, self.linear.bias - weight @ self.mean

    def normalized(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (N, D) as the linear layer sees them: standardised, unit length or unchanged."""
        if self.normalize == "standardize":
            return (feats - self.mean) / self.std
        return F.normalize(feats, dim=1) if self.normalize == "l2" else feats

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.normalize == "standardize":
            # The shift and scale folded into the (classes, D) weights instead of applied to the (N, D)
            # features: a fraction of the memory traffic. In float32 even under autocast, since W x and
            # W mean nearly cancel.
            with torch.autocast(feats.device.type, enabled=False):
                return F.linear(feats.float(), *self.affine())
        return self.linear(self.normalized(feats))


class FrozenProbeModel(nn.Module):
    """A frozen PointNeXt and a linear probe on its features: batch -> logits (N, classes).

    `train()` never puts the backbone back in training mode: its BatchNorm statistics stay frozen.
    """

    def __init__(self, backbone: PointNeXt, probe: LinearProbe, kind: str):
        super().__init__()
        self.backbone = freeze(backbone)
        self.probe = probe
        self.kind = kind

    def train(self, mode: bool = True) -> "FrozenProbeModel":
        super().train(mode)
        self.backbone.eval()
        return self

    def _projects(self) -> bool:
        """Whether forward maps each stage to class scores before interpolating (_project_then_interpolate)."""
        return self.probe.normalize in ("standardize", "none") and self.kind in ("hypercolumn", "both")

    def _plan_parts(self) -> tuple[bool, bool]:
        """(decoder, to_points) of the backbone plan that forward reads: the hypercolumn's 3-NN always, the
        decoder's with kind "both". One place for both `plan_key` and `plan`, so a key never names another plan."""
        return self.kind == "both", True

    def plan_key(self) -> tuple | None:
        """What decides `plan(batch)` besides the batch's coordinates (None: forward takes no plan)."""
        return self.backbone.plan_key(*self._plan_parts()) if self._projects() else None

    def plan(self, batch: dict) -> NeighbourPlan | None:
        """The backbone's neighbour plan for `forward(batch, plan)` (None when forward takes none)."""
        return self.backbone.plan(batch, *self._plan_parts()) if self._projects() else None

    def forward(self, batch: dict, plan: NeighbourPlan | None = None) -> torch.Tensor:
        """batch -> logits (N, classes); `plan`: this batch's `plan(batch)`, computed here when None."""
        if self._projects():
            return self._project_then_interpolate(batch, self.plan(batch) if plan is None else plan)
        return torch.cat([self.probe(feats) for feats in iter_features(self.backbone, batch, self.kind)])

    @torch.no_grad()
    def _project_then_interpolate(self, batch: dict, plan: NeighbourPlan) -> torch.Tensor:
        """The probe's logits without building the (N, ~1000) hypercolumn: the probe and the 3-NN
        interpolation are both linear, so each stage's features are first mapped to class scores at the
        stage's own resolution (N_s, classes), and only those are interpolated to the points. The same
        function as probe(hypercolumn), computed in float32 (W x and W mean nearly cancel)."""
        net = self.backbone
        enc = net.encode(batch, plan)
        weight, bias = self.probe.affine()  # (classes, D), (classes,)
        blocks = weight.split([*net.encoder_channels, *([net.decoder_channels] if self.kind == "both" else [])], dim=1)
        with torch.autocast(batch["coord"].device.type, enabled=False):
            logits = F.linear(enc.feats[0].float(), blocks[0], bias)  # (N, classes)
            for s in range(1, len(enc.feats)):
                stage_scores = F.linear(enc.feats[s].float(), blocks[s])  # (N_s, classes)
                logits = logits + net.interpolate_to_points(enc, s, stage_scores, plan)
        if self.kind == "both":
            decoded = net.decode(enc, plan)  # (N, width)
            with torch.autocast(batch["coord"].device.type, enabled=False):
                logits = logits + F.linear(decoded.float(), blocks[-1])
        return logits


class MajorityClass(nn.Module):
    """The trivial floor: batch -> logits (N, classes) that always pick `class_index`."""

    def __init__(self, class_index: int, num_classes: int):
        super().__init__()
        self.register_buffer("logits", F.one_hot(torch.tensor(class_index), num_classes).float())  # (classes,)

    def plan_key(self) -> None:
        """No neighbour search: see FrozenProbeModel.plan_key."""
        return None

    def plan(self, batch: dict) -> None:
        """No neighbour search."""
        return None

    def forward(self, batch: dict, plan: None = None) -> torch.Tensor:
        """batch -> logits (N, classes), the same row for every point."""
        return self.logits.expand(len(batch["coord"]), -1)


@torch.no_grad()
def probe_accuracy(probe: LinearProbe, feats: torch.Tensor, labels: torch.Tensor, chunk: int = 65536) -> float:
    """Share of the labelled cached training points (M, D) / (M,) the fitted probe classifies right."""
    device = probe.linear.weight.device
    right = seen = 0
    for part, label in zip(feats.split(chunk), labels.split(chunk)):  # no copy of the whole cache
        keep = label != IGNORE_INDEX  # (chunk,)
        right += int((probe(part[keep].to(device)).argmax(1).cpu() == label[keep]).sum())
        seen += int(keep.sum())
    return right / max(seen, 1)


def _step_inputs(probe: LinearProbe, feats: torch.Tensor, bf16: bool, chunk: int = 65536) -> torch.Tensor:
    """The matrix (M, D) the training steps draw their rows from: the cache itself (float32, the probe's forward
    normalises), or with `bf16` its normalised rows in bfloat16, built chunk by chunk. A step's cost is its
    random gather of ~4,000 rows from a ~2 GB cache, bound by memory traffic: half the bytes take about half the
    time (bench/probe_cost.py, case linear_training). The rounding is the bf16 rounding of the rest of the run."""
    if not bf16:
        return feats
    inputs = torch.empty(feats.shape, dtype=torch.bfloat16, device=feats.device)  # (M, D)
    for start in range(0, len(feats), chunk):
        inputs[start:start + chunk] = probe.normalized(feats[start:start + chunk])
    return inputs


def train_linear(probe: LinearProbe, feats: torch.Tensor, labels: torch.Tensor, steps: int, lr: float,
                 weight_decay: float, batch_points: int, seed: int, bf16: bool = False) -> list[float]:
    """Fit the probe on cached features (M, D) / labels (M,) with Adam and cross-entropy (ignore -1).

    Mini-batches of `batch_points` random points (seeded); the learning rate decays by cosine to 0.
    `bf16`: the steps see the normalised features and the layer's weights in bfloat16 (`_step_inputs`; the
    weights and their updates stay float32). Returns the loss of every step.
    """
    keep = labels != IGNORE_INDEX
    if not bool(keep.all()):  # collect_features caches labelled points only: no copy of a ~2 GB cache then
        feats, labels = feats[keep], labels[keep]
    if len(labels) == 0:
        raise ValueError("no labelled training point to fit the linear probe on")
    device = probe.linear.weight.device
    feats, labels = feats.to(device), labels.to(device)
    probe.fit_normalization(feats)
    inputs = _step_inputs(probe, feats, bf16)  # (M, D)
    rows_per_step = min(batch_points, len(labels))
    batch = inputs.new_empty(rows_per_step, inputs.shape[1])  # (B, D), refilled every step
    optimizer = torch.optim.Adam(probe.linear.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    probe.train()
    for _ in tqdm(range(steps), desc="linear probe", leave=False):
        rows = torch.randint(len(labels), (rows_per_step,), generator=generator).to(device)
        torch.index_select(inputs, 0, rows, out=batch)
        if bf16:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                logits = probe.linear(batch).float()
        else:
            logits = probe(batch)
        loss = F.cross_entropy(logits, labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    probe.eval()
    return losses
