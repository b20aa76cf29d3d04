"""The library side of the chapters' story: evaluation arms, comparisons over seeds, the pre-training log,
chapter 05's ablation plan and chapter 04's embedding numbers. (The notebooks run them end to end on the
smoke profile in test_notebooks.py.)"""

import json

import numpy as np
import pytest

from byol3d import ablations, experiments
from byol3d.arms import ARMS, EFFICIENCY_ARMS, get_arm
from byol3d.config import config_hash
from byol3d.eval.embedding import knn_accuracy, project_2d
from byol3d.eval.seeds import (curve_gap_sentence, format_stat, gap_verdict, holm_rejected, mean_std,
                               paired_p_value, ranked_pairs, ranking_sentence, separated)
from byol3d.probe import METHODS, PRETRAINED_METHODS
from byol3d.report.headline import MIOU_KEYS
from byol3d.train.metrics_log import append_step, log_summary, read_steps, truncate_log


def test_every_arm_is_a_probe_method_and_the_report_names_it_the_same_way():
    assert {arm.method for arm in ARMS.values()} <= set(METHODS)
    assert {arm.method for arm in ARMS.values() if arm.pretrained} == set(PRETRAINED_METHODS)
    assert MIOU_KEYS == {f"miou_{name}": arm.label for name, arm in ARMS.items()}
    assert set(EFFICIENCY_ARMS) <= set(ARMS)
    assert {arm.name for arm in ARMS.values() if arm.floor} == {"random_linear", "raw_linear", "majority"}
    with pytest.raises(ValueError, match="unknown arm 'byol'.*byol_linear"):
        get_arm("byol")


def test_only_the_supervised_arms_get_one_seed_in_the_cpu_efficiency_grid():
    assert experiments.efficiency_seeds("quick", "scratch") == experiments.SEEDS["quick"][:1]
    assert experiments.efficiency_seeds("quick", "byol_linear") == experiments.SEEDS["quick"]
    assert experiments.efficiency_seeds("full", "byol_finetune") == experiments.SEEDS["full"]


