"""BYOL pre-training of PointNeXt (Grill et al., NeurIPS 2020; Qian et al., NeurIPS 2022).

    python -m byol3d.pretrain --data DATA --config smoke|quick|full|PATH.yaml [--out RUN_DIR] [--resume]
                              [--set byol.steps=300 ...]
    torchrun --nproc_per_node=N -m byol3d.pretrain ...        (DistributedDataParallel, one GPU per process)

Reads the model, data, byol and run sections of a byol3d.profile.Profile. Run folder (byol3d.run_store;
default runs/byol/<key of those sections and of the training data's content fingerprint>):
byol3d-run.json (marker with the run's identity: only such folders, or new / empty ones, are used),
config.yaml (the whole profile), metrics.jsonl (one JSON line per step: byol3d.train.metrics_log),
tensorboard/ (the same numbers as TensorBoard event files, tags `byol/<metric>`:
byol3d.train.tensorboard_log; `make tensorboard`), checkpoints/last.pt (every `ckpt_every` steps and at the
end) and encoder.pt (the online PointNeXt, written last: its presence means the run finished). A run stops
at the first non-finite loss or weight. `--resume` continues from checkpoints/last.pt exactly where it
stopped: the data order and augmentations depend only on (seed, epoch, item), the dense-pair sampling on
(seed, step, rank), and the checkpoint holds weights, optimiser, scheduler and RNG states.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from byol3d.byol.ema import ema_update, tau_base_for, tau_schedule
from byol3d.byol.loss import byol_objective
from byol3d.byol.model import BYOL, freeze_for_training
from byol3d.cli import run_cli
from byol3d.config import PROFILES, ConfigError, apply_overrides, save_yaml, to_dict
from byol3d.data.cache import data_fingerprint
from byol3d.data.dataset import TwoViewDataset, batch_to, make_loader, set_loader_epoch
from byol3d.profile import ByolConfig, Profile, load_profile
from byol3d.run_store import check_folder, identity_key, mark_folder, run_dir
from byol3d.train.checkpoint import export_encoder, load_checkpoint, restore_rng, save_checkpoint
from byol3d.train.distributed import (DistInfo, ResumableSampler, check_replicas_equal, cleanup_distributed,
                                      init_distributed, mean_across_ranks, prepare_batchnorm, wrap_ddp)
from byol3d.train.finite import NonFiniteError, first_non_finite
from byol3d.train.metrics_log import LOG_NAME, append_step, truncate_log
from byol3d.train.schedule import cosine_with_warmup
from byol3d.train.tensorboard_log import log_scalars, open_writer, require_tensorboard
from byol3d.utils.atomic import remove_stale_temporaries
from byol3d.utils.runtime import bf16_active, bf16_autocast, keep_freed_memory, seed_everything


def pretrain_identity(profile: Profile, data_root: str | Path) -> dict:
    """What decides a pre-training's result: the config sections it reads (runtime fields left out, the
    segmentation head's dropout: it never trains the head, and the mask's fields when it is off, so runs
    from before it keep their keys) and the content fingerprint of its training split."""
    byol = to_dict(profile.byol)
    if profile.byol.mask_ratio == 0.0:
        del byol["mask_ratio"], byol["mask_size"]
    return {"model": profile.model.result_fields(trains_head=False), "data": to_dict(profile.data),
            "byol": byol, "run": profile.run.result_fields(),
            "data_content": data_fingerprint(data_root, (profile.byol.split,))}


def default_run_dir(profile: Profile, data_root: str | Path, runs_root: str | Path = "runs") -> Path:
    """runs/byol/<key>: a run is reused by any caller asking for the same config on the same data."""
    return run_dir(runs_root, "pretrain", pretrain_identity(profile, data_root))


def _check_run_dir(out: Path, resume: bool, identity: dict) -> str:
    """'done' (finished), 'resume' or 'fresh'; another kind of folder or another run raises ConfigError."""
    check_folder(out, "pretrain", identity)
    if (out / "encoder.pt").exists():
        return "done"
    if (out / "checkpoints" / "last.pt").exists():
        if not resume:
            raise ConfigError(f"{out}: holds an unfinished run; pass --resume to continue it or choose another --out")
        return "resume"
    return "fresh"


def make_pretrain_loader(profile: Profile, data_root: Path, info: DistInfo):
    """Two-view loader over this rank's shard, its resumable sampler and the steps per epoch."""
    byol, seed = profile.byol, profile.run.seed
    dataset = TwoViewDataset(data_root, byol.split, profile.data, seed=seed)
    sampler = ResumableSampler(dataset, info, seed=seed)
    loader = make_loader(dataset, byol.batch_size, shuffle=False, num_workers=profile.run.num_workers,
                         sampler=sampler, drop_last=True)
    steps_per_epoch = sampler.num_samples // byol.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"{data_root}/{byol.split}: {len(dataset)} scenes are fewer than batch_size "
                          f"{byol.batch_size} x {info.world_size} process(es)")
    return loader, sampler, steps_per_epoch


