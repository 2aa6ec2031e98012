"""Train the motif distance: rebuild each window from an augmented copy of itself.

Read it top to bottom. Each step draws a batch of windows ``x``, makes ``x_aug`` by applying two
of the eight augmentations to every window (drawn per window, on the training device), and
minimises the reconstruction distance ``d(x, x_aug)`` of :class:`relcon.models.MotifDistance` --
the anchor is ``x`` (queries), the candidate is ``x_aug`` (keys and values). Once trained, the
model is frozen and used by :mod:`relcon.train.relcon` to rank candidates. GPU speed settings,
``torchrun`` data parallelism and resuming work as in :mod:`relcon.train.relcon`.

Usage from Python::

    from relcon.config import DistanceTrainConfig
    from relcon.train.distance import train_distance
    train_distance(DistanceTrainConfig(steps=500), out="runs/distance")
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from relcon.config import DistanceTrainConfig, save_config, to_dict
from relcon.data.augmentations import random_augment
from relcon.data.corpus import user_names
from relcon.data.loader import shuffled_batches
from relcon.data.windowing import Segments
from relcon.models.checkpoint import restore_run, save_checkpoint, save_model, trainer_state
from relcon.models.distance import MotifDistance, set_sparsemax_backend
from relcon.train.common import (
    RunLogger,
    barrier,
    cleanup_distributed,
    cosine_lr,
    prepare_run_dir,
    seed_everything,
    setup_distributed,
    speed_settings,
)

__all__ = ["augment_seed", "train_distance"]


def augment_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of the augmentations of batch ``index`` of ``epoch``: the same on resume and on any rank."""
    return seed * 1_000_003 + epoch * 100_003 + index


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

    dist_info = setup_distributed(cfg.device)
    device, main = dist_info.device, dist_info.is_main
    if main:
        run_dir = prepare_run_dir(out, resume=resume, overwrite=overwrite)
        save_config(cfg, run_dir / "config.toml")
    barrier(dist_info)
    run_dir = Path(out)
    seed_everything(cfg.seed)
    set_sparsemax_backend("compiled" if cfg.compile else "eager")
    autocast = speed_settings(device, cfg.amp)

    segs = segments if segments is not None else load_segments(cfg.data)
    train_users = {"train_users": user_names(segs)}
    model = MotifDistance.from_config(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    restored = restore_run(run_dir, model, optimizer, "distance") if resume else None
    step, epoch, batch_in_epoch = restored or (0, 0, 0)
    trained = model
    if dist_info.enabled:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    logger = RunLogger(run_dir, resume_step=step if restored else None, enabled=main)
    batches = shuffled_batches(
        segs.x, cfg.batch_size, cfg.seed, epoch, batch_in_epoch, rank=dist_info.rank,
        world_size=dist_info.world_size, num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
    )  # fmt: skip

    model.train()
    bar = tqdm(
        total=cfg.steps,
        initial=step,
        desc="train-distance",
        disable=not (progress and main),
        unit="step",
    )
    t_start = time.perf_counter()
    while step < cfg.steps:
        if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
            break  # out of time: the weights of this step are saved below
        lr = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for micro in range(cfg.accumulate):
            epoch, j, index, x = next(batches)
            x = x.to(device, non_blocking=True)
            g = torch.Generator(device=device).manual_seed(augment_seed(cfg.seed, epoch, index))
            x_aug = random_augment(x, n=cfg.n_augment, g=g)
            last = micro == cfg.accumulate - 1  # only the last micro-batch synchronises gradients
            with contextlib.nullcontext() if last or not dist_info.enabled else trained.no_sync():
                with autocast():
                    loss = (
                        trained(x, x_aug).float().mean()
                    )  # anchor = x, candidate = its augmented copy
                (loss / cfg.accumulate).backward()
            loss_sum += loss.item() / cfg.accumulate
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update(1)

        if step % cfg.log_every == 0 or step == cfg.steps:
            logger.log(step, loss=loss_sum, lr=lr, grad_norm=grad_norm.item(), epoch=epoch)
            bar.set_postfix(loss=f"{loss_sum:.2f}", epoch=epoch)
        if (step % cfg.ckpt_every == 0 or step == cfg.steps) and main:
            save_checkpoint(
                run_dir, model, "distance", step=step, run_config=to_dict(cfg),
                keep=cfg.keep_checkpoints, extra=train_users,
                trainer_state=trainer_state(optimizer, epoch, j + 1),
            )  # fmt: skip
    bar.close()
    logger.close()
    if main:
        save_model(
            run_dir, model, "distance", step=step, run_config=to_dict(cfg), extra=train_users
        )
        if cfg.diagnose_task:  # is the new teacher worth learning from? (on unseen subjects)
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
    barrier(dist_info)
    cleanup_distributed(dist_info)
    return run_dir
