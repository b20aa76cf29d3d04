"""Raw ScanNet readers on tiny hand-made scenes written in ScanNet's exact file formats.

`write_raw_scene` builds a 5 x 3 vertex grid mesh whose five rows are five over-segments:
floor, chair, ceiling (nyu40 22: outside the benchmark), a category missing from the tsv, and
an unannotated segment, so every label path and every ignore reason is exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from byol3d.data.errors import DataError
from byol3d.data.scannet import read_label_map, read_scene, read_split, vertex_normals

TSV_HEADER = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class\n"
TSV_ROWS = [  # raw_category, nyu40id
    ("floor", 2), ("chair", 5), ("ceiling", 22), ("kitchen cabinets", 3), ("shower curtain", 28),
]
ROW_SEGMENTS = (10, 20, 30, 40, 50)  # over-segment id of each grid row
GROUPS = [  # objectId, raw category, segments
    (0, "floor", [10]), (1, "chair", [20]), (2, "ceiling", [30]), (3, "mystery blob", [40]),
]
EXPECTED_SEGMENT20 = np.repeat([1, 4, -1, -1, -1], 3)  # floor=1, chair=4, the rest ignored
EXPECTED_INSTANCE = np.repeat([0, 1, 2, 3, -1], 3)


def grid_mesh(rows: int = 5, cols: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(rows*cols, 3) vertices on z=0 and counter-clockwise (seen from +z) triangles."""
    y, x = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    coord = np.stack([x.ravel() * 0.1, y.ravel() * 0.1, np.zeros(rows * cols)], axis=1)
    faces = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b, d, e = r * cols + c, r * cols + c + 1, (r + 1) * cols + c, (r + 1) * cols + c + 1
            faces += [(a, b, e), (a, e, d)]
    return coord, np.array(faces, dtype=np.int64).reshape(-1, 3)


def write_ply(path: Path, coord: np.ndarray, faces: np.ndarray, alpha: bool = True, text: bool = False) -> None:
    props = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertex = np.zeros(len(coord), dtype=props + ([("alpha", "u1")] if alpha else []))
    for k, axis in enumerate("xyz"):
        vertex[axis] = coord[:, k]
    vertex["red"], vertex["green"], vertex["blue"] = np.arange(len(coord)) % 256, 7, 200
    face = np.zeros(len(faces), dtype=[("vertex_indices", "i4", (3,))])
    face["vertex_indices"] = faces
    PlyData([PlyElement.describe(vertex, "vertex"), PlyElement.describe(face, "face")], text=text).write(str(path))


def write_raw_scene(root: Path, scene_id: str, alpha: bool = True, text: bool = False,
                    coord: np.ndarray | None = None, seg_ids: list[int] | None = None,
                    groups: list | None = None, alignment: np.ndarray | None = None) -> Path:
    """One scene in ScanNet's raw layout (defaults: the 5-row grid described above). Returns its folder."""
    folder = root / "scans" / scene_id
    folder.mkdir(parents=True, exist_ok=True)
    grid, faces = grid_mesh()
    coord = grid if coord is None else coord
    faces = faces if len(coord) == len(grid) else np.zeros((0, 3), dtype=np.int64)
    write_ply(folder / f"{scene_id}_vh_clean_2.ply", coord, faces, alpha=alpha, text=text)
    seg_ids = np.repeat(ROW_SEGMENTS, 3).tolist() if seg_ids is None else seg_ids
    (folder / f"{scene_id}_vh_clean_2.0.010000.segs.json").write_text(
        json.dumps({"params": {"kThresh": "0.0001", "segMinVerts": "20"}, "sceneId": scene_id, "segIndices": seg_ids}))
    groups = GROUPS if groups is None else groups
    seg_groups = [{"id": o, "objectId": o, "segments": s, "label": lab} for o, lab, s in groups]
    (folder / f"{scene_id}.aggregation.json").write_text(
        json.dumps({"sceneId": f"scannet.{scene_id}", "appId": "Aggregator.v2", "segGroups": seg_groups,
                    "segmentsFile": f"scannet.{scene_id}_vh_clean_2.0.010000.segs.json"}))
    if alignment is not None:
        (folder / f"{scene_id}.txt").write_text(
            "colorHeight = 968\naxisAlignment = " + " ".join(f"{v:g}" for v in alignment.ravel()) + "\n")
    return folder


