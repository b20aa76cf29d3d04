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
# # 03 · BYOL pre-training of PointNeXt
#
# This chapter pre-trains a PointNeXt (Qian et al., NeurIPS 2022) on unlabelled scenes with
# **BYOL**, *Bootstrap Your Own Latent* (Grill et al., NeurIPS 2020), then plots what happened during
# training: the loss, the EMA rate τ, the learning rate and a collapse monitor.
#
# The parameters below choose the profile: `quick` (CPU, SynthRooms, 6-11 minutes a seed on 2 cores), `full`
# (GPU, real ScanNet, PointNeXt's input setting) or `smoke` (seconds, for tests).

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | full
data_root = "../data/synthrooms/processed"  # preprocessed cache: <data_root>/<split>/<scene>/*.npy
runs_root = "../runs"  # run folders: <runs_root>/byol/<key of config and data>/
device = "auto"  # auto | cpu | cuda
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
# ## BYOL in four equations
#
# Two **views** $v, v'$ of the same scene are made by cropping it twice around nearby centres and
# augmenting each crop independently (rotation, scaling, flips, jitter, elastic distortion, colour
# changes). Two networks see them:
#
# * the **online** network, weights $\theta$: encoder $f_\theta$ → projector $g_\theta$ → predictor $q_\theta$;
# * the **target** network, weights $\xi$: encoder $f_\xi$ → projector $g_\xi$, *no* predictor.
#
# The online network predicts the target's projection of the other view. With
# $q = q_\theta(g_\theta(f_\theta(v)))$ and $z' = g_\xi(f_\xi(v'))$ the loss is the normalised mean
# squared error
#
# $$\mathcal{L}_{\theta,\xi} = \left\lVert \frac{q}{\lVert q\rVert_2} - \frac{z'}{\lVert z'\rVert_2}\right\rVert_2^2
#   = 2 - 2\,\frac{\langle q, z'\rangle}{\lVert q\rVert_2\,\lVert z'\rVert_2},$$
#
# symmetrised by swapping the views: $\mathcal{L}^{\mathrm{BYOL}} = \mathcal{L}(v \to v') + \mathcal{L}(v' \to v)$.
# Only $\theta$ receives gradients. The target is an exponential moving average of the online weights,
#
# $$\xi \leftarrow \tau\,\xi + (1-\tau)\,\theta, \qquad
#   \tau_k = 1 - (1-\tau_{\mathrm{base}})\,\frac{\cos(\pi k/K) + 1}{2},$$
#
# so $\tau$ rises from $\tau_{\mathrm{base}}$ at step $k = 0$ to $1$ at the last step $K$: the target moves
# less and less. At the start the target is an average over about $1/(1-\tau_{\mathrm{base}})$ recent online
# networks: 250 steps for the paper's 0.996, more than a CPU run's whole length, whose target would then
# stay mostly random. Our rule (`byol3d.byol.ema.tau_base_for`) scales that window to a fifteenth of the
# run, between 10 steps and the paper's 250 (so 0.996 for runs of 3,750 steps or more).
# There are no negative pairs; the predictor and the slowly moving target are
# what keep the representation from collapsing to a constant.
#
# **Points instead of images.** Projector and predictor are the paper's MLPs (Linear → BatchNorm → ReLU →
# Linear). What is compared depends on `loss`:
#
# * `global` — the paper's recipe: the coarsest encoder stage is averaged per scene view into one vector.
#   With 4 scenes per step the heads' BatchNorm then normalises over 4 rows: statistics that are mostly noise;
# * `dense` — the decoder's per-point features are compared *point by point* on the points both views
#   share (same original vertex), a fixed number of pairs per scene, so the decoder is pre-trained for
#   segmentation too;
# * `region` — the same shared points, grouped by the cells of a 0.5 m grid laid over view 1, their
#   decoder features averaged per cell in each view (every cell holds the same points in both views). It is
#   DetCon's idea (Hénaff et al., ICCV 2021: BYOL on features pooled over regions) with grid cells as
#   regions: tens of rows per scene for the heads' BatchNorm, and a region's mean that no single point's
#   colour or height gives away.
#
# `loss` joins kinds with `+`; the presets use `region+dense` (the terms summed, dense weighted by
# `dense_weight`). With `global` alone the decoder receives no gradient: it is frozen and exported at its
# initialisation.

