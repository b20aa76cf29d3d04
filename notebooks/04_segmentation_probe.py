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
# # 04 · How good are BYOL's features for segmentation?
#
# Chapter 03 pre-trained a PointNeXt (Qian et al., NeurIPS 2022) with BYOL (Grill et al., NeurIPS 2020)
# without a single label. Here we measure what it learnt on ScanNet20 semantic segmentation (Dai et al.,
# CVPR 2017), with the protocol of 3D self-supervised learning (Sonata / MSC linear probing, CSC
# data-efficient scenes):
#
# | method | network | trained |
# |---|---|---|
# | **random probe** | randomly initialised, **frozen** | one linear layer on its features: the *floor* |
# | **BYOL probe** | BYOL-pre-trained, **frozen** | one linear layer on its features |
# | **BYOL fine-tune** | initialised from BYOL | everything, new segmentation head |
# | **scratch** | randomly initialised | everything, same schedule as fine-tune |
#
# *Frozen* means eval-mode BatchNorm (running statistics fixed) and no gradients. The probe's per-point
# features are the **hypercolumn** (every encoder stage interpolated back to the points and concatenated)
# and the decoder's output; they are standardised with the training features' mean and standard deviation
# (not learnt), then a linear layer is trained with cross-entropy.
#
# **Evaluation.** Every validation scene is voxelised (2 cm) as in training, predicted whole, and each
# original mesh vertex takes the prediction of its voxel (the voxelisation's inverse map). Metrics come
# from one confusion matrix over all vertices (unlabelled vertices excluded): IoU = TP / (TP + FP + FN)
# per class; **mIoU averages the classes that occur in the ground truth or in the predictions** (a class
# absent from both has no IoU and is left out), the ScanNet benchmark's rule; mAcc averages per-class
# recall; OA is the share of correct vertices.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | full
data_root = "../data/synthrooms/processed"  # preprocessed cache: <data_root>/<split>/<scene>/*.npy
runs_root = "../runs"  # cached runs: <runs_root>/byol/<config hash>/, <runs_root>/probe/<method>-<key>/
device = "auto"  # auto | cpu | cuda

# %% [markdown]
# On Google Colab, the next cell installs the course package from a copy of this repository and builds
# the default SynthRooms data (the same commands as `make data`). Locally, `make setup` has done this.

