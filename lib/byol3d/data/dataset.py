"""Datasets over the preprocessed cache (<root>/<split>/<scene>/*.npy) and their offset-batch collation.

- SegmentationDataset: training items are random crops of `voxel_max` voxelised points, augmented as
  PointNeXt does for ScanNet (Qian et al., NeurIPS 2022); evaluation items are whole scenes voxelised
  deterministically, with the inverse map back to every original vertex and the full-resolution labels.
- TwoViewDataset: two overlapping, independently augmented crops of one scene for BYOL (Grill et al.,
  NeurIPS 2020); `index` (original vertex index) tells which points the views share.

Determinism: item i of epoch e draws all its randomness from numpy's Generator seeded with
(seed, e, i), so results do not depend on DataLoader workers and a resumed run sees the same crops.
Call `set_loader_epoch(loader, epoch)` (or `dataset.set_epoch`) at the start of every epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from byol3d.config import check_fields
from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.errors import DataError
from byol3d.data.labels import IGNORE_INDEX
from byol3d.data.scene_memory import SCENES
from byol3d.transforms import (AugmentConfig, VoxelGroups, augment, make_features, overlapping_crops, random_crop,
                               voxel_groups)
from byol3d.utils.runtime import scene_rng


@dataclass
class DataConfig:
    """How scenes become network inputs: voxel size, crop size, augmentations, BYOL view overlap."""

    voxel_size: float = 0.02  # metres; PointNeXt's ScanNet setting
    voxel_max: int = 8000  # points per training crop / BYOL view (after voxelisation)
    augment: AugmentConfig = field(default_factory=AugmentConfig.default)  # segmentation training
    view_augment: AugmentConfig = field(default_factory=AugmentConfig.strong)  # each BYOL view
    view_shift: float = 0.5  # BYOL view-2 centre within this fraction of view 1's radius of its centre
    view_min_overlap: float = 0.3  # wanted share of view-1 points also in view 2 ...
    view_tries: int = 8  # ... trying up to this many view-2 centres (else the best one is kept)
    subset_seed: int = 0  # seed of the scene subset (a fraction) and of sparse labels (same for every method)
    cache_voxels: bool = True  # keep scenes in memory after their first read, for every dataset of the process
    #                            (byol3d.data.scene_memory: voxel grouping ~19 B, arrays ~35 B per vertex): fast items

    def __post_init__(self) -> None:
        checks = [
            (self.voxel_size > 0, "voxel_size", "must be > 0"),
            (self.voxel_max >= 1, "voxel_max", "must be >= 1"),
            (0 <= self.view_shift <= 1, "view_shift", "must be in [0, 1]"),
            (0 <= self.view_min_overlap <= 1, "view_min_overlap", "must be in [0, 1]"),
            (self.view_tries >= 1, "view_tries", "must be >= 1"),
        ]
        check_fields(self, checks)

    @classmethod
    def smoke(cls) -> "DataConfig":
        """Tiny crops, for seconds-long end-to-end checks."""
        return cls(voxel_max=2000)

    @classmethod
    def quick(cls) -> "DataConfig":
        """CPU-friendly: 4 cm voxels (4x fewer points than PointNeXt's 2 cm) and 4,000-point crops (batches
        of many small crops learn where two large ones do not: reports/experiments.md E3)."""
        return cls(voxel_size=0.04, voxel_max=4000)

    @classmethod
    def full(cls) -> "DataConfig":
        """PointNeXt's ScanNet setting: crops of up to 64,000 points. No voxel-grouping cache: 1,201
        scenes of ~150k vertices would hold ~3 GB per DataLoader worker; on a GPU machine the workers
        hide the sort instead."""
        return cls(voxel_max=64000, cache_voxels=False)


def select_fraction(scene_ids: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded subset of round(fraction * n) scenes (at least 1), sorted.

    Nested: for one seed, the subset for a smaller fraction is contained in that for a larger one
    (both are prefixes of one seeded permutation of the sorted ids), so every method sees the same scenes.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"select_fraction: fraction must be in (0, 1], got {fraction}")
    ids = sorted(scene_ids)
    if not ids:
        raise ValueError("select_fraction: no scenes to choose from")
    order = np.random.default_rng(seed).permutation(len(ids))
    count = max(1, int(round(fraction * len(ids))))
    return sorted(ids[i] for i in order[:count])


def sparse_labels(label: np.ndarray, groups: VoxelGroups, count: int, rng: np.random.Generator) -> np.ndarray:
    """label (V,) with only the vertices of `count` voxels labelled, every other vertex IGNORE_INDEX.

    The "limited annotations" setting of ScanNet's data-efficient benchmark (Hou et al., "Exploring
    data-efficient 3D scene understanding with contrastive scene contexts", CVPR 2021): every training
    scene, a few labelled points each. The voxels are drawn uniformly (`rng`) among those holding a
    labelled vertex; a voxel is one point at the training resolution, so a crop holds at most `count`
    labelled points of its scene.
    """
    if count < 1:
        raise ValueError(f"sparse_labels: count must be >= 1, got {count}")
    has_label = np.zeros(len(groups.starts), dtype=bool)  # (M,) voxels holding a labelled vertex
    has_label[groups.inverse[label != IGNORE_INDEX]] = True
    candidates = np.flatnonzero(has_label)
    chosen = np.zeros(len(groups.starts), dtype=bool)
    chosen[rng.choice(candidates, size=min(count, len(candidates)), replace=False)] = True
    return np.where(chosen[groups.inverse], label, IGNORE_INDEX)


def _points_to_model(
    coord: np.ndarray, color: np.ndarray, aug: AugmentConfig | None, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Augment (training), centre x/y on the points' mean (floor already at z = 0), build features.
    Returns coord (N, 3) float32, feat (N, 7) float32."""
    if aug is not None:
        coord, color = augment(coord, color, aug, rng)
    coord = np.asarray(coord, dtype=np.float32).copy()
    coord[:, :2] -= coord[:, :2].mean(axis=0)
    return coord, make_features(coord, color, floor_z=0.0)


