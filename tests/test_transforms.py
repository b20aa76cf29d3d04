"""Transforms on generated point sets: voxel inverse maps, crops, augmentations keeping points aligned,
colour ranges, features, overlapping BYOL crops, and config validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from byol3d.config import ConfigError, from_dict, load_yaml, save_yaml
from byol3d.transforms import (
    COLOR_MEAN,
    AugmentConfig,
    augment,
    augment_color,
    augment_geometry,
    auto_contrast,
    crop_around,
    make_features,
    overlap_fraction,
    overlapping_crops,
    random_crop,
    voxel_keys,
    voxelize,
)
from byol3d.transforms.augment import elastic_distortion


def _room(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A floor (z = 0) and a box, with colours: a small room-like point set."""
    rng = np.random.default_rng(seed)
    floor = np.c_[rng.uniform(0, 3, (n // 2, 2)), np.zeros(n // 2)]
    box = rng.uniform([1, 1, 0], [1.8, 1.6, 0.7], (n - n // 2, 3))
    coord = np.concatenate([floor, box]) + np.array([10.0, -4.0, 1.5])  # arbitrary frame
    color = rng.integers(40, 200, (n, 3)).astype(np.uint8)
    return coord, color


def _geometry_only(**changes) -> AugmentConfig:
    return AugmentConfig(jitter_sigma=0.0, elastic_p=0.0, **changes)


@pytest.mark.parametrize("random", [False, True])
def test_voxel_inverse_covers_every_vertex_within_its_voxel(random):
    coord, _ = _room()
    rng = np.random.default_rng(1) if random else None
    keep, inverse = voxelize(coord, 0.05, rng)
    keys = voxel_keys(coord, 0.05)
    assert inverse.shape == (len(coord),) and inverse.dtype == np.int64
    assert len(np.unique(keep)) == len(keep) == len(np.unique(keys))  # one point per occupied voxel
    assert inverse.min() == 0 and inverse.max() == len(keep) - 1  # every kept row is used
    np.testing.assert_array_equal(keys[keep[inverse]], keys)  # each vertex -> a kept point of its voxel
    np.testing.assert_array_equal(inverse[keep], np.arange(len(keep)))  # kept points map to themselves


def test_voxel_sampling_random_vs_deterministic():
    coord, _ = _room()
    eval_a, _ = voxelize(coord, 0.05)
    eval_b, _ = voxelize(coord, 0.05)
    np.testing.assert_array_equal(eval_a, eval_b)
    keys = voxel_keys(coord, 0.05)
    first_in_voxel = {}
    for vertex, key in enumerate(keys):
        first_in_voxel.setdefault(key, vertex)
    assert sorted(eval_a.tolist()) == sorted(first_in_voxel.values())  # lowest index per voxel
    train_a, _ = voxelize(coord, 0.05, np.random.default_rng(0))
    train_b, _ = voxelize(coord, 0.05, np.random.default_rng(0))
    train_c, _ = voxelize(coord, 0.05, np.random.default_rng(1))
    np.testing.assert_array_equal(train_a, train_b)  # seeded
    assert not np.array_equal(np.sort(train_a), np.sort(train_c))  # another seed, other points


def test_voxelize_rejects_bad_input():
    coord, _ = _room(100)
    with pytest.raises(ValueError, match="voxel_size"):
        voxelize(coord, 0.0)
    coord[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        voxelize(coord, 0.02)
    with pytest.raises(ValueError, match="non-empty"):
        voxelize(np.zeros((0, 3)), 0.02)


def test_crop_keeps_the_nearest_points():
    coord, _ = _room()
    rows, center = random_crop(coord, 1000, np.random.default_rng(3))
    assert len(rows) == 1000 and len(np.unique(rows)) == 1000 and center in rows
    dist = np.linalg.norm(coord - coord[center], axis=1)
    outside = np.setdiff1d(np.arange(len(coord)), rows)
    assert dist[rows].max() <= dist[outside].min()
    np.testing.assert_array_equal(crop_around(coord, 10**6, coord[0]), np.arange(len(coord)))
    with pytest.raises(ValueError, match="max_points"):
        crop_around(coord, 0, coord[0])


def test_rigid_augmentations_keep_point_correspondence():
    """Rotation, scale and flips are one similarity map applied to every row: pairwise distances scale
    by one factor (true only if row i stays point i) and z is only scaled."""
    coord, _ = _room(800)
    rng = np.random.default_rng(5)
    for _ in range(5):
        out = augment_geometry(coord, _geometry_only(), rng)
        ratio = pdist(out.astype(np.float64)) / pdist(coord)
        scale = ratio.mean()
        assert 0.8 <= scale <= 1.2
        np.testing.assert_allclose(ratio, scale, rtol=1e-4)  # float32 output
        np.testing.assert_allclose(out[:, 2], coord[:, 2] * scale, rtol=1e-5)
    shuffled = augment_geometry(coord, _geometry_only(), rng)[np.random.default_rng(0).permutation(len(coord))]
    ratio = pdist(shuffled.astype(np.float64)) / pdist(coord)
    assert ratio.std() > 0.1  # the check above does catch a reordering


def test_flip_and_rotation_ranges():
    coord, _ = _room(200)
    identity = augment_geometry(coord, _geometry_only(rotate_z_deg=0.0, scale_min=1.0, scale_max=1.0,
                                                      flip_p=0.0), np.random.default_rng(0))
    np.testing.assert_allclose(identity, coord, rtol=1e-6)
    flipped = augment_geometry(coord, _geometry_only(rotate_z_deg=0.0, scale_min=1.0, scale_max=1.0,
                                                     flip_p=1.0), np.random.default_rng(0))
    np.testing.assert_allclose(flipped, coord * [-1, -1, 1], rtol=1e-6)


def test_jitter_is_clipped_and_elastic_is_smooth():
    coord, _ = _room(2000)
    rigid = augment_geometry(coord, _geometry_only(), np.random.default_rng(9))
    jittered = augment_geometry(coord, AugmentConfig(elastic_p=0.0), np.random.default_rng(9))
    step = np.abs(jittered - rigid)
    assert step.max() <= 0.02 + 1e-5 and step.mean() > 1e-3
    warped = elastic_distortion(coord, 0.2, 0.4, np.random.default_rng(2))
    shift = warped - coord
    assert np.isfinite(shift).all() and 0 < np.abs(shift).mean() < 0.4
    _, nearest = cKDTree(coord).query(coord, k=2)  # each point's nearest other point (a few cm away)
    near_change = np.abs(shift - shift[nearest[:, 1]]).mean()
    far_change = np.abs(shift - shift[np.random.default_rng(0).permutation(len(shift))]).mean()
    assert near_change < 0.2 * far_change  # a smooth field: neighbours move together


def test_color_augmentations_stay_in_range():
    _, color = _room(3000)
    stretched = auto_contrast(color.astype(np.float32), blend=1.0)
    np.testing.assert_allclose(stretched.min(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(stretched.max(axis=0), 255.0, atol=1e-3)
    half = auto_contrast(color.astype(np.float32), blend=0.5)
    np.testing.assert_allclose(half, (color + stretched) / 2, atol=1e-3)
    flat = np.full((10, 3), 77.0, dtype=np.float32)
    np.testing.assert_array_equal(auto_contrast(flat, 1.0), flat)  # constant channel: left alone
    strong = AugmentConfig.strong()
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = augment_color(color, strong, rng)
        assert out.shape == color.shape and out.min() >= 0 and out.max() <= 255
    dropped = [not augment_color(color, AugmentConfig(), rng).any() for _ in range(2000)]
    assert 0.17 < np.mean(dropped) < 0.23  # colour drop p = 0.2
    always = AugmentConfig(color_drop_p=1.0)
    assert not augment_color(color, always, rng).any()
    none = AugmentConfig(autocontrast_p=0.0, color_drop_p=0.0)
    np.testing.assert_array_equal(augment_color(color, none, rng), color)


def test_augment_is_seeded_and_leaves_inputs_alone():
    coord, color = _room(500)
    before = coord.copy(), color.copy()
    a = augment(coord, color, AugmentConfig.strong(), np.random.default_rng(4))
    b = augment(coord, color, AugmentConfig.strong(), np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(coord, before[0])
    np.testing.assert_array_equal(color, before[1])


def test_features_shape_colour_and_height():
    coord, color = _room(400)
    feat = make_features(coord, color)
    assert feat.shape == (400, 7) and feat.dtype == np.float32
    np.testing.assert_allclose(feat[:, :3], coord.astype(np.float32))
    assert feat[:, 6].min() == 0.0
    np.testing.assert_allclose(feat[:, 6], coord[:, 2] - coord[:, 2].min(), atol=1e-5)
    grey = np.tile(COLOR_MEAN * 255, (400, 1))
    np.testing.assert_allclose(make_features(coord, grey)[:, 3:6], 0.0, atol=1e-5)
    below = make_features(coord, color, floor_z=coord[:, 2].min() + 0.1)
    assert below[:, 6].min() >= 0.0  # points under the given floor get height 0, never negative
    with pytest.raises(ValueError, match="shape"):
        make_features(coord, color[:10])


def test_two_crops_overlap_and_share_indices():
    coord, _ = _room(6000)
    rng = np.random.default_rng(0)
    for _ in range(10):
        rows1, rows2 = overlapping_crops(coord, 1500, shift=0.5, min_overlap=0.3, tries=8, rng=rng)
        assert len(rows1) == len(rows2) == 1500
        shared = np.intersect1d(rows1, rows2)
        assert len(shared) > 0
        assert overlap_fraction(rows1, rows2) == len(shared) / 1500
    fractions = [overlap_fraction(*overlapping_crops(coord, 1500, 0.5, 0.3, 8, rng)) for _ in range(20)]
    assert np.mean(np.array(fractions) >= 0.3) > 0.8
    whole1, whole2 = overlapping_crops(coord, 10**5, 0.5, 0.3, 8, rng)
    np.testing.assert_array_equal(whole1, whole2)
    with pytest.raises(ValueError, match="shift"):
        overlapping_crops(coord, 100, 1.5, 0.3, 8, rng)


def test_augment_config_presets_round_trip_and_errors(tmp_path):
    for preset in (AugmentConfig.weak(), AugmentConfig.default(), AugmentConfig.strong()):
        assert load_yaml(AugmentConfig, save_yaml(preset, tmp_path / "aug.yaml")) == preset
    bad = [({"scale_min": 1.3}, "scale_min"), ({"color_drop_p": 1.5}, "color_drop_p"),
           ({"rotate_z_deg": -1.0}, "rotate_z_deg"), ({"jitter_sigma": -0.1}, "jitter_sigma"),
           ({"elastic_magnitude": [0.4]}, "elastic_granularity"), ({"elastic_granularity": [0.0, 1.0]},
                                                                    "elastic_granularity")]
    for values, name in bad:
        with pytest.raises(ConfigError, match=f"AugmentConfig.{name}"):
            from_dict(AugmentConfig, values)
