"""Whole-scene evaluation: voxelise, predict, scatter back to every original vertex, accumulate.

The network sees each validation scene voxelised (one point per voxel, as in training). With
`crop_points` set, a scene is predicted as overlapping crops of the training crop size (each re-centred
as training crops are; class probabilities summed where crops overlap, as Pointcept's fragment testing
does), so the network and a linear probe on its features see at test time the context they were trained
on: the head's scene-max feature and the x/y input channels then mean the same thing in training and
evaluation. Crops go through the network several at a time, as one offset batch. With
`crop_points=None` the scene goes through the network in one pass. The benchmark however scores the
original mesh vertices. Every vertex takes the prediction of the voxel point it fell into (the
`inverse` map of the voxelisation), and the confusion matrix is accumulated over all vertices of all
scenes with the full-resolution labels (IGNORE_INDEX excluded), as the ScanNet benchmark does (Dai et al., CVPR 2017).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from byol3d.data.dataset import SegmentationDataset
from byol3d.data.labels import NUM_CLASSES
from byol3d.eval.features import scene_batches
from byol3d.eval.metrics import confusion_matrix
from byol3d.eval.plan_cache import PlanCache
from byol3d.ops.common import scene_ranges
from byol3d.transforms.crop import tile_crops


def scatter_to_vertices(pred: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """pred (N,) per voxel point, inverse (V,) vertex -> row of pred  ->  (V,) prediction per vertex."""
    if inverse.numel() and (int(inverse.min()) < 0 or int(inverse.max()) >= pred.shape[0]):
        raise ValueError(f"inverse map points outside the {pred.shape[0]} predicted rows "
                         f"(min {int(inverse.min())}, max {int(inverse.max())})")
    return pred[inverse.to(pred.device)]


TILES_PER_PASS = 8  # crops predicted together in one offset batch (results do not depend on it)


def crop_batch(batch: dict, tiles: list[torch.Tensor]) -> dict:
    """Offset batch of crops of `batch`, one scene per tile (rows (K_t,) each), x/y re-centred on each
    crop's mean as training crops are (byol3d.data.dataset); feat columns 0-2 are the coordinates
    (byol3d.transforms.features). Every network op works per scene, so a crop's prediction does not
    depend on the crops it is batched with."""
    coords, feats = [], []
    for rows in tiles:
        coord, feat = batch["coord"][rows].clone(), batch["feat"][rows].clone()  # (K_t, 3), (K_t, C)
        shift = coord[:, :2].mean(dim=0)  # (2,)
        coord[:, :2] -= shift
        feat[:, :2] -= shift
        coords.append(coord)
        feats.append(feat)
    offset = torch.cumsum(torch.tensor([len(rows) for rows in tiles]), 0).to(batch["coord"].device)  # (T,)
    return {"coord": torch.cat(coords), "feat": torch.cat(feats), "offset": offset}


def _scene_tiles(batch: dict, crop_points: int) -> list[torch.Tensor]:
    """Training-size crops (tile_crops) of every scene of the batch -> global rows (K_t,) of each."""
    tiles = []
    for start, end in scene_ranges(batch["offset"].tolist()):
        for rows in tile_crops(batch["coord"][start:end].cpu().numpy(), crop_points):
            tiles.append(torch.from_numpy(rows).to(batch["coord"].device) + start)
    return tiles


def _logits(model: nn.Module, batch: dict, plans: PlanCache | None) -> torch.Tensor:
    """model(batch), with the batch's neighbour plan from `plans` when given (see the module docstring)."""
    return model(batch) if plans is None else model(batch, plans.plan(model, batch))


@torch.no_grad()
def predict_scores(model: nn.Module, batch: dict, crop_points: int | None = None,
                   tiles_per_pass: int = TILES_PER_PASS, plans: PlanCache | None = None) -> torch.Tensor:
    """batch -> per-point class scores (N, C): logits of one pass (crop_points None), or class
    probabilities summed over the overlapping training-size crops that hold each point (predicted
    `tiles_per_pass` crops at a time)."""
    if crop_points is None:
        return _logits(model, batch, plans)
    tiles = _scene_tiles(batch, crop_points)
    scores = None
    for first in range(0, len(tiles), tiles_per_pass):
        group = tiles[first:first + tiles_per_pass]
        probs = torch.softmax(_logits(model, crop_batch(batch, group), plans).float(), dim=1)  # (sum K_t, C)
        scores = probs.new_zeros(len(batch["coord"]), probs.shape[1]) if scores is None else scores
        scores.index_add_(0, torch.cat(group), probs)
    return scores


@torch.no_grad()
def predict_scene(model: nn.Module, batch: dict, crop_points: int | None = None,
                  plans: PlanCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole-scene batch -> (voxel predictions (N,), vertex predictions (V,)); the model must be in
    eval mode. `crop_points`, `plans`: see the module docstring."""
    if model.training:
        raise ValueError("call model.eval() before predicting (BatchNorm, dropout)")
    pred = predict_scores(model, batch, crop_points, plans=plans).argmax(dim=1)  # (N,)
    return pred, scatter_to_vertices(pred, batch["inverse"])


def evaluate(model: nn.Module, dataset: SegmentationDataset, device: torch.device,
             num_classes: int = NUM_CLASSES, crop_points: int | None = None,
             plans: PlanCache | None = None) -> np.ndarray:
    """(C, C) confusion over every original vertex of every scene of `dataset` (train=False items).

    `model(batch) -> logits (N, C)`: a PointNeXt or a frozen network with a linear probe on top;
    `crop_points`: predict in training-size crops; `plans`: a PlanCache shared between evaluations, whose
    plans `model(batch, plan)` takes (see the module docstring).
    """
    if dataset.train:
        raise ValueError("evaluate needs whole scenes (a dataset with train=False, e.g. EvalDataset)")
    model.eval()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch in scene_batches(dataset, device, desc="evaluating"):
        _, vertex_pred = predict_scene(model, batch, crop_points, plans)
        confusion += confusion_matrix(vertex_pred, batch["vertex_label"], num_classes)
    return confusion
