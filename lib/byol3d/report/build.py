"""`make report`: execute the course notebooks and render them as an offline HTML report.

    python -m byol3d.report.build --profile quick --data data/synthrooms/processed [--out reports]
           [--notebooks 01_data 04_segmentation_probe ...] [--param raw_root=PATH ...]
           [--allow-missing] [--no-screenshots]

Steps: check the data; execute notebooks/01..05 in order with papermill (kernel `python3`, cwd
notebooks/, `-p profile <profile> -p data_root <absolute data path>`); render each executed notebook
to HTML with nbconvert (JupyterLab look, code collapsed under a "code" toggle, outputs shown); write
index.html (outline, headline numbers, chapter links, date, commit, device, wall time, runs trained and
reused: byol3d.report.headline.record_run); ship ONE local plotly.min.js beside the pages; take
screenshots with headless Chromium when it is installed.

Layout of --out (default reports/): executed/<nb>.ipynb, html/{index,<nb>}.html + plotly.min.js +
build.json + the index's pictures (headline.svg, label_efficiency.svg, the chapter 04 turntable GIF),
screenshots/{index,viewer3d}.png. Everything is built in <out>/.staging-<pid>/ and only
swapped in once every notebook succeeded, so a failure never replaces a previous good report; the
failing notebook is named with its cell, and its executed copy is kept in <out>/.staging-failed/.

Figures: the builder sets BYOL3D_REPORT=1, so `byol3d.viz.setup_plotly()` in the notebooks emits HTML
divs without plotly.js (see byol3d.viz.plotly_setup). Headline numbers: notebooks call
`byol3d.report.record_headline(chapter, {...})`; the builder points BYOL3D_HEADLINE_DIR at its
staging folder (contract and key names in byol3d.report.headline).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import nbformat

from byol3d.config import PROFILES
from byol3d.report.browser import plot_traces
from byol3d.report.headline import HEADLINE_ENV, PICTURE_KEYS, SPECIAL_KEYS, load_headline, run_counts
from byol3d.report.index import Chapter, merged_figures, outline, render_index
from byol3d.report.index_charts import EFFICIENCY_SVG, HEADLINE_SVG, efficiency_chart, headline_chart
from byol3d.utils.atomic import atomic_dir, atomic_write_json, atomic_write_text
from byol3d.viz.plotly_setup import REPORT_ENV

NOTEBOOKS = ("01_data", "02_pointnext", "03_byol_pretrain", "04_segmentation_probe", "05_ablations")
CHAPTER_TEMPLATE = Path(__file__).with_name("chapter_template.html")
OUTPUTS = ("executed", "html", "screenshots")


class ReportError(RuntimeError):
    """A report build that cannot go on; the message names the notebook (and cell) at fault."""


def resolve_notebooks(names: list[str], notebook_dir: Path, allow_missing: bool) -> list[Path]:
    """Paths of the notebooks to run, in order; missing ones are an error unless `allow_missing`."""
    found = []
    for name in names:
        path = Path(name) if name.endswith(".ipynb") else notebook_dir / f"{name}.ipynb"
        if path.exists():
            warn_if_stale(path)
            found.append(path.resolve())
            continue
        hint = f" (its .py exists: run `jupytext --to ipynb --set-kernel python3 {path.with_suffix('.py')}`)" \
            if path.with_suffix(".py").exists() else ""
        if not allow_missing:
            raise ReportError(f"notebook {path} does not exist{hint}; pass --allow-missing to skip it")
        print(f"[report] skipping missing notebook {path}{hint}", flush=True)
    if not found:
        raise ReportError(f"no notebooks to run in {notebook_dir}")
    return found


def code_cells(notebook: nbformat.NotebookNode) -> list[str]:
    return [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]


def warn_if_stale(notebook: Path) -> None:
    """Warn when the .ipynb's code differs from its paired .py (the reviewed source): it would run old code."""
    import jupytext

    source = notebook.with_suffix(".py")
    if source.exists() and code_cells(nbformat.read(notebook, as_version=4)) != code_cells(jupytext.read(source)):
        print(f"[report] WARNING: {notebook.name} differs from {source.name}; run `jupytext --sync {source}`",
              flush=True)


def check_data(data: Path) -> Path:
    """The absolute data root; it must hold a preprocessed cache (train/ and/or val/ scene folders)."""
    data = data.resolve()
    if not (data / "train").is_dir() and not (data / "val").is_dir():
        raise ReportError(f"data root {data} has no train/ or val/ scenes: build it first with `make data`")
    return data


