"""`byol3d export` and `byol3d view`: a scene, its ground truth and a probe's prediction as coloured point
clouds, for open3d, MeshLab or CloudCompare (the plotly viewers of the notebooks draw a subset of points;
these are every vertex).

    byol3d export --data DATA [--split val] --scene SCENE [--probe RUN_DIR] --out DIR [--device auto]
    byol3d view --data DATA [--split val] --scene SCENE [--probe RUN_DIR] [--show LAYER ...]
    byol3d view FILE.ply [FILE.ply ...]

Layers, one `SCENE_<layer>.ply` each: rgb = the scan's colours; gt = the ScanNet20 ground truth in the
palette of byol3d.data.labels (black = unlabelled); pred = the probe's prediction, same palette; error =
grey where the prediction is right, red where it is wrong, black where the vertex is unlabelled (not
scored). Every vertex is written at its stored position; a vertex takes the prediction of the voxel it
falls into, as in the probe's evaluation (byol3d.eval.predict), with the run's own voxel size, crops and
precision. Normals: the scene's normal.npy, or estimated with open3d when it has none. `view` lays
several layers or files side by side in one window.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from byol3d.config import load_yaml
from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.dataset import EvalDataset, batch_to, collate_scenes
from byol3d.data.errors import DataError
from byol3d.data.labels import IGNORE_INDEX, error_colors, label_colors
from byol3d.eval.predict import predict_scene
from byol3d.probe import load_probe
from byol3d.profile import Profile
from byol3d.utils.runtime import bf16_autocast, pick_device
from byol3d.viz.pointcloud import (estimate_normals, place_in_a_row, point_cloud, read_ply, require_display, show,
                                   write_ply)

LAYERS = ("rgb", "gt", "pred", "error")
PREDICTED = ("pred", "error")  # the layers that need a probe run
SCENES_LISTED = 10  # scene names a "no such scene" error shows


@dataclass
class ScenePoints:
    """One scene at full resolution, with what can be drawn of it."""

    scene_id: str
    coord: np.ndarray  # (V, 3) float32 metres, as stored
    color: np.ndarray  # (V, 3) uint8 RGB
    label: np.ndarray  # (V,) int64 ScanNet20 ground truth, IGNORE_INDEX = unlabelled
    normal: np.ndarray  # (V, 3) float32: the stored normals, or open3d's estimate (normals_estimated)
    normals_estimated: bool
    pred: np.ndarray | None = None  # (V,) int64 a probe's prediction per vertex, when one was asked for


def scene_dir(data_root: str | Path, split: str, scene: str) -> Path:
    """`<data_root>/<split>/<scene>`, or a DataError listing the scenes that the split does have."""
    names = [p.name for p in list_scenes(data_root, split)]
    if scene not in names:
        listed = ", ".join(names[:SCENES_LISTED])
        listed += f", ... ({len(names)} in all)" if len(names) > SCENES_LISTED else ""
        raise DataError(Path(data_root) / split / scene, f"no such scene; {split}/ has: {listed or 'no scenes'}")
    return Path(data_root) / split / scene


def predict_vertices(run_dir: str | Path, data_root: str | Path, split: str, scene: str,
                     device: torch.device) -> np.ndarray:
    """(V,) int64: the prediction of probe run `run_dir` for every vertex of the scene, made as the run's
    evaluation makes it (its voxel size, tiled crops and bf16 setting from its config.yaml)."""
    run_dir = Path(run_dir)
    profile = load_yaml(Profile, run_dir / "config.yaml")
    predictor = load_probe(run_dir).to(device)
    dataset = EvalDataset(data_root, split, profile.data)
    batch = batch_to(collate_scenes([dataset[dataset.scene_ids.index(scene)]]), device)
    crop_points = profile.data.voxel_max if profile.eval.tiled_eval else None
    with bf16_autocast(device, profile.run.amp):
        _, vertex_pred = predict_scene(predictor, batch, crop_points)  # (V,)
    return vertex_pred.cpu().numpy().astype(np.int64)


def scene_points(data_root: str | Path, split: str, scene: str, probe: str | Path | None = None,
                 device: str = "auto") -> ScenePoints:
    """Load a preprocessed scene (normals estimated with open3d when it has no normal.npy) and, with a
    probe run, predict every vertex."""
    arrays = load_scene(scene_dir(data_root, split, scene))
    estimated = "normal" not in arrays
    normal = estimate_normals(arrays["coord"]) if estimated else arrays["normal"]
    pred = None if probe is None else predict_vertices(probe, data_root, split, scene, pick_device(device))
    return ScenePoints(scene, arrays["coord"], arrays["color"], arrays["segment20"], normal, estimated, pred)


def layer_colors(points: ScenePoints, layer: str) -> np.ndarray:
    """(V, 3) uint8 colours of one layer (see the module docstring) of the scene."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; known: {list(LAYERS)}")
    if layer == "rgb":
        return points.color
    if layer == "gt":
        return label_colors(points.label)
    if points.pred is None:
        raise ValueError(f"layer {layer!r} needs a prediction (a probe run)")
    return label_colors(points.pred) if layer == "pred" else error_colors(points.label, points.pred)


