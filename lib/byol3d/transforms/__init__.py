"""Point-cloud transforms (numpy in, numpy out; randomness only from a numpy Generator passed in):
voxel-grid sampling with its inverse map, spherical crops, the PointNeXt ScanNet augmentations, the
7-channel input features, and two overlapping crops for BYOL."""

from byol3d.transforms.augment import AugmentConfig, augment, augment_color, augment_geometry, auto_contrast
from byol3d.transforms.crop import crop_around, random_crop, tile_crops
from byol3d.transforms.features import COLOR_MEAN, COLOR_STD, NUM_FEATURES, make_features, normalize_color
from byol3d.transforms.views import overlap_fraction, overlapping_crops
from byol3d.transforms.voxelize import VoxelGroups, voxel_groups, voxel_keys, voxelize

__all__ = [
    "AugmentConfig", "augment", "augment_color", "augment_geometry", "auto_contrast",
    "crop_around", "random_crop", "tile_crops",
    "COLOR_MEAN", "COLOR_STD", "NUM_FEATURES", "make_features", "normalize_color",
    "overlap_fraction", "overlapping_crops",
    "VoxelGroups", "voxel_groups", "voxel_keys", "voxelize",
]
