"""The embedded default dataset: SynthRooms in ScanNet's raw layout, then preprocessed.

`make data`, `byol3d data synthrooms` and, where make has not run (Colab, a fresh notebook server), the
notebooks call `ensure_default_data`, which generates and preprocesses it once and is a no-op afterwards.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_SCENES = 40  # rooms in the default set: 30 train / 10 val, 2 val rooms of each of the 5 room types
DEFAULT_SEED = 0


def ensure_default_data(raw_root: str | Path, processed_root: str | Path, workers: int = 2) -> Path:
    """Generate SynthRooms into `raw_root` and preprocess it into `processed_root`, unless already there."""
    from byol3d.data.preprocess import preprocess_dataset
    from byol3d.data.synthrooms import generate_dataset

    raw_root, processed_root = Path(raw_root), Path(processed_root)
    if (processed_root / "summary.json").exists():
        return processed_root
    if not (raw_root / "scannetv2_val.txt").exists():
        generate_dataset(raw_root, scenes=DEFAULT_SCENES, seed=DEFAULT_SEED, workers=workers)
    preprocess_dataset(raw_root, processed_root, workers=workers)
    return processed_root


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=f"The default data: {DEFAULT_SCENES} SynthRooms rooms (seed "
                                                 f"{DEFAULT_SEED}) in ScanNet's raw layout in OUT/raw, preprocessed "
                                                 "into OUT/processed; nothing is done when it is already there.")
    parser.add_argument("--out", type=Path, default=Path("data/synthrooms"), help="default data/synthrooms")
    parser.add_argument("--workers", type=int, default=2, help="processes (the bytes do not depend on it)")
    args = parser.parse_args(argv)
    processed = ensure_default_data(args.out / "raw", args.out / "processed", args.workers)
    print(f"default data: {processed}")
    return processed
