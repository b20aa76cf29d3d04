"""Scenes kept in memory across datasets (byol3d.data.scene_memory): the same items, fewer reads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from byol3d.data import dataset as dataset_module
from byol3d.data.dataset import DataConfig, EvalDataset, SegmentationDataset, TwoViewDataset
from byol3d.data.scene_memory import SceneMemory
from byol3d.transforms import voxelize

CFG = DataConfig(voxel_max=1500)
POINT_KEYS = ("coord", "feat", "label", "index")


@pytest.fixture
def memory(monkeypatch) -> SceneMemory:
    """A fresh, empty process store for this test (the datasets read it through dataset_module.SCENES)."""
    fresh = SceneMemory(max_bytes=2 << 30)
    monkeypatch.setattr(dataset_module, "SCENES", fresh)
    return fresh


def _same_item(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in POINT_KEYS)


def test_kept_scenes_change_speed_not_items(synth_processed, memory):
    cached = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=4)
    fresh = SegmentationDataset(synth_processed, "train", DataConfig(voxel_max=1500, cache_voxels=False), train=True,
                                seed=4)
    for _ in range(2):  # the second pass reads the kept scene
        assert _same_item(cached[0], fresh[0])
    assert memory.reads == 1 and len(memory._arrays) == 1 and len(memory._groups) == 1
    groups = memory.groups(cached.scene_dirs[0], CFG.voxel_size, cached.load(0)[0])
    assert memory.nbytes() == sum(a.nbytes for a in cached.load(0)) + sum(a.nbytes for a in vars(groups).values())
    coord, _, _ = cached.load(0)  # the kept arrays are shared by every item of the scene: read-only
    with pytest.raises(ValueError, match="read-only"):
        coord[0, 0] = 1.0


def test_a_second_dataset_reads_nothing(synth_processed, memory):
    first = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=4)
    first.check_scenes()
    reads = memory.reads
    assert reads == len(first) and not memory._groups
    item = first[1]
    again = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=4)
    again.check_scenes()
    assert _same_item(item, again[1])
    TwoViewDataset(synth_processed, "train", CFG, seed=4)[1]
    assert memory.reads == reads and len(memory._groups) == 1  # read and grouped once for all three datasets
    SegmentationDataset(synth_processed, "train", DataConfig(voxel_max=1500, voxel_size=0.05), train=True)[1]
    assert memory.reads == reads and len(memory._groups) == 2  # the same arrays, a grouping of its own voxel size


def test_memory_stays_within_its_bound(synth_processed, memory):
    kept = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=4)
    one_scene = sum(a.nbytes for a in kept.load(0))
    memory.clear()
    memory.max_bytes = one_scene
    small = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=4)
    small.check_scenes()
    assert len(memory._arrays) == 1 and memory.array_bytes == one_scene
    reads = memory.reads
    for index in (0, 1):  # kept or read again, the same items
        assert _same_item(small[index], small[index])
    assert memory.reads == reads + 2  # scene 1 was read for each of its two items; scene 0 never again
    assert len(memory._groups) == 2  # voxel groupings are kept whatever the arrays' bound


def test_a_rewritten_scene_is_read_again(synth_processed, tmp_path, memory):
    root = tmp_path / "data"
    source = next((synth_processed / "val").iterdir())
    shutil.copytree(source, root / "val" / source.name)
    dataset = EvalDataset(root, "val", CFG)
    before = dataset[0]
    for path in (root / "val" / source.name).glob("*.npy"):  # one vertex fewer: new content and size
        np.save(path, np.load(path)[1:])
    after = EvalDataset(root, "val", CFG)[0]
    assert memory.reads == 2
    assert not torch.equal(before["index"], after["index"])


def test_evaluation_items_are_the_voxelized_scene(synth_processed, memory):
    dataset = EvalDataset(synth_processed, "val", CFG)
    for _ in range(2):  # grouped, then kept
        item = dataset[0]
        keep, inverse = voxelize(dataset.load(0)[0], CFG.voxel_size)
        assert np.array_equal(item["index"].numpy(), keep) and np.array_equal(item["inverse"].numpy(), inverse)
