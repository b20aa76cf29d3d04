"""Metric values on hand-made confusion matrices, the ScanNet mIoU rule, and bincount accumulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from byol3d.data.labels import NUM_CLASSES, SCANNET20_NAMES
from byol3d.eval.metrics import (
    accuracy_per_class,
    class_shares,
    confusion_matrix,
    iou_per_class,
    segmentation_metrics,
)


def _confusion_3() -> np.ndarray:
    # rows = ground truth, columns = prediction
    return np.array([[5, 1, 0],
                     [2, 3, 0],
                     [0, 0, 0]])  # class 2: absent from ground truth and predictions


def test_iou_and_accuracy_by_hand():
    conf = _confusion_3()
    iou = iou_per_class(conf)
    assert iou[0] == pytest.approx(5 / (5 + 1 + 2))
    assert iou[1] == pytest.approx(3 / (3 + 2 + 1))
    assert math.isnan(iou[2])
    acc = accuracy_per_class(conf)
    assert acc[0] == pytest.approx(5 / 6) and acc[1] == pytest.approx(3 / 5)
    assert math.isnan(acc[2])


def test_class_absent_from_gt_and_predictions_is_excluded_from_the_mean():
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    conf[:3, :3] = _confusion_3()
    m = segmentation_metrics(conf)
    expected_miou = (5 / 8 + 3 / 6) / 2  # only classes 0 and 1 count; 18 absent classes do not drag it to 0
    assert m["miou"] == pytest.approx(expected_miou)
    assert m["macc"] == pytest.approx((5 / 6 + 3 / 5) / 2)
    assert m["oa"] == pytest.approx(8 / 11)
    assert m["per_class_iou"]["wall"] == pytest.approx(5 / 8)
    assert m["per_class_iou"]["cabinet"] is None
    assert list(m["per_class_iou"]) == list(SCANNET20_NAMES)
    assert np.array(m["confusion"]).sum() == 11


def test_class_only_predicted_counts_with_iou_zero():
    # class 2 never in the ground truth but predicted once: it is in the mean with IoU 0 (ScanNet rule)
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    conf[0, 0], conf[1, 1], conf[1, 2] = 4, 4, 1
    m = segmentation_metrics(conf)
    assert m["per_class_iou"]["cabinet"] == 0.0
    assert m["miou"] == pytest.approx((1.0 + 0.8 + 0.0) / 3)
    assert m["macc"] == pytest.approx((1.0 + 0.8) / 2)  # accuracy is over ground-truth classes only


def test_perfect_prediction():
    target = torch.tensor([0, 1, 1, 19, 5, 5, 5])
    m = segmentation_metrics(confusion_matrix(target.clone(), target))
    assert m["miou"] == m["macc"] == m["oa"] == 1.0


def test_confusion_counts_and_ignore():
    pred = torch.tensor([0, 1, 1, 2, 0, 3])
    target = torch.tensor([0, 1, 2, 2, -1, -1])
    conf = confusion_matrix(pred, target, num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = expected[1, 1] = expected[2, 1] = expected[2, 2] = 1
    np.testing.assert_array_equal(conf, expected)
    # numpy inputs give the same matrix; accumulation over chunks equals one pass
    np.testing.assert_array_equal(confusion_matrix(pred.numpy(), target.numpy(), num_classes=4), expected)
    summed = confusion_matrix(pred[:3], target[:3], 4) + confusion_matrix(pred[3:], target[3:], 4)
    np.testing.assert_array_equal(summed, expected)


def test_confusion_matches_brute_force_on_random_labels():
    rng = np.random.default_rng(0)
    target = rng.integers(-1, NUM_CLASSES, size=5000)
    pred = rng.integers(0, NUM_CLASSES, size=5000)
    brute = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for t, p in zip(target, pred):
        if t >= 0:
            brute[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(pred, target), brute)
    assert confusion_matrix(pred, target).sum() == (target >= 0).sum()


def test_class_shares_separate_what_is_there_from_what_is_predicted():
    truth, predicted = class_shares(_confusion_3())  # 11 vertices: 6 of class 0, 5 of class 1
    np.testing.assert_allclose(truth, [6 / 11, 5 / 11, 0])
    np.testing.assert_allclose(predicted, [7 / 11, 4 / 11, 0])
    # a network that predicts class 0 everywhere: its predicted share says so, its truth share does not move
    everything_zero = np.array([[6, 0, 0], [5, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(class_shares(everything_zero)[1], [1, 0, 0])
    np.testing.assert_allclose(class_shares(everything_zero)[0], truth)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(torch.tensor([0, 25]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="differ"):
        confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="confusion must be"):
        segmentation_metrics(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="class_shares"):
        class_shares(np.zeros((3, 3)))
