"""Readers for the raw ScanNet v2 release (Dai et al., "ScanNet", CVPR 2017).

One scene is four files in `<root>/scans/<scene>/`:
    <scene>_vh_clean_2.ply               mesh: vertices x,y,z + red,green,blue[,alpha], triangle faces
    <scene>_vh_clean_2.0.010000.segs.json `segIndices`: one over-segment id per vertex
    <scene>.aggregation.json             `segGroups`: objectId, label (a raw category), segments
    <scene>.txt                          optional `axisAlignment = <16 numbers>` (row-major 4x4)
plus `<root>/scannetv2-labels.combined.tsv` (raw_category -> nyu40id) and the split lists
`<root>/scannetv2_{train,val}.txt`.

Per-vertex labels follow the benchmark: raw category -> nyu40 id through the tsv -> ScanNet20 index.
Vertices that end up ignored (-1) are counted by reason in `LabelStats`, never dropped silently.
Every malformed input raises `DataError` naming the file and the reason.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyParseError

from byol3d.data.cache import check_metres
from byol3d.data.errors import DataError
from byol3d.data.labels import IGNORE_INDEX, nyu40_to_scannet20_table

LABEL_TSV = "scannetv2-labels.combined.tsv"
# Letters, digits, '_', '-', '.'; no separators. '..' is refused separately.
_SCENE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Faces are triangles in ScanNet; telling plyfile so lets it read them as one array (~50x faster).
_TRIANGLES = {"face": {"vertex_indices": 3, "vertex_index": 3}}


@dataclass
class LabelStats:
    """Why vertices were set to IGNORE_INDEX, so none is dropped silently."""

    vertices: int  # all vertices of the scene
    unannotated: int  # vertices in no segGroup of the aggregation
    outside_benchmark: dict[str, int]  # raw category -> vertices whose nyu40 id is not one of the 20
    missing_from_tsv: dict[str, int]  # raw category -> vertices whose category is not in the tsv
    multiply_annotated: int  # vertices claimed by more than one segGroup (the later group wins)

    @property
    def ignored(self) -> int:
        """Total vertices labelled IGNORE_INDEX."""
        return self.unannotated + sum(self.outside_benchmark.values()) + sum(self.missing_from_tsv.values())


@dataclass
class ScanNetScene:
    """One scene read from the raw release; all arrays have one row per mesh vertex."""

    scene_id: str
    coord: np.ndarray  # (V, 3) float32 metres (axis-aligned if requested)
    color: np.ndarray  # (V, 3) uint8 RGB
    normal: np.ndarray  # (V, 3) float32 unit area-weighted vertex normals, zero for vertices in no face
    segment20: np.ndarray  # (V,) int64 ScanNet20 index, IGNORE_INDEX = -1
    instance: np.ndarray  # (V,) int64 aggregation objectId, -1 unannotated
    seg_ids: np.ndarray  # (V,) int64 over-segment id from segs.json
    stats: LabelStats


@dataclass
class SegGroup:
    """One annotated object of an aggregation file."""

    object_id: int
    label: str  # raw category, a key of the label tsv
    segments: np.ndarray  # (S,) int64 over-segment ids


@dataclass
class ScenePaths:
    ply: Path
    segs: Path
    aggregation: Path
    alignment: Path


def check_scene_id(scene_id: object, source: str | Path) -> str:
    """Refuse ids that could escape `scans/` (separators, '..') before any path is built from them."""
    if not isinstance(scene_id, str) or not _SCENE_ID.match(scene_id) or ".." in scene_id:
        raise DataError(source, f"invalid scene id {scene_id!r}: use letters, digits, '_', '-', '.' "
                                "(no path separators, no '..')")
    return scene_id


def scene_paths(raw_root: str | Path, scene_id: str) -> ScenePaths:
    """The four files of a scene; the id is validated first."""
    scans = Path(raw_root) / "scans"
    folder = scans / check_scene_id(scene_id, scans)
    return ScenePaths(
        ply=folder / f"{scene_id}_vh_clean_2.ply",
        segs=folder / f"{scene_id}_vh_clean_2.0.010000.segs.json",
        aggregation=folder / f"{scene_id}.aggregation.json",
        alignment=folder / f"{scene_id}.txt",
    )


def read_label_map(tsv_path: str | Path) -> dict[str, int]:
    """`scannetv2-labels.combined.tsv` -> {raw_category: nyu40id}, columns found by header name."""
    tsv_path = Path(tsv_path)
    if not tsv_path.is_file():
        raise DataError(tsv_path, "label tsv not found")
    with open(tsv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = {"raw_category", "nyu40id"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(tsv_path, f"header lacks column(s) {sorted(missing)}")
        mapping: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            raw, nyu = row["raw_category"], (row["nyu40id"] or "").strip()
            if not nyu.isdigit() or int(nyu) > 40:
                raise DataError(tsv_path, f"line {line}: nyu40id {nyu!r} is not an integer in 0..40")
            if mapping.get(raw, int(nyu)) != int(nyu):
                raise DataError(tsv_path, f"line {line}: raw category {raw!r} mapped twice")
            mapping[raw] = int(nyu)
    return mapping


def read_split(raw_root: str | Path, split: str, check_exists: bool = True) -> list[str]:
    """Scene ids listed in `scannetv2_<split>.txt` (order kept, duplicates dropped).

    With `check_exists`, a listed scene without a folder in `scans/` is an error.
    """
    path = Path(raw_root) / f"scannetv2_{split}.txt"
    if not path.is_file():
        raise DataError(path, f"split list for {split!r} not found")
    ids: list[str] = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        scene_id = text.strip()
        if scene_id and scene_id not in ids:
            ids.append(check_scene_id(scene_id, f"{path} line {line}"))
    for scene_id in ids if check_exists else ():
        if not (Path(raw_root) / "scans" / scene_id).is_dir():
            raise DataError(path, f"names scene {scene_id!r} but {Path(raw_root) / 'scans' / scene_id} does not exist")
    return ids


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mesh -> (xyz (V,3) float64, rgb (V,3) uint8, faces (F,3) int64); alpha, if any, is dropped."""
    if not path.is_file():
        raise DataError(path, "PLY file not found")
    try:
        ply = PlyData.read(str(path), known_list_len=_TRIANGLES)
    except (PlyParseError, ValueError, OSError) as err:
        raise DataError(path, f"corrupt, truncated or non-triangle PLY ({err})") from err
    if "vertex" not in ply:
        raise DataError(path, "PLY has no 'vertex' element")
    vertex = ply["vertex"].data
    need = ("x", "y", "z", "red", "green", "blue")
    absent = [name for name in need if name not in (vertex.dtype.names or ())]
    if absent:
        raise DataError(path, f"vertex element lacks properties {absent}")
    xyz = np.stack([vertex[k] for k in "xyz"], axis=1).astype(np.float64)
    rgb = np.stack([vertex[k] for k in ("red", "green", "blue")], axis=1).astype(np.uint8)
    faces = np.zeros((0, 3), dtype=np.int64)
    if "face" in ply and ply["face"].count:
        names = [n for n in ("vertex_indices", "vertex_index") if n in ply["face"].data.dtype.names]
        if not names:
            raise DataError(path, "face element has no 'vertex_indices' list")
        faces = _triangles(path, ply["face"].data[names[0]])
    _check_mesh(path, xyz, faces)
    return xyz, rgb, faces


