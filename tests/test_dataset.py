"""Datasets on a real preprocessed SynthRooms cache: labels stay aligned with points, evaluation inverse
maps, BYOL views sharing points, offset collation, seeded determinism, nested scene subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from byol3d.config import ConfigError, from_dict, load_yaml, save_yaml
from byol3d.data.cache import list_scenes, load_scene
from byol3d.data.dataset import (
    DataConfig,
    EvalDataset,
    SegmentationDataset,
    TwoViewDataset,
    collate_scenes,
    collate_views,
    make_loader,
    select_fraction,
    set_loader_epoch,
    sparse_labels,
)
from byol3d.data.labels import IGNORE_INDEX
from byol3d.transforms import voxel_groups, voxel_keys

CFG = DataConfig(voxel_max=1500)  # a few thousand points per scene at the fixture's 3 cm spacing


def _cached(root, split, scene_id):
    return load_scene(root / split / scene_id)


def test_training_items_keep_labels_aligned(synth_processed):
    data = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=3)
    for i in range(len(data)):
        item = data[i]
        scene = _cached(synth_processed, "train", data.scene_ids[i])
        n = len(item["coord"])
        assert 0 < n <= CFG.voxel_max
        assert item["feat"].shape == (n, 7) and item["feat"].dtype == torch.float32
        assert item["label"].dtype == torch.int64 and item["index"].dtype == torch.int64
        index = item["index"].numpy()
        np.testing.assert_array_equal(item["label"].numpy(), scene["segment20"][index])  # aligned
        assert len(np.unique(voxel_keys(scene["coord"], CFG.voxel_size)[index])) == n  # one per voxel
        torch.testing.assert_close(item["feat"][:, :3], item["coord"])
        assert item["feat"][:, 6].min() >= 0
        # the augmented crop is the original crop moved by a similarity (+ jitter/elastic): sizes agree
        spread = np.ptp(scene["coord"][index], axis=0)[2]
        assert 0.5 * spread < float(np.ptp(item["coord"][:, 2].numpy())) < 2.0 * spread + 0.5


def test_items_are_seeded_by_seed_epoch_and_index(synth_processed):
    a = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=0)
    b = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=0)
    torch.testing.assert_close(a[1], b[1])
    b.set_epoch(1)
    assert not torch.equal(a[1]["index"], b[1]["index"]) or not torch.equal(a[1]["coord"], b[1]["coord"])
    a.set_epoch(1)
    torch.testing.assert_close(a[1], b[1])


def test_eval_items_map_every_vertex_back(synth_processed):
    data = EvalDataset(synth_processed, "val", CFG)
    assert len(data) == len(list_scenes(synth_processed, "val"))
    item = data[0]
    scene = _cached(synth_processed, "val", item["scene_id"])
    num_vertices = len(scene["coord"])
    inverse, index = item["inverse"].numpy(), item["index"].numpy()
    assert inverse.shape == (num_vertices,) and inverse.min() == 0 and inverse.max() == len(index) - 1
    keys = voxel_keys(scene["coord"], CFG.voxel_size)
    np.testing.assert_array_equal(keys[index[inverse]], keys)  # each vertex -> a point of its voxel
    np.testing.assert_array_equal(item["vertex_label"].numpy(), scene["segment20"])  # full resolution
    np.testing.assert_array_equal(item["label"].numpy(), scene["segment20"][index])
    again = data[0]
    assert again.pop("scene_id") == item.pop("scene_id")
    torch.testing.assert_close(again, item)  # deterministic


def test_two_views_share_points_by_index(synth_processed):
    data = TwoViewDataset(synth_processed, "train", CFG, seed=1)
    for i in range(len(data)):
        view1, view2 = data[i]
        scene = _cached(synth_processed, "train", data.scene_ids[i])
        shared, rows1, rows2 = np.intersect1d(view1["index"].numpy(), view2["index"].numpy(),
                                              return_indices=True)
        assert len(shared) > 0  # the views overlap
        for view in (view1, view2):
            assert len(view["coord"]) <= CFG.voxel_max and view["feat"].shape[1] == 7
            np.testing.assert_array_equal(view["label"].numpy(), scene["segment20"][view["index"].numpy()])
        np.testing.assert_array_equal(view1["label"][rows1], view2["label"][rows2])
        # the same original points, augmented differently in each view
        assert not torch.allclose(view1["coord"][rows1], view2["coord"][rows2])
        if len(scene["coord"]) > 2 * CFG.voxel_max:  # big enough for two distinct crops
            assert not torch.equal(view1["index"], view2["index"])


def test_collate_offsets_and_inverse(synth_processed):
    train = SegmentationDataset(synth_processed, "train", CFG, train=True)
    items = [train[i] for i in range(3)]
    batch = collate_scenes(items)
    counts = [len(item["coord"]) for item in items]
    assert batch["offset"].tolist() == np.cumsum(counts).tolist() and batch["offset"].dtype == torch.int64
    assert batch["coord"].shape == (sum(counts), 3) and batch["feat"].shape == (sum(counts), 7)
    torch.testing.assert_close(batch["label"][counts[0]:counts[0] + counts[1]], items[1]["label"])
    evaluation = EvalDataset(synth_processed, "train", CFG)
    scenes = [evaluation[0], evaluation[1]]
    batch = collate_scenes(scenes)
    first = len(scenes[0]["coord"])
    assert batch["scene_id"] == [s["scene_id"] for s in scenes]
    assert batch["vertex_offset"].tolist() == np.cumsum([len(s["inverse"]) for s in scenes]).tolist()
    second = batch["inverse"][len(scenes[0]["inverse"]):]
    assert second.min() >= first  # scene 2's vertices point at scene 2's rows
    torch.testing.assert_close(second - first, scenes[1]["inverse"])
    with pytest.raises(ValueError, match="same keys"):
        collate_scenes([items[0], scenes[0]])


def test_loader_batches_views_and_is_worker_independent(synth_processed):
    data = TwoViewDataset(synth_processed, "train", CFG, seed=2)
    loader = make_loader(data, batch_size=2, shuffle=True, seed=5)
    set_loader_epoch(loader, 3)
    batch1, batch2 = next(iter(loader))
    assert batch1["offset"].numel() == batch2["offset"].numel() == 2
    threaded = make_loader(data, batch_size=2, shuffle=True, num_workers=1, seed=5)
    set_loader_epoch(threaded, 3)
    again1, _ = next(iter(threaded))
    torch.testing.assert_close(again1, batch1)  # same order and same crops with a worker process
    pairs = collate_views([data[0], data[1]])
    assert pairs[0]["offset"].numel() == 2
    with pytest.raises(ValueError, match="shuffle=False"):
        make_loader(data, 2, shuffle=True, sampler=torch.utils.data.SequentialSampler(data))


def test_select_fraction_nested_seeded_nonempty():
    ids = [f"scene{i:04d}_00" for i in range(40)]
    small, large = select_fraction(ids, 0.1, seed=0), select_fraction(ids, 0.5, seed=0)
    assert len(small) == 4 and len(large) == 20 and set(small) <= set(large)
    assert select_fraction(ids[::-1], 0.1, seed=0) == small  # order of the input does not matter
    assert select_fraction(ids, 0.1, seed=1) != small
    assert len(select_fraction(ids, 0.001, seed=0)) == 1
    assert select_fraction(ids, 1.0, seed=3) == sorted(ids)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            select_fraction(ids, bad, seed=0)


def test_fraction_datasets_use_the_same_scenes(synth_processed):
    a = SegmentationDataset(synth_processed, "train", CFG, train=True, fraction=0.5, seed=0)
    b = TwoViewDataset(synth_processed, "train", CFG, fraction=0.5, seed=7)
    assert a.scene_ids == b.scene_ids and 1 <= len(a) < len(list_scenes(synth_processed, "train"))


def test_sparse_labels_keep_whole_voxels_and_nothing_else():
    # 6 points in 3 voxels of 1 m; the third voxel holds only ignored points, so it is never drawn
    coord = np.array([[0.1, 0, 0], [0.9, 0, 0], [1.5, 0, 0], [1.6, 0, 0], [2.5, 0, 0], [2.6, 0, 0]])
    label = np.array([3, 4, 5, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX])
    groups = voxel_groups(coord, 1.0)
    for seed in range(5):
        one = sparse_labels(label, groups, 1, np.random.default_rng(seed))
        assert one.tolist() in ([3, 4] + [IGNORE_INDEX] * 4, [IGNORE_INDEX] * 2 + [5] + [IGNORE_INDEX] * 3)
    everything = sparse_labels(label, groups, 10, np.random.default_rng(0))  # more voxels than are labelled
    np.testing.assert_array_equal(everything, label)
    with pytest.raises(ValueError, match="count"):
        sparse_labels(label, groups, 0, np.random.default_rng(0))


def test_sparse_label_datasets_label_the_same_voxels_for_every_run(synth_processed):
    a = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=0, labelled_voxels=20)
    b = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=5, fraction=0.5, labelled_voxels=20)
    full = SegmentationDataset(synth_processed, "train", CFG, train=True, seed=0)
    for i, scene_id in enumerate(a.scene_ids):
        coord, _, sparse = a.load(i)
        label = full.load(i)[2]
        kept = sparse != IGNORE_INDEX
        np.testing.assert_array_equal(sparse[kept], label[kept])  # true labels where kept
        voxels = voxel_groups(coord, CFG.voxel_size).inverse
        assert len(np.unique(voxels[kept])) == 20  # exactly 20 voxels hold the labels ...
        assert (label[np.isin(voxels, voxels[kept])] == sparse[np.isin(voxels, voxels[kept])]).all()  # ... whole
        if scene_id in b.scene_ids:  # another run seed and fraction: the same voxels
            np.testing.assert_array_equal(b.load(b.scene_ids.index(scene_id))[2], sparse)
        assert int((a[i]["label"] != IGNORE_INDEX).sum()) <= 20  # a crop: at most one point per voxel
    with pytest.raises(ValueError, match="labelled_voxels"):
        SegmentationDataset(synth_processed, "val", CFG, train=False, labelled_voxels=20)
    with pytest.raises(ValueError, match="labelled_voxels"):
        SegmentationDataset(synth_processed, "train", CFG, train=True, labelled_voxels=-1)


def test_data_config_presets_and_errors(tmp_path):
    assert (DataConfig.smoke().voxel_max, DataConfig.quick().voxel_max, DataConfig.full().voxel_max) == (
        2000, 4000, 64000)
    for preset in (DataConfig.smoke(), DataConfig.quick(), DataConfig.full()):
        assert load_yaml(DataConfig, save_yaml(preset, tmp_path / "data.yaml")) == preset
    for values, name in [({"voxel_size": 0}, "voxel_size"), ({"voxel_max": 0}, "voxel_max"),
                         ({"view_shift": 2.0}, "view_shift"), ({"view_tries": 0}, "view_tries")]:
        with pytest.raises(ConfigError, match=f"DataConfig.{name}"):
            from_dict(DataConfig, values)
    with pytest.raises(ConfigError, match="AugmentConfig.color_drop_p"):
        from_dict(DataConfig, {"augment": {"color_drop_p": 2.0}})


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="split folder not found"):
        SegmentationDataset(tmp_path, "train", CFG, train=True)
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="no scenes found"):
        SegmentationDataset(tmp_path, "train", CFG, train=True)
