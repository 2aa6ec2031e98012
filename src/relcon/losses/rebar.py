"""REBAR's contrastive loss: the closest candidate is the single positive (the ``rebar`` baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from relcon.losses.relcon import check_candidate_shapes

__all__ = ["rebar_loss"]


def rebar_loss(anchors: Tensor, candidates: Tensor, distances: Tensor, tau: float = 0.1) -> Tensor:
    """REBAR's contrastive loss: the closest candidate is the positive, all others negatives.

    From Xu et al., "REBAR: Retrieval-Based Reconstruction for Time-series Contrastive Learning",
    ICLR 2024. Each anchor comes with ``C`` candidates and their (frozen, learned) distance to it;
    the candidate with the smallest distance, ``j* = argmin_j d_ij``, is the single positive and
    the other ``C - 1`` are negatives. With ``s_ij = cos(z_i, c_ij) / tau``:

    .. math::

        \\ell_i = -\\log \\frac{\\exp(s_{ij^*})}{\\sum_j \\exp(s_{ij})}

    and the result is the mean over anchors. This is RelCon's loss
    (:func:`relcon.losses.relative_contrastive_loss`) cut down to its first term. Ties for the
    smallest distance go to the first such candidate (``torch.argmin``).

    Args:
        anchors: ``(B, D)`` anchor embeddings.
        candidates: ``(B, C, D)`` candidate embeddings (within-user and between-user together).
        distances: ``(B, C)`` distance of each candidate to its anchor (smaller = more similar);
            no gradient flows through them.
        tau: temperature.

    Returns:
        Scalar loss.

    Example:
        >>> z, c, d = torch.randn(8, 128), torch.randn(8, 20, 128), torch.rand(8, 20)
        >>> rebar_loss(z, c, d, tau=0.1).shape
        torch.Size([])
    """
    check_candidate_shapes(anchors, candidates, distances, tau, min_candidates=1)
    sim = torch.einsum("bd,bcd->bc", F.normalize(anchors, dim=-1), F.normalize(candidates, dim=-1))
    positive = distances.detach().argmin(dim=1)
    return F.cross_entropy(sim / tau, positive)
