"""Preprocess raw ScanNet v2 (or SynthRooms, same layout) into the Pointcept-style cache.

    python -m byol3d.data.preprocess --scannet-root RAW --out OUT [--workers N] [--align] [--splits train val]

writes OUT/<split>/<scene>/{coord,color,normal,segment20,instance}.npy, manifest.json and OUT/summary.json.
Scenes run in a process pool (workers exit if this process dies); each is written atomically with a
manifest of its files' sizes and checksums, so a re-run skips scenes that verify, redoes damaged ones and
resumes after a crash (one run per OUT at a time: a run clears half-written folders it finds). A bad
scene is reported (file + reason) and the others go on; a scene listed in two splits is processed into
both, with a warning. The exit status is 1 if any scene failed, 2 if the dataset itself is unreadable
(no tsv, no split list) or OUT cannot be written.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from shutil import rmtree

import numpy as np
from tqdm import tqdm

from byol3d.cli import run_cli
from byol3d.data.cache import verify_scene, write_scene
from byol3d.data.errors import DataError
from byol3d.data.labels import NUM_CLASSES, SCANNET20_NAMES
from byol3d.data.scannet import LABEL_TSV, read_label_map, read_scene, read_split, scene_paths
from byol3d.utils.atomic import DiskFullError, atomic_write_json, remove_stale_temporaries

SPLITS = ("train", "val")


@dataclass
class SceneTask:
    """Everything a worker process needs for one scene (plain values: it is pickled to the worker)."""

    raw_root: str
    out: str
    split: str
    scene_id: str
    label_map: dict[str, int]
    align: bool


@dataclass
class SceneResult:
    """Outcome of one scene, as recorded in summary.json under `per_scene`."""

    split: str
    scene_id: str
    status: str  # "done" (processed now), "skipped" (already cached and verified) or "failed"
    reason: str = ""  # why it failed: "<file>: <reason>"
    vertices: int = 0
    seconds: float = 0.0  # worker wall-clock time spent on the scene (0 when skipped)
    cpu_seconds: float = 0.0  # worker CPU time on the scene: robust to a busy, shared machine
    histogram: list[int] = field(default_factory=list)  # (20,) vertices per ScanNet20 class
    ignored: dict | None = None  # LabelStats counts (unannotated, outside_benchmark, ...), None if unknown


def _histogram(segment20: np.ndarray) -> list[int]:
    return np.bincount(segment20[segment20 >= 0], minlength=NUM_CLASSES).tolist()


def process_scene(task: SceneTask) -> SceneResult:
    """Read one raw scene and write its cache folder; never raises (failures become a result)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        scene = read_scene(task.raw_root, task.scene_id, task.label_map, align=task.align)
        write_scene(Path(task.out) / task.split / task.scene_id, {
            "coord": scene.coord, "color": scene.color, "normal": scene.normal,
            "segment20": scene.segment20, "instance": scene.instance})
    except Exception as err:  # one bad scene must not stop the others: report it and go on
        reason = str(err) if isinstance(err, (DataError, DiskFullError)) else f"{type(err).__name__}: {err}"
        return SceneResult(task.split, task.scene_id, "failed", reason=reason)
    ignored = asdict(scene.stats)
    del ignored["vertices"]
    return SceneResult(task.split, task.scene_id, "done", vertices=len(scene.coord),
                       seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
                       histogram=_histogram(scene.segment20), ignored=ignored)


