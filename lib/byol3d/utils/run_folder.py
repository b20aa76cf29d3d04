"""Run folders carry a marker naming their kind, so no command replaces or fills a folder it did not make.

`probe --out DIR` replaces DIR whole and `pretrain --out DIR` writes into it: pointed at a data root or
at another kind of run by mistake, they would delete or mix files. A folder that exists, is not empty
and lacks the marker of the right kind is refused, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

from byol3d.config import ConfigError
from byol3d.utils.atomic import atomic_write_json

MARKER = "byol3d-run.json"  # {"kind": "pretrain" | "probe"}


def run_kind(folder: Path) -> str | None:
    """The kind written in the folder's marker, or None without a readable one."""
    try:
        return json.loads((folder / MARKER).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def _stale_temporary(entry: Path) -> bool:
    """A `.<name>.*.tmp` left by a killed atomic write (byol3d.utils.atomic): it does not make a folder ours."""
    return entry.name.startswith(".") and entry.name.endswith(".tmp")


def check_run_folder(folder: str | Path, kind: str) -> None:
    """Refuse `folder` unless it is absent, empty, or a `kind` run folder (raises ConfigError naming it)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: is a file, not a run folder; choose another --out")
    if not folder.is_dir() or all(_stale_temporary(entry) for entry in folder.iterdir()):
        return
    found = run_kind(folder)
    if found != kind:
        what = f"a {found} run" if found else f"not a byol3d run folder (no {MARKER})"
        raise ConfigError(f"{folder}: is {what}; a {kind} run would replace or mix its files. Choose "
                          "another --out (a new or empty folder); a run folder of an older byol3d has no "
                          "marker either: delete it to redo the run")


def mark_run_folder(folder: str | Path, kind: str) -> None:
    """Write the marker that `check_run_folder` looks for."""
    atomic_write_json(Path(folder) / MARKER, {"kind": kind})
