"""Self-supervised baselines for RelCon, trained exactly like a RelCon run.

Three methods, each trained on the same windows, with the same encoder architecture and the same
budget as :func:`relcon.train.relcon.pretrain` for the same :class:`~relcon.config.PretrainConfig`:
``cfg.steps`` steps of ``cfg.batch_size`` anchors drawn by the same :class:`CandidateSampler`
(same seed, so the very same anchors at every step) and background loader (``num_workers``), the
same AdamW + warmup + cosine schedule, gradient clipping, ``accumulate``, precision (``amp``,
``cpu_bf16``), ``compile`` / ``compile_encoder``, ``torchrun`` data parallelism, run-folder lock,
logging, checkpoints and ``--resume`` (the run set-up is :func:`relcon.train.common.open_run`,
as for RelCon; one step is :func:`relcon.train.steps.simclr_step`, :func:`~relcon.train.steps.augpred_step`
or :func:`~relcon.train.steps.rebar_step`):

* ``"simclr"`` -- SimCLR (Chen et al., ICML 2020; for wearables Tang et al., arXiv:2011.11542):
  two views of every anchor, each with two of the eight augmentations RelCon's distance is trained
  with, a two-layer MLP projection head, and the NT-Xent loss (:func:`relcon.losses.nt_xent_loss`).
* ``"augpred"`` -- augmentation prediction (transformation discrimination, after Saeed et al.,
  "Multi-task Self-Supervised Learning for Human Activity Detection", IMWUT 2019): every anchor
  receives a random subset of the eight augmentations and a linear head predicts which of them
  were applied (eight binary outputs, :func:`relcon.losses.augmentation_prediction_loss`).
* ``"rebar"`` -- REBAR (Xu et al., "REBAR: Retrieval-Based Reconstruction for Time-series
  Contrastive Learning", ICLR 2024): RelCon's candidate set (within-user candidates from the same
  user and time block, plus the other anchors) scored by the same frozen motif distance, but a
  *binary* positive: the closest candidate is the positive, all others are negatives
  (:func:`relcon.losses.rebar_loss`).

The heads (projection, linear classifier) are only used during pretraining: the run folder holds
a plain :class:`~relcon.models.encoder.ResNet1DEncoder` in RelCon's format (``model.json`` also
records ``"method"``), so ``relcon.models.checkpoint.load_model(run, kind="encoder")`` and
``relcon evaluate`` take it as they take a RelCon run. The heads' weights live in the checkpoints'
trainer state, so ``--resume`` continues exactly.

Encoded windows per step (forward and backward through the encoder), with ``B = batch_size`` and
``K = within_user``: RelCon and REBAR ``B + B*K``; SimCLR ``2B``; augmentation prediction ``B``.

Usage from Python::

    from relcon.train.baselines import pretrain_baseline
    from relcon.config import PretrainConfig
    pretrain_baseline("simclr", PretrainConfig(), out="runs/simclr")
    pretrain_baseline("rebar", PretrainConfig(distance="runs/distance"), out="runs/rebar")
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from relcon.config import PretrainConfig, to_dict
from relcon.data.augmentations import AUGMENTATIONS
from relcon.data.corpus import user_names
from relcon.data.loader import candidate_batches
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import Segments
from relcon.models.checkpoint import load_model, save_checkpoint, save_model, trainer_state
from relcon.models.encoder import ResNet1DEncoder
from relcon.train.common import Throughput, cosine_lr, open_run, set_lr
from relcon.train.steps import (
    AUGPRED_P,
    CandidatePool,
    EncoderWithHead,
    StepResult,
    apply_augmentation_subset,
    augpred_step,
    rebar_step,
    simclr_step,
)

__all__ = [
    "AUGPRED_P",
    "METHODS",
    "apply_augmentation_subset",
    "build_head",
    "pretrain_baseline",
]

METHODS = ("simclr", "augpred", "rebar")


def build_head(method: str, embed_dim: int, projection_dim: int = 128) -> nn.Module:
    """The pretraining-only head of ``method`` (never saved into the encoder's weights).

    * ``"simclr"``: projection MLP ``Linear(D, D) -> ReLU -> Linear(D, projection_dim)``;
    * ``"augpred"``: linear classifier ``Linear(D, 8)``, one logit per augmentation;
    * ``"rebar"``: none (an empty module): the loss acts on the encoder's embeddings, as
      RelCon's does.
    """
    if method == "simclr":
        return nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, projection_dim)
        )
    if method == "augpred":
        return nn.Linear(embed_dim, len(AUGMENTATIONS))
    if method == "rebar":
        return nn.Sequential()
    raise ValueError(f"unknown baseline {method!r}; expected one of {METHODS}")


def pretrain_baseline(
    method: str,
    cfg: PretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    segments: Segments | None = None,
    progress: bool = True,
) -> Path:
    """Pretrain an encoder with a baseline ``method`` ("simclr", "augpred" or "rebar").

    Uses the fields of ``cfg`` as :func:`relcon.train.relcon.pretrain` does (``tau`` is also
    SimCLR's temperature; ``distance``, ``between_user``, ``distance_chunk_pairs`` and ``compile``
    (the distance's compiled sparsemax) matter to REBAR only; ``teacher`` is RelCon's alone and
    must stay ``"distance"``). ``n_augment`` (augmentations per SimCLR view) and
    ``projection_dim`` (SimCLR's projection size) are the baselines' own.

    Returns:
        The run folder; its ``model.safetensors`` / ``model.json`` hold a plain encoder, with
        ``"method"`` and ``"train_users"`` recorded in ``model.json``.
    """
    from relcon.data.datasets import load_segments

    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; expected one of {METHODS}")
    if method == "rebar" and not cfg.distance:
        raise ValueError(
            "REBAR needs a trained motif distance: set PretrainConfig.distance "
            "(relcon train-distance)"
        )
    if cfg.teacher != "distance":
        raise ValueError(
            f"teacher={cfg.teacher!r} is RelCon's ranking of candidates; the baselines have none "
            "(leave teacher = 'distance')"
        )
    if cfg.method not in ("relcon", method):
        raise ValueError(f"PretrainConfig.method is {cfg.method!r} but {method!r} was asked for")
    cfg = dataclasses.replace(cfg, method=method)  # config.toml says what was trained
    CandidatePool(cfg.batch_size, cfg.within_user, cfg.between_user)  # check m before starting

    with open_run(
        cfg, out, resume=resume, overwrite=overwrite, cpu_bf16=cfg.cpu_bf16
    ) as run:  # torchrun, run-folder lock, config.toml, seeds, precision
        device = run.device

        # ---- data: the same sampler and loader as RelCon, so the same anchors at every step
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
        extra = {"train_users": user_names(segs), "method": method}

        # ---- models: encoder (saved) + head (pretraining only) + frozen distance (REBAR) ---
        distance = None
        if method == "rebar":
            distance, _ = load_model(cfg.distance, kind="distance", device=device)
            distance.requires_grad_(False)
        encoder = ResNet1DEncoder(cfg.encoder).to(device)
        head = build_head(method, encoder.embed_dim, cfg.projection_dim).to(device)
        trained = EncoderWithHead(encoder, head)
        optimizer = torch.optim.AdamW(
            trained.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        # resume: encoder + optimizer as RelCon's, the head from the checkpoint's trainer state
        step, epoch, batch_in_epoch = run.restore(
            encoder, optimizer, "encoder", modules={"head": head}, expect={"method": method}
        )
        trainer = run.step_context(
            trained, optimizer, grad_clip=cfg.grad_clip, accumulate=cfg.accumulate,
            compile=cfg.compile_encoder,
        )  # fmt: skip
        batches = candidate_batches(
            segs.x, sampler, epoch, batch_in_epoch, num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
        )  # fmt: skip

        def step_once() -> StepResult:
            if method == "simclr":
                return simclr_step(
                    trainer, batches, seed=cfg.seed, n_augment=cfg.n_augment, tau=cfg.tau
                )
            if method == "augpred":
                return augpred_step(trainer, batches, seed=cfg.seed)
            return rebar_step(
                trainer, batches, pool, distance, tau=cfg.tau,  # type: ignore[arg-type]
                chunk_pairs=cfg.distance_chunk_pairs, score_dtype=run.score_dtype,
            )  # fmt: skip

        # ---- training loop ----------------------------------------------------------------
        trained.train()
        bar = tqdm(
            total=cfg.steps, initial=step, desc=method, disable=not (progress and run.main),
            unit="step",
        )  # fmt: skip
        anchors = Throughput(step)
        t_start = time.perf_counter()
        while step < cfg.steps:
            if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
                break  # out of time: the weights of this step are saved below
            lr = set_lr(optimizer, cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps))
            out = step_once()
            step += 1
            bar.update(1)

            if step % cfg.log_every == 0 or step == cfg.steps:
                per_step = cfg.batch_size * cfg.accumulate * run.dist.world_size
                run.log(
                    step, loss=out.loss.item(), acc=out.metrics["acc"].item(), lr=lr,
                    grad_norm=out.grad_norm.item(), anchors_per_s=anchors.rate(step, per_step),
                    epoch=out.epoch,
                )  # fmt: skip
                bar.set_postfix(loss=f"{out.loss.item():.3f}", epoch=out.epoch)
            if (step % cfg.ckpt_every == 0 or step == cfg.steps) and run.main:
                state = trainer_state(optimizer, out.epoch, out.next_batch)
                state.update(method=method, head=head.state_dict())
                save_checkpoint(
                    run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg),
                    keep=cfg.keep_checkpoints, extra=extra, trainer_state=state,
                )  # fmt: skip
        bar.close()
        if run.main:
            save_model(run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg), extra=extra)
    return run.dir
