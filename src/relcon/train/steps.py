"""One optimizer step of every training loop, and the candidate pool that RelCon and REBAR share.

The loops of :mod:`.distance`, :mod:`.relcon` and :mod:`.baselines` call these functions once per
step, and ``relcon bench`` (:mod:`relcon.apps.speed_stages`) times the very same functions: a step
body exists once.

========================  ======================================================  ============
step function             one micro-batch (its ``*_batch_loss``)                  loop
========================  ======================================================  ============
:func:`distance_step`     rebuild windows from augmented copies                   train-distance
:func:`relcon_step`       score the candidate pool, embed it, relative loss       pretrain
:func:`simclr_step`       two augmented views, NT-Xent                            baselines
:func:`augpred_step`      random augmentation subsets, which ones were applied   baselines
:func:`rebar_step`        the candidate pool, the closest candidate as positive   baselines
========================  ======================================================  ============

Every step (:func:`optimizer_step`): zero the gradients; for each of ``accumulate`` micro-batches
take the next batch from the loader (:mod:`relcon.data.loader`), run its forward under the run's
autocast and its backward (under ``torchrun`` gradients are averaged across processes on the
last micro-batch only); divide the summed gradients by ``accumulate`` once; clip; step the
optimizer. Scaling the gradients once, instead of each micro-batch's loss, keeps the arithmetic
of one process with ``accumulate = n`` identical to that of ``n`` processes (``torchrun``)
wherever ``n`` is a power of two: the backward of ``logcumsumexp`` (in the relative contrastive
loss) works in log space, where scaling a loss by 1/n is not exact, so it is not done.

The step functions take an optional ``marks(name)`` callback, called at the phase boundaries
``data``, ``scoring``, ``encoder_forward``, ``loss``, ``backward``, ``optimizer`` (each marks the end
of that phase); the training loops pass none, ``relcon bench`` times the phases with it.

Precision: under bf16 autocast (``precision`` "bf16", or "auto" on a device with native bf16)
the networks run in bf16 and the losses are computed in float32 from their outputs;
weights, gradients and the optimizer stay float32.

The candidate pool
------------------
One RelCon (or REBAR) batch of ``B`` anchors with ``K`` within-user candidates each is one tensor
``pool`` of ``B + B*K`` windows, laid out by :class:`CandidatePool`::

    pool[0 : B]                      the anchors (different users where possible)
    pool[B + i*K : B + (i+1)*K]      anchor i's within-user candidates (its user, its time block)

Anchor ``i``'s candidates are the rows ``CandidatePool.index[i]`` of the pool: first its ``m``
between-user candidates, the anchors ``i+1, ..., i+m`` (mod ``B``), then its ``K`` within-user
candidates. Every window is encoded once per step, and the distance computes key/value features
once per distinct window. (``relcon diagnose``, :mod:`.diagnose`, draws candidates of the same two
kinds for labelled windows, with its between-user candidates drawn from all other subjects.)

Cheaper RelCon (options of :func:`relcon_step`; the paper's recipe is neither): a
``candidate_encoder`` (the momentum copy of the encoder) embeds the candidates without gradient
while the trained encoder embeds the anchors; ``anchor_copy`` adds one augmented copy of every
anchor (:func:`anchor_copies`) to its candidates, ranked closest of all. :class:`CountingEncoder`
counts the window-passes of an encoder, with gradient and without (the loop's compute log).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relcon.data.augmentations import AUGMENTATIONS, random_augment
from relcon.data.sampling import CandidateBatch
from relcon.losses import (
    augmentation_prediction_loss,
    nt_xent_loss,
    rebar_loss,
    relative_contrastive_loss,
)
from relcon.losses.ntxent import nt_xent_logits
from relcon.models.distance import MotifDistance
from relcon.train.common import StepContext, scoring_autocast

__all__ = [
    "AUGPRED_P",
    "CandidatePool",
    "CountingEncoder",
    "EncoderWithHead",
    "StepResult",
    "anchor_copies",
    "apply_augmentation_subset",
    "augment_seed",
    "augpred_batch_loss",
    "augpred_step",
    "candidate_index",
    "distance_batch_loss",
    "distance_step",
    "ema_update",
    "no_marks",
    "optimizer_step",
    "oracle_distances",
    "rebar_batch_loss",
    "rebar_step",
    "relcon_batch_loss",
    "relcon_step",
    "score_candidates",
    "simclr_batch_loss",
    "simclr_step",
    "take_rows",
]

AUGPRED_P = 0.5  # each augmentation is applied with this probability (balanced binary targets)

Marks = Callable[[str], None]


def no_marks(_phase: str) -> None:
    """The default ``marks``: no timing."""


def _fp32(x: Tensor):
    """Autocast off: the losses are computed in float32 from the networks' (bf16) outputs."""
    return torch.autocast(x.device.type, enabled=False)


