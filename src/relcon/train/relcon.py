"""RelCon pretraining: train the encoder with the relative contrastive loss (and, with
``PretrainConfig.method``, the self-supervised baselines in the same loop: the table
:data:`relcon.train.methods.METHODS` gives each method's step function and head).

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

``precision`` ("auto" by default) runs the forward passes and the no-grad candidate scoring
under bf16 autocast (fp32 master weights) where the device computes bf16 natively: a GPU (with
TF32 enabled) or a CPU with AVX512-BF16 or AMX (about 1.6x faster there; see
``benchmarks/README.md``; :func:`relcon.train.common.speed_settings`, ``scoring_dtype``).
Under ``torchrun`` every process takes its own share of the batches and gradients are averaged
(DistributedDataParallel); ``accumulate`` > 1 sums the gradients of several batches per step.

``init`` continues pretraining from a saved encoder (a shipped model such as
``"relcon-wrist-small"``, or a run): the run takes its architecture
(:func:`relcon.train.common.init_architecture`) and, at step 0 only, its weights
(:func:`relcon.train.common.start_from_init`; ``--resume`` continues from the checkpoint); the
schedule is that of a fresh run; ``model.json`` records ``init`` (the model, its weights file and
their SHA-256) and ``data`` (source, windows, users). A baseline's head starts from random weights.

Cheaper RelCon (options; the defaults are the paper's recipe, and no variant is claimed better
until measured on the budget curve, ``scripts/budget_curve.py``): ``candidate_encoder = "ema"``
embeds the candidates without gradient by a momentum copy of the encoder (updated after every
optimizer step with ``ema_decay``, kept in the checkpoints' trainer state, never in the saved
model), so a step costs ``B`` window-passes with gradient and ``B + B*K`` without instead of
``B + B*K`` with; a smaller ``within_user`` (``K``) cuts ``B*K`` of them; ``anchor_copy`` adds
an augmented copy of every anchor as its closest candidate (``B`` more passes). Every logged step
records the compute so far: ``passes_grad`` and ``passes_nograd`` (encoder window-passes, all
processes) and ``seconds`` (of training), cumulative across ``--resume``.

Usage from Python::

    from relcon.config import PretrainConfig
    from relcon.train.relcon import pretrain
    pretrain(PretrainConfig(distance="runs/distance"), out="runs/relcon")
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from relcon.config import PretrainConfig, spell, to_dict
from relcon.data.corpus import user_names
from relcon.data.loader import candidate_batches
from relcon.data.sampling import CandidateSampler
from relcon.data.windowing import Segments
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import latest_checkpoint, load_model, save_model
from relcon.progress import progress_bar
from relcon.train.checkpoint import load_trainer_state, save_checkpoint, trainer_state
from relcon.train.common import (
    Throughput,
    cosine_lr,
    data_record,
    init_architecture,
    open_run,
    set_lr,
    start_from_init,
)
from relcon.train.methods import METHODS
from relcon.train.steps import (
    CandidatePool,
    CountingEncoder,
    EncoderWithHead,
    candidate_index,
    ema_update,
    oracle_distances,
    relcon_batch_loss,
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
    """Pretrain the encoder with ``cfg.method``; returns the run folder (``model.safetensors``).

    ``"relcon"`` (the default) is the relative contrastive loss; the other methods of
    :data:`relcon.train.methods.METHODS` (the self-supervised baselines) are trained by this same
    loop (same sampler and anchors, optimiser, schedule, precision, checkpoints); only the step
    function and a pretraining-only head differ.
    """
    from relcon.data.datasets import load_segments

    method = cfg.method
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {tuple(METHODS)}")
    spec = METHODS[method]
    if spec.needs_distance and not cfg.distance:
        raise ValueError(
            f"{method} needs a trained motif distance: set {spell('distance')} to a shipped "
            "model ('default', 'relcon-wrist-small') or a relcon train-distance run folder"
        )
    if cfg.teacher not in TEACHERS or (
        not spec.takes("window_labels") and cfg.teacher != "distance"
    ):
        raise ValueError(
            f"teacher must be one of {TEACHERS} (and 'distance' for the baselines, which rank "
            f"no candidates), got {cfg.teacher!r}"
        )
    CandidatePool(cfg.batch_size, cfg.within_user, cfg.between_user)  # check m before starting
    if cfg.candidate_encoder not in ("online", "ema"):
        raise ValueError(
            f"candidate_encoder must be 'online' or 'ema', got {cfg.candidate_encoder!r}"
        )
    for name, on in (("candidate_encoder", cfg.candidate_encoder == "ema"),
                     ("anchor_copy", cfg.anchor_copy)):  # fmt: skip
        if on and not spec.takes(name):
            raise ValueError(f"{spell(name)} is an option of RelCon, not of {method}")
    cfg = init_architecture(cfg, "encoder", "encoder", out)  # continued pretraining: init's encoder

    with open_run(
        cfg, out, resume=resume, overwrite=overwrite
    ) as run:  # torchrun, run-folder lock, config.toml, seeds, precision
        device = run.device

        # ---- data: every method sees the same anchors at every step -----------------------
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
        users = user_names(segs)
        source = cfg.data.source if segments is None else "segments given in Python"
        extra = {"train_users": users, **data_record(source, segs, users)}  # model.json
        if method != "relcon":
            extra["method"] = method
        window_labels = None
        if cfg.teacher == "oracle":
            window_labels = np.asarray(segs.label)
            if not (window_labels >= 0).any():
                raise ValueError(
                    "teacher='oracle' ranks candidates by their labels, but no window is labelled "
                    "(pooled sources drop their labels; use one labelled source)"
                )

        # ---- models: encoder (saved), frozen distance, a baseline's head (pretraining only) -
        distance = None
        if spec.needs_distance:
            distance, _ = load_model(cfg.distance, kind="distance", device=device)
            distance.requires_grad_(False)
        encoder = ResNet1DEncoder(cfg.encoder).to(device)
        head = None if spec.head is None else spec.head(encoder.embed_dim, cfg.projection_dim)
        trained = encoder if head is None else EncoderWithHead(encoder, head.to(device))
        optimizer = torch.optim.AdamW(
            trained.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        # the momentum copy that embeds the candidates (candidate_encoder "ema"; trainer state)
        ema = None
        if cfg.candidate_encoder == "ema":
            ema = copy.deepcopy(encoder).requires_grad_(False).train()
        # resume: a baseline's head and the momentum copy come back from the trainer state
        heads = (
            {"modules": {"head": head}, "expect": {"method": method}} if head is not None else {}
        )
        if ema is not None:
            heads.setdefault("modules", {})["ema"] = ema
        step, epoch, batch_in_epoch = run.restore(encoder, optimizer, "encoder", **heads)
        extra.update(start_from_init(run, encoder, "encoder", cfg.init, step))  # step 0 only
        if ema is not None and step == 0:
            ema.load_state_dict(encoder.state_dict())
        # compute so far: encoder window-passes [with gradient, without] and seconds (all processes)
        done = load_trainer_state(latest_checkpoint(run.dir)) if step else {}
        passes_before, seconds_before = done.get("passes", [0, 0]), done.get("seconds", 0.0)
        passes = [0, 0]  # this process's, counted by CountingEncoder
        trainer = run.step_context(
            trained, optimizer, grad_clip=cfg.grad_clip, accumulate=cfg.accumulate,
            compile=cfg.compile_encoder,
        )  # fmt: skip
        trainer.model = CountingEncoder(trainer.model, passes)
        batches = candidate_batches(
            segs.x, sampler, epoch, batch_in_epoch, num_workers=cfg.num_workers,
            pin_memory=device.type == "cuda",
        )  # fmt: skip

        # what a method's step function may take; each takes its own (Method.arguments)
        step_args = spec.arguments({
            "pool": pool, "distance": distance, "window_labels": window_labels, "seed": cfg.seed,
            "tau": cfg.tau, "n_augment": cfg.n_augment, "chunk_pairs": cfg.distance_chunk_pairs,
            "score_dtype": run.score_dtype, "anchor_copy": cfg.anchor_copy,
            "candidate_encoder": None if ema is None else CountingEncoder(ema, passes),
        })  # fmt: skip

        # ---- training loop ----------------------------------------------------------------
        trained.train()
        bar = progress_bar(
            total=cfg.steps, initial=step, desc="pretrain" if method == "relcon" else method,
            enabled=progress and run.main, unit="step",
        )  # fmt: skip
        anchors = Throughput(step)
        t_start = time.perf_counter()
        while step < cfg.steps:
            if cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds:
                break  # out of time: the weights of this step are saved below
            lr = set_lr(optimizer, cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup_steps))
            out = spec.step(trainer, batches, **step_args)
            if ema is not None:
                ema_update(ema, encoder, cfg.ema_decay)
            step += 1
            world = run.dist.world_size
            compute = {
                "passes_grad": passes_before[0] + passes[0] * world,
                "passes_nograd": passes_before[1] + passes[1] * world,
                "seconds": seconds_before + time.perf_counter() - t_start,
            }
            bar.update(1)

            if step % cfg.log_every == 0 or step == cfg.steps:
                per_step = cfg.batch_size * cfg.accumulate * run.dist.world_size
                metrics = {k: v.item() for k, v in out.metrics.items() if k == "acc"}
                run.log(
                    step, loss=out.loss.item(), **metrics, lr=lr, grad_norm=out.grad_norm.item(),
                    anchors_per_s=anchors.rate(step, per_step), epoch=out.epoch, **compute,
                )  # fmt: skip
                bar.set_postfix(loss=f"{out.loss.item():.3f}", epoch=out.epoch)
            if (step % cfg.ckpt_every == 0 or step == cfg.steps) and run.main:
                state = trainer_state(optimizer, out.epoch, out.next_batch)
                state.update(passes=[compute["passes_grad"], compute["passes_nograd"]])
                state.update(seconds=compute["seconds"])
                if head is not None:
                    state.update(method=method, head=head.state_dict())
                if ema is not None:
                    state.update(ema=ema.state_dict())
                save_checkpoint(
                    run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg),
                    keep=cfg.keep_checkpoints, extra=extra, trainer_state=state,
                )  # fmt: skip
        bar.close()
        if run.main:
            save_model(run.dir, encoder, "encoder", step=step, run_config=to_dict(cfg), extra=extra)
    return run.dir
