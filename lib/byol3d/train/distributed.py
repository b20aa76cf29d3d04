"""Multi-process training under `torchrun`: process group, DDP wrapping, sharded resumable sampling.

`torchrun --nproc_per_node=N -m byol3d.pretrain ...` sets RANK / WORLD_SIZE / LOCAL_RANK (and the
rendezvous address); `init_distributed` reads them and starts the process group with NCCL on GPUs and
gloo on the CPU. Without those variables everything runs as a single process (world size 1).

BatchNorm: on GPUs the online network's BatchNorm layers become SyncBatchNorm, so statistics are taken
over the whole global batch. PyTorch's SyncBatchNorm refuses CPU tensors ("SyncBatchNorm expected
input tensor to be on GPU ..."), so with gloo on the CPU each process keeps plain BatchNorm over its
own shard of the batch (the usual DDP behaviour); the weights stay identical across processes because
DDP all-reduces the gradients, and rank 0's running statistics are broadcast at every forward.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from byol3d.utils.runtime import pick_device


@dataclass
class DistInfo:
    rank: int  # global rank of this process (0 when not distributed)
    world_size: int  # number of processes (1 when not distributed)
    local_rank: int  # rank on this machine (selects the GPU)
    device: torch.device  # where this process computes

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only rank 0 logs, shows progress bars and writes files."""
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1), else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def prepare_batchnorm(module: nn.Module, info: DistInfo) -> nn.Module:
    """SyncBatchNorm on GPUs when distributed; unchanged otherwise (CPU: see the module docstring)."""
    if info.enabled and info.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module


def wrap_ddp(module: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around `module` when distributed, the module itself otherwise."""
    if not info.enabled:
        return module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can start part-way through an epoch (for exact resume).

    The order of an epoch depends only on (seed, epoch), like DistributedSampler's; `set_start(i)`
    skips the first i indices of this rank's share for the current epoch only, so a resumed run
    sees exactly the batches the interrupted one had not seen yet.
    """

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed,
                         drop_last=True)
        self.start = 0

    def set_start(self, start: int) -> None:
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"ResumableSampler: start {start} not in [0, {self.num_samples}]")
        self.start = start

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return self.num_samples - self.start


def mean_across_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar metrics over processes (identity when not distributed)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor)
    return {k: float(v) / info.world_size for k, v in zip(keys, tensor.tolist())}


@torch.no_grad()
def check_replicas_equal(module: nn.Module, info: DistInfo, what: str = "online network") -> None:
    """Raise RuntimeError if the processes' copies of `module`'s parameters differ (DDP keeps them equal)."""
    if not info.enabled:
        return
    sums = torch.stack([p.detach().double().sum() for p in module.parameters()])  # (P,) one number per tensor
    gathered = [torch.empty_like(sums) for _ in range(info.world_size)]
    dist.all_gather(gathered, sums)
    for rank, other in enumerate(gathered[1:], start=1):
        if not torch.equal(other, gathered[0]):
            raise RuntimeError(f"the {what} of rank {rank} differs from rank 0's")
