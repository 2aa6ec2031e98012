"""Sparsemax and the motif distance."""

import numpy as np
import pytest
import torch

from relcon.models.distance import MotifDistance, sparsemax


def simplex_projection_bruteforce(z: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex by trying every support size (Held et al. 1974)."""
    best = None
    n = len(z)
    order = np.argsort(-z)
    for k in range(1, n + 1):
        support = order[:k]
        tau = (z[support].sum() - 1) / k
        p = np.maximum(z - tau, 0)
        # valid iff exactly the support is positive and the weights sum to one
        if np.isclose(p.sum(), 1) and set(np.flatnonzero(p > 0)) <= set(support):
            cand = p
            if best is None or np.sum((cand - z) ** 2) < np.sum((best - z) ** 2):
                best = cand
    return best


@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0, 50.0])
def test_sparsemax_matches_bruteforce(scale):
    g = torch.Generator().manual_seed(int(scale * 10))
    z = torch.randn(40, 17, dtype=torch.float64, generator=g) * scale
    p = sparsemax(z, dim=-1)
    assert torch.allclose(p.sum(-1), torch.ones(40, dtype=torch.float64))
    assert (p >= 0).all()
    for row_z, row_p in zip(z.numpy(), p.numpy(), strict=True):
        np.testing.assert_allclose(row_p, simplex_projection_bruteforce(row_z), atol=1e-10)


def test_sparsemax_is_sparse_and_any_dim():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 256, 5, generator=g) * 4
    p = sparsemax(z, dim=1)
    assert torch.allclose(p.sum(1), torch.ones(6, 5), atol=1e-5)
    assert (p == 0).float().mean() > 0.8  # most weights exactly zero
    # same result as along the last dim after a transpose, and chunking does not change it
    q = sparsemax(z.transpose(1, 2), dim=-1, chunk_elements=300).transpose(1, 2)
    assert torch.allclose(p, q, atol=1e-6)


def test_sparsemax_gradient():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(3, 9, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: sparsemax(t, -1), (z,))


def test_sparsemax_ties_and_constant_rows():
    p = sparsemax(torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 0.0, -1.0]]))
    assert torch.allclose(p, torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]]))


def _model(**kw):
    torch.manual_seed(0)
    return MotifDistance(**kw)


def test_default_size_is_the_reference_size():
    m = MotifDistance()
    assert m.config.channels == 64 and m.config.kernel_size == 15 and m.config.n_layers == 2
    assert m.query_net.receptive_field == 15 + 14 * 1 + 14 * 2


def test_same_attention_in_train_and_eval():
    m = _model(attn_dropout=0.0)
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(4, 256, 3, generator=g), torch.randn(4, 256, 3, generator=g)
    m.train()
    d_train = m(a, c)
    m.eval()
    d_eval = m(a, c)
    assert torch.allclose(d_train, d_eval, rtol=1e-6)


def test_pairwise_equals_loop_and_score_shares_pool():
    m = _model().eval()
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 256, 3, generator=g)
    cands = torch.randn(3, 5, 256, 3, generator=g)
    with torch.no_grad():
        fast = m.pairwise(a, cands, chunk_pairs=4)
        loop = torch.stack([m(a, cands[:, j]) for j in range(5)], dim=1)
        assert torch.allclose(fast, loop, rtol=1e-5)
        # candidates given as indices into a shared pool give the same numbers
        pool = torch.cat([a, cands.reshape(15, 256, 3)])
        index = torch.tensor([[1, 2], [0, 2], [0, 1]])
        shared = m.score(a, pool, index)
        expect = torch.stack([m(a, pool[index[:, j]]) for j in range(2)], dim=1)
        assert torch.allclose(shared, expect, rtol=1e-5)


def test_distance_is_scale_aware_and_shapes_checked():
    m = _model().eval()
    a = torch.randn(2, 256, 3)
    with pytest.raises(ValueError, match="channels"):
        m(a, torch.randn(2, 256, 4))
    with pytest.raises(ValueError, match="index"):
        m.score(a, a, torch.zeros(3, 2, dtype=torch.long))
    with torch.no_grad():
        d = m(a, a)
    assert d.shape == (2,) and (d >= 0).all()


def test_compiled_sparsemax_backend_matches_eager():
    from relcon.models import distance as D

    g = torch.Generator().manual_seed(3)
    z = torch.randn(3, 40, 256, generator=g) * torch.tensor([0.3, 3.0, 30.0])[:, None, None]
    eager = sparsemax(z, dim=-1)
    try:
        D.set_sparsemax_backend("compiled")
        fused = sparsemax(z, dim=-1, chunk_elements=256 * 64)  # 120 rows -> 2 padded blocks
    finally:
        D.set_sparsemax_backend("eager")
    assert torch.allclose(fused, eager, atol=1e-6)
    assert torch.allclose(fused.sum(-1), torch.ones(3, 40), atol=1e-5)


def test_compiled_scoring_matches_eager_scoring():
    from relcon.models import distance as D

    torch.manual_seed(0)
    m = MotifDistance(channels=16, bottleneck=4).eval()
    g = torch.Generator().manual_seed(4)
    pool = torch.randn(12, 256, 3, generator=g)
    index = torch.randint(0, 12, (4, 5), generator=g)
    with torch.no_grad():
        eager = m.score(pool[:4], pool, index, chunk_pairs=8)
        try:
            D.set_sparsemax_backend("compiled")
            fused = m.score(pool[:4], pool, index, chunk_pairs=8)  # 20 pairs: 3 chunks, last padded
        finally:
            D.set_sparsemax_backend("eager")
    torch.testing.assert_close(fused, eager, rtol=1e-4, atol=1e-3)
