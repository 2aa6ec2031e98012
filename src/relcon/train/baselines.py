"""Self-supervised baselines for RelCon, trained exactly like a RelCon run.

Three methods, each trained on the same windows, with the same encoder architecture and the same
budget as :func:`relcon.train.relcon.pretrain` for the same :class:`~relcon.config.PretrainConfig`:
``cfg.steps`` steps of ``cfg.batch_size`` anchors drawn by the same :class:`CandidateSampler`
(same seed, so the very same anchors at every step) and background loader (``num_workers``), the
same AdamW + warmup + cosine schedule, gradient clipping, ``accumulate``, precision (``amp``,
``cpu_bf16``), ``compile`` / ``compile_encoder``, ``torchrun`` data parallelism, run-folder lock,
logging, checkpoints and ``--resume``: they are trained by RelCon's own loop,
:func:`relcon.train.relcon.pretrain` with ``PretrainConfig.method`` set, where one step is
:func:`relcon.train.steps.simclr_step`, :func:`~relcon.train.steps.augpred_step` or
:func:`~relcon.train.steps.rebar_step` instead of :func:`~relcon.train.steps.relcon_step`:

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
from pathlib import Path
from typing import Any

from torch import nn

from relcon.config import PretrainConfig
from relcon.data.augmentations import AUGMENTATIONS
from relcon.train.steps import (
    AUGPRED_P,
    apply_augmentation_subset,
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


def pretrain_baseline(method: str, cfg: PretrainConfig, out: str | Path, **options: Any) -> Path:
    """Pretrain an encoder with a baseline ``method`` ("simclr", "augpred" or "rebar"):
    :func:`relcon.train.relcon.pretrain` with ``cfg.method = method`` (``options``: its
    ``resume``, ``overwrite``, ``segments``, ``progress``).

    Uses the fields of ``cfg`` as :func:`relcon.train.relcon.pretrain` does (``tau`` is also
    SimCLR's temperature; ``distance``, ``between_user``, ``distance_chunk_pairs`` and ``compile``
    (the distance's compiled sparsemax) matter to REBAR only; ``teacher`` is RelCon's alone and
    must stay ``"distance"``). ``n_augment`` (augmentations per SimCLR view) and
    ``projection_dim`` (SimCLR's projection size) are the baselines' own.

    Returns:
        The run folder; its ``model.safetensors`` / ``model.json`` hold a plain encoder, with
        ``"method"`` and ``"train_users"`` recorded in ``model.json``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; expected one of {METHODS}")
    if cfg.method not in ("relcon", method):
        raise ValueError(f"PretrainConfig.method is {cfg.method!r} but {method!r} was asked for")
    from relcon.train.relcon import pretrain

    return pretrain(dataclasses.replace(cfg, method=method), out, **options)
