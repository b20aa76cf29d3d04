"""2D charts for the course: training curves, grouped bars (per-class IoU), heat maps (confusion),
and 2D embeddings of point features (t-SNE / UMAP) coloured by ScanNet20 class."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from byol3d.data.labels import IGNORE_COLOR, NUM_CLASSES, SCANNET20_COLORS, SCANNET20_NAMES
from byol3d.viz.scene3d import _rgb, subsample

_LAYOUT = dict(height=420, margin=dict(l=60, r=20, t=50, b=60), template="plotly_white")


def line_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "",
                x_title: str = "", y_title: str = "", log_y: bool = False) -> go.Figure:
    """One line per entry of `series`: name -> (x values, y values), e.g. loss per step."""
    fig = go.Figure()
    for name, (x, y) in series.items():
        if len(x) != len(y):
            raise ValueError(f"line_figure: series {name!r} has {len(x)} x but {len(y)} y values")
        fig.add_trace(go.Scatter(x=np.asarray(x), y=np.asarray(y, dtype=np.float64), mode="lines", name=name))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def bar_figure(groups: Mapping[str, Mapping[str, float | None]], title: str = "", y_title: str = "",
               categories: Sequence[str] | None = None) -> go.Figure:
    """Grouped bars: `groups` maps a series name (e.g. a method) to {category: value}.

    Missing or None values (e.g. a class absent from the validation set) leave a gap. `categories`
    fixes the x order; by default the order of first appearance.
    """
    if categories is None:
        categories = list(dict.fromkeys(c for values in groups.values() for c in values))
    fig = go.Figure()
    for name, values in groups.items():
        y = [np.nan if values.get(c) is None else float(values[c]) for c in categories]
        fig.add_trace(go.Bar(x=list(categories), y=y, name=name))
    fig.update_layout(title=title, yaxis_title=y_title, barmode="group", **_LAYOUT)
    return fig


def spread_line_figure(series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
                       title: str = "", x_title: str = "", y_title: str = "") -> go.Figure:
    """One line with markers per entry: name -> (x values, means, spreads), each spread drawn as a +- error
    bar (e.g. the seeds' std); x on a log scale, as for label fractions and step budgets."""
    fig = go.Figure()
    for name, (x, means, spreads) in series.items():
        if not len(x) == len(means) == len(spreads):
            raise ValueError(f"spread_line_figure: series {name!r} has {len(x)} x, {len(means)} means and "
                             f"{len(spreads)} spreads")
        fig.add_trace(go.Scatter(x=list(x), y=list(means), name=name, mode="lines+markers",
                                 error_y={"type": "data", "array": list(spreads), "visible": True}))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    fig.update_xaxes(type="log")
    return fig


def budget_figure(lab: Mapping[int, tuple[float, float]], lab_name: str, this_run: tuple[int, float, float],
                  this_name: str, floors: Mapping[str, float], title: str = "", y_title: str = "",
                  single_seed: Mapping[str, Mapping[int, float]] | None = None) -> go.Figure:
    """A score against the training steps: measured longer runs (steps -> (mean, std)) as a line with error
    bars, this execution's own result (steps, mean, std) as a marker, and reference levels as dotted lines.
    `single_seed` (name -> {steps: score}) adds runs of one seed as dashed lines without error bars: an
    indication beside the means, drawn so that it cannot be mistaken for one.

    For the chapters that set a step budget by time, not by convergence: the reader sees where on the
    longer curve the report's own point sits.
    """
    if not lab:
        raise ValueError("budget_figure: no measured runs in `lab`")
    steps = sorted(lab)
    fig = spread_line_figure({lab_name: (steps, [lab[s][0] for s in steps], [lab[s][1] for s in steps])},
                             title=title, x_title="training steps (log scale)", y_title=y_title)
    for name, runs in (single_seed or {}).items():
        if not runs:
            raise ValueError(f"budget_figure: single-seed series {name!r} has no runs")
        run_steps = sorted(runs)
        fig.add_trace(go.Scatter(x=run_steps, y=[runs[s] for s in run_steps], name=name, mode="lines+markers",
                                 line={"dash": "dash"}))
    fig.add_trace(go.Scatter(x=[this_run[0]], y=[this_run[1]], name=this_name, mode="markers",
                             marker={"size": 12, "symbol": "diamond"},
                             error_y={"type": "data", "array": [this_run[2]], "visible": True}))
    for name, level in floors.items():
        fig.add_hline(y=level, line_dash="dot", annotation_text=name)
    return fig


def spread_bar_figure(values: Mapping[str, tuple[float, float]], title: str = "", y_title: str = "") -> go.Figure:
    """One bar per entry: name -> (mean, spread); the spread is drawn as a +- error bar (e.g. seeds' std)."""
    names = list(values)
    fig = go.Figure(go.Bar(x=names, y=[float(values[n][0]) for n in names],
                           error_y={"type": "data", "array": [float(values[n][1]) for n in names], "visible": True}))
    fig.update_layout(title=title, yaxis_title=y_title, **_LAYOUT)
    return fig


def class_iou_figure(per_class_iou: Mapping[str, Mapping[str, float | None]],
                     title: str = "Per-class IoU") -> go.Figure:
    """Per-class IoU bars, one series per method: method -> metrics.json's `per_class_iou`."""
    fig = bar_figure(per_class_iou, title=title, y_title="IoU", categories=SCANNET20_NAMES)
    fig.update_yaxes(range=[0, 1])
    return fig


def heatmap_figure(matrix: np.ndarray, x_labels: Sequence[str], y_labels: Sequence[str], title: str = "",
                   x_title: str = "", y_title: str = "", colorscale: str = "Blues") -> go.Figure:
    """A heat map of `matrix` (rows: y_labels, columns: x_labels), first row at the top."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(y_labels), len(x_labels)):
        raise ValueError(
            f"heatmap_figure: matrix {matrix.shape} does not match "
            f"{len(y_labels)} row and {len(x_labels)} column labels"
        )
    fig = go.Figure(go.Heatmap(z=matrix, x=list(x_labels), y=list(y_labels), colorscale=colorscale))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def confusion_figure(confusion: np.ndarray | Sequence[Sequence[int]], title: str = "Confusion (row-normalised)",
                     normalize: bool = True) -> go.Figure:
    """ScanNet20 confusion matrix (rows: ground truth, columns: prediction), rows normalised to sum 1."""
    conf = np.asarray(confusion, dtype=np.float64)
    if conf.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"confusion_figure: expected a ({NUM_CLASSES}, {NUM_CLASSES}) matrix, got {conf.shape}")
    if normalize:
        conf = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1.0)
    fig = heatmap_figure(conf, SCANNET20_NAMES, SCANNET20_NAMES, title, "predicted", "ground truth")
    fig.update_layout(height=600)
    return fig


def embedding_figure(points_2d: np.ndarray, labels: np.ndarray, title: str = "",
                     max_points: int = 10000, seed: int = 0) -> go.Figure:
    """2D embedding (N, 2) of point features, one trace per ScanNet20 class (names and colours in the legend)."""
    points_2d, labels = np.asarray(points_2d, dtype=np.float32), np.asarray(labels, dtype=np.int64)
    if points_2d.ndim != 2 or points_2d.shape[1] != 2 or labels.shape != (len(points_2d),):
        raise ValueError(
            f"embedding_figure: need points (N, 2) and labels (N,), got {points_2d.shape} and {labels.shape}"
        )
    if labels.max(initial=-1) >= NUM_CLASSES:
        raise ValueError(f"embedding_figure: labels must be < {NUM_CLASSES} (ScanNet20) or -1")
    keep = subsample(len(points_2d), max_points, seed)
    points_2d, labels = points_2d[keep], labels[keep]
    fig = go.Figure()
    for cls in np.unique(labels):
        rows = labels == cls
        name = "ignore" if cls < 0 else SCANNET20_NAMES[cls]
        color = IGNORE_COLOR if cls < 0 else SCANNET20_COLORS[cls]
        fig.add_trace(go.Scatter(x=points_2d[rows, 0], y=points_2d[rows, 1], mode="markers", name=name,
                                 marker=dict(size=4, color=_rgb(color), opacity=0.8)))
    fig.update_layout(title=title, legend=dict(itemsizing="constant"), **{**_LAYOUT, "height": 560})
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, scaleanchor="x")
    return fig


def html_table(columns: Mapping[str, Sequence], digits: int = 1):
    """A small HTML table for notebooks from {column name: values}; floats rounded to `digits` decimals."""
    from html import escape

    from IPython.display import HTML

    def cell(value) -> str:
        return f"<td>{value:.{digits}f}</td>" if isinstance(value, float) else f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(str(name))}</th>" for name in columns)
    rows = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in zip(*columns.values()))
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