def notebook_parameters(notebook: Path, profile: str, data_root: Path, extra: dict[str, str]) -> dict:
    """profile and data_root for every notebook, plus each `extra` KEY its parameters cell declares."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    return {"profile": profile, "data_root": str(data_root), **{k: v for k, v in extra.items() if k in declared}}


def execute(notebook: Path, output: Path, parameters: dict) -> float:
    """Run one notebook with papermill (cwd = its folder); returns wall seconds."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                                   cwd=str(notebook.parent), progress_bar=True)
    except PapermillExecutionError as err:
        first_line = (err.source or "").strip().splitlines()[:1]
        raise ReportError(
            f"notebook {notebook.name} failed in cell {err.cell_index} (execution count {err.exec_count}"
            f"{', starting ' + repr(first_line[0]) if first_line else ''}): {err.ename}: {err.evalue}"
        ) from err
    except Exception as err:  # the kernel died (e.g. out of memory) or could not start
        raise ReportError(f"notebook {notebook.name} could not run: {type(err).__name__}: {err}") from err
    return time.perf_counter() - start


def render(executed: Path, page: Path) -> None:
    """nbconvert HTML (JupyterLab look) through the offline chapter template."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file=str(CHAPTER_TEMPLATE))
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4),
                                          resources={"metadata": {"name": executed.stem}})
    atomic_write_text(page, body)


def device_name() -> str:
    """The accelerator a notebook with device="auto" uses, in words."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores)"


def git_commit(repo: Path) -> str:
    """Short commit of `repo` (+ '-dirty' when tracked files changed), or 'unknown' outside git."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "--no-optional-locks", "-C", str(repo), *args],
                              capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


@contextlib.contextmanager
def report_environment(headline_dir: Path) -> Iterator[None]:
    """Set the variables the notebooks' kernels see while the report runs; restore them afterwards."""
    saved = {key: os.environ.get(key) for key in (REPORT_ENV, HEADLINE_ENV)}
    os.environ[REPORT_ENV], os.environ[HEADLINE_ENV] = "1", str(headline_dir)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def first_3d_figure(executed: list[Path]) -> str | None:
    """The HTML of the first 3D viewer found in the executed notebooks' outputs."""
    for path in executed:
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                html = out.get("data", {}).get("text/html", "")
                if any(t.get("type") == "scatter3d" for traces in plot_traces(html) for t in traces):
                    return html
    return None


def take_screenshots(html_dir: Path, executed: list[Path], shots: Path) -> bool:
    """index.png and viewer3d.png (the first 3D figure alone) in `shots`; False without Chromium."""
    from byol3d.report.browser import find_chromium, screenshot

    if find_chromium() is None:
        print("[report] Chromium not installed: keeping the previous screenshots", flush=True)
        return False
    viewer, page = first_3d_figure(executed), html_dir / ".viewer3d.html"
    try:
        screenshot(html_dir / "index.html", shots / "index.png", width=1280, height=1300)
        if viewer is not None:
            page.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><script src="plotly.min.js">'
                            f"</script></head><body>{viewer}</body></html>", encoding="utf-8")
            screenshot(page, shots / "viewer3d.png", width=1100, height=640)
    except (RuntimeError, subprocess.TimeoutExpired) as err:  # a browser hiccup must not sink the report
        print(f"[report] screenshots failed, keeping the previous ones: {err}", flush=True)
        return False
    finally:
        page.unlink(missing_ok=True)
    return True


def swap_in(staging: Path, out: Path, names: tuple[str, ...]) -> None:
    """Replace each finished <out>/<name> by its staged version (each folder swapped atomically)."""
    for name in names:
        src = staging / name
        if not src.is_dir():
            continue
        for entry in src.iterdir():
            entry.chmod(0o644)  # temp files are private (0600); report pages are for everyone to read
        with atomic_dir(out / name) as tmp:
            tmp.chmod(0o755)
            for entry in src.iterdir():
                os.replace(entry, tmp / entry.name)


def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():
        raise ReportError(f"{path} not found: the installed plotly package has no bundled plotly.min.js")
    return path


def run_chapters(notebooks: list[Path], staging: Path, profile: str, data_root: Path,
                 extra: dict[str, str]) -> list[Chapter]:
    """Execute and render every notebook into `staging`; stops at the first failure."""
    device, chapters = device_name(), []
    for notebook in notebooks:
        executed = staging / "executed" / notebook.name
        print(f"[report] running {notebook.name} (profile {profile}) ...", flush=True)
        try:
            seconds = execute(notebook, executed, notebook_parameters(notebook, profile, data_root, extra))
        except ReportError:
            failed = staging.parent / ".staging-failed"
            failed.mkdir(exist_ok=True)
            if executed.exists():
                os.replace(executed, failed / notebook.name)
                print(f"[report] executed copy of the failing notebook: {failed / notebook.name}", flush=True)
            raise
        print(f"[report] {notebook.name}: {seconds:.1f} s", flush=True)
        render(executed, staging / "html" / f"{notebook.stem}.html")
        figures = load_headline(staging / "headline" / f"{notebook.stem}.json")
        title, summary = outline(nbformat.read(executed, as_version=4), notebook.stem)
        chapters.append(Chapter(notebook.stem, title, summary, seconds, str(figures.get("device", device)), figures))
    strays = sorted({p.stem for p in (staging / "headline").glob("*.json")} - {c.name for c in chapters})
    if strays:
        print(f"[report] WARNING: key figures recorded for unknown chapters {strays} are not shown: "
              "record_headline's chapter must be the notebook's file stem", flush=True)
    return chapters


