"""What frozen features look like: a class-balanced sample of validation points, its k-nearest-neighbour
accuracy, and 2-D projections (t-SNE: van der Maaten & Hinton, JMLR 2008; UMAP: McInnes et al., 2018).

Chapter 04 draws a random-init network next to a BYOL one on the same points: clusters of one colour mean
the classes are separable without labels, and the k-NN accuracy puts a number on it.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from byol3d.data.dataset import SegmentationDataset
from byol3d.data.labels import NUM_CLASSES
from byol3d.eval.features import collect_features, freeze, sample_points
from byol3d.models.pointnext import PointNeXt

PROJECTIONS = ("t-SNE", "UMAP")


def embedding_sample(network: PointNeXt, dataset: SegmentationDataset, kind: str, device: torch.device,
                     per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standardised frozen features x (M, C) and labels y (M,) of up to `per_class` points per class over
    the whole dataset (balanced within each scene, then over all scenes), seeded."""
    count = per_class * NUM_CLASSES
    net = freeze(network.to(device))
    feats, labels = collect_features(net, dataset, kind, device, points_per_scene=count, balanced=True, seed=seed)
    rows = sample_points(labels.numpy(), count, balanced=True, rng=np.random.default_rng(seed))
    x = feats[rows].numpy()
    return (x - x.mean(0)) / (x.std(0) + 1e-6), labels[rows].numpy()


def knn_accuracy(x: np.ndarray, y: np.ndarray, k: int = 5, folds: int = 5) -> float:
    """Cross-validated accuracy of a k-nearest-neighbour classifier of the classes on features x (M, C)."""
    return float(cross_val_score(KNeighborsClassifier(k), x, y, cv=folds).mean())


def project_2d(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(M, 2) t-SNE or UMAP projection of x (M, C), after PCA to at most 50 dimensions."""
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; known: {list(PROJECTIONS)}")
    reduced = PCA(n_components=min(50, x.shape[1], len(x)), random_state=seed).fit_transform(x)
    if method == "t-SNE":
        return TSNE(perplexity=min(30, len(x) // 4), init="pca", random_state=seed).fit_transform(reduced)
    import umap  # first import compiles numba code (~15 s)

    return umap.UMAP(n_neighbors=15, random_state=seed).fit_transform(reduced)
