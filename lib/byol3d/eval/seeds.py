"""Comparing results over seeds: a mean with its spread, and the rule that says when two differ.

Every figure of the course is a mean over seeds with the sample standard deviation beside it. A headline
gap counts only when it is larger than the two arms' spreads added together (`separated`: the issues'
targets are stated that way). An ablation ranks two settings only when a paired t-test over their seeds
(each seed pre-trains and probes both) finds the gap, Holm-corrected over all the pairs it compares
(`ranked_pairs`): with two seeds the spread rule is no guard (a sample standard deviation of two values
can be near zero by chance), and it ranked settings in opposite orders on two CPUs (lab log, 2026-12-07).
The sentences below are computed from the numbers so that the notebooks never describe results they
did not obtain. Values are fractions (mIoU in [0, 1]); sentences print percentage points.
"""

from __future__ import annotations

from itertools import combinations
from typing import Hashable, Sequence

import numpy as np
from scipy import stats

Stat = tuple[float, float]  # (mean, sample standard deviation) over seeds
FAMILY_ALPHA = 0.05  # chance of ranking any pair of one ablation when no setting differs (Holm 1979)


def mean_std(values: Sequence[float]) -> Stat:
    """Mean and sample standard deviation (0 for a single value) of seeded results."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_std: no values (no seeded run to average)")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def separated(a: Stat, b: Stat) -> bool:
    """Two (mean, std) results differ beyond the seeds' spread: |mean gap| > std_a + std_b."""
    return abs(a[0] - b[0]) > a[1] + b[1]


def pct(value: float) -> float:
    """A fraction as percent."""
    return 100.0 * float(value)


def format_stat(stat: Stat, seeds: int) -> str:
    """'12.3 ± 0.4' (percent), or '12.3 (1 seed)' where a single seed gives no spread."""
    return f"{pct(stat[0]):.1f} ± {pct(stat[1]):.1f}" if seeds > 1 else f"{pct(stat[0]):.1f} (1 seed)"


def gap_verdict(label_a: str, a: Stat, label_b: str, b: Stat) -> str:
    """One line: A minus B in points, the spreads' sum, and whether the gap is beyond it."""
    gap, noise = pct(a[0] - b[0]), pct(a[1] + b[1])
    word = "above" if gap > 0 else "below"
    told = f"{word} it, beyond the spread" if separated(a, b) else "not separable from it at this spread"
    return f"{label_a} vs {label_b}: {gap:+.1f} points (spreads sum to {noise:.1f}): {told}."


def paired_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of a paired t-test that `a` and `b` (one value per seed, the same seeds in the same
    order) have equal means; 1.0 where it cannot tell (fewer than 2 seeds, or no difference at all)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_p_value: needs one value per seed on both sides, got {a.shape} and {b.shape}")
    if a.size < 2 or not np.any(a != b):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def holm_rejected(p_values: dict[Hashable, float], alpha: float = FAMILY_ALPHA) -> set[Hashable]:
    """The hypotheses Holm's step-down procedure rejects: the family-wise error stays at most `alpha`
    however many are tested (S. Holm, Scand. J. Statistics 1979)."""
    rejected = set()
    for rank, key in enumerate(sorted(p_values, key=p_values.get)):
        if p_values[key] > alpha / (len(p_values) - rank):
            break
        rejected.add(key)
    return rejected


def ranked_pairs(per_seed: dict[str, Sequence[float]]) -> list[tuple[str, str, float]]:
    """(better, worse, p) for every pair of settings that the paired test tells apart, Holm-corrected over
    all pairs of `per_seed` (setting -> its value per seed, every setting on the same seeds)."""
    p_values = {(a, b): paired_p_value(per_seed[a], per_seed[b]) for a, b in combinations(per_seed, 2)}
    found = holm_rejected(p_values)
    better = {(a, b): np.mean(per_seed[a]) > np.mean(per_seed[b]) for a, b in p_values}
    return [(a, b, p) if better[(a, b)] else (b, a, p) for (a, b), p in p_values.items() if (a, b) in found]


def ranking_sentence(title: str, per_seed: dict[str, Sequence[float]], floor: Sequence[float]) -> str:
    """Which settings of one ablation beat which, and how many beat the random-encoder floor, each by a
    paired t-test over the seeds, Holm-corrected (`floor`: the random encoder's value per seed)."""
    seeds = len(floor)
    pairs = [f"*{a}* > *{b}* (p = {p:.3f})" for a, b, p in ranked_pairs(per_seed)]
    floor_p = {name: paired_p_value(values, floor) for name, values in per_seed.items()}
    above = [name for name in holm_rejected(floor_p) if np.mean(per_seed[name]) > np.mean(floor)]
    text = (f"**{title}** ({seeds} seeds each; paired t-test over the seeds, Holm-corrected at "
            f"{FAMILY_ALPHA:.0%}): ")
    text += ("the test tells apart " + ", ".join(pairs) if pairs else
             "the test tells no two settings apart, so this budget does not rank them")
    return text + (f"; {len(above)} of {len(per_seed)} settings beat the random-encoder floor "
                   f"({format_stat(mean_std(floor), seeds)}%) by the same test.")


def curve_gap_sentence(label_a: str, a: Sequence[Stat], label_b: str, b: Sequence[Stat],
                       fractions: Sequence[float]) -> str:
    """A minus B at each label fraction, and at how many fractions A wins beyond the spread."""
    gaps = [(pct(ra[0] - rb[0]), separated(ra, rb)) for ra, rb in zip(a, b)]
    parts = [f"{100 * f:g}%: {d:+.1f}" + ("" if clear else " (inside the spread)")
             for f, (d, clear) in zip(fractions, gaps)]
    wins = sum(d > 0 and clear for d, clear in gaps)
    return (f"{label_a} vs {label_b}: beats it beyond the spread at {wins} of {len(fractions)} fractions "
            f"({', '.join(parts)} points).")
