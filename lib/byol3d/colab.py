"""Google Colab set-up for the course notebooks, after their bootstrap cell installed this package.

Every notebook's first code cell does, on Colab only: take the repository's pip address from the
`repo` parameter or the BYOL3D_REPO environment variable (`git+https://github.com/<you>/byol3d`, or the
path of an uploaded archive of the repository such as `/content/byol3d-main.zip`), `pip install` it,
then call `setup_colab`. Locally nothing of this runs: `make setup` and `make data` did it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from byol3d.data.default import ensure_default_data

REPO_ENV = "BYOL3D_REPO"  # the environment variable the bootstrap cell reads when `repo` is empty
COLAB_NOTEBOOK_DIR = Path("/content/byol3d/notebooks")  # the notebooks' relative paths resolve from here
DEFAULT_RAW_ROOT = "../data/synthrooms/raw"
# Packages the notebooks import beyond the package's own dependencies: import name -> pip name.
NOTEBOOK_PACKAGES = {"sklearn": "scikit-learn", "umap": "umap-learn", "matplotlib": "matplotlib"}


def missing_notebook_packages() -> list[str]:
    """pip names of the notebook packages this Python cannot import."""
    return [pip for module, pip in NOTEBOOK_PACKAGES.items() if importlib.util.find_spec(module) is None]


def setup_colab(data_root: str | Path, raw_root: str | Path = DEFAULT_RAW_ROOT,
                notebook_dir: str | Path = COLAB_NOTEBOOK_DIR) -> Path:
    """Work from `notebook_dir` (so `../data` and `../runs` land beside it, as in a clone), install the
    notebook packages Colab lacks, and build the default SynthRooms data once (what `make data` does).
    Returns the preprocessed data root."""
    notebook_dir = Path(notebook_dir)
    notebook_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(notebook_dir)
    missing = missing_notebook_packages()
    if missing:
        print(f"installing {' '.join(missing)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    processed = ensure_default_data(raw_root, data_root)
    print(f"byol3d ready: working in {notebook_dir}, data in {processed.resolve()}", flush=True)
    return processed
