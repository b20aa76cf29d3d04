"""The Colab path of the notebooks: one identical bootstrap cell in every notebook that names what is
missing when no repository address is given, and `setup_colab`, which it hands over to."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import jupytext
import pytest

from byol3d.colab import REPO_ENV, missing_notebook_packages, setup_colab

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def _bootstrap_cell(path: Path) -> str:
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "code" and "google.colab" in c.source]
    assert len(cells) == 1, f"{path.name}: needs exactly one Colab bootstrap cell"
    return cells[0]


def test_every_notebook_has_the_same_bootstrap_and_a_repo_parameter():
    cells = {path.name: _bootstrap_cell(path) for path in NOTEBOOKS}
    assert len(set(cells.values())) == 1, "the Colab bootstrap cells differ between notebooks"
    for path in NOTEBOOKS:
        params = [c for c in jupytext.read(path).cells if "parameters" in c.metadata.get("tags", [])]
        assert 'repo = ""' in params[0].source, f"{path.name}: the parameters cell must define repo"


def test_bootstrap_names_what_is_missing_on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))  # as Colab's kernel has
    monkeypatch.delenv(REPO_ENV, raising=False)
    with pytest.raises(RuntimeError, match="set `repo` in the parameters cell, or the BYOL3D_REPO"):
        exec(_bootstrap_cell(NOTEBOOKS[0]), {"repo": "", "data_root": "unused"})


def test_bootstrap_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    cwd = os.getcwd()
    exec(_bootstrap_cell(NOTEBOOKS[0]), {"repo": "", "data_root": "unused"})
    assert os.getcwd() == cwd


def test_setup_colab_works_beside_the_data_like_a_clone(synth_processed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert missing_notebook_packages() == []  # make setup installed them; Colab may lack umap-learn
    notebooks = tmp_path / "content" / "byol3d" / "notebooks"
    processed = setup_colab(synth_processed, tmp_path / "no-raw-needed", notebook_dir=notebooks)
    assert Path.cwd() == notebooks and processed == synth_processed  # already built: nothing regenerated
    assert not (tmp_path / "no-raw-needed").exists()