# %%
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    REPO_URL = ""  # set this to the git address of your copy of this repository
    if not os.path.isdir("/content/byol3d"):
        if not REPO_URL:
            raise RuntimeError("Colab: set REPO_URL in this cell to the git address of your copy of byol3d")
        subprocess.run(["git", "clone", "-q", "--depth", "1", REPO_URL, "/content/byol3d"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/byol3d"], check=True)
    sys.path.insert(0, "/content/byol3d/lib")
    os.chdir("/content/byol3d/notebooks")
    from byol3d.data.default import ensure_default_data

    ensure_default_data("../data/synthrooms/raw", data_root)

# %% [markdown]
# ## Set-up
#
# The profile's pre-training and probe configs are the ones chapters 03 and 05 use
# (`byol3d.experiments.main_configs`), so every run below is looked up in `runs_root` first and only
# trained when missing: the BYOL run is chapter 03's, and a probe is identified by its config, method,
# training scenes, checkpoint bytes and data.

# %%
import time

import numpy as np
import torch
from IPython.display import display
from plotly.subplots import make_subplots
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from byol3d import experiments
from byol3d.config import config_hash, to_dict
from byol3d.data.dataset import EvalDataset, collate_scenes
from byol3d.data.labels import NUM_CLASSES, SCANNET20_NAMES
from byol3d.eval.features import collect_features, freeze, sample_points
from byol3d.eval.predict import predict_scene
from byol3d.probe import load_probe
from byol3d.report import record_headline
from byol3d.train.checkpoint import load_pretrained
from byol3d.utils.runtime import pick_device
from byol3d.viz import (class_iou_figure, confusion_figure, embedding_figure, html_table, line_figure, setup_plotly,
                        side_by_side)

setup_plotly()
start_time = time.perf_counter()
torch_device = pick_device(device)
pre_cfg, probe_cfg = experiments.main_configs(profile, device)
VIEW_POINTS = {"smoke": 4000, "quick": 15000, "full": 30000}[profile]  # points per 3D panel (page weight)
EMBED_PER_CLASS = {"smoke": 40, "quick": 150, "full": 300}[profile]  # validation points per class in t-SNE / UMAP
VIEW_SCENES = {"smoke": 1, "quick": 2, "full": 2}[profile]  # validation scenes shown in 3D
print(f"profile {profile!r} on {torch_device}: BYOL config {config_hash(pre_cfg)}, "
      f"probe config {config_hash(probe_cfg)}")
print({k: v for k, v in to_dict(probe_cfg).items() if k not in ("model", "data", "linear_augment")})




# %% [markdown]
# ## The pre-trained encoder
#
# Chapter 03's run (`<runs_root>/byol/<config hash>`) is reused when it has finished; otherwise it is
# trained (or resumed) now.

# %%
byol = experiments.pretrain(pre_cfg, data_root, runs_root)
print(f"BYOL run {byol.run_dir} ({'reused' if byol.reused else 'trained now'})")

# %% [markdown]
# ## Four methods on all training scenes
#
# Each run trains on the training split and scores every vertex of the validation scenes it evaluates
# (`eval_fraction` of them: all in `full`; a fixed, seeded subset on the CPU profiles, where whole scenes
# of 10⁵–10⁶ points are what costs time). `seconds` is the wall time of the run when it was trained.

# %%
ARMS = {  # notebook label -> (probe method, checkpoint), the report's naming in `HEADLINE`
    "random probe": ("random", None),
    "BYOL probe": ("linear", byol.encoder),
    "BYOL fine-tune": ("finetune", byol.encoder),
    "scratch": ("scratch", None),
}
HEADLINE = {"random probe": "miou_random_linear", "BYOL probe": "miou_byol_linear",
            "BYOL fine-tune": "miou_byol_finetune", "scratch": "miou_scratch"}
runs = {name: experiments.probe(probe_cfg, data_root, runs_root, method, 1.0, ckpt)
        for name, (method, ckpt) in ARMS.items()}
results = {name: run.metrics for name, run in runs.items()}
display(html_table({
    "method": list(results),
    "mIoU (%)": [100 * m["miou"] for m in results.values()],
    "mAcc (%)": [100 * m["macc"] for m in results.values()],
    "OA (%)": [100 * m["oa"] for m in results.values()],
    "training scenes": [len(m["train_scenes"]) for m in results.values()],
    "validation scenes": [len(m["eval_scenes"]) for m in results.values()],
    "seconds": [float(m["seconds"]) for m in results.values()],
    "cached": ["yes" if run.reused else "no" for run in runs.values()],
}))
record_headline("04_segmentation_probe", {HEADLINE[name]: m["miou"] for name, m in results.items()})
gain = 100 * (results["BYOL probe"]["miou"] - results["random probe"]["miou"])
print(f"BYOL probe vs random probe: {gain:+.1f} mIoU points "
      f"({'BYOL features are more linearly separable' if gain > 0 else 'no gain over the random floor'}).")

# %% [markdown]
# ## Per-class IoU
#
# Large classes (wall, floor) are easy even for a random network; the gap between methods shows on the
# furniture. A missing bar is a class with no IoU (absent from both ground truth and predictions).

# %%
class_iou_figure({name: m["per_class_iou"] for name, m in results.items()},
                 title="Per-class IoU on the validation vertices").show()

# %% [markdown]
# ## Confusion matrix of the BYOL probe
#
# Rows are the ground truth, columns the prediction, each row normalised to sum to 1: the diagonal is
# per-class recall, the off-diagonal cells show which classes the frozen features mix up.

# %%
confusion_figure(results["BYOL probe"]["confusion"], title="BYOL probe: confusion (row-normalised)").show()

# %% [markdown]
# ## Label efficiency
#
# The same methods trained on a seeded, nested share of the training scenes (at least one scene; the same
# scenes for every method). Pre-training pays off most when labels are scarce: the gap between the BYOL
# curves and scratch is widest on the left.

# %%
EFFICIENCY_ARMS = {"byol_linear": "BYOL probe", "byol_finetune": "BYOL fine-tune", "random_linear": "random probe",
                   "scratch": "scratch"}
grid = experiments.label_efficiency(profile, data_root, runs_root, device, arms=tuple(EFFICIENCY_ARMS))
fractions = list(experiments.LABEL_FRACTIONS[profile])
efficiency = experiments.efficiency_table(grid, fractions)
record_headline("04_segmentation_probe", {"label_efficiency": efficiency})
fig = line_figure({EFFICIENCY_ARMS[arm]: ([100 * f for f in fractions], [100 * v for v in efficiency[arm]])
                   for arm in EFFICIENCY_ARMS},
                  title="Label efficiency", x_title="training scenes used (%)", y_title="mIoU (%)")
fig.update_traces(mode="lines+markers")
fig.update_xaxes(type="log")
fig.show()
display(html_table({"method": list(EFFICIENCY_ARMS.values()),
               **{f"{100 * f:g}% ({len(grid['scratch'][i].metrics['train_scenes'])} scenes)":
                  [100 * efficiency[arm][i] for arm in EFFICIENCY_ARMS] for i, f in enumerate(fractions)}}))

# %% [markdown]
# ## What do the features look like? t-SNE and UMAP
#
# Frozen per-point features (the probe's input) of validation points, a balanced sample of up to
# `EMBED_PER_CLASS` points per class so rare classes are visible, projected to 2D by t-SNE and UMAP
# (after PCA to 50 dimensions), coloured by ground-truth class: the randomly initialised network (the
# random probe's) next to the BYOL one, on the same points. Clusters of one colour mean the classes are
# separable without labels; the 5-nearest-neighbour accuracy on the full features puts a number on it.

# %%
embed_set = EvalDataset(data_root, probe_cfg.eval_split, probe_cfg.data, fraction=probe_cfg.eval_fraction)
networks = {"random init": load_probe(runs["random probe"].run_dir).backbone, "BYOL": load_pretrained(byol.encoder)}
samples = {}
for name, net in networks.items():
    net = freeze(net.to(torch_device))
    feats, labels = collect_features(net, embed_set, probe_cfg.features, torch_device,
                                     points_per_scene=EMBED_PER_CLASS * NUM_CLASSES, balanced=True, seed=0)
    rows = sample_points(labels.numpy(), EMBED_PER_CLASS * NUM_CLASSES, balanced=True, rng=np.random.default_rng(0))
    x = feats[rows].numpy()
    samples[name] = ((x - x.mean(0)) / (x.std(0) + 1e-6), labels[rows].numpy())
print({name: f"{len(y)} points, {len(np.unique(y))} classes" for name, (_, y) in samples.items()})
for name, (x, y) in samples.items():
    acc = cross_val_score(KNeighborsClassifier(5), x, y, cv=5).mean()
    print(f"{name}: 5-NN accuracy of the classes on these features {100 * acc:.1f}%")

# %%
import umap  # first import compiles numba code (~15 s)

embeddings = {"t-SNE": {}, "UMAP": {}}
for name, (x, y) in samples.items():
    reduced = PCA(n_components=min(50, x.shape[1], len(x)), random_state=0).fit_transform(x)
    embeddings["t-SNE"][name] = TSNE(perplexity=min(30, len(x) // 4), init="pca", random_state=0).fit_transform(reduced)
    embeddings["UMAP"][name] = umap.UMAP(n_neighbors=15, random_state=0).fit_transform(reduced)

for method, by_net in embeddings.items():
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{method}: {name}" for name in by_net])
    for col, (name, points) in enumerate(by_net.items(), start=1):
        for trace in embedding_figure(points, samples[name][1]).data:
            trace.showlegend = col == 1
            fig.add_trace(trace, row=1, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=480, template="plotly_white", title=f"{method} of frozen point features, by class")
    fig.show()

# %% [markdown]
# ## Predictions in 3D
#
# Validation scenes as the network sees them (2 cm voxels): ground truth, the BYOL probe's prediction and
# its errors (**red** = wrong, grey = right, black = unlabelled), side by side with linked cameras. Each
# panel draws a seeded subset of at most `VIEW_POINTS` points to keep the page light; the legend names the
# classes in their colours. Drag to rotate, scroll to zoom.

# %%
predictor = load_probe(runs["BYOL probe"].run_dir).to(torch_device)
view_set = EvalDataset(data_root, probe_cfg.eval_split, probe_cfg.data, fraction=probe_cfg.eval_fraction)
for i in range(min(VIEW_SCENES, len(view_set))):
    batch = {k: v.to(torch_device) if torch.is_tensor(v) else v for k, v in collate_scenes([view_set[i]]).items()}
    pred, _ = predict_scene(predictor, batch)
    coord, truth, pred = batch["coord"].cpu().numpy(), batch["label"].cpu().numpy(), pred.cpu().numpy()
    errors = np.where((truth == pred)[:, None], np.uint8(200), np.array([214, 39, 40], dtype=np.uint8))
    errors[truth < 0] = 0
    labelled = truth >= 0
    print(f"{batch['scene_id'][0]}: {len(coord)} voxels, {100 * (pred[labelled] == truth[labelled]).mean():.1f}% "
          "of labelled voxels right")
    side_by_side([("ground truth", coord, truth), ("BYOL probe", coord, pred), ("errors", coord, errors)],
                 max_points=VIEW_POINTS).show()

# %% [markdown]
# ## Summary
#
# The numbers above are measured by this execution (or read back from the cached runs they name). In the
# `quick` and `smoke` profiles the pre-training and every probe have a CPU budget of seconds to minutes
# on a couple of dozen synthetic rooms: they show the protocol working, not what BYOL reaches on
# ScanNet. The `full` profile (GPU, real ScanNet, PointNeXt-B, 100 epochs) is the one to compare with
# published numbers (linear probing on ScanNet20: CSC 27.3, MSC 37.3–58.2, Sonata 72.5 mIoU).

# %%
record_headline("04_segmentation_probe", {"device": str(torch_device)})
print(f"chapter 04 took {time.perf_counter() - start_time:.0f} s on {torch_device}")
