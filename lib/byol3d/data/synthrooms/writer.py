"""Write SynthRooms scenes in ScanNet v2's raw on-disk layout (Dai et al., CVPR 2017):

  <out>/scans/<id>/<id>_vh_clean_2.ply                 binary little-endian mesh: float x,y,z,
                                                        uchar red,green,blue,alpha; faces as
                                                        (uchar count, int vertex_indices)
  <out>/scans/<id>/<id>_vh_clean_2.0.010000.segs.json   {"params", "sceneId", "segIndices"}
  <out>/scans/<id>/<id>.aggregation.json                {"sceneId": "scannet.<id>", "appId",
                                                        "segGroups", "segmentsFile"}
  <out>/scans/<id>/<id>.txt                             "axisAlignment = 16 numbers" and meta data
  <out>/scannetv2-labels.combined.tsv, <out>/scannetv2_train.txt, <out>/scannetv2_val.txt

Each scene folder appears atomically (temporary folder, then rename); files are byte-identical for
the same seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from byol3d.data.synthrooms.scene import SynthScene
from byol3d.utils.atomic import atomic_dir


def write_ply(path: Path, scene: SynthScene) -> None:
    """The mesh as ScanNet ships `*_vh_clean_2.ply` (alpha is always 255)."""
    vdtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
              ("alpha", "u1")]
    vertex = np.empty(len(scene.coord), dtype=vdtype)
    for i, name in enumerate("xyz"):
        vertex[name] = scene.coord[:, i]
    for i, name in enumerate(("red", "green", "blue")):
        vertex[name] = scene.color[:, i]
    vertex["alpha"] = 255
    face = np.empty(len(scene.faces), dtype=[("vertex_indices", "<i4", (3,))])
    face["vertex_indices"] = scene.faces
    elements = [PlyElement.describe(vertex, "vertex"),
                PlyElement.describe(face, "face", len_types={"vertex_indices": "u1"},
                                    val_types={"vertex_indices": "i4"})]
    PlyData(elements, text=False, byte_order="<", comments=["SynthRooms generated (byol3d)"]).write(str(path))


def _dump(obj) -> str:
    return json.dumps(obj, separators=(", ", ": "))


def write_scene(scans: Path, scene: SynthScene, seed: int, spacing: float) -> Path:
    """All per-scene files into scans/<id>/, atomically."""
    sid = scene.scene_id
    segs_name = f"{sid}_vh_clean_2.0.010000.segs.json"
    with atomic_dir(scans / sid) as tmp:
        write_ply(tmp / f"{sid}_vh_clean_2.ply", scene)
        params = {"generator": "byol3d.data.synthrooms", "seed": str(seed), "spacing": f"{spacing:g}",
                  "segMinVerts": "1"}
        (tmp / segs_name).write_text(_dump({"params": params, "sceneId": sid,
                                            "segIndices": scene.seg_ids.tolist()}))
        (tmp / f"{sid}.aggregation.json").write_text(_dump({
            "sceneId": f"scannet.{sid}", "appId": "SynthRooms.v1", "segGroups": scene.seg_groups,
            "segmentsFile": f"scannet.{segs_name}"}))
        matrix = " ".join(f"{v:.6f}" for v in scene.axis_alignment.ravel())
        (tmp / f"{sid}.txt").write_text(f"axisAlignment = {matrix}\nnumVertices = {len(scene.coord)}\n"
                                        f"sceneType = {scene.scene_type}\n")
    return scans / sid
