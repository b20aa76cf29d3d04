"""Every setting of an experiment in one object: the profile's config tree.

    Profile
    ├── model         PointNeXtConfig  the network: pre-trained by BYOL, and the scratch / random arms
    ├── data          DataConfig       voxel size, crop / view size, augmentations, view overlap
    ├── byol          ByolConfig       BYOL pre-training: objective, heads, optimiser, schedule
    ├── eval          EvalConfig       which scenes a probe trains on and is scored on, and how
    ├── linear_probe  LinearProbeConfig  the frozen-feature probe (linear, random, raw arms)
    ├── finetune      FinetuneConfig   whole-network training with labels (finetune, scratch arms)
    └── run           RunConfig        seed, bfloat16, device, DataLoader workers, allocator

The presets `smoke`, `quick` and `full` are defined here and nowhere else; the pre-training
(byol3d.pretrain) reads model / data / byol / run, a probe (byol3d.probe) model / data / eval and its
method's section / run. YAML round-trip through byol3d.config (`--config PATH.yaml`, any section or field
may be left out and keeps its default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from byol3d.byol.model import KINDS, loss_kinds
from byol3d.config import PROFILES, ConfigError, check_fields, load_preset_or_yaml
from byol3d.data.dataset import DataConfig
from byol3d.eval.features import FEATURE_KINDS
from byol3d.eval.linear import NORMALIZATIONS
from byol3d.models.config import PointNeXtConfig
from byol3d.transforms import AugmentConfig


@dataclass
class ByolConfig:
    """BYOL pre-training (Grill et al., NeurIPS 2020) of PointNeXt on unlabelled scenes."""

    split: str = "train"  # cache split whose scenes are used (labels are never read)
    loss: str = "region+dense"  # kinds joined by "+": "global" (paper: pooled last stage), "region" (shared
    #                            points pooled per grid cell) and "dense" (shared points one by one)
    pool: str = "mean"  # global pooling of the last encoder stage per scene: "mean" or "max"
    dense_weight: float = 1.0  # weight of the dense term when it is summed with others
    dense_pairs: int = 1024  # shared points per scene compared by the region / dense losses (sub-sampled)
    region_size: float = 0.5  # metres: grid cell of the region loss
    mask_ratio: float = 0.0  # share of grid cells whose input features the online network does not see
    #                          (byol3d.byol.masking, after MSC / Sonata); 0 = off, the target sees all
    mask_size: float = 0.2  # metres: grid cell of the mask
    proj_hidden: int = 4096  # hidden width of projector and predictor (paper: 4096)
    proj_out: int = 256  # projection size (paper: 256)
    tau_base: float | None = None  # EMA rate at step 0, cosine-increased to 1; None: by the run-length
    #                                rule byol3d.byol.ema.tau_base_for (0.996, the paper's, for long runs)
    lr: float = 1e-3  # AdamW base learning rate (PointNeXt's ScanNet setting)
    weight_decay: float = 1e-4  # AdamW weight decay
    warmup: int = 10  # linear warm-up steps before the cosine decay
    steps: int = 100  # total optimisation steps (used when epochs == 0)
    epochs: int = 0  # if > 0: train this many passes over the split instead of `steps`
    batch_size: int = 2  # scenes (view pairs) per step and process; >= 2 for BatchNorm in the heads
    clip: float = 10.0  # gradient-norm clipping (0 = off)
    ckpt_every: int = 50  # write checkpoints/last.pt every this many steps (and at the end)

    def __post_init__(self) -> None:
        check_fields(self, [
            (_valid_loss(self.loss), "loss", f"must be kinds of {list(KINDS)} joined by '+', e.g. 'region+dense'"),
            (self.pool in ("mean", "max"), "pool", "must be 'mean' or 'max'"),
            (self.dense_weight > 0, "dense_weight", "must be > 0"),
            (self.region_size > 0, "region_size", "must be > 0 metres"),
            (0.0 <= self.mask_ratio < 1.0, "mask_ratio", "must be in [0, 1) (0 = no mask)"),
            (self.mask_size > 0, "mask_size", "must be > 0 metres"),
            (self.dense_pairs >= 2, "dense_pairs", "must be >= 2 (BatchNorm in the heads)"),
            (self.proj_hidden >= 1 and self.proj_out >= 1, "proj_hidden", "proj_hidden and proj_out must be >= 1"),
            (self.tau_base is None or 0.0 < self.tau_base < 1.0, "tau_base",
             "must be in (0, 1) (paper: 0.996), or null for the run-length rule"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (self.warmup >= 0, "warmup", "must be >= 0"),
            (self.steps >= 1 or self.epochs >= 1, "steps", "steps (or epochs) must be a positive number"),
            (self.epochs >= 0, "epochs", "must be >= 0 (0 = use steps)"),
            (self.batch_size >= 2, "batch_size", "must be >= 2 (BatchNorm over pooled scenes)"),
            (self.clip >= 0, "clip", "must be >= 0 (0 = off)"),
            (self.ckpt_every >= 1, "ckpt_every", "must be >= 1"),
        ])


def _valid_loss(loss: str) -> bool:
    try:
        loss_kinds(loss)
    except ValueError:
        return False
    return True


@dataclass
class EvalConfig:
    """The probes' scenes: trained on (a fraction of) one split, scored on every vertex of another."""

    train_split: str = "train"  # split the probe / network is trained on
    eval_split: str = "val"  # split evaluated on whole scenes
    eval_fraction: float = 1.0  # share of eval scenes scored (seeded, same for every method); < 1 saves CPU
    tiled_eval: bool = True  # predict validation scenes in crops of data.voxel_max points, as trained

    def __post_init__(self) -> None:
        check_fields(self, [(0 < self.eval_fraction <= 1, "eval_fraction", "must be in (0, 1]")])


