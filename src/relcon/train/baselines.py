"""Self-supervised baselines for RelCon, trained exactly like a RelCon run.

Three methods, each trained on the same windows, with the same encoder architecture and the same
budget as :func:`relcon.train.relcon.pretrain` for the same :class:`~relcon.config.PretrainConfig`:
``cfg.steps`` steps of ``cfg.batch_size`` anchors drawn by the same :class:`CandidateSampler`
(same seed, so the very same anchors at every step), the same AdamW + warmup + cosine schedule,
gradient clipping, logging, checkpoints and ``--resume``:

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

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from relcon.config import PretrainConfig, save_config, to_dict
from relcon.data.augmentations import AUGMENTATIONS, random_augment
from relcon.data.corpus import user_names
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import Segments
from relcon.losses import augmentation_prediction_loss, nt_xent_loss, rebar_loss
from relcon.losses.ntxent import nt_xent_logits
from relcon.models.checkpoint import (
    latest_checkpoint,
    load_model,
    load_trainer_state,
    restore_run,
    save_checkpoint,
    save_model,
    trainer_state,
)
from relcon.models.encoder import ResNet1DEncoder
from relcon.train.common import (
    RunLogger,
    cosine_lr,
    pick_device,
    prepare_run_dir,
    seed_everything,
    speed_settings,
)
from relcon.train.relcon import candidate_index

__all__ = [
    "METHODS",
    "apply_augmentation_subset",
    "augpred_step",
    "build_head",
    "pretrain_baseline",
    "rebar_step",
    "simclr_step",
]

METHODS = ("simclr", "augpred", "rebar")
AUGPRED_P = 0.5  # each augmentation is applied with this probability (balanced binary targets)


# --------------------------------------------------------------------------------------------
# augmentation subsets and heads
# --------------------------------------------------------------------------------------------
def apply_augmentation_subset(
    x: Tensor, applied: Tensor, g: torch.Generator | None = None
) -> Tensor:
    """Apply to every window the augmentations its row of ``applied`` selects.

    The augmentations of :data:`relcon.data.augmentations.AUGMENTATIONS` are applied in their fixed
    order (noise, scale, rotate, negate, time flip, channel shuffle, segment permutation, time
    warp), each to the windows that drew it, batched over those windows.

    Args:
        x: ``(B, T, C)`` windows.
        applied: ``(B, 8)`` bool mask, column ``k`` = the ``k``-th augmentation.
        g: random generator (on ``x``'s device).

    Returns:
        ``(B, T, C)`` augmented copy (rows with no augmentation are unchanged).
    """
    if applied.shape != (x.shape[0], len(AUGMENTATIONS)):
        raise ValueError(
            f"applied must be (B, {len(AUGMENTATIONS)}) = {(x.shape[0], len(AUGMENTATIONS))}, "
            f"got {tuple(applied.shape)}"
        )
    out = x.clone()
    for k, fn in enumerate(AUGMENTATIONS.values()):
        rows = torch.nonzero(applied[:, k]).flatten()
        if rows.numel():
            out[rows] = fn(out[rows], g).to(out.dtype)  # bf16 under autocast (rotate's bmm)
    return out


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


# --------------------------------------------------------------------------------------------
# one training step per method: loss and a diagnostic accuracy
# --------------------------------------------------------------------------------------------
def simclr_step(
    encoder: nn.Module,
    head: nn.Module,
    x: Tensor,
    g: torch.Generator,
    *,
    n_augment: int,
    tau: float,
) -> tuple[Tensor, Tensor]:
    """Two augmented views of ``x (B, T, 3)`` -> NT-Xent loss, and how often the partner view
    is the most similar one."""
    b = x.shape[0]
    views = torch.cat([random_augment(x, n=n_augment, g=g), random_augment(x, n=n_augment, g=g)])
    z = head(encoder(views.transpose(1, 2)))  # (2B, P), one pass for both views
    loss = nt_xent_loss(z[:b], z[b:], tau=tau)
    with torch.no_grad():
        logits, positive = nt_xent_logits(z[:b], z[b:], tau)
        acc = (logits.argmax(dim=1) == positive).float().mean()
    return loss, acc


def augpred_step(
    encoder: nn.Module, head: nn.Module, x: Tensor, g: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random augmentation subsets for ``x (B, T, 3)`` -> BCE loss, and the bit accuracy."""
    applied = torch.rand(x.shape[0], len(AUGMENTATIONS), generator=g, device=x.device) < AUGPRED_P
    logits = head(encoder(apply_augmentation_subset(x, applied, g).transpose(1, 2)))  # (B, 8)
    loss = augmentation_prediction_loss(logits, applied)
    acc = ((logits.detach() > 0) == applied).float().mean()
    return loss, acc


def rebar_step(
    encoder: nn.Module,
    distance: nn.Module,
    pool: Tensor,
    cand_idx: Tensor,
    *,
    tau: float,
    chunk_pairs: int | None,
) -> tuple[Tensor, Tensor]:
    """RelCon's candidate pool ``[anchors; within] (B + B*K, T, 3)`` -> REBAR loss, and how often
    the closest candidate is also the most similar embedding."""
    b = cand_idx.shape[0]
    with torch.no_grad():
        dist = distance.score(pool[:b], pool, cand_idx, chunk_pairs=chunk_pairs)  # (B, C)
    z = encoder(pool.transpose(1, 2))  # (B + B*K, D), one pass for all windows
    cand = z[cand_idx]
    loss = rebar_loss(z[:b], cand, dist, tau=tau)
    with torch.no_grad():
        sim = torch.einsum("bd,bcd->bc", F.normalize(z[:b], dim=-1), F.normalize(cand, dim=-1))
        acc = (sim.argmax(dim=1) == dist.argmin(dim=1)).float().mean()
    return loss, acc


# --------------------------------------------------------------------------------------------
# the training loop
# --------------------------------------------------------------------------------------------
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

    Uses the fields of ``cfg`` as :func:`relcon.train.relcon.pretrain` does (``tau`` is also SimCLR's
    temperature; ``distance``, ``between_user`` and ``distance_chunk_pairs`` matter to REBAR
    only). Two optional fields are read with defaults: ``n_augment`` (augmentations per SimCLR
    view, 2) and ``projection_dim`` (SimCLR's projection size, 128).

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
    run_dir = prepare_run_dir(out, resume=resume, overwrite=overwrite)
    save_config(cfg, run_dir / "config.toml")
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    autocast = speed_settings(device, cfg.amp)  # bf16 autocast and TF32 on CUDA, as RelCon
    n_augment = cfg.n_augment
    projection_dim = cfg.projection_dim

    # ---- data: the same sampler as RelCon, so the same anchors at every step ------------
    segs = segments if segments is not None else load_segments(cfg.data)
    sampler = CandidateSampler(
        segs.user,
        segs.time_block(cfg.data.block_seconds),
        batch_size=cfg.batch_size,
        within_user=cfg.within_user,
        seed=cfg.seed,
    )
    x_all = segs.x
    b, k = cfg.batch_size, cfg.within_user
    m = b - 1 if cfg.between_user is None else cfg.between_user
    if not 0 <= m <= b - 1:
        raise ValueError(f"between_user must be in [0, batch_size - 1 = {b - 1}], got {m}")
    cand_idx = candidate_index(b, k, m).to(device)

    # ---- models: encoder (saved) + head (pretraining only) + frozen distance (REBAR) ----
    distance = None
    if method == "rebar":
        distance, _ = load_model(cfg.distance, kind="distance", device=device)
        distance.requires_grad_(False)
    encoder = ResNet1DEncoder(cfg.encoder).to(device)
    head = build_head(method, encoder.embed_dim, projection_dim).to(device)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # ---- resume: encoder + optimizer via restore_run, the head from the trainer state ---
    restored = None
    if resume:
        ckpt = latest_checkpoint(run_dir)
        if ckpt is not None:
            state = load_trainer_state(ckpt)
            if state.get("method") != method:
                raise ValueError(
                    f"{run_dir} holds a {state.get('method')!r} run, cannot resume it as {method!r}"
                )
            head.load_state_dict(state["head"])
            restored = restore_run(run_dir, encoder, optimizer, "encoder")
    step, epoch, batch_in_epoch = restored or (0, 0, 0)
    logger = RunLogger(run_dir, resume_step=step if restored else None)
    batches = sampler.iterate(epoch, batch_in_epoch)

    extra = {"train_users": user_names(segs), "method": method}

    # ---- training loop ------------------------------------------------------------------
    encoder.train()
    head.train()
    bar = tqdm(total=cfg.steps, initial=step, desc=method, disable=not progress, unit="step")
    t_last, step_last = time.perf_counter(), step
    t_start = t_last
    while step < cfg.steps:
        if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
            break  # out of time: the weights of this step are saved below
        j, batch = next(batches)
        lr = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # augmentation draws depend only on (seed, epoch, batch): exact on resume
        g = torch.Generator(device=device)
        g.manual_seed(cfg.seed * 1_000_003 + batch.epoch * 100_003 + batch.index)

        anchors = torch.from_numpy(np.asarray(x_all[batch.anchors], dtype=np.float32)).to(device)
        with autocast():
            if method == "simclr":
                loss, acc = simclr_step(encoder, head, anchors, g, n_augment=n_augment, tau=cfg.tau)
            elif method == "augpred":
                loss, acc = augpred_step(encoder, head, anchors, g)
            else:
                within = np.asarray(x_all[batch.within.reshape(-1)], dtype=np.float32)
                pool = torch.cat([anchors, torch.from_numpy(within).to(device)])  # (B + B*K, T, 3)
                loss, acc = rebar_step(
                    encoder, distance, pool, cand_idx, tau=cfg.tau,
                    chunk_pairs=cfg.distance_chunk_pairs,
                )  # fmt: skip
            loss = loss.float()

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update(1)

        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            rate = (step - step_last) * b / max(now - t_last, 1e-9)
            t_last, step_last = now, step
            logger.log(
                step,
                loss=loss.item(),
                acc=acc.item(),
                lr=lr,
                grad_norm=grad_norm.item(),
                anchors_per_s=rate,
                epoch=batch.epoch,
            )
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=batch.epoch)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            ckpt_state = trainer_state(optimizer, batch.epoch, j + 1)
            ckpt_state.update(method=method, head=head.state_dict())
            save_checkpoint(
                run_dir, encoder, "encoder", step=step, run_config=to_dict(cfg),
                keep=cfg.keep_checkpoints, extra=extra, trainer_state=ckpt_state,
            )  # fmt: skip
    bar.close()
    logger.close()
    save_model(run_dir, encoder, "encoder", step=step, run_config=to_dict(cfg), extra=extra)
    return run_dir