def augment_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of the augmentations of batch ``index`` of ``epoch``: the same on resume and on any rank."""
    return seed * 1_000_003 + epoch * 100_003 + index


# --------------------------------------------------------------------------------------------
# the candidate pool
# --------------------------------------------------------------------------------------------
def candidate_index(batch_size: int, within_user: int, between_user: int) -> Tensor:
    """``(B, m + K)`` rows of each anchor's candidates in the pool ``[anchors; within]``.

    Between-user candidates of anchor ``i`` are anchors ``i+1, ..., i+m`` (mod B); its within-user
    candidates are pool rows ``B + i*K ... B + i*K + K - 1`` (see :class:`CandidatePool`).
    """
    b, k, m = batch_size, within_user, between_user
    between = (torch.arange(b)[:, None] + torch.arange(1, m + 1)[None, :]) % b
    within = b + torch.arange(b * k).reshape(b, k)
    return torch.cat([between, within], dim=1)


@dataclass
class CandidatePool:
    """The layout of a batch's candidate pool (module docstring): anchors, then within-user
    candidates; between-user candidates are other anchors.

    Args:
        batch_size: ``B`` anchors.
        within_user: ``K`` within-user candidates per anchor.
        between_user: ``m`` other anchors per anchor (``None``: all ``B - 1``).
        device: where :attr:`index` lives.

    Example:
        >>> p = CandidatePool(3, 2, None)
        >>> p.size, p.index.tolist()
        (9, [[1, 2, 3, 4], [2, 0, 5, 6], [0, 1, 7, 8]])
    """

    batch_size: int
    within_user: int
    between_user: int | None = None
    device: torch.device | str = "cpu"
    index: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        b = self.batch_size
        if self.between_user is None:
            self.between_user = b - 1
        if not 0 <= self.between_user <= b - 1:
            raise ValueError(
                f"between_user must be in [0, batch_size - 1 = {b - 1}], got {self.between_user}"
            )
        self.index = candidate_index(b, self.within_user, self.between_user).to(self.device)

    @property
    def size(self) -> int:
        """Windows in the pool: ``B + B*K``."""
        return self.batch_size * (1 + self.within_user)

    def assemble(self, anchors: Tensor, within: Tensor, device: torch.device) -> Tensor:
        """``(B + B*K, T, 3)`` pool on ``device`` from the loader's ``(B, T, 3)`` anchors and
        ``(B*K, T, 3)`` within-user candidates."""
        return torch.cat([anchors, within]).to(device, non_blocking=True)

    def window_ids(self, batch: CandidateBatch) -> np.ndarray:
        """``(B + B*K,)`` window index of every pool row (e.g. to look up labels)."""
        return np.concatenate([batch.anchors, np.asarray(batch.within).reshape(-1)])


def score_candidates(
    distance: MotifDistance,
    pool: Tensor,
    cand_idx: Tensor,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
) -> Tensor:
    """``(B, C)`` frozen motif distances of each anchor (``pool[:B]``) to its candidates, in one
    batched no-grad call (CPU autocast to ``score_dtype`` if given)."""
    with torch.no_grad(), scoring_autocast(score_dtype, pool.device):
        return distance.score(pool[: cand_idx.shape[0]], pool, cand_idx, chunk_pairs=chunk_pairs)


def oracle_distances(dist: Tensor, labels: Tensor, cand_idx: Tensor) -> Tensor:
    """The label-oracle teacher: candidates sharing the anchor's label rank first.

    ``dist (B, C)`` are motif distances (non-negative), ``labels (M,)`` the class of every pool
    window (``-1``: unknown, never shared), ``cand_idx (B, C)`` as in :func:`relcon_batch_loss`.
    Every candidate of another (or unknown) label is pushed behind all candidates of the
    anchor's label; within each group the motif order is kept.
    """
    b = cand_idx.shape[0]
    anchor_label = labels[:b, None]
    differ = (labels[cand_idx] != anchor_label) | (anchor_label < 0)
    return dist + differ.to(dist.dtype) * (dist.detach().max() + 1)


# --------------------------------------------------------------------------------------------
# the loss of one micro-batch
# --------------------------------------------------------------------------------------------
def distance_batch_loss(model: Callable[..., Tensor], x: Tensor, x_aug: Tensor) -> Tensor:
    """Mean reconstruction distance ``d(x, x_aug)``: anchor ``x``, candidate its augmented copy."""
    return model(x, x_aug).float().mean()


def take_rows(z: Tensor, idx: Tensor) -> Tensor:
    """``z[idx]`` for a ``(N, D)`` ``z`` and an integer ``idx`` of any shape (``idx.shape + (D,)``),
    with a gradient that is the same from run to run: ``z[idx]``'s backward adds the rows of a
    repeated index with atomic adds across CPU threads, in whatever order the threads take, so
    two runs of one seed drift apart in the last bits; ``index_select``'s adds them in order."""
    return z.index_select(0, idx.reshape(-1)).reshape(*idx.shape, *z.shape[1:])


