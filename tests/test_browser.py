"""Real-browser checks: headless Chromium, offline, opens rendered pages from disk and must see no
JavaScript error and every plotly figure drawn (SVG `main-svg`; WebGL canvas for 3D)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import plotly.io as pio
import pytest

from byol3d.data.cache import list_scenes, load_scene
from byol3d.report.browser import check_page, check_report, find_chromium, screenshot
from byol3d.report.build import plotly_js, render
from byol3d.viz import line_figure, scene_figure, setup_plotly, side_by_side

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (make setup installs it)"),
]
COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "html"


def _report_outputs(figures) -> list:
    """The notebook outputs setup_plotly('report') gives these figures (what a kernel would store)."""
    original = pio.renderers.default
    try:
        setup_plotly("report")
        bundles = [pio.renderers._build_mime_bundle(f.to_dict()) for f in figures]
    finally:
        pio.renderers.default = original
    return [nbformat.v4.new_output("display_data", data=b) for b in bundles]


@pytest.fixture(scope="module")
def chapter_page(synth_processed, tmp_path_factory) -> Path:
    """A report page rendered by the builder's template from real scene figures, plotly.js beside it."""
    scene = load_scene(list_scenes(synth_processed, "val")[0])
    coord, labels, color = scene["coord"], scene["segment20"], scene["color"]
    figures = [scene_figure(coord, labels, "classes", max_points=6000),
               side_by_side([("rgb", coord, color), ("classes", coord, labels)], max_points=4000),
               line_figure({"loss": (np.arange(5), np.linspace(2, 1, 5))}, "loss")]
    code = nbformat.v4.new_code_cell("figures", outputs=_report_outputs(figures))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Viewer test"), code])
    folder = tmp_path_factory.mktemp("html")
    nbformat.write(nb, folder / "viewer.ipynb")
    render(folder / "viewer.ipynb", folder / "viewer.html")
    shutil.copyfile(plotly_js(), folder / "plotly.min.js")
    return folder / "viewer.html"


def test_scene_viewers_draw_offline_without_errors(chapter_page, tmp_path):
    result = check_page(chapter_page)
    assert result.errors == []
    assert result.figures == result.drawn == 3
    assert result.gl_figures == 2  # the two 3D figures drew with WebGL
    png = screenshot(chapter_page, tmp_path / "viewer.png", width=1000, height=900)
    import matplotlib.image

    pixels = (matplotlib.image.imread(png)[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50  # coloured points, not a blank page


def test_missing_plotly_js_or_cdn_is_caught(chapter_page, tmp_path):
    """Negative control: the same page without the local plotly.js, or with a CDN script, fails."""
    page = tmp_path / "viewer.html"
    text = chapter_page.read_text()
    page.write_text(text)
    broken = check_page(page)
    assert broken.drawn == 0 and any("Plotly is not defined" in e for e in broken.errors)
    page.write_text(text.replace('src="plotly.min.js"', 'src="https://cdn.plot.ly/plotly-3.0.0.min.js"'))
    offline = check_page(page)
    assert any("failed to load https://cdn.plot.ly" in e for e in offline.errors) and offline.drawn == 0


@pytest.mark.skipif(not (COMMITTED / "index.html").exists(), reason="no rendered report in reports/html yet")
def test_committed_report_pages_work_offline(tmp_path):
    copy = shutil.copytree(COMMITTED, tmp_path / "html")
    results = check_report(copy)
    assert "index.html" in results
    for name, result in results.items():
        assert result.errors == [], f"{name}: {result.errors}"
        assert result.drawn == result.figures, f"{name}: only {result.drawn} of {result.figures} figures drew"
