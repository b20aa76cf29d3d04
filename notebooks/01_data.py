# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The data: ScanNet-style indoor scans, voxels, crops and BYOL views
#
# Every experiment in this course reads scenes in the layout of ScanNet v2 (Dai et al., CVPR 2017):
# a coloured triangle mesh per room, an over-segmentation of its vertices, and object annotations whose
# raw categories map to the 20 benchmark classes (ScanNet20). ScanNet itself is gated, so by default we
# use **SynthRooms**, procedurally generated rooms written in exactly the same files, preprocessed into
# the same cache (`<split>/<scene>/{coord,color,segment20,...}.npy`) as real ScanNet would be.
#
# This notebook looks at that data the way the models see it:
# 1. dataset statistics: scenes, points, class frequencies;
# 2. one scene in 3D, coloured by RGB, by class and by over-segment;
# 3. what voxel-grid sampling keeps (the profile's voxel size: 2 cm in `full`, as in PointNeXt, Qian et al.,
#    NeurIPS 2022; 4 cm in the CPU `quick` profile);
# 4. two BYOL views (Grill et al., NeurIPS 2020) of one scene: overlapping, differently augmented crops.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | full: how many points the viewers draw, crop sizes
data_root = "../data/synthrooms/processed"  # preprocessed cache (make data)
raw_root = "../data/synthrooms/raw"  # raw ScanNet layout, for the over-segmentation (optional)
device = "auto"  # not used for computation here; kept so every notebook takes the same parameters
seed = 0
repo = ""  # Colab only: pip address of this repository (git+https://... or an uploaded .zip); or BYOL3D_REPO

# %% [markdown]
# On Google Colab, the next cell installs the course package from the address in `repo` (or the
# `BYOL3D_REPO` environment variable) and builds the default SynthRooms data, as `make data` does
# (`byol3d.colab`; README, "Explore interactively"). Locally it does nothing: `make setup` has done this.

# %%
import os
import sys

if "google.colab" in sys.modules:  # Colab only: install this course from `repo`, then build its data
    source = repo or os.environ.get("BYOL3D_REPO", "")
    if not source:
        raise RuntimeError("Colab: set `repo` in the parameters cell, or the BYOL3D_REPO environment variable, to "
                           "this repository's pip address: git+https://github.com/<you>/byol3d, or the path of an "
                           "uploaded archive of it such as /content/byol3d-main.zip")
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)
    from byol3d.colab import setup_colab

    setup_colab(data_root)

# %%
import json
from pathlib import Path

import numpy as np
import torch

from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.dataset import DataConfig, TwoViewDataset
from byol3d.data.labels import NUM_CLASSES, SCANNET20_NAMES
from byol3d.transforms import COLOR_MEAN, COLOR_STD, voxelize
from byol3d.utils.runtime import pick_device, seed_everything
from byol3d.viz import bar_figure, scene_figure, setup_plotly, side_by_side

PROFILES = ("smoke", "quick", "full")
if profile not in PROFILES:
    raise ValueError(f"01_data: profile must be one of {PROFILES}, got {profile!r}")
MAX_POINTS = {"smoke": 4000, "quick": 20000, "full": 40000}[profile]  # per 3D viewer
data_cfg = getattr(DataConfig, profile)()
data_root, raw_root = Path(data_root), Path(raw_root)
seed_everything(seed)
setup_plotly()
print(f"profile {profile}: data {data_root.resolve()}, device {pick_device(device)}, "
      f"crops of {data_cfg.voxel_max} points at {data_cfg.voxel_size} m voxels")

# %% [markdown]
# ## 1 · Dataset statistics
#
# Scenes per split and points per scene, read from each scene's label file in the cache (fast even for
# the full ScanNet), then how often each ScanNet20 class occurs. Classes are very unbalanced in
# real scans (walls and floors dominate), which is why segmentation is scored by mean IoU over classes.

