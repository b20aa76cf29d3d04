"""A turntable animation of a scene: panels side by side (e.g. ground truth beside a prediction), the
camera circling once around the room, saved as a GIF that any browser or notebook shows without
JavaScript. The report's index page leads with one (`make report`, chapter 04).

Drawn with matplotlib's 3D scatter (no display needed), frame by frame, and written with Pillow; points are a seeded
subset (`max_points` per panel) so a few seconds of animation stay a few hundred kilobytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from byol3d.data.labels import label_colors
from byol3d.utils.atomic import atomic_write
from byol3d.viz.scene3d import Panel, subsample


def _panel_colors(colors: np.ndarray) -> np.ndarray:
    """(N,) ScanNet20 labels or (N, 3) uint8 RGB -> (N, 3) floats in [0, 1] for matplotlib."""
    colors = np.asarray(colors)
    rgb = label_colors(colors) if colors.ndim == 1 else colors
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _check_panels(panels: Sequence[Panel]) -> None:
    if not panels:
        raise ValueError("save_turntable: no panels to draw")
    for title, coord, colors in panels:
        if np.ndim(coord) != 2 or np.shape(coord)[1] != 3 or len(colors) != len(coord):
            raise ValueError(f"save_turntable: panel {title!r} needs coord (N, 3) and N colours, "
                             f"got {np.shape(coord)} and {np.shape(colors)}")


def _draw_panels(fig, panels: Sequence[Panel], max_points: int, seed: int, ceiling_cut: float) -> list:
    """One borderless 3D scatter per panel, side by side in `fig`; returns their axes. Points within
    `ceiling_cut` metres of the top are left out, so the camera looks into the room (a dollhouse view)."""
    axes = []
    for i, (title, coord, colors) in enumerate(panels):
        below = np.flatnonzero(coord[:, 2] < coord[:, 2].max() - ceiling_cut)
        keep = below[subsample(len(below), max_points, seed)]
        xyz = np.asarray(coord, dtype=np.float32)[keep]  # (M, 3)
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], c=_panel_colors(colors)[keep], s=1.5, linewidths=0,
                   depthshade=False)
        ax.set_box_aspect(np.ptp(xyz, axis=0) + 1e-6, zoom=1.35)  # metres look like metres, the room fills the panel
        ax.set_axis_off()
        ax.set_title(title, fontsize=11, pad=0)
        axes.append(ax)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92, wspace=0)
    return axes


def save_turntable(panels: Sequence[Panel], path: str | Path, seconds: float = 4.0, fps: int = 8,
                   max_points: int = 10000, panel_px: int = 320, elevation: float = 50.0, ceiling_cut: float = 0.3,
                   seed: int = 0) -> Path:
    """Write a GIF of `panels` [(title, coord (N, 3), labels (N,) or RGB (N, 3))] turning once in
    `seconds`; every panel shares one camera, so corresponding points sit in the same place."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    _check_panels(panels)
    fig = Figure(figsize=(panel_px * len(panels) / 100, panel_px / 100), dpi=100)  # no pyplot: no global state
    canvas = FigureCanvasAgg(fig)
    axes = _draw_panels(fig, panels, max_points, seed, ceiling_cut)
    frames = []
    count = max(2, round(seconds * fps))
    for frame in range(count):
        for ax in axes:
            ax.view_init(elev=elevation, azim=-60 + 360.0 * frame / count)
        canvas.draw()
        rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])  # (H, W, 3) of this frame
        frames.append(rgb.quantize(colors=64, dither=Image.Dither.NONE))
    return atomic_write(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                         duration=round(1000 / fps), loop=0))
