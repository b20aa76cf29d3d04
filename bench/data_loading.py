"""Data loading on the CPU: one training batch of the quick preset, scenes read from disk for every item
(`data.cache_voxels: false`) against scenes kept in memory after their first read (the default).

Two cases, the loaders of the two training steps that bench/train_step.py times:
  segmentation  8 random crops of <= 4,000 points, augmented (fine-tune / scratch / probe training);
  byol          4 pairs of overlapping views of <= 4,000 points, each augmented (BYOL pre-training).
and a third, what every new run of a notebook kernel pays before its first step:
  new_run       a new dataset's scene checks and first epoch (one crop of every training room) plus a
                new validation set's items (every validation room voxelised), as a probe run starts:
                with the process's kept scenes forgotten (reference: what each run paid when every
                dataset kept its own scenes) against scenes kept by an earlier run's datasets (ours).
Both datasets draw the same items (same seed, epoch and indices), so the batches are identical; only
where the scene arrays and voxel groupings come from differs. The kept dataset is first read once over
every scene (a run's first epoch pays the reads), then batches of both are timed interleaved (uncached,
kept, uncached, ...), median per batch. `kept_mb`: memory the process's kept scenes hold
(byol3d.data.scene_memory.SCENES, shared by every dataset of the process); `same_batches`: every
timed pair of batches was equal, tensor for tensor.

    .venv/bin/python bench/data_loading.py     # one JSON line per case
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from byol3d.data.dataset import EvalDataset, SegmentationDataset, TwoViewDataset, collate_scenes, collate_views
from byol3d.data.scene_memory import SCENES
from byol3d.profile import Profile


def datasets(case: str, data_root: Path, cache: bool):
    """(dataset, batch size, collate) of `case` for the quick preset, scenes kept in memory or not."""
    profile = Profile.quick()
    data = dataclasses.replace(profile.data, cache_voxels=cache)
    if case == "segmentation":
        dataset = SegmentationDataset(data_root, profile.eval.train_split, data, train=True, seed=0)
        return dataset, profile.finetune.batch_size, collate_scenes
    return TwoViewDataset(data_root, profile.byol.split, data, seed=0), profile.byol.batch_size, collate_views


def equal_batches(a, b) -> bool:
    """Offset batches (a dict, or a tuple of two for BYOL's views) hold the same tensors."""
    a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b))


def time_case(case: str, data_root: Path, batches: int) -> dict:
    (uncached, size, collate), (kept, _, _) = (datasets(case, data_root, cache) for cache in (False, True))
    for index in range(len(kept)):
        kept[index]  # the first epoch reads every scene once
    times, same = {"uncached": [], "kept": []}, True
    for b in range(batches):
        indices = [(b * size + i) % len(kept) for i in range(size)]
        pair = []
        for name, dataset in (("uncached", uncached), ("kept", kept)):
            start = time.perf_counter()
            pair.append(collate([dataset[i] for i in indices]))
            times[name].append(time.perf_counter() - start)
        same = same and equal_batches(*pair)
    uncached_s, kept_s = (statistics.median(times[name]) for name in ("uncached", "kept"))
    return {"case": case, "uncached_ms_per_batch": round(1000 * uncached_s, 1),
            "kept_ms_per_batch": round(1000 * kept_s, 1), "speedup": round(uncached_s / kept_s, 2),
            "kept_mb": round(SCENES.nbytes() / 2**20, 1), "scenes": len(kept), "same_batches": same}


def new_run_case(data_root: Path, repeats: int) -> dict:
    profile = Profile.quick()

    def start_run() -> list:
        train = SegmentationDataset(data_root, profile.eval.train_split, profile.data, train=True, seed=0)
        val = EvalDataset(data_root, profile.eval.eval_split, profile.data)
        for dataset in (train, val):
            dataset.check_scenes()
        return [train[i] for i in range(len(train))] + [val[i] for i in range(len(val))]

    times, items = {"reference": [], "kept": []}, {}
    for _ in range(repeats):
        for name in ("reference", "kept"):
            if name == "reference":
                SCENES.clear()
            start = time.perf_counter()
            items[name] = start_run()
            times[name].append(time.perf_counter() - start)
    ref_s, kept_s = (statistics.median(times[name]) for name in ("reference", "kept"))
    same = all(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if torch.is_tensor(a[k]))
               for a, b in zip(items["reference"], items["kept"]))
    return {"case": "new_run", "reference_s": round(ref_s, 3), "kept_s": round(kept_s, 3),
            "speedup": round(ref_s / kept_s, 2), "rooms": len(items["kept"]), "same_items": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synthrooms/processed"), help="preprocessed cache")
    parser.add_argument("--batches", type=int, default=15, help="timed batches of each loader per case")
    parser.add_argument("--repeats", type=int, default=3, help="new_run: timed starts of each way")
    args = parser.parse_args()
    for case in ("segmentation", "byol"):
        print(json.dumps(time_case(case, args.data, args.batches)), flush=True)
    print(json.dumps(new_run_case(args.data, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
