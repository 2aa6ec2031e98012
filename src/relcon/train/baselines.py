"""Self-supervised baselines for RelCon, trained exactly like a RelCon run.

Each is trained on the same windows, with the same encoder architecture and the same budget as
:func:`relcon.train.relcon.pretrain` for the same :class:`~relcon.config.PretrainConfig`:
``cfg.steps`` steps of ``cfg.batch_size`` anchors drawn by the same :class:`CandidateSampler`
(same seed, so the very same anchors at every step) and background loader (``num_workers``), the
same AdamW + warmup + cosine schedule, gradient clipping, ``accumulate``, ``precision``,
``compile`` / ``compile_encoder``, ``torchrun`` data parallelism, run-folder lock,
logging, checkpoints and ``--resume``: they are trained by RelCon's own loop,
:func:`relcon.train.relcon.pretrain` with ``PretrainConfig.method`` set; only the step function
and a pretraining-only head differ.

The methods, their step functions and heads are the table :data:`relcon.train.methods.METHODS`
(:data:`~relcon.train.methods.BASELINES`: every method but RelCon). The run folder holds a plain
:class:`~relcon.models.encoder.ResNet1DEncoder` in RelCon's format (``model.json`` also records
``"method"``), so ``relcon.load(run)`` and ``relcon evaluate`` take it as they take a RelCon run.

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

from relcon.config import PretrainConfig
from relcon.train.methods import BASELINES
from relcon.train.relcon import pretrain

__all__ = ["pretrain_baseline"]


def pretrain_baseline(method: str, cfg: PretrainConfig, out: str | Path, **options: Any) -> Path:
    """Pretrain an encoder with a baseline ``method`` (one of
    :data:`~relcon.train.methods.BASELINES`): :func:`relcon.train.relcon.pretrain` with
    ``cfg.method = method`` (``options``: its ``resume``, ``overwrite``, ``segments``,
    ``progress``).

    Uses the fields of ``cfg`` as :func:`relcon.train.relcon.pretrain` does (``tau`` is also
    SimCLR's temperature; ``distance``, ``between_user``, ``distance_chunk_pairs`` and ``compile``
    (the distance's compiled sparsemax) matter to REBAR only; ``teacher`` is RelCon's alone and
    must stay ``"distance"``). ``n_augment`` (augmentations per SimCLR view) and
    ``projection_dim`` (SimCLR's projection size) are the baselines' own.

    Returns:
        The run folder; its ``model.safetensors`` / ``model.json`` hold a plain encoder, with
        ``"method"`` and ``"train_users"`` recorded in ``model.json``.
    """
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; expected one of {BASELINES}")
    if cfg.method not in ("relcon", method):
        raise ValueError(f"PretrainConfig.method is {cfg.method!r} but {method!r} was asked for")
    return pretrain(dataclasses.replace(cfg, method=method), out, **options)
