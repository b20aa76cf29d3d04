"""Chapter 05's ablations: BYOL pre-trainings that differ from a baseline in one setting, each
linear-probed once per seed, beside the random-encoder floor of the same probe.

The baseline is the profile's main recipe (byol3d.profile.Profile presets). On the CPU profiles the
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
from byol3d.eval.seeds import Stat, format_stat, mean_std
from byol3d.models.config import PointNeXtConfig
from byol3d.profile import Profile
from byol3d.train.metrics_log import LOG_NAME, log_summary, read_steps
from byol3d.transforms import AugmentConfig

ABLATION_SEEDS = {"smoke": (0, 1), "quick": (0, 1), "full": (0, 1, 2)}
SMALL_DATA = {"smoke": DataConfig(voxel_size=0.06, voxel_max=600), "quick": DataConfig(voxel_size=0.05, voxel_max=2000)}
SMALL_STEPS = {"smoke": 2, "quick": 20}
PROBE_FRACTION = {"smoke": 1.0, "quick": 0.5, "full": 1.0}  # share of the training scenes the probes use


@dataclass(frozen=True)
class AblationPlan:
    """Every setting of every ablation, and the seeds and share of scenes they are measured with. A
    setting differs from the baseline in its model, data views or byol section only, so every setting's
    linear probe and the random-encoder floor share the baseline's probe settings."""

    base: Profile  # the baseline; every ablation contains it
    fraction: float  # share of the training scenes the probes train on
    seeds: tuple[int, ...]  # each setting is pre-trained and probed once per seed
    grid: dict[str, dict[str, Profile]]  # ablation -> setting label -> profile

    def distinct(self) -> dict[str, Profile]:
        """The pre-trainings to run, by config hash (the baseline once, however many ablations hold it)."""
        return {config_hash(cfg): cfg for settings in self.grid.values() for cfg in settings.values()}

    def budget(self) -> str:
        base = self.base
        steps = f"{base.byol.steps} steps" if base.byol.epochs == 0 else f"{base.byol.epochs} epochs"
        return (f"{steps}, voxel {base.data.voxel_size} m, views of {base.data.voxel_max} points, probe on "
                f"{self.fraction:.0%} of scenes")


def ablation_plan(profile: str, device: str = "auto") -> AblationPlan:
    """The ablations of `profile`: the baseline at the ablation budget and one grid of settings."""
    main = experiments.profile_config(profile, device)
    if profile == "full":
        base = dataclasses.replace(main, byol=dataclasses.replace(main.byol, epochs=20))
    else:
        steps, lp = SMALL_STEPS[profile], main.linear_probe
        base = dataclasses.replace(
            main, data=SMALL_DATA[profile],
            byol=dataclasses.replace(main.byol, steps=steps, epochs=0, warmup=min(2, steps - 1), ckpt_every=steps),
            linear_probe=dataclasses.replace(lp, steps=min(lp.steps, 100)))
    return AblationPlan(base, PROBE_FRACTION[profile], ABLATION_SEEDS[profile], setting_grid(base))


def setting_grid(base: Profile) -> dict[str, dict[str, Profile]]:
    """Loss kinds, view augmentation, tau rule and width, each varied alone from `base`."""
    def byol(**fields) -> Profile:
        return dataclasses.replace(base, byol=dataclasses.replace(base.byol, **fields))

    def views(augment: AugmentConfig) -> Profile:
        return dataclasses.replace(base, data=dataclasses.replace(base.data, view_augment=augment))

    def width(name: str) -> Profile:  # the baseline's radii (scaled to its voxel) on another width
        return dataclasses.replace(base, model=dataclasses.replace(PointNeXtConfig.preset(name),
                                                                   radius=base.model.radius))

    grid = {
        "loss": {kinds: byol(loss=kinds) for kinds in ("global", "dense", "global+dense", "region+dense")},
        "augmentation": {name: views(getattr(AugmentConfig, name)()) for name in ("weak", "strong")},
        "tau rule": {"run-length rule": base, "0.996 (paper)": byol(tau_base=0.996)},
        "width": {f"PointNeXt-{name}": width(name) for name in ("S", "B")},
    }
    return {name: mark_baseline(settings, base) for name, settings in grid.items()}


def mark_baseline(settings: dict[str, Profile], base: Profile) -> dict[str, Profile]:
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
            pre = experiments.pretrain(cfg.with_seed(seed), data_root, runs_root)
            probe = experiments.probe(plan.base.with_seed(seed), data_root, runs_root, "linear", plan.fraction,
                                      pre.encoder)
            results[key].append(SettingRun(pre, probe, log_summary(read_steps(pre.run_dir / LOG_NAME))))
    floor = [experiments.probe(plan.base.with_seed(seed), data_root, runs_root, "random", plan.fraction)
             for seed in plan.seeds]
    return results, floor


def setting_values(settings: dict[str, Profile], results: dict[str, list[SettingRun]],
                   metric: str = "miou") -> dict[str, list[float]]:
    """Setting label -> the probe's `metric` per seed, in the plan's seed order (what a paired test pairs)."""
    return {label: [run.probe.metrics[metric] for run in results[config_hash(cfg)]] for label, cfg in settings.items()}


def setting_stats(settings: dict[str, Profile], results: dict[str, list[SettingRun]],
                  metric: str = "miou") -> dict[str, Stat]:
    """Setting label -> (mean, std) of the probe's `metric` over seeds."""
    return {label: mean_std(values) for label, values in setting_values(settings, results, metric).items()}


def index_line(per_seed: dict[str, list[float]]) -> str:
    """One ablation for the report index: "label mean ± std, ..." in percent, from each setting's values per seed."""
    return ", ".join(f"{label} {format_stat(mean_std(values), len(values))}" for label, values in per_seed.items())


def setting_table(name: str, settings: dict[str, Profile], results: dict[str, list[SettingRun]]) -> dict:
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
