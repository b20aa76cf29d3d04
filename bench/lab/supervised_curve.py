"""Lab experiment: the learning curve of supervised PointNeXt segmentation (scratch) on a profile's data.

    python bench/lab/supervised_curve.py --data DATA [--config quick|PATH.yaml] [--steps N] [--every K]
                                         [--seed S] [--device cpu|cuda] [--set field=value ...]

Trains the probe config's `scratch` arm with its schedule stretched to `--steps` and, every `--every`
steps, scores validation *crops* (fast, one seeded crop per scene) and training crops; at the end scores
every validation scene whole (tiled as the probe does), with the training loss in twelve window means and the
whole-scene confusion matrix (rows: truth, columns: prediction). One JSON line per evaluation: the question it
answers is "where does supervised training plateau, and how far is that from the budget we use?".
Results go to reports/experiments.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from byol3d.config import apply_overrides, to_dict
from byol3d.data.dataset import EvalDataset, SegmentationDataset, collate_scenes
from byol3d.eval.finetune import train_segmentation
from byol3d.eval.metrics import confusion_matrix, segmentation_metrics
from byol3d.eval.predict import evaluate
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import segmentation_schedule
from byol3d.profile import Profile, load_profile, no_augment
from byol3d.utils.runtime import bf16_autocast, keep_freed_memory, pick_device, seed_everything


@torch.no_grad()
def crop_scores(model: PointNeXt, crops: list[dict], device: torch.device) -> dict:
    """mIoU / OA over fixed crops (eval mode)."""
    model.eval()
    confusion = np.zeros((model.cfg.num_classes,) * 2, dtype=np.int64)
    for item in crops:
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in collate_scenes([item]).items()}
        confusion += confusion_matrix(model(batch).argmax(1), batch["label"], model.cfg.num_classes)
    m = segmentation_metrics(confusion)
    return {"miou": round(m["miou"], 4), "oa": round(m["oa"], 4)}


def fixed_crops(profile: Profile, data: str, split: str) -> list[dict]:
    """One seeded, unaugmented crop per scene of `split`."""
    dataset = SegmentationDataset(data, split, dataclasses.replace(profile.data, augment=no_augment()), train=True,
                                  seed=12345)
    return [dataset[i] for i in range(len(dataset))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", default="quick")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--set", nargs="*", default=[], help="overrides, e.g. finetune.lr=0.005 data.voxel_max=4000")
    args = ap.parse_args()
    profile = apply_overrides(load_profile(args.config),
                              [f"run.seed={args.seed}", f"finetune.steps={args.steps}", *args.set])
    ft, seed = profile.finetune, profile.run.seed
    device = pick_device(args.device)
    if profile.run.keep_freed_memory:
        keep_freed_memory()
    seed_everything(seed)
    model = PointNeXt(profile.model).to(device)
    train_set = SegmentationDataset(args.data, profile.eval.train_split, profile.data, train=True, seed=seed)
    val_crops = fixed_crops(profile, args.data, profile.eval.eval_split)
    train_crops = fixed_crops(profile, args.data, "train")
    start = time.perf_counter()
    header = {"config": {k: v for k, v in to_dict(profile).items() if k not in ("model",)}, "device": str(device)}
    print(json.dumps(header), flush=True)

    def log(step: int, net: PointNeXt) -> None:
        if step % args.every == 0 or step == ft.steps:
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1),
                   "val_crops": crop_scores(net, val_crops, device),
                   "train_crops": crop_scores(net, train_crops, device)}
            print(json.dumps(row), flush=True)

    schedule = segmentation_schedule(profile, pretrained=False)
    losses = train_segmentation(model, train_set, schedule, device, on_step=log)
    eval_set = EvalDataset(args.data, profile.eval.eval_split, profile.data)
    with bf16_autocast(device, profile.run.amp):  # as the report's probes score
        confusion = evaluate(model, eval_set, device, model.cfg.num_classes,
                             profile.data.voxel_max if profile.eval.tiled_eval else None)
    whole = segmentation_metrics(confusion)
    window = max(1, ft.steps // 12)
    loss_windows = [round(float(np.mean(losses[i:i + window])), 3) for i in range(0, len(losses), window)]
    print(json.dumps({"final": True, "steps": ft.steps, "seconds": round(time.perf_counter() - start, 1),
                      "loss_last50": round(float(np.mean(losses[-50:])), 4), "val_whole_miou": round(whole["miou"], 4),
                      "val_whole_oa": round(whole["oa"], 4),
                      "per_class_iou": {k: None if v is None else round(v, 3)
                                        for k, v in whole["per_class_iou"].items()},
                      "loss_window_steps": window, "loss_window_means": loss_windows,
                      "confusion": confusion.tolist()}),
          flush=True)


if __name__ == "__main__":
    main()
