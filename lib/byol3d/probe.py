"""Segmentation probe: how good are BYOL's features for ScanNet20 semantic segmentation?

    python -m byol3d.probe --data DATA --method linear|finetune|scratch|random [--checkpoint encoder.pt]
                           [--fraction F] --config smoke|quick|full|PATH.yaml --out RUN_DIR

Methods (the protocol of 3D self-supervised learning: Sonata / MSC linear probing, CSC data-efficient
scenes; BYOL = Grill et al., NeurIPS 2020; PointNeXt = Qian et al., NeurIPS 2022):
- linear:   the pre-trained network frozen (eval-mode BatchNorm, no gradients), a normalisation and one
            linear layer trained on its per-point features (hypercolumn and/or decoder output);
- finetune: the whole network initialised from the pre-trained weights, head re-initialised, trained;
- scratch:  the same network and schedule from random initialisation (supervised reference);
- random:   the linear probe on a frozen, randomly initialised network (the floor BYOL must beat);
- raw:      the linear probe on the 7 input channels themselves, no network (the raw-feature floor);
- majority: every point gets the most frequent class of the training vertices (the trivial floor).
Both frozen-network arms (linear, random) get the same BatchNorm treatment: with `recalibrate_bn`,
running statistics are re-estimated on the probe's own training crops before freezing.
`fraction` trains on a seeded subset of the training scenes (byol3d.data.dataset.select_fraction:
nested, at least one scene, the same scenes for every method). Evaluation: every vertex of every
validation scene (byol3d.eval.predict; with `tiled_eval`, predicted in crops of the training size),
metrics by the ScanNet rule (byol3d.eval.metrics).

RUN_DIR (written whole, atomically): byol3d-run.json (marker), metrics.json, config.yaml, probe.pt (the
trained predictor, loadable with `load_probe`) and tensorboard/ (the training loss and the final metrics as
TensorBoard event files, tags `probe/<method>/...`: byol3d.train.tensorboard_log). An existing, non-empty
RUN_DIR without the probe marker is refused, and every input (checkpoint, training and validation scenes)
is read and checked before the first training step; a non-finite training loss stops the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from itertools import count, islice
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from byol3d.cli import run_cli
from byol3d.config import (PROFILES, ConfigError, check_fields, config_hash, from_dict, load_preset_or_yaml, save_yaml,
                           to_dict)
from byol3d.data.dataset import DataConfig, EvalDataset, SegmentationDataset
from byol3d.data.labels import IGNORE_INDEX
from byol3d.eval.features import (FEATURE_KINDS, collect_features, feature_dim, freeze, recalibrate_batchnorm,
                                 scene_batches)
from byol3d.eval.finetune import TrainSchedule, train_segmentation
from byol3d.eval.linear import (NORMALIZATIONS, FrozenProbeModel, LinearProbe, MajorityClass, probe_accuracy,
                               train_linear)
from byol3d.eval.metrics import segmentation_metrics
from byol3d.eval.predict import evaluate
from byol3d.models.config import PointNeXtConfig
from byol3d.transforms import AugmentConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.train.checkpoint import CheckpointError, load_pretrained, safe_load
from byol3d.train.finite import check_finite_losses
from byol3d.train.tensorboard_log import require_tensorboard, write_probe_events
from byol3d.utils.atomic import atomic_dir, atomic_torch_save, atomic_write_json, remove_stale_temporaries
from byol3d.utils.run_folder import check_run_folder, mark_run_folder
from byol3d.utils.runtime import bf16_autocast, pick_device, seed_everything

METHODS = ("linear", "finetune", "scratch", "random", "raw", "majority")
PRETRAINED_METHODS = ("linear", "finetune")  # need --checkpoint
LINEAR_METHODS = ("linear", "random", "raw")  # frozen features + linear layer
FROZEN_NETWORK_METHODS = ("linear", "random")  # linear probe on a frozen PointNeXt's features
PROBE_FORMAT = "byol3d-probe-v1"


def no_augment() -> AugmentConfig:
    """Identity augmentation: linear-probe crops by default look like the (unaugmented) evaluation scenes."""
    return AugmentConfig(rotate_z_deg=0.0, scale_min=1.0, scale_max=1.0, flip_p=0.0, jitter_sigma=0.0,
                         elastic_p=0.0, autocontrast_p=0.0, color_drop_p=0.0)


@dataclass
class ProbeConfig:
    # network of scratch / random (linear and finetune use the checkpoint's own): match the pre-training preset
    model: PointNeXtConfig = field(default_factory=PointNeXtConfig.S)
    data: DataConfig = field(default_factory=DataConfig.quick)  # voxel size, crop size, subset seed of `fraction`
    train_split: str = "train"  # split the probe / network is trained on
    eval_split: str = "val"  # split evaluated on whole scenes
    eval_fraction: float = 1.0  # share of eval scenes scored (seeded, same for every method); < 1 saves CPU
    features: str = "both"  # linear probe input: "hypercolumn", "decoder" or "both"
    normalize: str = "standardize"  # non-learned feature normalisation: "standardize", "l2" or "none"
    linear_crops: int = 1  # crops (of data.voxel_max points) per training scene whose frozen features are cached
    linear_augment: AugmentConfig = field(default_factory=no_augment)  # augmentation of those crops
    points_per_scene: int = 8000  # labelled points per crop kept in the linear-probe feature cache
    linear_steps: int = 200  # Adam steps of the linear layer
    linear_lr: float = 1e-2  # Adam learning rate of the linear layer (cosine-decayed)
    linear_weight_decay: float = 0.0  # L2 penalty of the linear layer
    linear_batch: int = 4096  # points per linear-probe step
    recalibrate_bn: bool = True  # frozen arms: BatchNorm statistics re-estimated on the probe's training crops
    bn_batches: int = 32  # crops (one per training scene, cycling) averaged for those statistics
    tiled_eval: bool = True  # predict validation scenes in crops of data.voxel_max points, as trained
    amp: bool = True  # bfloat16 autocast of network passes (training, features, evaluation) where bf16 is fast
    steps: int = 30  # finetune / scratch optimisation steps (same for every fraction)
    lr: float = 1e-3  # finetune / scratch AdamW learning rate (PointNeXt's ScanNet setting)
    weight_decay: float = 1e-4  # finetune / scratch AdamW weight decay
    warmup: int = 3  # finetune / scratch warm-up steps
    batch_size: int = 2  # crops per finetune / scratch step
    clip: float = 10.0  # gradient-norm clip (0 = off)
    seed: int = 0  # weights of new layers, data order, augmentation and point sampling
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self) -> None:
        checks = [
            (self.features in FEATURE_KINDS, "features", f"must be one of {list(FEATURE_KINDS)}"),
            (self.normalize in NORMALIZATIONS, "normalize", f"must be one of {list(NORMALIZATIONS)}"),
            (0 < self.eval_fraction <= 1, "eval_fraction", "must be in (0, 1]"),
            (self.linear_crops >= 1, "linear_crops", "must be >= 1"),
            (self.points_per_scene >= 1, "points_per_scene", "must be >= 1"),
            (self.linear_steps >= 1 and self.steps >= 1, "steps", "steps and linear_steps must be >= 1"),
            (self.linear_lr > 0 and self.lr > 0, "lr", "lr and linear_lr must be > 0"),
            (self.linear_weight_decay >= 0 and self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (self.linear_batch >= 1 and self.batch_size >= 1, "batch_size", "batch_size and linear_batch must be >= 1"),
            (self.bn_batches >= 1, "bn_batches", "must be >= 1"),
            (0 <= self.warmup < self.steps, "warmup", "must be in [0, steps)"),
            (self.clip >= 0, "clip", "must be >= 0 (0 = off)"),
            (self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda"), "device",
             "must be 'auto', 'cpu' or 'cuda[:i]'"),
            (self.num_workers >= 0, "num_workers", "must be >= 0"),
        ]
        check_fields(self, checks)

    @classmethod
    def smoke(cls) -> "ProbeConfig":
        """Seconds: one validation scene, small crops, a few steps; for end-to-end tests. One-pass
        evaluation: tiles of its 2,000-point crops would cost 50x the network passes of training."""
        return cls(data=DataConfig.smoke(), eval_fraction=0.01, points_per_scene=1000, linear_steps=30,
                   linear_batch=1024, steps=2, warmup=0, tiled_eval=False, bn_batches=4)

    @classmethod
    def quick(cls) -> "ProbeConfig":
        """CPU, SynthRooms, PointNeXt-S (as PretrainConfig.quick), every validation scene scored whole.
        Fine-tune / scratch: batches of 8 crops of 4,000 points (reports/experiments.md E3) at lr 3e-3,
        150 steps (the report's budget); linear probe: 2 crops per scene, 1,000 Adam steps."""
        data = DataConfig.quick()
        return cls(model=PointNeXtConfig.S().for_voxel(data.voxel_size), data=data, linear_crops=2,
                   points_per_scene=4000, linear_steps=1000, steps=150, lr=3e-3, warmup=15, batch_size=8)

    @classmethod
    def full(cls) -> "ProbeConfig":
        """GPU, real ScanNet, PointNeXt-B (as PretrainConfig.full): 100 epochs of 1201 scenes / 8 per step."""
        return cls(model=PointNeXtConfig.B(), data=DataConfig.full(), points_per_scene=2000, linear_steps=3000,
                   linear_batch=65536, linear_lr=1e-3, steps=15000, warmup=500, batch_size=8, num_workers=8)

    @classmethod
    def preset(cls, name: str) -> "ProbeConfig":
        if name not in PROFILES:
            raise ConfigError(f"ProbeConfig: unknown preset {name!r}; known: {list(PROFILES)}")
        return getattr(cls, name)()


def load_config(name_or_path: str) -> ProbeConfig:
    """A preset name or a YAML file; a bad value names the file, the field and the reason."""
    return load_preset_or_yaml(ProbeConfig, name_or_path, PROFILES)


def _network(cfg: ProbeConfig, method: str, checkpoint: str | Path | None) -> PointNeXt:
    """The starting network of `method`, seeded (new layers depend only on cfg.seed)."""
    if method not in METHODS:
        raise ConfigError(f"byol3d.probe: unknown method {method!r}; known: {list(METHODS)}")
    if method in PRETRAINED_METHODS and checkpoint is None:
        raise ConfigError(f"byol3d.probe: method {method!r} needs --checkpoint (a pre-training run's encoder.pt)")
    if method not in PRETRAINED_METHODS and checkpoint is not None:
        raise ConfigError(f"byol3d.probe: method {method!r} starts from random weights; drop --checkpoint "
                          "(set the architecture with the config's `model`)")
    seed_everything(cfg.seed)
    if checkpoint is None:
        return PointNeXt(cfg.model)
    model = load_pretrained(checkpoint)
    if method == "finetune":
        model.reset_head()
    return model


def _crops_forever(train_set: SegmentationDataset, device: torch.device) -> Iterator[dict]:
    """One-crop batches of the training scenes, epoch after epoch (each epoch a new crop of every scene)."""
    for epoch in count():
        train_set.set_epoch(epoch)
        yield from scene_batches(train_set, device, desc="BatchNorm statistics")


def _fit_linear(cfg: ProbeConfig, method: str, backbone: PointNeXt, train_set: SegmentationDataset,
                device: torch.device) -> tuple[FrozenProbeModel, dict]:
    """Frozen features of `linear_crops` crops per training scene (computed once), then the linear layer.
    Returns the predictor and its training record (losses, accuracy on the cached training points)."""
    backbone = backbone.to(device)
    kind = "input" if method == "raw" else cfg.features
    if method in FROZEN_NETWORK_METHODS and cfg.recalibrate_bn:
        recalibrate_batchnorm(backbone, islice(_crops_forever(train_set, device), cfg.bn_batches))
    backbone = freeze(backbone)
    cached = []
    for epoch in range(cfg.linear_crops):
        train_set.set_epoch(epoch)  # a new crop of every scene
        with bf16_autocast(device, cfg.amp):
            cached.append(collect_features(backbone, train_set, kind, device, cfg.points_per_scene,
                                           seed=cfg.seed + epoch))
    feats, labels = torch.cat([f for f, _ in cached]), torch.cat([l for _, l in cached])
    probe = LinearProbe(feature_dim(backbone, kind), backbone.cfg.num_classes, cfg.normalize).to(device)
    losses = train_linear(probe, feats, labels, cfg.linear_steps, cfg.linear_lr, cfg.linear_weight_decay,
                          cfg.linear_batch, cfg.seed)
    record = {"train_loss": losses, "train_accuracy": probe_accuracy(probe, feats, labels)}
    return FrozenProbeModel(backbone, probe, kind), record


def _fit_network(cfg: ProbeConfig, model: PointNeXt, train_set: SegmentationDataset,
                 device: torch.device) -> tuple[PointNeXt, dict]:
    """The whole network trained with labels (finetune from its pre-trained weights, scratch from random)."""
    schedule = TrainSchedule(steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, warmup=cfg.warmup,
                             batch_size=cfg.batch_size, clip=cfg.clip, seed=cfg.seed, num_workers=cfg.num_workers,
                             amp=cfg.amp)
    model = model.to(device)
    return model, {"train_loss": train_segmentation(model, train_set, schedule, device)}


def _fit_majority(model: PointNeXt, train_set: SegmentationDataset,
                  device: torch.device) -> tuple[MajorityClass, dict]:
    """The most frequent class over every labelled vertex of the training scenes."""
    counts = np.zeros(model.cfg.num_classes, dtype=np.int64)
    for i in range(len(train_set)):
        label = train_set.load(i)[2]
        counts += np.bincount(label[label != IGNORE_INDEX], minlength=model.cfg.num_classes)
    return MajorityClass(int(counts.argmax()), model.cfg.num_classes).to(device), {"train_loss": []}


def run_probe(cfg: ProbeConfig, data_root: str | Path, method: str, out_dir: str | Path,
              checkpoint: str | Path | None = None, fraction: float = 1.0) -> dict:
    """Train `method` on `fraction` of the training scenes, evaluate on whole validation scenes, write
    out_dir/{metrics.json, config.yaml, probe.pt, tensorboard/} (the folder appears complete or not at all)
    and return the metrics dict."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    check_run_folder(out_dir, "probe")
    require_tensorboard()  # a missing package stops the run now, not after training
    remove_stale_temporaries(out_dir.parent, out_dir.name)  # of an earlier probe killed while writing it
    device = pick_device(cfg.device)
    model = _network(cfg, method, checkpoint)
    linear = method in LINEAR_METHODS
    data = dataclasses.replace(cfg.data, augment=cfg.linear_augment) if linear else cfg.data
    train_set = SegmentationDataset(data_root, cfg.train_split, data, train=True, fraction=fraction, seed=cfg.seed)
    eval_set = EvalDataset(data_root, cfg.eval_split, cfg.data, fraction=cfg.eval_fraction)
    for dataset in (train_set, eval_set):
        dataset.check_scenes()
    if method == "majority":
        predictor, record = _fit_majority(model, train_set, device)
    elif linear:
        predictor, record = _fit_linear(cfg, method, model, train_set, device)
    else:
        predictor, record = _fit_network(cfg, model, train_set, device)
    check_finite_losses(record["train_loss"], f"{out_dir}: {method} probe")
    crop_points = cfg.data.voxel_max if cfg.tiled_eval else None
    with bf16_autocast(device, cfg.amp):
        confusion = evaluate(predictor, eval_set, device, model.cfg.num_classes, crop_points)
    metrics = {
        **segmentation_metrics(confusion),
        "method": method, "fraction": fraction, "train_scenes": train_set.scene_ids,
        "eval_scenes": eval_set.scene_ids, "checkpoint": None if checkpoint is None else str(checkpoint),
        "model": to_dict(model.cfg), "config": to_dict(cfg), "config_hash": config_hash(cfg),
        **record, "seconds": round(time.perf_counter() - start, 2),
    }
    payload = {"format": PROBE_FORMAT, "method": method, "features": getattr(predictor, "kind", cfg.features),
               "normalize": cfg.normalize, "model_config": to_dict(model.cfg),
               "state_dict": {k: v.detach().cpu() for k, v in predictor.state_dict().items()}}
    with atomic_dir(out_dir) as tmp:
        mark_run_folder(tmp, "probe")
        save_yaml(cfg, tmp / "config.yaml")
        atomic_torch_save(payload, tmp / "probe.pt")
        atomic_write_json(tmp / "metrics.json", metrics)
        write_probe_events(tmp, method, metrics)
    return metrics


def load_probe(run_dir: str | Path) -> nn.Module:
    """The trained predictor of a probe run (CPU, eval mode): `model(batch) -> logits (N, 20)`."""
    path = Path(run_dir) / "probe.pt"
    payload = safe_load(path, "probe checkpoint")
    if payload.get("format") != PROBE_FORMAT:
        raise CheckpointError(f"{path}: not a byol3d probe checkpoint")
    backbone = PointNeXt(from_dict(PointNeXtConfig, payload["model_config"], where=f"{path}: model_config"))
    if payload["method"] == "majority":
        predictor: nn.Module = MajorityClass(0, backbone.cfg.num_classes)
    elif payload["method"] in LINEAR_METHODS:
        kind = payload["features"]
        probe = LinearProbe(feature_dim(backbone, kind), backbone.cfg.num_classes, payload["normalize"])
        predictor = FrozenProbeModel(backbone, probe, kind)
    else:
        predictor = backbone
    predictor.load_state_dict(payload["state_dict"])
    return predictor.eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Segmentation probe / fine-tuning of PointNeXt (byol3d).")
    parser.add_argument("--data", required=True, type=Path, help="preprocessed cache root (<data>/<split>/<scene>)")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--checkpoint", type=Path, help="encoder.pt of a pre-training run (linear, finetune)")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of training scenes (0, 1]")
    parser.add_argument("--config", default="quick", help=f"preset {list(PROFILES)} or a YAML file")
    parser.add_argument("--out", required=True, type=Path, help="run folder (replaced whole when the run ends)")
    parser.add_argument("--device", help="override the device: auto, cpu, cuda")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    if args.device:
        cfg = dataclasses.replace(cfg, device=args.device)
    metrics = run_probe(cfg, args.data, args.method, args.out, args.checkpoint, args.fraction)
    print(f"{args.method} (fraction {args.fraction}): mIoU {metrics['miou']:.4f}  mAcc {metrics['macc']:.4f}  "
          f"OA {metrics['oa']:.4f}  -> {args.out / 'metrics.json'}")
    return metrics


if __name__ == "__main__":
    sys.exit(run_cli(main))
