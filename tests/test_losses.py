"""The relative contrastive loss against a plain loop over the formula."""

import math

import pytest
import torch

from relcon.losses import relative_contrastive_loss


def loop_reference(anchors, candidates, distances, tau):
    """Literal transcription of the formula: one anchor, one positive at a time."""
    total = 0.0
    b, c, _ = candidates.shape
    for i in range(b):
        loss_i = 0.0
        for j in range(c):
            s_j = torch.nn.functional.cosine_similarity(anchors[i], candidates[i, j], dim=0) / tau
            denom = torch.exp(s_j)
            for k in range(c):
                if distances[i, k] > distances[i, j]:
                    s_k = (
                        torch.nn.functional.cosine_similarity(anchors[i], candidates[i, k], dim=0)
                        / tau
                    )
                    denom = denom + torch.exp(s_k)
            loss_i = loss_i - torch.log(torch.exp(s_j) / denom)
        total = total + loss_i
    return total / b


@pytest.mark.parametrize(
    ("b", "c", "d", "tau"), [(1, 2, 3, 0.1), (4, 7, 16, 0.1), (3, 12, 5, 0.5), (5, 20, 32, 1.0)]
)
def test_matches_loop_and_gradients(b, c, d, tau):
    g = torch.Generator().manual_seed(b * 100 + c)
    a = torch.randn(b, d, dtype=torch.float64, generator=g, requires_grad=True)
    cand = torch.randn(b, c, d, dtype=torch.float64, generator=g, requires_grad=True)
    dist = torch.rand(b, c, dtype=torch.float64, generator=g)
    fast = relative_contrastive_loss(a, cand, dist, tau=tau)
    ref = loop_reference(a, cand, dist, tau)
    assert torch.allclose(fast, ref, rtol=1e-10, atol=1e-10)
    ga, gc = torch.autograd.grad(fast, (a, cand))
    ra, rc = torch.autograd.grad(ref, (a, cand))
    assert torch.allclose(ga, ra, rtol=1e-8, atol=1e-10)
    assert torch.allclose(gc, rc, rtol=1e-8, atol=1e-10)


def test_ties_are_not_negatives_of_each_other():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 8, dtype=torch.float64, generator=g)
    cand = torch.randn(3, 6, 8, dtype=torch.float64, generator=g)
    dist = torch.tensor([[0.1, 0.1, 0.3, 0.3, 0.3, 0.9]] * 3, dtype=torch.float64)
    assert torch.allclose(
        relative_contrastive_loss(a, cand, dist, 0.2), loop_reference(a, cand, dist, 0.2)
    )


def test_invariant_to_candidate_order():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(4, 16, generator=g)
    cand = torch.randn(4, 10, 16, generator=g)
    dist = torch.rand(4, 10, generator=g)
    perm = torch.randperm(10, generator=g)
    l1 = relative_contrastive_loss(a, cand, dist)
    l2 = relative_contrastive_loss(a, cand[:, perm], dist[:, perm])
    assert torch.allclose(l1, l2, atol=1e-6)


def test_stable_at_small_tau():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(8, 32, generator=g, requires_grad=True)
    cand = torch.randn(8, 50, 32, generator=g)
    cand[:, 0] = a.detach() * 3  # cosine similarity 1 -> logits of 100 at tau = 0.01
    dist = torch.rand(8, 50, generator=g)
    loss = relative_contrastive_loss(a, cand, dist, tau=0.01)
    assert torch.isfinite(loss)
    (grad,) = torch.autograd.grad(loss, a)
    assert torch.isfinite(grad).all()
    # in float64 the loop agrees, so the float32 value is right, not just finite
    ref = loop_reference(a.detach().double(), cand.double(), dist.double(), 0.01)
    assert math.isclose(loss.item(), ref.item(), rel_tol=1e-4)


def test_perfect_ranking_beats_reversed_ranking():
    # embeddings whose similarity follows the distance order get a lower loss than reversed ones
    d = 16
    a = torch.nn.functional.normalize(torch.randn(1, d), dim=-1)
    angles = torch.linspace(0.1, 3.0, 8)
    r = torch.randn(1, d)
    ortho = torch.nn.functional.normalize(r - (r @ a.T) * a, dim=-1)
    cand = (
        torch.cos(angles)[:, None] * a + torch.sin(angles)[:, None] * ortho
    )  # cos sim falls with angle
    dist = torch.arange(8.0)[None]
    good = relative_contrastive_loss(a, cand[None], dist)
    bad = relative_contrastive_loss(a, cand[None], dist.flip(1))
    assert good < bad


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        relative_contrastive_loss(torch.randn(2, 4), torch.randn(2, 3, 5), torch.randn(2, 3))
    with pytest.raises(ValueError, match="tau"):
        relative_contrastive_loss(torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(2, 3), tau=0)