def _skipped(scene_dir: Path, split: str, previous: dict) -> SceneResult | None:
    """A scene already in the cache: label counts from its segment20.npy, ignore reasons from the last summary.

    None when the cached labels cannot be read, so that the scene is processed again.
    """
    try:
        segment20 = np.load(scene_dir / "segment20.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    earlier = previous.get(f"{split}/{scene_dir.name}", {})
    return SceneResult(split, scene_dir.name, "skipped", vertices=len(segment20),
                       histogram=_histogram(segment20), ignored=earlier.get("ignored"))


def _previous_scenes(out: Path) -> dict:
    """per_scene entries of an earlier summary.json (empty if none or unreadable)."""
    try:
        return json.loads((out / "summary.json").read_text())["per_scene"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _remove_stale_temporaries(split_dir: Path, scene_id: str) -> None:
    """Drop half-written `.<scene>.*` folders that a killed earlier run left behind."""
    for stale in split_dir.glob(f".{scene_id}.*"):
        rmtree(stale, ignore_errors=True)


def _ply_size(task: SceneTask) -> int:
    ply = scene_paths(task.raw_root, task.scene_id).ply
    return ply.stat().st_size if ply.is_file() else 0


def _plan(raw_root: Path, out: Path, splits: tuple[str, ...], label_map: dict[str, int],
          align: bool) -> tuple[list[SceneTask], list[SceneResult]]:
    """Split the listed scenes into work to do and results known already (cached or missing)."""
    previous = _previous_scenes(out)
    tasks, known = [], []
    for split in splits:
        for scene_id in read_split(raw_root, split, check_exists=False):
            scene_dir = out / split / scene_id
            _remove_stale_temporaries(out / split, scene_id)
            cached = _skipped(scene_dir, split, previous) if verify_scene(scene_dir) else None
            if cached is not None:
                known.append(cached)
            elif not scene_paths(raw_root, scene_id).ply.parent.is_dir():
                reason = f"{raw_root / f'scannetv2_{split}.txt'}: names scene {scene_id!r} but " \
                         f"{raw_root / 'scans' / scene_id} does not exist"
                known.append(SceneResult(split, scene_id, "failed", reason=reason))
            else:
                tasks.append(SceneTask(str(raw_root), str(out), split, scene_id, label_map, align))
    # Largest meshes first, so the pool does not end waiting on one big scene.
    tasks.sort(key=lambda task: -_ply_size(task))
    return tasks, known


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: exit as soon as the parent process is gone. Killed parents otherwise
    leave spawned workers blocked forever on the task queue (their siblings keep its pipe open)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run(tasks: list[SceneTask], workers: int, progress: bool) -> list[SceneResult]:
    """Process the tasks in this process (workers=1) or a spawn-started process pool."""
    bar = tqdm(total=len(tasks), desc="preprocess", unit="scene", disable=not progress)
    results: list[SceneResult] = []

    def record(result: SceneResult) -> None:
        results.append(result)
        bar.update(1)
        bar.set_postfix(failed=sum(r.status == "failed" for r in results))

    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            record(process_scene(task))
    else:
        context = multiprocessing.get_context("spawn")  # safe with threaded numpy/torch in the parent
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(process_scene, task): task for task in tasks}
            for future in as_completed(futures):
                try:
                    record(future.result())
                except BrokenProcessPool as err:  # a worker was killed (e.g. out of memory)
                    task = futures[future]
                    record(SceneResult(task.split, task.scene_id, "failed", reason=f"worker process died ({err})"))
    bar.close()
    return results


def _summarise(results: list[SceneResult], wall: float, workers: int) -> dict:
    """Totals for summary.json: scene counts, label histogram, ignore reasons, throughput."""
    ok = [r for r in results if r.status != "failed"]
    done = [r for r in results if r.status == "done"]
    histogram = np.sum([r.histogram for r in ok], axis=0) if ok else np.zeros(NUM_CLASSES, dtype=int)
    ignored = {"unannotated": 0, "outside_benchmark": {}, "missing_from_tsv": {}, "multiply_annotated": 0}
    for r in ok:
        for key, value in (r.ignored or {}).items():
            if isinstance(value, dict):
                for category, count in value.items():
                    ignored[key][category] = ignored[key].get(category, 0) + count
            else:
                ignored[key] += value
    processed = sum(r.vertices for r in done)
    worker_seconds = sum(r.seconds for r in done)
    cpu_seconds = sum(r.cpu_seconds for r in done)
    return {
        "scenes": {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")},
        "failed": [{"split": r.split, "scene": r.scene_id, "reason": r.reason} for r in results if r.status == "failed"],
        "vertices": sum(r.vertices for r in ok),
        "label_histogram": dict(zip(SCANNET20_NAMES, histogram.tolist())),
        "ignored_vertices": sum(r.vertices for r in ok) - int(histogram.sum()),
        "ignored_by_reason": ignored,
        "ignore_reasons_unknown_for": [f"{r.split}/{r.scene_id}" for r in ok if r.ignored is None],
        "seconds": round(wall, 3),
        "workers": workers,
        "processed_vertices": processed,
        "vertices_per_second_per_worker": round(processed / worker_seconds, 1) if worker_seconds else None,
        "vertices_per_cpu_second": round(processed / cpu_seconds, 1) if cpu_seconds else None,
        "vertices_per_second": round(processed / wall, 1) if done and wall else None,
    }


def _check_writable(out: Path) -> None:
    """Create `out` and try a file in it, so a bad --out fails before any scene is read."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or err
        raise DataError(out, f"cannot write the output folder ({reason}); choose another --out") from None


def _in_several_splits(raw_root: Path, splits: tuple[str, ...]) -> list[str]:
    """Scene ids listed in more than one of `splits` (each split then gets its own copy: a leak)."""
    seen: dict[str, int] = {}
    for split in splits:
        for scene_id in read_split(raw_root, split, check_exists=False):
            seen[scene_id] = seen.get(scene_id, 0) + 1
    return sorted(scene_id for scene_id, count in seen.items() if count > 1)


def preprocess_dataset(scannet_root: str | Path, out: str | Path, workers: int = 1, align: bool = False,
                       splits: tuple[str, ...] = SPLITS, progress: bool = True) -> dict:
    """Preprocess every scene of `splits` into `out`; returns (and writes) the summary dict.

    Raises DataError only when the dataset itself is unusable (label tsv or a split list missing or
    malformed) or `out` cannot be written, before any scene is read; problems with single scenes are
    listed under summary["failed"]. Scenes listed in several splits are warned about and counted.
    """
    raw_root, out = Path(scannet_root), Path(out)
    if not (raw_root / "scans").is_dir():
        raise DataError(raw_root / "scans", "raw ScanNet folder not found (expected <root>/scans/<scene>/)")
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise DataError(raw_root, f"unknown split(s) {unknown}; choose from {list(SPLITS)}")
    label_map = read_label_map(raw_root / LABEL_TSV)
    _check_writable(out)
    remove_stale_temporaries(out, "summary.json")
    shared = _in_several_splits(raw_root, tuple(splits))
    if shared:
        warnings.warn(f"{raw_root}: {len(shared)} scene(s) are listed in more than one split list and are "
                      f"processed into each (validation scenes leak into training): {shared[:5]}", stacklevel=2)
    start = time.perf_counter()
    tasks, known = _plan(raw_root, out, tuple(splits), label_map, align)
    results = known + _run(tasks, workers, progress)
    results.sort(key=lambda r: (r.split, r.scene_id))
    summary = {"scannet_root": str(raw_root), "out": str(out), "align": align, "splits": list(splits)}
    summary.update(_summarise(results, time.perf_counter() - start, workers))
    summary["in_several_splits"] = {"count": len(shared), "scenes": shared}
    summary["per_scene"] = {f"{r.split}/{r.scene_id}": {k: v for k, v in asdict(r).items()
                                                         if k not in ("split", "scene_id")} for r in results}
    atomic_write_json(out / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scannet-root", required=True, type=Path, help="raw layout: scans/, label tsv, split lists")
    parser.add_argument("--out", required=True, type=Path, help="cache root: <out>/<split>/<scene>/*.npy")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1 = run in this process)")
    parser.add_argument("--align", action="store_true", help="apply each scene's axisAlignment from <scene>.txt")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    args = parser.parse_args(argv)
    summary = preprocess_dataset(args.scannet_root, args.out, args.workers, args.align, tuple(args.splits))
    counts = summary["scenes"]
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"{summary['vertices_per_second_per_worker']} vertices/s per worker; summary: {args.out / 'summary.json'}")
    for failure in summary["failed"]:
        print(f"FAILED {failure['split']}/{failure['scene']}: {failure['reason']}", file=sys.stderr)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
