"""NT-Xent, the contrastive loss of SimCLR (the ``simclr`` baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["nt_xent_logits", "nt_xent_loss"]


def nt_xent_logits(z1: Tensor, z2: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """``(2B, 2B)`` similarity logits (self-pairs at -inf) and the index of each row's positive."""
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    logits = (z @ z.T) / tau
    self_pair = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pair, float("-inf"))
    positive = torch.arange(2 * b, device=z.device).roll(b)  # row i <-> row i + B (mod 2B)
    return logits, positive


def nt_xent_loss(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """Normalised temperature-scaled cross-entropy (NT-Xent) loss of SimCLR.

    From Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
    ICML 2020, Eq. 1. Row ``i`` of ``z1`` and row ``i`` of ``z2`` are two views of the same
    window (a positive pair); the other ``2B - 2`` views in the batch are its negatives. With
    ``s(u, v) = cos(u, v) / tau`` and the ``2B`` views ``z = [z1; z2]``, the loss of view ``k``
    whose partner is ``p(k)`` is

    .. math::

        \\ell_k = -\\log \\frac{\\exp(s(z_k, z_{p(k)}))}{\\sum_{m \\ne k} \\exp(s(z_k, z_m))}

    and the result is the mean of ``ell_k`` over all ``2B`` views (both directions). It is one
    ``(2B, 2B)`` matrix product and a log-softmax (no Python loop, no overflow at small ``tau``).

    Args:
        z1: ``(B, D)`` embeddings (projections) of the first views.
        z2: ``(B, D)`` embeddings of the second views, row-aligned with ``z1``.
        tau: temperature.

    Returns:
        Scalar loss.

    Example:
        >>> z1, z2 = torch.randn(8, 64), torch.randn(8, 64)
        >>> nt_xent_loss(z1, z2, tau=0.1).shape
        torch.Size([])
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"expected z1 and z2 of the same shape (B, D); got {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    logits, positive = nt_xent_logits(z1, z2, tau)
    return F.cross_entropy(logits, positive)