def relcon_batch_loss(
    encoder: Callable[[Tensor], Tensor],
    distance: MotifDistance,
    pool: Tensor,
    cand_idx: Tensor,
    tau: float,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
    labels: Tensor | None = None,
    marks: Marks = no_marks,
    *,
    candidate_encoder: Callable[[Tensor], Tensor] | None = None,
    copies: Tensor | None = None,
) -> Tensor:
    """The RelCon loss of one batch. ``pool`` is ``[anchors; within-user candidates]``,
    ``(B + B*K, T, 3)`` (:class:`CandidatePool`); ``cand_idx`` its ``(B, C)`` index.

    ``score_dtype`` (CPU only, :func:`relcon.train.common.scoring_dtype`): autocast the candidate
    scoring to it. ``labels`` (``(B + B*K,)``, optional): rank with the label oracle
    (:func:`oracle_distances`). The cheaper variants (module docstring): ``candidate_encoder``
    embeds the candidates without gradient (``encoder`` then embeds the ``B`` anchors only);
    ``copies`` ``(B, T, 3)``, an augmented copy of every anchor, becomes its first candidate,
    ranked closest (its distance: 1 below the anchor's closest scored candidate).
    """
    b = cand_idx.shape[0]
    dist = score_candidates(distance, pool, cand_idx, chunk_pairs, score_dtype)
    marks("scoring")
    if labels is not None:
        dist = oracle_distances(dist.float(), labels, cand_idx)
    dist = dist.float()
    windows = pool
    if copies is not None:  # anchor i's copy is window B + B*K + i, candidate 0, the closest
        first = pool.shape[0] + torch.arange(b, device=cand_idx.device)[:, None]
        cand_idx = torch.cat([first, cand_idx], dim=1)
        dist = torch.cat([dist.min(dim=1, keepdim=True).values - 1, dist], dim=1)
        windows = torch.cat([pool, copies.to(pool.dtype)])
    if candidate_encoder is None:  # the paper: one pass with gradient for every window
        z = encoder(windows).float()  # (B + B*K [+ B], D)
        z_anchor, z_cand = z[:b], take_rows(z, cand_idx)
    else:  # anchors with gradient; every candidate (other anchors too) without
        z_anchor = encoder(pool[:b]).float()
        with torch.no_grad():
            z_cand = take_rows(candidate_encoder(windows).float(), cand_idx)
    marks("encoder_forward")
    with _fp32(z_anchor):
        return relative_contrastive_loss(z_anchor, z_cand, dist, tau=tau)