def _triangles(path: Path, lists: np.ndarray) -> np.ndarray:
    """Face index lists -> (F, 3) int64; ASCII PLYs come back as an object array of small arrays."""
    if lists.dtype == object:
        if any(len(face) != 3 for face in lists):
            raise DataError(path, "non-triangle face: only triangle meshes are supported")
        return np.stack(lists).astype(np.int64).reshape(-1, 3)
    return np.asarray(lists, dtype=np.int64).reshape(-1, 3)


def _check_mesh(path: Path, xyz: np.ndarray, faces: np.ndarray) -> None:
    if len(xyz) == 0:
        raise DataError(path, "empty scene: the PLY has 0 vertices")
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise DataError(path, f"{int(bad.sum())} vertices have NaN/inf coordinates (first: vertex {int(np.argmax(bad))})")
    check_metres(xyz, path)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(xyz)):
        raise DataError(path, f"face indices outside 0..{len(xyz) - 1}")


def vertex_normals(coord: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals: (V,3) coords, (F,3) triangles -> (V,3) float32 unit vectors.

    The cross product of two triangle edges has length 2 x area, so summing raw cross products onto
    the three corners weights each face by its area. Vertices in no face get a zero normal.
    """
    v0, v1, v2 = (coord[faces[:, k]] for k in range(3))
    face_normal = np.cross(v1 - v0, v2 - v0)  # (F, 3), |n| = 2 * area
    summed = np.zeros_like(coord, dtype=np.float64)
    for corner in range(3):
        for axis in range(3):
            summed[:, axis] += np.bincount(faces[:, corner], weights=face_normal[:, axis], minlength=len(coord))
    length = np.linalg.norm(summed, axis=1, keepdims=True)
    return np.divide(summed, length, out=np.zeros_like(summed), where=length > 0).astype(np.float32)


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise DataError(path, f"{what} file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"{what} file is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise DataError(path, f"{what} file should hold a JSON object")
    return data


def _int64_ids(values: object, path: Path, what: str) -> np.ndarray:
    """A JSON list of integer ids -> int64 array; floats (which a cast would truncate), booleans, strings
    and integers beyond int64 are refused, naming the file."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise DataError(path, f"{what} is not a list of integers ({err})") from err
    if array.size == 0:
        return np.zeros(array.shape, dtype=np.int64)
    if array.dtype.kind == "O":  # Python ints too large for any NumPy integer, or mixed types
        raise DataError(path, f"{what} holds values that are not int64 integers (beyond the int64 range, or mixed)")
    if array.dtype.kind not in "iu":
        kind = "fractional numbers" if array.dtype.kind == "f" else f"{array.dtype} values"
        raise DataError(path, f"{what} must be integers, found {kind} (e.g. {array.ravel()[0]!r})")
    if array.dtype.kind == "u" and array.max() > np.iinfo(np.int64).max:
        raise DataError(path, f"{what} holds values beyond the int64 range (max {array.max()})")
    return array.astype(np.int64)


def read_segs(path: Path, num_vertices: int, ply_path: Path) -> np.ndarray:
    """`segIndices` -> (V,) int64, checked against the PLY's vertex count."""
    data = _read_json(path, "segs.json")
    if "segIndices" not in data:
        raise DataError(path, "'segIndices' missing")
    seg_ids = _int64_ids(data["segIndices"], path, "'segIndices'")
    if seg_ids.ndim != 1 or len(seg_ids) != num_vertices:
        raise DataError(path, f"segIndices has {seg_ids.size} entries but {ply_path.name} has {num_vertices} vertices")
    return seg_ids


def read_aggregation(path: Path) -> list[SegGroup]:
    """`segGroups` of an aggregation file -> list of SegGroup."""
    data = _read_json(path, "aggregation.json")
    if not isinstance(data.get("segGroups"), list):
        raise DataError(path, "'segGroups' missing or not a list")
    groups = []
    for index, group in enumerate(data["segGroups"]):
        try:
            object_id, label, segments = int(group["objectId"]), str(group["label"]), group["segments"]
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise DataError(path, f"segGroups[{index}] needs objectId, label and integer segments ({err!r})") from err
        segments = _int64_ids(segments, path, f"segGroups[{index}].segments").reshape(-1)
        groups.append(SegGroup(object_id, label, segments))
    return groups


def read_axis_alignment(path: Path) -> np.ndarray:
    """`axisAlignment = m00 m01 ... m33` (row-major) -> (4, 4) float64."""
    if not path.is_file():
        raise DataError(path, "axis alignment file not found (needed by --align)")
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "axisAlignment":
            try:
                matrix = np.array([float(x) for x in value.split()], dtype=np.float64)
            except ValueError as err:
                raise DataError(path, f"axisAlignment is not numeric ({err})") from err
            if matrix.size != 16 or not np.isfinite(matrix).all():
                raise DataError(path, f"axisAlignment needs 16 finite numbers, got {matrix.size}")
            return matrix.reshape(4, 4)
    raise DataError(path, "no 'axisAlignment = ...' line")


def _vertex_groups(seg_ids: np.ndarray, groups: list[SegGroup], agg_path: Path) -> tuple[np.ndarray, int]:
    """(V,) index into `groups` for every vertex (-1 = unannotated) and the multiply-annotated count."""
    unique, inverse = np.unique(seg_ids, return_inverse=True)
    group_of_segment = np.full(len(unique), -1, dtype=np.int64)
    multiply = np.zeros(len(unique), dtype=bool)
    for index, group in enumerate(groups):
        pos = np.minimum(np.searchsorted(unique, group.segments), len(unique) - 1)
        unknown = unique[pos] != group.segments
        if unknown.any():
            raise DataError(agg_path, f"object {group.object_id} ({group.label!r}) references segment "
                                      f"{int(group.segments[unknown][0])}, which no vertex has in segs.json")
        multiply[pos[group_of_segment[pos] >= 0]] = True
        group_of_segment[pos] = index
    return group_of_segment[inverse], int(multiply[inverse].sum())


def _label_vertices(seg_ids: np.ndarray, groups: list[SegGroup], label_map: dict[str, int],
                    agg_path: Path) -> tuple[np.ndarray, np.ndarray, LabelStats]:
    """Per-vertex (segment20, instance) and the counts of ignored vertices by reason."""
    vertex_group, multiply = _vertex_groups(seg_ids, groups, agg_path)
    table = nyu40_to_scannet20_table()
    group_class = np.array([table[label_map[g.label]] if g.label in label_map else IGNORE_INDEX
                            for g in groups] + [IGNORE_INDEX], dtype=np.int64)
    group_object = np.array([g.object_id for g in groups] + [-1], dtype=np.int64)
    # Index -1 picks the trailing sentinel entry, so unannotated vertices get -1 in both arrays.
    segment20, instance = group_class[vertex_group], group_object[vertex_group]
    per_group = np.bincount(vertex_group[vertex_group >= 0], minlength=len(groups))
    outside: dict[str, int] = {}
    missing: dict[str, int] = {}
    for index, group in enumerate(groups):
        if per_group[index] and group_class[index] == IGNORE_INDEX:
            bucket = outside if group.label in label_map else missing
            bucket[group.label] = bucket.get(group.label, 0) + int(per_group[index])
    stats = LabelStats(vertices=len(seg_ids), unannotated=int((vertex_group < 0).sum()),
                       outside_benchmark=outside, missing_from_tsv=missing, multiply_annotated=multiply)
    return segment20, instance, stats


def read_scene(raw_root: str | Path, scene_id: str, label_map: dict[str, int], align: bool = False) -> ScanNetScene:
    """Read one raw scene: mesh, normals from its faces, per-vertex ScanNet20 labels and instances.

    `align` applies the scene's 4x4 axisAlignment (from <scene>.txt) to the vertices first.
    """
    paths = scene_paths(raw_root, scene_id)
    if not paths.ply.parent.is_dir():
        raise DataError(paths.ply.parent, "scene folder not found")
    for path, what in ((paths.segs, "segs.json"), (paths.aggregation, "aggregation.json")):
        if not path.is_file():
            raise DataError(path, f"{what} file not found")
    xyz, rgb, faces = read_ply(paths.ply)
    seg_ids = read_segs(paths.segs, len(xyz), paths.ply)
    groups = read_aggregation(paths.aggregation)
    if align:
        matrix = read_axis_alignment(paths.alignment)
        xyz = xyz @ matrix[:3, :3].T + matrix[:3, 3]
    segment20, instance, stats = _label_vertices(seg_ids, groups, label_map, paths.aggregation)
    return ScanNetScene(scene_id=scene_id, coord=xyz.astype(np.float32), color=rgb,
                        normal=vertex_normals(xyz, faces), segment20=segment20, instance=instance,
                        seg_ids=seg_ids, stats=stats)
