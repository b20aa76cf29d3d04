"""Lab experiment: train the segmentation head first on a frozen network, then fine-tune every layer ("LP-FT").

    python bench/lab/head_first.py --data DATA --method finetune|scratch [--checkpoint runs/byol/KEY/encoder.pt]
                                   [--fraction F] [--head-steps N] [--head-lr LR] [--seed S] [--set field=value ...]

Kumar et al. (ICLR 2022, "Fine-tuning can distort pretrained features") train a linear head on frozen
features before fine-tuning, so that a fresh head's large early gradients do not overwrite what
pre-training learnt. Here the head is PointNeXt's own segmentation head (what the finetune and scratch arms
train), phase 1 trains it alone for `--head-steps` steps with every other parameter frozen, phase 2 is
the profile's finetune schedule unchanged, on every parameter. The scratch arm gets the same two phases
from its random weights, so the two arms still differ only in their initial body. During phase 1 the
frozen body is in training mode (its BatchNorm normalises with batch statistics and re-estimates its
running ones on the labelled crops, alike for both arms). Every vertex of every validation scene is scored
after each phase; one JSON line per run. Results go to reports/experiments.md.
"""

from __future__ import annotations

import dataclasses
import json
import time

import torch

from arm_args import arm_parser, parse_arm_args  # a script's own folder (bench/lab/) is first on sys.path
from byol3d.config import apply_overrides
from byol3d.data.dataset import EvalDataset, SegmentationDataset
from byol3d.eval.finetune import train_segmentation
from byol3d.eval.metrics import segmentation_metrics
from byol3d.eval.predict import evaluate
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import VALIDATION_PLANS, segmentation_schedule, starting_network
from byol3d.profile import load_profile
from byol3d.utils.runtime import bf16_autocast, keep_freed_memory, pick_device


def score(model: PointNeXt, eval_set: EvalDataset, crop_points: int, device: torch.device, amp: bool) -> dict:
    """mIoU / OA over every vertex of the validation scenes."""
    with bf16_autocast(device, amp):
        confusion = evaluate(model, eval_set, device, model.cfg.num_classes, crop_points, VALIDATION_PLANS)
    metrics = segmentation_metrics(confusion)
    return {"miou": round(metrics["miou"], 4), "oa": round(metrics["oa"], 4)}


def body_parameters(model: PointNeXt) -> list[torch.Tensor]:
    """Copies of every parameter outside the segmentation head (encoder and decoder)."""
    head = {id(p) for p in model.head.parameters()}
    return [p.detach().clone() for p in model.parameters() if id(p) not in head]


def main() -> None:
    ap = arm_parser(__doc__.splitlines()[0])
    ap.add_argument("--head-steps", type=int, default=150)
    ap.add_argument("--head-lr", type=float, default=1e-2)
    args = parse_arm_args(ap)
    profile = apply_overrides(load_profile(args.config), [f"run.seed={args.seed}", *args.set])
    device = pick_device(profile.run.device)
    if profile.run.keep_freed_memory:
        keep_freed_memory()
    model = starting_network(profile, args.method, args.checkpoint).to(device)  # seeded; finetune: a fresh head
    train_set = SegmentationDataset(args.data, profile.eval.train_split, profile.data, train=True,
                                    fraction=args.fraction, seed=args.seed)
    eval_set = EvalDataset(args.data, profile.eval.eval_split, profile.data, fraction=profile.eval.eval_fraction)
    crop_points = profile.data.voxel_max
    full = segmentation_schedule(profile, pretrained=args.method == "finetune")
    head_only = dataclasses.replace(full, steps=args.head_steps, lr=args.head_lr, warmup=args.head_steps // 10)
    start = time.perf_counter()
    record = {"method": args.method, "seed": args.seed, "fraction": args.fraction, "head_steps": args.head_steps,
              "head_lr": args.head_lr, "steps": full.steps, "checkpoint": args.checkpoint,
              "train_scenes": train_set.scene_ids}
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    body_before = body_parameters(model)
    head_losses = train_segmentation(model, train_set, head_only, device)
    record["body_moved_in_head_phase"] = any(not torch.equal(a, b) for a, b in zip(body_before, body_parameters(model)))
    record["after_head"] = score(model, eval_set, crop_points, device, profile.run.amp)
    model.requires_grad_(True)
    losses = train_segmentation(model, train_set, full, device)
    record["after_all"] = score(model, eval_set, crop_points, device, profile.run.amp)
    record["head_loss_last25"] = round(sum(head_losses[-25:]) / len(head_losses[-25:]), 4)
    record["loss_last25"] = round(sum(losses[-25:]) / len(losses[-25:]), 4)
    record["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
