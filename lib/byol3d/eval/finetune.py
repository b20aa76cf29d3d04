"""Supervised segmentation training of a whole PointNeXt (fine-tuning from BYOL, or from scratch).

PointNeXt's ScanNet recipe (Qian et al., NeurIPS 2022), scaled down to a step budget: AdamW
(lr 1e-3, weight decay 1e-4), cross-entropy ignoring IGNORE_INDEX, gradient-norm clip 10, random
augmented crops of `voxel_max` points, batch of scenes. The learning rate warms up then follows a
cosine decay (byol3d.train.schedule), the same for fine-tuning and scratch so they differ only in the
initial weights.
A pre-trained network may train its pre-trained layers at a fraction of the head's rate
(`body_lr_scale`, "discriminative fine-tuning", Howard & Ruder, ACL 2018), so that the fresh head's large
early gradients do not overwrite them (Kumar et al., ICLR 2022, "Fine-tuning can distort pretrained
features").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F
from tqdm import tqdm  # plain bars: widget bars break the offline HTML report

from byol3d.data.dataset import SegmentationDataset, batch_to, make_loader, set_loader_epoch
from byol3d.data.labels import IGNORE_INDEX
from byol3d.models.pointnext import PointNeXt
from byol3d.train.schedule import cosine_with_warmup
from byol3d.utils.runtime import bf16_autocast


@dataclass
class TrainSchedule:
    steps: int  # optimisation steps (independent of the number of training scenes)
    lr: float  # AdamW base learning rate
    weight_decay: float  # AdamW weight decay
    warmup: int  # linear warm-up steps
    batch_size: int  # crops per step
    clip: float  # gradient-norm clip (0 = off)
    seed: int  # data order and augmentation seed
    num_workers: int  # DataLoader workers
    amp: bool = False  # bfloat16 autocast of the forward pass where the hardware has fast bf16
    body_lr_scale: float = 1.0  # learning-rate multiplier of every parameter outside model.head


def parameter_groups(model: PointNeXt, lr: float, body_lr_scale: float) -> list[dict]:
    """AdamW groups: the segmentation head at `lr`, the rest of the network (encoder, decoder) at
    `lr * body_lr_scale`. The cosine schedule multiplies both alike."""
    head = list(model.head.parameters())
    in_head = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in in_head]
    return [{"params": body, "lr": lr * body_lr_scale}, {"params": head, "lr": lr}]


def train_segmentation(model: PointNeXt, dataset: SegmentationDataset, schedule: TrainSchedule,
                       device: torch.device, on_step: Callable[[int, PointNeXt], None] | None = None) -> list[float]:
    """Train every parameter of `model` (on `device`) for `schedule.steps` steps; returns the losses.

    Epochs restart the seeded data order, so a training set smaller than a batch is simply revisited.
    `on_step(step, model)`, if given, is called after every step (1-based), e.g. to evaluate a learning
    curve; the model is back in training mode when it returns.
    """
    if not dataset.train:
        raise ValueError("train_segmentation needs a SegmentationDataset with train=True")
    batch_size = min(schedule.batch_size, len(dataset))
    loader = make_loader(dataset, batch_size, shuffle=True, num_workers=schedule.num_workers, seed=schedule.seed,
                         drop_last=True)
    groups = parameter_groups(model, schedule.lr, schedule.body_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=schedule.lr, weight_decay=schedule.weight_decay)
    scheduler = cosine_with_warmup(optimizer, schedule.steps, schedule.warmup)
    model.train()
    losses: list[float] = []
    bar = tqdm(total=schedule.steps, desc="segmentation training", leave=False)
    epoch = 0
    while len(losses) < schedule.steps:
        set_loader_epoch(loader, epoch)
        done = len(losses)
        for batch in loader:
            batch = batch_to(batch, device)
            if not bool((batch["label"] != IGNORE_INDEX).any()):
                continue  # a crop without any labelled point has no loss (cross-entropy would be NaN)
            with bf16_autocast(device, schedule.amp):
                logits = model(batch)
            loss = F.cross_entropy(logits.float(), batch["label"], ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if schedule.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.clip)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if on_step is not None:
                on_step(len(losses), model)
                model.train()
            if len(losses) >= schedule.steps:
                break
        if len(losses) == done:
            raise ValueError("a whole epoch of training crops had no labelled point")
        epoch += 1
    bar.close()
    model.eval()
    return losses
