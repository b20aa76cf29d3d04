"""Lab experiment: how a change to the BYOL pre-training recipe moves the frozen linear probe.

    python bench/lab/byol_recipe.py --data DATA [--profile quick] [--seeds 0 1] [--runs RUNS]
                                    [--set field=value ...]

Pre-trains the profile with the overrides (`--set byol.tau_base=0.95 data.view_augment.jitter_sigma=0.01`)
once per seed, then trains the profile's linear probe on each encoder, exactly as chapters 03-04 do
(`byol3d.experiments.pretrain` / `probe`, so runs are cached under `--runs` by config and reused).
Prints one JSON line per seed (val mIoU on every vertex of every validation scene, the pre-training's
last losses and monitors) and a summary line with the mean and sample spread. Results go to
reports/experiments.md; the random-encoder floor is the `random` method of the same probe config.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from byol3d import experiments
from byol3d.config import apply_overrides
from byol3d.train.metrics_log import LOG_NAME, log_summary, read_steps


def pretrain_tail(run_dir) -> dict:
    """The pre-training's losses and monitors, each the mean of its last 20 steps."""
    summary = log_summary(read_steps(run_dir / LOG_NAME), window=20)
    return {k: round(v, 4) for k, v in summary.items() if k not in ("steps", "seconds", "median_step_seconds")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--set", nargs="*", default=[], help="overrides, e.g. byol.tau_base=0.95 byol.steps=300")
    args = ap.parse_args()
    main_profile = experiments.profile_config(args.profile)
    pretraining = apply_overrides(main_profile, args.set)  # the probe keeps the profile's own settings
    mious = []
    for seed in args.seeds:
        start = time.perf_counter()
        pre = experiments.pretrain(pretraining.with_seed(seed), args.data, args.runs)
        run = experiments.probe(main_profile.with_seed(seed), args.data, args.runs, "linear", 1.0, pre.encoder)
        mious.append(run.metrics["miou"])
        print(json.dumps({"set": args.set, "seed": seed, "miou": round(run.metrics["miou"], 4),
                          "oa": round(run.metrics["oa"], 4), **pretrain_tail(pre.run_dir),
                          "seconds": round(time.perf_counter() - start, 1), "run": str(pre.run_dir)}), flush=True)
    values = np.array(mious)
    print(json.dumps({"set": args.set, "seeds": args.seeds, "miou_mean": round(float(values.mean()), 4),
                      "miou_std": round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0}), flush=True)


if __name__ == "__main__":
    main()