# %%
splits = [s for s in ("train", "val") if (data_root / s).is_dir()]
scene_dirs = {split: list_scenes(data_root, split) for split in splits}
counts = {split: np.zeros(NUM_CLASSES + 1, dtype=np.int64) for split in splits}  # last bin: ignore (-1)
points = {split: [] for split in splits}
for split in splits:
    for scene_dir in scene_dirs[split]:
        labels = np.load(scene_dir / "segment20.npy")
        points[split].append(len(labels))
        counts[split] += np.bincount(np.where(labels < 0, NUM_CLASSES, labels), minlength=NUM_CLASSES + 1)
for split in splits:
    n = np.array(points[split])
    print(f"{split:5s}: {len(n):4d} scenes, {n.sum():>11,} points "
          f"(per scene min {n.min():,}, median {int(np.median(n)):,}, max {n.max():,}); "
          f"{counts[split][-1] / n.sum():.1%} of points ignored (label -1)")

# %%
fig = bar_figure({split: {name: int(c) for name, c in zip(SCANNET20_NAMES, counts[split][:NUM_CLASSES])}
                  for split in splits},
                 title="Points per ScanNet20 class", y_title="points", categories=SCANNET20_NAMES)
fig.update_yaxes(type="log")
fig.show()

# %% [markdown]
# Preprocessing (`python -m byol3d.data.preprocess`) wrote `summary.json` beside the cache: which scenes
# failed and why, and why vertices were set to "ignore" (never silently). Real ScanNet ignores a few
# percent of vertices: unannotated ones and categories outside the 20 benchmark classes.

# %%
summary_path = data_root / "summary.json"
if summary_path.is_file():
    summary = json.loads(summary_path.read_text())
    reasons = summary.get("ignored_by_reason", {})
    print("scenes:", summary.get("scenes"), "| failed:", summary.get("failed") or "none")
    print(f"ignored vertices: {summary.get('ignored_vertices', 0):,} of {summary.get('vertices', 0):,}: "
          f"{reasons.get('unannotated', 0):,} unannotated")
    for reason in ("outside_benchmark", "missing_from_tsv"):
        top = sorted(reasons.get(reason, {}).items(), key=lambda kv: -kv[1])[:8]
        print(f"  {reason}: " + (", ".join(f"{name} {count:,}" for name, count in top) or "none"))
else:
    print(f"no {summary_path} (a cache not written by our preprocessing)")

# %% [markdown]
# ## 2 · One scene in 3D
#
# The viewers draw a seeded random subset of the vertices (drag to rotate, scroll to zoom, click legend
# entries to hide classes). First the scan's own colours, then the ScanNet20 labels (black = ignored),
# then ScanNet's over-segmentation: the small, geometrically uniform patches that annotators labelled
# one by one. Over-segment ids exist only in the raw release (`*.segs.json`), so the third viewer reads
# the raw scene with our ScanNet reader when `raw_root` is available.

# %%
split = "val" if "val" in splits else splits[0]
scene_dir = scene_dirs[split][0]
scene_id = scene_dir.name
scene = load_scene(scene_dir)
print(f"{split}/{scene_id}: {len(scene['coord']):,} vertices, "
      f"{len(np.unique(scene['segment20'][scene['segment20'] >= 0]))} classes present")
scene_figure(scene["coord"], scene["color"], title=f"{scene_id}: RGB", max_points=MAX_POINTS).show()
scene_figure(scene["coord"], scene["segment20"], title=f"{scene_id}: ScanNet20 class",
             max_points=MAX_POINTS).show()

# %%
if (raw_root / "scans" / scene_id).is_dir():
    from byol3d.data.scannet import LABEL_TSV, read_label_map, read_scene

    raw = read_scene(raw_root, scene_id, read_label_map(raw_root / LABEL_TSV))
    palette = np.random.default_rng(seed).integers(40, 256, (raw.seg_ids.max() + 1, 3)).astype(np.uint8)
    print(f"{len(np.unique(raw.seg_ids)):,} over-segments, "
          f"{raw.stats.ignored:,} of {raw.stats.vertices:,} vertices ignored by the label mapping")
    scene_figure(raw.coord, palette[raw.seg_ids], title=f"{scene_id}: over-segments (random colours)",
                 max_points=MAX_POINTS).show()
