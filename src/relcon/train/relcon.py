"""RelCon pretraining: train the encoder with the relative contrastive loss.

Read it top to bottom (one step is :func:`relcon.train.steps.relcon_step`). Each step:

1. the sampler picks ``B`` anchors (from different users where possible) and ``K`` within-user
   candidates per anchor (same user, same block of time); background workers gather them;
2. every anchor's candidate set is its ``K`` within-user candidates plus the other anchors of the
   batch (between-user candidates), laid out in one pool (:class:`relcon.train.steps.CandidatePool`);
3. the frozen motif distance scores all (anchor, candidate) pairs in batched no-grad calls, with
   key/value features computed once per distinct window;
4. the encoder embeds anchors and within-user candidates in one forward pass;
5. the relative contrastive loss ranks the candidates by distance; AdamW with a cosine schedule,
   warmup and gradient clipping updates the encoder.

On a GPU the forward passes run under bf16 autocast (fp32 master weights) with TF32 enabled. On a
CPU with native bf16 (AVX512-BF16 or AMX) ``amp`` runs the no-grad candidate scoring in bf16
(:func:`relcon.train.common.scoring_dtype`) and, with ``cpu_bf16`` (the default), the encoder's
forward and backward under bf16 autocast too (about 1.6x faster; see ``benchmarks/README.md``).
Under ``torchrun`` every process takes its own share of the batches and gradients are averaged
(DistributedDataParallel); ``accumulate`` > 1 sums the gradients of several batches per step.

Usage from Python::

    from relcon.config import PretrainConfig
    from relcon.train.relcon import pretrain
    pretrain(PretrainConfig(distance="runs/distance"), out="runs/relcon")
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from relcon.config import PretrainConfig, to_dict
from relcon.data.corpus import user_names
from relcon.data.loader import candidate_batches
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import Segments
from relcon.models.checkpoint import load_model, save_checkpoint, save_model, trainer_state
from relcon.models.encoder import ResNet1DEncoder
from relcon.train.common import Throughput, cosine_lr, open_run, set_lr
from relcon.train.steps import (
    CandidatePool,
    candidate_index,
    oracle_distances,
    relcon_batch_loss,
    relcon_step,
)

__all__ = [
    "TEACHERS",
    "candidate_index",
    "oracle_distances",
    "pretrain",
    "relcon_batch_loss",
]

#: Ways to rank the candidates (``PretrainConfig.teacher``).
TEACHERS = ("distance", "oracle")


def pretrain(
    cfg: PretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    segments: Segments | None = None,
    progress: bool = True,
) -> Path:
    """Run RelCon pretraining; returns the run folder (final weights in ``model.safetensors``)."""
    from relcon.data.datasets import load_segments

    if cfg.method != "relcon":
        raise ValueError(
            f"PretrainConfig.method is {cfg.method!r}: train baselines with "
            "relcon.train.baselines.pretrain_baseline (relcon pretrain --method does both)"
        )
    if not cfg.distance:
        raise ValueError(
            "PretrainConfig.distance is empty: train a distance first (relcon train-distance)"
        )
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS}, got {cfg.teacher!r}")
    CandidatePool(cfg.batch_size, cfg.within_user, cfg.between_user)  # check m before starting

    with open_run(
        cfg, out, resume=resume, overwrite=overwrite, cpu_bf16=cfg.cpu_bf16
    ) as run:  # torchrun, run-folder lock, config.toml, seeds, precision
        device = run.device

        # ---- data -----------------------------------------------------------------------
        segs = segments if segments is not None else load_segments(cfg.data)
        sampler = CandidateSampler(
            segs.user,
            segs.time_block(cfg.data.block_seconds),
            batch_size=cfg.batch_size,
            within_user=cfg.within_user,
            seed=cfg.seed,
            rank=run.dist.rank,
            world_size=run.dist.world_size,
        )
        pool = CandidatePool(cfg.batch_size, cfg.within_user, cfg.between_user, device)
        train_users = {"train_users": user_names(segs)}
        window_labels = None
        if cfg.teacher == "oracle":
            window_labels = np.asarray(segs.label)
            if not (window_labels >= 0).any():
                raise ValueError(
                    "teacher='oracle' ranks candidates by their labels, but no window is labelled "
                    "(pooled sources drop their labels; use one labelled source)"
                )

        # ---- models -----------------------------------------------------------------------
        distance, _ = load_model(cfg.distance, kind="distance", device=device)
        distance.requires_grad_(False)
        encoder = ResNet1DEncoder(cfg.encoder).to(device)
        optimizer = torch.optim.AdamW(
            encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        step, epoch, batch_in_epoch = run.restore(encoder, optimizer, "encoder")
        trainer = run.step_context(
            encoder, optimizer, grad_clip=cfg.grad_clip, accumulate=cfg.accumulate,
            compile=cfg.compile_encoder,
        )  # fmt: skip
        batches = candidate_batches(
            segs.x, sampler, epoch, batch_in_epoch, num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
        )  # fmt: skip

        # ---- training loop ----------------------------------------------------------------
        encoder.train()
        bar = tqdm(
            total=cfg.steps, initial=step, desc="pretrain", disable=not (progress and run.main),
            unit="step",
        )  # fmt: skip
        anchors = Throughput(step)
        t_start = time.perf_counter()
        while step < cfg.steps:
            if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
                break  # out of time: the weights of this step are saved below
            lr = set_lr(optimizer, cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps))
            out = relcon_step(
                trainer, batches, pool, distance, tau=cfg.tau, chunk_pairs=cfg.distance_chunk_pairs,
                score_dtype=run.score_dtype, window_labels=window_labels,
            )  # fmt: skip
            step += 1
            bar.update(1)

            if step % cfg.log_every == 0 or step == cfg.steps:
                per_step = cfg.batch_size * cfg.accumulate * run.dist.world_size
                run.log(
                    step, loss=out.loss.item(), lr=lr, grad_norm=out.grad_norm.item(),
                    anchors_per_s=anchors.rate(step, per_step), epoch=out.epoch,
                )  # fmt: skip
                bar.set_postfix(loss=f"{out.loss.item():.3f}", epoch=out.epoch)
            if (step % cfg.ckpt_every == 0 or step == cfg.steps) and run.main:
                save_checkpoint(
                    run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg),
                    keep=cfg.keep_checkpoints, extra=train_users,
                    trainer_state=trainer_state(optimizer, out.epoch, out.next_batch),
                )  # fmt: skip
        bar.close()
        if run.main:
            save_model(
                run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg), extra=train_users
            )
    return run.dir