def no_augment() -> AugmentConfig:
    """Identity augmentation: linear-probe crops by default look like the (unaugmented) evaluation scenes."""
    return AugmentConfig(rotate_z_deg=0.0, scale_min=1.0, scale_max=1.0, flip_p=0.0, jitter_sigma=0.0,
                         elastic_p=0.0, autocontrast_p=0.0, color_drop_p=0.0)


@dataclass
class LinearProbeConfig:
    """A normalisation and one linear layer on frozen per-point features (Sonata / MSC linear probing)."""

    features: str = "both"  # probe input: "hypercolumn", "decoder" or "both"
    normalize: str = "standardize"  # non-learned feature normalisation: "standardize", "l2" or "none"
    crops: int = 1  # crops (of data.voxel_max points) per training scene whose frozen features are cached
    augment: AugmentConfig = field(default_factory=no_augment)  # augmentation of those crops
    points_per_scene: int = 8000  # labelled points per crop kept in the feature cache
    steps: int = 200  # Adam steps of the linear layer
    lr: float = 1e-2  # Adam learning rate (cosine-decayed)
    weight_decay: float = 0.0  # L2 penalty of the linear layer
    batch: int = 4096  # points per step
    recalibrate_bn: bool = True  # frozen networks: BatchNorm statistics re-estimated on the training crops
    bn_batches: int = 32  # crops (one per training scene, cycling) averaged for those statistics

    def __post_init__(self) -> None:
        check_fields(self, [
            (self.features in FEATURE_KINDS, "features", f"must be one of {list(FEATURE_KINDS)}"),
            (self.normalize in NORMALIZATIONS, "normalize", f"must be one of {list(NORMALIZATIONS)}"),
            (self.crops >= 1, "crops", "must be >= 1"),
            (self.points_per_scene >= 1, "points_per_scene", "must be >= 1"),
            (self.steps >= 1, "steps", "must be >= 1"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (self.batch >= 1, "batch", "must be >= 1"),
            (self.bn_batches >= 1, "bn_batches", "must be >= 1"),
        ])


@dataclass
class FinetuneConfig:
    """The whole network trained with labels: from BYOL's weights (finetune) or from random ones (scratch)."""

    steps: int = 30  # optimisation steps (the same for every label fraction)
    lr: float = 1e-3  # AdamW learning rate (PointNeXt's ScanNet setting)
    weight_decay: float = 1e-4  # AdamW weight decay
    warmup: int = 3  # linear warm-up steps
    batch_size: int = 2  # crops per step
    clip: float = 10.0  # gradient-norm clip (0 = off)
    pretrained_lr_scale: float = 1.0  # finetune arm: lr multiplier of the pre-trained layers (the new head
    #                                   trains at lr); scratch trains every layer at lr and ignores it

    def __post_init__(self) -> None:
        check_fields(self, [
            (self.steps >= 1, "steps", "must be >= 1"),
            (0 < self.pretrained_lr_scale <= 1, "pretrained_lr_scale", "must be in (0, 1]"),
            (self.lr > 0, "lr", "must be > 0"),
            (self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (0 <= self.warmup < self.steps, "warmup", "must be in [0, steps)"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.clip >= 0, "clip", "must be >= 0 (0 = off)"),
        ])


RUNTIME_FIELDS = ("device", "num_workers", "keep_freed_memory")  # RunConfig fields that do not change a result


@dataclass
class RunConfig:
    """How a run executes. `seed` and `amp` change results; the RUNTIME_FIELDS do not."""

    seed: int = 0  # weights of new layers, data order, augmentations, point and pair sampling
    amp: bool = True  # bfloat16 autocast where bf16 is fast (CUDA; CPUs with AVX-512 BF16 or AMX), else off
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda[:i]"
    num_workers: int = 0  # DataLoader worker processes
    keep_freed_memory: bool = True  # glibc keeps freed large tensors for reuse instead of page-faulting them
    #                                 in again every step (utils.runtime.keep_freed_memory; process-wide)

    def __post_init__(self) -> None:
        check_fields(self, [
            (self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda"), "device",
             "must be 'auto', 'cpu' or 'cuda[:i]'"),
            (self.num_workers >= 0, "num_workers", "must be >= 0"),
        ])

    def result_fields(self) -> dict:
        """The fields that change a result (seed, amp): what a run's identity holds of this section."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in RUNTIME_FIELDS}


@dataclass
class Profile:
    """One experiment's settings; `Profile.quick()` is the report's CPU profile."""

    model: PointNeXtConfig = field(default_factory=PointNeXtConfig.S)  # backbone (S/B/L/XL), every arm
    data: DataConfig = field(default_factory=DataConfig.quick)  # voxels, crops / views, augmentation
    byol: ByolConfig = field(default_factory=ByolConfig)  # pre-training
    eval: EvalConfig = field(default_factory=EvalConfig)  # probe scenes and scoring
    linear_probe: LinearProbeConfig = field(default_factory=LinearProbeConfig)  # frozen-feature arms
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # whole-network arms
    run: RunConfig = field(default_factory=RunConfig)  # seed, bf16, device, workers, allocator

    @classmethod
    def smoke(cls) -> "Profile":
        """Seconds: small crops and heads, a few steps, one validation scene scored in one pass (tiles of
        2,000-point crops would cost 50x the network passes of training); for end-to-end tests."""
        return cls(data=DataConfig.smoke(),
                   byol=ByolConfig(dense_pairs=256, proj_hidden=128, proj_out=64, warmup=1, steps=4, ckpt_every=2),
                   eval=EvalConfig(eval_fraction=0.01, tiled_eval=False),
                   linear_probe=LinearProbeConfig(points_per_scene=1000, steps=30, batch=1024, bn_batches=4),
                   finetune=FinetuneConfig(steps=2, warmup=0))

    @classmethod
    def quick(cls) -> "Profile":
        """CPU, minutes, SynthRooms: PointNeXt-S with radii scaled to 4 cm voxels; BYOL on 4 view pairs of
        4,000 points per step with small heads (BatchNorm sees 4 scenes: reports/experiments.md E3) for 600
        steps (150 left the probe's gain over a random encoder at +5 points, 600 reach +10: E41, E48);
        fine-tune / scratch on batches of 8 such crops at lr 3e-3 for 150 steps; linear probe on 1,000 points
        of each of 16 crops per scene (the crops, not the points per crop, lift the frozen arms: E40, E41),
        1,000 Adam steps; every validation scene scored whole."""
        data = DataConfig.quick()
        return cls(model=PointNeXtConfig.S().for_voxel(data.voxel_size), data=data,
                   byol=ByolConfig(dense_pairs=512, proj_hidden=512, proj_out=128, batch_size=4, warmup=5,
                                   steps=600, ckpt_every=50),
                   linear_probe=LinearProbeConfig(crops=16, points_per_scene=1000, steps=1000),
                   finetune=FinetuneConfig(steps=150, lr=3e-3, warmup=15, batch_size=8))

    @classmethod
    def full(cls) -> "Profile":
        """GPU, real ScanNet, PointNeXt-B on PointNeXt's input (2 cm voxels, <= 64k points per crop / view),
        paper-size heads, 100 epochs of BYOL; fine-tune: 100 epochs of 1,201 scenes / 8 per step."""
        return cls(model=PointNeXtConfig.B(), data=DataConfig.full(),
                   byol=ByolConfig(dense_pairs=4096, batch_size=8, epochs=100, warmup=500, ckpt_every=500),
                   linear_probe=LinearProbeConfig(points_per_scene=2000, steps=3000, batch=65536, lr=1e-3),
                   finetune=FinetuneConfig(steps=15000, warmup=500, batch_size=8),
                   run=RunConfig(num_workers=8))

    def with_seed(self, seed: int) -> "Profile":
        """The same settings with another seed (weights, data order, augmentation, sampling)."""
        return dataclasses.replace(self, run=dataclasses.replace(self.run, seed=seed))

    def on_device(self, device: str) -> "Profile":
        """The same settings on another device (the result does not change; the run's folder neither)."""
        return dataclasses.replace(self, run=dataclasses.replace(self.run, device=device))

    @classmethod
    def preset(cls, name: str) -> "Profile":
        if name not in PROFILES:
            raise ConfigError(f"Profile: unknown preset {name!r}; known: {list(PROFILES)}")
        return getattr(cls, name)()


def load_profile(name_or_path: str) -> Profile:
    """A preset name or a YAML file; a bad value names the file, the field and the reason."""
    return load_preset_or_yaml(Profile, name_or_path, PROFILES)
