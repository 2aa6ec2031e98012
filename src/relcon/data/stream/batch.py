"""What the stream yields: batches of windows (:class:`WindowBatch`) and, per recording, what
was kept and dropped (:class:`WindowSummary`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["WindowBatch", "WindowSummary"]


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
        ``(n,)`` float64 start times ``T0 + k * stride_s`` on the file's clock, in seconds.
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


@dataclass
class WindowSummary:
    """What :func:`iter_windows` read, produced and dropped for one recording.

    Filled while iterating; complete once the iterator is exhausted.

    Attributes
    ----------
    source : str
        The file (or ``"<array>"`` / ``"<DataFrame>"``).
    recording : str
        Recording id.
    units : str
        Acceleration units used (``"g"``, ``"m/s^2"``, ``"mg"``).
    units_detected : bool
        Whether the units were detected rather than given.
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
    rows : int
        Input rows read.
    duplicate_rows, nan_rows, nan_runs : int
        Rows dropped for a repeated time stamp, rows removed for a missing / NaN value, and the
        runs they formed.
    gaps : int
        Intervals longer than ``max_gap_s`` that split the recording.
    pieces : int
        Gap-free stretches.
    windows_grid : int
        Grid windows between ``T0`` and the end of the last stretch.
    windows_kept : int
        Windows yielded.
    dropped : dict
        Grid windows not yielded, by reason: ``gap`` (straddles or lies in a gap) and
        ``nonwear``.
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
    rows: int = 0
    duplicate_rows: int = 0
    nan_rows: int = 0
    nan_runs: int = 0
    gaps: int = 0
    pieces: int = 0
    windows_grid: int = 0
    windows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"gap": 0, "nonwear": 0})

    def to_dict(self) -> dict[str, Any]:
        """The summary as a plain dict (JSON-serialisable)."""
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.recording} ({self.source}): {self.rows} rows, {self.duration_s / 3600:.2f} h "
            f"at {self.fs_native:g} Hz in {self.units} -> {self.windows_kept} of "
            f"{self.windows_grid} windows kept; dropped {self.dropped}; {self.gaps} gaps, "
            f"{self.duplicate_rows} duplicate rows, {self.nan_rows} NaN rows "
            f"({self.nan_runs} runs)"
        )
