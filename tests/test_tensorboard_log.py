"""TensorBoard event files (byol3d.train.tensorboard_log): a restarted writer replaces the points after its
first step, the majority probe's events, and a clear error before any work when tensorboard is missing.
The pre-training and probe runs' events are checked against their metrics in test_pretrain / test_probe."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from byol3d.data.dataset import DataConfig
from byol3d.pretrain import run_pretrain
from byol3d.probe import run_probe
from byol3d.profile import Profile
from byol3d.train.tensorboard_log import log_scalars, open_writer
from byol3d.utils.optional import NotAvailable
from conftest import smoke_profile


def test_a_restarted_writer_replaces_the_points_from_its_first_step(tmp_path, event_scalars):
    """A killed attempt logged steps 1..5 but its checkpoint was at step 2: the resumed writer starts at 3,
    so steps 3..5 of the first attempt are dropped, and every step has one point."""
    first = open_writer(tmp_path)
    for step in range(1, 6):
        log_scalars(first, "byol", {"loss": 10.0 + step, "loss_dense": None}, step)
    first.close()
    # TensorBoard reads event files in name order, and names start with the creation second (then the pid and
    # a per-process counter, which sorts wrongly from 9 to 10): a real resume is a later process; wait a second.
    time.sleep(1.1)
    resumed = open_writer(tmp_path, first_step=3)
    for step in range(3, 5):
        log_scalars(resumed, "byol", {"loss": 20.0 + step, "loss_dense": None}, step)
    resumed.close()
    assert event_scalars(tmp_path) == {"byol/loss": [(1, 11.0), (2, 12.0), (3, 23.0), (4, 24.0)]}


@pytest.mark.slow
def test_majority_probe_logs_the_final_metrics_at_step_zero(synth_processed, tmp_path, event_scalars):
    cfg = smoke_profile(data=DataConfig(voxel_max=1500))
    metrics = run_probe(cfg, synth_processed, "majority", tmp_path / "majority")
    scalars = event_scalars(tmp_path / "majority")
    assert sorted(scalars) == ["probe/majority/val_macc", "probe/majority/val_miou", "probe/majority/val_oa"]
    assert scalars["probe/majority/val_oa"] == [(0, float(np.float32(metrics["oa"])))]  # nothing trained: step 0


def test_missing_tensorboard_stops_runs_before_any_work(synth_processed, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what `import` finds without the package
    with pytest.raises(NotAvailable, match="`tensorboard` package.*make setup"):
        run_probe(Profile.smoke(), synth_processed, "majority", tmp_path / "probe")
    with pytest.raises(NotAvailable, match="`tensorboard` package.*make setup"):
        run_pretrain(Profile.smoke(), synth_processed, tmp_path / "byol")
    assert not (tmp_path / "probe").exists() and not (tmp_path / "byol").exists()
