"""3D point-cloud viewers: one scene (`scene_figure`) or several linked side by side (`side_by_side`).

A plotly Scatter3d costs ~20 bytes per point in the page, so every viewer draws a seeded random subset
of at most `max_points` points, stored as float32. RGB colours are quantised to 4 bits per channel and
sent as a uint16 index into a colour scale (2 bytes per point instead of an 'rgb(...)' string each);
ScanNet20 labels are drawn as one trace per class so the legend names the classes in their colours.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from byol3d.data.labels import IGNORE_COLOR, NUM_CLASSES, SCANNET20_COLORS, SCANNET20_NAMES

Panel = tuple[str, np.ndarray, np.ndarray]  # (title, coord (N, 3), colours (N, 3) uint8 | labels (N,))


def _rgb(color: Sequence[int]) -> str:
    return f"rgb({int(color[0])},{int(color[1])},{int(color[2])})"


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded random subset of `min(n, max_points)` of `n` points."""
    if max_points <= 0:
        raise ValueError(f"max_points must be positive, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _check(coord: np.ndarray, colors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    coord = np.asarray(coord)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord must have shape (N, 3), got {coord.shape}")
    if colors is None:
        return coord, None
    colors = np.asarray(colors)
    if colors.shape[0] != coord.shape[0] or colors.ndim not in (1, 2) or colors.shape[1:] not in ((), (3,)):
        raise ValueError(
            f"colours must be (N, 3) RGB or (N,) labels with N={coord.shape[0]}, got {colors.shape}"
        )
    return coord, colors


def _quantised_colorscale(colors: np.ndarray) -> tuple[np.ndarray, list]:
    """(N, 3) uint8 RGB -> (index (N,) uint16, plotly colour scale with one stop per distinct colour)."""
    q = (np.asarray(colors, dtype=np.uint16) >> 4)  # 16 levels per channel
    code = (q[:, 0] << 8) | (q[:, 1] << 4) | q[:, 2]
    unique, index = np.unique(code, return_inverse=True)
    levels = np.stack([(unique >> 8) & 15, (unique >> 4) & 15, unique & 15], axis=1) * 17  # 15 -> 255
    stops = np.linspace(0.0, 1.0, max(len(unique), 2))
    scale = [[float(s), _rgb(levels[min(i, len(unique) - 1)])] for i, s in enumerate(stops)]
    return index.astype(np.uint16).reshape(-1), scale


def _traces(coord: np.ndarray, colors: np.ndarray | None, marker_size: float, legend: bool) -> list:
    """Scatter3d traces for points already subsampled: one per class for labels, else one."""
    xyz = np.asarray(coord, dtype=np.float32)

    def points(rows, name: str, marker: dict, showlegend: bool) -> go.Scatter3d:
        return go.Scatter3d(x=xyz[rows, 0], y=xyz[rows, 1], z=xyz[rows, 2], mode="markers", name=name,
                            legendgroup=name, showlegend=showlegend, marker=dict(size=marker_size, **marker),
                            hoverinfo="name")

    if colors is None:  # colour by height
        return [points(slice(None), "points", dict(color=xyz[:, 2], colorscale="Viridis"), False)]
    if colors.ndim == 2:
        index, scale = _quantised_colorscale(colors)
        marker = dict(color=index, colorscale=scale, cmin=0, cmax=max(len(scale) - 1, 1), showscale=False)
        return [points(slice(None), "RGB", marker, False)]
    labels = colors.astype(np.int64)
    if labels.max(initial=-1) >= NUM_CLASSES:
        raise ValueError(f"labels must be < {NUM_CLASSES} (ScanNet20) or -1, got {labels.max()}")
    traces = []
    for cls in np.unique(labels):
        name = "ignore" if cls < 0 else SCANNET20_NAMES[cls]
        color = IGNORE_COLOR if cls < 0 else SCANNET20_COLORS[cls]
        traces.append(points(labels == cls, name, dict(color=_rgb(color)), legend))
    return traces


def _scene_layout() -> dict:
    axis = dict(visible=False)
    return dict(aspectmode="data", xaxis=axis, yaxis=axis, zaxis=axis,
                camera=dict(eye=dict(x=-1.0, y=-1.0, z=1.3)))


def scene_figure(coord: np.ndarray, colors: np.ndarray | None = None, title: str = "",
                 max_points: int = 30000, marker_size: float = 2.0, seed: int = 0) -> go.Figure:
    """One point cloud in 3D.

    coord: (N, 3) positions in metres. colors: (N, 3) uint8 RGB, or (N,) ScanNet20 labels (-1 = ignore;
    one legend entry per class), or None (coloured by height). At most `max_points` seeded random points.
    """
    coord, colors = _check(coord, colors)
    keep = subsample(len(coord), max_points, seed)
    fig = go.Figure(_traces(coord[keep], None if colors is None else colors[keep], marker_size, True))
    fig.update_layout(title=title, scene=_scene_layout(), height=560, margin=dict(l=0, r=0, t=40, b=0),
                      legend=dict(itemsizing="constant"))
    return fig


def side_by_side(panels: Sequence[Panel], max_points: int = 30000, marker_size: float = 2.0,
                 seed: int = 0) -> go.Figure:
    """Several point clouds in 3D subplots, one per `(title, coord, colours_or_labels)` panel.

    Each panel draws at most `max_points` points (the same seeded subset when panels share N, so
    e.g. ground truth and prediction show the same points). Class legends are shared across panels;
    in report pages the cameras move together (see `plotly_setup`).
    """
    if not panels:
        raise ValueError("side_by_side: needs at least one panel")
    n = len(panels)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n],
                        subplot_titles=[title for title, _, _ in panels], horizontal_spacing=0.01)
    shown: set[str] = set()
    for col, (_, coord, colors) in enumerate(panels, start=1):
        coord, colors = _check(coord, colors)
        keep = subsample(len(coord), max_points, seed)
        for trace in _traces(coord[keep], None if colors is None else colors[keep], marker_size, True):
            trace.showlegend = trace.showlegend and trace.name not in shown
            shown.add(trace.name)
            fig.add_trace(trace, row=1, col=col)
    scenes = {f"scene{'' if i == 1 else i}": _scene_layout() for i in range(1, n + 1)}
    fig.update_layout(height=520, margin=dict(l=0, r=0, t=40, b=0), legend=dict(itemsizing="constant"),
                      meta=dict(byol3d_link_cameras=True), **scenes)
    return fig
