"""The embedded default dataset: SynthRooms in ScanNet's raw layout, then preprocessed.

`make data` and, where make has not run (Colab, a fresh notebook server), the notebooks call
`ensure_default_data`, which generates and preprocesses it once and is a no-op afterwards.
"""

from __future__ import annotations

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
