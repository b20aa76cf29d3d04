"""The report's index.html: course outline, headline pictures and numbers, chapter links, provenance.

Filled from `index.html` (a `string.Template` beside this module) with values the builder measured
(wall time, device, commit), the key figures the notebooks recorded (`byol3d.report.headline`) and the
pictures shipped beside the page (`byol3d.report.index_charts`, the chapter 04 turntable). Plain HTML,
inline CSS and <img> tags: the index needs no JavaScript.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import nbformat

from byol3d.report.headline import MIOU_KEYS, SPECIAL_KEYS

TEMPLATE = Path(__file__).with_name("index.html")


@dataclass
class Chapter:
    """One executed notebook, as the index shows it."""

    name: str  # notebook stem, e.g. "04_segmentation_probe"
    title: str  # first markdown heading
    summary: str  # first paragraph of the first markdown cell
    seconds: float  # wall time of the papermill run
    device: str  # where it ran
    figures: dict = field(default_factory=dict)  # key figures it recorded (record_headline)


def outline(notebook: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    """(title, summary) from the notebook's first markdown cell: its first heading and paragraph."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        title, paragraph = fallback, []
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and title == fallback and not paragraph:
                title = stripped.lstrip("#").strip()
            elif stripped and not stripped.startswith("#"):
                paragraph.append(stripped)
            elif paragraph:
                break
        summary = " ".join(paragraph)
        return title, summary if len(summary) <= 320 else summary[:317].rsplit(" ", 1)[0] + " ..."
    return fallback, ""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return html.escape(str(value))


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _pct(value: object) -> str:
    return f"{100.0 * float(value):.1f}" if isinstance(value, (int, float)) else "&ndash;"


def _mean_spread(mean: object, std: object) -> str:
    """'41.2 ± 1.3' (percent) when a spread was recorded, else the mean alone."""
    return _pct(mean) + (f" &plusmn; {_pct(std)}" if isinstance(std, (int, float)) else "")


def headline_table(values: dict) -> str:
    rows = [f"<tr><td>{label}</td><td class=num>{_mean_spread(values[key], values.get(key + '_std'))}</td></tr>"
            for key, label in MIOU_KEYS.items() if key in values]
    if not rows:
        return "<p class=muted>No headline numbers were recorded by the notebooks.</p>"
    seeds = f" (mean &plusmn; std over {values['seeds']} seeds)" if "seeds" in values else ""
    return f"<table><tr><th>Method</th><th>val mIoU (%){seeds}</th></tr>" + "".join(rows) + "</table>"


def efficiency_table(values: dict) -> str:
    table = values.get("label_efficiency")
    if not isinstance(table, dict) or "fractions" not in table:
        return "<p class=muted>No label-efficiency sweep was recorded.</p>"
    fractions = table["fractions"]
    head = "".join(f"<th>{_fmt(100 * f)}% labels</th>" for f in fractions)
    rows = []
    for method, mious in table.items():
        if method != "fractions" and not method.endswith("_std"):
            spreads = table.get(f"{method}_std", [None] * len(mious))
            # a spread of exactly 0 is a single seed (the CPU profiles' supervised arms): no "± 0.0"
            cells = "".join(f"<td class=num>{_mean_spread(m, s or None)}</td>" for m, s in zip(mious, spreads))
            label = MIOU_KEYS.get(f"miou_{method}", method)
            rows.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    return f"<table><tr><th>Method (val mIoU %)</th>{head}</tr>{''.join(rows)}</table>"


def chapter_rows(chapters: list[Chapter]) -> str:
    rows = []
    for ch in chapters:
        extra = {k: v for k, v in ch.figures.items() if k not in SPECIAL_KEYS}
        figures = "".join(f"<li>{html.escape(k)}: {_fmt(v)}</li>" for k, v in extra.items())
        rows.append(
            f"<tr><td><a href=\"{ch.name}.html\">{html.escape(ch.title)}</a>"
            f"<div class=muted>{html.escape(ch.name)}</div></td>"
            f"<td>{html.escape(ch.summary)}{f'<ul>{figures}</ul>' if figures else ''}</td>"
            f"<td class=num>{duration(ch.seconds)}</td><td>{html.escape(ch.device)}</td></tr>"
        )
    return "".join(rows)


def picture(file: str | None, alt: str, caption: str) -> str:
    """A <figure> showing `file` (beside index.html), or nothing when the picture was not made."""
    if not file:
        return ""
    return (f'<figure><img src="{html.escape(file)}" alt="{html.escape(alt)}">'
            f"<figcaption class=muted>{caption}</figcaption></figure>")


def merged_figures(chapters: list[Chapter]) -> dict:
    """Every chapter's key figures in one dict; values from later chapters override earlier ones."""
    merged: dict = {}
    for ch in chapters:
        merged.update(ch.figures)
    return merged


def run_note(runs: dict[str, int] | None) -> str:
    """' (N runs trained in this build, M reused ...)' beside the notebook time, so a build that took its
    runs finished from the run store does not pass for a build's cost; '' when no run was recorded."""
    if not runs or not runs["trained"] + runs["reused"]:
        return ""
    trained = f"{runs['trained']} run{'s' * (runs['trained'] != 1)} trained in this build"
    if not runs["reused"]:
        return f" ({trained})"
    return (f" ({trained}, {runs['reused']} reused finished from the run store: a build from an empty "
            "<code>runs/</code> takes longer)")


def render_index(chapters: list[Chapter], profile: str, date: str, commit: str, data_root: str,
                 pictures: dict[str, str] | None = None, runs: dict[str, int] | None = None) -> str:
    """The full index.html text. pictures: {"headline", "efficiency", "turntable"} -> file name beside
    the page (each optional); runs: {"trained", "reused"} counts of the build (headline.run_counts)."""
    merged, pictures = merged_figures(chapters), pictures or {}
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        profile=html.escape(profile), date=html.escape(date), commit=html.escape(commit),
        data_root=html.escape(data_root), headline=headline_table(merged),
        turntable=picture(pictures.get("turntable"), "turntable of a validation scene",
                          "A validation scene turning: ground truth (left) beside the BYOL probe's prediction "
                          "(right), ScanNet20 colours, unlabelled points black (chapter 04)."),
        headline_chart=picture(pictures.get("headline"), "bar chart of validation mIoU per method",
                               "Validation mIoU per method: bars are means over seeds, whiskers one standard "
                               "deviation; grey bars are floors."),
        efficiency_chart=picture(pictures.get("efficiency"), "label-efficiency curves",
                                 "The same methods trained on a nested share of the labelled training scenes; "
                                 "no whisker where a method ran with one seed."),
        efficiency=efficiency_table(merged), chapters=chapter_rows(chapters),
        total=f"{sum(ch.seconds for ch in chapters) / 60:.1f}",
        runs=run_note(runs),
        budget_note="" if profile == "full" else (
            f"{profile.capitalize()}-profile numbers come from small training budgets: they show the method "
            "working, not its ceiling (run <code>PROFILE=full</code> on a GPU for those)."),
    )
