"""Training-step throughput on the CPU: the float32 eager reference vs the optimised step, side by side.

Two cases, each on one fixed batch of the quick preset (SynthRooms, PointNeXt-S at the CPU voxel size):
  byol          a BYOL step of Profile.quick(): 4 view pairs of <= 4,000 points, online and
                target networks, loss, backward, AdamW, EMA update of the target;
  segmentation  a fine-tune / scratch step of Profile.quick(): 8 crops of <= 4,000 points,
                cross-entropy, backward, AdamW.
reference = float32 eager, every network searches its own neighbours, nn.Dropout in the segmentation
            head, each grouped MLP's last BatchNorm, ReLU and max one after the other (`fused_max` off):
            the code before the fast path;
ours      = the default path: bfloat16 autocast where the CPU has fast bf16, (BYOL) one neighbour
            plan per view shared by the online and target networks, (segmentation) byol3d's Dropout,
            BatchNorm + ReLU + max in one step (models.blocks.norm_relu_max).
Both paths share the rest: one KD-tree per neighbour query over all scenes of a batch, the head's
scene-max term projected per scene (these landed with the fast path and speed up the reference too).
Both start from identical weights; `max_abs_loss_diff` compares their first losses on the batch (the
fast path must stay within LOSS_TOLERANCE of the reference). Step times are medians of interleaved
repeats (reference, ours, reference, ...), so load on the machine hits both alike. peak_mem_mb: peak
resident memory above the starting level during one step (bench/ops.py PeakRSS), measured after
all timings because PeakRSS changes glibc's mmap threshold.

    .venv/bin/python bench/train_step.py            # one JSON line per case
    .venv/bin/python bench/train_step.py --profile  # + torch.profiler top entries of each step
    .venv/bin/python bench/train_step.py --keep-freed-memory  # both paths with glibc keeping freed blocks
    .venv/bin/python bench/train_step.py --allocator-ab 2     # the allocator lever across processes
    .venv/bin/python bench/train_step.py --fused-reference    # the reference with fused_max on too

The allocator setting (byol3d.utils.runtime.keep_freed_memory, on by default in training runs) is
process-wide, so it cannot be timed side by side in one process. `--allocator-ab N` runs this script N
times without it and N times with it, interleaved, and prints per case the medians of the reference
step (glibc's defaults: the code before the fast path) and of ours (kept blocks), and their ratio.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ops as bench_ops  # a script's own folder (bench/) is first on sys.path
from byol3d.byol import byol_objective, ema_update
from byol3d.data.dataset import SegmentationDataset, TwoViewDataset, collate_scenes, collate_views
from byol3d.data.labels import IGNORE_INDEX
from byol3d.models import PointNeXt
from byol3d.pretrain import build_training, start_tau
from byol3d.profile import Profile
from byol3d.train.distributed import DistInfo
from byol3d.utils.runtime import bf16_autocast, fast_bf16, keep_freed_memory

LOSS_TOLERANCE = 0.02  # relative: |loss_ours - loss_ref| / loss_ref on the same batch and weights
CPU = torch.device("cpu")


def reference_profile(fused_reference: bool) -> Profile:
    """The quick profile as the reference runs it: `fused_max` off unless fused_reference (the parameters
    are the same either way, so both paths still start from identical weights)."""
    profile = Profile.quick()
    return dataclasses.replace(profile, model=dataclasses.replace(profile.model, fused_max=fused_reference))


def byol_case(data_root: Path, fused_reference: bool) -> tuple[str, object, object, int]:
    """(case name, reference step, ours step, points per step) for a BYOL step on a fixed batch."""
    profile = Profile.quick()
    cfg = profile.byol
    dataset = TwoViewDataset(data_root, cfg.split, profile.data, seed=0)
    views = collate_views([dataset[i % len(dataset)] for i in range(cfg.batch_size)])  # cycles on tiny test data
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=CPU)

    def stepper(amp: bool, share_plans: bool, profile: Profile):
        model, forward, optimizer, _ = build_training(profile, info, cfg.steps)  # seeded: same weights every call
        model.train()

        def step() -> float:
            generator = torch.Generator().manual_seed(0)
            with bf16_autocast(CPU, amp):
                outputs = forward(*views, generator, share_plans=share_plans)
                loss, _ = byol_objective(outputs, model.kinds, cfg.dense_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), cfg.clip)
            optimizer.step()
            ema_update(model.online.net, model.target, start_tau(cfg, cfg.steps))
            return loss.item()
        return step

    points = sum(len(v["coord"]) for v in views)  # both views: what the networks process
    reference = stepper(amp=False, share_plans=False, profile=reference_profile(fused_reference))
    return "byol", reference, stepper(amp=True, share_plans=True, profile=profile), points


def segmentation_case(data_root: Path, fused_reference: bool) -> tuple[str, object, object, int]:
    """(case name, reference step, ours step, points per step) for a segmentation training step.

    The reference uses nn.Dropout in the head, as the code before the fast path did; its Bernoulli
    masks differ from byol3d's uniform-draw Dropout, so the first (loss-comparing) call of both
    paths uses byol3d's Dropout with the same seed, and the reference switches to nn.Dropout after it.
    """
    profile = Profile.quick()
    cfg = profile.finetune
    dataset = SegmentationDataset(data_root, profile.eval.train_split, profile.data, train=True, seed=0)
    batch = collate_scenes([dataset[i % len(dataset)] for i in range(cfg.batch_size)])  # cycles on tiny test data
    torch.manual_seed(0)
    initial = PointNeXt(profile.model).train()

    def stepper(amp: bool, reference: bool):
        if reference:  # the same weights in the reference's network
            model = PointNeXt(reference_profile(fused_reference).model).train()
            model.load_state_dict(initial.state_dict())
        else:
            model = copy.deepcopy(initial)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        calls = []

        def step() -> float:
            if reference and len(calls) == 1:
                model.head.dropout = torch.nn.Dropout(profile.model.head_dropout)
            calls.append(None)
            torch.manual_seed(1)  # the head's dropout mask
            with bf16_autocast(CPU, amp):
                logits = model(batch)
            loss = F.cross_entropy(logits.float(), batch["label"], ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            return loss.item()
        return step

    return "segmentation", stepper(amp=False, reference=True), stepper(amp=True, reference=False), len(batch["coord"])


def step_seconds(step) -> float:
    """Wall seconds of one call of step."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def peak_mb(step, peak_rss) -> float:
    """Peak resident memory above the starting level during one call of step, MB."""
    with peak_rss() as mem:
        step()
    return round(mem.mb, 1)