def _pair_generator(seed: int, step: int, info: DistInfo) -> torch.Generator:
    """Dense-pair sampling depends only on (seed, step, rank): identical after a resume."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 1009 + info.rank)


def start_tau(byol: ByolConfig, total: int) -> float:
    """The run's τ_base: `byol.tau_base`, or the run-length rule (byol3d.byol.ema.tau_base_for) when None."""
    return tau_base_for(total) if byol.tau_base is None else byol.tau_base


def train_step(model: BYOL, forward, optimizer, scheduler, views, profile: Profile, step: int, total: int,
               info: DistInfo) -> dict:
    """One BYOL step: loss on both views, AdamW update, LR schedule, EMA of the target. Returns metrics.
    `forward` is the model itself, or its DistributedDataParallel wrapper when distributed."""
    byol = profile.byol
    view1, view2 = (batch_to(v, info.device) for v in views)
    with bf16_autocast(info.device, profile.run.amp):
        outputs = forward(view1, view2, _pair_generator(profile.run.seed, step, info))  # (DDP-wrapped) BYOL
        loss, metrics = byol_objective(outputs, model.kinds, byol.dense_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if byol.clip > 0:
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), byol.clip)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    tau = tau_schedule(step, total, start_tau(byol, total))
    ema_update(model.online.net, model.target, tau)  # target <- tau * target + (1 - tau) * online
    metrics = mean_across_ranks(metrics, info)
    return {**metrics, "lr": lr, "tau": tau}


