"""Candidate scoring one block of anchor rows at a time: the algorithm of a fused scoring kernel.

:meth:`relcon.models.distance.MotifDistance.score` rebuilds each anchor from a candidate through a
``T x T`` sparsemax attention matrix per pair. Everything after the query, key and value
convolutions can instead run one block of anchor time steps (rows) at a time, keeping only a
``rows x T`` tile of scores: for each block,

1. ``S = Q_blk K^T / sqrt(D)`` in float32;
2. the exact sparsemax threshold ``tau`` of every row of ``S`` (Michelot's iteration, run until
   no row's support changes);
3. ``O = relu(S - tau) V``, the output projection ``Y = O W^T + b`` and the reversible
   de-normalisation back to the anchor's units;
4. the block's share of the squared reconstruction error, added to the pair's total.

Only one number per pair leaves the loop, which is what a kernel keeping the tile in on-chip
memory (a GPU's shared memory) computes. :func:`blocked_pair_distances` is that algorithm
written with PyTorch operations: the reference any such kernel is tested against, and a scoring
path whose memory is ``P x rows x T`` instead of ``P x T x T``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["blocked_pair_distances", "exact_sparsemax_threshold"]


def exact_sparsemax_threshold(scores: Tensor) -> Tensor:
    """Threshold ``tau`` (``(..., 1)``) with ``sum(relu(scores - tau)) = 1`` along the last dim.

    Michelot's iteration from the lower bound ``max - 1``: the support ``{scores > tau}`` only
    shrinks, and once no row's support changes ``tau`` is exact. At most ``T + 1`` passes.

    Example:
        >>> exact_sparsemax_threshold(torch.tensor([[2.0, 1.0, -1.0]]))
        tensor([[1.]])
    """
    tau = scores.amax(dim=-1, keepdim=True) - 1
    count = torch.full_like(tau, -1.0)
    for _ in range(scores.shape[-1] + 1):
        mask = scores > tau
        new_count = mask.sum(dim=-1, keepdim=True).to(scores.dtype)
        tau = (torch.where(mask, scores, 0).sum(dim=-1, keepdim=True) - 1) / new_count
        if bool((new_count == count).all()):
            break
        count = new_count
    return tau


def blocked_pair_distances(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    anchor: Tensor,
    mean: Tensor,
    std: Tensor,
    proj_weight: Tensor,
    proj_bias: Tensor,
    revin_weight: Tensor,
    revin_bias: Tensor,
    revin_eps: float,
    block_rows: int = 32,
) -> Tensor:
    """Squared reconstruction error of each (anchor, candidate) pair, ``block_rows`` rows at a time.

    Args:
        queries: ``(P, T, D)`` query features of each pair's anchor (normalised with the
            candidate's statistics, as the distance does).
        keys, values: ``(P, T, D)`` key and value features of each pair's candidate.
        anchor: ``(P, T, C)`` the anchors as the distance sees them (the reconstruction target).
        mean, std: ``(P, 1, C)`` the candidates' per-channel statistics (RevIN).
        proj_weight, proj_bias: ``(C, D)`` and ``(C,)``, the output projection.
        revin_weight, revin_bias: ``(C,)``, the learnable RevIN affine map; ``revin_eps`` its eps.
        block_rows: anchor time steps per block (the tile is ``P x block_rows x T``).

    Returns:
        ``(P,)`` float32 distances, equal to :meth:`MotifDistance.score`'s up to rounding
        (the sum is taken in a different order).

    Example:
        >>> from relcon.models.distance import MotifDistance
        >>> m = MotifDistance(channels=8, bottleneck=2).eval()
        >>> a, c = torch.randn(2, 64, 3), torch.randn(2, 64, 3)
        >>> k, v, mu, sd = m.encode_candidates(c)
        >>> q = m.query_net(m._norm(a, mu, sd).transpose(1, 2)).transpose(1, 2)
        >>> d = blocked_pair_distances(q, k, v, a, mu, sd, m.out_proj.weight, m.out_proj.bias,
        ...                            m.revin_weight, m.revin_bias, m.config.revin_eps, 16)
        >>> bool(torch.allclose(d, m(a, c).detach(), rtol=1e-4))
        True
    """
    p, t, d = queries.shape
    if block_rows < 1:
        raise ValueError(f"block_rows must be at least 1, got {block_rows}")
    scale = 1.0 / math.sqrt(d)
    keys_t = keys.float().transpose(1, 2)  # (P, D, T)
    values = values.float()
    weight_t = proj_weight.float().t()  # (D, C)
    gain = (revin_weight.float() + revin_eps * revin_eps)[None, None, :]
    total = torch.zeros(p, dtype=torch.float32, device=queries.device)
    for r0 in range(0, t, block_rows):
        r1 = min(t, r0 + block_rows)
        s = torch.bmm(queries[:, r0:r1].float(), keys_t) * scale  # (P, rows, T)
        attn = torch.clamp(s - exact_sparsemax_threshold(s), min=0)
        y = torch.bmm(attn, values) @ weight_t + proj_bias.float()  # (P, rows, C)
        recon = (y - revin_bias.float()) / gain * std.float() + mean.float()
        total += (recon - anchor[:, r0:r1].float()).square().sum(dim=(1, 2))
    return total
