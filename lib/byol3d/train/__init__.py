"""Training infrastructure shared by pre-training and the probe: atomic, safely loaded checkpoints and the
exported encoder (checkpoint), the warm-up + cosine learning-rate schedule (schedule), torchrun /
DistributedDataParallel helpers (distributed) and the runs' TensorBoard event files (tensorboard_log)."""