def _restore(model: BYOL, optimizer, scheduler, path: Path, key: str, steps_per_epoch: int) -> int:
    """Load everything `_save` wrote; returns the number of steps already done."""
    state = load_checkpoint(path, required=("online", "target", "optimizer", "scheduler", "step", "sampler", "run_key"))
    if state["run_key"] != key:
        raise ConfigError(f"{path}: checkpoint of another run (key {state['run_key']}, not {key})")
    if state["sampler"]["steps_per_epoch"] != steps_per_epoch:
        raise ConfigError(f"{path}: the dataset changed since the checkpoint "
                          f"({state['sampler']['steps_per_epoch']} -> {steps_per_epoch} steps per epoch)")
    model.online.load_state_dict(state["online"])
    model.target.load_state_dict(state["target"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"])
    return int(state["step"])


def _check_loss(loss: float, step: int, out: Path) -> None:
    """NonFiniteError naming the step when the (all-rank mean) loss is NaN/inf: nothing NaN gets saved."""
    if not math.isfinite(loss):
        raise NonFiniteError(f"{out}: step {step}: the loss is {loss}, so training diverged; lower lr "
                             "(or check the data) and start a new run")


def _check_weights(model: BYOL, step: int, out: Path) -> None:
    """NonFiniteError naming the step and the tensor when an online weight is NaN/inf (checked before saving)."""
    bad = first_non_finite(model.online.state_dict())
    if bad is not None:
        raise NonFiniteError(f"{out}: step {step}: weight {bad!r} is NaN/inf, so training diverged; lower lr "
                             "(or check the data) and start a new run")


def _save(model: BYOL, optimizer, scheduler, path: Path, key: str, step: int, steps_per_epoch: int) -> None:
    epoch, position = divmod(step, steps_per_epoch)
    save_checkpoint(path, {
        "online": model.online.state_dict(), "target": model.target.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
        "sampler": {"epoch": epoch, "position": position, "steps_per_epoch": steps_per_epoch},
        "run_key": key,
    })


def build_training(profile: Profile, info: DistInfo, total: int):
    """BYOL model on the device (frozen where it must not learn), its DDP wrapper (the model itself
    when not distributed), AdamW and the LR scheduler.

    Biases and BatchNorm parameters (the 1-D tensors) get no weight decay, as in BYOL (Grill et al.
    2020, Appendix C) and PointNeXt's training recipe.
    """
    byol = profile.byol
    seed_everything(profile.run.seed)  # same seed on every rank: identical initial weights
    model = BYOL(profile.model, byol.loss, byol.pool, byol.proj_hidden, byol.proj_out, byol.dense_pairs,
                 byol.region_size, byol.mask_ratio, byol.mask_size)
    freeze_for_training(model)
    model = prepare_batchnorm(model, info).to(info.device)
    params = model.trainable_parameters()
    groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": byol.weight_decay},
              {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=byol.lr)
    return model, wrap_ddp(model, info), optimizer, cosine_with_warmup(optimizer, total, byol.warmup)


def _log_step(metrics: dict, step: int, seconds: float, path: Path, writer, bar: tqdm) -> None:
    """Append the step's metrics to metrics.jsonl, then give them to the TensorBoard writer as `byol/<key>`."""
    row = append_step(path, metrics, step, seconds)
    log_scalars(writer, "byol", {k: v for k, v in row.items() if k != "step"}, step)
    bar.update(1)
    bar.set_postfix(loss=f"{row['loss']:.3f}", std=f"{row['collapse_std']:.3f}")


def _train(profile: Profile, data_root: Path, out: Path, info: DistInfo, resume: bool, identity: dict) -> None:
    byol, key = profile.byol, identity_key(identity)
    loader, sampler, steps_per_epoch = make_pretrain_loader(profile, data_root, info)
    total = byol.epochs * steps_per_epoch if byol.epochs > 0 else byol.steps
    model, forward, optimizer, scheduler = build_training(profile, info, total)
    ckpt, metrics_path = out / "checkpoints" / "last.pt", out / LOG_NAME
    step = _restore(model, optimizer, scheduler, ckpt, key, steps_per_epoch) if resume and ckpt.exists() else 0
    writer = None
    if info.is_main:
        mark_folder(out, "pretrain", identity)
        save_yaml(profile, out / "config.yaml")
        truncate_log(metrics_path, step)
        writer = open_writer(out, first_step=step + 1)  # TensorBoard drops what a killed attempt logged after it
    model.train()
    bar = tqdm(total=total, initial=step, desc="BYOL pre-training", disable=not info.is_main)
    try:
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            set_loader_epoch(loader, epoch)
            sampler.set_start(position * byol.batch_size)
            for views in loader:
                start = time.perf_counter()
                metrics = train_step(model, forward, optimizer, scheduler, views, profile, step, total, info)
                step += 1
                at_checkpoint = step % byol.ckpt_every == 0 or step == total
                _check_loss(metrics["loss"], step, out)
                if at_checkpoint:
                    _check_weights(model, step, out)  # on every rank: replicas are equal, so all stop together
                if info.is_main:
                    _log_step(metrics, step, time.perf_counter() - start, metrics_path, writer, bar)
                    if at_checkpoint:
                        writer.flush()  # events up to the checkpoint on disk before it: a resume keeps them
                        _save(model, optimizer, scheduler, ckpt, key, step, steps_per_epoch)
                if step >= total:
                    break
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    check_replicas_equal(model.online, info)
    if info.is_main:
        meta = {"method": "byol", "loss": byol.loss, "steps": total, "run_key": key,
                "data_content": identity["data_content"],
                "bf16": bf16_active(info.device, profile.run.amp)}  # of the process that finished the run
        export_encoder(model.encoder, profile.model, out / "encoder.pt", meta)


def run_pretrain(profile: Profile, data_root: str | Path, out_dir: str | Path, resume: bool = False) -> Path:
    """Pre-train (or finish / reuse) the run in `out_dir`; returns the run folder.

    A finished run with the same config and training data is returned as is; an unfinished one needs
    resume=True; a folder holding another config, other data or no pretrain marker raises ConfigError.
    """
    out = Path(out_dir)
    identity = pretrain_identity(profile, data_root)
    status = _check_run_dir(out, resume, identity)
    if os.environ.get("RANK", "0") == "0":  # one writer; the other ranks have not started writing
        for folder in (out, out / "checkpoints"):
            remove_stale_temporaries(folder)  # what writes killed in an earlier run left behind
    if status == "done":
        return out
    require_tensorboard()  # on every rank, before the process group: a missing package stops all alike
    if profile.run.keep_freed_memory:
        keep_freed_memory()
    info = init_distributed(profile.run.device)
    try:
        _train(profile, Path(data_root), out, info, resume=status == "resume", identity=identity)
    finally:
        cleanup_distributed()
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="BYOL pre-training of PointNeXt (byol3d).")
    parser.add_argument("--data", required=True, type=Path, help="preprocessed cache root (<data>/<split>/<scene>)")
    parser.add_argument("--config", default="quick", help=f"preset {list(PROFILES)} or a YAML file")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/byol/<key of config and data>)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last.pt")
    parser.add_argument("--steps", type=int, help="override the number of steps (sets byol.epochs to 0)")
    parser.add_argument("--device", help="override the device: auto, cpu, cuda")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override profile fields, e.g. byol.loss=dense byol.tau_base=0.99")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shortcuts = ([f"byol.steps={args.steps}", "byol.epochs=0"] if args.steps is not None else []) + \
        ([f"run.device={args.device}"] if args.device else [])
    profile = apply_overrides(load_profile(args.config), shortcuts + args.set)
    out = run_pretrain(profile, args.data, args.out or default_run_dir(profile, args.data), resume=args.resume)
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {out}")
    return out


if __name__ == "__main__":
    sys.exit(run_cli(main))
