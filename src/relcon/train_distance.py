"""Train the motif distance: rebuild each window from an augmented copy of itself.

Read it top to bottom. Each step draws a batch of windows ``x``, makes ``x_aug`` by applying two
of the eight augmentations to every window (drawn per window), and minimises the reconstruction
distance ``d(x, x_aug)`` of :class:`relcon.models.MotifDistance` -- the anchor is ``x`` (queries),
the candidate is ``x_aug`` (keys and values). Once trained, the model is frozen and used by
:mod:`relcon.pretrain` to rank candidates.

Usage from Python::

    from relcon.config import DistanceTrainConfig
    from relcon.train_distance import train_distance
    train_distance(DistanceTrainConfig(steps=500), out="runs/distance")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from relcon.augmentations import random_augment
from relcon.checkpoint import restore_run, save_checkpoint, save_model, trainer_state
from relcon.config import DistanceTrainConfig, save_config, to_dict
from relcon.data.windowing import Segments
from relcon.models.distance import MotifDistance, set_sparsemax_backend
from relcon.runs import RunLogger, cosine_lr, pick_device, prepare_run_dir, seed_everything

__all__ = ["shuffled_batches", "train_distance"]


def shuffled_batches(
    n: int, batch_size: int, seed: int, start_epoch: int = 0, start_batch: int = 0
):
    """Endless ``(epoch, j, indices)`` over random permutations of ``range(n)``, one per epoch.

    Epoch ``e`` is a function of ``(seed, e)`` only, so a resumed run sees the same batches.
    """
    if n < batch_size:
        raise ValueError(f"only {n} windows, fewer than batch_size={batch_size}")
    epoch, j0 = start_epoch, start_batch
    while True:
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        for j in range(j0, n // batch_size):
            yield epoch, j, perm[j * batch_size : (j + 1) * batch_size]
        epoch, j0 = epoch + 1, 0


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

    run_dir = prepare_run_dir(out, resume=resume, overwrite=overwrite)
    save_config(cfg, run_dir / "config.toml")
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    set_sparsemax_backend("compiled" if cfg.compile else "eager")

    segs = segments if segments is not None else load_segments(cfg.data)
    x_all = segs.x
    model = MotifDistance.from_config(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    restored = restore_run(run_dir, model, optimizer, "distance") if resume else None
    step, epoch, batch_in_epoch = restored or (0, 0, 0)
    logger = RunLogger(run_dir, resume_step=step if restored else None)
    batches = shuffled_batches(len(x_all), cfg.batch_size, cfg.seed, epoch, batch_in_epoch)

    train_users = {"train_users": sorted({str(u) for u in segs.user})}
    model.train()
    bar = tqdm(
        total=cfg.steps, initial=step, desc="train-distance", disable=not progress, unit="step"
    )
    while step < cfg.steps:
        epoch, j, idx = next(batches)
        lr = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        x = torch.from_numpy(np.asarray(x_all[np.sort(idx)], dtype=np.float32)).to(device)
        # augmentation draws depend only on (seed, epoch, batch): exact on resume
        g = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch * 100_003 + j)
        x_aug = random_augment(x, n=cfg.n_augment, g=g)
        loss = model(x, x_aug).mean()  # anchor = x, candidate = its augmented copy

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update(1)

        if step % cfg.log_every == 0 or step == cfg.steps:
            logger.log(step, loss=loss.item(), lr=lr, grad_norm=grad_norm.item(), epoch=epoch)
            bar.set_postfix(loss=f"{loss.item():.2f}", epoch=epoch)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save_checkpoint(
                run_dir, model, "distance", step=step, run_config=to_dict(cfg),
                keep=cfg.keep_checkpoints, extra=train_users,
                trainer_state=trainer_state(optimizer, epoch, j + 1),
            )  # fmt: skip
    bar.close()
    logger.close()
    save_model(run_dir, model, "distance", step=step, run_config=to_dict(cfg), extra=train_users)
    return run_dir
