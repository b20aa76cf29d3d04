"""open3d export and view, and the `byol3d` command: a scene and a probe's prediction as coloured .ply files
that open3d reads back; normals estimated by open3d for a scene stored without normal.npy; what
`byol3d view` would show (no window is opened); `byol3d --help`, user errors, and `python -m byol3d`
being the console script's function."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from byol3d import cli
from byol3d.config import PROFILES
from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.labels import (IGNORE_COLOR, IGNORE_INDEX, RIGHT_COLOR, SCANNET20_COLORS, SCANNET20_NAMES, WRONG_COLOR,
                                 label_colors)
from byol3d.eval.metrics import confusion_matrix
from byol3d.probe import run_probe
from byol3d.viz.export import LAYERS, export_main, geometries_to_show
from byol3d.viz.pointcloud import cloud_colors, open3d
from conftest import smoke_profile

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
WALL, FLOOR = SCANNET20_NAMES.index("wall"), SCANNET20_NAMES.index("floor")


def _byol3d(*args, env: dict = ENV) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byol3d", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def _user_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, a last line starting with `error:`, the words in it, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1].startswith("error: ")
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture(scope="module")
def probe_run(synth_processed, tmp_path_factory) -> Path:
    """A linear probe on the raw input channels (no network to train: seconds). The smoke preset scores
    exactly one validation scene, so metrics.json holds that scene's confusion matrix."""
    out = tmp_path_factory.mktemp("probe") / "raw"
    run_probe(smoke_profile("linear_probe.steps=15"), synth_processed, "raw", out)
    return out


def _read(path: Path):
    cloud = open3d().io.read_point_cloud(str(path))
    return np.asarray(cloud.points), cloud_colors(cloud), np.asarray(cloud.normals)


def _classes_of(colors: np.ndarray) -> np.ndarray:
    """(V, 3) colours, each a ScanNet20 palette colour -> (V,) class indices."""
    match = (colors[:, None, :] == np.array(SCANNET20_COLORS, dtype=np.uint8)[None]).all(axis=2)  # (V, 20)
    assert (match.sum(axis=1) == 1).all(), "a colour outside the ScanNet20 palette"
    return match.argmax(axis=1)


def test_export_writes_the_scene_and_the_prediction_the_probe_scored(synth_processed, probe_run, tmp_path):
    metrics = json.loads((probe_run / "metrics.json").read_text())
    assert len(metrics["eval_scenes"]) == 1
    scene = metrics["eval_scenes"][0]
    paths = export_main(["--data", str(synth_processed), "--scene", scene, "--probe", str(probe_run),
                         "--out", str(tmp_path / "ply")])
    assert [p.name for p in paths] == [f"{scene}_{layer}.ply" for layer in LAYERS]
    stored = load_scene(synth_processed / "val" / scene)
    label = stored["segment20"]
    read = {layer: _read(tmp_path / "ply" / f"{scene}_{layer}.ply") for layer in LAYERS}
    for coord, _, normal in read.values():  # every vertex where it is stored, with its normal
        np.testing.assert_array_equal(coord, stored["coord"].astype(np.float64))
        np.testing.assert_allclose(normal, stored["normal"], atol=1e-7)
    np.testing.assert_array_equal(read["rgb"][1], stored["color"])
    np.testing.assert_array_equal(read["gt"][1], label_colors(label))
    pred = _classes_of(read["pred"][1])
    # the prediction written is the one the probe's own evaluation scored, vertex for vertex
    np.testing.assert_array_equal(confusion_matrix(pred, label), np.array(metrics["confusion"]))
    error = read["error"][1]
    labelled, right = label != IGNORE_INDEX, pred == label
    assert (error[labelled & right] == RIGHT_COLOR).all() and (error[labelled & ~right] == WRONG_COLOR).all()
    assert (error[~labelled] == IGNORE_COLOR).all()
    assert (labelled & right).any() and (labelled & ~right).any() and (~labelled).any()