# %% [markdown]
# ## Configuration and run folder
#
# Every setting of the course lives in one typed config tree, `byol3d.profile.Profile`: `model`, `data`,
# `byol`, `eval`, `linear_probe`, `finetune` and `run` sections, with the `smoke` / `quick` / `full`
# presets. Pre-training reads `model`, `data`, `byol` and `run`; its `byol` section is printed below. A
# run lives in a folder named by a hash of those sections and of the training data's content
# (`byol3d.run_store`), so running this notebook again with the same settings reuses the finished run
# instead of training again.

# %%
import dataclasses

import yaml
from IPython.display import display
from plotly.subplots import make_subplots

from byol3d import experiments
from byol3d.config import to_dict
from byol3d.train.metrics_log import LOG_NAME, log_summary, read_steps
from byol3d.train.checkpoint import load_pretrained
from byol3d.viz import html_table, line_figure, setup_plotly

setup_plotly()
cfg = experiments.profile_config(profile, device)  # the whole tree; this chapter reads cfg.byol mostly
print(f"profile {profile!r}, PointNeXt{tuple(cfg.model.blocks)} width {cfg.model.width}, "
      f"voxel {cfg.data.voxel_size} m, views of {cfg.data.voxel_max} points; byol section:")
print(yaml.safe_dump(to_dict(cfg.byol), sort_keys=False))

# %% [markdown]
# ## How hard are the views?
#
# What BYOL learns depends on what differs between the two views. Measured on 20 view pairs of the
# training scenes for three augmentation presets (`byol3d.byol.views_check`): the share of view 1's
# points that view 2 also holds, how much an augmentation changes a shared point's (normalised) colour
# and its height, and the **shortcut hit rate**: for each shared point of view 1, is its nearest point of
# view 2 *by colour and height alone* the same point? Near 1, the dense loss could be solved from those
# per-point channels without looking at any neighbourhood (the shortcut Sonata and MSC warn about); near 0
# it cannot. It matters at this chapter's budget: pre-trained for 600 steps on `weak` views, the BYOL loss falls to
# 0.16-0.27 (1.0-1.4 with the preset's strong views) and the encoders probe 4 to 13 points lower on each of 5 seeds
# (lab log E58).

# %%
from byol3d.byol.views_check import view_difficulty
from byol3d.data.dataset import TwoViewDataset
from byol3d.transforms import AugmentConfig

difficulty = {}
for name in ("weak", "default", "strong"):
    data_cfg = dataclasses.replace(cfg.data, view_augment=getattr(AugmentConfig, name)())
    difficulty[name] = view_difficulty(TwoViewDataset(data_root, cfg.byol.split, data_cfg, seed=0), pairs=20)
display(html_table({
    "view augmentation": [f"{n} (preset)" if getattr(AugmentConfig, n)() == cfg.data.view_augment else n
                          for n in difficulty],
    "overlap (share of view 1)": [f"{d['overlap']:.2f}" for d in difficulty.values()],
    "shared points": [f"{d['shared_points']:.0f}" for d in difficulty.values()],
    "colour change (std units)": [f"{d['rgb_change']:.2f}" for d in difficulty.values()],
    "height change (m)": [f"{d['height_change_m']:.3f}" for d in difficulty.values()],
    "shortcut hit rate": [f"{d['shortcut_hit_rate']:.3f}" for d in difficulty.values()],
}))

# %% [markdown]
# ## Pre-train (or reuse)
#
# `run_pretrain` writes `config.yaml`, one line of metrics per step to `metrics.jsonl` (and the same
# numbers as TensorBoard event files in `tensorboard/`: `make tensorboard` shows every run), a checkpoint
# every `ckpt_every` steps (atomically, so a crash never leaves half a file) and finally `encoder.pt`,
# the online PointNeXt that the probe chapter loads. An interrupted run continues exactly with
# `python -m byol3d.pretrain ... --resume`; `torchrun --nproc_per_node=N -m byol3d.pretrain ...` trains
# on several GPUs with DistributedDataParallel.
#
#
# Every headline number of chapter 04 is a mean over seeds, so the pre-training runs once per seed of
# `experiments.SEEDS` (seed *s* changes the initial weights, the data order, the augmentations and the
# dense pairs); the plots below show seed 0, the table all of them.

