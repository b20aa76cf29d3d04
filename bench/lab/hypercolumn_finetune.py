"""Lab experiment: fine-tune the frozen probe's own model, a linear head on the hypercolumn, end to end.

    python bench/lab/hypercolumn_finetune.py --data DATA --method finetune|scratch
                                             [--checkpoint runs/byol/KEY/encoder.pt] [--fraction F] [--seed S]
                                             [--frozen-norm] [--set field=value ...]

Lab log E50 found that PointNeXt's segmentation head reads the decoder's 32 channels, which carry little
of BYOL's gain, while the frozen linear probe reads every encoder stage (the hypercolumn) and the decoder,
where the gain is. This script asks whether fine-tuning keeps BYOL's start when the network's head is
that probe: phase 1 is the profile's frozen linear probe unchanged (BatchNorm re-estimated on the training
crops, cached features of `linear_probe.crops` crops per room, `linear_probe.steps` Adam steps; the
`linear` method from a checkpoint, the `random` method from random weights); phase 2 trains the encoder,
the decoder and that linear head together with the profile's finetune schedule (AdamW, warm-up, cosine,
augmented crops), the head at its learning rate and the rest at `finetune.pretrained_lr_scale` times it.
With `--frozen-norm` (lab log E54) every BatchNorm of the body keeps normalising with the running
statistics phase 1 estimated on the training crops ("frozen BN", its affine weights still trained), so
phase 2 starts from the probe's function instead of one normalised by the batch statistics of augmented
crops. The scratch arm runs both phases from its random weights, so the two arms differ only in their initial
body. Every vertex of every validation scene is scored after each phase; one JSON line per run. Results go
to reports/experiments.md.
"""

from __future__ import annotations

import dataclasses
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from arm_args import arm_parser, parse_arm_args  # a script's own folder (bench/lab/) is first on sys.path
from byol3d.config import apply_overrides
from byol3d.data.dataset import EvalDataset, SegmentationDataset
from byol3d.eval.finetune import train_segmentation
from byol3d.eval.linear import FrozenProbeModel, LinearProbe
from byol3d.eval.metrics import segmentation_metrics
from byol3d.eval.predict import evaluate
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import fit_linear_probe, segmentation_schedule, starting_network
from byol3d.profile import Profile, load_profile
from byol3d.utils.runtime import bf16_autocast, keep_freed_memory, pick_device


class HypercolumnSegmenter(nn.Module):
    """A PointNeXt whose per-point logits are a linear map of its standardised hypercolumn and decoder output
    (the frozen probe's function, kind "both"), every parameter trainable. Each stage is mapped to class scores
    at its own resolution, then 3-NN interpolated to the points: the same function as the linear layer on the
    interpolated features, since interpolation is linear with weights summing to one."""

    def __init__(self, backbone: PointNeXt, probe: LinearProbe, frozen_norm: bool = False):
        super().__init__()
        if probe.normalize != "standardize":
            raise ValueError(f"needs a standardising probe, got normalize={probe.normalize!r}")
        self.backbone = backbone
        self.frozen_norm = frozen_norm  # BatchNorm keeps its running statistics in training mode
        self.head = nn.Linear(probe.linear.in_features, probe.linear.out_features)  # on standardised features
        self.head.load_state_dict(probe.linear.state_dict())
        self.register_buffer("mean", probe.mean.clone())  # (D,) the probe's training-feature statistics
        self.register_buffer("std", probe.std.clone())  # (D,)

    def train(self, mode: bool = True) -> HypercolumnSegmenter:
        """Training mode; with `frozen_norm`, every BatchNorm stays in evaluation mode (running statistics
        used and kept), the rest of the network trains as usual."""
        super().train(mode)
        if self.frozen_norm:
            for module in self.backbone.modules():
                if isinstance(module, nn.BatchNorm1d):
                    module.eval()
        return self

    def forward(self, batch: dict) -> torch.Tensor:
        """batch -> logits (N, classes); the head in float32 (the backbone under the caller's autocast)."""
        net = self.backbone
        plan = net.plan(batch, decoder=True, to_points=True)
        enc = net.encode(batch, plan)
        decoded = net.decode(enc, plan)  # (N, width)
        widths = [*net.encoder_channels, net.decoder_channels]
        blocks = zip(self.head.weight.split(widths, dim=1), self.mean.split(widths), self.std.split(widths))
        with torch.autocast(batch["coord"].device.type, enabled=False):
            logits = self.head.bias.expand(decoded.shape[0], -1)  # (N, classes)
            for s, (weight, mean, std) in enumerate(blocks):
                feats = decoded if s == len(widths) - 1 else enc.feats[s]  # (N_s, C_s)
                scores = F.linear((feats.float() - mean) / std, weight)  # (N_s, classes)
                if 0 < s < len(enc.feats):
                    scores = net.interpolate_to_points(enc, s, scores, plan)  # (N, classes)
                logits = logits + scores
        return logits


