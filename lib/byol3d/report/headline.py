"""Key figures a notebook hands to the report index (`make report`).

THE CONTRACT (for notebook authors):

    from byol3d.report import record_headline
    record_headline("04_segmentation_probe", {"miou_byol_linear": 0.41, "miou_random_linear": 0.18})

* `chapter` is the notebook's file stem (e.g. "04_segmentation_probe").
* `values` is a flat JSON-ready dict; repeated calls for one chapter merge (later keys win).
* Under the report builder (which sets ``BYOL3D_HEADLINE_DIR``) the values are written atomically to
  ``$BYOL3D_HEADLINE_DIR/<chapter>.json``; elsewhere (JupyterLab, Colab) the call does nothing and
  returns None, so notebooks may call it unconditionally.

Well-known keys, shown in the index's headline tables (mIoU values are FRACTIONS in [0, 1], the
`miou` of a probe's metrics.json; the index shows them as percentages):

* ``miou_<arm>``        for each evaluation arm of byol3d.arms.ARMS (byol_linear, random_linear, scratch,
                         byol_finetune, raw_linear, majority), shown with the arm's label
* ``<miou key>_std``     the spread (sample standard deviation) over seeds of that mean
* ``seeds``              how many seeds each mean is taken over
* ``label_efficiency``   {"fractions": [f1, f2, ...], "<arm>": [mean mIoU at f1, at f2, ...],
                         "<arm>_std": [spread at f1, ...], ...}
* ``device``             the device the chapter ran on (overrides the builder's own detection)
* ``turntable``          file name of a turntable GIF of a validation scene (ground truth beside the
                         BYOL probe's prediction), recorded with `record_picture`; the index leads with it

Pictures: `record_picture(chapter, key, path)` copies a file the notebook wrote (e.g. a GIF) into the
builder's folder and records its file name under `key`; the builder ships it beside index.html.

Any other key is listed as a key figure of its chapter (numbers rounded to 3 significant digits).

Runs: `record_run(run_dir, reused)` (called by byol3d.experiments for every pre-training and probe a
notebook asks for) appends to ``$BYOL3D_HEADLINE_DIR/runs.jsonl``; the index says how many runs the
build trained and how many it took finished from the run store, since a build that reuses runs takes
minutes where one from an empty ``runs/`` takes the full budget.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping

from byol3d.arms import ARMS
from byol3d.utils.atomic import atomic_write, atomic_write_json

HEADLINE_ENV = "BYOL3D_HEADLINE_DIR"
RUNS_LOG = "runs.jsonl"  # in the builder's folder: one line per run a notebook used

# Keys of the headline table, in display order, with their labels: one per evaluation arm.
MIOU_KEYS: dict[str, str] = {f"miou_{arm.name}": arm.label for arm in ARMS.values()}
PICTURE_KEYS = ("turntable",)
SPECIAL_KEYS = (set(MIOU_KEYS) | {f"{k}_std" for k in MIOU_KEYS} | {"label_efficiency", "device", "seeds"}
                | set(PICTURE_KEYS))


def _builder_folder() -> Path | None:
    """The report builder's folder ($BYOL3D_HEADLINE_DIR), or None outside the builder."""
    folder = os.environ.get(HEADLINE_ENV, "")
    return Path(folder) if folder else None


def _check_chapter(chapter: str) -> None:
    if not chapter or "/" in chapter or chapter.startswith("."):
        raise ValueError("record_headline: chapter must be a notebook stem like '04_segmentation_probe', "
                         f"got {chapter!r}")


def record_headline(chapter: str, values: Mapping[str, object]) -> Path | None:
    """Merge `values` into this chapter's key figures for the report index (see the module docstring)."""
    folder = _builder_folder()
    if folder is None:
        return None
    _check_chapter(chapter)
    path = folder / f"{chapter}.json"
    merged = load_headline(path)
    merged.update(dict(values))
    json.dumps(merged)  # fail here, in the notebook, if something is not JSON-serialisable
    return atomic_write_json(path, merged)


def record_picture(chapter: str, key: str, picture: str | os.PathLike) -> Path | None:
    """Hand the file `picture` to the report index under `key` (one of PICTURE_KEYS); a no-op outside
    the report builder, like `record_headline`."""
    folder = _builder_folder()
    if folder is None:
        return None
    _check_chapter(chapter)
    if key not in PICTURE_KEYS:
        raise ValueError(f"record_picture: key must be one of {PICTURE_KEYS}, got {key!r}")
    picture = Path(picture)
    if not picture.is_file():
        raise FileNotFoundError(f"{picture}: no such picture to record for the report index")
    name = f"{chapter}-{key}{picture.suffix}"
    atomic_write(folder / name, lambda tmp: shutil.copyfile(picture, tmp))
    record_headline(chapter, {key: name})
    return folder / name


def load_headline(path: str | os.PathLike) -> dict:
    """The key figures stored at `path` ({} if the chapter recorded none)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of key figures, got {type(values).__name__}")
    return values


def record_run(run_dir: str | os.PathLike, reused: bool) -> Path | None:
    """Tell the report builder that a notebook used the run at `run_dir`, trained now or `reused` finished
    from the run store; a no-op outside the builder, like `record_headline`."""
    folder = _builder_folder()
    if folder is None:
        return None
    path = folder / RUNS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:  # one short line per run: a crash loses the build anyway
        log.write(json.dumps({"run": str(Path(run_dir).resolve()), "reused": bool(reused)}) + "\n")
    return path


def run_counts(folder: str | os.PathLike) -> dict[str, int]:
    """{"trained": runs trained during the build, "reused": runs found finished in the store}, from the
    builder's `folder`; each run counts once, as trained if any notebook trained (or finished) it."""
    path = Path(folder) / RUNS_LOG
    trained: dict[str, bool] = {}
    for number, line in enumerate(path.read_text().splitlines() if path.exists() else [], start=1):
        try:
            entry = json.loads(line)
            run, reused = str(entry["run"]), bool(entry["reused"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}, line {number}: not a run record ({err})") from None
        trained[run] = trained.get(run, False) or not reused
    return {"trained": sum(trained.values()), "reused": sum(not t for t in trained.values())}
