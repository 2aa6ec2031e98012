"""Checkpoints: safetensors weights + JSON description + trainer state, written atomically.

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
checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from relcon.io import atomic_path, atomic_write_json, atomic_write_text, environment_info

__all__ = [
    "build_model",
    "latest_checkpoint",
    "load_model",
    "load_trainer_state",
    "model_files",
    "restore_run",
    "save_checkpoint",
    "save_model",
    "trainer_state",
]

KINDS = ("encoder", "distance")


def build_model(kind: str, architecture: dict) -> nn.Module:
    """Instantiate a model of ``kind`` ("encoder" or "distance") from its architecture dict."""
    from relcon.models.distance import MotifDistance, MotifDistanceConfig
    from relcon.models.encoder import EncoderConfig, ResNet1DEncoder

    if kind == "encoder":
        return ResNet1DEncoder(EncoderConfig(**architecture))
    if kind == "distance":
        return MotifDistance.from_config(MotifDistanceConfig(**architecture))
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


def save_model(
    folder: str | Path,
    model: nn.Module,
    kind: str,
    *,
    step: int,
    run_config: dict | None = None,
    extra: dict | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Write ``model.safetensors`` and ``model.json`` into ``folder`` (each atomically)."""
    from relcon.config import to_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous().clone()
    meta = {
        "kind": kind,
        "architecture": to_dict(model.config),
        "step": step,
        "config": run_config or {},
        "environment": environment_info(),
        **(extra or {}),
    }
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"kind": kind, "step": str(step)})
    atomic_write_json(folder / "model.json", meta)


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
    torch.save({"step": step, **trainer_state}, tmp / "trainer.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(ckpt_root / "LATEST", name + "\n")
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir() and p.name != name)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None if it has none."""
    pointer = Path(run_dir) / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / "trainer.pt").is_file():
        raise FileNotFoundError(f"{pointer} points at {folder}, which is incomplete or missing")
    return folder


def load_trainer_state(folder: str | Path) -> dict[str, Any]:
    return torch.load(Path(folder) / "trainer.pt", map_location="cpu", weights_only=False)


def model_files(path: str | Path) -> tuple[Path, Path]:
    """Find ``(weights.safetensors, description.json)`` for a run folder, checkpoint or file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    if path.is_file() and path.suffix == ".json":
        return path.with_suffix(".safetensors"), path
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            return path / "model.safetensors", path / "model.json"
        latest = latest_checkpoint(path)
        if latest is not None:
            return latest / "model.safetensors", latest / "model.json"
        raise FileNotFoundError(
            f"{path}: no model.safetensors and no checkpoints/LATEST; is this a relcon run folder?"
        )
    raise FileNotFoundError(f"no model at {path}")


def load_model(path: str | Path, kind: str | None = None, device: str | torch.device = "cpu"):
    """Load a model written by :func:`save_model` / :func:`save_checkpoint`.

    Args:
        path: run folder, checkpoint folder, ``model.safetensors`` or ``model.json``.
        kind: expected kind ("encoder" or "distance"); an error if the file holds another.
        device: where to put the weights.

    Returns:
        ``(model, meta)``: the model in eval mode and the parsed ``model.json``.
    """
    weights, desc = model_files(path)
    if not weights.is_file():
        raise FileNotFoundError(f"weights file missing: {weights}")
    if not desc.is_file():
        raise FileNotFoundError(f"model description missing: {desc} (needed beside {weights})")
    try:
        meta = json.loads(desc.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{desc}: not valid JSON ({e})") from None
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{desc}: holds a {meta.get('kind')!r} model, expected {kind!r}")
    try:
        model = build_model(meta["kind"], meta["architecture"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"{desc}: cannot build the model it describes ({e})") from None
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{weights}: corrupt or unreadable safetensors file ({e})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{weights} does not fit the {meta['kind']} architecture in {desc}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"shape mismatches {mismatched[:5]}"
        )
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), meta


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
