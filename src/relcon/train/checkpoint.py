"""Checkpoints of training runs: weights + description (written by the model hub, one writer for
every model file: :func:`relcon.models.hub.save_model`) + trainer state, written atomically.

A run folder looks like this::

    run/
      config.toml                      resolved configuration of the run
      metrics.csv, tb/                 logs (CSV and TensorBoard)
      checkpoints/step-00000200/       one folder per saved step
          model.safetensors            weights
          model.json                   kind, architecture, step, run config, seed, versions
          trainer.pt                   optimizer, RNG and data-order state for --resume
      checkpoints/LATEST               name of the newest complete checkpoint folder
      model.safetensors, model.json    the final weights, once the run has finished

A checkpoint folder is written under a temporary name and renamed when complete, and ``LATEST``
is replaced atomically afterwards, so a run killed at any moment resumes from a complete
checkpoint. ``trainer.pt`` is read with ``weights_only=True`` (:func:`load_trainer_state`): a run
folder from someone else cannot run code on ``--resume``. Loading a run or checkpoint as a model
is :func:`relcon.load`, and finding a run's newest checkpoint
:func:`relcon.models.hub.latest_checkpoint` (:mod:`relcon.models.hub`).
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relcon.config import spell
from relcon.io import atomic_write_text
from relcon.models.hub import TRAINER_STATE, latest_checkpoint, load_model, save_model

__all__ = ["load_trainer_state", "restore_run", "save_checkpoint", "trainer_state"]

# TRAINER_STATE is read with ``torch.load(..., weights_only=True)``, so it may hold only tensors,
# numbers, strings, None and lists / tuples / dicts of them.


def save_checkpoint(
    run_dir: str | Path,
    model: nn.Module,
    kind: str,
    *,
    step: int,
    trainer_state: dict[str, Any],
    run_config: dict | None = None,
    keep: int = 2,
    extra: dict | None = None,
) -> Path:
    """Save a resumable checkpoint of a training run and point ``LATEST`` at it."""
    ckpt_root = Path(run_dir) / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    final = ckpt_root / name
    tmp = ckpt_root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model(tmp, model, kind, step=step, run_config=run_config, extra=extra)
    torch.save({"step": step, **trainer_state}, tmp / TRAINER_STATE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(ckpt_root / "LATEST", name + "\n")
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir() and p.name != name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_trainer_state(folder: str | Path) -> dict[str, Any]:
    """The trainer state of a checkpoint folder, read without unpickling any Python object.

    ``torch.load(..., weights_only=True)`` accepts tensors, numbers, strings and containers only,
    which is all a trainer state written by relcon holds, so a ``trainer.pt`` from someone else
    cannot run code on ``--resume``: one holding anything else is refused with an error naming it.
    """
    path = Path(folder) / TRAINER_STATE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = next(
            (ln for ln in lines if not ln.startswith(("Weights only", "Please file", "Check the"))),
            lines[-1] if lines else type(e).__name__,
        )
        raise ValueError(
            f"{path}: refused to load this trainer state ({reason}): it holds pickled Python "
            "objects, which could run code when loaded, or is not a trainer state at all. A "
            "trainer.pt written by relcon holds only tensors, numbers and strings. Resume only "
            f"from run folders you trust, or train this one afresh (without {spell('resume')})."
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path}: corrupt or unreadable trainer state ({e})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path}: not a relcon trainer state (no step)")
    return state


def trainer_state(optimizer: torch.optim.Optimizer, epoch: int, next_batch: int) -> dict[str, Any]:
    """What ``--resume`` needs besides the weights: optimizer, data position, torch RNG."""
    return {
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "batch_in_epoch": next_batch,
        "torch_rng": torch.get_rng_state(),
    }


def restore_run(
    run_dir: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, kind: str
) -> tuple[int, int, int] | None:
    """Load the newest checkpoint of ``run_dir`` into ``model`` and ``optimizer``.

    Returns ``(step, epoch, batch_in_epoch)`` to continue from, or None if there is none.
    """
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        return None
    device = next(model.parameters()).device
    weights, _ = load_model(ckpt, kind=kind, device=device)
    model.load_state_dict(weights.state_dict())
    state = load_trainer_state(ckpt)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    print(
        f"resuming {run_dir} from step {state['step']} (epoch {state['epoch']}, batch {state['batch_in_epoch']})"
    )
    return state["step"], state["epoch"], state["batch_in_epoch"]