else:
    print(f"no raw scene under {raw_root / 'scans' / scene_id}: over-segment view skipped")

# %% [markdown]
# ## 3 · Voxel-grid sampling
#
# Scans are much denser in some places than others. Keeping one point per voxel (the profile's `voxel_size`:
# 4 cm in `quick`, 2 cm in `full`, as in PointNeXt) evens the density and bounds the point count. For
# training we keep a *random* point per voxel (a new one each epoch);
# for evaluation a fixed one, together with the inverse map from every original vertex to the kept
# point of its voxel, so predictions are scored on every vertex of the original scan.

# %%
keep, inverse = voxelize(scene["coord"], data_cfg.voxel_size)
agree = (scene["segment20"][keep][inverse] == scene["segment20"]).mean()
print(f"{len(scene['coord']):,} vertices -> {len(keep):,} voxels of {data_cfg.voxel_size} m "
      f"({len(keep) / len(scene['coord']):.0%}); the inverse map covers all {len(inverse):,} vertices; "
      f"a vertex shares its voxel point's label {agree:.2%} of the time (the cost of voxelising)")

# %% [markdown]
# ## 4 · Two BYOL views of one scene
#
# BYOL learns by making the features of two augmented views of the same data agree. Our views are two
# crops of `voxel_max` points from the same voxelised scene: the second crop's centre lies inside the
# first, so they overlap, and each point keeps its original vertex index, so we know exactly which points
# the two views share. Each view is then augmented on its own: rotation about the vertical axis, scaling,
# flips, jitter, elastic distortion, auto-contrast, colour jitter and colour drop.
#
# Left: where the two crops lie in the scene. Right: the two views as the network receives them (colours
# shown after undoing the input normalisation; a view whose colours were dropped appears black).

# %%
views = TwoViewDataset(data_root, split, data_cfg, seed=seed)
view1, view2 = views[views.scene_ids.index(scene_id)]
index1, index2 = view1["index"].numpy(), view2["index"].numpy()
shared = np.intersect1d(index1, index2)
print(f"view 1: {len(index1):,} points, view 2: {len(index2):,} points, shared: {len(shared):,} "
      f"({len(shared) / len(index1):.0%} of view 1)")

region = np.full(len(scene["coord"]), 0)  # 0 elsewhere, 1 view 1 only, 2 view 2 only, 3 both
region[index1] += 1
region[index2] += 2
region_colors = np.array([[200, 200, 200], [31, 119, 180], [214, 39, 40], [148, 103, 189]], dtype=np.uint8)


def view_rgb(view: dict) -> np.ndarray:
    """Undo the colour normalisation of feat[:, 3:6] -> (N, 3) uint8 RGB for display."""
    rgb = (view["feat"][:, 3:6].numpy() * COLOR_STD + COLOR_MEAN) * 255.0
    return np.clip(rgb, 0, 255).astype(np.uint8)


scene_figure(scene["coord"], region_colors[region], max_points=MAX_POINTS,
             title="Crops in the scene: view 1 (blue), view 2 (red), both (purple)").show()
side_by_side([("view 1 (augmented)", view1["coord"].numpy(), view_rgb(view1)),
              ("view 2 (augmented)", view2["coord"].numpy(), view_rgb(view2))], max_points=MAX_POINTS).show()

# %% [markdown]
# The shared points carry the same label in both views (they are the same vertices), yet their
# coordinates and colours differ: that difference is what BYOL's prediction must see through.

# %%
_, rows1, rows2 = np.intersect1d(index1, index2, return_indices=True)
assert torch.equal(view1["label"][rows1], view2["label"][rows2])
moved = (view1["coord"][rows1] - view2["coord"][rows2]).norm(dim=1)
print(f"shared points: same labels in both views; their positions differ by {moved.mean():.2f} m on average "
      f"(after each view was re-centred, rotated and scaled)")
