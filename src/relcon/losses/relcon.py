"""RelCon's relative contrastive loss (Xu et al., ICLR 2025, Eq. 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["check_candidate_shapes", "relative_contrastive_loss"]


def check_candidate_shapes(
    anchors: Tensor, candidates: Tensor, distances: Tensor, tau: float, min_candidates: int = 0
) -> int:
    """Check the inputs of a loss over candidates ranked by distance; returns ``B``.

    ``anchors`` ``(B, D)``, ``candidates`` ``(B, C, D)`` with ``C >= min_candidates``,
    ``distances`` ``(B, C)`` and a positive temperature ``tau``; a ValueError names the shapes.
    """
    shapes = f"{tuple(anchors.shape)}, {tuple(candidates.shape)}, {tuple(distances.shape)}"
    if anchors.ndim != 2 or candidates.ndim != 3 or distances.ndim != 2:
        raise ValueError(
            f"expected anchors (B, D), candidates (B, C, D), distances (B, C); got {shapes}"
        )
    b, c, d = candidates.shape
    if anchors.shape != (b, d) or distances.shape != (b, c) or c < min_candidates:
        at_least = f" >= {min_candidates}" if min_candidates else ""
        raise ValueError(
            f"shape mismatch: anchors (B, D), candidates (B, C{at_least}, D), distances (B, C); "
            f"got {shapes}"
        )
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    return b


def relative_contrastive_loss(
    anchors: Tensor, candidates: Tensor, distances: Tensor, tau: float = 0.1
) -> Tensor:
    """Relative contrastive loss of RelCon.

    From Xu et al., "RelCon: Relative Contrastive Learning for a Motion Foundation Model for
    Wearable Data", ICLR 2025 (arXiv:2411.18822), Eq. 2. Each anchor comes with a set of
    candidates ranked by a (frozen, learned) distance. Every candidate in turn is treated as the
    positive, and all candidates strictly *farther* from the anchor than it are its negatives.
    Summing over the candidates teaches a graded notion of similarity instead of a single binary
    positive: the closest candidate must beat everyone, the second closest everyone but the first,
    and so on. With ``s_ij = cos(z_i, c_ij) / tau`` the loss of anchor ``i`` is

    .. math::

        \\ell_i = \\sum_j -\\log \\frac{\\exp(s_{ij})}{\\exp(s_{ij})
                  + \\sum_{k: d_{ik} > d_{ij}} \\exp(s_{ik})}

    and the result is the mean of ``ell_i`` over anchors. A candidate with no farther candidate
    (the farthest one) contributes zero. Ties in distance are not negatives of each other, so the
    loss does not depend on the order of the candidates, only on their distances. The sum is
    evaluated with a reverse cumulative log-sum-exp: no Python loop over anchors and no overflow,
    even at ``tau = 0.01``.

    Args:
        anchors: ``(B, D)`` anchor embeddings.
        candidates: ``(B, C, D)`` candidate embeddings (within-user and between-user together).
        distances: ``(B, C)`` distance of each candidate to its anchor (smaller = more similar).
            Only their order matters; no gradient flows through them.
        tau: temperature.

    Returns:
        Scalar loss (mean over anchors of the sum over candidates).

    Example:
        >>> z = torch.randn(8, 128)
        >>> c = torch.randn(8, 20, 128)
        >>> d = torch.rand(8, 20)
        >>> loss = relative_contrastive_loss(z, c, d, tau=0.1)
        >>> loss.shape
        torch.Size([])
    """
    b = check_candidate_shapes(anchors, candidates, distances, tau)

    sim = torch.einsum("bd,bcd->bc", F.normalize(anchors, dim=-1), F.normalize(candidates, dim=-1))
    logits = sim / tau  # (B, C)

    dist_sorted, order = torch.sort(distances.detach(), dim=1)  # closest first
    logits_sorted = logits.gather(1, order)
    # lse[:, j] = logsumexp(logits_sorted[:, j:]); a trailing -inf column stands for "nobody".
    lse = torch.logcumsumexp(logits_sorted.flip(1), dim=1).flip(1)
    lse = torch.cat([lse, lse.new_full((b, 1), float("-inf"))], dim=1)
    # First position strictly farther than candidate j (skips candidates tied with j).
    farther = torch.searchsorted(dist_sorted.contiguous(), dist_sorted.contiguous(), right=True)
    negatives = lse.gather(1, farther)  # logsumexp over the negatives of j, -inf if none
    terms = torch.logaddexp(logits_sorted, negatives) - logits_sorted
    return terms.sum(dim=1).mean()
