"""Comparing results over seeds: a mean with its spread, and the rule that says when two differ.

Every figure of the course is a mean over seeds with the sample standard deviation beside it. Two
results are told apart only when the gap between their means is larger than their two spreads added
together (`separated`); with fewer seeds than that needs, the text says the budget does not rank them.
The sentences below are computed from the numbers so that the notebooks never describe results they
did not obtain. Values are fractions (mIoU in [0, 1]); sentences print percentage points.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

Stat = tuple[float, float]  # (mean, sample standard deviation) over seeds


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


def ranking_sentence(title: str, results: dict[str, Stat], floor: Stat, seeds: int) -> str:
    """Which settings beat which beyond the spread, and how many clear the floor (one ablation)."""
    pairs = [f"*{a}* > *{b}*" for a, ra in results.items() for b, rb in results.items()
             if ra[0] > rb[0] and separated(ra, rb)]
    above = [name for name, r in results.items() if r[0] > floor[0] and separated(r, floor)]
    text = f"**{title}** ({seeds} seeds each): "
    text += ("beyond the seed spread, " + ", ".join(pairs) if pairs else
             "no setting differs from another by more than the seeds' spread, so this budget does not rank them")
    return text + (f"; {len(above)} of {len(results)} settings beat the random-encoder floor "
                   f"({pct(floor[0]):.1f} ± {pct(floor[1]):.1f}%) beyond the spread.")


def curve_gap_sentence(label_a: str, a: Sequence[Stat], label_b: str, b: Sequence[Stat],
                       fractions: Sequence[float]) -> str:
    """A minus B at each label fraction, and at how many fractions A wins beyond the spread."""
    gaps = [(pct(ra[0] - rb[0]), separated(ra, rb)) for ra, rb in zip(a, b)]
    parts = [f"{100 * f:g}%: {d:+.1f}" + ("" if clear else " (inside the spread)")
             for f, (d, clear) in zip(fractions, gaps)]
    wins = sum(d > 0 and clear for d, clear in gaps)
    return (f"{label_a} vs {label_b}: beats it beyond the spread at {wins} of {len(fractions)} fractions "
            f"({', '.join(parts)} points).")
