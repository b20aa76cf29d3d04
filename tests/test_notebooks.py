"""The course notebooks: paired with their .py source, parameterised for papermill, and executed end to
end with profile=smoke by the real report builder on the SynthRooms fixtures (then opened offline in
headless Chromium when it is installed)."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from byol3d.report.browser import check_report, find_chromium
from byol3d.report.build import NOTEBOOKS, build, code_cells

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def test_every_chapter_of_the_course_is_there():
    assert [p.stem for p in SOURCES] == list(NOTEBOOKS)


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_is_paired_and_parameterised(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired} missing: run `jupytext --to ipynb --set-kernel python3 {source}`"
    nb = nbformat.read(paired, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{paired}: kernelspec must be python3"
    assert code_cells(nb) == code_cells(jupytext.read(source)), f"{paired} is out of sync with {source.name}: jupytext --sync"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{paired}: needs exactly one cell tagged 'parameters'"
    for name in ("profile", "data_root"):
        assert f"{name} =" in params[0].source, f"{paired}: parameters cell must define {name}"


@pytest.fixture(scope="module")
def smoke_report(synth_processed, synth_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    runs = tmp_path_factory.mktemp("runs")  # never the repo's runs/: those belong to the real data
    build("smoke", synth_processed, out, NOTEBOOKS, NOTEBOOK_DIR,
          extra={"raw_root": str(synth_raw), "runs_root": str(runs)}, screenshots=False)
    return out


@pytest.mark.slow
def test_smoke_report_has_every_chapter_without_errors(smoke_report):
    index = (smoke_report / "html" / "index.html").read_text()
    for name in NOTEBOOKS:
        assert f'href="{name}.html"' in index
        assert (smoke_report / "html" / f"{name}.html").stat().st_size > 0
        executed = nbformat.read(smoke_report / "executed" / f"{name}.ipynb", as_version=4)
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    assert (smoke_report / "html" / "plotly.min.js").exists()
    build_json = json.loads((smoke_report / "html" / "build.json").read_text())
    figures = {c["name"]: c["figures"] for c in build_json["chapters"]}
    for key in ("miou_byol_linear", "miou_random_linear", "miou_scratch", "miou_byol_finetune", "label_efficiency"):
        assert key in figures["04_segmentation_probe"], f"chapter 04 recorded no {key} for the index"
        assert key in build_json["headline"]
        if key != "label_efficiency":  # a mean over seeds, with its spread
            assert 0 <= build_json["headline"][key] <= 1 and build_json["headline"][f"{key}_std"] >= 0
    assert build_json["headline"]["seeds"] >= 2
    assert {"miou_raw_linear", "miou_majority"} <= set(build_json["headline"])


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (make setup installs it)")
def test_smoke_report_pages_work_offline_in_chromium(smoke_report):
    results = check_report(smoke_report / "html")
    assert set(results) == {"index.html", *(f"{name}.html" for name in NOTEBOOKS)}
    for name, result in results.items():
        assert result.errors == [], f"{name}: {result.errors}"
        assert result.drawn == result.figures, f"{name}: only {result.drawn} of {result.figures} figures drew"
        assert result.images_drawn == result.images, \
            f"{name}: only {result.images_drawn} of {result.images} images drew"
    assert results["index.html"].images == 3  # the turntable, the headline bars, the label-efficiency curves
