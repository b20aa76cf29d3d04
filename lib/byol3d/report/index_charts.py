"""The pictures the report's index page leads with, drawn from the key figures the notebooks recorded
(`byol3d.report.headline`): the headline mIoU of every arm as bars with their seed spread, and the
label-efficiency curves. Static SVG files written beside index.html (matplotlib, no JavaScript), so the
index stays a plain page that opens offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from byol3d.arms import ARMS
from byol3d.report.headline import MIOU_KEYS
from byol3d.utils.atomic import atomic_write

HEADLINE_SVG = "headline.svg"
EFFICIENCY_SVG = "label_efficiency.svg"
_FLOOR_COLOR, _ARM_COLOR = "#afb8c1", "#0969da"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))  # no pyplot: nothing global changes in the caller's process
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save_svg(fig, path: Path) -> Path:
    """Text stays text (selectable, searchable, small); no date stamp, so a rebuild with the same
    numbers writes the same file."""
    from matplotlib import rc_context

    fig.tight_layout()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "byol3d"}):
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="svg", metadata={"Date": None}))


def headline_chart(values: dict, path: str | Path) -> Path | None:
    """Horizontal bars of val mIoU (%) per arm, mean ± std over seeds; floors in grey. None when the
    notebooks recorded no headline numbers."""
    keys = [key for key in MIOU_KEYS if key in values]
    if not keys:
        return None
    means = np.array([100 * float(values[key]) for key in keys])
    spreads = np.array([100 * float(values.get(f"{key}_std") or 0.0) for key in keys])
    colors = [_FLOOR_COLOR if ARMS[key.removeprefix("miou_")].floor else _ARM_COLOR for key in keys]
    fig, ax = _figure(7.5, 0.45 * len(keys) + 1.0)
    rows = np.arange(len(keys))[::-1]  # first arm on top
    ax.barh(rows, means, xerr=spreads, color=colors, capsize=4, error_kw={"elinewidth": 1.2})
    for row, mean, spread in zip(rows, means, spreads):
        ax.text(mean + spread + 0.4, row, f"{mean:.1f} ± {spread:.1f}" if spread else f"{mean:.1f}", va="center",
                fontsize=9)
    ax.set_yticks(rows, [MIOU_KEYS[key] for key in keys], fontsize=9)
    ax.set_xlim(0, max(means + spreads) * 1.25 + 1)
    seeds = f", mean ± std over {values['seeds']} seeds" if "seeds" in values else ""
    ax.set_xlabel(f"val mIoU (%){seeds}")
    ax.spines[["top", "right"]].set_visible(False)
    return _save_svg(fig, Path(path))


def efficiency_chart(values: dict, path: str | Path) -> Path | None:
    """val mIoU (%) against the share of labelled training scenes, one line per method with its seed
    spread as error bars. None when no label-efficiency sweep was recorded."""
    table = values.get("label_efficiency")
    if not isinstance(table, dict) or "fractions" not in table:
        return None
    x = 100 * np.asarray(table["fractions"], dtype=float)
    fig, ax = _figure(7.5, 3.6)
    for method, mious in table.items():
        if method == "fractions" or method.endswith("_std"):
            continue
        spread = table.get(f"{method}_std") or [0.0] * len(mious)
        ax.errorbar(x, 100 * np.asarray(mious, dtype=float), yerr=100 * np.asarray(spread, dtype=float),
                    marker="o", capsize=3, label=MIOU_KEYS.get(f"miou_{method}", method))
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}%" for v in x])
    ax.set_xlabel("labelled training scenes used")
    ax.set_ylabel("val mIoU (%)")
    ax.legend(fontsize=9, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save_svg(fig, Path(path))
