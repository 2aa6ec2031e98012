"""Train the motif distance: rebuild each window from an augmented copy of itself.

Read it top to bottom (one step is :func:`relcon.train.steps.distance_step`). Each step draws a batch of windows ``x``, makes ``x_aug`` by applying two
of the eight augmentations to every window (drawn per window, on the training device), and
minimises the reconstruction distance ``d(x, x_aug)`` of :class:`relcon.models.MotifDistance` --
the anchor is ``x`` (queries), the candidate is ``x_aug`` (keys and values). Once trained, the
model is frozen and used by :mod:`relcon.train.relcon` to rank candidates. GPU speed settings,
``torchrun`` data parallelism, resuming and ``init`` (start from a saved distance's weights,
e.g. a shipped model's, and go on training it on new data) work as in :mod:`relcon.train.relcon`.

Usage from Python::

    from relcon.config import DistanceTrainConfig
    from relcon.train.distance import train_distance
    train_distance(DistanceTrainConfig(steps=500), out="runs/distance")
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from relcon.config import DistanceTrainConfig, to_dict
from relcon.data.corpus import user_names
from relcon.data.loader import shuffled_batches
from relcon.data.windowing import Segments
from relcon.models.distance import MotifDistance
from relcon.models.hub import save_model
from relcon.progress import progress_bar
from relcon.train.checkpoint import save_checkpoint, trainer_state
from relcon.train.common import (
    cosine_lr,
    data_record,
    init_architecture,
    open_run,
    set_lr,
    start_from_init,
)
from relcon.train.steps import augment_seed, distance_step

__all__ = ["augment_seed", "train_distance"]


def train_distance(
    cfg: DistanceTrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    segments: Segments | None = None,
    progress: bool = True,
) -> Path:
    """Train a :class:`MotifDistance`; returns the run folder (final weights in ``model.safetensors``)."""
    from relcon.data.datasets import load_segments

    cfg = init_architecture(cfg, "architecture", "distance", out)  # continued training: init's
    with open_run(cfg, out, resume=resume, overwrite=overwrite) as run:
        device = run.device
        segs = segments if segments is not None else load_segments(cfg.data)
        users = user_names(segs)
        source = cfg.data.source if segments is None else "segments given in Python"
        extra = {"train_users": users, **data_record(source, segs, users)}  # model.json
        model = MotifDistance.from_config(cfg.architecture).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        step, epoch, batch_in_epoch = run.restore(model, optimizer, "distance")
        extra.update(start_from_init(run, model, "distance", cfg.init, step))  # step 0 only
        trainer = run.step_context(
            model, optimizer, grad_clip=cfg.grad_clip, accumulate=cfg.accumulate
        )
        batches = shuffled_batches(
            segs.x, cfg.batch_size, cfg.seed, epoch, batch_in_epoch, rank=run.dist.rank,
            world_size=run.dist.world_size, num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
        )  # fmt: skip

        model.train()
        bar = progress_bar(
            total=cfg.steps, initial=step, desc="train-distance",
            enabled=progress and run.main, unit="step",
        )  # fmt: skip
        t_start = time.perf_counter()
        while step < cfg.steps:
            if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
                break  # out of time: the weights of this step are saved below
            lr = set_lr(optimizer, cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps))
            out = distance_step(trainer, batches, seed=cfg.seed, n_augment=cfg.n_augment)
            step += 1
            bar.update(1)

            if step % cfg.log_every == 0 or step == cfg.steps:
                loss = out.loss.item()
                run.log(step, loss=loss, lr=lr, grad_norm=out.grad_norm.item(), epoch=out.epoch)
                bar.set_postfix(loss=f"{loss:.2f}", epoch=out.epoch)
            if (step % cfg.ckpt_every == 0 or step == cfg.steps) and run.main:
                save_checkpoint(
                    run.dir, model, "distance", step=step, run_config=to_dict(cfg),
                    keep=cfg.keep_checkpoints, extra=extra,
                    trainer_state=trainer_state(optimizer, out.epoch, out.next_batch),
                )  # fmt: skip
        bar.close()
        if run.main:
            save_model(run.dir, model, "distance", step=step, run_config=to_dict(cfg), extra=extra)
            if cfg.diagnose_task:  # is the new teacher worth learning from? (on unseen subjects)
                _diagnose(cfg, run.dir, progress)
    return run.dir


def _diagnose(cfg: DistanceTrainConfig, run_dir: Path, progress: bool) -> None:
    """``relcon diagnose distance`` on ``cfg.diagnose_task``, saved as ``diagnostics.json``."""
    from relcon.train.diagnose import (
        DiagnoseConfig,
        diagnose_distance,
        format_diagnostics,
        save_diagnostics,
    )

    result = diagnose_distance(
        DiagnoseConfig(distance=str(run_dir), task=cfg.diagnose_task, seed=cfg.seed)
    )
    save_diagnostics(result, run_dir / "diagnostics.json")
    if progress:
        print(format_diagnostics(result))
