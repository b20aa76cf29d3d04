"""byol3d.viz: figures carry the expected traces, point caps and legends, and report-mode HTML is offline."""

from __future__ import annotations

import re

import numpy as np
import plotly.io as pio
import pytest

from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.labels import SCANNET20_COLORS, SCANNET20_NAMES
from byol3d.report.browser import plot_traces
from byol3d.viz import (
    budget_figure,
    class_iou_figure,
    confusion_figure,
    embedding_figure,
    line_figure,
    scene_figure,
    setup_plotly,
    side_by_side,
    spread_line_figure,
    subsample,
)
from byol3d.viz.plotly_setup import REPORT_ENV, REPORT_RENDERER


@pytest.fixture(scope="module")
def scene(synth_processed) -> dict[str, np.ndarray]:
    return load_scene(list_scenes(synth_processed, "train")[0])


def _rgb_triplet(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text))


def test_label_scene_has_one_trace_per_class_with_palette(scene):
    coord, labels = scene["coord"], scene["segment20"]
    fig = scene_figure(coord, labels, title="labels", max_points=5000)
    present = [SCANNET20_NAMES[c] if c >= 0 else "ignore" for c in np.unique(labels[subsample(len(coord), 5000)])]
    assert [t.name for t in fig.data] == present
    assert sum(len(t.x) for t in fig.data) == min(len(coord), 5000)
    for trace in fig.data:
        assert trace.showlegend and trace.x.dtype == np.float32
        if trace.name != "ignore":
            assert _rgb_triplet(trace.marker.color) == SCANNET20_COLORS[SCANNET20_NAMES.index(trace.name)]
    assert fig.layout.scene.aspectmode == "data"


def test_rgb_scene_colours_survive_quantisation(scene):
    coord, color = scene["coord"], scene["color"]
    fig = scene_figure(coord, color, max_points=3000, seed=1)
    (trace,) = fig.data
    keep = subsample(len(coord), 3000, seed=1)
    np.testing.assert_array_equal(trace.x, coord[keep, 0].astype(np.float32))
    assert trace.marker.color.dtype == np.uint16
    stops = trace.marker.colorscale
    drawn = np.array([_rgb_triplet(stops[i][1]) for i in trace.marker.color])
    assert np.abs(drawn - color[keep].astype(int)).max() <= 15  # 4 bits per channel
    assert trace.marker.cmin == 0 and trace.marker.cmax == len(stops) - 1


