"""The benchmark scripts still run against today's presets (a preset change once broke one unnoticed):
tiny workloads, checking the JSON lines they print, never their timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _json_lines(*args: str) -> list[dict]:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_train_step_bench_runs_both_cases_within_the_loss_tolerance(synth_processed):
    rows = _json_lines(str(BENCH / "train_step.py"), "--data", str(synth_processed), "--repeats", "1")
    assert [r["case"] for r in rows] == ["byol", "segmentation"]
    for row in rows:
        assert row["within_tolerance"] and row["speedup"] > 0 and row["peak_mem_mb"] >= 0


@pytest.mark.slow
def test_ops_bench_reports_the_median_speedup_over_rounds():
    rows = _json_lines(str(BENCH / "ops.py"), "--points", "3000", "--samples", "800", "--rounds", "2",
                       "--no-torch-backend")
    summary = rows[-1]
    assert summary["rounds"] == 2 and summary["speedup_min"] <= summary["speedup_median"] <= summary["speedup_max"]
    assert sum(r.get("op") == "fps+ball_query" and "speedup" in r for r in rows) == 2


@pytest.mark.slow
def test_supervised_curve_lab_script_logs_every_evaluation_and_a_whole_scene_score(synth_processed):
    rows = _json_lines(str(BENCH / "lab" / "supervised_curve.py"), "--data", str(synth_processed),
                       "--config", "smoke", "--steps", "2", "--every", "1")
    header, steps, final = rows[0], rows[1:-1], rows[-1]
    assert header["config"]["run"]["amp"] in (True, False)
    assert [r["step"] for r in steps] == [1, 2]
    assert final["final"] and final["steps"] == 2 and 0.0 <= final["val_whole_miou"] <= 1.0
