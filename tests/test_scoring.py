"""Exact candidate scoring: the compiled path redoes only the pairs that need it, and the
row-block algorithm of a fused kernel (relcon.models.scoring) gives the eager path's distances
and rankings."""

from __future__ import annotations

import math

import pytest
import torch

from relcon.models import distance as D
from relcon.models.distance import MotifDistance
from relcon.models.scoring import blocked_pair_distances, exact_sparsemax_threshold


def _sort_threshold(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax threshold by the textbook sort (Martins & Astudillo, 2016), row by row."""
    zs, _ = torch.sort(z.double(), dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=torch.float64)
    cum = zs.cumsum(-1)
    support = (1 + k * zs > cum).sum(-1, keepdim=True)  # the support's size
    return ((cum.gather(-1, support - 1) - 1) / support).to(z.dtype)


def _windows(n: int, seed: int) -> torch.Tensor:
    """Motion-like windows: a few sinusoids per axis plus noise and gravity."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(256) / 100.0
    f = 0.5 + 3 * torch.rand(n, 1, 3, generator=g)
    phase = 6.28 * torch.rand(n, 1, 3, generator=g)
    x = torch.sin(6.28 * f * t[None, :, None] + phase) * torch.rand(n, 1, 3, generator=g)
    return x + 0.1 * torch.randn(n, 256, 3, generator=g) + torch.tensor([0.0, 0.0, 1.0])


def _model(seed: int = 0) -> MotifDistance:
    torch.manual_seed(seed)
    return MotifDistance(channels=16, bottleneck=4).eval()


def _same_order(reference: torch.Tensor, other: torch.Tensor, tol: torch.Tensor) -> None:
    """Every pair of candidates that ``reference`` orders by more than ``tol`` is ordered the
    same way by ``other`` (closer pairs are ties at this precision)."""
    gap = reference[:, :, None] - reference[:, None, :]
    wider = gap > tol[:, :, None] + tol[:, None, :]
    assert bool(((other[:, :, None] - other[:, None, :]) > 0)[wider].all())


def test_threshold_matches_the_sort_formula_also_for_rows_needing_many_passes():
    g = torch.Generator().manual_seed(0)
    rows = [torch.randn(64, 256, generator=g) * s for s in (0.1, 1.0, 10.0)]
    # geometric rows: each Michelot pass drops about one element, so they need many passes
    rows.append(torch.stack([1.05 ** -torch.arange(40.0) * 3 * (1 + 0.01 * i) for i in range(8)]))
    for z in rows:
        tau = exact_sparsemax_threshold(z)
        torch.testing.assert_close(tau, _sort_threshold(z), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            torch.clamp(z - tau, min=0).sum(-1), torch.ones(z.shape[0]), rtol=0, atol=1e-4
        )


def test_row_blocks_give_the_eager_distances_and_rankings():
    m = _model()
    pool = _windows(30, seed=1)
    g = torch.Generator().manual_seed(2)
    index = torch.randint(0, 30, (6, 12), generator=g)
    with torch.no_grad():
        eager = m.score(pool[:6], pool, index, chunk_pairs=16)
        keys, values, mean, std = m.encode_candidates(pool)
        anchor = pool[:6].repeat_interleave(12, dim=0)
        ci = index.reshape(-1)
        queries = m.query_net(m._norm(anchor, mean[ci], std[ci]).transpose(1, 2)).transpose(1, 2)
        for rows in (1, 7, 32, 256):  # one row, a block that does not divide T, one block
            blocked = blocked_pair_distances(
                queries, keys[ci], values[ci], anchor, mean[ci], std[ci], m.out_proj.weight,
                m.out_proj.bias, m.revin_weight, m.revin_bias, m.config.revin_eps, rows,
            ).reshape(6, 12)  # fmt: skip
            # fp32 sums of 256 * 3 squared errors in another order: a few ulps per term
            tol = 1e-5 * eager.abs() + 1e-6
            torch.testing.assert_close(blocked, eager, rtol=1e-5, atol=1e-6)
            _same_order(eager, blocked, tol)
    with pytest.raises(ValueError, match="block_rows"):
        blocked_pair_distances(
            queries, keys[ci], values[ci], anchor, mean[ci], std[ci], m.out_proj.weight,
            m.out_proj.bias, m.revin_weight, m.revin_bias, m.config.revin_eps, 0,
        )  # fmt: skip


def _passes_needed(scores: torch.Tensor) -> torch.Tensor:
    """Per row, the Michelot pass whose support equals the previous one (a plain loop)."""
    out = torch.empty(scores.shape[0], dtype=torch.long)
    for r, z in enumerate(scores):
        tau, counts = float(z.max()) - 1, [-1]
        while True:
            keep = z[z > tau]
            counts.append(keep.numel())
            tau = (float(keep.sum()) - 1) / keep.numel()
            if counts[-1] == counts[-2]:
                out[r] = len(counts) - 1
                break
    return out


def test_compiled_scoring_redoes_only_the_pairs_that_did_not_converge(monkeypatch):
    m = _model(seed=3)
    pool = _windows(8, seed=4)
    index = torch.arange(8).repeat(4, 1)  # 4 anchors x 8 candidates = 32 pairs
    steps = 7  # one fewer fused pass than these pairs need at most: some converge, some do not
    monkeypatch.setattr(D, "_FUSED_STEPS", steps)
    with torch.no_grad():
        keys, _, mean, std = m.encode_candidates(pool)
        anchor = pool[:4].repeat_interleave(8, dim=0)
        ci = index.reshape(-1)
        q = m.query_net(m._norm(anchor, mean[ci], std[ci]).transpose(1, 2)).transpose(1, 2)
        scores = torch.bmm(q, keys[ci].transpose(1, 2)) / math.sqrt(q.shape[-1])
        need = torch.stack([_passes_needed(s).max() for s in scores])  # per pair
        expect_redone = int((need > steps).sum())
        assert 0 < expect_redone < 32, need  # the case is one that tests something
        eager = m.score(pool[:4], pool, index, chunk_pairs=12)
        try:
            D.set_sparsemax_backend("compiled")
            m.scoring_counts.update(pairs=0, pairs_redone=0)
            fused = m.score(pool[:4], pool, index, chunk_pairs=12)  # 3 chunks, the last padded
        finally:
            D.set_sparsemax_backend("eager")
    assert m.scoring_counts == {"pairs": 32, "pairs_redone": expect_redone}
    tol = 1e-4 * eager.abs() + 1e-4
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-4)
    _same_order(eager, fused, tol)