def layer_cloud(points: ScenePoints, layer: str):
    """An open3d PointCloud of one layer: every vertex, its colour in that layer, its normal."""
    return point_cloud(points.coord, layer_colors(points, layer), points.normal)


def export_scene(points: ScenePoints, out_dir: str | Path) -> list[Path]:
    """Write `<out_dir>/<scene>_<layer>.ply` for rgb and gt, and pred and error when there is a prediction."""
    layers = LAYERS if points.pred is not None else tuple(x for x in LAYERS if x not in PREDICTED)
    return [write_ply(Path(out_dir) / f"{points.scene_id}_{layer}.ply", layer_cloud(points, layer))
            for layer in layers]


def _scene_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--data", type=Path, required=required, help="preprocessed cache root (<data>/<split>/<scene>)")
    parser.add_argument("--split", default="val", help="split folder of the scene (default val)")
    parser.add_argument("--scene", required=required, help="scene name, e.g. scene0002_00")
    parser.add_argument("--probe", type=Path, metavar="RUN_DIR",
                        help="a probe run folder (byol3d probe --out): adds its prediction")
    parser.add_argument("--device", default="auto", help="device of the prediction: auto, cpu, cuda")


def _describe(points: ScenePoints) -> str:
    normals = "estimated with open3d (no normal.npy)" if points.normals_estimated else "from normal.npy"
    text = f"{points.scene_id}: {len(points.coord):,} vertices, normals {normals}"
    labelled = points.label != IGNORE_INDEX
    if points.pred is not None and labelled.any():
        right = (points.pred[labelled] == points.label[labelled]).mean()
        text += f"; prediction right on {100 * right:.1f}% of the labelled vertices"
    return text


def export_main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description="Write a scene (and a probe's prediction) as coloured .ply "
                                                 "files: SCENE_rgb, SCENE_gt, with --probe SCENE_pred, SCENE_error.")
    _scene_arguments(parser, required=True)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder of the .ply files (created if needed)")
    args = parser.parse_args(argv)
    points = scene_points(args.data, args.split, args.scene, args.probe, args.device)
    print(_describe(points))
    paths = export_scene(points, args.out)
    for path in paths:
        print(f"wrote {path}")
    return paths


def _view_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Open a scene, a probe's prediction or .ply files in open3d's "
                                                 "desktop viewer (several are laid side by side).")
    parser.add_argument("ply", nargs="*", type=Path, metavar="FILE.ply",
                        help=".ply files to show (instead of --data / --scene)")
    _scene_arguments(parser, required=False)
    parser.add_argument("--show", nargs="+", choices=LAYERS,
                        help="layers to show side by side (default: rgb; with --probe: gt pred error)")
    return parser


def _geometries(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, list]:
    """(window title, open3d geometries) of parsed `view` arguments; a bad combination exits via parser.error."""
    if args.ply:
        if args.data or args.scene:
            parser.error("give .ply files or --data and --scene, not both")
        return " | ".join(p.name for p in args.ply), place_in_a_row([read_ply(p) for p in args.ply])
    if args.data is None or args.scene is None:
        parser.error("give .ply files, or --data and --scene")
    layers = args.show or (["gt", "pred", "error"] if args.probe else ["rgb"])
    needs_probe = [x for x in layers if x in PREDICTED]
    if needs_probe and args.probe is None:
        parser.error(f"--show {' '.join(needs_probe)} needs --probe RUN_DIR")
    points = scene_points(args.data, args.split, args.scene, args.probe, args.device)
    print(_describe(points))
    return f"{args.scene}: {' | '.join(layers)}", place_in_a_row([layer_cloud(points, x) for x in layers])


def geometries_to_show(argv: list[str]) -> tuple[str, list]:
    """What `byol3d view ARGV` would show, without opening a window: (window title, open3d geometries)."""
    parser = _view_parser()
    return _geometries(parser, parser.parse_args(argv))


def view_main(argv: list[str] | None = None) -> None:
    parser = _view_parser()
    args = parser.parse_args(argv)  # --help and a bad command line first ...
    require_display()  # ... then the display, before loading and predicting
    title, geometries = _geometries(parser, args)
    show(geometries, title)
