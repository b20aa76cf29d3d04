"""Checkpoints that survive crashes and load safely, plus the exported pre-trained encoder.

- `save_checkpoint` writes atomically (temporary file + rename, byol3d.utils.atomic), so a run killed
  at any moment leaves either the previous checkpoint or the new one, never half of one.
- `load_checkpoint` reads with `torch.load(weights_only=True)`: only tensors and plain containers are
  unpickled, never arbitrary objects. Everything we save is therefore tensors, numbers, strings,
  lists and dicts; the RNG states are converted to that form by `capture_rng` / `restore_rng`.
- `export_encoder` / `load_pretrained`: the online PointNeXt (encoder + decoder + untouched head) as a
  state dict next to its PointNeXtConfig, which is all the probe needs to rebuild it.
"""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from byol3d.config import ConfigError, from_dict, to_dict
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.train.finite import first_non_finite
from byol3d.utils.atomic import atomic_torch_save

ENCODER_FORMAT = "byol3d-encoder-v1"


class CheckpointError(RuntimeError):
    """A checkpoint or exported encoder is missing, corrupt or of the wrong kind; names the file."""


def capture_rng() -> dict:
    """Python, NumPy (legacy global) and torch RNG states as weights_only-safe values."""
    version, py_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of `capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["name"], keys, npy["pos"], npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Atomically save `state` (tensors / plain containers only) with the current RNG states added."""
    return atomic_torch_save({**state, "rng": capture_rng()}, path)


def _unreadable(path: Path, what: str, err: Exception) -> CheckpointError:
    """The error for a file torch.load refused. A pickled object other than tensors and plain containers
    is code that would run on loading: say so, and never relay torch's advice to load it unsafely."""
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:
            return CheckpointError(f"{path}: the {what} holds pickled code ({found.group(1)}), which byol3d "
                                   "refuses to load; use a file written by byol3d (tensors and plain values only)")
        return CheckpointError(f"{path}: cannot read {what}, the file is corrupt or truncated (not torch data)")
    return CheckpointError(f"{path}: cannot read {what}, the file is corrupt or truncated ({err})")


def safe_load(path: Path, what: str) -> dict:
    """torch.load with weights_only=True (tensors and plain containers, never code) of a dict; every
    failure is a CheckpointError naming the file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, unsafe type: all mean "not a usable file"
        raise _unreadable(path, what, err) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a byol3d {what} (top level is {type(obj).__name__}, not a dict)")
    return obj


def load_checkpoint(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """Safely load a training checkpoint; `required` keys missing -> CheckpointError naming the file."""
    path = Path(path)
    state = safe_load(path, "checkpoint")
    missing = [key for key in (*required, "rng") if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}; was it written by byol3d.pretrain?")
    return state


def export_encoder(model: PointNeXt, config: PointNeXtConfig, path: str | Path, meta: dict | None = None) -> Path:
    """Write `encoder.pt`: {'format', 'config': PointNeXtConfig as dict, 'state_dict', 'meta'}."""
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {"format": ENCODER_FORMAT, "config": to_dict(config), "state_dict": state_dict, "meta": meta or {}}
    return atomic_torch_save(payload, path)


def load_pretrained(path: str | Path) -> PointNeXt:
    """Rebuild the PointNeXt saved by `export_encoder` (CPU, train mode as constructed)."""
    path = Path(path)
    payload = safe_load(path, "encoder file")
    if payload.get("format") != ENCODER_FORMAT:
        raise CheckpointError(f"{path}: not a byol3d encoder export (format {payload.get('format')!r})")
    try:
        config = from_dict(PointNeXtConfig, payload["config"], where=f"{path}: config")
    except ConfigError as err:
        raise CheckpointError(str(err)) from None
    bad = first_non_finite(payload["state_dict"])
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad!r} holds NaN/inf, so the pre-training diverged; "
                              "refusing to probe it (re-run the pre-training with a lower lr)")
    model = PointNeXt(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit PointNeXt{config.blocks}: {err}") from None
    return model
