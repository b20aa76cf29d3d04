"""The settings of a BYOL pre-training run: one typed dataclass with a comment per field, and the
`smoke` / `quick` / `full` presets. YAML round-trip through byol3d.config; the training loop that reads
it is byol3d.pretrain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from byol3d.byol.model import KINDS, loss_kinds
from byol3d.config import PROFILES, ConfigError, check_fields, load_preset_or_yaml
from byol3d.data.dataset import DataConfig
from byol3d.models.config import PointNeXtConfig

RUNTIME_FIELDS = ("device", "num_workers")  # do not change the result: may differ when resuming


@dataclass
class PretrainConfig:
    model: PointNeXtConfig = field(default_factory=PointNeXtConfig.S)  # backbone pre-trained (S/B/L/XL)
    data: DataConfig = field(default_factory=DataConfig.quick)  # voxel size, points per view, view augmentation
    split: str = "train"  # cache split whose scenes are used (labels are never read)
    loss: str = "region+dense"  # kinds joined by "+": "global" (paper: pooled last stage), "region" (shared
    #                            points pooled per grid cell) and "dense" (shared points one by one)
    pool: str = "mean"  # global pooling of the last encoder stage per scene: "mean" or "max"
    dense_weight: float = 1.0  # weight of the dense term when it is summed with others
    dense_pairs: int = 1024  # shared points per scene compared by the region / dense losses (sub-sampled)
    region_size: float = 0.5  # metres: grid cell of the region loss
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
    seed: int = 0  # seeds weights, data order, augmentations and dense-pair sampling
    amp: bool = True  # bfloat16 autocast where bf16 is fast (CUDA; CPUs with AVX-512 BF16 or AMX), else off
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    num_workers: int = 0  # DataLoader worker processes

    def __post_init__(self) -> None:
        checks = [
            (_valid_loss(self.loss), "loss", f"must be kinds of {list(KINDS)} joined by '+', e.g. 'region+dense'"),
            (self.pool in ("mean", "max"), "pool", "must be 'mean' or 'max'"),
            (self.dense_weight > 0, "dense_weight", "must be > 0"),
            (self.region_size > 0, "region_size", "must be > 0 metres"),
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
            (self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda"), "device",
             "must be 'auto', 'cpu' or 'cuda[:i]'"),
            (self.num_workers >= 0, "num_workers", "must be >= 0"),
        ]
        check_fields(self, checks)

    @classmethod
    def smoke(cls) -> "PretrainConfig":
        """A few tiny steps: end-to-end checks in seconds."""
        return cls(data=DataConfig(voxel_max=1000), dense_pairs=256, proj_hidden=128, proj_out=64, warmup=1,
                   steps=4, ckpt_every=2)

    @classmethod
    def quick(cls) -> "PretrainConfig":
        """CPU, minutes, SynthRooms: PointNeXt-S, 4 views pairs of 4,000 points per step (more, smaller
        crops per step: BatchNorm sees 4 scenes, reports/experiments.md E3), small heads."""
        data = DataConfig.quick()
        return cls(model=PointNeXtConfig.S().for_voxel(data.voxel_size), data=data, dense_pairs=512, proj_hidden=512,
                   proj_out=128, batch_size=4, warmup=5, steps=150, ckpt_every=50)

    @classmethod
    def full(cls) -> "PretrainConfig":
        """GPU, real ScanNet, PointNeXt input (voxel 0.02 m, <= 64k points per view), paper-size heads."""
        return cls(model=PointNeXtConfig.B(), data=DataConfig.full(), dense_pairs=4096, batch_size=8,
                   epochs=100, warmup=500, ckpt_every=500, num_workers=8)

    @classmethod
    def preset(cls, name: str) -> "PretrainConfig":
        if name not in PROFILES:
            raise ConfigError(f"PretrainConfig: unknown preset {name!r}; known: {list(PROFILES)}")
        return getattr(cls, name)()


def _valid_loss(loss: str) -> bool:
    try:
        loss_kinds(loss)
    except ValueError:
        return False
    return True


def load_config(name_or_path: str) -> PretrainConfig:
    """A preset name or a YAML file; a bad value names the file, the field and the reason."""
    return load_preset_or_yaml(PretrainConfig, name_or_path, PROFILES)