def index_pictures(chapters: list[Chapter], headline_dir: Path, html_dir: Path) -> dict[str, str]:
    """Draw the index's charts and ship the pictures the notebooks recorded into `html_dir`; returns
    {"headline", "efficiency", "turntable"} -> file name, for those that exist."""
    figures, pictures = merged_figures(chapters), {}
    if headline_chart(figures, html_dir / HEADLINE_SVG):
        pictures["headline"] = HEADLINE_SVG
    if efficiency_chart(figures, html_dir / EFFICIENCY_SVG):
        pictures["efficiency"] = EFFICIENCY_SVG
    for key in PICTURE_KEYS:
        name = figures.get(key)
        if isinstance(name, str) and (headline_dir / name).is_file():
            shutil.copyfile(headline_dir / name, html_dir / name)
            pictures[key] = name
        elif name:
            print(f"[report] WARNING: picture {key!r} = {name!r} was recorded but its file is missing", flush=True)
    return pictures


def build(profile: str, data: Path, out: Path, notebooks: list[str], notebook_dir: Path,
          extra: dict[str, str] | None = None, allow_missing: bool = False, screenshots: bool = True) -> Path:
    """Build the whole report into `out`; returns the index.html path.

    extra: more papermill parameters (e.g. raw_root), given only to notebooks that declare them.
    """
    if profile not in PROFILES:
        raise ReportError(f"profile must be one of {PROFILES}, got {profile!r}")
    data_root = check_data(data)
    paths = resolve_notebooks(notebooks, notebook_dir, allow_missing)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "html").mkdir(parents=True)
    (staging / "executed").mkdir()
    try:
        with report_environment((staging / "headline").resolve()):  # kernels run in notebooks/
            chapters = run_chapters(paths, staging, profile, data_root, extra or {})
        html_dir = staging / "html"
        shutil.copyfile(plotly_js(), html_dir / "plotly.min.js")
        date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        commit = git_commit(Path.cwd())
        pictures, runs = index_pictures(chapters, staging / "headline", html_dir), run_counts(staging / "headline")
        atomic_write_text(html_dir / "index.html",
                          render_index(chapters, profile, date, commit, str(data), pictures, runs))
        atomic_write_json(html_dir / "build.json", {
            "profile": profile, "date": date, "commit": commit, "data_root": str(data), "runs": runs,
            "headline": {k: v for c in chapters for k, v in c.figures.items() if k in SPECIAL_KEYS},
            "chapters": [{"name": c.name, "title": c.title, "seconds": round(c.seconds, 1), "device": c.device,
                          "figures": c.figures} for c in chapters],
        })
        shot = screenshots and take_screenshots(html_dir, sorted((staging / "executed").glob("*.ipynb")),
                                                staging / "screenshots")
        swap_in(staging, out, OUTPUTS if shot else OUTPUTS[:2])
        shutil.rmtree(out / ".staging-failed", ignore_errors=True)  # an old failure is fixed now
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for ch in chapters:
        print(f"[report] {ch.name:<24} {ch.seconds / 60:6.1f} min  {ch.device}", flush=True)
    print(f"[report] total {sum(c.seconds for c in chapters) / 60:.1f} min -> {out / 'html' / 'index.html'}")
    return out / "html" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m byol3d.report.build", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILES, help="notebook profile (default quick)")
    parser.add_argument("--data", required=True, type=Path, help="preprocessed data root (train/, val/)")
    parser.add_argument("--out", default=Path("reports"), type=Path, help="report folder (default reports/)")
    parser.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS),
                        help="notebook stems in notebooks/ (or .ipynb paths), run in the order given")
    parser.add_argument("--notebook-dir", default=Path("notebooks"), type=Path, help="where the stems live")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="extra notebook parameter (string), passed to notebooks that declare KEY")
    parser.add_argument("--allow-missing", action="store_true", help="skip notebooks that do not exist (development)")
    parser.add_argument("--no-screenshots", action="store_true", help="do not run Chromium for screenshots")
    args = parser.parse_args(argv)
    bad = [p for p in args.param if "=" not in p]
    if bad:
        parser.error(f"--param needs KEY=VALUE, got {bad}")
    try:
        build(args.profile, args.data, args.out, args.notebooks, args.notebook_dir,
              extra=dict(p.split("=", 1) for p in args.param), allow_missing=args.allow_missing,
              screenshots=not args.no_screenshots)
    except ReportError as err:
        print(f"[report] FAILED: {err}\n[report] the previous report in {args.out} was left as it was.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
