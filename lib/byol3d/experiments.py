"""Cached experiment runs: every pre-training and every probe is trained once, then reused.

The course chapters (03 pre-training, 04 probe, 05 ablations) ask for many overlapping runs: the same
BYOL pre-training (Grill et al., NeurIPS 2020) is probed by several chapters, and the label-efficiency
grid of chapter 04 is the first ablation of chapter 05. This module is the one place that decides
whether a run already exists, so a notebook executed twice (or two notebooks asking for the same
run) trains it only once.

Identity of a run:
* pre-training: the config hash of its `PretrainConfig` (`byol3d.config.config_hash`); the folder is
  `byol3d.pretrain.default_run_dir(cfg, runs_root)` = `<runs_root>/byol/<hash>`, the same folder
  chapter 03 and the `python -m byol3d.pretrain` CLI use. Finished = `encoder.pt` exists (reused);
  a folder with only `checkpoints/last.pt` is resumed exactly where it stopped.
* probe: `<runs_root>/probe/<method>-<key>`, key = hash of the `ProbeConfig` (run-time fields
  `device` / `num_workers` left out: they do not change the result), the method, the training scenes
  the fraction selects (two fractions that pick the same scenes share one run), the SHA-256 of the
  checkpoint file (a re-trained encoder gets new probes) and a fingerprint of the data folder.
  Finished = `metrics.json` exists; `run_probe` writes its folder whole or not at all, so an
  interrupted probe leaves nothing behind and is simply run again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from byol3d.config import config_hash
from byol3d.data.cache import list_scenes
from byol3d.data.dataset import select_fraction
from byol3d.data.errors import DataError
from byol3d.pretrain import PretrainConfig, default_run_dir, run_pretrain
from byol3d.probe import METHODS, PRETRAINED_METHODS, ProbeConfig, run_probe

WHERE = "byol3d/experiments.py"
PROBE_RESULT = "metrics.json"  # the final artefact of a probe run
ENCODER = "encoder.pt"  # the final artefact of a pre-training run
PROFILES = ("smoke", "quick", "full")
# Shares of the training scenes of the label-efficiency grid (chapters 04 and 05 use the same ones, so
# they share the runs). full: the data-efficient protocol of CSC (1 / 5 / 10 / 20 / 100 % of scenes).
LABEL_FRACTIONS = {"smoke": (0.25, 1.0), "quick": (0.1, 0.3, 1.0), "full": (0.01, 0.05, 0.1, 0.2, 1.0)}
# Arms of the label-efficiency grid: name (the report's headline naming) -> (probe method, pre-trained?)
ARMS = {"byol_linear": ("linear", True), "byol_finetune": ("finetune", True), "scratch": ("scratch", False),
        "random_linear": ("random", False)}


@dataclass(frozen=True)
class PretrainRun:
    """A finished pre-training: its folder, its exported encoder, and whether it was already there."""

    run_dir: Path
    encoder: Path
    reused: bool


@dataclass(frozen=True)
class ProbeRun:
    """A finished probe: its folder, its metrics (metrics.json; `fraction` = the one asked for)."""

    run_dir: Path
    metrics: dict
    reused: bool


def pretrain(cfg: PretrainConfig, data_root: str | Path, runs_root: str | Path) -> PretrainRun:
    """The pre-training run of `cfg` on `data_root`: reused when finished, resumed when interrupted,
    trained otherwise. Folder: `<runs_root>/byol/<config hash>` (shared with chapter 03 and the CLI)."""
    run_dir = default_run_dir(cfg, runs_root)
    reused = (run_dir / ENCODER).is_file()
    run_pretrain(cfg, data_root, run_dir, resume=True)
    return PretrainRun(run_dir, run_dir / ENCODER, reused)


def data_fingerprint(data_root: str | Path) -> str:
    """Short hash of a preprocessed data folder: split, scene and file names with file sizes.

    Cheap (no file is read) and enough to tell apart two generated datasets or a re-preprocessed one.
    """
    root = Path(data_root)
    splits = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    entries = [[split.name, scene.name, f.name, f.stat().st_size]
               for split in splits for scene in list_scenes(root, split.name)
               for f in sorted(scene.glob("*.npy"))]
    if not entries:
        raise DataError(root, "no preprocessed scenes found (expected <root>/<split>/<scene>/*.npy)")
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:12]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (identifies a checkpoint independently of where it lies)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{WHERE}: checkpoint {path} not found (did the pre-training finish?)")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def training_scenes(cfg: ProbeConfig, data_root: str | Path, fraction: float) -> list[str]:
    """The training scenes a probe on `fraction` uses (the dataset's own seeded, nested selection)."""
    ids = [p.name for p in list_scenes(data_root, cfg.train_split)]
    return select_fraction(ids, fraction, cfg.data.subset_seed)


def probe_key(cfg: ProbeConfig, data_root: str | Path, method: str, fraction: float = 1.0,
              checkpoint: str | Path | None = None) -> str:
    """The identity of a probe run (see the module docstring) as a 12-character hash."""
    if method not in METHODS:
        raise ValueError(f"{WHERE}: unknown probe method {method!r}; known: {list(METHODS)}")
    if (method in PRETRAINED_METHODS) != (checkpoint is not None):
        raise ValueError(f"{WHERE}: method {method!r} " + ("needs a checkpoint" if checkpoint is None
                                                             else "starts from random weights: pass no checkpoint"))
    identity = {
        "config": config_hash(dataclasses.replace(cfg, device="auto", num_workers=0)),
        "method": method,
        "train_scenes": training_scenes(cfg, data_root, fraction),
        "checkpoint": None if checkpoint is None else file_sha256(checkpoint),
        "data": data_fingerprint(data_root),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def probe(cfg: ProbeConfig, data_root: str | Path, runs_root: str | Path, method: str, fraction: float = 1.0,
          checkpoint: str | Path | None = None) -> ProbeRun:
    """The probe run of (cfg, method, fraction, checkpoint) on `data_root`, reused when finished."""
    run_dir = Path(runs_root) / "probe" / f"{method}-{probe_key(cfg, data_root, method, fraction, checkpoint)}"
    result = run_dir / PROBE_RESULT
    reused = result.is_file()
    if reused:
        try:
            metrics = json.loads(result.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{result}: not valid JSON ({err}); delete the folder to run the probe again") from None
    else:
        metrics = run_probe(cfg, data_root, method, run_dir, checkpoint, fraction)
    return ProbeRun(run_dir, {**metrics, "fraction": fraction}, reused)


def probe_grid(cfg: ProbeConfig, data_root: str | Path, runs_root: str | Path,
               arms: Mapping[str, tuple[str, str | Path | None]],
               fractions: Sequence[float]) -> dict[str, list[ProbeRun]]:
    """Label efficiency: every arm (name -> (method, checkpoint or None)) at every fraction.

    Returns name -> one ProbeRun per fraction, in order. Runs already done are reused.
    """
    jobs = [(name, method, ckpt, f) for name, (method, ckpt) in arms.items() for f in fractions]
    grid: dict[str, list[ProbeRun]] = {name: [] for name in arms}
    for name, method, ckpt, fraction in tqdm(jobs, desc="probe grid"):
        grid[name].append(probe(cfg, data_root, runs_root, method, fraction, ckpt))
    return grid


def efficiency_table(grid: Mapping[str, Sequence[ProbeRun]], fractions: Sequence[float],
                     metric: str = "miou") -> dict:
    """{"fractions": [...], name: [metric at each fraction], ...}: the `label_efficiency` headline shape."""
    values = {name: [run.metrics[metric] for run in runs] for name, runs in grid.items()}
    return {"fractions": list(fractions), **values}


def main_configs(profile: str, device: str = "auto") -> tuple[PretrainConfig, ProbeConfig]:
    """The profile's pre-training and probe configs as chapters 03-05 use them (so they share runs)."""
    if profile not in PROFILES:
        raise ValueError(f"{WHERE}: profile must be one of {PROFILES}, got {profile!r}")
    return (dataclasses.replace(PretrainConfig.preset(profile), device=device),
            dataclasses.replace(ProbeConfig.preset(profile), device=device))


def label_efficiency(profile: str, data_root: str | Path, runs_root: str | Path, device: str = "auto",
                     arms: Sequence[str] = ("byol_linear", "random_linear", "scratch")) -> dict[str, list[ProbeRun]]:
    """The label-efficiency grid of the profile: each arm of `ARMS` at every `LABEL_FRACTIONS[profile]`,
    BYOL arms on the profile's main pre-training (chapter 03's run, trained here if missing)."""
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"{WHERE}: unknown arm(s) {unknown}; known: {list(ARMS)}")
    pre_cfg, probe_cfg = main_configs(profile, device)
    encoder = pretrain(pre_cfg, data_root, runs_root).encoder if any(ARMS[a][1] for a in arms) else None
    chosen = {name: (ARMS[name][0], encoder if ARMS[name][1] else None) for name in arms}
    return probe_grid(probe_cfg, data_root, runs_root, chosen, LABEL_FRACTIONS[profile])
