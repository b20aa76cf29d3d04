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
# # 02 · PointNeXt, stage by stage
#
# The network pre-trained in this course is **PointNeXt** (Qian et al., "PointNeXt: Revisiting
# PointNet++ with Improved Training and Scaling Strategies", NeurIPS 2022): PointNet++'s hierarchy of
# *set abstractions* with modern training and an inverted-residual block (InvResMLP) that lets it scale.
# This chapter walks one real (generated) scene through the encoder:
#
# 1. the voxelised input and the 7 input features;
# 2. farthest point sampling (FPS): the centres each stage keeps, drawn in 3D;
# 3. ball query: the neighbourhood each centre pools, and how the **receptive field** of one point grows
#    from stage to stage;
# 4. the four sizes S / B / L / XL: parameter counts against the paper's, and the forward throughput
#    measured on this machine.
#
# The weights are random here: the geometry of sampling and grouping does not depend on them.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | full: points per 3D viewer and size of the throughput test
data_root = "../data/synthrooms/processed"  # preprocessed cache: <data_root>/<split>/<scene>/*.npy
device = "auto"  # auto | cpu | cuda: where the forward passes run
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

# %% [markdown]
# ## One validation scene, as the network sees it
#
# Scenes are voxelised on the profile's grid (`data.voxel_size`: 2 cm in `full`, PointNeXt's ScanNet setting;
# 4 cm in the CPU `quick` profile; the cell prints the one used): one point per occupied voxel.
# Each point carries 7 features: its position (xyz), its colour (rgb, normalised) and its height above
# the floor. A batch concatenates scenes and records where each ends in `offset` (here one scene).

# %%
import time

import numpy as np
import plotly.graph_objects as go
import torch
from IPython.display import display

from byol3d import ops
from byol3d.data.cache import load_scene
from byol3d.data.dataset import DataConfig, EvalDataset, collate_scenes
from byol3d.models import PointNeXt, PointNeXtConfig
from byol3d.report import record_headline
from byol3d.utils.runtime import pick_device, seed_everything
from byol3d.viz import bar_figure, html_table, scene_figure, setup_plotly, side_by_side

PROFILES = ("smoke", "quick", "full")
if profile not in PROFILES:
    raise ValueError(f"02_pointnext: profile must be one of {PROFILES}, got {profile!r}")
MAX_POINTS = {"smoke": 4000, "quick": 12000, "full": 30000}[profile]  # per 3D viewer (page weight)
setup_plotly()
seed_everything(seed)
dev = pick_device(device)




scenes = EvalDataset(data_root, "val", getattr(DataConfig, profile)())
item = scenes[0]
batch = collate_scenes([item])
rgb = load_scene(scenes.scene_dirs[0])["color"][item["index"].numpy()]  # (N, 3) uint8 of the kept voxels
xyz = item["coord"].numpy()  # (N, 3)
print(f"scene {item['scene_id']}: {len(item['inverse'])} vertices -> {len(xyz)} voxels of "
      f"{100 * scenes.cfg.voxel_size:g} cm; "
      f"features {tuple(item['feat'].shape)}")
scene_figure(xyz, rgb, title=f"{item['scene_id']} after voxelisation (RGB)", max_points=MAX_POINTS).show()

# %% [markdown]
# ## The encoder's stages
#
# PointNeXt-S has five stages. Stage 0 keeps every point and lifts the 7 features to 32 channels. Each
# later stage is a **set abstraction**: FPS keeps 1/4 of the previous stage's points as centres; each
# centre gathers up to `nsample` = 32 neighbours of the previous stage within a ball of radius *r*
# (ball query); a small shared MLP on [relative position / r, neighbour feature] followed by a max over
# the neighbours gives the centre's new feature. Channels double, the radius doubles
# (0.05 → 0.1 → 0.2 → 0.4 m). Larger variants add InvResMLP blocks after each set abstraction, which
# group the stage's own points again with the next radius.
#
# `PointNeXt.encode` returns every stage's points, offsets and features; the table reads them off.

# %%
cfg = PointNeXtConfig.S()
model = PointNeXt(cfg).to(dev).eval()
with torch.no_grad():
    enc = model.encode({k: v.to(dev) for k, v in batch.items() if isinstance(v, torch.Tensor)})
coords = [c.cpu() for c in enc.coords]  # coords[s]: (N_s, 3)
offsets = [o.cpu() for o in enc.offsets]  # offsets[s]: (1,)
radii = cfg.stage_radii()  # per stage: (set-abstraction radius, InvResMLP radius)
html_table({
    "stage": list(range(len(coords))),
    "points": [len(c) for c in coords],
    "channels": [f.shape[1] for f in enc.feats],
    "grouping radius (m)": ["— (stem)"] + [radii[s][0] for s in range(1, len(coords))],
    "InvResMLP blocks": [b - 1 for b in cfg.blocks],
}, digits=2)

