"""Semantic-segmentation metrics from a confusion matrix (ScanNet benchmark rule).

Every metric is derived from one (C, C) confusion matrix accumulated over all evaluated vertices,
rows = ground truth, columns = prediction. Vertices whose ground truth is IGNORE_INDEX (-1) are not
counted at all.

IoU of class c = TP / (TP + FP + FN). A class with TP + FP + FN == 0 (absent from the ground truth AND
never predicted) has an undefined IoU (NaN) and is left out of the mean: mIoU is the average over the
classes that appear in the ground truth or in the predictions. This is the rule of the ScanNet
benchmark's evaluation script (Dai et al., CVPR 2017), which returns NaN for such a class and averages
the others. mAcc (mean class accuracy, TP / ground-truth count) averages over the classes present in
the ground truth; OA (overall accuracy) is trace / total.
"""

from __future__ import annotations

import numpy as np
import torch

from byol3d.data.labels import IGNORE_INDEX, NUM_CLASSES, SCANNET20_NAMES


def confusion_matrix(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    num_classes: int = NUM_CLASSES,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """(C, C) int64 counts: entry [t, p] = vertices with ground truth t predicted as p.

    pred, target: (N,) integer class indices (torch on any device, or numpy). Ground-truth
    `ignore_index` is dropped; any other value outside [0, C) is an error (it would corrupt the counts).
    """
    if isinstance(pred, np.ndarray):
        pred = torch.from_numpy(pred)
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(target)
    pred = pred.reshape(-1).long()
    target = target.reshape(-1).long().to(pred.device)
    if pred.shape != target.shape:
        raise ValueError(f"metrics.confusion_matrix: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    for name, values in (("pred", pred), ("target", target)):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= num_classes):
            raise ValueError(f"metrics.confusion_matrix: {name} has values outside [0, {num_classes}) "
                             f"(min {int(values.min())}, max {int(values.max())})")
    flat = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """(C,) float IoU per class; NaN for a class absent from both ground truth and predictions."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp  # TP + FP + FN
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def accuracy_per_class(confusion: np.ndarray) -> np.ndarray:
    """(C,) float recall per class (TP / ground-truth count); NaN for a class absent from the ground truth."""
    confusion = np.asarray(confusion, dtype=np.float64)
    support = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, np.diag(confusion) / support, np.nan)


def class_shares(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C,) share of the scored vertices in each class by ground truth (rows) and by prediction (columns).

    Shows what a network predicts beside what is there: a net that labels everything wall or floor has
    a predicted share of ~1 on those two classes whatever its mIoU says. Both sum to 1.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or total <= 0:
        raise ValueError(f"metrics.class_shares: need a square confusion with counts, got shape {confusion.shape}, "
                         f"total {total:g}")
    return confusion.sum(axis=1) / total, confusion.sum(axis=0) / total


def _nanmean(values: np.ndarray) -> float:
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size else float("nan")


def segmentation_metrics(confusion: np.ndarray, class_names: tuple[str, ...] = SCANNET20_NAMES) -> dict:
    """mIoU, mAcc, OA, per-class IoU (name -> float, or None when undefined) and the confusion itself.

    The returned dict is JSON-ready (floats, None, nested lists), the layout of a probe's metrics.json.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] != len(class_names):
        raise ValueError(f"metrics.segmentation_metrics: confusion must be ({len(class_names)}, "
                         f"{len(class_names)}), got {confusion.shape}")
    total = int(confusion.sum())
    ious = iou_per_class(confusion)
    return {
        "miou": _nanmean(ious),
        "macc": _nanmean(accuracy_per_class(confusion)),
        "oa": float(np.trace(confusion) / total) if total else float("nan"),
        "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, ious)},
        "confusion": confusion.tolist(),
    }
