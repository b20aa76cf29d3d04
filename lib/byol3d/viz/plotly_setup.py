"""How plotly figures are displayed: interactively in Jupyter, or as offline HTML in the report.

Why this exists: plotly >= 6 displays figures with a mimetype-only renderer under a kernel. JupyterLab,
VS Code and Colab draw that mimetype, but nbconvert's HTML export does not, so a rendered notebook
shows BLANK figures. plotly's own HTML renderers either fetch plotly.js from a CDN (no good offline)
or embed the whole 4.8 MB library in every output.

The choice made here (documented in the README of the report, `byol3d.report.build`):

* mode "interactive" (the default in JupyterLab / Colab): plotly's own default renderer is left alone,
  so figures behave exactly as plotly intends there.
* mode "report" (chosen when the environment variable ``BYOL3D_REPORT=1`` is set, which the report
  builder does before executing the notebooks): every figure becomes a ``text/html`` output holding a
  ``<div>`` and a call to ``Plotly.newPlot`` WITHOUT plotly.js. The report pages load ONE local copy,
  ``plotly.min.js``, shipped beside them (the builder's template adds the ``<script>`` tag), so
  pages stay light and work with no internet. No CDN URL and no MathJax are referenced.

Executed notebooks produced in report mode are meant for the HTML export; opened in JupyterLab their
figures stay empty (re-run the cell there to redraw them interactively).
"""

from __future__ import annotations

import os

import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer

REPORT_ENV = "BYOL3D_REPORT"
REPORT_RENDERER = "byol3d_report"
MODES = ("report", "interactive")

# Keeps the cameras of all 3D subplots of one figure in step (figures built by `side_by_side` carry
# layout.meta.byol3d_link_cameras). Runs after Plotly.newPlot; `{plot_id}` is filled in by plotly.
_LINK_CAMERAS_JS = """
var gd = document.getElementById('{plot_id}');
if (gd && gd.layout && gd.layout.meta && gd.layout.meta.byol3d_link_cameras) {
  var syncing = false;
  gd.on('plotly_relayout', function (ev) {
    if (syncing) { return; }
    var key = Object.keys(ev).find(function (k) { return /^scene\\d*\\.camera$/.test(k); });
    if (!key) { return; }
    var update = {};
    Object.keys(gd._fullLayout).forEach(function (name) {
      if (/^scene\\d*$/.test(name) && name + '.camera' !== key) { update[name + '.camera'] = ev[key]; }
    });
    syncing = true;
    Plotly.relayout(gd, update).then(function () { syncing = false; });
  });
}
"""


class ReportHtmlRenderer(MimetypeRenderer):
    """Renders a figure as a ``text/html`` div that expects a page-level, locally loaded plotly.js."""

    def __init__(self, height: int = 560):
        self.height = height  # default figure height in pixels when the layout sets none

    def to_mimebundle(self, fig_dict):
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,  # the page loads plotly.min.js once, from beside itself
            include_mathjax=False,  # never reference a CDN
            full_html=False,
            post_script=_LINK_CAMERAS_JS,
            default_width="100%",
            default_height=self.height,
            config={"responsive": True, "displaylogo": False},
            validate=False,
        )
        return {"text/html": html}


_PLOTLY_DEFAULT = pio.renderers.default  # whatever plotly picked for this environment at import


def current_mode() -> str:
    """'report' when the report builder runs us (``BYOL3D_REPORT=1``), else 'interactive'."""
    return "report" if os.environ.get(REPORT_ENV, "") == "1" else "interactive"


def setup_plotly(mode: str | None = None) -> str:
    """Select how figures display; returns the mode used ('report' or 'interactive').

    mode=None picks from the environment (see `current_mode`). Call it once near the top of a notebook.
    """
    mode = current_mode() if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"setup_plotly: mode must be one of {MODES}, got {mode!r}")
    if mode == "report":
        if REPORT_RENDERER not in pio.renderers:
            pio.renderers[REPORT_RENDERER] = ReportHtmlRenderer()
        pio.renderers.default = REPORT_RENDERER
    else:
        pio.renderers.default = _PLOTLY_DEFAULT
    return mode