def _rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """array[index] for a (V, C) array and (n,) row indices: the same copy, 3-4x faster than fancy
    indexing on a scene's worth of rows (numpy's take has a fast path for whole rows)."""
    return np.take(array, index, axis=0)


def _to_tensors(item: dict) -> dict:
    return {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
            for k, v in item.items()}


class _SceneDataset(Dataset):
    """Scene list, per-item seeding and loading shared by the datasets below."""

    def __init__(self, root: str | os.PathLike, split: str, cfg: DataConfig, fraction: float = 1.0,
                 seed: int = 0):
        dirs = {Path(d).name: Path(d) for d in list_scenes(root, split)}
        if not dirs:
            raise DataError(Path(root) / split, "no scenes found (run preprocessing first?)")
        self.scene_ids = select_fraction(list(dirs), fraction, cfg.subset_seed)
        self.scene_dirs = [dirs[s] for s in self.scene_ids]
        self.cfg, self.seed, self.epoch = cfg, seed, 0

    def __len__(self) -> int:
        return len(self.scene_dirs)

    def set_epoch(self, epoch: int) -> None:
        """Items of a new epoch get new crops / augmentations (DataLoader workers copy this value)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """coord (V, 3) float64 with the floor (lowest z) at 0, color (V, 3) uint8, label (V,) int64,
        read-only. load_scene has already checked shapes, finiteness and the label range. With
        `cfg.cache_voxels` the arrays are kept after the first read by any dataset of the process
        (byol3d.data.scene_memory.SCENES): an item then costs no file read, validation or float64 conversion."""
        if self.cfg.cache_voxels:
            return SCENES.arrays(self.scene_dirs[index], lambda: self._read(index))
        return self._read(index)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`load`'s arrays from disk, read-only: kept ones are shared by every item of the scene, so items copy."""
        scene = load_scene(self.scene_dirs[index])
        coord = scene["coord"].astype(np.float64)
        coord[:, 2] -= coord[:, 2].min()
        arrays = (coord, scene["color"], scene["segment20"])
        for array in arrays:
            array.flags.writeable = False
        return arrays

    def check_scenes(self) -> None:
        """Read and validate every scene once (DataError naming the file): a bad file is found before
        training, not after hours of it. The scenes read are kept as `load` keeps them."""
        for index in range(len(self)):
            self.load(index)

    def voxels(self, index: int, coord: np.ndarray) -> VoxelGroups:
        """The voxel grouping of scene `index` (its `load`ed coord). With `cfg.cache_voxels` it is
        computed once per process and kept (SCENES): sampling a random point per voxel is then cheap, where
        grouping a scene costs a sort (about 19 bytes per vertex kept)."""
        if self.cfg.cache_voxels:
            return SCENES.groups(self.scene_dirs[index], self.cfg.voxel_size, coord)
        return voxel_groups(coord, self.cfg.voxel_size)


