"""`make lab`: JupyterLab serves the course notebooks headless, each `.py` opens as its paired notebook
(jupytext) with a `parameters` cell, and double-clicking a `.py` opens the notebook view."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
LAB_SETTINGS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A headless JupyterLab as `make lab` starts it (root notebooks/), on a free local port."""
    port, token = _free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOK_DIR}", "--ServerApp.port_retries=0"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []  # as `make lab` does (containers often run as root)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)})
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> dict:
        request = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    try:
        for _ in range(240):  # JupyterLab takes a few seconds to start
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                get("/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 120 s")
        yield get
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_lab_opens_each_py_as_its_paired_notebook(lab, name):
    model = lab(f"/api/contents/{name}")
    assert model["type"] == "notebook", f"{name} opened as {model['type']}: is the jupytext extension enabled?"
    notebook = model["content"]
    assert notebook["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "profile = " in tagged[0]["source"], f"{name}: one `parameters` cell naming the profile"


@pytest.mark.slow
def test_lab_opens_python_files_with_the_notebook_view(lab):
    assert LAB_SETTINGS.exists(), f"{LAB_SETTINGS} missing: `make lab` / `make test` write it"
    settings = lab("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings["schema"]["properties"]["defaultViewers"]["default"]  # overrides.json sets the defaults
    assert viewers["python"] == "Jupytext Notebook"
    assert len(NOTEBOOKS) == 5
