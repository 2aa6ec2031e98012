"""Batched augmentations against per-sample references."""

import numpy as np
import pytest
import torch
from scipy.interpolate import CubicSpline

from relcon.data import augmentations as A


@pytest.fixture
def x():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 256, 3, generator=g)


def test_rotation_is_a_rotation(x):
    r = A.random_rotation_matrices(500, torch.Generator().manual_seed(1))
    eye = torch.eye(3).expand(500, 3, 3)
    assert torch.allclose(r @ r.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(500), atol=1e-5)
    # uniform on SO(3): the mean rotation matrix is ~0
    assert r.mean(0).abs().max() < 0.1
    y = A.rotate(x, torch.Generator().manual_seed(2))
    assert torch.allclose(y.norm(dim=2), x.norm(dim=2), atol=1e-5)  # norms preserved


def test_simple_ones(x):
    g = torch.Generator().manual_seed(3)
    assert torch.equal(A.negate(x), -x)
    assert torch.equal(A.time_flip(x), x.flip(1))
    s = A.scale(x, g)
    ratio = s / x
    assert torch.allclose(
        ratio, ratio[:, :1, :].expand_as(ratio), atol=1e-4
    )  # per-window, per-channel factor
    n = A.noise(x, g, sigma=0.1)
    assert abs((n - x).std().item() - 0.1) < 0.01


def test_channel_shuffle_is_a_non_identity_permutation(x):
    y = A.channel_shuffle(x, torch.Generator().manual_seed(4))
    for i in range(len(x)):
        perm = [
            int(torch.argmin((x[i, :, None, :] - y[i, :, :, None]).abs().sum(0)[c]))
            for c in range(3)
        ]
        assert sorted(perm) == [0, 1, 2] and perm != [0, 1, 2]
        assert torch.equal(y[i], x[i][:, perm])


def test_segment_permutation_keeps_contiguous_pieces(x):
    t = torch.arange(256.0)[None, :, None].expand(4, 256, 3).contiguous()
    y = A.segment_permutation(t, torch.Generator().manual_seed(5), n_cuts=5)
    for row in y[:, :, 0]:
        assert sorted(row.tolist()) == list(range(256))  # a permutation of the time steps
        jumps = int((row[1:] - row[:-1] != 1).sum())
        assert jumps <= 5  # at most n_cuts discontinuities


def test_time_warp_matches_scipy_reference():
    # the batched spline basis equals scipy's spline of the same knots
    basis = A._spline_basis(256, 4)
    y = np.random.default_rng(0).normal(1, 0.2, size=6)
    ref = CubicSpline(np.linspace(0, 255, 6), y)(np.arange(256))
    np.testing.assert_allclose(basis @ y, ref, rtol=1e-5, atol=1e-5)
    # warping a linear ramp returns a monotone curve with the same end points
    t = torch.linspace(0, 1, 256)[None, :, None].expand(8, 256, 3).contiguous()
    w = A.time_warp(t, torch.Generator().manual_seed(6))
    assert (w[:, 1:] - w[:, :-1] >= -1e-6).all()
    assert torch.allclose(w[:, 0], t[:, 0], atol=1e-5) and torch.allclose(
        w[:, -1], t[:, -1], atol=1e-5
    )
    # sigma=0 is the identity
    assert torch.allclose(A.time_warp(t, torch.Generator().manual_seed(6), sigma=0.0), t, atol=1e-5)


def test_random_augment_applies_exactly_n_and_is_reproducible(x):
    a1 = A.random_augment(x, 2, torch.Generator().manual_seed(7))
    a2 = A.random_augment(x, 2, torch.Generator().manual_seed(7))
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, x)
    only_negate = A.random_augment(x, 1, torch.Generator().manual_seed(8), names=("negate",))
    assert torch.equal(only_negate, -x)
    both = A.random_augment(x, 2, torch.Generator().manual_seed(8), names=("negate", "time_flip"))
    assert torch.equal(both, -x.flip(1))
    with pytest.raises(ValueError, match="unknown"):
        A.random_augment(x, 1, names=("nope",))