def anchor_copies(anchors: Tensor, g: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """One augmented copy of every anchor ``(B, T, 3)``: each with one of the eight augmentations
    of :data:`relcon.data.augmentations.AUGMENTATIONS`, drawn uniformly with ``g``; returns the
    copies and ``(B,)`` which augmentation each received (its position in ``AUGMENTATIONS``)."""
    n = len(AUGMENTATIONS)
    which = torch.randint(n, (anchors.shape[0],), generator=g, device=anchors.device)
    return apply_augmentation_subset(anchors, F.one_hot(which, n).bool(), g), which


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """The momentum copy after an optimizer step: ``theta_ema = decay * theta_ema + (1 - decay) *
    theta`` for every parameter; buffers (batch-norm statistics) are copied from ``model``."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


class CountingEncoder:
    """``encoder(x)`` that counts the windows it embeds into ``passes``: ``[with gradient,
    without]`` (a list that several encoders may share); the loop logs them as its compute."""

    def __init__(self, encoder: Callable[[Tensor], Tensor], passes: list[int]) -> None:
        self.encoder, self.passes = encoder, passes

    def __call__(self, x: Tensor) -> Tensor:
        self.passes[0 if torch.is_grad_enabled() else 1] += x.shape[0]
        return self.encoder(x)


def simclr_batch_loss(
    model: Callable[[Tensor], Tensor], x: Tensor, g: torch.Generator, *, n_augment: int, tau: float
) -> tuple[Tensor, Tensor]:
    """Two augmented views of ``x (B, T, 3)`` through ``model`` (encoder + projection head) ->
    NT-Xent loss, and how often the partner view is the most similar one."""
    b = x.shape[0]
    views = torch.cat([random_augment(x, n=n_augment, g=g), random_augment(x, n=n_augment, g=g)])
    z = model(views).float()  # (2B, P), one pass for both views
    with _fp32(z):
        loss = nt_xent_loss(z[:b], z[b:], tau=tau)
    with torch.no_grad(), _fp32(z):
        logits, positive = nt_xent_logits(z[:b], z[b:], tau)
        acc = (logits.argmax(dim=1) == positive).float().mean()
    return loss, acc


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


def augpred_batch_loss(
    model: Callable[[Tensor], Tensor], x: Tensor, g: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random augmentation subsets for ``x (B, T, 3)`` through ``model`` (encoder + linear head)
    -> BCE loss, and the bit accuracy."""
    applied = torch.rand(x.shape[0], len(AUGMENTATIONS), generator=g, device=x.device) < AUGPRED_P
    logits = model(apply_augmentation_subset(x, applied, g)).float()  # (B, 8)
    with _fp32(logits):
        loss = augmentation_prediction_loss(logits, applied)
    acc = ((logits.detach() > 0) == applied).float().mean()
    return loss, acc


def rebar_batch_loss(
    encoder: Callable[[Tensor], Tensor],
    distance: MotifDistance,
    pool: Tensor,
    cand_idx: Tensor,
    *,
    tau: float,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
    marks: Marks = no_marks,
) -> tuple[Tensor, Tensor]:
    """RelCon's candidate pool ``[anchors; within] (B + B*K, T, 3)`` -> REBAR loss, and how often
    the closest candidate is also the most similar embedding."""
    b = cand_idx.shape[0]
    dist = score_candidates(distance, pool, cand_idx, chunk_pairs, score_dtype).float()  # (B, C)
    marks("scoring")
    z = encoder(pool).float()  # (B + B*K, D), one pass for all windows
    marks("encoder_forward")
    cand = take_rows(z, cand_idx)
    with _fp32(z):
        loss = rebar_loss(z[:b], cand, dist, tau=tau)
    with torch.no_grad(), _fp32(z):
        sim = torch.einsum("bd,bcd->bc", F.normalize(z[:b], dim=-1), F.normalize(cand, dim=-1))
        acc = (sim.argmax(dim=1) == dist.argmin(dim=1)).float().mean()
    return loss, acc


# --------------------------------------------------------------------------------------------
# one optimizer step
# --------------------------------------------------------------------------------------------
@dataclass
class StepResult:
    """What a step reports. ``loss`` and ``metrics`` are means over the micro-batches (0-d
    tensors: ``.item()`` them when logging, so a GPU is not synchronised every step)."""

    loss: Tensor
    grad_norm: Tensor  # before clipping
    epoch: int  # of the step's last micro-batch
    next_batch: int  # this process's position in that epoch after the step (for resuming)
    metrics: dict[str, Tensor] = field(default_factory=dict)


def optimizer_step(
    ctx: StepContext,
    fetch: Callable[[], tuple[tuple[int, int], Any]],
    forward: Callable[[Any], tuple[Tensor, dict[str, Tensor]]],
    marks: Marks = no_marks,
) -> StepResult:
    """One optimizer step over ``ctx.accumulate`` micro-batches (module docstring).

    ``fetch()`` -> ``((epoch, j), data)``: the next micro-batch on the device (``j`` = this
    process's batch number in the epoch); ``forward(data)`` -> ``(loss, metrics)``, run under
    ``ctx.autocast``.
    """
    ctx.optimizer.zero_grad(set_to_none=True)
    loss_sum: Tensor | float = 0.0
    sums: dict[str, Tensor] = {}
    epoch = j = 0
    for micro in range(ctx.accumulate):
        (epoch, j), data = fetch()
        marks("data")
        with ctx.sync(last=micro == ctx.accumulate - 1):
            with ctx.autocast():
                loss, metrics = forward(data)
            loss = loss.float()
            marks("loss")
            loss.backward()
        marks("backward")
        loss_sum = loss_sum + loss.detach()
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value.detach().float()
    n = ctx.accumulate
    if n > 1:  # the mean gradient over the micro-batches, scaled once (module docstring)
        for p in ctx.params:
            if p.grad is not None:
                p.grad.div_(n)
    grad_norm = torch.nn.utils.clip_grad_norm_(ctx.params, ctx.grad_clip)
    ctx.optimizer.step()
    marks("optimizer")
    return StepResult(
        torch.as_tensor(loss_sum) / n, grad_norm, epoch, j + 1, {k: v / n for k, v in sums.items()}
    )


def distance_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, int, int, Tensor]],
    *,
    seed: int,
    n_augment: int,
    marks: Marks = no_marks,
) -> StepResult:
    """One step of motif-distance training (:mod:`.distance`): ``batches`` from
    :func:`relcon.data.loader.shuffled_batches`; each window is rebuilt from a copy of itself
    with ``n_augment`` of the eight augmentations (drawn on the device, seeded by
    :func:`augment_seed`)."""

    def fetch():
        epoch, j, index, x = next(batches)
        x = x.to(ctx.device, non_blocking=True)
        g = torch.Generator(device=ctx.device).manual_seed(augment_seed(seed, epoch, index))
        return (epoch, j), (x, random_augment(x, n=n_augment, g=g))

    return optimizer_step(ctx, fetch, lambda d: (distance_batch_loss(ctx.model, *d), {}), marks)


