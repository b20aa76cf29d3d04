"""The pictures the report index leads with: the turntable GIF of a scene and the headline and
label-efficiency charts drawn from recorded key figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.labels import SCANNET20_COLORS
from byol3d.report.index_charts import efficiency_chart, headline_chart
from byol3d.viz import save_turntable

FIGURES = {"seeds": 3, "miou_byol_linear": 0.132, "miou_byol_linear_std": 0.015, "miou_random_linear": 0.107,
           "miou_random_linear_std": 0.005, "miou_majority": 0.02, "miou_majority_std": 0.0,
           "label_efficiency": {"fractions": [0.1, 0.3, 1.0], "byol_linear": [0.05, 0.09, 0.13],
                                "byol_linear_std": [0.01, 0.006, 0.015], "scratch": [0.06, 0.068, 0.067],
                                "scratch_std": [0.0, 0.0, 0.0]}}


def test_turntable_turns_scene_panels_in_label_colours(synth_processed, tmp_path):
    scene = load_scene(list_scenes(synth_processed, "val")[0])
    coord, labels = scene["coord"], scene["segment20"]
    path = save_turntable([("truth", coord, labels), ("truth again", coord, labels)], tmp_path / "t.gif",
                          seconds=1.0, fps=4, max_points=3000, panel_px=200)
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (400, 200)
    first = np.asarray(gif.convert("RGB")).copy()
    gif.seek(2)
    assert np.abs(first.astype(int) - np.asarray(gif.convert("RGB"))).sum() > 0  # the camera moved
    drawn = np.unique(first[:, :200].reshape(-1, 3), axis=0).astype(int)  # the label panel's colours
    counts = np.bincount(labels[labels >= 0], minlength=len(SCANNET20_COLORS))
    common = np.flatnonzero(counts > 0.05 * counts.sum())  # classes with enough points to be seen
    # the GIF palette has 64 entries: each common class colour is drawn to within a few levels
    for c in common:
        assert np.abs(drawn - np.array(SCANNET20_COLORS[c])).max(axis=1).min() <= 16, f"class {c} not drawn"


def test_turntable_rejects_bad_panels(tmp_path):
    with pytest.raises(ValueError, match="no panels"):
        save_turntable([], tmp_path / "t.gif")
    with pytest.raises(ValueError, match="panel 'x'"):
        save_turntable([("x", np.zeros((5, 2)), np.zeros(5, dtype=int))], tmp_path / "t.gif")
    assert not (tmp_path / "t.gif").exists()


def _svg_text(path) -> str:
    return " ".join(t for t in ET.parse(path).getroot().itertext())


def test_headline_chart_draws_every_recorded_arm(tmp_path):
    path = headline_chart(FIGURES, tmp_path / "h.svg")
    text = _svg_text(path)
    assert "13.2 ± 1.5" in text and "10.7 ± 0.5" in text and "over 3 seeds" in text
    assert "Majority class (floor)" in text and "Supervised from scratch" not in text  # only recorded arms
    assert headline_chart({"seeds": 3}, tmp_path / "none.svg") is None and not (tmp_path / "none.svg").exists()


def test_efficiency_chart_draws_one_line_per_method(tmp_path):
    path = efficiency_chart(FIGURES, tmp_path / "e.svg")
    text = _svg_text(path)
    assert "BYOL encoder, linear probe" in text and "Supervised from scratch" in text
    assert "10%" in text and "100%" in text
    assert efficiency_chart({}, tmp_path / "none.svg") is None
