"""Segmentation probe: how good are BYOL's features for ScanNet20 semantic segmentation?

    python -m byol3d.probe --data DATA --method linear|finetune|scratch|random [--checkpoint encoder.pt]
                           [--fraction F] [--labelled-voxels K] --config smoke|quick|full|PATH.yaml --out RUN_DIR
                           [--set FIELD=VALUE ...]

Reads the model, data, eval and run sections of a byol3d.profile.Profile, and `linear_probe` (linear,
random, raw) or `finetune` (finetune, scratch). The pre-trained methods (linear, finetune) build the network
the checkpoint describes, not the profile's `model`; finetune's re-initialised head then trains with the
profile's `model.head_dropout`.

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
nested, at least one scene, the same scenes for every method); `labelled_voxels` K keeps the labels of K
voxels per training scene and ignores the rest (byol3d.data.dataset.sparse_labels: ScanNet's "limited
annotations", the same voxels for every method and seed). Evaluation: every vertex of every
validation scene (byol3d.eval.predict; with `tiled_eval`, predicted in crops of the training size),
metrics by the ScanNet rule (byol3d.eval.metrics). The crops' neighbour plans are kept in
`VALIDATION_PLANS` for the life of the process, so the many probes of a report search the same validation
crops once (byol3d.eval.plan_cache: the same predictions, about half the evaluation time on the CPU); on the
CPU, the frozen probes' training-crop plans likewise (`TRAINING_PLANS`: the same features, the random-init and
BYOL arms of a seed search their common crops once).

RUN_DIR (written whole, atomically): byol3d-run.json (marker with the run's identity, `probe_identity`;
byol3d.experiments files runs under runs/probe/<method>-<its key>), metrics.json, config.yaml, probe.pt (the
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
from itertools import count, islice
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from byol3d.cli import run_cli
from byol3d.config import PROFILES, ConfigError, apply_overrides, from_dict, save_yaml, to_dict
from byol3d.data.cache import data_fingerprint, list_scenes
from byol3d.data.dataset import EvalDataset, SegmentationDataset, select_fraction
from byol3d.data.labels import IGNORE_INDEX
from byol3d.eval.features import collect_features, feature_dim, freeze, recalibrate_batchnorm, scene_batches
from byol3d.eval.finetune import TrainSchedule, train_segmentation
from byol3d.eval.linear import FrozenProbeModel, LinearProbe, MajorityClass, probe_accuracy, train_linear
from byol3d.eval.metrics import segmentation_metrics
from byol3d.eval.plan_cache import PlanCache
from byol3d.eval.predict import evaluate
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.profile import Profile, load_profile
from byol3d.run_store import check_folder, checkpoint_sha256, identity_key, mark_folder
from byol3d.train.checkpoint import CheckpointError, load_pretrained, safe_load
from byol3d.train.finite import check_finite_losses
from byol3d.train.tensorboard_log import require_tensorboard, write_probe_events
from byol3d.utils.atomic import atomic_dir, atomic_torch_save, atomic_write_json, remove_stale_temporaries
from byol3d.utils.runtime import bf16_active, bf16_autocast, keep_freed_memory, pick_device, seed_everything

METHODS = ("linear", "finetune", "scratch", "random", "raw", "majority")
PRETRAINED_METHODS = ("linear", "finetune")  # need --checkpoint
LINEAR_METHODS = ("linear", "random", "raw")  # frozen features + linear layer
FROZEN_NETWORK_METHODS = ("linear", "random")  # linear probe on a frozen PointNeXt's features
NETWORK_METHODS = ("finetune", "scratch")  # the whole network trained with labels
PROBE_FORMAT = "byol3d-probe-v1"
CROPS_PER_PASS = 8  # training crops whose frozen features are computed in one pass (like predict's tiles)
# Validation crops' neighbour plans, shared by every probe run in this process. The quick profile's
# 10 validation rooms take ~0.6 GB (frozen-probe plans 0.4, network plans 0.2); a larger validation set
# is cached up to the bound and the rest searched each time.
VALIDATION_PLANS = PlanCache(max_bytes=1 << 30)
# Training crops' plans of the frozen probes on the CPU (BatchNorm recalibration and feature cache), shared the
# same way: the random-init and BYOL arms of one seed and fraction cut the same crops and keep the same points,
# so the second skips the neighbour search, about half of its feature passes. The quick profile's three seeds
# hold 1.4 GB at its three fractions (0.32 GB a seed on every room); past the bound, plans are searched each
# time. Not on a GPU, where the search is cheap and memory scarce.
TRAINING_PLANS = PlanCache(max_bytes=2 << 30)


def probe_identity(profile: Profile, data_root: str | Path, method: str, fraction: float = 1.0,
                   checkpoint: str | Path | None = None, labelled_voxels: int = 0) -> dict:
    """What decides a probe's result: the config sections `method` reads (runtime fields left out, and
    the head's dropout unless the method trains the head), the method, the training scenes `fraction`
    selects (two fractions that pick the same scenes share a run), the labelled voxels per scene when not
    all (absent otherwise, so fully labelled runs keep their keys), the checkpoint's bytes and the content
    fingerprint of the data."""
    _check_method(method, checkpoint)
    section = {"linear_probe": to_dict(profile.linear_probe)} if method in LINEAR_METHODS else \
        {"finetune": to_dict(profile.finetune)} if method in NETWORK_METHODS else {}
    if method == "scratch":
        del section["finetune"]["pretrained_lr_scale"]  # no pre-trained layers: every layer trains at lr
    scenes = [p.name for p in list_scenes(data_root, profile.eval.train_split)]
    return {"model": profile.model.result_fields(trains_head=method in NETWORK_METHODS),
            "data": to_dict(profile.data), "eval": to_dict(profile.eval), **section,
            "run": profile.run.result_fields(), "method": method,
            "train_scenes": select_fraction(scenes, fraction, profile.data.subset_seed),
            **({"labelled_voxels": labelled_voxels} if labelled_voxels else {}),
            "checkpoint": None if checkpoint is None else checkpoint_sha256(checkpoint),
            "data_content": data_fingerprint(data_root)}


def _check_method(method: str, checkpoint: str | Path | None) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; known: {list(METHODS)}")
    if method in PRETRAINED_METHODS and checkpoint is None:
        raise ConfigError(f"method {method!r} needs --checkpoint (a pre-training run's encoder.pt)")
    if method not in PRETRAINED_METHODS and checkpoint is not None:
        raise ConfigError(f"method {method!r} starts from random weights; drop --checkpoint "
                          "(set the architecture with the config's `model`)")


def starting_network(profile: Profile, method: str, checkpoint: str | Path | None) -> PointNeXt:
    """The starting network of `method`, seeded (new layers depend only on run.seed)."""
    _check_method(method, checkpoint)
    seed_everything(profile.run.seed)
    if checkpoint is None:
        return PointNeXt(profile.model)
    model = load_pretrained(checkpoint)  # the architecture is the checkpoint's, whatever the profile's model says
    if method == "finetune":
        model.reset_head(profile.model.head_dropout)  # the fresh head is trained with the profile's dropout
    return model


def _crops_forever(train_set: SegmentationDataset, device: torch.device) -> Iterator[dict]:
    """One-crop batches of the training scenes, epoch after epoch (each epoch a new crop of every scene)."""
    for epoch in count():
        train_set.set_epoch(epoch)
        yield from scene_batches(train_set, device, desc="BatchNorm statistics")


def _feature_kind(profile: Profile, method: str) -> str:
    """The features a linear method's probe reads: the input channels (raw) or the profile's network features."""
    return "input" if method == "raw" else profile.linear_probe.features


def frozen_training_features(profile: Profile, method: str, backbone: PointNeXt, train_set: SegmentationDataset,
                             device: torch.device, plans: PlanCache | None
                             ) -> tuple[PointNeXt, torch.Tensor, torch.Tensor]:
    """A frozen-feature method's training inputs: the backbone with its BatchNorm recalibrated on the training
    crops (network methods with `recalibrate_bn`) and frozen, and the features (M, D) and labels (M,) of
    `points_per_scene` points of `crops` crops per training scene. `plans`: the crops' neighbour plans are
    taken from and kept in this cache (`TRAINING_PLANS` on the CPU)."""
    lp, seed, kind = profile.linear_probe, profile.run.seed, _feature_kind(profile, method)
    backbone = backbone.to(device)
    if method in FROZEN_NETWORK_METHODS and lp.recalibrate_bn:
        recalibrate_batchnorm(backbone, islice(_crops_forever(train_set, device), lp.bn_batches), plans)
    backbone = freeze(backbone)
    cached = []
    for epoch in range(lp.crops):
        train_set.set_epoch(epoch)  # a new crop of every scene
        with bf16_autocast(device, profile.run.amp):
            cached.append(collect_features(backbone, train_set, kind, device, lp.points_per_scene,
                                           seed=seed + epoch, scenes_per_batch=CROPS_PER_PASS, plans=plans))
    return backbone, torch.cat([f for f, _ in cached]), torch.cat([l for _, l in cached])


def fit_linear_probe(profile: Profile, method: str, backbone: PointNeXt, train_set: SegmentationDataset,
                     device: torch.device) -> tuple[FrozenProbeModel, dict]:
    """Frozen features of `crops` crops per training scene (computed once), then the linear layer.
    Returns the predictor and its training record (losses, accuracy on the cached training points)."""
    lp = profile.linear_probe
    plans = TRAINING_PLANS if device.type == "cpu" else None
    backbone, feats, labels = frozen_training_features(profile, method, backbone, train_set, device, plans)
    kind = _feature_kind(profile, method)
    probe = LinearProbe(feature_dim(backbone, kind), backbone.cfg.num_classes, lp.normalize).to(device)
    losses = train_linear(probe, feats, labels, lp.steps, lp.lr, lp.weight_decay, lp.batch, profile.run.seed,
                          bf16=bf16_active(device, profile.run.amp))
    record = {"train_loss": losses, "train_accuracy": probe_accuracy(probe, feats, labels)}
    return FrozenProbeModel(backbone, probe, kind), record


def segmentation_schedule(profile: Profile, pretrained: bool) -> TrainSchedule:
    """The finetune (`pretrained`) / scratch arms' training schedule: the profile's `finetune` section and
    its run seed, DataLoader workers and bfloat16 switch (the lab and bench scripts train with this same
    schedule). Only pre-trained layers take `pretrained_lr_scale`."""
    ft, run = profile.finetune, profile.run
    return TrainSchedule(steps=ft.steps, lr=ft.lr, weight_decay=ft.weight_decay, warmup=ft.warmup,
                         batch_size=ft.batch_size, clip=ft.clip, seed=run.seed, num_workers=run.num_workers,
                         amp=run.amp, body_lr_scale=ft.pretrained_lr_scale if pretrained else 1.0)


def _fit_network(profile: Profile, method: str, model: PointNeXt, train_set: SegmentationDataset,
                 device: torch.device) -> tuple[PointNeXt, dict]:
    """The whole network trained with labels (finetune from its pre-trained weights, scratch from random)."""
    model = model.to(device)
    schedule = segmentation_schedule(profile, pretrained=method == "finetune")
    return model, {"train_loss": train_segmentation(model, train_set, schedule, device)}


def _fit_majority(model: PointNeXt, train_set: SegmentationDataset,
                  device: torch.device) -> tuple[MajorityClass, dict]:
    """The most frequent class over every labelled vertex of the training scenes."""
    counts = np.zeros(model.cfg.num_classes, dtype=np.int64)
    for i in range(len(train_set)):
        label = train_set.load(i)[2]
        counts += np.bincount(label[label != IGNORE_INDEX], minlength=model.cfg.num_classes)
    return MajorityClass(int(counts.argmax()), model.cfg.num_classes).to(device), {"train_loss": []}


def _fit(profile: Profile, method: str, model: nn.Module, train_set: SegmentationDataset,
         device: torch.device) -> tuple[nn.Module, dict]:
    """The trained predictor of `method` and its training record (losses, accuracies, seconds)."""
    if method == "majority":
        return _fit_majority(model, train_set, device)
    if method in LINEAR_METHODS:
        return fit_linear_probe(profile, method, model, train_set, device)
    return _fit_network(profile, method, model, train_set, device)


def _probe_payload(profile: Profile, method: str, predictor: nn.Module, model: nn.Module) -> dict:
    """What probe.pt holds: the predictor's weights and what `load_probe` needs to rebuild it."""
    return {"format": PROBE_FORMAT, "method": method,
            "features": getattr(predictor, "kind", profile.linear_probe.features),
            "normalize": profile.linear_probe.normalize, "model_config": to_dict(model.cfg),
            "state_dict": {k: v.detach().cpu() for k, v in predictor.state_dict().items()}}