def profile_table(step, rows: int) -> str:
    """torch.profiler table of one step, sorted by self CPU time."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def time_case(name: str, reference, ours, points: int, repeats: int) -> dict:
    """Interleaved timing of the two steps; their first calls compare the losses."""
    loss_ref, loss_ours = reference(), ours()  # identical weights and batch: only the path differs
    reference(), ours()  # warm-up (allocator, thread pools)
    times = {"reference": [], "ours": []}
    for _ in range(repeats):
        times["reference"].append(step_seconds(reference))
        times["ours"].append(step_seconds(ours))
    ref_s, ours_s = statistics.median(times["reference"]), statistics.median(times["ours"])
    return {
        "case": name,
        "reference_points_per_s": round(points / ref_s),
        "ours_points_per_s": round(points / ours_s),
        "speedup": round(ref_s / ours_s, 2),
        "max_abs_loss_diff": round(abs(loss_ours - loss_ref), 5),
        "loss_reference": round(loss_ref, 5),
        "within_tolerance": abs(loss_ours - loss_ref) <= LOSS_TOLERANCE * abs(loss_ref),
        "step_s": {"reference": round(ref_s, 3), "ours": round(ours_s, 3),
                   "ours_min_max": [round(min(times["ours"]), 3), round(max(times["ours"]), 3)]},
        "bf16_fast": fast_bf16(CPU),
    }


def allocator_ab(args: argparse.Namespace, pairs: int) -> None:
    """Interleaved runs of this script without and with kept freed memory -> one JSON line per case."""
    base = [sys.executable, __file__, "--data", args.data, "--repeats", str(args.repeats), "--cases", *args.cases]
    base += ["--fused-reference"] if args.fused_reference else []
    steps: dict[tuple[str, bool], list[float]] = {}
    for _ in range(pairs):
        for keep in (False, True):
            run = subprocess.run(base + (["--keep-freed-memory"] if keep else []), capture_output=True, text=True)
            if run.returncode != 0:
                raise SystemExit(f"bench/train_step.py --allocator-ab: a run failed:\n{run.stderr[-2000:]}")
            for row in map(json.loads, run.stdout.splitlines()):
                if row["keep_freed_memory"] != keep:
                    raise SystemExit("bench/train_step.py --allocator-ab: glibc's mallopt is not available here")
                path = "ours" if keep else "reference"
                steps.setdefault((row["case"], keep), []).append(row["step_s"][path])
    for case in args.cases:
        ref_s, ours_s = statistics.median(steps[(case, False)]), statistics.median(steps[(case, True)])
        print(json.dumps({"case": case, "pairs": pairs, "reference_step_s": round(ref_s, 3),
                          "ours_kept_memory_step_s": round(ours_s, 3), "speedup": round(ref_s / ours_s, 2),
                          "runs": {"reference": steps[(case, False)], "ours": steps[(case, True)]}}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthrooms/processed", help="preprocessed cache (make data)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps of each path per case")
    parser.add_argument("--cases", nargs="*", default=["byol", "segmentation"], choices=["byol", "segmentation"])
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS",
                        help="also print the top ROWS torch.profiler entries of each path")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="both paths with glibc keeping freed blocks (byol3d.utils.runtime.keep_freed_memory)")
    parser.add_argument("--allocator-ab", type=int, default=0, metavar="N",
                        help="N interleaved runs without and with --keep-freed-memory: reference vs ours across them")
    parser.add_argument("--fused-reference", action="store_true",
                        help="the reference with fused_max on too: the lever counted on both sides")
    args = parser.parse_args()
    if args.allocator_ab:
        return allocator_ab(args, args.allocator_ab)
    kept = args.keep_freed_memory and keep_freed_memory()
    data_root = Path(args.data)
    if not (data_root / "summary.json").exists():
        raise SystemExit(f"bench/train_step.py: {data_root} is not a preprocessed cache (no summary.json); "
                         "run `make data` first or pass --data")
    builders = {"byol": byol_case, "segmentation": segmentation_case}
    cases = [builders[case](data_root, args.fused_reference) for case in args.cases]
    rows = [time_case(*case, args.repeats) for case in cases]
    # Memory last: PeakRSS changes glibc's mmap threshold for the rest of the process.
    peak_rss = bench_ops.PeakRSS
    for row, (_, reference, ours, _) in zip(rows, cases):
        row["peak_mem_mb"] = peak_mb(ours, peak_rss)
        row["reference_peak_mem_mb"] = peak_mb(reference, peak_rss)
        row["keep_freed_memory"] = kept
        row["fused_reference"] = args.fused_reference
        print(json.dumps(row), flush=True)
    for row, (_, reference, ours, _) in zip(rows, cases) if args.profile else ():
        for path, step in (("reference", reference), ("ours", ours)):
            print(f"--- {row['case']} / {path}: torch.profiler, top {args.profile} by self CPU time")
            print(profile_table(step, args.profile))


if __name__ == "__main__":
    main()
