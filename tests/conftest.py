"""Shared fixtures: one small SynthRooms dataset, generated once per test session in ScanNet's raw
layout and preprocessed by the real reader, so every test runs the real data path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from byol3d.config import apply_overrides
from byol3d.data.dataset import DataConfig
from byol3d.profile import Profile

torch.set_num_threads(2)

# Start of the scripts that probe glibc's allocator in a fresh interpreter (its settings are process-wide):
# `libc` with malloc / free / mallinfo2 typed; mallinfo2().hblks counts the blocks glibc has mmapped.
MALLINFO_PRELUDE = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
class Info(ctypes.Structure):  # struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
"""

SYNTH_SCENES = 6
SYNTH_SEED = 0
SYNTH_SPACING = 0.03  # metres between surface samples: coarser than the default so tests stay fast


@pytest.fixture(scope="session")
def synth_raw(tmp_path_factory) -> Path:
    """Raw ScanNet layout (scans/, label tsv, split lists) written by SynthRooms."""
    from byol3d.data.synthrooms import generate_dataset

    root = tmp_path_factory.mktemp("synth_raw")
    generate_dataset(root, scenes=SYNTH_SCENES, seed=SYNTH_SEED, spacing=SYNTH_SPACING)
    return root


@pytest.fixture(scope="session")
def synth_processed(synth_raw, tmp_path_factory) -> Path:
    """The same scenes in the preprocessed (Pointcept-style) cache layout: <split>/<scene>/*.npy."""
    from byol3d.data.preprocess import preprocess_dataset

    out = tmp_path_factory.mktemp("synth_processed")
    preprocess_dataset(synth_raw, out, workers=1)
    return out


@pytest.fixture
def one_thread():
    """One torch thread: on a loaded 2-core machine, 2 OpenMP threads were measured to be 10-20x slower
    per BYOL step than 1 (threads wait for each other at every op)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _event_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files in <run_dir>/tensorboard, read back by TensorBoard's own
    loader (which applies the purge of a resumed run): tag -> [(step, value), ...] in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture
def event_scalars():
    """The reader of a run folder's TensorBoard scalars (tag -> [(step, value), ...])."""
    return _event_scalars


def smoke_profile(*overrides: str, data: DataConfig | None = None) -> Profile:
    """Profile.smoke() on the CPU with "section.field=value" overrides (read as `--set` reads them), and
    optionally other data settings."""
    profile = apply_overrides(Profile.smoke(), ["run.device=cpu", *overrides])
    return profile if data is None else dataclasses.replace(profile, data=data)
