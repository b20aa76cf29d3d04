"""Command-line arguments shared by the lab scripts that train one supervised arm (finetune from a
pre-training checkpoint, or scratch from random weights) on a fraction of the training rooms."""

from __future__ import annotations

import argparse


def arm_parser(description: str) -> argparse.ArgumentParser:
    """--data, --config, --method finetune|scratch, --checkpoint, --fraction, --seed, --set."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", default="quick")
    ap.add_argument("--method", choices=("finetune", "scratch"), required=True)
    ap.add_argument("--checkpoint", default=None, help="a pre-training run's encoder.pt (finetune only)")
    ap.add_argument("--fraction", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], help="overrides, e.g. finetune.steps=300")
    return ap


def parse_arm_args(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """The parsed arguments; exits with a usage error when --checkpoint and --method disagree."""
    args = ap.parse_args()
    if (args.method == "finetune") != (args.checkpoint is not None):
        ap.error("--checkpoint is needed by finetune and refused by scratch")
    return args
