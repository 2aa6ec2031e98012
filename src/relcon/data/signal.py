"""Signal preprocessing for raw accelerometer data.

The package's input contract is tri-axial acceleration in units of g, sampled uniformly at
100 Hz, as an array of shape ``(T, 3)``. This module provides the building blocks that bring
raw recordings to that contract:

* :func:`to_g` and :func:`detect_units` convert between acceleration units;
* :func:`resample` performs anti-aliased polyphase resampling between uniform rates and
  :func:`resample_labels` carries per-sample integer labels along;
* :func:`regularize` turns irregularly time-stamped samples into uniform pieces, splitting at
  gaps so that no piece ever spans missing data;
* :func:`to_uniform_pieces` chains the two: regularize at the native rate, then resample to
  100 Hz.

Every error message names the source (usually a file path) and the problem.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from relcon.data.formats import G, detect_units, first_true, normalize_units, to_g

__all__ = [
    "TARGET_FS",
    "G",
    "UniformPiece",
    "detect_units",
    "normalize_units",
    "rational_ratio",
    "regularize",
    "resample",
    "resample_labels",
    "to_g",
    "to_uniform_pieces",
]

#: Sampling rate (Hz) of the package's input contract.
TARGET_FS = 100.0


def _check_rate(fs: float, name: str, source: str) -> float:
    try:
        val = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: {name} must be a number, got {fs!r}") from None
    if not math.isfinite(val) or val <= 0:
        raise ValueError(f"{source}: {name} must be a positive finite number, got {fs!r}")
    return val


def rational_ratio(fs_in: float, fs_out: float, source: str = "<array>") -> tuple[int, int]:
    """``(up, down)`` with ``up / down = fs_out / fs_in`` and ``down <= 1000`` (error naming
    ``source`` when no such fraction is within 1e-6 relative error)."""
    ratio = fs_out / fs_in
    frac = Fraction(ratio).limit_denominator(1000)
    if frac.numerator == 0 or abs(float(frac) - ratio) > 1e-6 * ratio:
        raise ValueError(
            f"{source}: cannot resample from {fs_in} Hz to {fs_out} Hz: the ratio {ratio!r} has no "
            "rational approximation with denominator <= 1000 within 1e-6 relative error"
        )
    return frac.numerator, frac.denominator


def resample(
    x: np.ndarray,
    fs_in: float,
    fs_out: float = TARGET_FS,
    source: str = "<array>",
) -> np.ndarray:
    """Resample a uniformly sampled signal with an anti-aliasing polyphase filter.

    Uses :func:`scipy.signal.resample_poly` along axis 0 with the rational factor
    ``Fraction(fs_out / fs_in).limit_denominator(1000)``, and ``padtype="line"`` so that the
    gravity offset does not cause ringing at the edges. The output sample ``j`` is at time
    ``j / fs_out`` relative to the first input sample.

    Parameters
    ----------
    x : numpy.ndarray
        Signal of shape ``(T,)`` or ``(T, C)`` sampled at ``fs_in``.
    fs_in, fs_out : float
        Input and output sampling rates in Hz.
    source : str
        Name of the data source, used in error messages.

    Returns
    -------
    numpy.ndarray
        Resampled signal with ``ceil(T * up / down)`` rows, float64 (or the input's floating
        dtype). When ``fs_in == fs_out`` a copy of ``x`` is returned unchanged.

    Raises
    ------
    ValueError
        If a rate is not positive, the ratio cannot be represented as ``up / down`` with
        ``down <= 1000`` within 1e-6 relative error, or ``x`` is empty or has more than 2 axes.
    """
    fs_in = _check_rate(fs_in, "fs_in", source)
    fs_out = _check_rate(fs_out, "fs_out", source)
    arr = np.asarray(x)
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise ValueError(
            f"{source}: resample expects a non-empty (T,) or (T, C) array, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if fs_in == fs_out:
        return arr.copy()
    up, down = rational_ratio(fs_in, fs_out, source)
    if arr.shape[0] == 1:
        # A single sample: the polyphase filter is meaningless; repeat it.
        n_out = math.ceil(up / down)
        return np.repeat(arr, n_out, axis=0)
    out = resample_poly(arr, up, down, axis=0, padtype="line")
    return out.astype(arr.dtype, copy=False)


def resample_labels(
    labels: np.ndarray,
    n_in: int,
    fs_in: float,
    fs_out: float,
    n_out: int,
) -> np.ndarray:
    """Resample per-sample integer labels by nearest neighbour in time.

    Output sample ``j`` (at time ``j / fs_out``) takes the label of input sample
    ``round(j * fs_in / fs_out)`` (halves round up), clipped to the valid range. This lines up
    with the samples produced by :func:`resample`.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer codes of shape ``(n_in,)``; ``-1`` means unlabelled.
    n_in : int
        Number of input samples (must equal ``len(labels)``).
    fs_in, fs_out : float
        Input and output sampling rates in Hz.
    n_out : int
        Number of output samples.

    Returns
    -------
    numpy.ndarray
        ``(n_out,)`` int16 labels.

    Raises
    ------
    ValueError
        If ``labels`` does not have ``n_in`` elements or the arguments are invalid.
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] != n_in:
        raise ValueError(f"resample_labels: labels have shape {lab.shape}, expected ({n_in},)")
    if n_in < 1 or n_out < 0:
        raise ValueError(f"resample_labels: invalid sizes n_in={n_in}, n_out={n_out}")
    fs_in = _check_rate(fs_in, "fs_in", "resample_labels")
    fs_out = _check_rate(fs_out, "fs_out", "resample_labels")
    idx = np.floor(np.arange(n_out, dtype=np.float64) * (fs_in / fs_out) + 0.5).astype(np.int64)
    np.clip(idx, 0, n_in - 1, out=idx)
    return lab[idx].astype(np.int16)