def _candidate_fetch(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    pool: CandidatePool,
    window_labels: np.ndarray | None = None,
    copy_seed: int | None = None,
) -> Callable[[], tuple[tuple[int, int], tuple[Tensor, Tensor | None, Tensor | None]]]:
    """Next batch of :func:`relcon.data.loader.candidate_batches` as ``(pool, labels, copies)``
    on the device (``labels``: the pool windows' ``window_labels``, if given; ``copies``: with a
    ``copy_seed``, the anchors' :func:`anchor_copies`, seeded by :func:`augment_seed`)."""

    def fetch():
        j, batch, anchors, within = next(batches)
        x = pool.assemble(anchors, within, ctx.device)  # (B + B*K, T, 3)
        labels = copies = None
        if window_labels is not None:
            labels = torch.as_tensor(window_labels[pool.window_ids(batch)], device=ctx.device)
        if copy_seed is not None:
            g = torch.Generator(device=ctx.device)
            g.manual_seed(augment_seed(copy_seed, batch.epoch, batch.index))
            copies = anchor_copies(x[: pool.batch_size], g)[0]
        return (batch.epoch, j), (x, labels, copies)

    return fetch


def relcon_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    pool: CandidatePool,
    distance: MotifDistance,
    *,
    tau: float,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
    window_labels: np.ndarray | None = None,
    candidate_encoder: Callable[[Tensor], Tensor] | None = None,
    anchor_copy: bool = False,
    seed: int = 0,
    marks: Marks = no_marks,
) -> StepResult:
    """One RelCon pretraining step (:mod:`.relcon`): ``batches`` from
    :func:`relcon.data.loader.candidate_batches`, laid out by ``pool``; the frozen ``distance``
    ranks the candidates (the label oracle instead when ``window_labels``, every window's label,
    are given); ``ctx.model`` is the encoder. The cheaper variants (:func:`relcon_batch_loss`):
    ``candidate_encoder`` (e.g. the momentum copy) embeds the candidates without gradient;
    ``anchor_copy`` adds each anchor's augmented copy (seeded by ``seed``) as its closest."""

    def forward(data):
        x, labels, copies = data
        loss = relcon_batch_loss(
            ctx.model, distance, x, pool.index, tau, chunk_pairs, score_dtype, labels, marks,
            candidate_encoder=candidate_encoder, copies=copies,
        )  # fmt: skip
        return loss, {}

    fetch = _candidate_fetch(ctx, batches, pool, window_labels, seed if anchor_copy else None)
    return optimizer_step(ctx, fetch, forward, marks)


