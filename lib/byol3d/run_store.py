"""Where runs live: one content-addressed store for pre-trainings and probes.

A run's *identity* is a JSON-ready dict of everything that decides its result: the config sections it
reads, the content fingerprint of its data (byol3d.data.cache.data_fingerprint), the bytes of the
checkpoint it starts from, and so on. Its default folder is `<runs_root>/<kind>/<prefix><key>`, key = the
first 12 hex digits of the identity's SHA-256, so asking twice for the same run finds the same folder,
and a changed input finds another.

Every run folder holds a marker, byol3d-run.json = {"kind", "key", "identity"}. A folder that exists,
is not empty and lacks the marker of the right kind (a data root, a run of the other kind, a file) is
refused, naming it, so no command replaces or mixes files it did not make; a pre-training folder
chosen by hand (`--out`) that holds another identity is refused too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from byol3d.config import ConfigError
from byol3d.data.cache import file_sha256
from byol3d.utils.atomic import atomic_write_json, read_json_object

MARKER = "byol3d-run.json"
KINDS = ("pretrain", "probe")


def identity_key(identity: dict) -> str:
    """12 hex digits of the SHA-256 of the identity's canonical JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def run_dir(runs_root: str | Path, kind: str, identity: dict, prefix: str = "") -> Path:
    """The run's folder in the store: <runs_root>/<byol|probe>/<prefix><key>."""
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind!r}; known: {list(KINDS)}")
    return Path(runs_root) / {"pretrain": "byol", "probe": "probe"}[kind] / f"{prefix}{identity_key(identity)}"


def checkpoint_sha256(path: str | Path) -> str:
    """SHA-256 of a checkpoint's bytes (identifies it wherever it lies)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (did the pre-training finish?)")
    return file_sha256(path)


def _stale_temporary(entry: Path) -> bool:
    """A `.<name>.*.tmp` left by a killed atomic write (byol3d.utils.atomic): it does not make a folder ours."""
    return entry.name.startswith(".") and entry.name.endswith(".tmp")


def check_folder(folder: str | Path, kind: str, identity: dict | None = None) -> None:
    """Refuse `folder` (ConfigError naming it) unless it is absent, empty, or a `kind` run folder, and,
    when `identity` is given, one made for that identity."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: is a file, not a run folder; choose another --out")
    if not folder.is_dir() or all(_stale_temporary(entry) for entry in folder.iterdir()):
        return
    marker = read_json_object(folder / MARKER) or {}
    if marker.get("kind") != kind:
        what = f"a {marker['kind']} run" if marker.get("kind") else f"not a byol3d run folder (no {MARKER})"
        raise ConfigError(f"{folder}: is {what}; a {kind} run would replace or mix its files. Choose "
                          "another --out (a new or empty folder); a run folder of an older byol3d has no "
                          "marker either: delete it to redo the run")
    if identity is not None and "key" not in marker:
        raise ConfigError(f"{folder}: made by an older byol3d (its marker names no run key), so what it holds "
                          "cannot be checked; delete it to redo the run, or choose another --out")
    if identity is not None and marker.get("key") != identity_key(identity):
        raise ConfigError(f"{folder}: this run folder holds another run (key {marker.get('key')}, not "
                          f"{identity_key(identity)}: a different config or different data); choose another --out")


def mark_folder(folder: str | Path, kind: str, identity: dict) -> None:
    """Write the marker `check_folder` looks for."""
    atomic_write_json(Path(folder) / MARKER, {"kind": kind, "key": identity_key(identity), "identity": identity})
