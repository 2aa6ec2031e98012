"""RelCon pretraining: train the encoder with the relative contrastive loss.

Read it top to bottom. Each step:

1. the sampler picks ``B`` anchors (from different users where possible) and ``K`` within-user
   candidates per anchor (same user, same block of time); background workers gather them;
2. every anchor's candidate set is its ``K`` within-user candidates plus the other anchors of the
   batch (between-user candidates);
3. the frozen motif distance scores all (anchor, candidate) pairs in batched no-grad calls, with
   key/value features computed once per distinct window;
4. the encoder embeds anchors and within-user candidates in one forward pass;
5. the relative contrastive loss ranks the candidates by distance; AdamW with a cosine schedule,
   warmup and gradient clipping updates the encoder.

On a GPU the forward passes run under bf16 autocast (fp32 master weights) with TF32 enabled; on a
CPU with native bf16 only the no-grad candidate scoring does (:func:`scoring_dtype`).
Under ``torchrun`` every process takes its own share of the batches and gradients are averaged
(DistributedDataParallel); ``accumulate`` > 1 sums the gradients of several batches per step.

Usage from Python::

    from relcon.config import PretrainConfig
    from relcon.train.relcon import pretrain
    pretrain(PretrainConfig(distance="runs/distance"), out="runs/relcon")
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from relcon.config import PretrainConfig, save_config, to_dict
from relcon.data.corpus import user_names
from relcon.data.loader import candidate_batches
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import Segments
from relcon.losses import relative_contrastive_loss
from relcon.models.checkpoint import (
    load_model,
    restore_run,
    save_checkpoint,
    save_model,
    trainer_state,
)
from relcon.models.distance import MotifDistance, set_sparsemax_backend
from relcon.models.encoder import ResNet1DEncoder
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

__all__ = [
    "TEACHERS",
    "candidate_index",
    "oracle_distances",
    "pretrain",
    "relcon_loss",
]

#: Ways to rank the candidates (``PretrainConfig.teacher``).
TEACHERS = ("distance", "oracle")


def candidate_index(batch_size: int, within_user: int, between_user: int) -> torch.Tensor:
    """``(B, m + K)`` positions of each anchor's candidates in the pool ``[anchors; within]``.

    Between-user candidates of anchor ``i`` are anchors ``i+1, ..., i+m`` (mod B); its within-user
    candidates are pool rows ``B + i*K ... B + i*K + K - 1``.
    """
    b, k, m = batch_size, within_user, between_user
    between = (torch.arange(b)[:, None] + torch.arange(1, m + 1)[None, :]) % b
    within = b + torch.arange(b * k).reshape(b, k)
    return torch.cat([between, within], dim=1)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 is fast on it."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def scoring_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """Precision of the no-grad candidate scoring on the CPU: bf16 with ``amp`` where the CPU has
    native bf16 (about 1.5x faster; the distances change by ~0.1 %, the candidate ranking
    hardly at all), else None (fp32). On CUDA scoring runs under the step's bf16 autocast."""
    return torch.bfloat16 if device.type == "cpu" and amp and cpu_has_bf16() else None


def scoring_autocast(score_dtype: torch.dtype | None, device: torch.device):
    """The context that candidate scoring runs in: CPU autocast to ``score_dtype`` if given."""
    if score_dtype is not None and device.type == "cpu":
        return torch.autocast("cpu", dtype=score_dtype)
    return contextlib.nullcontext()


def oracle_distances(
    dist: torch.Tensor, labels: torch.Tensor, cand_idx: torch.Tensor
) -> torch.Tensor:
    """The label-oracle teacher: candidates sharing the anchor's label rank first.

    ``dist (B, C)`` are motif distances (non-negative), ``labels (M,)`` the class of every pool
    window (``-1``: unknown, never shared), ``cand_idx (B, C)`` as in :func:`relcon_loss`. Every
    candidate of another (or unknown) label is pushed behind all candidates of the anchor's
    label; within each group the motif order is kept.
    """
    b = cand_idx.shape[0]
    anchor_label = labels[:b, None]
    differ = (labels[cand_idx] != anchor_label) | (anchor_label < 0)
    return dist + differ.to(dist.dtype) * (dist.detach().max() + 1)


