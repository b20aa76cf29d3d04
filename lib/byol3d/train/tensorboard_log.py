"""TensorBoard event files of a run, beside its metrics: the same numbers, to watch in TensorBoard.

metrics.jsonl (pre-training) and metrics.json (probe) stay the record that byol3d reads back (notebooks,
report); the event files in `<run folder>/tensorboard/` hold the same numbers for TensorBoard, the tool
this field watches training runs with: `make tensorboard` serves every run folder under runs/. Tags:

- pre-training (byol3d.pretrain), one point per optimisation step (global_step = step, 1-based):
  `byol/<key>` for each column of metrics_log.METRIC_KEYS but `step`: loss, loss_global, loss_region,
  loss_dense (the terms the config uses; the others are None in metrics.jsonl and not written), lr, tau,
  collapse_std, cos_online_target, seconds (wall time of the step).
- probe (byol3d.probe), written from the finished run's record, `<method>` being linear, finetune, ...:
  `probe/<method>/train_loss` at steps 1..n (n = the run's training steps; none for majority), and at
  step n the end-of-run numbers: `probe/<method>/train_accuracy` (linear arms), `probe/<method>/val_miou`,
  `val_macc` and `val_oa`.

Only one process writes (rank 0 of a torchrun pre-training). A resumed pre-training run opens a new event
file that tells TensorBoard to drop the points an earlier, killed attempt logged after the checkpoint it
resumes from (SummaryWriter's purge_step), so every step keeps the one value metrics.jsonl keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from byol3d.utils.optional import import_optional

if TYPE_CHECKING:  # imported when used (require_tensorboard): the package is checked before a run starts
    from torch.utils.tensorboard import SummaryWriter

TENSORBOARD_DIR = "tensorboard"  # event files: <run folder>/tensorboard/events.out.tfevents.*
MISSING_HINT = ("TensorBoard logging needs the `tensorboard` package (pinned in requirements.txt): run `make setup`, "
                "or `pip install -r requirements.txt`")


def require_tensorboard() -> type[SummaryWriter]:
    """torch's SummaryWriter class, or NotAvailable (a user error: one line, exit 2) naming the package.
    Called before a run starts, so a missing package stops it before any training, not at the end."""
    return import_optional("torch.utils.tensorboard", MISSING_HINT).SummaryWriter


def open_writer(run_dir: str | Path, first_step: int = 1) -> SummaryWriter:
    """A SummaryWriter of `run_dir`/tensorboard whose points start at `first_step`: TensorBoard drops the
    points at steps >= first_step that an earlier attempt left in older event files. Close it when done."""
    writer_class = require_tensorboard()
    return writer_class(log_dir=str(Path(run_dir) / TENSORBOARD_DIR), purge_step=first_step)


def log_scalars(writer: SummaryWriter, prefix: str, values: dict, step: int) -> None:
    """`prefix/key` = value at `step` for every entry of `values`; None (a quantity not in use) is skipped."""
    for key, value in values.items():
        if value is not None:
            writer.add_scalar(f"{prefix}/{key}", value, global_step=step)


def write_probe_events(run_dir: str | Path, method: str, metrics: dict) -> None:
    """The probe run's event file, from its finished metrics dict (byol3d.probe.run_probe): the training
    loss of every step, then the end-of-run numbers at the last step (0 when nothing was trained)."""
    prefix = f"probe/{method}"
    losses = metrics["train_loss"]  # one cross-entropy value per optimisation step
    writer = open_writer(run_dir)
    try:
        for step, loss in enumerate(losses, start=1):
            writer.add_scalar(f"{prefix}/train_loss", loss, global_step=step)
        final = {"train_accuracy": metrics.get("train_accuracy"), "val_miou": metrics["miou"],
                 "val_macc": metrics["macc"], "val_oa": metrics["oa"]}
        log_scalars(writer, prefix, final, len(losses))
    finally:
        writer.close()
