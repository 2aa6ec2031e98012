"""The training methods of ``relcon pretrain``: one table, :data:`METHODS`, read by everyone.

The pretraining loop (:func:`relcon.train.relcon.pretrain`), the baselines' entry point
(:func:`relcon.train.baselines.pretrain_baseline`), the benchmark (``BenchmarkConfig.baselines``)
and the tests of ``PretrainConfig.method``'s choices all read this table; a method is one
:class:`Method` entry here (and its step function in :mod:`relcon.train.steps`, its loss in
:mod:`relcon.losses`, its tests).

Every method is trained by the same loop on the same windows, with the same encoder, sampler
(the very same anchors at every step for the same seed), optimiser, schedule, precision,
checkpoints and ``--resume``; only the step function and a pretraining-only head differ:

* ``"relcon"`` -- the relative contrastive loss (Xu et al., ICLR 2025): the candidates (within-user
  and other anchors) ranked by the frozen motif distance.
* ``"simclr"`` -- SimCLR (Chen et al., ICML 2020; for wearables Tang et al., arXiv:2011.11542):
  two views of every anchor, each with two of the eight augmentations RelCon's distance is trained
  with, a two-layer MLP projection head, and the NT-Xent loss (:func:`relcon.losses.nt_xent_loss`).
* ``"augpred"`` -- augmentation prediction (transformation discrimination, after Saeed et al.,
  "Multi-task Self-Supervised Learning for Human Activity Detection", IMWUT 2019): every anchor
  receives a random subset of the eight augmentations and a linear head predicts which of them
  were applied (eight binary outputs, :func:`relcon.losses.augmentation_prediction_loss`).
* ``"rebar"`` -- REBAR (Xu et al., "REBAR: Retrieval-Based Reconstruction for Time-series
  Contrastive Learning", ICLR 2024): RelCon's candidate set scored by the same frozen motif
  distance, but a *binary* positive: the closest candidate is the positive, all others are
  negatives (:func:`relcon.losses.rebar_loss`).

Heads are used during pretraining only: the run folder holds a plain
:class:`~relcon.models.encoder.ResNet1DEncoder` (``model.json`` records a baseline's
``"method"``); a head's weights live in the checkpoints' trainer state, so ``--resume``
continues exactly. Encoded windows per step, with ``B = batch_size`` and ``K = within_user``:
RelCon and REBAR ``B + B*K``; SimCLR ``2B``; augmentation prediction ``B``; all with gradient.
RelCon's cheaper options (``candidate_encoder = "ema"``: ``B`` with gradient and ``B + B*K``
without; ``anchor_copy``: ``B`` more) are settings of the ``"relcon"`` entry, not methods; the
loop logs the passes it ran (``passes_grad``, ``passes_nograd`` in ``metrics.csv``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from relcon.data.augmentations import AUGMENTATIONS
from relcon.train.steps import StepResult, augpred_step, rebar_step, relcon_step, simclr_step

__all__ = ["BASELINES", "METHODS", "Method"]


@dataclass(frozen=True)
class Method:
    """One training method: a row of :data:`METHODS`."""

    name: str  # the value of PretrainConfig.method
    #: one optimizer step (:mod:`relcon.train.steps`): ``step(ctx, batches, **arguments)``
    step: Callable[..., StepResult]
    #: ``head(embed_dim, projection_dim)``: the pretraining-only head, or None (the loss acts on
    #: the encoder's embeddings)
    head: Callable[[int, int], nn.Module] | None
    needs_distance: bool  # ranks candidates with a trained motif distance (PretrainConfig.distance)
    description: str  # one line

    def takes(self, name: str) -> bool:
        """Whether :attr:`step` takes the keyword ``name``."""
        return name in inspect.signature(self.step).parameters

    def arguments(self, available: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of :attr:`step` from what the loop has ``available``."""
        params = list(inspect.signature(self.step).parameters.values())[2:]  # ctx, batches
        missing = [p.name for p in params if p.default is p.empty and p.name not in available]
        if missing:
            raise TypeError(f"{self.name}'s step needs {missing}, which the loop does not give")
        return {p.name: available[p.name] for p in params if p.name in available}


def _projection_head(embed_dim: int, projection_dim: int) -> nn.Module:
    """SimCLR's projection MLP ``Linear(D, D) -> ReLU -> Linear(D, projection_dim)``."""
    return nn.Sequential(
        nn.Linear(embed_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, projection_dim)
    )


def _augmentation_head(embed_dim: int, projection_dim: int) -> nn.Module:
    """A linear classifier ``Linear(D, 8)``: one logit per augmentation."""
    return nn.Linear(embed_dim, len(AUGMENTATIONS))


#: The methods, name -> :class:`Method`; the first is the default (``PretrainConfig.method``).
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        # Method(name, step, head, needs_distance, description)
        Method("relcon", relcon_step, None, True,
               "relative contrastive loss: candidates ranked by the motif distance"),
        Method("simclr", simclr_step, _projection_head, False,
               "SimCLR: two augmented views, projection head, NT-Xent"),
        Method("augpred", augpred_step, _augmentation_head, False,
               "augmentation prediction: which of the eight augmentations were applied"),
        Method("rebar", rebar_step, None, True,
               "REBAR: RelCon's candidates, the closest one by the motif distance the positive"),
    )
}  # fmt: skip

#: The self-supervised baselines: every method but RelCon (``relcon benchmark`` compares them).
BASELINES: tuple[str, ...] = tuple(name for name in METHODS if name != "relcon")
