"""What every training run shares: run folder, device, seeds, schedule, logs, speed settings and
multi-process set-up.

Multi-process training with ``torchrun``: launch any training command under ``torchrun`` and it
runs data-parallel (``DistributedDataParallel``): NCCL between GPUs, gloo on CPUs. Each process
trains on a disjoint share of every epoch's batches; gradients are averaged; rank 0 alone writes
logs and checkpoints. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment)
:func:`setup_distributed`, :func:`barrier` and :func:`cleanup_distributed` are no-ops.

::

    torchrun --nproc_per_node 4 -m relcon pretrain --distance runs/d --out runs/relcon
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d \\
             --rdzv_endpoint HOST:29500 -m relcon pretrain ...
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "RunLogger",
    "barrier",
    "cleanup_distributed",
    "cosine_lr",
    "pick_device",
    "prepare_run_dir",
    "seed_everything",
    "setup_distributed",
    "speed_settings",
]


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for explicit draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (legacy global RNG, for third-party code)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cosine_lr(
    step: int, total: int, base: float, warmup: int, final_fraction: float = 0.0
) -> float:
    """Linear warmup for ``warmup`` steps, then cosine decay to ``final_fraction * base``."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress)))


def prepare_run_dir(out: str | Path, resume: bool, overwrite: bool = False) -> Path:
    """Create the run folder; refuse to mix a new run into an old one.

    ``resume=True`` continues what is there; ``overwrite=True`` deletes it first; otherwise a
    folder that already holds a run is an error (nothing is silently overwritten).
    """
    out = Path(out)
    has_run = (out / "checkpoints").exists() or (out / "model.safetensors").exists()
    if has_run and not resume:
        if not overwrite:
            raise FileExistsError(
                f"{out} already holds a run; pass --resume to continue it or --overwrite to "
                "start again from scratch"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


class RunLogger:
    """Append scalars to ``metrics.csv`` and TensorBoard (``tb/``) in the run folder.

    On resume, rows after the resumed step are dropped from the CSV first, so the file never holds
    two rows for one step.
    """

    def __init__(self, run_dir: str | Path, resume_step: int | None = None, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.csv"
        self._fields: list[str] | None = None
        self._tb = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self._fields = list(rows[0].keys())
                from relcon.io import atomic_path

                with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=self._fields)
                    w.writeheader()
                    w.writerows(rows)
            else:
                self.path.unlink()
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step)
        except ImportError:  # tensorboard is a dependency, but stay usable without it
            self._tb = None

    def log(self, step: int, **scalars: Any) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}}
        new_file = not self.path.exists()
        if self._fields is None:
            self._fields = list(row)
        missing = [k for k in row if k not in self._fields]
        if missing:
            raise ValueError(f"{self.path}: new metric columns {missing} after the first row")
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields)
            if new_file:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, float(v), step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()


def speed_settings(device: torch.device, amp: bool):
    """TF32 on for CUDA matmuls; returns the autocast context factory (bf16 on CUDA if ``amp``)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        if amp:
            return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


# --------------------------------------------------------------------------------------------
# multi-process training (torchrun)
# --------------------------------------------------------------------------------------------
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


def setup_distributed(device: str = "auto") -> DistInfo:
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


def cleanup_distributed(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
