"""Plotly figures for the course: 3D scene viewers, training curves, per-class bars, confusion maps,
feature embeddings; and a turntable GIF of a scene (matplotlib, for pages without JavaScript). Call
`setup_plotly()` once per notebook so figures survive into the HTML report (see `byol3d.viz.plotly_setup`
for the renderer choice)."""

from byol3d.viz.charts import (
    bar_figure,
    budget_figure,
    class_iou_figure,
    confusion_figure,
    embedding_figure,
    heatmap_figure,
    html_table,
    line_figure,
    spread_bar_figure,
    spread_line_figure,
)
from byol3d.viz.plotly_setup import current_mode, setup_plotly
from byol3d.viz.scene3d import scene_figure, side_by_side, subsample
from byol3d.viz.turntable import save_turntable

__all__ = [
    "bar_figure", "budget_figure", "class_iou_figure", "confusion_figure", "current_mode", "embedding_figure",
    "heatmap_figure", "html_table", "line_figure", "save_turntable", "scene_figure", "setup_plotly", "side_by_side",
    "spread_bar_figure", "spread_line_figure", "subsample",
]