def test_compile_failure_falls_back_to_the_exact_path(monkeypatch):
    m = _model()
    pool = _windows(6, seed=5)
    index = torch.arange(6).repeat(2, 1)

    def broken() -> object:
        def fail(*args: object) -> object:
            raise RuntimeError("no C++ compiler found\nmore detail")

        return fail

    monkeypatch.setattr(m, "_fused_chunk", broken)
    with torch.no_grad():
        eager = m.score(pool[:2], pool, index)
        try:
            D.set_sparsemax_backend("compiled")
            with pytest.warns(UserWarning, match="no C\\+\\+ compiler found\\); using the exact"):
                fallback = m.score(pool[:2], pool, index)
            assert D._backend["mode"] == "eager"
        finally:
            D.set_sparsemax_backend("eager")
    torch.testing.assert_close(fallback, eager, rtol=0, atol=0)


def test_default_compiled_scoring_keeps_every_ranking_and_the_loss():
    """What ``relcon pretrain`` does by default (compiled scoring) against the eager path: the
    same ranking of every anchor's candidates and the same loss, at fp32 rounding."""
    from relcon.config import EncoderConfig, PretrainConfig
    from relcon.models.encoder import ResNet1DEncoder
    from relcon.train.steps import candidate_index, relcon_batch_loss

    assert PretrainConfig().compile and PretrainConfig().compile is True
    b, k = 6, 5
    pool = _windows(b + b * k, seed=7)
    cand = candidate_index(b, k, b - 1)
    distance = _model(seed=8)
    torch.manual_seed(9)
    encoder = ResNet1DEncoder(
        EncoderConfig(
            stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
        )
    ).eval()  # no batch-norm updates between the two losses
    with torch.no_grad():
        eager = distance.score(pool[:b], pool, cand)
    loss_eager = relcon_batch_loss(encoder, distance, pool, cand, 0.1)
    try:
        D.set_sparsemax_backend("compiled")
        with torch.no_grad():
            fused = distance.score(pool[:b], pool, cand)
        loss_fused = relcon_batch_loss(encoder, distance, pool, cand, 0.1)
    finally:
        D.set_sparsemax_backend("eager")
    tol = 1e-4 * eager.abs() + 1e-4
    _same_order(eager, fused, tol)
    # the loss depends on the distances only through their order: equal up to fp32 rounding
    torch.testing.assert_close(loss_fused, loss_eager, rtol=1e-5, atol=1e-6)
