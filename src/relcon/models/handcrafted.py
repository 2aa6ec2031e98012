"""Hand-crafted features of accelerometry windows: the classical baseline.

The usual time- and frequency-domain features of activity recognition (e.g. Preece et al. 2009;
the feature set of the UK Biobank activity models, Doherty et al. 2017/2018): per-axis and
vector-magnitude statistics, axis correlations, gravity direction, and the spectrum of the
magnitude (dominant frequency and its power, spectral entropy, band powers). Computed for a batch
of windows at once with NumPy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["feature_names", "handcrafted_features"]

_BANDS = ((0.25, 0.75), (0.75, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 5.0), (5.0, 8.0), (8.0, 15.0))
_SIGNALS = ("x", "y", "z", "mag")
_STATS = ("mean", "std", "min", "max", "p10", "p25", "p50", "p75", "p90", "skew", "kurt", "mcr")


def feature_names() -> list[str]:
    """Names of the columns returned by :func:`handcrafted_features`."""
    names = [f"{s}_{f}" for s in _SIGNALS for f in _STATS]
    names += ["corr_xy", "corr_xz", "corr_yz"]
    names += ["mag_dom_freq", "mag_dom_power", "mag_spec_entropy", "mag_total_power"]
    names += [f"mag_band_{lo:g}_{hi:g}Hz" for lo, hi in _BANDS]
    return names


def handcrafted_features(x: np.ndarray, fs: float = 100.0) -> np.ndarray:
    """Compute the feature vector of every window.

    Args:
        x: ``(N, T, 3)`` acceleration in g.
        fs: sampling rate in Hz.

    Returns:
        ``(N, F)`` float32 array, columns named by :func:`feature_names`.

    Example:
        >>> f = handcrafted_features(np.random.randn(4, 256, 3))
        >>> f.shape == (4, len(feature_names()))
        True
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"handcrafted_features expects (N, T, 3), got {x.shape}")
    mag = np.linalg.norm(x, axis=2, keepdims=True)
    sig = np.concatenate([x, mag], axis=2)  # (N, T, 4)
    mean = sig.mean(axis=1)
    centred = sig - mean[:, None, :]
    std = sig.std(axis=1)
    safe = np.where(std > 1e-8, std, 1.0)
    skew = (centred**3).mean(axis=1) / safe**3
    kurt = (centred**4).mean(axis=1) / safe**4 - 3
    skew[std <= 1e-8] = 0
    kurt[std <= 1e-8] = 0
    q = np.percentile(sig, [10, 25, 50, 75, 90], axis=1)  # (5, N, 4)
    signs = np.signbit(centred)
    mcr = (signs[:, 1:] != signs[:, :-1]).mean(axis=1)  # mean-crossing rate
    stats = np.stack(
        [mean, std, sig.min(axis=1), sig.max(axis=1), *q, skew, kurt, mcr], axis=2
    )  # (N, 4, n_stats)
    blocks = [stats.reshape(len(x), -1)]

    cx, cy, cz = (centred[:, :, i] for i in range(3))
    sx, sy, sz = (safe[:, i] for i in range(3))
    t = x.shape[1]
    corr = np.stack(
        [
            (cx * cy).sum(1) / (t * sx * sy),
            (cx * cz).sum(1) / (t * sx * sz),
            (cy * cz).sum(1) / (t * sy * sz),
        ],
        axis=1,
    )
    blocks.append(corr)

    # spectrum of the magnitude with the gravity (mean) removed, Hann window
    m = centred[:, :, 3] * np.hanning(t)[None, :]
    power = np.abs(np.fft.rfft(m, axis=1)) ** 2
    freqs = np.fft.rfftfreq(t, d=1.0 / fs)
    usable = freqs >= 0.25
    p_use = power[:, usable]
    total = p_use.sum(axis=1)
    total_safe = np.where(total > 0, total, 1.0)
    dom = np.argmax(p_use, axis=1)
    dom_freq = freqs[usable][dom]
    dom_power = p_use[np.arange(len(x)), dom] / total_safe
    pn = p_use / total_safe[:, None]
    entropy = -(pn * np.log(np.where(pn > 0, pn, 1.0))).sum(axis=1) / np.log(p_use.shape[1])
    bands = np.stack(
        [power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) / total_safe for lo, hi in _BANDS],
        axis=1,
    )
    blocks.append(np.stack([dom_freq, dom_power, entropy, np.log1p(total)], axis=1))
    blocks.append(bands)
    return np.concatenate(blocks, axis=1).astype(np.float32)