def run_probe(profile: Profile, data_root: str | Path, method: str, out_dir: str | Path,
              checkpoint: str | Path | None = None, fraction: float = 1.0, labelled_voxels: int = 0) -> dict:
    """Train `method` on `fraction` of the training scenes (with `labelled_voxels` labelled voxels each
    when > 0; 0 = every vertex), evaluate on whole validation scenes, write
    out_dir/{metrics.json, config.yaml, probe.pt, tensorboard/} (the folder appears complete or not at all)
    and return the metrics dict."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    check_folder(out_dir, "probe")  # a probe folder is replaced whole: any probe run's may be
    require_tensorboard()  # a missing package stops the run now, not after training
    remove_stale_temporaries(out_dir.parent, out_dir.name)  # of an earlier probe killed while writing it
    device = pick_device(profile.run.device)
    if profile.run.keep_freed_memory:
        keep_freed_memory()
    model = starting_network(profile, method, checkpoint)  # a bad checkpoint stops here, naming the file
    identity = probe_identity(profile, data_root, method, fraction, checkpoint, labelled_voxels)
    linear, split = method in LINEAR_METHODS, profile.eval
    data = dataclasses.replace(profile.data, augment=profile.linear_probe.augment) if linear else profile.data
    train_set = SegmentationDataset(data_root, split.train_split, data, train=True, fraction=fraction,
                                    seed=profile.run.seed, labelled_voxels=labelled_voxels)
    eval_set = EvalDataset(data_root, split.eval_split, profile.data, fraction=split.eval_fraction)
    for dataset in (train_set, eval_set):
        dataset.check_scenes()
    predictor, record = _fit(profile, method, model, train_set, device)
    check_finite_losses(record["train_loss"], f"{out_dir}: {method} probe")
    crop_points = profile.data.voxel_max if split.tiled_eval else None
    with bf16_autocast(device, profile.run.amp):
        confusion = evaluate(predictor, eval_set, device, model.cfg.num_classes, crop_points, VALIDATION_PLANS)
    metrics = {
        **segmentation_metrics(confusion),
        "method": method, "fraction": fraction, "labelled_voxels": labelled_voxels,
        "train_scenes": train_set.scene_ids,
        "eval_scenes": eval_set.scene_ids, "checkpoint": None if checkpoint is None else str(checkpoint),
        "model": to_dict(model.cfg), "config": to_dict(profile), "run_key": identity_key(identity),
        **record, "seconds": round(time.perf_counter() - start, 2),
        "bf16": bf16_active(device, profile.run.amp),  # what ran: run.amp asks, the device decides
    }
    with atomic_dir(out_dir) as tmp:
        mark_folder(tmp, "probe", identity)
        save_yaml(profile, tmp / "config.yaml")
        atomic_torch_save(_probe_payload(profile, method, predictor, model), tmp / "probe.pt")
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
    parser.add_argument("--labelled-voxels", type=int, default=0,
                        help="labelled voxels per training scene, the rest ignored (0 = every vertex labelled)")
    parser.add_argument("--config", default="quick", help=f"preset {list(PROFILES)} or a YAML file")
    parser.add_argument("--out", required=True, type=Path, help="run folder (replaced whole when the run ends)")
    parser.add_argument("--device", help="override the device: auto, cpu, cuda")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override profile fields, e.g. linear_probe.steps=500 finetune.lr=0.003")
    args = parser.parse_args(argv)
    overrides = ([f"run.device={args.device}"] if args.device else []) + args.set
    profile = apply_overrides(load_profile(args.config), overrides)
    metrics = run_probe(profile, args.data, args.method, args.out, args.checkpoint, args.fraction,
                        args.labelled_voxels)
    labels = f", {args.labelled_voxels} labelled voxels per scene" if args.labelled_voxels else ""
    print(f"{args.method} (fraction {args.fraction}{labels}): mIoU {metrics['miou']:.4f}  mAcc {metrics['macc']:.4f}  "
          f"OA {metrics['oa']:.4f}  -> {args.out / 'metrics.json'}")
    return metrics


if __name__ == "__main__":
    sys.exit(run_cli(main))