def write_raw_dataset(root: Path, train: list[str], val: list[str]) -> Path:
    """Label tsv, split lists and a default scene for each listed id."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{i + 1}\t{raw}\t{raw}\t1\t{nyu}\t0\t{raw}\t{raw}\n" for i, (raw, nyu) in enumerate(TSV_ROWS)]
    (root / "scannetv2-labels.combined.tsv").write_text(TSV_HEADER + "".join(rows))
    for split, ids in (("train", train), ("val", val)):
        (root / f"scannetv2_{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for scene_id in ids:
            write_raw_scene(root, scene_id)
    return root


@pytest.fixture()
def raw(tmp_path) -> Path:
    return write_raw_dataset(tmp_path / "raw", ["scene0000_00"], ["scene0001_00"])


def labels(raw: Path) -> dict[str, int]:
    return read_label_map(raw / "scannetv2-labels.combined.tsv")


def test_tsv_mapping_labels_instances_and_ignore_reasons(raw):
    label_map = labels(raw)
    assert label_map == dict(TSV_ROWS)
    scene = read_scene(raw, "scene0000_00", label_map)
    assert scene.coord.dtype == np.float32 and scene.coord.shape == (15, 3)
    assert scene.color.dtype == np.uint8 and scene.color[:, 2].tolist() == [200] * 15
    np.testing.assert_array_equal(scene.segment20, EXPECTED_SEGMENT20)
    np.testing.assert_array_equal(scene.instance, EXPECTED_INSTANCE)
    np.testing.assert_array_equal(scene.seg_ids, np.repeat(ROW_SEGMENTS, 3))
    assert scene.segment20.dtype == scene.instance.dtype == np.int64
    stats = scene.stats
    assert (stats.vertices, stats.unannotated, stats.multiply_annotated) == (15, 3, 0)
    assert stats.outside_benchmark == {"ceiling": 3} and stats.missing_from_tsv == {"mystery blob": 3}
    assert stats.ignored == int((scene.segment20 == -1).sum()) == 9


def test_other_benchmark_classes_map_through_the_tsv(tmp_path):
    raw = write_raw_dataset(tmp_path, ["scene0002_00"], [])
    groups = [(5, "kitchen cabinets", [10, 20]), (6, "shower curtain", [30]), (7, "chair", [40, 50]),
              (8, "floor", [50])]  # segment 50 annotated twice: the later group wins
    write_raw_scene(raw, "scene0002_00", groups=groups)
    scene = read_scene(raw, "scene0002_00", labels(raw))
    np.testing.assert_array_equal(scene.segment20, np.repeat([2, 2, 15, 4, 1], 3))
    np.testing.assert_array_equal(scene.instance, np.repeat([5, 5, 6, 7, 8], 3))
    assert scene.stats.multiply_annotated == 3 and scene.stats.ignored == 0


@pytest.mark.parametrize("alpha,text", [(False, False), (True, True)])
def test_ply_with_or_without_alpha_binary_or_ascii_read_the_same(raw, alpha, text):
    reference = read_scene(raw, "scene0000_00", labels(raw))
    write_raw_scene(raw, "scene0000_00", alpha=alpha, text=text)
    scene = read_scene(raw, "scene0000_00", labels(raw))
    for name in ("coord", "color", "normal", "segment20", "instance"):
        np.testing.assert_array_equal(getattr(scene, name), getattr(reference, name))


def test_normals_of_a_flat_mesh_point_up(raw):
    scene = read_scene(raw, "scene0000_00", labels(raw))
    assert scene.normal.dtype == np.float32
    np.testing.assert_allclose(scene.normal, np.tile([0, 0, 1], (15, 1)), atol=1e-6)


def test_vertex_normals_are_area_weighted_and_zero_for_loose_vertices():
    coord = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 1, 0], [0, 0, 2], [5, 5, 5]], dtype=np.float64)
    # Triangle 0 in the z=0 plane (area 2, normal +z); triangle 1 in the x=0 plane (area 1, normal +x).
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    normal = vertex_normals(coord, faces)
    np.testing.assert_allclose(normal[0], np.array([1, 0, 2]) / np.sqrt(5), rtol=1e-6)
    np.testing.assert_allclose(normal[1], [0, 0, 1])
    np.testing.assert_allclose(normal[4], [1, 0, 0])
    np.testing.assert_array_equal(normal[5], [0, 0, 0])


def test_align_applies_the_axis_alignment_to_points_and_normals(raw):
    plain = read_scene(raw, "scene0000_00", labels(raw))
    matrix = np.array([[1, 0, 0, 1], [0, 0, -1, 2], [0, 1, 0, 3], [0, 0, 0, 1]], dtype=np.float64)
    write_raw_scene(raw, "scene0000_00", alignment=matrix)
    aligned = read_scene(raw, "scene0000_00", labels(raw), align=True)
    expected = plain.coord.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    np.testing.assert_allclose(aligned.coord, expected, atol=1e-6)
    np.testing.assert_allclose(aligned.normal, np.tile([0, -1, 0], (15, 1)), atol=1e-6)
    np.testing.assert_array_equal(read_scene(raw, "scene0000_00", labels(raw)).coord, plain.coord)


def test_align_without_alignment_file_names_the_file(raw):
    with pytest.raises(DataError, match=r"scene0000_00\.txt: axis alignment file not found"):
        read_scene(raw, "scene0000_00", labels(raw), align=True)


def test_read_split_lists_scenes_and_rejects_missing_ones(raw):
    assert read_split(raw, "train") == ["scene0000_00"]
    (raw / "scannetv2_val.txt").write_text("scene0001_00\nscene0099_00\n")
    with pytest.raises(DataError, match=r"scannetv2_val\.txt: names scene 'scene0099_00' but .* does not exist"):
        read_split(raw, "val")
    assert read_split(raw, "val", check_exists=False) == ["scene0001_00", "scene0099_00"]


@pytest.mark.parametrize("bad_id", ["../scene0000_00", "scans/scene0000_00", "a\\b", "..", "/etc", ""])
def test_scene_ids_with_path_separators_are_rejected_before_touching_disk(tmp_path, bad_id):
    nowhere = tmp_path / "does-not-exist"
    with pytest.raises(DataError, match="invalid scene id"):
        read_scene(nowhere, bad_id, {})
    (tmp_path / "scannetv2_train.txt").write_text(f"scene0000_00\n{bad_id}/x\n")
    with pytest.raises(DataError, match=r"scannetv2_train\.txt line 2: invalid scene id"):
        read_split(tmp_path, "train", check_exists=False)
    assert not nowhere.exists()


def _ply(raw: Path, scene_id: str = "scene0000_00") -> Path:
    return raw / "scans" / scene_id / f"{scene_id}_vh_clean_2.ply"


def test_truncated_ply_names_the_file(raw):
    data = _ply(raw).read_bytes()
    _ply(raw).write_bytes(data[:-20])
    with pytest.raises(DataError, match=r"scene0000_00_vh_clean_2\.ply: corrupt, truncated .*early end-of-file"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_corrupt_ply_names_the_file(raw):
    _ply(raw).write_bytes(b"not a mesh at all\n" * 4)
    with pytest.raises(DataError, match=r"_vh_clean_2\.ply: corrupt"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_vertex_count_mismatch_between_ply_and_segs(raw):
    write_raw_scene(raw, "scene0000_00", seg_ids=np.repeat(ROW_SEGMENTS, 3).tolist()[:-1])
    with pytest.raises(DataError, match=r"segs\.json: segIndices has 14 entries but scene0000_00_vh_clean_2\.ply "
                                        r"has 15 vertices"):
        read_scene(raw, "scene0000_00", labels(raw))


@pytest.mark.parametrize("name", ["scene0000_00_vh_clean_2.0.010000.segs.json", "scene0000_00.aggregation.json",
                                  "scene0000_00_vh_clean_2.ply"])
def test_missing_scene_file_names_it(raw, name):
    (raw / "scans" / "scene0000_00" / name).unlink()
    with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: .*not found"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_aggregation_referencing_an_unknown_segment(raw):
    write_raw_scene(raw, "scene0000_00", groups=GROUPS + [(4, "chair", [50, 999])])
    with pytest.raises(DataError, match=r"aggregation\.json: object 4 \('chair'\) references segment 999"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_malformed_json_names_the_file(raw):
    (raw / "scans" / "scene0000_00" / "scene0000_00.aggregation.json").write_text('{"segGroups": [')
    with pytest.raises(DataError, match=r"aggregation\.json: aggregation\.json file is not valid JSON"):
        read_scene(raw, "scene0000_00", labels(raw))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_coordinates(raw, bad):
    coord, _ = grid_mesh()
    coord[7, 1] = bad
    write_raw_scene(raw, "scene0000_00", coord=coord)
    with pytest.raises(DataError, match=r"_vh_clean_2\.ply: 1 vertices have NaN/inf coordinates \(first: vertex 7\)"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_empty_scene(raw):
    write_raw_scene(raw, "scene0000_00", coord=np.zeros((0, 3)), seg_ids=[], groups=[])
    with pytest.raises(DataError, match=r"_vh_clean_2\.ply: empty scene: the PLY has 0 vertices"):
        read_scene(raw, "scene0000_00", labels(raw))


def test_malformed_label_tsv_names_file_and_line(raw):
    tsv = raw / "scannetv2-labels.combined.tsv"
    tsv.write_text(TSV_HEADER + "1\tfloor\tfloor\t1\ttwo\t0\tfloor\tfloor\n")
    with pytest.raises(DataError, match=r"labels\.combined\.tsv: line 2: nyu40id 'two' is not an integer"):
        read_label_map(tsv)
    tsv.write_text("id\tcategory\n1\tfloor\n")
    with pytest.raises(DataError, match=r"header lacks column\(s\) \['nyu40id', 'raw_category'\]"):
        read_label_map(tsv)


def test_data_error_survives_pickling_across_processes(raw):
    import pickle

    with pytest.raises(DataError) as info:
        read_scene(raw, "scene0099_00", labels(raw))
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, ValueError) and (copy.path, copy.reason, str(copy)) == (
        info.value.path, info.value.reason, str(info.value))
    assert copy.reason == "scene folder not found"
