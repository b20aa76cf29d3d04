"""Lab experiment: the learning curve of supervised PointNeXt segmentation (scratch) on a profile's data.

    python bench/lab/supervised_curve.py --data DATA [--config quick|PATH.yaml] [--steps N] [--every K]
                                         [--seed S] [--device cpu|cuda] [--set field=value ...]

Trains the probe config's `scratch` arm with its schedule stretched to `--steps` and, every `--every`
steps, scores validation *crops* (fast, one seeded crop per scene) and training crops; at the end scores
every validation scene whole (tiled as the probe does). One JSON line per evaluation: the question it
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
from byol3d.eval.finetune import TrainSchedule, train_segmentation
from byol3d.eval.metrics import confusion_matrix, segmentation_metrics
from byol3d.eval.predict import evaluate
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import ProbeConfig, load_config, no_augment
from byol3d.utils.runtime import pick_device, seed_everything


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


def fixed_crops(cfg: ProbeConfig, data: str, split: str) -> list[dict]:
    """One seeded, unaugmented crop per scene of `split`."""
    dataset = SegmentationDataset(data, split, dataclasses.replace(cfg.data, augment=no_augment()), train=True,
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
    ap.add_argument("--set", nargs="*", default=[], help="overrides, e.g. lr=0.005 data.voxel_max=4000")
    args = ap.parse_args()
    cfg = apply_overrides(dataclasses.replace(load_config(args.config), seed=args.seed, steps=args.steps), args.set)
    device = pick_device(args.device)
    seed_everything(cfg.seed)
    model = PointNeXt(cfg.model).to(device)
    train_set = SegmentationDataset(args.data, cfg.train_split, cfg.data, train=True, seed=cfg.seed)
    val_crops, train_crops = fixed_crops(cfg, args.data, cfg.eval_split), fixed_crops(cfg, args.data, "train")
    start = time.perf_counter()
    header = {"config": {k: v for k, v in to_dict(cfg).items() if k not in ("model",)}, "device": str(device)}
    print(json.dumps(header), flush=True)

    def log(step: int, net: PointNeXt) -> None:
        if step % args.every == 0 or step == cfg.steps:
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1),
                   "val_crops": crop_scores(net, val_crops, device), "train_crops": crop_scores(net, train_crops, device)}
            print(json.dumps(row), flush=True)

    schedule = TrainSchedule(steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, warmup=cfg.warmup,
                             batch_size=cfg.batch_size, clip=cfg.clip, seed=cfg.seed, num_workers=cfg.num_workers)
    losses = train_segmentation(model, train_set, schedule, device, on_step=log)
    eval_set = EvalDataset(args.data, cfg.eval_split, cfg.data)
    whole = segmentation_metrics(evaluate(model, eval_set, device, model.cfg.num_classes,
                                          cfg.data.voxel_max if cfg.tiled_eval else None))
    print(json.dumps({"final": True, "steps": cfg.steps, "seconds": round(time.perf_counter() - start, 1),
                      "loss_last50": round(float(np.mean(losses[-50:])), 4), "val_whole_miou": round(whole["miou"], 4),
                      "val_whole_oa": round(whole["oa"], 4),
                      "per_class_iou": {k: None if v is None else round(v, 3) for k, v in whole["per_class_iou"].items()}}),
          flush=True)


if __name__ == "__main__":
    main()
