"""Small helpers every training run shares: run folder, device, seeds, schedule, logs."""

from __future__ import annotations

import csv
import math
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["RunLogger", "cosine_lr", "pick_device", "prepare_run_dir", "seed_everything"]


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