class SegmentationDataset(_SceneDataset):
    """Items for supervised segmentation (probe / fine-tune).

    train=True: a random-voxel sample, cropped to `voxel_max` points around a random point, augmented
    with cfg.augment -> {coord (n,3), feat (n,7), label (n,), index (n,)}.
    train=False: the whole scene voxelised deterministically, not augmented -> the same keys plus
    inverse (V,) (vertex -> row), vertex_label (V,) (full-resolution labels) and scene_id (str).
    labelled_voxels > 0 (training only): each scene keeps the labels of that many voxels (`sparse_labels`,
    the same voxels for every run seed and method, drawn with cfg.subset_seed and the scene id).
    """

    def __init__(self, root: str | os.PathLike, split: str, cfg: DataConfig, train: bool,
                 fraction: float = 1.0, seed: int = 0, labelled_voxels: int = 0):
        if labelled_voxels < 0 or (labelled_voxels and not train):
            raise ValueError(f"SegmentationDataset: labelled_voxels={labelled_voxels} needs train=True and a "
                             "count >= 1 (0 = every vertex labelled); evaluation scenes keep every label")
        super().__init__(root, split, cfg, fraction, seed)
        self.train, self.labelled_voxels = train, labelled_voxels
        self._labelled_rows: dict[int, np.ndarray] = {}  # scene index -> vertices keeping their label (small)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As `_SceneDataset.load`, with the scene's sparse labels when `labelled_voxels` is set."""
        coord, color, label = super().load(index)
        if not self.labelled_voxels:
            return coord, color, label
        if index not in self._labelled_rows:
            rng = scene_rng(self.scene_ids[index], self.cfg.subset_seed)
            sparse = sparse_labels(label, self.voxels(index, coord), self.labelled_voxels, rng)
            self._labelled_rows[index] = np.flatnonzero(sparse != IGNORE_INDEX)
        rows = self._labelled_rows[index]
        sparse = np.full_like(label, IGNORE_INDEX)
        sparse[rows] = label[rows]
        return coord, color, sparse

    def __getitem__(self, index: int) -> dict:
        coord, color, label = self.load(index)
        if not self.train:
            groups = self.voxels(index, coord)
            keep, inverse = groups.sample(None), groups.inverse.copy()  # voxelize(coord, voxel_size), grouped once
            xyz, feat = _points_to_model(_rows(coord, keep), _rows(color, keep), None, None)
            return _to_tensors({"coord": xyz, "feat": feat, "label": label[keep], "index": keep,
                                "inverse": inverse, "vertex_label": label.copy(), "scene_id": self.scene_ids[index]})
        rng = self.rng(index)
        keep = self.voxels(index, coord).sample(rng)
        rows, _ = random_crop(_rows(coord, keep), self.cfg.voxel_max, rng)
        kept = keep[rows]
        xyz, feat = _points_to_model(coord[kept], color[kept], self.cfg.augment, rng)
        return _to_tensors({"coord": xyz, "feat": feat, "label": label[kept], "index": kept})


class EvalDataset(SegmentationDataset):
    """Whole scenes for evaluation: SegmentationDataset with train=False (deterministic, no crop)."""

    def __init__(self, root: str | os.PathLike, split: str, cfg: DataConfig, fraction: float = 1.0):
        super().__init__(root, split, cfg, train=False, fraction=fraction)


