"""Preprocessing CLI and the scene cache: outputs, summary, one bad scene, resume, workers, dtypes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SYNTH_SCENES, SYNTH_SEED, SYNTH_SPACING
from test_scannet_reader import EXPECTED_INSTANCE, EXPECTED_SEGMENT20, labels, write_raw_dataset

from byol3d.data.cache import list_scenes, load_scene, write_scene
from byol3d.data.errors import DataError
from byol3d.data.preprocess import main, preprocess_dataset
from byol3d.data.scannet import LABEL_TSV, read_label_map, read_scene, read_split

GOOD = {"train": ["scene0000_00", "scene0000_01"], "val": ["scene0001_00"]}
BAD_PLY = "scene0002_00"  # truncated mesh
ABSENT = "scene0003_00"  # listed in the split but has no folder


@pytest.fixture()
def raw(tmp_path) -> Path:
    root = write_raw_dataset(tmp_path / "raw", GOOD["train"] + [BAD_PLY], GOOD["val"])
    ply = root / "scans" / BAD_PLY / f"{BAD_PLY}_vh_clean_2.ply"
    ply.write_bytes(ply.read_bytes()[:-30])
    with open(root / "scannetv2_val.txt", "a") as f:
        f.write(f"{ABSENT}\n")
    return root


def run_cli(raw: Path, out: Path, *extra: str) -> int:
    return main(["--scannet-root", str(raw), "--out", str(out), *extra])


def test_cli_writes_cache_and_summary_and_reports_the_bad_scenes(raw, tmp_path):
    out = tmp_path / "out"
    assert run_cli(raw, out) == 1  # some scenes failed -> non-zero exit
    assert [p.name for p in list_scenes(out, "train")] == GOOD["train"]
    assert [p.name for p in list_scenes(out, "val")] == GOOD["val"]
    for split, ids in GOOD.items():
        for scene_id in ids:
            cached = load_scene(out / split / scene_id)
            direct = read_scene(raw, scene_id, labels(raw))
            assert sorted(cached) == ["color", "coord", "instance", "normal", "segment20"]
            for name, value in cached.items():
                np.testing.assert_array_equal(value, getattr(direct, name))
            np.testing.assert_array_equal(cached["segment20"], EXPECTED_SEGMENT20)
            np.testing.assert_array_equal(cached["instance"], EXPECTED_INSTANCE)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenes"] == {"done": 3, "skipped": 0, "failed": 2}
    reasons = {f["scene"]: f["reason"] for f in summary["failed"]}
    assert f"{BAD_PLY}_vh_clean_2.ply: corrupt, truncated" in reasons[BAD_PLY]
    assert "scannetv2_val.txt: names scene 'scene0003_00'" in reasons[ABSENT]
    assert summary["vertices"] == 45 and summary["ignored_vertices"] == 27
    assert summary["label_histogram"]["floor"] == 9 and summary["label_histogram"]["chair"] == 9
    assert sum(summary["label_histogram"].values()) == 18
    ignored = summary["ignored_by_reason"]
    assert ignored["unannotated"] == 9
    assert ignored["outside_benchmark"] == {"ceiling": 9} and ignored["missing_from_tsv"] == {"mystery blob": 9}
    assert summary["processed_vertices"] == 45 and summary["vertices_per_second_per_worker"] > 0


def test_rerun_skips_finished_scenes_and_resumes_after_a_crash(raw, tmp_path):
    out = tmp_path / "out"
    run_cli(raw, out)
    kept = out / "train" / "scene0000_00" / "coord.npy"
    stamp = kept.stat().st_mtime_ns
    # Simulate a crash mid-way: one finished scene lost, a half-written temporary folder left behind.
    redo = out / "val" / "scene0001_00"
    for f in redo.iterdir():
        f.unlink()
    redo.rmdir()
    stale = out / "val" / ".scene0001_00.k3j2.tmp"
    stale.mkdir()
    (stale / "coord.npy").write_bytes(b"half")
    (out / "train" / "scene0000_01" / "segment20.npy").write_bytes(b"damaged")  # unreadable: redo it
    assert run_cli(raw, out) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenes"] == {"done": 2, "skipped": 1, "failed": 2}
    assert summary["per_scene"]["val/scene0001_00"]["status"] == "done"
    assert summary["per_scene"]["train/scene0000_01"]["status"] == "done"
    np.testing.assert_array_equal(load_scene(out / "train" / "scene0000_01")["segment20"], EXPECTED_SEGMENT20)
    assert summary["per_scene"]["train/scene0000_00"]["status"] == "skipped"
    assert kept.stat().st_mtime_ns == stamp  # finished scenes are not rewritten
    assert not stale.exists() and [p.name for p in list_scenes(out, "val")] == ["scene0001_00"]
    # Totals still cover every cached scene; ignore reasons of skipped scenes come from the last summary.
    assert summary["vertices"] == 45 and summary["ignored_by_reason"]["unannotated"] == 9
    assert summary["ignore_reasons_unknown_for"] == []


def test_all_good_exits_zero_and_two_workers_match_one(tmp_path):
    raw = write_raw_dataset(tmp_path / "raw", GOOD["train"], GOOD["val"])
    assert run_cli(raw, tmp_path / "one", "--splits", "train") == 0
    assert not (tmp_path / "one" / "val").exists()
    summary = preprocess_dataset(raw, tmp_path / "two", workers=2, progress=False)
    assert summary["scenes"] == {"done": 3, "skipped": 0, "failed": 0} and summary["workers"] == 2
    for scene_id in GOOD["train"]:
        one, two = load_scene(tmp_path / "one" / "train" / scene_id), load_scene(tmp_path / "two" / "train" / scene_id)
        for name in one:
            np.testing.assert_array_equal(one[name], two[name])


def test_align_flag_without_alignment_files_fails_every_scene_clearly(tmp_path):
    raw = write_raw_dataset(tmp_path / "raw", GOOD["train"], [])
    assert run_cli(raw, tmp_path / "out", "--align", "--splits", "train") == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["align"] is True and summary["scenes"] == {"done": 0, "skipped": 0, "failed": 2}
    assert all(f["reason"].endswith(f"{f['scene']}.txt: axis alignment file not found (needed by --align)")
               for f in summary["failed"])


def test_module_entry_point_exits_2_on_an_unreadable_dataset(tmp_path):
    raw = write_raw_dataset(tmp_path / "raw", GOOD["train"], GOOD["val"])
    (raw / "scannetv2-labels.combined.tsv").unlink()
    result = subprocess.run([sys.executable, "-m", "byol3d.data.preprocess", "--scannet-root", str(raw),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "scannetv2-labels.combined.tsv: label tsv not found" in result.stderr


def test_synthrooms_round_trip_reproduces_the_generators_labels(synth_raw, synth_processed):
    """SynthRooms raw files -> preprocess -> cache gives back the generator's own per-vertex truth."""
    from byol3d.data.synthrooms import generate_scene

    summary = json.loads((synth_processed / "summary.json").read_text())
    assert summary["scenes"] == {"done": SYNTH_SCENES, "skipped": 0, "failed": 0}
    assert summary["ignored_by_reason"]["missing_from_tsv"] == {}
    listed = {split: read_split(synth_raw, split) for split in ("train", "val")}
    histogram = np.zeros(20, dtype=np.int64)
    for split, ids in listed.items():
        assert [p.name for p in list_scenes(synth_processed, split)] == sorted(ids)
        for scene_id in ids:
            truth = generate_scene(scene_id, SYNTH_SEED, SYNTH_SPACING)
            cached = load_scene(synth_processed / split / scene_id)
            for name in ("segment20", "instance", "coord", "color"):
                np.testing.assert_array_equal(cached[name], getattr(truth, name), err_msg=f"{scene_id} {name}")
            histogram += np.bincount(truth.segment20[truth.segment20 >= 0], minlength=20)
    assert list(summary["label_histogram"].values()) == histogram.tolist()
    # --align puts the scene in the generator's axis-aligned room frame (matrix stored with 6 decimals).
    aligned = read_scene(synth_raw, scene_id, read_label_map(synth_raw / LABEL_TSV), align=True)
    np.testing.assert_allclose(aligned.coord, truth.aligned_coord(), atol=1e-4)
    np.testing.assert_array_equal(aligned.segment20, truth.segment20)


