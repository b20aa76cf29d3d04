"""Cached experiment runs: every pre-training and every probe is trained once, then reused.

The course chapters (03 pre-training, 04 probe, 05 ablations) ask for many overlapping runs: the same
BYOL pre-training (Grill et al., NeurIPS 2020) is probed by several chapters, and the label-efficiency
grid of chapter 04 is the first ablation of chapter 05. Runs live in the content-addressed store of
byol3d.run_store, so a notebook executed twice (or two notebooks asking for the same run) trains it
only once:

* pre-training: `<runs_root>/byol/<key>`, key of `byol3d.pretrain.pretrain_identity` (the profile's
  model but its head's dropout, its data, byol and run sections, and the training split's content
  fingerprint), the folder the `python -m byol3d.pretrain` CLI uses by default too. Finished =
  `encoder.pt` exists (reused); a folder with only `checkpoints/last.pt` is resumed exactly where it
  stopped.
* probe: `<runs_root>/probe/<method>-<key>`, key of `byol3d.probe.probe_identity` (the sections the
  method reads, the training scenes the fraction selects, the checkpoint's bytes, the data's content).
  Finished = `metrics.json` exists; `run_probe` writes its folder whole or not at all, so an
  interrupted probe leaves nothing behind and is simply run again.

Under `make report` every run a notebook uses is also handed to the builder (trained now or reused;
byol3d.report.headline.record_run), whose index says how many of each the build had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from byol3d.arms import EFFICIENCY_ARMS, get_arm
from byol3d.eval.seeds import Stat
from byol3d.eval.seeds import mean_std as seed_stats
from byol3d.pretrain import default_run_dir, run_pretrain
from byol3d.probe import probe_identity, run_probe
from byol3d.profile import Profile
from byol3d.report.headline import record_run
from byol3d.run_store import run_dir as store_dir

PROBE_RESULT = "metrics.json"  # the final artefact of a probe run
ENCODER = "encoder.pt"  # the final artefact of a pre-training run
# Shares of the training scenes of the label-efficiency grid (chapters 04 and 05 use the same ones, so
# they share the runs). full: the data-efficient protocol of CSC (1 / 5 / 10 / 20 / 100 % of scenes).
LABEL_FRACTIONS = {"smoke": (0.25, 1.0), "quick": (0.1, 0.3, 1.0), "full": (0.01, 0.05, 0.1, 0.2, 1.0)}
# Seeds of every headline figure: seed s pre-trains and probes with run.seed = s (weights of new layers,
# data order, augmentation); the scene subset of a label fraction is the same for every seed and method
# (data.subset_seed).
SEEDS = {"smoke": (0, 1), "quick": (0, 1, 2), "full": (0, 1, 2)}


def efficiency_seeds(profile: str, arm: str) -> tuple[int, ...]:
    """Seeds of `arm` in the label-efficiency grid: every seed, except the supervised arms on the CPU
    profiles, which get the first seed only (each is a full training; the report's budget). The notebooks
    say so next to the curve; the 100 % headline figures always use every seed."""
    seeds = SEEDS[profile]
    return seeds[:1] if profile != "full" and get_arm(arm).supervised else seeds


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


def pretrain(profile: Profile, data_root: str | Path, runs_root: str | Path) -> PretrainRun:
    """The pre-training run of `profile` on `data_root`: reused when finished, resumed when interrupted,
    trained otherwise. Folder: `<runs_root>/byol/<key>` (shared with chapter 03 and the CLI)."""
    run_dir = default_run_dir(profile, data_root, runs_root)
    reused = (run_dir / ENCODER).is_file()
    run_pretrain(profile, data_root, run_dir, resume=True)
    record_run(run_dir, reused)
    return PretrainRun(run_dir, run_dir / ENCODER, reused)


def probe(profile: Profile, data_root: str | Path, runs_root: str | Path, method: str, fraction: float = 1.0,
          checkpoint: str | Path | None = None) -> ProbeRun:
    """The probe run of (profile, method, fraction, checkpoint) on `data_root`, reused when finished."""
    identity = probe_identity(profile, data_root, method, fraction, checkpoint)
    run_dir = store_dir(runs_root, "probe", identity, prefix=f"{method}-")
    result = run_dir / PROBE_RESULT
    reused = result.is_file()
    if reused:
        try:
            metrics = json.loads(result.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{result}: not valid JSON ({err}); delete the folder to run the probe again") from None
    else:
        metrics = run_probe(profile, data_root, method, run_dir, checkpoint, fraction)
    record_run(run_dir, reused)
    return ProbeRun(run_dir, {**metrics, "fraction": fraction}, reused)


def efficiency_table(grid: Mapping[str, Sequence[Sequence[ProbeRun]]], fractions: Sequence[float],
                     metric: str = "miou") -> dict:
    """{"fractions": [...], name: [mean at each fraction], name + "_std": [spread at each fraction], ...}:
    the `label_efficiency` headline shape."""
    table: dict = {"fractions": list(fractions)}
    for name, per_fraction in grid.items():
        stats = [mean_std(runs, metric) for runs in per_fraction]
        table[name] = [m for m, _ in stats]
        table[f"{name}_std"] = [s for _, s in stats]
    return table


def profile_config(name: str, device: str = "auto") -> Profile:
    """The profile's settings as chapters 03-05 use them (so they share runs), on `device`; an unknown
    name is Profile.preset's ConfigError."""
    return Profile.preset(name).on_device(device)


def seeded_pretrains(profile: str, data_root: str | Path, runs_root: str | Path,
                     device: str = "auto") -> list[PretrainRun]:
    """The profile's main pre-training once per seed of `SEEDS[profile]` (chapter 03's runs)."""
    config = profile_config(profile, device)
    return [pretrain(config.with_seed(seed), data_root, runs_root) for seed in SEEDS[profile]]


def seeded_arm(profile: str, arm: str, data_root: str | Path, runs_root: str | Path, fraction: float = 1.0,
               device: str = "auto", seeds: Sequence[int] | None = None) -> list[ProbeRun]:
    """One evaluation arm (byol3d.arms) at `fraction`, once per seed (default `SEEDS[profile]`); a
    pre-trained arm of seed s probes the encoder pre-trained with seed s."""
    spec = get_arm(arm)
    seeds = SEEDS[profile] if seeds is None else tuple(seeds)
    if not set(seeds) <= set(SEEDS[profile]):
        raise ValueError(f"seeds {list(seeds)} are not among the profile's {list(SEEDS[profile])}")
    config = profile_config(profile, device)
    encoders = {s: run.encoder for s, run in zip(SEEDS[profile], seeded_pretrains(profile, data_root, runs_root,
                                                                                   device))} if spec.pretrained else {}
    return [probe(config.with_seed(seed), data_root, runs_root, spec.method, fraction,
                  encoders.get(seed)) for seed in seeds]


def mean_std(runs: Sequence[ProbeRun], metric: str = "miou") -> Stat:
    """Mean and sample standard deviation (0 for one run) of `metric` over seeded runs."""
    return seed_stats([run.metrics[metric] for run in runs])


def label_efficiency(profile: str, data_root: str | Path, runs_root: str | Path, device: str = "auto",
                     arms: Sequence[str] = EFFICIENCY_ARMS) -> dict[str, list[list[ProbeRun]]]:
    """The label-efficiency grid of the profile: arm -> one list of seeded runs (`efficiency_seeds`) per
    fraction of `LABEL_FRACTIONS[profile]` (BYOL arms on chapter 03's seeded pre-trainings)."""
    for arm in arms:
        get_arm(arm)  # every name checked before the first run
    jobs = [(arm, f) for arm in arms for f in LABEL_FRACTIONS[profile]]
    grid: dict[str, list[list[ProbeRun]]] = {arm: [] for arm in arms}
    for arm, fraction in tqdm(jobs, desc="label efficiency"):
        grid[arm].append(seeded_arm(profile, arm, data_root, runs_root, fraction, device,
                                    efficiency_seeds(profile, arm)))
    return grid
