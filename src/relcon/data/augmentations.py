"""Batched augmentations of accelerometry windows, used to train the motif distance.

The eight transformations of Um et al. (ICMI 2017) as used for SSL on wearables by Tang et al.
(arXiv:2011.11542) and by RelCon's distance training: noise, scaling, 3-D rotation, negation, time
flip, channel shuffle, segment permutation and time warp. All of them act on a whole batch
``(B, T, C)`` with tensor operations (no Python loop over samples), on any device, and draw their
randomness from an explicit ``torch.Generator`` so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "AUGMENTATIONS",
    "channel_shuffle",
    "negate",
    "noise",
    "random_augment",
    "random_rotation_matrices",
    "rotate",
    "scale",
    "segment_permutation",
    "time_flip",
    "time_warp",
]


def _rand(shape, x: Tensor, g: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=g, device=x.device, dtype=x.dtype)


def _randn(shape, x: Tensor, g: torch.Generator | None) -> Tensor:
    return torch.randn(shape, generator=g, device=x.device, dtype=x.dtype)


def noise(x: Tensor, g: torch.Generator | None = None, sigma: float = 0.1) -> Tensor:
    """Add Gaussian noise with standard deviation ``sigma`` (in g)."""
    return x + sigma * _randn(x.shape, x, g)


def scale(x: Tensor, g: torch.Generator | None = None, sigma: float = 0.25) -> Tensor:
    """Multiply each channel of each window by a factor drawn from N(1, sigma^2)."""
    return x * (1 + sigma * _randn((x.shape[0], 1, x.shape[2]), x, g))


def random_rotation_matrices(n: int, g: torch.Generator | None = None, device=None) -> Tensor:
    """``(n, 3, 3)`` rotation matrices drawn uniformly from SO(3) (via random unit quaternions)."""
    q = torch.randn((n, 4), generator=g, device=device)
    q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).reshape(n, 3, 3)  # fmt: skip


def rotate(x: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Rotate each 3-axis window by a uniformly random 3-D rotation (device orientation change)."""
    if x.shape[2] != 3:
        raise ValueError(f"rotate() needs 3 channels, got {x.shape[2]}")
    r = random_rotation_matrices(x.shape[0], g, device=x.device).to(x.dtype)
    return torch.bmm(x, r)


def negate(x: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Flip the sign of every channel."""
    return -x


def time_flip(x: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Reverse time."""
    return x.flip(1)


def channel_shuffle(x: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Permute the channels of each window with a random permutation other than the identity."""
    c = x.shape[2]
    # Random permutations by argsort of uniform keys; redraw the rows that came out unchanged.
    perm = torch.argsort(_rand((x.shape[0], c), x, g), dim=1)
    ident = torch.arange(c, device=x.device)
    for _ in range(64):
        same = (perm == ident).all(dim=1)
        if not bool(same.any()) or c == 1:
            break
        perm[same] = torch.argsort(_rand((int(same.sum()), c), x, g), dim=1)
    return x.gather(2, perm[:, None, :].expand_as(x))


def segment_permutation(x: Tensor, g: torch.Generator | None = None, n_cuts: int = 5) -> Tensor:
    """Cut each window at ``n_cuts`` random points and put the pieces in a random order."""
    b, t, _ = x.shape
    cuts = torch.sort(torch.randint(1, t, (b, n_cuts), generator=g, device=x.device), dim=1).values
    steps = torch.arange(t, device=x.device)
    piece = (steps[None, :, None] >= cuts[:, None, :]).sum(dim=2)  # (B, T) piece id of each step
    rank = torch.argsort(_rand((b, n_cuts + 1), x, g), dim=1)  # new position of each piece
    key = rank.gather(1, piece) * t + steps[None, :]
    order = torch.argsort(key, dim=1)
    return x.gather(1, order[:, :, None].expand_as(x))


@lru_cache(maxsize=8)
def _spline_basis(t: int, n_knots: int) -> np.ndarray:
    """``(t, n_knots + 2)`` matrix B with ``B @ y`` = cubic spline through equally spaced knots ``y``.

    A cubic spline interpolant is linear in the knot values, so evaluating the spline of every
    unit vector once gives its basis; batched warps are then a single matrix product.
    """
    from scipy.interpolate import CubicSpline

    knots_x = np.linspace(0, t - 1, n_knots + 2)
    return CubicSpline(knots_x, np.eye(n_knots + 2))(np.arange(t)).astype(np.float32)


def time_warp(
    x: Tensor, g: torch.Generator | None = None, sigma: float = 0.2, n_knots: int = 4
) -> Tensor:
    """Smoothly speed up and slow down time, independently for each channel.

    A random speed curve (cubic spline through ``n_knots + 2`` values from N(1, sigma^2)) is
    integrated into a warped clock, and the signal is linearly resampled on it.
    """
    b, t, c = x.shape
    basis = torch.as_tensor(_spline_basis(t, n_knots), device=x.device, dtype=x.dtype)
    speed = (1 + sigma * _randn((b * c, n_knots + 2), x, g)) @ basis.T  # (BC, T)
    clock = torch.cumsum(speed.clamp_min(1e-3), dim=1)
    clock = (clock - clock[:, :1]) / (clock[:, -1:] - clock[:, :1]) * (t - 1)
    series = x.permute(0, 2, 1).reshape(b * c, t)
    grid = torch.arange(t, device=x.device, dtype=x.dtype).expand(b * c, t).contiguous()
    # value at time s = series evaluated where the warped clock reads s
    hi = torch.searchsorted(clock, grid).clamp(1, t - 1)
    lo = hi - 1
    c_lo, c_hi = clock.gather(1, lo), clock.gather(1, hi)
    w = ((grid - c_lo) / (c_hi - c_lo).clamp_min(1e-12)).clamp(0, 1)
    out = series.gather(1, lo) * (1 - w) + series.gather(1, hi) * w
    return out.reshape(b, c, t).permute(0, 2, 1).contiguous()


AUGMENTATIONS: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "noise": noise,
    "scale": scale,
    "rotate": rotate,
    "negate": negate,
    "time_flip": time_flip,
    "channel_shuffle": channel_shuffle,
    "segment_permutation": segment_permutation,
    "time_warp": time_warp,
}


def random_augment(
    x: Tensor,
    n: int = 2,
    g: torch.Generator | None = None,
    names: tuple[str, ...] | None = None,
) -> Tensor:
    """Apply ``n`` distinct augmentations, drawn independently for every window, in random order.

    Args:
        x: ``(B, T, C)`` windows.
        n: how many of the augmentations each window receives (RelCon: 2 of 8).
        g: random generator (on ``x``'s device).
        names: which augmentations may be drawn (default: all eight of :data:`AUGMENTATIONS`).

    Returns:
        ``(B, T, C)`` augmented copy.
    """
    names = tuple(AUGMENTATIONS) if names is None else tuple(names)
    unknown = [k for k in names if k not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentations {unknown}; known: {list(AUGMENTATIONS)}")
    if not 0 <= n <= len(names):
        raise ValueError(f"n must be in [0, {len(names)}], got {n}")
    choice = torch.argsort(_rand((x.shape[0], len(names)), x, g), dim=1)[:, :n]  # (B, n)
    out = x.clone()
    for step in range(n):
        for k, name in enumerate(names):
            rows = torch.nonzero(choice[:, step] == k).flatten()
            if rows.numel():
                # .to: under autocast an augmentation (rotate's bmm) may return bf16
                out[rows] = AUGMENTATIONS[name](out[rows], g).to(out.dtype)
    return out