def test_mean_std_and_the_spread_rule():
    assert mean_std([0.2]) == (0.2, 0.0)
    mean, std = mean_std([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and std == pytest.approx(0.1)
    with pytest.raises(ValueError, match="no values"):
        mean_std([])
    assert separated((0.30, 0.02), (0.20, 0.03))  # gap 0.10 > 0.05
    assert not separated((0.30, 0.05), (0.25, 0.01))  # gap 0.05 < 0.06
    assert format_stat((0.123, 0.004), 3) == "12.3 ± 0.4"
    assert format_stat((0.123, 0.0), 1) == "12.3 (1 seed)"


def test_sentences_say_what_the_numbers_say():
    assert gap_verdict("A", (0.30, 0.01), "B", (0.20, 0.01)) == \
        "A vs B: +10.0 points (spreads sum to 2.0): above it, beyond the spread."
    assert "not separable" in gap_verdict("A", (0.21, 0.02), "B", (0.20, 0.02))
    floor = [0.10, 0.11, 0.09]
    ranked = ranking_sentence("loss", {"x": [0.30, 0.33, 0.31], "y": [0.20, 0.22, 0.22]}, floor)
    assert "*x* > *y* (p = 0.0" in ranked and "2 of 2 settings beat the random-encoder floor" in ranked
    assert "(3 seeds each; paired t-test" in ranked
    tied = ranking_sentence("loss", {"x": [0.20, 0.26, 0.18], "y": [0.21, 0.20, 0.25]}, floor)
    assert "does not rank them" in tied
    curve = curve_gap_sentence("BYOL", [(0.3, 0.01), (0.2, 0.05)], "random", [(0.1, 0.01), (0.19, 0.05)], [0.1, 1.0])
    assert "at 1 of 2 fractions" in curve and "100%: +1.0 (inside the spread)" in curve


def test_the_paired_test_ranks_gaps_the_seeds_agree_on_not_gaps_a_small_spread_hides():
    # Seeds move both settings together: a steady 1.5-2.3-point gap is real though each spread is 5 points.
    s_net, b_net = [0.10, 0.20, 0.15], [0.08, 0.185, 0.127]
    assert not separated(mean_std(s_net), mean_std(b_net))
    assert paired_p_value(s_net, b_net) < 0.02 and ranked_pairs({"S": s_net, "B": b_net})[0][:2] == ("S", "B")
    # Chapter 05's width ablation on the EPYC build (2 seeds): B's two values agree by chance, so the spread
    # rule ranked S above B; the two seeds' gaps (0.3 and 1.5 points) disagree, so the paired test does not.
    s_epyc, b_epyc = [0.124, 0.136], [0.121, 0.121]
    assert separated(mean_std(s_epyc), mean_std(b_epyc))
    assert paired_p_value(s_epyc, b_epyc) > 0.3 and ranked_pairs({"S": s_epyc, "B": b_epyc}) == []
    assert paired_p_value([0.2], [0.1]) == 1.0 and paired_p_value([0.2, 0.3], [0.2, 0.3]) == 1.0
    with pytest.raises(ValueError, match=r"one value per seed.*\(3,\) and \(2,\)"):
        paired_p_value([0.1, 0.2, 0.3], [0.1, 0.2])


def test_holm_steps_down_and_stops_at_the_first_p_value_above_its_threshold():
    p_values = {"a": 0.010, "b": 0.030, "c": 0.040}  # thresholds 0.05/3, 0.05/2, 0.05/1
    assert holm_rejected(p_values) == {"a"}
    assert holm_rejected({"a": 0.010, "b": 0.020, "c": 0.040}) == {"a", "b", "c"}
    assert holm_rejected({"a": 0.02, "b": 0.02, "c": 0.02}) == set()  # 0.02 > 0.05/3
    assert holm_rejected({}) == set()


def test_the_index_line_of_an_ablation_is_mean_and_spread_over_seeds_not_the_seeds_themselves():
    # Two seeds' values also unpack as a (mean, std) pair: chapter 05 once printed "14.0 ± 15.1" that way.
    assert ablations.index_line({"global": [0.140, 0.151], "dense": [0.13, 0.13, 0.13]}) == \
        "global 14.6 ± 0.8, dense 13.0 ± 0.0"


def test_log_round_trip_stops_at_a_cut_line_and_truncates_for_a_resume(tmp_path):
    log = tmp_path / "metrics.jsonl"
    for step in (1, 2, 3):
        append_step(log, {"loss": 4.0 - step, "collapse_std": 0.1, "loss_dense": None}, step, seconds=0.5 * step)
    rows = read_steps(log)
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["loss_global"] is None
    with open(log, "a") as f:
        f.write('{"step": 4, "loss"')  # a write cut by a kill
    assert len(read_steps(log)) == 3
    assert [r["step"] for r in read_steps(log, upto=2)] == [1, 2]
    truncate_log(log, 2)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]
    summary = log_summary(read_steps(log), window=2)
    assert summary["steps"] == 2 and summary["seconds"] == pytest.approx(1.5)
    assert summary["loss"] == pytest.approx(2.5) and "loss_dense" not in summary
    with pytest.raises(FileNotFoundError, match="nothing.jsonl: no pre-training log"):
        read_steps(tmp_path / "nothing.jsonl")
    with pytest.raises(ValueError, match="no complete step"):
        log_summary([])


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_every_ablation_varies_one_setting_of_the_shared_baseline(profile):
    plan = ablations.ablation_plan(profile)
    assert set(plan.grid) == {"loss", "augmentation", "tau rule", "width"}
    for name, settings in plan.grid.items():
        baseline = [label for label, cfg in settings.items() if cfg == plan.base]
        assert len(baseline) == 1 and baseline[0].endswith("(baseline)"), name
    assert config_hash(plan.base) in plan.distinct()
    assert len(plan.distinct()) == sum(len(s) for s in plan.grid.values()) - len(plan.grid) + 1  # baseline once
    assert plan.seeds == ablations.ABLATION_SEEDS[profile] and 0 < plan.fraction <= 1


def test_a_grid_without_its_baseline_is_refused():
    plan = ablations.ablation_plan("smoke")
    other = {"a": plan.grid["loss"]["global"]}
    with pytest.raises(ValueError, match=r"\['a'\] do not contain the baseline"):
        ablations.mark_baseline(other, plan.base)


def test_knn_accuracy_and_projections_see_separable_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 8)) + 6.0 * np.eye(3, 8)[y]  # three well-separated clusters
    assert knn_accuracy(x, y) > 0.95
    assert knn_accuracy(rng.normal(size=(120, 8)), y) < 0.6
    points = project_2d(x, "t-SNE")
    assert points.shape == (120, 2) and np.isfinite(points).all()
    with pytest.raises(ValueError, match="unknown projection 'pca'"):
        project_2d(x, "pca")
