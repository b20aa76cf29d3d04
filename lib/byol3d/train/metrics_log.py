"""metrics.jsonl: one JSON line per pre-training step, the record that notebooks, lab scripts and a
resumed run read back (TensorBoard gets the same numbers: byol3d.train.tensorboard_log).

A row holds every key of METRIC_KEYS; a loss term the config does not use is null. A killed run may
leave its last line cut: readers stop at the first line that is not a complete row, and a resume
rewrites the file up to its checkpoint's step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from byol3d.utils.atomic import atomic_write_text

LOG_NAME = "metrics.jsonl"
METRIC_KEYS = ("step", "loss", "loss_global", "loss_region", "loss_dense", "lr", "tau", "collapse_std",
               "cos_online_target", "seconds")
MONITOR_KEYS = ("loss", "loss_global", "loss_region", "loss_dense", "collapse_std", "cos_online_target")


def append_step(path: Path, metrics: dict, step: int, seconds: float) -> dict:
    """Append one step's row (METRIC_KEYS; None where `metrics` lacks a key) to the log; returns the row."""
    row = {key: metrics.get(key) for key in METRIC_KEYS}
    row.update(step=step, seconds=round(seconds, 4))
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def read_steps(path: str | Path, upto: int | None = None) -> list[dict]:
    """The complete rows of a log (steps <= `upto` when given), in order; FileNotFoundError naming the
    file when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pre-training log here (has the run started?)")
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            step = row["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            break  # a line cut by a kill: everything after it is redone on resume
        if upto is not None and step > upto:
            break
        rows.append(row)
    return rows


def truncate_log(path: Path, upto: int) -> None:
    """Keep the rows of steps <= `upto` (what a resumed run keeps), atomically; creates an empty log."""
    rows = read_steps(path, upto) if path.is_file() else []
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def log_summary(rows: list[dict], window: int = 1) -> dict:
    """What a table of runs shows: steps, total and median step seconds, and the mean over the last
    `window` steps of every loss and monitor the run logged."""
    if not rows:
        raise ValueError("log_summary: the log has no complete step")
    tail = rows[-window:]
    summary = {"steps": len(rows), "seconds": float(sum(r["seconds"] for r in rows)),
               "median_step_seconds": float(np.median([r["seconds"] for r in rows]))}
    for key in MONITOR_KEYS:
        values = [r[key] for r in tail if r.get(key) is not None]
        if values:
            summary[key] = float(np.mean(values))
    return summary
