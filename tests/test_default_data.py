"""The on-demand default dataset used where `make data` has not run (Colab)."""

from __future__ import annotations

from byol3d.cli import main
from byol3d.data.cache import list_scenes
from byol3d.data.default import ensure_default_data


def test_preprocesses_existing_raw_data_once(synth_raw, tmp_path):
    out = ensure_default_data(synth_raw, tmp_path / "processed", workers=1)
    assert (out / "summary.json").exists() and list_scenes(out, "train") and list_scenes(out, "val")
    stamp = (out / "summary.json").stat().st_mtime_ns
    assert ensure_default_data(synth_raw, out) == out
    assert (out / "summary.json").stat().st_mtime_ns == stamp  # second call: nothing rebuilt


def test_byol3d_data_synthrooms_builds_it_under_out(synth_raw, tmp_path):
    """`byol3d data synthrooms --out ROOT` = ensure_default_data(ROOT/raw, ROOT/processed); the raw rooms
    are already there (a link to the session's), so only preprocessing runs."""
    (tmp_path / "raw").symlink_to(synth_raw, target_is_directory=True)
    assert main(["data", "synthrooms", "--out", str(tmp_path), "--workers", "1"]) == 0
    assert list_scenes(tmp_path / "processed", "val") and (tmp_path / "processed" / "summary.json").exists()
