"""byol3d.report: the builder runs tiny real notebooks end to end, names failures, never half-replaces a
report; headline contract and index rendering."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import nbformat
import plotly
import pytest

from byol3d.report import HEADLINE_ENV, record_headline, record_picture, record_run
from byol3d.report.browser import plot_traces
from byol3d.report.build import ReportError, build, check_data, main, resolve_notebooks
from byol3d.report.headline import run_counts
from byol3d.report.index import Chapter, render_index

GOOD_SOURCE = """
import sys

import numpy as np
from byol3d.data.cache import list_scenes, load_scene
from byol3d.report import record_headline, record_picture, record_run
from byol3d.viz import save_turntable, scene_figure, setup_plotly

print("mode", setup_plotly(), "extra", extra)
print("PROGRESS-" + "ON-STDERR", file=sys.stderr)  # a progress bar, say
scene = load_scene(list_scenes(data_root, "train")[0])
record_headline("{name}", {{"miou_byol_linear": 0.41, "miou_scratch": 0.30, "points": int(len(scene["coord"])),
                           "label_efficiency": {{"fractions": [0.1, 1.0], "byol_linear": [0.2, 0.41]}}}})
gif = save_turntable([("truth", scene["coord"], scene["segment20"])], "turntable.gif", seconds=1, fps=2, max_points=500)
record_picture("{name}", "turntable", gif)
record_run("runs/{name}", reused=False)  # this chapter's own run, trained now
record_run("runs/store", reused=True)  # one both chapters found finished
scene_figure(scene["coord"], scene["segment20"], title="{name}", max_points=2000)
"""


def _notebook(folder: Path, name: str, code: str, extra_param: bool = True) -> Path:
    params = 'profile = "quick"\ndata_root = "../data"\n' + ('extra = "none"\n' if extra_param else "")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# Tiny chapter {name}\n\nA <b>test</b> chapter for the builder."),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def notebook_dir(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder, "01_tiny", GOOD_SOURCE.format(name="01_tiny"))
    _notebook(folder, "02_tiny", GOOD_SOURCE.format(name="02_tiny").replace('"extra", extra', '"no extra"'),
              extra_param=False)
    _notebook(folder, "03_bad", "x = 1\ny = x / 0")
    return folder


@pytest.mark.slow
def test_build_runs_notebooks_and_writes_offline_report(notebook_dir, synth_processed, tmp_path):
    out = tmp_path / "reports"
    index = build("smoke", synth_processed, out, ["01_tiny", "02_tiny"], notebook_dir,
                  extra={"extra": "hello", "undeclared": "x"}, screenshots=False)
    html_dir = out / "html"
    assert index == html_dir / "index.html"
    text = index.read_text()
    assert 'href="01_tiny.html"' in text and 'href="02_tiny.html"' in text and "Tiny chapter 02_tiny" in text
    assert "41.0" in text and "30.0" in text and "10% labels" in text  # headline + label efficiency tables
    for picture in ("headline.svg", "label_efficiency.svg", "02_tiny-turntable.gif"):  # later chapters win
        assert f'<img src="{picture}"' in text and (html_dir / picture).stat().st_size > 1000
    assert (html_dir / "plotly.min.js").stat().st_size == \
        (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").stat().st_size
    for name in ("01_tiny", "02_tiny"):
        page = (html_dir / f"{name}.html").read_text()
        assert '<script src="plotly.min.js"></script>' in page and "PROGRESS-ON-STDERR" not in page
        assert [[t["type"] for t in traces][:1] for traces in plot_traces(page)] == [["scatter3d"]]
        assert "cdnjs" not in page and "cdn.plot.ly" not in page and "require.min.js" not in page
        executed = nbformat.read(out / "executed" / f"{name}.ipynb", as_version=4)
        outputs = [o for c in executed.cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"]
        assert any("text/html" in o.get("data", {}) for o in outputs)  # figures rendered as HTML
    stdout = {n: "".join(o.get("text", "") for c in nbformat.read(out / "executed" / f"{n}.ipynb", as_version=4).cells
                         for o in c.get("outputs", [])) for n in ("01_tiny", "02_tiny")}
    assert "mode report extra hello" in stdout["01_tiny"] and "no extra" in stdout["02_tiny"]
    assert "PROGRESS-ON-STDERR" in stdout["01_tiny"]  # kept in the executed notebook, hidden in the page
    assert "undeclared" not in (out / "executed" / "02_tiny.ipynb").read_text()
    meta = json.loads((html_dir / "build.json").read_text())
    assert [c["name"] for c in meta["chapters"]] == ["01_tiny", "02_tiny"] and meta["profile"] == "smoke"
    assert meta["chapters"][0]["figures"]["points"] > 0 and meta["chapters"][0]["seconds"] > 0
    assert meta["runs"] == {"trained": 2, "reused": 1}
    assert "(2 runs trained in this build, 1 reused finished from the run store" in text
    assert stat.S_IMODE(index.stat().st_mode) == 0o644 and stat.S_IMODE(html_dir.stat().st_mode) == 0o755
    assert not list(out.glob(".staging*"))


@pytest.mark.slow
def test_failing_notebook_is_named_and_previous_report_kept(notebook_dir, synth_processed, tmp_path):
    out = tmp_path / "reports"
    (out / "html").mkdir(parents=True)
    (out / "html" / "index.html").write_text("PREVIOUS GOOD REPORT")
    with pytest.raises(ReportError, match=r"03_bad\.ipynb failed in cell \d+ .*ZeroDivisionError: division by zero"):
        build("smoke", synth_processed, out, ["01_tiny", "03_bad"], notebook_dir, screenshots=False)
    assert (out / "html" / "index.html").read_text() == "PREVIOUS GOOD REPORT"
    assert sorted(p.name for p in (out / "html").iterdir()) == ["index.html"]
    assert not (out / "executed").exists()
    assert (out / ".staging-failed" / "03_bad.ipynb").exists()
    assert [p.name for p in out.glob(".staging*")] == [".staging-failed"]


def test_missing_notebooks_and_data_are_clear_errors(tmp_path, synth_processed, capsys):
    (tmp_path / "02_x.py").write_text("# %%\n")
    with pytest.raises(ReportError, match=r"02_x\.ipynb does not exist \(its \.py exists: run `jupytext"):
        resolve_notebooks(["02_x"], tmp_path, allow_missing=False)
    with pytest.raises(ReportError, match="no notebooks to run"):
        resolve_notebooks(["02_x"], tmp_path, allow_missing=True)
    assert "skipping missing notebook" in capsys.readouterr().out
    with pytest.raises(ReportError, match="make data"):
        check_data(tmp_path)
    assert check_data(synth_processed) == synth_processed.resolve()
    assert main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 1
    assert "FAILED: data root" in capsys.readouterr().err


def test_record_headline_merges_under_the_builder_only(tmp_path, monkeypatch):
    monkeypatch.delenv(HEADLINE_ENV, raising=False)
    assert record_headline("04_probe", {"miou_scratch": 0.3}) is None
    monkeypatch.setenv(HEADLINE_ENV, str(tmp_path / "head"))
    record_headline("04_probe", {"miou_scratch": 0.3, "miou_byol_linear": 0.2})
    path = record_headline("04_probe", {"miou_byol_linear": 0.4})
    assert json.loads(path.read_text()) == {"miou_scratch": 0.3, "miou_byol_linear": 0.4}
    with pytest.raises(ValueError, match="notebook stem"):
        record_headline("../evil", {})
    with pytest.raises(TypeError):
        record_headline("04_probe", {"bad": object()})


def test_record_picture_copies_under_the_builder_only(tmp_path, monkeypatch):
    picture = tmp_path / "spin.gif"
    picture.write_bytes(b"GIF89a-not-really")
    monkeypatch.delenv(HEADLINE_ENV, raising=False)
    assert record_picture("04_probe", "turntable", picture) is None
    monkeypatch.setenv(HEADLINE_ENV, str(tmp_path / "head"))
    copied = record_picture("04_probe", "turntable", picture)
    assert copied.read_bytes() == picture.read_bytes() and copied.name == "04_probe-turntable.gif"
    assert json.loads((tmp_path / "head" / "04_probe.json").read_text()) == {"turntable": "04_probe-turntable.gif"}
    with pytest.raises(ValueError, match="key must be one of"):
        record_picture("04_probe", "selfie", picture)
    with pytest.raises(FileNotFoundError, match="no such picture"):
        record_picture("04_probe", "turntable", tmp_path / "missing.gif")


def test_record_run_counts_each_run_once_under_the_builder_only(tmp_path, monkeypatch):
    monkeypatch.delenv(HEADLINE_ENV, raising=False)
    assert record_run(tmp_path / "a", reused=False) is None
    monkeypatch.setenv(HEADLINE_ENV, str(tmp_path / "head"))
    assert run_counts(tmp_path / "head") == {"trained": 0, "reused": 0}
    record_run(tmp_path / "a", reused=False)
    record_run(tmp_path / "a", reused=True)  # trained by an earlier chapter, then reused: trained
    record_run(tmp_path / "b", reused=True)
    log = record_run(tmp_path / "b", reused=True)
    assert run_counts(tmp_path / "head") == {"trained": 1, "reused": 1}
    log.write_text(log.read_text() + "not json\n")
    with pytest.raises(ValueError, match=r"runs\.jsonl, line 5: not a run record"):
        run_counts(tmp_path / "head")


def test_index_escapes_and_formats():
    chapters = [
        Chapter("01_data", "Data <intro>", "Scenes & points.", 75.0, "CPU (2 cores)", {"scenes": 24}),
        Chapter("04_probe", "Probe", "", 600.0, "NVIDIA H100", {"miou_byol_linear": 0.4123, "miou_random_linear": 0.1}),
    ]
    text = render_index(chapters, "quick", "2026-01-01 00:00 UTC", "abc1234", "data/x")
    assert "Data &lt;intro&gt;" in text and "Scenes &amp; points." in text and "<li>scenes: 24</li>" in text
    assert "41.2" in text and "10.0" in text and "Supervised from scratch" not in text
    assert "75 s" in text and "10.0 min" in text and "abc1234" in text and "NVIDIA H100" in text
    assert "No label-efficiency sweep" in text
    assert "runs trained" not in text  # none recorded: nothing said
    alone = render_index(chapters, "quick", "d", "c", "x", runs={"trained": 1, "reused": 0})
    assert "(1 run trained in this build)." in alone and "run store" not in alone