def test_subsample_is_seeded_capped_and_sorted():
    a, b = subsample(10000, 300, seed=3), subsample(10000, 300, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 300 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(subsample(50, 300), np.arange(50))
    with pytest.raises(ValueError, match="max_points"):
        subsample(10, 0)


def test_bad_inputs_are_named(scene):
    with pytest.raises(ValueError, match=r"coord must have shape \(N, 3\)"):
        scene_figure(scene["coord"][:, :2], scene["segment20"])
    with pytest.raises(ValueError, match="colours must be"):
        scene_figure(scene["coord"], scene["segment20"][:10])
    with pytest.raises(ValueError, match="labels must be < 20"):
        scene_figure(scene["coord"][:3], np.array([0, 1, 25]))


def test_side_by_side_shares_legend_and_links_cameras(scene):
    coord, labels = scene["coord"], scene["segment20"]
    fig = side_by_side([("truth", coord, labels), ("rgb", coord, scene["color"]), ("truth again", coord, labels)],
                       max_points=2000)
    assert [a.text for a in fig.layout.annotations] == ["truth", "rgb", "truth again"]
    assert {t.scene for t in fig.data} == {"scene", "scene2", "scene3"}
    shown = [t.name for t in fig.data if t.showlegend]
    assert len(shown) == len(set(shown)) == len(np.unique(labels[subsample(len(coord), 2000)]))
    assert fig.layout.meta["byol3d_link_cameras"] is True
    assert all(fig.layout[s].aspectmode == "data" for s in ("scene", "scene2", "scene3"))


def test_embedding_and_charts(scene):
    labels = scene["segment20"][:4000]
    points = np.random.default_rng(0).normal(size=(len(labels), 2))
    fig = embedding_figure(points, labels, "embedding", max_points=1000)
    assert sum(len(t.x) for t in fig.data) == 1000
    assert set(t.name for t in fig.data) <= set(SCANNET20_NAMES) | {"ignore"}
    with pytest.raises(ValueError, match="labels must be < 20"):
        embedding_figure(points[:2], np.array([0, 20]))

    confusion = np.diag(np.arange(1, 21)) + 1
    heat = confusion_figure(confusion)
    np.testing.assert_allclose(np.asarray(heat.data[0].z).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match=r"\(20, 20\)"):
        confusion_figure(np.ones((3, 3)))

    bars = class_iou_figure({"byol": {"wall": 0.8, "floor": None}, "scratch": {"wall": 0.5}})
    assert list(bars.data[0].x) == list(SCANNET20_NAMES)
    assert bars.data[0].y[0] == 0.8 and np.isnan(bars.data[0].y[1]) and np.isnan(bars.data[1].y[1])
    with pytest.raises(ValueError, match="'loss' has 2 x but 3 y"):
        line_figure({"loss": ([0, 1], [3.0, 2.0, 1.0])})

    budget = budget_figure({1200: (26.2, 1.3), 300: (9.4, 0.5)}, "lab", (150, 7.1, 0.6), "this report",
                           {"random probe": 10.7})
    assert list(budget.data[0].x) == [300, 1200] and list(budget.data[0].error_y.array) == [0.5, 1.3]
    assert (budget.data[1].x[0], budget.data[1].y[0], budget.data[1].name) == (150, 7.1, "this report")
    assert budget.layout.shapes[0].y0 == 10.7 and budget.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="no measured runs"):
        budget_figure({}, "lab", (150, 7.1, 0.6), "this report", {})
    one_seed = budget_figure({300: (9.4, 0.5)}, "lab", (150, 7.1, 0.6), "this report", {},
                             single_seed={"seed 0": {7200: 60.9, 4800: 50.4}})
    assert [trace.name for trace in one_seed.data] == ["lab", "seed 0", "this report"]
    assert list(one_seed.data[1].x) == [4800, 7200] and list(one_seed.data[1].y) == [50.4, 60.9]
    assert one_seed.data[1].line.dash == "dash" and one_seed.data[1].error_y.array is None
    with pytest.raises(ValueError, match="'seed 0' has no runs"):
        budget_figure({300: (9.4, 0.5)}, "lab", (150, 7.1, 0.6), "this report", {}, single_seed={"seed 0": {}})

    efficiency = spread_line_figure({"scratch": ([10, 30, 100], [5.9, 7.0, 6.7], [0.2, 0.2, 0.3])})
    assert efficiency.data[0].mode == "lines+markers" and list(efficiency.data[0].error_y.array) == [0.2, 0.2, 0.3]
    assert efficiency.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="'scratch' has 3 x, 3 means and 2 spreads"):
        spread_line_figure({"scratch": ([10, 30, 100], [5.9, 7.0, 6.7], [0.2, 0.2])})


def test_report_mode_emits_offline_html_and_interactive_mode_restores(scene, monkeypatch):
    original = pio.renderers.default
    fig = scene_figure(scene["coord"], scene["segment20"], max_points=1000)
    try:
        monkeypatch.setenv(REPORT_ENV, "1")
        assert setup_plotly() == "report" and pio.renderers.default == REPORT_RENDERER
        bundle = pio.renderers._build_mime_bundle(fig.to_dict())
        assert list(bundle) == ["text/html"]
        html = bundle["text/html"]
        assert [t["type"] for t in plot_traces(html)[0]] == ["scatter3d"] * len(fig.data)
        assert not re.search(r"https?://", html), "report-mode HTML must not reference any URL (CDN)"
        assert "<script src" not in html and len(html) < 200_000  # plotly.js itself is not embedded
        monkeypatch.delenv(REPORT_ENV)
        assert setup_plotly() == "interactive" and pio.renderers.default == original
        with pytest.raises(ValueError, match="mode must be one of"):
            setup_plotly("cdn")
    finally:
        pio.renderers.default = original


def test_html_table_rounds_floats_and_escapes_text():
    from byol3d.viz import html_table

    html = html_table({"method": ["a<b", "c"], "mIoU": [12.345, 7]}, digits=1).data
    assert "<th>method</th><th>mIoU</th>" in html
    assert "<td>a&lt;b</td><td>12.3</td>" in html and "<td>c</td><td>7</td>" in html
