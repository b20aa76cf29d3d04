"""Frozen per-point features of a PointNeXt, for the linear probe and for t-SNE / UMAP pictures.

A frozen network is in eval mode (BatchNorm uses its running statistics and never updates them) and
has no parameter that requires a gradient; features are computed under `torch.no_grad()`. Two kinds of
per-point features, following the multi-scale linear-probing protocol of 3D self-supervised learning
(Sonata / MSC: frozen encoder, every stage brought back to the points and concatenated):

- "hypercolumn": every encoder stage 3-NN interpolated to the input points, concatenated (sum_s C_s);
- "decoder": the decoder's per-point output (width channels);
- "both": the two concatenated;
- "input": the network's own 7 input channels (xyz, colour, height), no network at all: the probe on
  these is the raw-feature floor every learnt representation must beat.

Both frozen arms (random-init and BYOL) can have their BatchNorm statistics re-estimated on the probe's
own training crops (`recalibrate_batchnorm`) before they are frozen, so neither keeps statistics from
another data distribution: a fresh network's identity statistics, or BYOL's strongly augmented views.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # plain bars: widget bars break the offline HTML report

from byol3d.data.dataset import SegmentationDataset, batch_to, collate_scenes
from byol3d.data.labels import IGNORE_INDEX
from byol3d.eval.plan_cache import PlanCache
from byol3d.models.pointnext import EncoderOutput, NeighbourPlan, PointNeXt
from byol3d.ops.common import scene_ranges

FEATURE_KINDS = ("hypercolumn", "decoder", "both", "input")


def _check_kind(kind: str) -> None:
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; known: {list(FEATURE_KINDS)}")


def freeze(model: PointNeXt) -> PointNeXt:
    """Eval mode (BatchNorm running statistics fixed) and no gradients; returns the same model."""
    model.eval()
    model.requires_grad_(False)
    return model


def feature_dim(model: PointNeXt, kind: str) -> int:
    """Channels of `extract_features(model, batch, kind)`."""
    _check_kind(kind)
    dims = {"hypercolumn": sum(model.encoder_channels), "decoder": model.decoder_channels,
            "input": model.cfg.in_channels}
    dims["both"] = dims["hypercolumn"] + dims["decoder"]
    return dims[kind]


def _restrict(enc: EncoderOutput, rows: torch.Tensor) -> EncoderOutput:
    """The encoder output with stage 0 (the input points) cut down to `rows` (sorted, (R,)).

    The hypercolumn and the last decoder level are per-point functions of stage 0 (3-NN interpolation
    from coarser stages, then per-point layers; BatchNorm in eval mode), so features computed on the
    restricted output equal the full features at those rows, for a fraction of the time and memory.
    """
    offset = torch.searchsorted(rows, enc.offsets[0])  # (B,) rows before each scene's end
    return EncoderOutput([enc.coords[0][rows], *enc.coords[1:]], [offset, *enc.offsets[1:]],
                         [enc.feats[0][rows], *enc.feats[1:]])


@dataclass(frozen=True)
class FeaturePlan:
    """The neighbour search of one feature pass over `rows` of a batch (`iter_features`): sampling and grouping
    over every point (`encoder`), and the 3-NN interpolations onto the rows only (`rows`: stage 0 cut to the
    rows; the decoder's for kinds decoder / both, the hypercolumn's for hypercolumn / both). Coordinates and
    rows decide it, weights never: the random-init and BYOL arms of a seed, which see the same training crops
    and choose the same rows, can share it."""

    encoder: NeighbourPlan
    rows: NeighbourPlan

    def nbytes(self) -> int:
        """Bytes held (the coarser stages' coordinates, in both, counted twice)."""
        return self.encoder.nbytes() + self.rows.nbytes()


class FeaturePlanner:
    """A PlanCache's view of the feature passes of `model` over `rows`: `plan_key` names what besides the
    batch's coordinates decides the FeaturePlan (neighbour settings, feature kind, the rows), `plan` searches it."""

    def __init__(self, model: PointNeXt, kind: str, rows: torch.Tensor):
        _check_kind(kind)
        self.model, self.kind, self.rows = model, kind, rows

    def plan_key(self) -> tuple:
        rows = hashlib.blake2b(self.rows.cpu().numpy().tobytes(), digest_size=16).hexdigest()
        return "features", self.model.plan_key(decoder=False), self.kind, rows

    def plan(self, batch: dict) -> FeaturePlan:
        encoder = self.model.plan(batch, decoder=False)
        decoder, to_points = self.kind in ("decoder", "both"), self.kind in ("hypercolumn", "both")
        return FeaturePlan(encoder, self.model.plan_onto_rows(encoder, self.rows, decoder, to_points))


def _chunk_rows(plan: NeighbourPlan | None, start: int, end: int) -> NeighbourPlan | None:
    """A rows plan's hypercolumn interpolations for rows[start:end] only."""
    if plan is None or plan.to_points is None:
        return plan
    return dataclasses.replace(plan, to_points=[None if p is None else (p[0][start:end], p[1][start:end])
                                                for p in plan.to_points])


@torch.no_grad()
def iter_features(model: PointNeXt, batch: dict, kind: str, rows: torch.Tensor | None = None,
                  chunk: int = 65536, plan: FeaturePlan | None = None) -> Iterator[torch.Tensor]:
    """Per-point features of `rows` (sorted (R,) indices into the batch; None = every point), yielded
    `chunk` points at a time as (r, feature_dim) tensors. The encoder runs once on the whole batch;
    chunking keeps memory bounded on large scenes (a hypercolumn is ~1000 floats per point). `plan`: the
    pass's FeaturePlan for these rows (`FeaturePlanner(model, kind, rows).plan(batch)`; searched here when None)."""
    _check_kind(kind)
    if model.training:
        raise ValueError("the network is in training mode; call freeze(model) first so that "
                         "BatchNorm uses (and keeps) its running statistics")
    if rows is None:
        rows = torch.arange(len(batch["coord"]), device=batch["coord"].device)
    if kind == "input":
        for start in range(0, len(rows), chunk):
            yield batch["feat"][rows[start:start + chunk]]  # (r, in_channels)
        return
    enc = model.encode(batch, None if plan is None else plan.encoder)
    onto_rows = None if plan is None else plan.rows
    decoded = None
    if kind in ("decoder", "both"):  # width floats per point: small enough to decode all rows at once
        decoded = model.decode(_restrict(enc, rows), onto_rows)  # (R, width)
    for start in range(0, len(rows), chunk):
        parts = []
        if kind in ("hypercolumn", "both"):
            end = start + chunk
            parts.append(model.hypercolumn(_restrict(enc, rows[start:end]),
                                           _chunk_rows(onto_rows, start, end)))  # (r, sum C_s)
        if decoded is not None:
            parts.append(decoded[start:start + chunk])  # (r, width)
        yield torch.cat(parts, dim=1)


def extract_features(model: PointNeXt, batch: dict, kind: str, rows: torch.Tensor | None = None,
                     chunk: int = 65536, plan: FeaturePlan | None = None) -> torch.Tensor:
    """batch {coord (N, 3), feat (N, 7), offset (B,)} -> frozen features (R, feature_dim) of `rows`
    (every point when None), computed without gradients; see `iter_features`."""
    parts = list(iter_features(model, batch, kind, rows, chunk, plan))
    return torch.cat(parts) if parts else torch.zeros(0, feature_dim(model, kind), device=batch["coord"].device)


@torch.no_grad()
def recalibrate_batchnorm(model: PointNeXt, batches: Iterable[dict], plans: PlanCache | None = None) -> PointNeXt:
    """Replace every BatchNorm's running mean / variance by their plain average over `batches` (train-mode
    forward passes without gradients; weights untouched); returns the model in eval mode. `plans`: the
    batches' neighbour plans are taken from (and kept in) this cache."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the passes below
    model.train()
    seen = 0
    for batch in batches:
        model(batch, None if plans is None else plans.plan(model, batch))
        seen += 1
    if seen == 0:
        raise ValueError("recalibrate_batchnorm got no batch")
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return model.eval()


def scene_batches(dataset: SegmentationDataset, device: torch.device, desc: str,
                  scenes_per_batch: int = 1) -> Iterator[dict]:
    """Offset batches of `scenes_per_batch` consecutive scenes (whole scenes when dataset.train is False)
    moved to `device`, with a progress bar. Every network op works per scene, so a frozen network's
    output for a scene does not depend on the scenes batched with it; batching only saves per-pass work."""
    if scenes_per_batch < 1:
        raise ValueError(f"scenes_per_batch must be >= 1, got {scenes_per_batch}")
    for first in tqdm(range(0, len(dataset), scenes_per_batch), desc=desc, leave=False):
        items = [dataset[i] for i in range(first, min(first + scenes_per_batch, len(dataset)))]
        yield batch_to(collate_scenes(items), device)


def sample_points(labels: np.ndarray, count: int, balanced: bool, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of up to `count` labelled points (IGNORE_INDEX never chosen).

    balanced=False: a uniform random subset. balanced=True: up to `count // classes present` points
    of every class present, so rare classes are as visible as walls and floors in an embedding plot.
    """
    labelled = np.flatnonzero(labels != IGNORE_INDEX)
    if not balanced:
        return np.sort(rng.choice(labelled, size=min(count, len(labelled)), replace=False))
    classes = np.unique(labels[labelled])
    per_class = max(1, count // max(len(classes), 1))
    chosen = []
    for cls in classes:
        rows = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else labelled[:0]


def collect_features(model: PointNeXt, dataset: SegmentationDataset, kind: str, device: torch.device,
                     points_per_scene: int, balanced: bool = False, seed: int = 0,
                     scenes_per_batch: int = 1, plans: PlanCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features of up to `points_per_scene` labelled points of every scene, computed once,
    `scenes_per_batch` scenes per network pass (the same points and, up to float rounding, the same
    features whatever the batching). `plans`: each pass's FeaturePlan is taken from (and kept in) this
    cache, so another frozen network with the same neighbour settings on the same crops and rows skips the
    search (the same features as without it).

    Returns features (M, feature_dim) float32 and labels (M,) int64, both on the CPU. This is the
    in-memory feature cache the linear probe trains on, and the sample behind the embedding plots.
    """
    if model.training:
        raise ValueError("collect_features needs a frozen network; call freeze(model) first")
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for batch in scene_batches(dataset, device, f"features ({kind})", scenes_per_batch):
        label = batch["label"].cpu().numpy()  # (N,)
        rows = torch.from_numpy(np.concatenate([  # (R,) sorted batch rows, scene by scene
            start + sample_points(label[start:end], points_per_scene, balanced, rng)
            for start, end in scene_ranges(batch["offset"].tolist())]))
        on_device = rows.to(device)
        plan = None if plans is None or kind == "input" else plans.plan(FeaturePlanner(model, kind, on_device), batch)
        feats.append(extract_features(model, batch, kind, on_device, plan=plan).float().cpu())
        labels.append(torch.from_numpy(label)[rows])
    return torch.cat(feats), torch.cat(labels)
