"""Chapter 05's ablations: BYOL pre-trainings that differ from a baseline in one setting, each
linear-probed once per seed, beside the random-encoder floor of the same probe.

The baseline is the profile's main recipe (byol3d.experiments.main_configs). On the CPU profiles the
ablations run at a far smaller budget than chapter 03 (coarser voxels, smaller views, a few steps, a
shorter probe on part of the training scenes) so that the whole quick report fits its time budget;
their values compare with each other only. Runs go through byol3d.experiments, so a setting equal to
the baseline, or to a chapter 03/04 run, is trained once and reused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from byol3d import experiments
from byol3d.config import config_hash
from byol3d.data.dataset import DataConfig
from byol3d.eval.seeds import Stat, mean_std
from byol3d.models.config import PointNeXtConfig
from byol3d.pretrain_config import PretrainConfig
from byol3d.probe import ProbeConfig
from byol3d.train.metrics_log import LOG_NAME, log_summary, read_steps
from byol3d.transforms import AugmentConfig

ABLATION_SEEDS = {"smoke": (0, 1), "quick": (0, 1), "full": (0, 1, 2)}
SMALL_DATA = {"smoke": DataConfig(voxel_size=0.06, voxel_max=600), "quick": DataConfig(voxel_size=0.05, voxel_max=2000)}
SMALL_STEPS = {"smoke": 2, "quick": 20}
PROBE_FRACTION = {"smoke": 1.0, "quick": 0.5, "full": 1.0}  # share of the training scenes the probes use


@dataclass(frozen=True)
class AblationPlan:
    """Every setting of every ablation, and the probe and seeds they are measured with."""

    base: PretrainConfig  # the baseline pre-training; every ablation contains it
    probe: ProbeConfig  # the linear probe of every setting and of the random-encoder floor
    fraction: float  # share of the training scenes the probes train on
    seeds: tuple[int, ...]  # each setting is pre-trained and probed once per seed
    grid: dict[str, dict[str, PretrainConfig]]  # ablation -> setting label -> pre-training config

    def distinct(self) -> dict[str, PretrainConfig]:
        """The pre-trainings to run, by config hash (the baseline once, however many ablations hold it)."""
        return {config_hash(cfg): cfg for settings in self.grid.values() for cfg in settings.values()}

    def budget(self) -> str:
        base = self.base
        steps = f"{base.steps} steps" if base.epochs == 0 else f"{base.epochs} epochs"
        return (f"{steps}, voxel {base.data.voxel_size} m, views of {base.data.voxel_max} points, probe on "
                f"{self.fraction:.0%} of scenes")


def ablation_plan(profile: str, device: str = "auto") -> AblationPlan:
    """The ablations of `profile`: the baseline at the ablation budget and one grid of settings."""
    main_pretrain, main_probe = experiments.main_configs(profile, device)
    if profile == "full":
        base, probe = dataclasses.replace(main_pretrain, epochs=20), main_probe
    else:
        small, steps = SMALL_DATA[profile], SMALL_STEPS[profile]
        base = dataclasses.replace(main_pretrain, data=small, steps=steps, epochs=0, warmup=min(2, steps - 1),
                                   ckpt_every=steps)
        probe = dataclasses.replace(main_probe, data=small, linear_steps=min(main_probe.linear_steps, 100),
                                    points_per_scene=min(main_probe.points_per_scene, 2000))
    return AblationPlan(base, probe, PROBE_FRACTION[profile], ABLATION_SEEDS[profile], setting_grid(base))


def setting_grid(base: PretrainConfig) -> dict[str, dict[str, PretrainConfig]]:
    """Loss kinds, view augmentation, tau rule and width, each varied alone from `base`."""
    def views(augment: AugmentConfig) -> PretrainConfig:
        return dataclasses.replace(base, data=dataclasses.replace(base.data, view_augment=augment))

    def width(name: str) -> PretrainConfig:  # the baseline's radii (scaled to its voxel) on another width
        return dataclasses.replace(base, model=dataclasses.replace(PointNeXtConfig.preset(name),
                                                                   radius=base.model.radius))

    grid = {
        "loss": {kinds: dataclasses.replace(base, loss=kinds)
                 for kinds in ("global", "dense", "global+dense", "region+dense")},
        "augmentation": {name: views(getattr(AugmentConfig, name)()) for name in ("weak", "strong")},
        "tau rule": {"run-length rule": base, "0.996 (paper)": dataclasses.replace(base, tau_base=0.996)},
        "width": {f"PointNeXt-{name}": width(name) for name in ("S", "B")},
    }
    return {name: mark_baseline(settings, base) for name, settings in grid.items()}


def mark_baseline(settings: dict[str, PretrainConfig], base: PretrainConfig) -> dict[str, PretrainConfig]:
    """Append "(baseline)" to the label of the setting equal to `base`; ValueError when none is."""
    if base not in settings.values():
        raise ValueError(f"ablation settings {list(settings)} do not contain the baseline config")
    return {f"{label} (baseline)" if cfg == base else label: cfg for label, cfg in settings.items()}


@dataclass(frozen=True)
class SettingRun:
    """One seed of one setting: its pre-training, its linear probe and the pre-training's log summary."""

    pretrain: experiments.PretrainRun
    probe: experiments.ProbeRun
    log: dict  # byol3d.train.metrics_log.log_summary: final loss, collapse_std, seconds, ...


