"""How hard BYOL's views are (byol3d.byol.views_check), on generated SynthRooms scenes."""

from __future__ import annotations

import dataclasses

import pytest

from byol3d.byol.views_check import pair_statistics, view_difficulty
from byol3d.data.dataset import DataConfig, TwoViewDataset
from byol3d.transforms import AugmentConfig


def _views(root, augment: AugmentConfig) -> TwoViewDataset:
    return TwoViewDataset(root, "train", dataclasses.replace(DataConfig(voxel_max=1500), view_augment=augment), seed=0)


def test_a_view_paired_with_itself_is_fully_shared_and_unchanged(synth_processed):
    view, _ = _views(synth_processed, AugmentConfig.weak())[0]
    stats = pair_statistics(view, view)
    assert stats["overlap"] == 1.0 and stats["shared_points"] == len(view["index"])
    assert stats["rgb_change"] == 0.0 and stats["height_change_m"] == 0.0
    assert stats["shortcut_hit_rate"] > 0.5  # only points with identical colour and height can be missed


def test_colour_noise_removes_the_per_point_shortcut(synth_processed):
    weak = view_difficulty(_views(synth_processed, AugmentConfig.weak()), pairs=4)
    strong = view_difficulty(_views(synth_processed, AugmentConfig.strong()), pairs=4)
    assert weak["overlap"] == pytest.approx(strong["overlap"])  # same crops: augmentation does not move points
    assert weak["rgb_change"] == 0.0 < strong["rgb_change"]
    assert strong["shortcut_hit_rate"] < 0.5 * weak["shortcut_hit_rate"]
    with pytest.raises(ValueError, match="pairs"):
        view_difficulty(_views(synth_processed, AugmentConfig.weak()), pairs=0)
