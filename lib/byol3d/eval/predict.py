"""Whole-scene evaluation: voxelise, predict, scatter back to every original vertex, accumulate.

The network sees each validation scene voxelised (one point per 2 cm voxel, as in training); the
benchmark however scores the original mesh vertices. Every vertex takes the prediction of the voxel
point it fell into (the `inverse` map of the voxelisation), and the confusion matrix is accumulated
over all vertices of all scenes with the full-resolution labels (IGNORE_INDEX excluded), as the ScanNet
benchmark does (Dai et al., CVPR 2017).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from byol3d.data.dataset import SegmentationDataset
from byol3d.data.labels import NUM_CLASSES
from byol3d.eval.features import scene_batches
from byol3d.eval.metrics import confusion_matrix

WHERE = "byol3d/eval/predict.py"


def scatter_to_vertices(pred: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """pred (N,) per voxel point, inverse (V,) vertex -> row of pred  ->  (V,) prediction per vertex."""
    if inverse.numel() and (int(inverse.min()) < 0 or int(inverse.max()) >= pred.shape[0]):
        raise ValueError(f"{WHERE}: inverse map points outside the {pred.shape[0]} predicted rows "
                         f"(min {int(inverse.min())}, max {int(inverse.max())})")
    return pred[inverse.to(pred.device)]


@torch.no_grad()
def predict_scene(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole-scene batch -> (voxel predictions (N,), vertex predictions (V,)); the model must be in eval mode."""
    if model.training:
        raise ValueError(f"{WHERE}: call model.eval() before predicting (BatchNorm, dropout)")
    pred = model(batch).argmax(dim=1)  # (N,)
    return pred, scatter_to_vertices(pred, batch["inverse"])


def evaluate(model: nn.Module, dataset: SegmentationDataset, device: torch.device,
             num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(C, C) confusion over every original vertex of every scene of `dataset` (train=False items).

    `model(batch) -> logits (N, C)`: a PointNeXt or a frozen network with a linear probe on top.
    """
    if dataset.train:
        raise ValueError(f"{WHERE}: evaluate needs whole scenes (a dataset with train=False, e.g. EvalDataset)")
    model.eval()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch in scene_batches(dataset, device, desc="evaluating"):
        _, vertex_pred = predict_scene(model, batch)
        confusion += confusion_matrix(vertex_pred, batch["vertex_label"], num_classes)
    return confusion
