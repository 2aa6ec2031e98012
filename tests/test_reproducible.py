"""A seed reproduces a training run bit for bit on a multi-core CPU: the candidate embeddings
are gathered with a gradient whose additions run in a fixed order (``take_rows``)."""

from __future__ import annotations

import pytest
import torch

from relcon.config import EncoderConfig
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.train.steps import candidate_index, rebar_batch_loss, relcon_batch_loss, take_rows


@pytest.fixture
def two_threads():
    """At least two intra-op threads (CI has two cores), as a user's machine runs them."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))
    yield
    torch.set_num_threads(before)


def test_take_rows_is_indexing_with_a_loop_summed_gradient():
    """Values are ``z[idx]``; the gradient of a repeated row is the sum of its upstream rows,
    checked against a plain loop in float64."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=g, dtype=torch.float32, requires_grad=True)
    idx = torch.randint(0, 7, (4, 6), generator=g)  # repeats, some rows never taken
    up = torch.randn(4, 6, 5, generator=g)
    out = take_rows(z, idx)
    assert out.shape == (4, 6, 5)
    assert torch.equal(out, z.detach()[idx])
    (out * up).sum().backward()
    ref = torch.zeros(7, 5, dtype=torch.float64)
    for i in range(4):
        for j in range(6):
            ref[idx[i, j]] += up[i, j].double()
    # each entry sums at most 24 float32 products: a few float32 ulps of the largest sum
    torch.testing.assert_close(z.grad.double(), ref, rtol=0, atol=1e-5 * ref.abs().max().item())


def _setup(b: int = 16, k: int = 10):
    g = torch.Generator().manual_seed(1)
    pool = torch.randn(b + b * k, 256, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 1.0])
    cand = candidate_index(b, k, b - 1)  # within-user plus the other anchors: rows repeat
    torch.manual_seed(2)
    distance = MotifDistance(channels=16, bottleneck=4).eval()
    # 128-d embeddings as the demo's encoder: B x C x D = 51,200 gathered values, enough for
    # PyTorch to split the scattered additions of ``z[cand_idx]``'s backward across threads
    cfg = EncoderConfig(
        stage_blocks=(1, 1), stage_filters=(8, 128), stage_kernels=(3, 3), stem_filters=8
    )
    encoder = ResNet1DEncoder(cfg).eval()  # no batch-norm statistics move between the runs
    return encoder, distance, pool, cand


@pytest.mark.parametrize("loss_fn", [relcon_batch_loss, rebar_batch_loss])
def test_the_same_batch_gives_the_same_gradient_every_time(two_threads, loss_fn):
    """Five backward passes of one batch give bit-identical encoder gradients (before the fix,
    the scattered additions of ``z[cand_idx]`` raced across threads and the last bits moved)."""
    encoder, distance, pool, cand = _setup()
    grads = []
    for _ in range(5):
        encoder.zero_grad()
        out = loss_fn(encoder, distance, pool, cand, tau=0.1)
        loss = out[0] if isinstance(out, tuple) else out
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in encoder.parameters()]))
    for other in grads[1:]:
        assert torch.equal(other, grads[0])
