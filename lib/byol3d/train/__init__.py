"""Training infrastructure shared by pre-training and the probe: atomic, safely loaded checkpoints and the
exported encoder (checkpoint), the warm-up + cosine learning-rate schedule (schedule), and torchrun /
DistributedDataParallel helpers (distributed)."""