# %%
seeded = experiments.seeded_pretrains(profile, data_root, runs_root, device)
run_dir = seeded[0].run_dir  # seed 0 is the preset itself
print(f"seed 0 run folder: {run_dir}")
logs = {seed: read_steps(run.run_dir / LOG_NAME) for seed, run in zip(experiments.SEEDS[profile], seeded)}
summaries = [log_summary(rows) for rows in logs.values()]  # final loss and monitors, step times
display(html_table({
    "seed": list(logs),
    "steps": [s["steps"] for s in summaries],
    "final loss": [f"{s['loss']:.3f}" for s in summaries],
    "final collapse std": [f"{s['collapse_std']:.4f}" for s in summaries],
    "median step (s)": [f"{s['median_step_seconds']:.2f}" for s in summaries],
    "reused": ["yes" if run.reused else "no" for run in seeded],
}))
rows = logs[experiments.SEEDS[profile][0]]

# %% [markdown]
# ## Loss
#
# The loss of one direction is $2 - 2\cos$: 0 for a perfect prediction, 2 for an orthogonal one. At the
# start predictions and targets are nearly orthogonal, so each symmetrised term (region, dense) starts
# near $2 + 2 = 4$; the loss falls quickly as the online network learns to predict the slowly moving
# target. It does not go to 0: the two views differ (crop, augmentation) and the target keeps moving.

# %%
steps = [r["step"] for r in rows]
series = {name: (steps, [r[key] for r in rows])
          for key, name in (("loss", "total"), ("loss_global", "global"), ("loss_region", "region"),
                            ("loss_dense", "dense"))
          if rows[0].get(key) is not None}
line_figure(series, title="BYOL loss (symmetrised 2 − 2 cos)", x_title="step", y_title="loss").show()

# %% [markdown]
# ## Schedules: τ and the learning rate
#
# τ follows the cosine schedule above; the learning rate warms up linearly and then decays with a cosine.

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("EMA rate τ", "learning rate"))
fig.add_scatter(x=steps, y=[r["tau"] for r in rows], mode="lines", name="τ", row=1, col=1)
fig.add_scatter(x=steps, y=[r["lr"] for r in rows], mode="lines", name="lr", row=1, col=2)
fig.update_xaxes(title_text="step")
fig.update_layout(height=340, showlegend=False)
fig.show()

# %% [markdown]
# ## Collapse monitor
#
# Left: the standard deviation, per dimension, of the L2-normalised online projections, averaged over
# dimensions. Vectors spread over the unit sphere of $\mathbb{R}^d$ give about $1/\sqrt{d}$ (dashed
# line); a collapsed network, which maps everything to one vector, gives 0. Right: the cosine between the
# online and the target projections of the same inputs: it says how far the target lags behind.

# %%
healthy = 1 / cfg.byol.proj_out**0.5
fig = make_subplots(rows=1, cols=2, subplot_titles=("std of normalised projections", "cos(online, target)"))
fig.add_scatter(x=steps, y=[r["collapse_std"] for r in rows], mode="lines", name="std", row=1, col=1)
fig.add_hline(y=healthy, line_dash="dash", annotation_text="1/√d", row=1, col=1)
fig.add_scatter(x=steps, y=[r["cos_online_target"] for r in rows], mode="lines", name="cos", row=1, col=2)
fig.update_xaxes(title_text="step")
fig.update_yaxes(rangemode="tozero", row=1, col=1)
fig.update_layout(height=340, showlegend=False)
fig.show()
ratio = rows[-1]["collapse_std"] / healthy
print(f"final collapse std {rows[-1]['collapse_std']:.4f} = {ratio:.2f} x 1/sqrt(d): "
      + ("no collapse" if ratio > 0.3 else "COLLAPSE WARNING"))

# %% [markdown]
# ## The exported encoder
#
# `encoder.pt` holds the online PointNeXt's weights and its config; `load_pretrained` rebuilds the model.
# Chapter 04 freezes it and trains a linear probe on its features, or fine-tunes it.

# %%
encoder = load_pretrained(run_dir / "encoder.pt")
params = sum(p.numel() for p in encoder.parameters())
print(f"PointNeXt{tuple(encoder.cfg.blocks)} width {encoder.cfg.width}: {params / 1e6:.2f} M parameters, "
      f"encoder channels {encoder.encoder_channels}")
