"""SynthRooms: files in ScanNet's raw layout, ground truth, determinism, class coverage, layout
sanity, and that geometry (not colour or height alone) is needed to tell the classes apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData
from scipy.spatial import cKDTree

from byol3d.data.labels import NUM_CLASSES, nyu40_to_scannet20_table
from byol3d.data.synthrooms import generate_dataset, generate_scene
from byol3d.data.synthrooms.categories import CATEGORIES
from byol3d.data.synthrooms.layout import make_room
from byol3d.data.synthrooms.rooms import ROOM_TYPES, furnish

COARSE = 0.06  # metres: coverage / classifier scenes only need the shapes, not the density


def _scene_files(root: Path, sid: str) -> dict[str, Path]:
    d = root / "scans" / sid
    return {"ply": d / f"{sid}_vh_clean_2.ply", "segs": d / f"{sid}_vh_clean_2.0.010000.segs.json",
            "agg": d / f"{sid}.aggregation.json", "txt": d / f"{sid}.txt"}


def _tsv(root: Path) -> list[dict[str, str]]:
    lines = (root / "scannetv2-labels.combined.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def _splits(root: Path) -> tuple[list[str], list[str]]:
    return tuple((root / f"scannetv2_{s}.txt").read_text().split() for s in ("train", "val"))


def test_layout_and_formats(synth_raw):
    train, val = _splits(synth_raw)
    assert train and val and not set(train) & set(val)
    assert sorted(train + val) == sorted(p.name for p in (synth_raw / "scans").iterdir())
    rows = _tsv(synth_raw)
    assert list(rows[0])[:8] == ["id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass",
                                 "nyu40class"]
    nyu40 = {r["raw_category"]: int(r["nyu40id"]) for r in rows}
    for sid in train + val:
        f = _scene_files(synth_raw, sid)
        ply = PlyData.read(str(f["ply"]), known_list_len={"face": {"vertex_indices": 3}})
        assert ply.header.splitlines()[1] == "format binary_little_endian 1.0"
        v = ply["vertex"]
        assert [p.name for p in v.properties] == ["x", "y", "z", "red", "green", "blue", "alpha"]
        assert [v[n].dtype.str for n in ("x", "red")] == ["<f4", "|u1"]
        faces = ply["face"]["vertex_indices"]
        assert ply["face"].properties[0].len_dtype == "u1" and ply["face"].properties[0].val_dtype == "i4"
        assert faces.shape[1] == 3 and faces.min() >= 0 and faces.max() < v.count
        segs = json.loads(f["segs"].read_text())
        assert segs["sceneId"] == sid and len(segs["segIndices"]) == v.count
        agg = json.loads(f["agg"].read_text())
        assert agg["sceneId"] == f"scannet.{sid}"
        assert agg["segmentsFile"] == f"scannet.{sid}_vh_clean_2.0.010000.segs.json"
        known = set(segs["segIndices"])
        for i, g in enumerate(agg["segGroups"]):
            assert g["id"] == g["objectId"] == i and g["label"] in nyu40
            assert g["segments"] and set(g["segments"]) <= known
        numbers = f["txt"].read_text().splitlines()[0].split("=")[1].split()
        assert len(numbers) == 16


def test_files_match_ground_truth_and_alignment(synth_raw):
    """The files decode (PLY + segs + aggregation + tsv) to exactly the generator's per-vertex truth."""
    rows = _tsv(synth_raw)
    to20 = nyu40_to_scannet20_table()
    label_of = {r["raw_category"]: int(to20[int(r["nyu40id"])]) for r in rows}
    sid = _splits(synth_raw)[0][0]
    truth = generate_scene(sid, seed=0, spacing=0.03)
    f = _scene_files(synth_raw, sid)
    ply = PlyData.read(str(f["ply"]), known_list_len={"face": {"vertex_indices": 3}})
    v = ply["vertex"]
    assert np.array_equal(ply["face"]["vertex_indices"], truth.faces)
    coord = np.stack([v["x"], v["y"], v["z"]], 1)
    assert np.array_equal(coord, truth.coord)
    assert np.array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), truth.color)
    seg = np.asarray(json.loads(f["segs"].read_text())["segIndices"])
    assert np.array_equal(seg, truth.seg_ids)
    labels = np.full(len(seg), -1)
    for g in json.loads(f["agg"].read_text())["segGroups"]:
        labels[np.isin(seg, g["segments"])] = label_of[g["label"]]
    assert np.array_equal(labels, truth.segment20)
    annotated = np.isin(seg, np.concatenate([g["segments"] for g in truth.seg_groups]))
    assert 0 < (~annotated).sum() < 0.2 * len(seg), "some, not many, vertices are left unannotated"
    assert (annotated & (labels < 0)).any(), "an annotated category outside the 20 maps to ignore"
    m = np.array(f["txt"].read_text().splitlines()[0].split("=")[1].split(), float).reshape(4, 4)
    aligned = coord @ m[:3, :3].T + m[:3, 3]
    floor = aligned[labels == 1]
    assert abs(np.median(floor[:, 2])) < 0.01 and np.abs(np.ptp(floor[:, 2])) < 0.06
    lo = floor.min(axis=0)
    assert np.all(np.abs(lo[:2]) < 0.05), "the aligned floor starts at the origin: the matrix undoes the rotation"
    assert not np.all(np.abs(coord[:, :2].min(axis=0)) < 0.05), "stored vertices are not aligned"


