"""PointNeXt-S / -B training and inference throughput in instances (scenes) per second on a GPU.

The PointNeXt paper reports throughput on a V100 (S 227, B 158 instances/s); this measures the same
figure for our implementation: a batch of `--batch` scenes x `--points` points (crops of bench/model.py's
room cloud at ScanNet density, 7 input features, 20 classes), neighbour ops on the `torch` backend.
  train  forward + cross-entropy + backward + AdamW step, model in train mode
  infer  forward only, eval mode, torch.inference_mode
each in fp32 and under bf16 autocast. `--warmup` untimed iterations, then `--iters` timed ones
between two torch.cuda.synchronize calls; one JSON line per (model, precision, mode).

    python3 bench/gpu_throughput.py                                   # GPU: 16 x 15,000 points, S and B
    .venv/bin/python bench/gpu_throughput.py --device cpu --batch 2 --points 2000 --iters 1   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import torch
import torch.nn.functional as F

import model as bench_model  # a script's own folder (bench/) is first on sys.path
from byol3d.models import PointNeXt, PointNeXtConfig

PAPER_V100 = {"S": 227, "B": 158}  # instances/s, Qian et al., NeurIPS 2022


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(model: PointNeXt, batch: dict, mode: str, precision: str, device: torch.device):
    """A closure running one train or inference iteration on `batch` (already on `device`)."""
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    if mode == "infer":
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), autocast:
                model(batch)  # (N, 20)
        return infer
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def train() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = model(batch)  # (N, 20)
        F.cross_entropy(logits.float(), batch["label"]).backward()
        optimizer.step()
    return train


def measure(model: PointNeXt, batch: dict, mode: str, precision: str, args, device: torch.device) -> dict:
    """Warm up, then time `args.iters` iterations -> throughput row."""
    step = make_step(model, batch, mode, precision, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    sync(device)
    seconds = (time.perf_counter() - start) / args.iters
    row = {"mode": mode, "precision": precision, "step_s": round(seconds, 4),
           "ins_per_s": round(args.batch / seconds, 1), "points_per_s": round(args.batch * args.points / seconds)}
    if device.type == "cuda":
        row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


def header(args, device: torch.device) -> dict:
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device), "backend": args.backend,
            "batch": args.batch, "points": args.points, "warmup": args.warmup, "iters": args.iters}
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    return info


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=16, help="scenes per batch")
    parser.add_argument("--points", type=int, default=15000, help="points per scene")
    parser.add_argument("--models", nargs="+", default=["S", "B"], choices=["S", "B", "L", "XL"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--backend", default="torch", choices=["torch", "pointops", "cpu"], help="byol3d.ops backend")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    print(json.dumps({"header": "gpu_throughput"} | header(args, device)), flush=True)
    batch = bench_model.make_batch(args.points, args.batch, seed=0)
    batch = {k: v.to(device) for k, v in batch.items()}  # coord (N, 3), feat (N, 7), offset (B,), label (N,)
    failed = 0
    for name in args.models:
        torch.manual_seed(0)
        model = PointNeXt(getattr(PointNeXtConfig, name)(), ops_backend=args.backend).to(device)
        for precision in args.precisions:
            for mode in args.modes:
                row = {"model": f"PointNeXt-{name}", "paper_v100_ins_per_s": PAPER_V100.get(name)}
                try:
                    row |= measure(model, batch, mode, precision, args, device)
                except RuntimeError as err:  # out of memory or a CUDA error: report, go on
                    row |= {"mode": mode, "precision": precision, "error": repr(err)[:500]}
                    failed += 1
                    with contextlib.suppress(RuntimeError):
                        torch.cuda.empty_cache()
                print(json.dumps(row), flush=True)
        del model
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
