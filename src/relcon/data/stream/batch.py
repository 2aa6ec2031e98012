"""What the stream yields: batches of windows (:class:`WindowBatch`) and, per recording, what
was read (:class:`RecordingInfo`) and kept and dropped (:class:`WindowSummary`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RecordingInfo", "WindowBatch", "WindowSummary", "describe_duration"]


@dataclass
class WindowBatch:
    """Consecutive kept windows of one recording.

    Attributes
    ----------
    x : numpy.ndarray
        ``(n, 256, 3)`` float32 acceleration in g at 100 Hz (channels last, what
        :meth:`relcon.models.encoder.ResNet1DEncoder.embed` takes).
    window : numpy.ndarray
        ``(n,)`` int64 window numbers ``k`` on the recording's grid, increasing.
    start_s : numpy.ndarray
        ``(n,)`` float64 start times ``T0 + k * stride_s`` on the file's clock, in seconds,
        computed in integer nanoseconds (``T0`` rounded to the microsecond) so that they carry
        no float noise: the double nearest to the exact decimal.
    start_ns : numpy.ndarray or None
        ``(n,)`` int64 start times in Unix nanoseconds when the clock is absolute, else None.
    recording : str
        Recording id.
    """

    x: np.ndarray
    window: np.ndarray
    start_s: np.ndarray
    start_ns: np.ndarray | None
    recording: str

    def __len__(self) -> int:
        return int(self.window.shape[0])

    def start_time(self) -> pd.DatetimeIndex | None:
        """Start times as a UTC :class:`pandas.DatetimeIndex`, or None without absolute time."""
        if self.start_ns is None:
            return None
        return pd.to_datetime(self.start_ns, unit="ns", utc=True)


def describe_duration(seconds: float) -> str:
    """A duration in words at a sensible scale: ``"5.25 h"``, ``"12.5 min"``, ``"40.0 s"``."""
    s = max(0.0, float(seconds))
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s" if s else "0 s"


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


@dataclass
class RecordingInfo:
    """What was read from one recording (the ``info`` of :func:`relcon.data.stream.read_recording`).

    Attributes
    ----------
    source : str
        The file (or ``"<array>"`` / ``"<DataFrame>"``).
    recording : str
        Recording id.
    units : str
        Acceleration units used (``"g"``, ``"m/s^2"``, ``"mg"``).
    units_detected : bool
        Whether the units were detected rather than given or stated by the file.
    time_unit : str
        ``"s"``, ``"ms"``, ``"us"``, ``"ns"``, ``"datetime"`` or ``"uniform"`` (rows at
        ``start_s + i / fs``).
    fs_native : float
        Native rate the samples were regularised at, Hz.
    fs_estimated : float or None
        ``1 / median(dt)`` before rounding, when the rate was estimated.
    start_s : float
        ``T0``: the first time stamp on the file's clock, seconds.
    absolute_time : bool
        Whether ``start_s`` is Unix time (a ``start_time`` column is written).
    duration_s : float
        From ``T0`` to the last valid sample.
    data_s : float
        Time covered by the gap-free stretches after resampling (samples at 100 Hz / 100).
    gap_s : float
        Time spanned by the gaps (intervals between valid samples longer than ``max_gap_s``).
    rows : int
        Input rows read.
    duplicate_rows, nan_rows, nan_runs : int
        Rows dropped for a repeated time stamp, rows removed for a missing / NaN value, and the
        runs they formed.
    gaps : int
        Intervals longer than ``max_gap_s`` that split the recording.
    pieces : int
        Gap-free stretches.
    short_pieces, short_piece_samples : int
        Stretches too short to hold a window, and their samples: in the window stream, those
        of fewer than 256 samples at 100 Hz (their windows are counted as cut by a gap); in
        :func:`~relcon.data.stream.read_recording`, which drops them, those of a single sample
        (they cannot be resampled).
    label_names : tuple of str
        Code -> name of the per-sample labels (:func:`~relcon.data.stream.read_recording` with
        ``label_column``), else empty.
    warnings : list of str
        What looked wrong but did not stop the read (e.g. units given for data whose magnitude
        is far from 1 g).
    """

    source: str = ""
    recording: str = ""
    units: str = ""
    units_detected: bool = False
    time_unit: str = ""
    fs_native: float = 0.0
    fs_estimated: float | None = None
    start_s: float = 0.0
    absolute_time: bool = False
    duration_s: float = 0.0
    data_s: float = 0.0
    gap_s: float = 0.0
    rows: int = 0
    duplicate_rows: int = 0
    nan_rows: int = 0
    nan_runs: int = 0
    gaps: int = 0
    pieces: int = 0
    short_pieces: int = 0
    short_piece_samples: int = 0
    label_names: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-serialisable)."""
        return asdict(self)

    def _read_words(self) -> str:
        units = f"{self.units}, detected" if self.units_detected else self.units
        text = f"{describe_duration(self.data_s)} of data ({self.fs_native:g} Hz, {units})"
        if self.gaps:
            text += f"; {_plural(self.gaps, 'gap')} ({describe_duration(self.gap_s)} in all)"
        else:
            text += "; no gaps"
        removed = []
        if self.duplicate_rows:
            removed.append(_plural(self.duplicate_rows, "row") + " repeating a time stamp")
        if self.nan_rows:
            removed.append(
                f"{_plural(self.nan_rows, 'row')} with a missing value "
                f"({_plural(self.nan_runs, 'run')})"
            )
        if removed:
            text += "; removed " + " and ".join(removed)
        for w in self.warnings:
            text += f"; WARNING: {w}"
        return text

    def __str__(self) -> str:
        return f"{self.recording} ({self.source}): {self.rows:,} rows, {self._read_words()}"


@dataclass
class WindowSummary(RecordingInfo):
    """What :func:`iter_windows` read, produced and dropped for one recording.

    Filled while iterating; complete once the iterator is exhausted. The fields of
    :class:`RecordingInfo`, and:

    Attributes
    ----------
    windows_grid : int
        Grid windows (``T0 + k * stride_s``) from ``T0`` to the end of the last stretch:
        ``windows_kept + dropped["nonwear"] + dropped["gap"] + windows_empty``.
    windows_kept : int
        Windows yielded.
    windows_empty : int
        Grid windows that hold no data at all (they lie in a gap): not counted as dropped.
    dropped : dict
        Grid windows that hold data but were not yielded, by reason: ``nonwear`` (in a non-wear
        stretch) and ``gap`` (cut by a gap or by the end of a stretch: part of the window has
        no data).
    """

    windows_grid: int = 0
    windows_kept: int = 0
    windows_empty: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"gap": 0, "nonwear": 0})

    def __str__(self) -> str:
        text = (
            f"{self.recording} ({self.source}): kept {_plural(self.windows_kept, 'window')} "
            f"from {self._read_words()}"
        )
        n_drop = sum(self.dropped.values())
        if n_drop:
            parts = []
            if self.dropped.get("nonwear"):
                parts.append(f"{self.dropped['nonwear']:,} in non-wear")
            if self.dropped.get("gap"):
                parts.append(f"{self.dropped['gap']:,} cut by a gap")
            text += f"; dropped {_plural(n_drop, 'window')} ({', '.join(parts)})"
        else:
            text += "; dropped no windows"
        return text