def test_normals_are_estimated_for_a_scene_without_them(synth_processed, tmp_path):
    scene_dir = list_scenes(synth_processed, "val")[0]
    copy = tmp_path / "data" / "val" / scene_dir.name
    copy.mkdir(parents=True)
    for name in ("coord", "color", "segment20"):  # a shared cache's scene: no normal.npy, no manifest
        shutil.copy(scene_dir / f"{name}.npy", copy)
    paths = export_main(["--data", str(tmp_path / "data"), "--scene", copy.name, "--out", str(tmp_path / "ply")])
    assert [p.name for p in paths] == [f"{copy.name}_rgb.ply", f"{copy.name}_gt.ply"]  # no probe: no prediction
    _, _, estimated = _read(paths[0])
    stored = load_scene(scene_dir)
    np.testing.assert_allclose(np.linalg.norm(estimated, axis=1), 1.0, atol=1e-5)
    cos = (estimated * stored["normal"]).sum(axis=1)  # (V,) with the mesh's unit normals
    planar = np.isin(stored["segment20"], (WALL, FLOOR))
    assert planar.mean() > 0.3 and (np.abs(cos[planar]) > 0.9).mean() > 0.9  # the same planes ...
    assert (cos[planar] > 0.9).mean() > 0.9  # ... and turned the same way, into the room
    assert (estimated[stored["segment20"] == FLOOR, 2] > 0.9).mean() > 0.9  # floors face up


def test_view_shows_the_layers_asked_for_side_by_side(synth_processed, probe_run, tmp_path):
    scene = list_scenes(synth_processed, "val")[0].name
    stored = load_scene(synth_processed / "val" / scene)
    data = ["--data", str(synth_processed), "--scene", scene]
    title, clouds = geometries_to_show(data)
    assert title == f"{scene}: rgb" and len(clouds) == 1
    np.testing.assert_array_equal(cloud_colors(clouds[0]), stored["color"])

    title, clouds = geometries_to_show([*data, "--probe", str(probe_run)])  # with a probe: gt | pred | error
    assert title == f"{scene}: gt | pred | error" and len(clouds) == 3
    assert all(len(c.points) == len(stored["coord"]) for c in clouds)
    np.testing.assert_array_equal(cloud_colors(clouds[0]), label_colors(stored["segment20"]))
    for left, right in zip(clouds, clouds[1:]):  # side by side along x, not on top of each other
        assert right.get_min_bound()[0] > left.get_max_bound()[0]

    paths = export_main([*data, "--out", str(tmp_path)])
    title, clouds = geometries_to_show([str(p) for p in paths])
    assert title == " | ".join(p.name for p in paths)
    np.testing.assert_array_equal(cloud_colors(clouds[1]), label_colors(stored["segment20"]))
    with pytest.raises(SystemExit):  # a prediction layer without a probe run is a bad command line
        geometries_to_show([*data, "--show", "error"])


def test_the_byol3d_command_lists_commands_and_presets_and_dispatches(synth_raw, synth_processed, tmp_path):
    result = _byol3d("--help")
    assert result.returncode == 0
    for word in [*cli.COMMANDS, *PROFILES]:
        assert word in result.stdout
    assert "usage: byol3d probe" in _byol3d("probe", "--help").stdout
    assert all(name in _byol3d("data", "--help").stdout for name in cli.DATA_COMMANDS)
    assert _byol3d("train").returncode == 2
    # in process: `byol3d data preprocess` runs byol3d.data.preprocess's main
    assert cli.main(["data", "preprocess", "--scannet-root", str(synth_raw), "--out", str(tmp_path / "p"),
                     "--splits", "val"]) == 0
    assert [p.name for p in list_scenes(tmp_path / "p", "val")] == [p.name for p in list_scenes(synth_processed, "val")]


def test_user_errors_of_export_and_view_exit_2(synth_processed, tmp_path):
    existing = list_scenes(synth_processed, "val")[0].name
    _user_error(_byol3d("export", "--data", synth_processed, "--scene", "scene9999_00", "--out", tmp_path),
                "scene9999_00", "no such scene", existing)
    no_display = {k: v for k, v in ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    _user_error(_byol3d("view", tmp_path / "a.ply", env=no_display), "no display", "byol3d export")
    # open3d that cannot be imported (e.g. libusb missing) stops export with what to install
    script = ("import sys; sys.modules['open3d'] = None; from byol3d.cli import main; "
              f"sys.exit(main(['export', '--data', {str(synth_processed)!r}, '--scene', {existing!r}, "
              f"'--out', {str(tmp_path)!r}]))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=300)
    _user_error(result, "open3d", "make setup", "libusb-1.0-0")


def test_python_m_byol3d_is_the_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["byol3d"].split(":")
    import byol3d.__main__ as as_module

    assert getattr(importlib.import_module(module), function) is as_module.main is cli.main
