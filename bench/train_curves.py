"""Does the fast path learn like the reference? Short quick-profile runs with the fast path on and off.

The fast path changes results through bfloat16 autocast and through BatchNorm + ReLU + max in one step
(`model.fused_max`: the same function, rounded differently, ties sharing their gradient); neighbour-plan
sharing and the other changes give the same numbers as before. So this runs the real training entry
points, BYOL pre-training (byol3d.pretrain) and segmentation training from scratch (byol3d.eval.finetune),
for `--steps` steps of the quick preset with both on ("ours") and both off ("reference"), for two seeds
each, and compares the curves over their last half (losses smoothed by a 10-step moving mean):
  fast_gap  mean |ours - reference| at the same seed  (what the fast path changes)
  seed_gap  mean |seed 0 - seed 1| of the reference    (what a different seed changes)
The fast path matches "within seed noise" when fast_gap <= seed_gap. One JSON line per case.

    .venv/bin/python bench/train_curves.py --steps 60
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from byol3d.data.dataset import SegmentationDataset
from byol3d.eval.finetune import train_segmentation
from byol3d.models import PointNeXt
from byol3d.pretrain import run_pretrain
from byol3d.probe import segmentation_schedule
from byol3d.profile import Profile
from byol3d.train.metrics_log import LOG_NAME, read_steps

SEEDS = (0, 1)
SMOOTH = 10


def fast_or_reference(fast: bool) -> Profile:
    """The quick profile with bf16 autocast and the fused BatchNorm + ReLU + max both on (fast) or both off."""
    quick = Profile.quick()
    return dataclasses.replace(quick, model=dataclasses.replace(quick.model, fused_max=fast),
                               run=dataclasses.replace(quick.run, amp=fast))


def byol_curve(data_root: Path, steps: int, seed: int, fast: bool) -> np.ndarray:
    """BYOL losses (steps,) of a quick-preset pre-training run."""
    quick = fast_or_reference(fast)
    profile = dataclasses.replace(quick, byol=dataclasses.replace(quick.byol, steps=steps, warmup=min(5, steps - 1)),
                                  run=dataclasses.replace(quick.run, seed=seed, device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        run = run_pretrain(profile, data_root, Path(tmp) / "run")
        rows = read_steps(run / LOG_NAME)
    return np.array([row["loss"] for row in rows])


def segmentation_curve(data_root: Path, steps: int, seed: int, fast: bool) -> np.ndarray:
    """Cross-entropy losses (steps,) of quick-preset training from scratch."""
    quick = fast_or_reference(fast)
    profile = dataclasses.replace(
        quick, finetune=dataclasses.replace(quick.finetune, steps=steps, warmup=min(quick.finetune.warmup, steps - 1)),
        run=dataclasses.replace(quick.run, seed=seed, num_workers=0))
    dataset = SegmentationDataset(data_root, profile.eval.train_split, profile.data, train=True, seed=seed)
    torch.manual_seed(seed)
    model = PointNeXt(profile.model)
    schedule = segmentation_schedule(profile, pretrained=False)
    return np.array(train_segmentation(model, dataset, schedule, torch.device("cpu")))


def smoothed_tail(curve: np.ndarray) -> np.ndarray:
    """10-step moving mean of the curve's second half."""
    smooth = np.convolve(curve, np.ones(SMOOTH) / SMOOTH, mode="valid")
    return smooth[len(smooth) // 2:]


def compare(name: str, curves: dict) -> dict:
    """curves[(seed, fast)] (steps,) -> gaps of the smoothed second halves."""
    fast_gap = np.mean([np.abs(smoothed_tail(curves[s, True]) - smoothed_tail(curves[s, False])).mean() for s in SEEDS])
    seed_gap = np.abs(smoothed_tail(curves[SEEDS[0], False]) - smoothed_tail(curves[SEEDS[1], False])).mean()
    return {"case": name, "steps": len(curves[SEEDS[0], True]), "fast_gap": round(float(fast_gap), 4),
            "seed_gap": round(float(seed_gap), 4), "within_seed_noise": bool(fast_gap <= seed_gap),
            "final_loss": {f"seed{s}_{'ours' if a else 'reference'}": round(float(smoothed_tail(c)[-1]), 4)
                           for (s, a), c in curves.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/synthrooms/processed", help="preprocessed cache (make data)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--cases", nargs="*", default=["byol", "segmentation"], choices=["byol", "segmentation"])
    args = parser.parse_args()
    if args.steps < 2 * SMOOTH:
        raise SystemExit(f"bench/train_curves.py: --steps must be >= {2 * SMOOTH}")
    runners = {"byol": byol_curve, "segmentation": segmentation_curve}
    for case in args.cases:
        curves = {(seed, fast): runners[case](Path(args.data), args.steps, seed, fast)
                  for seed in SEEDS for fast in (True, False)}
        print(json.dumps(compare(case, curves)), flush=True)


if __name__ == "__main__":
    main()