# %% [markdown]
# ## Farthest point sampling: the centres of each stage
#
# FPS repeatedly picks the point farthest from all points picked so far. Unlike random sampling it
# covers the scene evenly: walls, floor and small objects all keep centres. Each panel shows one stage's
# points (coloured by height); drag one panel, the others follow.

# %%
panels = [(f"stage {s}: {len(c)} points", c.numpy(), None) for s, c in enumerate(coords)]
side_by_side(panels, max_points=MAX_POINTS // 2, marker_size=2.5).show()

# %% [markdown]
# ## Ball query: what one centre of each stage pools
#
# Take the input point nearest to (0, 0, 0.8 m), the middle of the room at table height (x and y are
# centred on the scene), and, at every stage, the centre nearest to it. The coloured points are exactly
# the neighbours that centre's set abstraction groups (the same `byol3d.ops.ball_query` call the model
# makes: at most 32 of the previous stage's points within the stage's radius). The grey points are the
# scene.

# %%
target = torch.tensor(xyz[np.argmin(np.linalg.norm(xyz - [0.0, 0.0, 0.8], axis=1))])  # (3,)


def nearest_row(points: torch.Tensor) -> int:
    """Row of `points` (M, 3) nearest to the target point."""
    return int(torch.linalg.norm(points - target, dim=1).argmin())


def group_of(s: int, rows: torch.Tensor) -> torch.Tensor:
    """Rows of stage s-1 grouped by the set abstraction of stage s around its centres `rows` (R,)."""
    one = torch.tensor([len(rows)])
    idx = ops.ball_query(cfg.nsample, radii[s][0], coords[s - 1], offsets[s - 1], coords[s][rows], one)  # (R, k)
    return torch.unique(idx)


fig = scene_figure(xyz, np.full((len(xyz), 3), 200, np.uint8), title="Ball-query neighbourhoods per stage",
                   max_points=MAX_POINTS, marker_size=1.5)
colours = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"]
for s in range(1, len(coords)):
    centre = nearest_row(coords[s])
    members = coords[s - 1][group_of(s, torch.tensor([centre]))].numpy()
    c = coords[s][centre].numpy()
    fig.add_trace(go.Scatter3d(x=members[:, 0], y=members[:, 1], z=members[:, 2], mode="markers",
                               name=f"stage {s}: {len(members)} neighbours, r = {radii[s][0]:.2f} m",
                               marker=dict(size=4, color=colours[s - 1])))
    fig.add_trace(go.Scatter3d(x=[c[0]], y=[c[1]], z=[c[2]], mode="markers", showlegend=False,
                               marker=dict(size=9, color=colours[s - 1], symbol="diamond")))
fig.show()

# %% [markdown]
# ## Receptive field growth
#
# The feature of a stage-*s* centre depends on its neighbours at stage *s−1*, whose features depend on
# *their* neighbours at stage *s−2*, and so on down to the input. Following the ball-query indices back
# gives the set of **input points** that can influence one centre: its receptive field. It grows
# roughly with the doubling radius (the 32-neighbour cap and FPS spacing make it sparser than a full
# ball). InvResMLP blocks (none in PointNeXt-S) would add one more grouping per block at the same stage.

# %%
def receptive_field(s: int, rows: torch.Tensor) -> torch.Tensor:
    """Input points (stage-0 rows) that influence the stage-s centres `rows`."""
    while s > 0:
        if cfg.blocks[s] > 1:  # each InvResMLP block groups the stage's own points with radius radii[s][1]
            for _ in range(cfg.blocks[s] - 1):
                one = torch.tensor([len(rows)])
                rows = torch.unique(ops.ball_query(cfg.nsample, radii[s][1], coords[s], offsets[s],
                                                   coords[s][rows], one))
        rows, s = group_of(s, rows), s - 1
    return rows


fields = [receptive_field(s, torch.tensor([nearest_row(coords[s])])) for s in range(len(coords))]
extent = [float(np.linalg.norm(xyz[f.numpy()] - coords[s][nearest_row(coords[s])].numpy(), axis=1).max())
          for s, f in enumerate(fields)]
display(html_table(digits=3, columns={
    "stage": list(range(len(coords))),
    "grouping radius (m)": [0.0] + [radii[s][0] for s in range(1, len(coords))],
    "input points in the field": [len(f) for f in fields],
    "field extent (m)": extent,
}))
fig = scene_figure(xyz, np.full((len(xyz), 3), 200, np.uint8), title="Receptive field of one point, by stage",
                   max_points=MAX_POINTS, marker_size=1.5)
for s in range(len(coords) - 1, 0, -1):  # largest first, so smaller fields are drawn on top
    pts = xyz[fields[s].numpy()]
    fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers",
                               name=f"stage {s}: {len(pts)} input points", marker=dict(size=3, color=colours[s - 1])))