def relcon_loss(
    encoder: torch.nn.Module,
    distance: MotifDistance,
    pool: torch.Tensor,
    cand_idx: torch.Tensor,
    tau: float,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of one batch. ``pool`` is ``[anchors; within-user candidates]``, ``(B + B*K, T, 3)``.

    ``score_dtype`` (CPU only, see :func:`scoring_dtype`): autocast the candidate scoring to it.
    ``labels`` (``(B + B*K,)``, optional): rank with the label oracle (:func:`oracle_distances`).
    """
    b = cand_idx.shape[0]
    with torch.no_grad(), scoring_autocast(score_dtype, pool.device):
        dist = distance.score(pool[:b], pool, cand_idx, chunk_pairs=chunk_pairs)
    if labels is not None:
        dist = oracle_distances(dist.float(), labels, cand_idx)
    z = encoder(pool.transpose(1, 2)).float()  # (B + B*K, D): one pass for every window
    return relative_contrastive_loss(z[:b], z[cand_idx], dist.float(), tau=tau)


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
    score_dtype = scoring_dtype(device, cfg.amp)
    if not cfg.distance:
        raise ValueError(
            "PretrainConfig.distance is empty: train a distance first (relcon train-distance)"
        )
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS}, got {cfg.teacher!r}")

    # ---- data ---------------------------------------------------------------------------
    segs = segments if segments is not None else load_segments(cfg.data)
    sampler = CandidateSampler(
        segs.user,
        segs.time_block(cfg.data.block_seconds),
        batch_size=cfg.batch_size,
        within_user=cfg.within_user,
        seed=cfg.seed,
        rank=dist_info.rank,
        world_size=dist_info.world_size,
    )
    b, k = cfg.batch_size, cfg.within_user
    m = b - 1 if cfg.between_user is None else cfg.between_user
    if not 0 <= m <= b - 1:
        raise ValueError(f"between_user must be in [0, batch_size - 1 = {b - 1}], got {m}")
    cand_idx = candidate_index(b, k, m).to(device)
    train_users = {"train_users": user_names(segs)}
    window_labels = None
    if cfg.teacher == "oracle":
        window_labels = np.asarray(segs.label)
        if not (window_labels >= 0).any():
            raise ValueError(
                "teacher='oracle' ranks candidates by their labels, but no window is labelled "
                "(pooled sources drop their labels; use one labelled source)"
            )

    # ---- models -------------------------------------------------------------------------
    distance, _ = load_model(cfg.distance, kind="distance", device=device)
    distance.requires_grad_(False)
    encoder = ResNet1DEncoder(cfg.encoder).to(device)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    restored = restore_run(run_dir, encoder, optimizer, "encoder") if resume else None
    step, epoch, batch_in_epoch = restored or (0, 0, 0)
    model = encoder
    if (
        dist_info.enabled
    ):  # gradients averaged over processes; every process starts from rank 0's weights
        model = torch.nn.parallel.DistributedDataParallel(
            encoder, device_ids=[device] if device.type == "cuda" else None
        )
    if cfg.compile_encoder:
        model = torch.compile(model)

    logger = RunLogger(run_dir, resume_step=step if restored else None, enabled=main)
    batches = candidate_batches(
        segs.x,
        sampler,
        epoch,
        batch_in_epoch,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",
    )

    # ---- training loop ------------------------------------------------------------------
    encoder.train()
    bar = tqdm(
        total=cfg.steps, initial=step, desc="pretrain", disable=not (progress and main), unit="step"
    )
    t_last, step_last = time.perf_counter(), step
    t_start = t_last
    while step < cfg.steps:
        if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
            break  # out of time: the weights of this step are saved below
        lr = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for micro in range(cfg.accumulate):
            j, batch, anchors, within = next(batches)
            pool = torch.cat([anchors, within]).to(device, non_blocking=True)  # (B + B*K, T, 3)
            labels = None
            if window_labels is not None:
                ids = np.concatenate([batch.anchors, batch.within.reshape(-1)])
                labels = torch.as_tensor(window_labels[ids], device=device)
            # only the last micro-batch synchronises gradients across processes
            last = micro == cfg.accumulate - 1
            with contextlib.nullcontext() if last or not dist_info.enabled else model.no_sync():
                with autocast():
                    loss = relcon_loss(
                        model, distance, pool, cand_idx, cfg.tau, cfg.distance_chunk_pairs,
                        score_dtype, labels,
                    )  # fmt: skip
                (loss / cfg.accumulate).backward()
            loss_sum += loss.item() / cfg.accumulate
        grad_norm = torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update(1)

        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            rate = (
                (step - step_last)
                * b
                * cfg.accumulate
                * dist_info.world_size
                / max(now - t_last, 1e-9)
            )
            t_last, step_last = now, step
            logger.log(
                step,
                loss=loss_sum,
                lr=lr,
                grad_norm=grad_norm.item(),
                anchors_per_s=rate,
                epoch=batch.epoch,
            )
            bar.set_postfix(loss=f"{loss_sum:.3f}", epoch=batch.epoch)
        if (step % cfg.ckpt_every == 0 or step == cfg.steps) and main:
            save_checkpoint(
                run_dir, encoder, "encoder", step=step, run_config=to_dict(cfg),
                keep=cfg.keep_checkpoints, extra=train_users,
                trainer_state=trainer_state(optimizer, batch.epoch, j + 1),
            )  # fmt: skip
    bar.close()
    logger.close()
    if main:
        save_model(
            run_dir, encoder, "encoder", step=step, run_config=to_dict(cfg), extra=train_users
        )
    barrier(dist_info)
    cleanup_distributed(dist_info)
    return run_dir