def test_deterministic_bytes_and_seed_dependence(synth_raw, tmp_path):
    generate_dataset(tmp_path / "again", scenes=1, seed=0, spacing=0.03)
    generate_dataset(tmp_path / "other", scenes=1, seed=1, spacing=0.03)
    for key, path in _scene_files(synth_raw, "scene0000_00").items():
        assert path.read_bytes() == _scene_files(tmp_path / "again", "scene0000_00")[key].read_bytes(), key
    ply = _scene_files(synth_raw, "scene0000_00")["ply"]
    assert ply.read_bytes() != _scene_files(tmp_path / "other", "scene0000_00")["ply"].read_bytes()


def test_cli_and_bad_input(tmp_path):
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "byol3d.data.synthrooms", "--out", str(out), "--scenes", "2", "--seed",
                    "3", "--spacing", "0.08"], check=True, capture_output=True)
    assert _scene_files(out, "scene0001_00")["ply"].is_file()
    with pytest.raises(ValueError, match="path separators"):
        generate_scene("../scene0000_00", 0, 0.05)
    with pytest.raises(ValueError, match="spacing"):
        generate_scene("scene0000_00", 0, 0.0)


@pytest.fixture(scope="module")
def coarse_scenes():
    return [generate_scene(f"scene{i:04d}_00", seed=0, spacing=COARSE) for i in range(15)]


def test_all_classes_and_room_scale(coarse_scenes):
    seen = np.unique(np.concatenate([s.segment20 for s in coarse_scenes]))
    assert set(range(NUM_CLASSES)) <= set(seen.tolist())
    assert {s.scene_type for s in coarse_scenes} >= {"Office", "Kitchen", "Bathroom"}
    assert set(CATEGORIES) >= {r for s in coarse_scenes for r in s.raw_category}
    default = generate_scene("scene0004_00", seed=0, spacing=0.015)
    assert 150_000 < len(default.coord) < 900_000  # uniform 1.5 cm sampling of a furnished room


@pytest.mark.parametrize("room_type", ROOM_TYPES)
def test_furniture_does_not_overlap(room_type):
    """Floor-standing objects never share floor area and stay inside the room."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        room = make_room(rng, room_type)
        furnish(room, rng, COARSE)
        cover = np.zeros(room.occ.shape, int)
        for p in room.placed:
            if p.furn.mesh.xyz[:, 2].min() + p.pos[2] > 0.1:
                continue  # hangs on a wall or stands on something
            cells = room.footprint(p.pos, p.yaw, p.furn.size[0], p.furn.size[1], -0.03)
            assert cells is not None, f"{p.furn.raw} leaves the {room_type}"
            cover += cells
        assert cover.max() <= 1, f"overlapping furniture in a {room_type} (seed {seed})"


def _features(scene, rng, n=1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: (rgb + height), local geometry (PCA eigen-features, verticality, local height
    range at two neighbourhood sizes), label."""
    xyz = scene.coord.astype(np.float64)
    idx = rng.choice(np.flatnonzero(scene.segment20 >= 0), n, replace=False)
    tree = cKDTree(xyz)
    geo = []
    for k in (12, 40):
        q = xyz[tree.query(xyz[idx], k=k)[1]]
        p = q - q.mean(axis=1, keepdims=True)
        w, v = np.linalg.eigh(np.einsum("nki,nkj->nij", p, p) / k)
        l3, l2, l1 = np.clip(w, 1e-12, None).T
        geo += [(l1 - l2) / l1, (l2 - l3) / l1, l3 / l1, np.abs(v[:, 2, 0]), np.sqrt(l1),
                q[:, :, 2].max(axis=1) - xyz[idx, 2], xyz[idx, 2] - q[:, :, 2].min(axis=1)]
    return np.column_stack([scene.color[idx] / 255.0, xyz[idx, 2]]), np.column_stack(geo), scene.segment20[idx]


def _miou(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([((y == c) & (pred == c)).sum() / ((y == c) | (pred == c)).sum() for c in np.unique(y)]))


def test_geometry_matters(coarse_scenes):
    """Colour + height alone must not separate the classes: the same classifier given local shape
    features does much better on held-out scenes."""
    from sklearn.ensemble import ExtraTreesClassifier

    rng = np.random.default_rng(0)
    data = [_features(s, rng) for s in coarse_scenes]
    train, test = data[:10], data[10:]
    scores = {}
    for name, use_geo in (("colour+height", False), ("geometry", True)):
        x = np.vstack([np.hstack([a, g]) if use_geo else a for a, g, _ in train])
        xt = np.vstack([np.hstack([a, g]) if use_geo else a for a, g, _ in test])
        clf = ExtraTreesClassifier(60, min_samples_leaf=2, n_jobs=2, random_state=0)
        clf.fit(x, np.concatenate([y for *_, y in train]))
        scores[name] = _miou(np.concatenate([y for *_, y in test]), clf.predict(xt))
    assert scores["colour+height"] < 0.25, scores
    assert scores["geometry"] > scores["colour+height"] + 0.15, scores


def test_worker_processes_write_the_same_bytes(tmp_path):
    generate_dataset(tmp_path / "one", scenes=2, seed=3, spacing=0.08)
    generate_dataset(tmp_path / "two", scenes=2, seed=3, spacing=0.08, workers=2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert files and all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    with pytest.raises(ValueError, match="workers"):
        generate_dataset(tmp_path / "bad", scenes=1, seed=0, workers=0)
