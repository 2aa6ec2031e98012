"""Multi-process training with ``torchrun``: process group set-up and small helpers.

Launch any training command under ``torchrun`` and it runs data-parallel
(``DistributedDataParallel``): NCCL between GPUs, gloo on CPUs. Each process trains on a disjoint
share of every epoch's batches; gradients are averaged; rank 0 alone writes logs and
checkpoints. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything is a no-op.

::

    torchrun --nproc_per_node 4 -m relcon pretrain --distance runs/d --out runs/relcon
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
             --rdzv_endpoint HOST:29500 -m relcon pretrain ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from relcon.runs import pick_device

__all__ = ["DistInfo", "barrier", "cleanup", "setup"]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistInfo:
    """Join the process group started by ``torchrun`` (if any) and pick this process's device.

    ``device="auto"`` means ``cuda:<LOCAL_RANK>`` when CUDA is available, else the CPU; the
    backend follows the device (NCCL for CUDA, gloo for the CPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=pick_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