def _anchor_fetch(
    ctx: StepContext, batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]], seed: int
) -> Callable[[], tuple[tuple[int, int], tuple[Tensor, torch.Generator]]]:
    """Next batch's anchors on the device, and the generator of its augmentations (their draws
    depend only on ``(seed, epoch, batch)``: the same on resume and on any process)."""

    def fetch():
        j, batch, anchors, _within = next(batches)
        g = torch.Generator(device=ctx.device)
        g.manual_seed(augment_seed(seed, batch.epoch, batch.index))
        return (batch.epoch, j), (anchors.to(ctx.device, non_blocking=True), g)

    return fetch


def _anchor_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    seed: int,
    batch_loss: Callable[..., tuple[Tensor, Tensor]],
    marks: Marks,
) -> StepResult:
    """An optimiser step of ``batch_loss(model, anchors, generator) -> (loss, acc)`` on the
    anchors of the next batch (the baselines' step)."""

    def forward(data):
        loss, acc = batch_loss(ctx.model, *data)
        return loss, {"acc": acc}

    return optimizer_step(ctx, _anchor_fetch(ctx, batches, seed), forward, marks)


def simclr_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    *,
    seed: int,
    n_augment: int,
    tau: float,
    marks: Marks = no_marks,
) -> StepResult:
    """One SimCLR step on the anchors of RelCon's batches; ``ctx.model`` is the encoder with its
    projection head; ``metrics["acc"]``: how often the partner view is the most similar."""
    loss = functools.partial(simclr_batch_loss, n_augment=n_augment, tau=tau)
    return _anchor_step(ctx, batches, seed, loss, marks)


def augpred_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    *,
    seed: int,
    marks: Marks = no_marks,
) -> StepResult:
    """One augmentation-prediction step on the anchors of RelCon's batches; ``ctx.model`` is the
    encoder with its linear head; ``metrics["acc"]``: the bit accuracy."""
    return _anchor_step(ctx, batches, seed, augpred_batch_loss, marks)


def rebar_step(
    ctx: StepContext,
    batches: Iterator[tuple[int, CandidateBatch, Tensor, Tensor]],
    pool: CandidatePool,
    distance: MotifDistance,
    *,
    tau: float,
    chunk_pairs: int | None = None,
    score_dtype: torch.dtype | None = None,
    marks: Marks = no_marks,
) -> StepResult:
    """One REBAR step on RelCon's candidate pool; ``metrics["acc"]``: how often the closest
    candidate is also the most similar embedding."""

    def forward(data):
        x = data[0]
        loss, acc = rebar_batch_loss(
            ctx.model, distance, x, pool.index, tau=tau, chunk_pairs=chunk_pairs,
            score_dtype=score_dtype, marks=marks,
        )  # fmt: skip
        return loss, {"acc": acc}

    return optimizer_step(ctx, _candidate_fetch(ctx, batches, pool), forward, marks)


class EncoderWithHead(nn.Module):
    """``head(encoder(x))``: what a baseline's step trains (one module, so that it can be
    wrapped for data parallelism and compiled as a whole)."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))