fig.show()
bar_figure({"extent": {f"stage {s}": e for s, e in enumerate(extent)}},
           title="Receptive-field extent (farthest input point, m)", y_title="metres").show()

# %% [markdown]
# ## Four sizes: parameters
#
# PointNeXt scales by width (channels of stage 0) and depth (InvResMLP blocks per stage). The paper
# reports, for ScanNet segmentation with 7 input channels and 20 classes, 0.71 M (S), 3.83 M (B),
# 7.13 M (L) and 41.59 M (XL) parameters. Our implementation counts:

# %%
OFFICIAL = {"S": 0.71, "B": 3.83, "L": 7.13, "XL": 41.59}  # millions (Qian et al., NeurIPS 2022)
models = {name: PointNeXt(PointNeXtConfig.preset(name)) for name in OFFICIAL}
params = {name: sum(p.numel() for p in m.parameters()) / 1e6 for name, m in models.items()}
html_table(digits=3, columns={
    "size": list(OFFICIAL),
    "blocks": [str(list(m.cfg.blocks)) for m in models.values()],
    "width": [m.cfg.width for m in models.values()],
    "params (M), ours": list(params.values()),
    "params (M), paper": list(OFFICIAL.values()),
    "difference (M)": [params[n] - OFFICIAL[n] for n in OFFICIAL],
})

# %% [markdown]
# ## Forward throughput on this device
#
# Inference speed of each size, measured here: a batch of two crops of the scene above, no gradients,
# after one warm-up pass. On a CPU the numbers are small (the neighbour search and grouping dominate);
# the paper measures 16 × 15k points on a V100 (227 / 158 / 115 / 46 scenes per second for S / B / L / XL).
# The `smoke` profile uses tiny inputs just to exercise the code. These are wall-clock timings of a
# couple of passes: on a shared or busy machine they vary from run to run (even the order of the sizes can).

# %%
POINTS, REPEATS = {"smoke": (1000, 1), "quick": (4000, 2), "full": (32000, 5)}[profile]


def crop_batch(n: int) -> dict:
    """Two crops of `n` points of the scene (nearest to two points), offset-batched, on the device."""
    rows = [torch.linalg.norm(item["coord"] - item["coord"][i], dim=1).argsort()[:n]
            for i in (0, len(xyz) // 2)]
    parts = [{"coord": item["coord"][r], "feat": item["feat"][r]} for r in rows]
    crop = collate_scenes(parts)
    return {k: v.to(dev) for k, v in crop.items()}


def throughput(m: PointNeXt, crop: dict) -> float:
    """Points per second of m(crop), averaged over REPEATS passes after one warm-up."""
    m = m.to(dev).eval()
    with torch.no_grad():
        m(crop)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(REPEATS):
            m(crop)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return REPEATS * len(crop["coord"]) / (time.perf_counter() - start)


crop = crop_batch(min(POINTS, len(xyz)))
speed = {name: throughput(m, crop) for name, m in models.items()}
print(f"device: {dev} ({torch.get_num_threads()} threads), input: 2 crops x {len(crop['coord']) // 2} points")
display(html_table({
    "size": list(speed),
    "params (M)": list(params.values()),
    "points / s": [round(v) for v in speed.values()],
    "crops / s": [v / (len(crop["coord"]) / 2) for v in speed.values()],
}, digits=2))
bar_figure({"points / s": speed}, title=f"Forward throughput on {dev.type} (2 x {len(crop['coord']) // 2} points)",
           y_title="points / s").show()

# %% [markdown]
# The hierarchy is what makes PointNeXt cheap: after stage 1 only a quarter of the points remain, after
# stage 4 only 1/256, yet each of them summarises metres of the scene. Chapter 03 pre-trains this
# encoder (and its decoder, which brings the coarse features back to every point) with BYOL.

# %%
record_headline("02_pointnext", {
    **{f"params_{name}_M": round(v, 3) for name, v in params.items()},
    "throughput_S_points_per_s": round(speed["S"], 1),
    "throughput_input_points": int(len(crop["coord"])),
})
