"""Headless Chromium, offline: check that a report page runs without JavaScript errors and that its
plotly figures and images drew, and take screenshots. Used by the report builder (screenshots) and the
browser test.

Chromium (Debian package `chromium`, installed by `make setup`) runs with a fresh profile and an
unreachable proxy, so any attempt to fetch from the network fails, as it would for a reader offline.
Errors are collected two ways: a probe script injected at the top of a copy of the page records
uncaught errors, unhandled promise rejections, failed resource loads and console.error calls into the
DOM (read back through --dump-dom); and 'Uncaught ...' console lines are parsed from Chromium's log.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--hide-scrollbars",
    "--enable-unsafe-swiftshader",  # software WebGL for plotly's 3D viewers (no GPU in headless runs)
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",  # every network fetch fails
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

_PROBE = """<script>(function () {
  var errs = [];
  function keep(msg) { errs.push(String(msg)); document.documentElement.setAttribute('data-byol3d-errors', JSON.stringify(errs)); }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { keep('failed to load ' + (t.src || t.href)); }
    else { keep('uncaught: ' + e.message); }
  }, true);
  window.addEventListener('unhandledrejection', function (e) { keep('unhandled rejection: ' + e.reason); });
  var original = console.error;
  console.error = function () { keep('console.error: ' + Array.prototype.join.call(arguments, ' ')); original.apply(console, arguments); };
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    var drawn = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.documentElement.setAttribute('data-byol3d-images', JSON.stringify([imgs.length, drawn]));
  });
})();</script>"""


@dataclass
class PageCheck:
    """What one page did in the browser."""

    errors: list[str] = field(default_factory=list)  # JavaScript errors and failed loads, in order
    figures: int = 0  # plotly figure divs on the page
    drawn: int = 0  # of those, figures plotly drew (an SVG `main-svg` inside)
    gl_figures: int = 0  # figures drawn with WebGL (a <canvas>, e.g. 3D scatter)
    images: int = 0  # <img> elements on the page (the index's charts and turntable)
    images_drawn: int = 0  # of those, images that loaded and decoded (a natural width > 0)


def plot_traces(html: str) -> list[list[dict]]:
    """The trace list of every `Plotly.newPlot(id, traces, ...)` call in a page or output, in order."""
    decoder, figures = json.JSONDecoder(), []
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]*\",\s*", html):
        traces, _ = decoder.raw_decode(html, match.end())
        figures.append(traces)
    return figures


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None when none is installed."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], page: Path, timeout: float) -> subprocess.CompletedProcess:
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("Chromium not found: install Debian's `chromium` package (make setup does)")
    with tempfile.TemporaryDirectory(prefix="byol3d-chromium-") as profile:
        cmd = [chromium, *_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _figure_segments(dom: str) -> list[str]:
    """The DOM text from each plotly figure div up to the next one (a figure's drawing lives in it)."""
    starts = [m.start() for m in re.finditer(r'<div[^>]*class="[^"]*plotly-graph-div', dom)]
    return [dom[a:b] for a, b in zip(starts, starts[1:] + [len(dom)])]


def check_page(page: str | Path, budget_ms: int = 20000, timeout: float = 180.0) -> PageCheck:
    """Open `page` offline in headless Chromium and report its errors and drawn figures.

    A probed copy of the page is written beside it (so relative links such as plotly.min.js resolve)
    and removed afterwards.
    """
    page = Path(page)
    html = page.read_text(encoding="utf-8")
    head = re.search(r"<head[^>]*>", html)
    cut = head.end() if head else 0
    probed = page.with_name(f".probe-{page.name}")
    probed.write_text(html[:cut] + _PROBE + html[cut:], encoding="utf-8")
    try:
        proc = _run(["--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", "--dump-dom"],
                    probed, timeout)
    finally:
        probed.unlink(missing_ok=True)
    if not proc.stdout.strip():
        raise RuntimeError(f"{page}: Chromium returned no DOM (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result = PageCheck()
    found = re.search(r"data-byol3d-errors=\"([^\"]*)\"", proc.stdout)
    if found:
        result.errors += json.loads(html_lib.unescape(found.group(1)))
    # Chromium keeps at most 16 WebGL contexts per page: past that, earlier 3D viewers go blank.
    result.errors += re.findall(r'CONSOLE[^\]]*\] "((?:Uncaught|WARNING: Too many active WebGL)[^"]*)"', proc.stderr)
    images = re.search(r"data-byol3d-images=\"([^\"]*)\"", proc.stdout)
    if images:
        result.images, result.images_drawn = json.loads(html_lib.unescape(images.group(1)))
    segments = _figure_segments(proc.stdout)
    result.figures = len(segments)
    result.drawn = sum("main-svg" in s for s in segments)
    result.gl_figures = sum("<canvas" in s for s in segments)
    return result


def screenshot(page: str | Path, png: str | Path, width: int = 1280, height: int = 1400,
               budget_ms: int = 20000, timeout: float = 180.0) -> Path:
    """Save a PNG of `page` as drawn offline at width x height pixels."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _run([f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}",
                 f"--screenshot={png}"], Path(page), timeout)
    if not png.exists():
        raise RuntimeError(f"{page}: Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def check_report(html_dir: str | Path, budget_ms: int = 20000) -> dict[str, PageCheck]:
    """`check_page` for every page of a rendered report folder, by file name."""
    pages = sorted(p for p in Path(html_dir).glob("*.html") if not p.name.startswith("."))
    if not pages:
        raise FileNotFoundError(f"{html_dir}: no .html pages to check")
    return {page.name: check_page(page, budget_ms=budget_ms) for page in pages}