class TwoViewDataset(_SceneDataset):
    """BYOL items: (view1, view2), two overlapping crops of one random-voxel sample of a scene, each
    augmented independently with cfg.view_augment. Each view: {coord, feat, label, index}; labels are
    carried for monitoring only (BYOL never reads them)."""

    def __getitem__(self, index: int) -> tuple[dict, dict]:
        coord, color, label = self.load(index)
        rng = self.rng(index)
        keep = self.voxels(index, coord).sample(rng)
        cfg = self.cfg
        rows1, rows2 = overlapping_crops(_rows(coord, keep), cfg.voxel_max, cfg.view_shift, cfg.view_min_overlap,
                                         cfg.view_tries, rng)
        views = []
        for rows in (rows1, rows2):
            kept = keep[rows]
            xyz, feat = _points_to_model(coord[kept], color[kept], cfg.view_augment, rng)
            views.append(_to_tensors({"coord": xyz, "feat": feat, "label": label[kept], "index": kept}))
        return views[0], views[1]


POINT_KEYS = ("coord", "feat", "label", "index")  # (n, ...) per point, concatenated
KNOWN_KEYS = set(POINT_KEYS) | {"inverse", "vertex_label", "scene_id"}


def batch_to(batch: dict, device: torch.device) -> dict:
    """The offset batch with its tensors on `device` (non-blocking from pinned memory); lists stay."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def collate_scenes(items: list[dict]) -> dict:
    """Concatenate scene items into one offset batch (see SPEC): coord, feat, offset (B,), and label /
    index when present. Evaluation items also give inverse (V_total,) pointing at rows of the batch,
    vertex_label (V_total,), vertex_offset (B,) (cumulative vertex counts) and scene_id (list of str)."""
    if not items:
        raise ValueError("collate_scenes: empty batch")
    keys = set(items[0])
    if any(set(item) != keys for item in items) or not keys <= KNOWN_KEYS or "coord" not in keys:
        raise ValueError(f"collate_scenes: items need the same keys among {sorted(KNOWN_KEYS)} "
                         f"(with coord), got {[sorted(item) for item in items]}")
    counts = torch.tensor([len(item["coord"]) for item in items], dtype=torch.int64)
    offset = torch.cumsum(counts, 0)
    batch = {k: torch.cat([item[k] for item in items]) for k in POINT_KEYS if k in keys}
    batch["offset"] = offset
    if "inverse" in keys:
        starts = offset - counts  # first row of each scene in the batch
        batch["inverse"] = torch.cat([item["inverse"] + start for item, start in zip(items, starts)])
        batch["vertex_label"] = torch.cat([item["vertex_label"] for item in items])
        batch["vertex_offset"] = torch.cumsum(torch.tensor([len(item["inverse"]) for item in items]), 0)
    if "scene_id" in keys:
        batch["scene_id"] = [item["scene_id"] for item in items]
    return batch


def collate_views(pairs: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """[(view1, view2), ...] -> (batch of views 1, batch of views 2); scene b is item b in both."""
    return collate_scenes([p[0] for p in pairs]), collate_scenes([p[1] for p in pairs])


def make_loader(dataset: _SceneDataset, batch_size: int, shuffle: bool, num_workers: int = 0,
                sampler: Sampler | None = None, drop_last: bool = False, seed: int = 0) -> DataLoader:
    """DataLoader with the right collate function. Shuffling uses a seeded per-epoch order (a one-replica
    DistributedSampler), so a resumed run sees the same order; pass `sampler` for DDP (then shuffle
    must be False: the sampler shuffles). Workers are not persistent, so set_epoch reaches them."""
    if sampler is not None and shuffle:
        raise ValueError("make_loader: pass shuffle=False with a sampler (the sampler does the shuffling)")
    if sampler is None and shuffle:
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=seed)
    collate = collate_views if isinstance(dataset, TwoViewDataset) else collate_scenes
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate, drop_last=drop_last,
                      pin_memory=torch.cuda.is_available())  # faster non_blocking copies to the GPU


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Start epoch `epoch`: new per-item seeds in the dataset and a new order in the sampler."""
    loader.dataset.set_epoch(epoch)
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
