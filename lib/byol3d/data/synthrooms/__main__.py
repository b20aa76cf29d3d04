"""CLI: python -m byol3d.data.synthrooms --out RAW --scenes N --seed S [--spacing M] [--val-fraction F]
[--workers W]"""

from __future__ import annotations

import argparse
import sys

from byol3d.cli import run_cli
from byol3d.data.synthrooms import generate_dataset


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m byol3d.data.synthrooms",
                                 description="Generate SynthRooms scenes in ScanNet v2's raw layout.")
    ap.add_argument("--out", required=True, help="output root (gets scans/, the label tsv and split lists)")
    ap.add_argument("--scenes", type=int, required=True, help="number of scenes")
    ap.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same bytes)")
    ap.add_argument("--spacing", type=float, default=0.015, help="metres between surface samples")
    ap.add_argument("--val-fraction", type=float, default=0.25, help="share of scenes in the val split")
    ap.add_argument("--workers", type=int, default=1, help="processes (the bytes do not depend on it)")
    args = ap.parse_args(argv)
    ids = generate_dataset(args.out, args.scenes, args.seed, args.spacing, args.val_fraction, args.workers)
    print(f"wrote {len(ids)} scenes to {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
