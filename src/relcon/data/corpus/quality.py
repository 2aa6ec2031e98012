"""Segment quality rules of ``relcon prepare`` (non-wear, flat, clipped) and int16/float16 encoding.

See :mod:`relcon.data.corpus` for the rules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from relcon.data.corpus.store import _CHANNELS, INT16_SCALE
from relcon.data.signal import (
    TARGET_FS,
)
from relcon.data.windowing import SEGMENT_LENGTH

__all__ = ["WINDOW_RULES", "QualityRules", "flag_windows", "nonwear_segments"]

# ----------------------------------------------------------------------------------------------
# quality rules
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the segment quality rules (see the module docstring for the rules).

    Attributes
    ----------
    nonwear_window_s : float
        Length of a non-wear test window in seconds (3600).
    nonwear_step_s : float
        Step between window starts in seconds (900); ``nonwear_window_s`` must be a multiple.
    nonwear_std_g : float
        An axis is "still" when its standard deviation over the window is below this (0.013 g).
    nonwear_range_g : float or None
        ... and its range (max - min) is below this (0.050 g); None skips the range test.
    nonwear_min_axes : int
        Still axes needed to call a window non-wear (2 of 3).
    flat_tol_g : float
        A segment is flat when every axis varies by at most this (1e-6 g).
    clip_min_g : float
        Peak ``|value|`` a segment needs before it can count as clipped (2 g).
    clip_tol_g : float
        Values within this of the peak count as "at the peak" (0.05 g).
    clip_fraction : float
        Share of the 768 values at the peak that makes a segment clipped (0.01).
    """

    nonwear_window_s: float = 3600.0
    nonwear_step_s: float = 900.0
    nonwear_std_g: float = 0.013
    nonwear_range_g: float | None = 0.050
    nonwear_min_axes: int = 2
    flat_tol_g: float = 1e-6
    clip_min_g: float = 2.0
    clip_tol_g: float = 0.05
    clip_fraction: float = 0.01

    def __post_init__(self) -> None:
        win = round(self.nonwear_window_s * TARGET_FS)
        step = round(self.nonwear_step_s * TARGET_FS)
        if step < 1 or win < step or win % step:
            raise ValueError(
                "QualityRules: nonwear_window_s must be a positive multiple of nonwear_step_s "
                f"(at 100 Hz), got {self.nonwear_window_s} and {self.nonwear_step_s}"
            )
        if not 1 <= self.nonwear_min_axes <= _CHANNELS:
            raise ValueError(
                f"QualityRules: nonwear_min_axes must be 1..3, got {self.nonwear_min_axes}"
            )
        if not 0 < self.clip_fraction <= 1:
            raise ValueError(
                f"QualityRules: clip_fraction must lie in (0, 1], got {self.clip_fraction}"
            )
        if min(self.nonwear_std_g, self.flat_tol_g, self.clip_tol_g, self.clip_min_g) < 0:
            raise ValueError("QualityRules: thresholds must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """The thresholds as a plain dict (stored in ``corpus.json``)."""
        return asdict(self)


def nonwear_segments(
    xt: np.ndarray, starts: np.ndarray, rules: QualityRules, length: int = SEGMENT_LENGTH
) -> np.ndarray:
    """Boolean per segment start: does the segment overlap a non-wear window?

    ``xt`` is the piece channel-major, ``(3, n)`` float32 at 100 Hz.
    """
    n = xt.shape[1]
    win = round(rules.nonwear_window_s * TARGET_FS)
    step = round(rules.nonwear_step_s * TARGET_FS)
    out = np.zeros(starts.shape[0], dtype=bool)
    if n < win or starts.size == 0:
        return out
    k = win // step
    nb = n // step
    # per block of `step` samples: mean, sum of squared deviations, max and min -> (3, nb)
    blocks = xt[:, : nb * step].reshape(_CHANNELS, nb, step)
    mean = blocks.mean(axis=2, dtype=np.float64)
    m2 = np.empty((_CHANNELS, nb))
    chunk = max(1, (1 << 20) // step)
    for a in range(0, nb, chunk):
        dev = blocks[:, a : a + chunk] - mean[:, a : a + chunk, None].astype(np.float32)
        m2[:, a : a + chunk] = np.square(dev).sum(axis=2, dtype=np.float64)
    bmax = blocks.max(axis=2).astype(np.float64)
    bmin = blocks.min(axis=2).astype(np.float64)
    # windows of k consecutive blocks, combined exactly (Chan et al.'s parallel variance)
    mv = sliding_window_view(mean, k, axis=1)  # (3, n_windows, k)
    mu_w = mv.mean(axis=-1)
    m2_w = sliding_window_view(m2, k, axis=1).sum(axis=-1)
    m2_w += step * np.square(mv - mu_w[..., None]).sum(axis=-1)
    std_w = np.sqrt(np.maximum(m2_w, 0.0) / win)
    range_w = sliding_window_view(bmax, k, axis=1).max(axis=-1) - sliding_window_view(
        bmin, k, axis=1
    ).min(axis=-1)
    w_starts = np.arange(mv.shape[1], dtype=np.int64) * step
    still = std_w < rules.nonwear_std_g
    if rules.nonwear_range_g is not None:
        still &= range_w < rules.nonwear_range_g
    flagged = still.sum(axis=0) >= rules.nonwear_min_axes
    if (n - win) % step:  # one more window, flush with the end of the piece
        tail = xt[:, n - win :].astype(np.float64)
        t_still = tail.std(axis=1) < rules.nonwear_std_g
        if rules.nonwear_range_g is not None:
            t_still &= (tail.max(axis=1) - tail.min(axis=1)) < rules.nonwear_range_g
        w_starts = np.append(w_starts, n - win)
        flagged = np.append(flagged, t_still.sum() >= rules.nonwear_min_axes)
    s_flag = w_starts[flagged]
    if s_flag.size == 0:
        return out
    # segment [a, a + length) overlaps window [s, s + win) iff s < a + length and a < s + win;
    # window ends grow with their starts, so the last window starting before a + length decides
    last = np.searchsorted(s_flag, starts + length, side="left") - 1
    ok = last >= 0
    out[ok] = s_flag[last[ok]] + win > starts[ok]
    return out


#: The rules applied to each window on its own, in this order (non-wear, which needs the
#: hours around a window, is the stream's: :func:`nonwear_segments` in
#: :mod:`relcon.data.stream.steps`); :func:`flag_windows` returns ``1 + index`` of the first
#: one a window meets, 0 when it meets none.
WINDOW_RULES = ("flat", "clipped")


def flag_windows(
    w: np.ndarray, rules: QualityRules, drop_flat: bool = True, drop_clipped: bool = False
) -> np.ndarray:
    """Drop reason per window of ``w`` ``(n, 256, 3)`` in g: 0 keep, 1 flat, 2 clipped
    (:data:`WINDOW_RULES`); a window meeting both is flat.

    ``flat``: on every axis the 256 samples lie within ``rules.flat_tol_g`` of each other.
    ``clipped``: with ``m`` the largest ``|value|`` of the window's 768 values, ``m >=
    rules.clip_min_g`` and at least ``ceil(rules.clip_fraction * 768)`` values satisfy
    ``|value| >= m - rules.clip_tol_g``.
    """
    n = w.shape[0]
    reason = np.zeros(n, dtype=np.int8)
    if n == 0 or not (drop_flat or drop_clipped):
        return reason
    vmax = w.max(axis=1)  # (n, 3)
    vmin = w.min(axis=1)
    if drop_flat:
        reason[((vmax - vmin) <= rules.flat_tol_g).all(axis=1)] = 1
    if drop_clipped:
        peak = np.maximum(vmax, -vmin).max(axis=1)
        cand = np.flatnonzero((peak >= rules.clip_min_g) & (reason == 0))
        need = max(1, math.ceil(rules.clip_fraction * SEGMENT_LENGTH * _CHANNELS - 1e-9))
        for a in range(0, cand.size, 1024):  # bounded temporaries
            c = cand[a : a + 1024]
            near = np.abs(w[c]) >= (peak[c] - rules.clip_tol_g)[:, None, None]
            reason[c[near.sum(axis=(1, 2)) >= need]] = 2
    return reason


def _quantize(w: np.ndarray, storage: str) -> tuple[np.ndarray, int]:
    """Encode float32 windows in g for storage; returns the codes and the saturated count."""
    if storage == "int16":
        y = np.rint(w * np.float32(1.0 / INT16_SCALE))
        hi, lo = np.iinfo(np.int16).max, np.iinfo(np.int16).min
        sat = int(np.count_nonzero((y > hi) | (y < lo)))
        np.clip(y, lo, hi, out=y)
        return y.astype(np.int16), sat
    lim = float(np.finfo(np.float16).max)
    sat = int(np.count_nonzero(np.abs(w) > lim))
    return np.clip(w, -lim, lim).astype(np.float16), sat