# ----- the cache layout (ours and Pointcept's) -----

def _scene(num: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"coord": rng.normal(size=(num, 3)).astype(np.float32),
            "color": rng.integers(0, 256, (num, 3)).astype(np.uint8),
            "normal": rng.normal(size=(num, 3)).astype(np.float32),
            "segment20": np.array([0, 19, -1, 5][:num], dtype=np.int64),
            "instance": np.arange(num, dtype=np.int64)}


def test_cache_round_trip_and_pointcept_dtypes(tmp_path):
    scene = _scene()
    write_scene(tmp_path / "train" / "s0", scene)
    loaded = load_scene(tmp_path / "train" / "s0")
    for name, value in scene.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
    # Pointcept's ScanNet: int16 labels, no normal/instance files.
    folder = tmp_path / "train" / "s1"
    folder.mkdir()
    np.save(folder / "coord.npy", scene["coord"])
    np.save(folder / "color.npy", scene["color"])
    np.save(folder / "segment20.npy", scene["segment20"].astype(np.int16))
    loaded = load_scene(folder)
    assert sorted(loaded) == ["color", "coord", "segment20"] and loaded["segment20"].dtype == np.int64
    (tmp_path / "train" / ".s2.abc.tmp").mkdir()  # a temporary folder is not a scene
    assert [p.name for p in list_scenes(tmp_path, "train")] == ["s0", "s1"]
    with pytest.raises(DataError, match=r"val: split folder not found"):
        list_scenes(tmp_path, "val")


@pytest.mark.parametrize("name,value,reason", [
    ("coord", np.zeros((4, 3), dtype=np.int32), "expected float coordinates, got int32"),
    ("coord", np.zeros((4, 2), dtype=np.float32), r"expected shape \(V>0, 3\), got \(4, 2\)"),
    ("coord", np.full((4, 3), np.nan, dtype=np.float32), "NaN/inf"),
    ("color", np.zeros((3, 3), dtype=np.uint8), r"expected shape \(4, 3\), got \(3, 3\)"),
    ("color", np.zeros((4, 3), dtype=np.float32), "expected uint8 RGB"),
    ("segment20", np.zeros(4, dtype=np.float32), "expected integer ids, got float32"),
    ("segment20", np.array([0, 1, 2, 20]), "ScanNet20 indices 0..19 or -1"),
    ("normal", np.zeros((4, 3), dtype=np.int64), "expected float normals"),
])
def test_cache_rejects_bad_arrays_naming_the_file(tmp_path, name, value, reason):
    folder = tmp_path / "s0"
    write_scene(folder, _scene())
    np.save(folder / f"{name}.npy", value)
    with pytest.raises(DataError, match=rf"s0/{name}\.npy: .*{reason}"):
        load_scene(folder)


def test_cache_missing_or_corrupt_file(tmp_path):
    folder = tmp_path / "s0"
    write_scene(folder, _scene())
    (folder / "color.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"s0/color\.npy: not a readable \.npy array"):
        load_scene(folder)
    (folder / "color.npy").unlink()
    with pytest.raises(DataError, match=r"s0/color\.npy: required file color\.npy is missing"):
        load_scene(folder)