@dataclass
class UniformPiece:
    """A uniformly sampled, gap-free piece of a recording.

    Attributes
    ----------
    t0_s : float
        Time of the first sample, in seconds on the recording's clock.
    fs : float
        Sampling rate in Hz.
    x : numpy.ndarray
        ``(n, C)`` float32 samples (``C`` = 3 for acceleration).
    labels : numpy.ndarray or None
        ``(n,)`` int16 per-sample codes (``-1`` = unlabelled), or None.
    """

    t0_s: float
    fs: float
    x: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration covered by the samples, ``n / fs`` seconds."""
        return len(self) / self.fs


def _validate_series(
    t_s: np.ndarray, x: np.ndarray, labels: np.ndarray | None, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = np.asarray(t_s, dtype=np.float64)
    arr = np.asarray(x, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{source}: timestamps must be 1-D, got shape {t.shape}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{source}: samples must have shape (T, C), got {arr.shape}")
    if arr.shape[0] != t.shape[0]:
        raise ValueError(
            f"{source}: {t.shape[0]} timestamps but {arr.shape[0]} samples; lengths must match"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{source}: no samples")
    bad_t = ~np.isfinite(t)
    if bad_t.any():
        i = first_true(bad_t)
        raise ValueError(f"{source}: non-finite timestamp at row {i} (value {t[i]!r})")
    bad_x = ~np.isfinite(arr).all(axis=1)
    if bad_x.any():
        i = first_true(bad_x)
        raise ValueError(f"{source}: non-finite sample value at row {i} ({arr[i].tolist()})")
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != t.shape:
            raise ValueError(
                f"{source}: labels have shape {lab.shape}, expected {t.shape} (one per sample)"
            )
        if not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"{source}: labels must be integer codes, got dtype {lab.dtype}")
    dt = np.diff(t)
    back = dt < 0
    if back.any():
        i = first_true(back) + 1
        raise ValueError(
            f"{source}: timestamps go backwards at row {i} "
            f"(t[{i}] = {t[i]!r} < t[{i - 1}] = {t[i - 1]!r}); sort the data by time first"
        )
    return t, arr, lab


def regularize(
    t_s: np.ndarray,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    fs: float | None = None,
    max_gap_s: float = 0.5,
    source: str = "<array>",
) -> tuple[list[UniformPiece], dict[str, Any]]:
    """Turn irregularly time-stamped samples into uniformly sampled, gap-free pieces.

    Steps:

    1. validate: 1-D finite timestamps, finite ``(T, C)`` samples of the same length,
       timestamps never going backwards (error naming the first bad row);
    2. drop exact duplicate timestamps, keeping the first sample of each run;
    3. if ``fs`` is None, estimate the nominal rate as ``1 / median(dt)`` over the positive
       intervals, rounded to the nearest integer Hz;
    4. split wherever the interval between consecutive samples exceeds ``max_gap_s``, so a
       piece never spans a gap;
    5. inside each piece, interpolate linearly onto the grid ``t0 + k / fs`` for
       ``k = 0 .. floor((t_last - t0) * fs)``; labels take the value of the nearest original
       sample in time (ties go to the earlier sample).

    Parameters
    ----------
    t_s : numpy.ndarray
        ``(T,)`` timestamps in seconds, non-decreasing.
    x : numpy.ndarray
        ``(T, C)`` samples (``(T,)`` is treated as one channel).
    labels : numpy.ndarray, optional
        ``(T,)`` integer label codes, ``-1`` = unlabelled.
    fs : float, optional
        Output rate in Hz. Estimated from the data when None.
    max_gap_s : float
        Largest interval (seconds) that is bridged by interpolation; larger intervals split
        the recording.
    source : str
        Name of the data source, used in error messages.

    Returns
    -------
    pieces : list of UniformPiece
        Uniform pieces in time order; ``x`` is float32, ``labels`` int16 or None.
    stats : dict
        ``n_input`` (samples given), ``n_duplicates_dropped``, ``fs_estimated`` (``1 /
        median(dt)`` before rounding, or None when ``fs`` was given), ``fs``, ``n_gaps_split``,
        ``max_dt_s`` (largest interval), ``n_pieces``, ``n_output`` (samples over all pieces).

    Raises
    ------
    ValueError
        On invalid input, or when ``fs`` is None and there are fewer than two distinct
        timestamps or the estimated rate rounds to 0 Hz.
    """
    t, arr, lab = _validate_series(t_s, x, labels, source)
    try:
        gap = float(max_gap_s)
    except (TypeError, ValueError):
        gap = float("nan")
    if not gap > 0:
        raise ValueError(f"{source}: max_gap_s must be a positive number, got {max_gap_s!r}")

    keep = np.ones(t.shape[0], dtype=bool)
    keep[1:] = np.diff(t) != 0
    n_dup = int(t.shape[0] - keep.sum())
    if n_dup:
        t, arr = t[keep], arr[keep]
        lab = lab[keep] if lab is not None else None

    dt = np.diff(t)
    fs_est: float | None = None
    if fs is None:
        if dt.size == 0:
            raise ValueError(
                f"{source}: cannot estimate the sampling rate from fewer than 2 distinct "
                "timestamps; pass fs explicitly"
            )
        fs_est = float(1.0 / np.median(dt))
        fs_used = float(round(fs_est))
        if fs_used < 1:
            raise ValueError(
                f"{source}: estimated sampling rate {fs_est:.4g} Hz rounds to 0 Hz; pass fs"
            )
    else:
        fs_used = _check_rate(fs, "fs", source)

    gap_idx = np.flatnonzero(dt > gap)
    bounds = np.concatenate(([0], gap_idx + 1, [t.shape[0]]))
    pieces: list[UniformPiece] = []
    for a, b in itertools.pairwise(bounds.tolist()):
        tp = t[a:b] - t[a]  # relative times keep precision for large clock values
        n = math.floor(tp[-1] * fs_used + 1e-9) + 1
        grid = np.arange(n, dtype=np.float64) / fs_used
        xp = arr[a:b]
        out = np.empty((n, xp.shape[1]), dtype=np.float32)
        for c in range(xp.shape[1]):
            out[:, c] = np.interp(grid, tp, xp[:, c])
        lab_out = None
        if lab is not None:
            lp = lab[a:b]
            right = np.searchsorted(tp, grid, side="left")
            right = np.clip(right, 0, tp.shape[0] - 1)
            left = np.clip(right - 1, 0, tp.shape[0] - 1)
            use_left = (grid - tp[left]) <= (tp[right] - grid)
            nearest = np.where(use_left, left, right)
            lab_out = lp[nearest].astype(np.int16)
        pieces.append(UniformPiece(t0_s=float(t[a]), fs=fs_used, x=out, labels=lab_out))

    stats: dict[str, Any] = {
        "n_input": int(keep.shape[0]),
        "n_duplicates_dropped": n_dup,
        "fs_estimated": fs_est,
        "fs": fs_used,
        "n_gaps_split": int(gap_idx.size),
        "max_dt_s": float(dt.max()) if dt.size else 0.0,
        "n_pieces": len(pieces),
        "n_output": int(sum(len(p) for p in pieces)),
    }
    return pieces, stats


def to_uniform_pieces(
    t_s: np.ndarray,
    x_g: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    fs_out: float = TARGET_FS,
    fs_native: float | None = None,
    max_gap_s: float = 0.5,
    min_samples: int = 1,
    source: str = "<array>",
) -> tuple[list[UniformPiece], dict[str, Any]]:
    """Bring irregular samples (in g) to uniform pieces at ``fs_out`` (100 Hz by default).

    The samples are first regularized at their native rate (estimated as in
    :func:`regularize` unless ``fs_native`` is given), so that interpolation does not invent
    detail, and each piece is then resampled to ``fs_out`` with the anti-aliased polyphase
    :func:`resample`; labels follow by nearest neighbour (:func:`resample_labels`).

    Pieces are dropped (and counted) when they hold a single native sample (a duration
    shorter than one output sample interval cannot be resampled) or when they have fewer than
    ``min_samples`` output samples.

    Parameters
    ----------
    t_s : numpy.ndarray
        ``(T,)`` timestamps in seconds, non-decreasing.
    x_g : numpy.ndarray
        ``(T, C)`` acceleration, already in g.
    labels : numpy.ndarray, optional
        ``(T,)`` integer codes, ``-1`` = unlabelled.
    fs_out : float
        Output rate in Hz.
    fs_native : float, optional
        Native rate to regularize at; estimated when None.
    max_gap_s : float
        Gap threshold in seconds (see :func:`regularize`).
    min_samples : int
        Pieces with fewer output samples are dropped.
    source : str
        Name of the data source, used in error messages.

    Returns
    -------
    pieces : list of UniformPiece
        Pieces at ``fs_out``; ``t0_s`` is the time of the first sample on the input clock.
    stats : dict
        The :func:`regularize` statistics plus ``fs_native`` (rate used for regularization),
        ``n_pieces_dropped_short``, ``n_samples_dropped_short`` (output samples lost in
        dropped pieces, native samples for single-sample pieces) and ``n_output`` (samples
        kept at ``fs_out``).
    """
    fs_out = _check_rate(fs_out, "fs_out", source)
    native, stats = regularize(t_s, x_g, labels, fs=fs_native, max_gap_s=max_gap_s, source=source)
    fs_nat = float(stats["fs"])
    out: list[UniformPiece] = []
    n_drop = 0
    n_drop_samples = 0
    for p in native:
        if len(p) < 2:
            n_drop += 1
            n_drop_samples += len(p)
            continue
        y = resample(p.x, fs_nat, fs_out, source=source).astype(np.float32, copy=False)
        lab = None
        if p.labels is not None:
            lab = resample_labels(p.labels, len(p), fs_nat, fs_out, y.shape[0])
        if y.shape[0] < min_samples:
            n_drop += 1
            n_drop_samples += y.shape[0]
            continue
        out.append(UniformPiece(t0_s=p.t0_s, fs=fs_out, x=y, labels=lab))
    stats = dict(stats)
    stats["fs_native"] = fs_nat
    stats["fs"] = fs_out
    stats["n_pieces_dropped_short"] = n_drop
    stats["n_samples_dropped_short"] = n_drop_samples
    stats["n_pieces"] = len(out)
    stats["n_output"] = int(sum(len(p) for p in out))
    return out, stats