def score(model: nn.Module, eval_set: EvalDataset, profile: Profile, classes: int, device: torch.device) -> dict:
    """mIoU / OA over every vertex of the validation scenes."""
    with bf16_autocast(device, profile.run.amp):
        confusion = evaluate(model, eval_set, device, classes, profile.data.voxel_max)
    metrics = segmentation_metrics(confusion)
    return {"miou": round(metrics["miou"], 4), "oa": round(metrics["oa"], 4)}


def fit_probe(profile: Profile, method: str, backbone: PointNeXt, data: str, fraction: float,
              device: torch.device) -> tuple[FrozenProbeModel, float]:
    """Phase 1, the profile's frozen linear probe (the probe CLI's): (frozen model, training accuracy)."""
    probe_data = dataclasses.replace(profile.data, augment=profile.linear_probe.augment)
    train_set = SegmentationDataset(data, profile.eval.train_split, probe_data, train=True, fraction=fraction,
                                    seed=profile.run.seed)
    frozen, record = fit_linear_probe(profile, method, backbone, train_set, device)
    return frozen, record["train_accuracy"]


def main() -> None:
    ap = arm_parser(__doc__.splitlines()[0])
    ap.add_argument("--frozen-norm", action="store_true",
                    help="phase 2 keeps phase 1's BatchNorm running statistics (frozen BN)")
    args = parse_arm_args(ap)
    profile = apply_overrides(load_profile(args.config), [f"run.seed={args.seed}", "linear_probe.features=both",
                                                          "linear_probe.normalize=standardize", *args.set])
    device = pick_device(profile.run.device)
    if profile.run.keep_freed_memory:
        keep_freed_memory()
    probe_method = "linear" if args.method == "finetune" else "random"
    backbone = starting_network(profile, probe_method, args.checkpoint)  # seeded
    eval_set = EvalDataset(args.data, profile.eval.eval_split, profile.data, fraction=profile.eval.eval_fraction)
    start = time.perf_counter()
    classes = backbone.cfg.num_classes
    frozen, accuracy = fit_probe(profile, probe_method, backbone, args.data, args.fraction, device)
    record = {"method": args.method, "seed": args.seed, "fraction": args.fraction, "checkpoint": args.checkpoint,
              "frozen_norm": args.frozen_norm,
              "probe_train_accuracy": round(accuracy, 4),
              "after_probe": score(frozen, eval_set, profile, classes, device)}
    model = HypercolumnSegmenter(frozen.backbone.requires_grad_(True), frozen.probe, args.frozen_norm).to(device)
    train_set = SegmentationDataset(args.data, profile.eval.train_split, profile.data, train=True,
                                    fraction=args.fraction, seed=args.seed)
    schedule = segmentation_schedule(profile, pretrained=args.method == "finetune")
    losses = train_segmentation(model, train_set, schedule, device)  # its head group is model.head, as a PointNeXt's
    record["after_all"] = score(model, eval_set, profile, classes, device)
    record["loss_first25"] = round(sum(losses[:25]) / len(losses[:25]), 4)
    record["loss_last25"] = round(sum(losses[-25:]) / len(losses[-25:]), 4)
    record["train_scenes"] = train_set.scene_ids
    record["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