def run_ablations(plan: AblationPlan, data_root: str | Path,
                  runs_root: str | Path) -> tuple[dict[str, list[SettingRun]], list[experiments.ProbeRun]]:
    """Every distinct pre-training once per seed with its probe (config hash -> runs by seed), and the
    random-encoder floor of the same probe (one run per seed); finished runs are reused."""
    results = {}
    for key, cfg in plan.distinct().items():
        results[key] = []
        for seed in plan.seeds:
            pre = experiments.pretrain(dataclasses.replace(cfg, seed=seed), data_root, runs_root)
            probe = experiments.probe(dataclasses.replace(plan.probe, seed=seed), data_root, runs_root, "linear",
                                      plan.fraction, pre.encoder)
            results[key].append(SettingRun(pre, probe, log_summary(read_steps(pre.run_dir / LOG_NAME))))
    floor = [experiments.probe(dataclasses.replace(plan.probe, seed=seed), data_root, runs_root, "random",
                               plan.fraction) for seed in plan.seeds]
    return results, floor


def setting_stats(settings: dict[str, PretrainConfig], results: dict[str, list[SettingRun]],
                  metric: str = "miou") -> dict[str, Stat]:
    """Setting label -> (mean, std) of the probe's `metric` over seeds."""
    return {label: mean_std([run.probe.metrics[metric] for run in results[config_hash(cfg)]])
            for label, cfg in settings.items()}


def setting_table(name: str, settings: dict[str, PretrainConfig], results: dict[str, list[SettingRun]]) -> dict:
    """Columns of one ablation's table: probe mIoU (mean ± std, per seed), OA, and the pre-training's
    final loss, collapse monitor and cost, each averaged over seeds."""
    runs = {label: results[config_hash(cfg)] for label, cfg in settings.items()}
    stats = setting_stats(settings, results)

    def mean_of(read, fmt: str) -> list[str]:
        return [format(sum(read(r) for r in per_seed) / len(per_seed), fmt) for per_seed in runs.values()]

    return {
        name: list(runs),
        "mIoU (%), mean ± std": [f"{100 * m:.1f} ± {100 * sd:.1f}" for m, sd in stats.values()],
        "per seed (%)": [", ".join(f"{100 * r.probe.metrics['miou']:.1f}" for r in per_seed)
                         for per_seed in runs.values()],
        "OA (%)": mean_of(lambda r: 100 * r.probe.metrics["oa"], ".1f"),
        "final BYOL loss": mean_of(lambda r: r.log["loss"], ".3f"),
        "collapse std": mean_of(lambda r: r.log["collapse_std"], ".4f"),
        "pre-training (s)": mean_of(lambda r: r.log["seconds"], ".0f"),
    }
