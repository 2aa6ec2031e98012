"""Embeddings of raw recordings, one row per 2.56 s window, streamed with bounded memory.

A wrist recording is often a week at 100 Hz (about 60 million samples). :func:`iter_windows`
reads such a file a chunk at a time and yields the model's 256-sample windows in g at 100 Hz;
:func:`embed_recordings` embeds them in batches and appends the rows to a Parquet (or CSV) file,
so memory stays bounded whatever the recording length. :func:`embed_array` and
:func:`embed_dataframe` do the same for data already in memory and return a DataFrame.

Inputs
------
* ``*.csv``, ``*.csv.gz``: a header row, a time column and x, y, z columns, read with
  ``pandas.read_csv(chunksize=...)``. Column names as in
  :func:`relcon.data.readers.read_accel_csv` (``time``, ``timestamp``, ``t``, ``time_s``,
  ``datetime``, ``date_time``, ``unix_time``; ``x,y,z``, ``acc_x,...``, ``x_acc,...``,
  ``ax,...``, ``accel_x,...``; case-insensitive), or given with ``time_column`` /
  ``x_column`` ... A time column in which no value of the first chunk is a number holds ISO
  8601 datetimes (naive = UTC); a column mixing numbers and text is an error naming the first
  non-numeric row. A numeric time column's unit follows the median positive interval ``d`` of
  the first rows, with the ranges of ``read_accel_csv``: seconds if ``1e-3 <= d <= 0.2``, ms if
  ``1 <= d <= 200``, us if ``1e3 <= d <= 2e5``, ns if ``1e6 <= d <= 2e8``; else pass
  ``time_unit``.
* ``*.parquet``: the same columns, read one record batch at a time with pyarrow; a timestamp
  column is used as is (naive = UTC), a numeric one as for CSV.
* ``*.npz``: ``x`` (or ``xyz``) of shape ``(T, 3)`` plus ``t`` (``(T,)`` seconds) or ``fs``
  (Hz, uniform sampling; ``start_s`` optional), and optionally ``units`` -- the layout of
  ``relcon prepare``. The arrays are **streamed** out of the archive (``np.savez`` and
  ``np.savez_compressed`` alike), never loaded whole: memory holds one chunk of rows.
* ``*.cwa``, ``*.cwa.gz``, ``*.gt3x``, ``*.bin``: device files, through the optional
  ``actipy`` package (``pip install "relcon[devices]"``, needs Java), with gravity calibration
  and nothing else. actipy decodes the **whole file** into memory (about 40 bytes per sample);
  only the processing after it is chunked. Without actipy the error says how to install it.

Rules
-----
Time and rows
    The recording starts at its first time stamp ``T0``. Time stamps must never decrease (the
    error names the first row that goes backwards); a row whose time stamp equals the previous
    row's is dropped, keeping the first (``duplicate_rows``). A missing or unparseable time
    stamp is an error naming its row.
Missing values
    A row with a missing, NaN or infinite x, y or z is removed (``nan_rows``; ``nan_runs``
    counts the runs of consecutive such rows). The hole it leaves is then treated like any
    interval between samples: bridged by linear interpolation when the valid samples on both
    sides are at most ``max_gap_s`` apart, a gap that splits the recording otherwise. Text in an
    acceleration column is an error naming the row.
Sampling rate
    Given by the file (``fs`` in an .npz, the device's rate) or the ``fs`` argument; otherwise
    estimated from the first 65,536 valid rows as ``round(1 / median(dt))`` Hz over the
    positive intervals ``dt``. The estimate is refused (error naming the file) when fewer than 2
    distinct time stamps are available, or when fewer than half of the intervals lie within 25%
    of the median (an irregular series without a dominant interval): pass ``fs`` then.
Units
    ``units`` (``"g"``, ``"m/s^2"``, ``"mg"``), the file's own ``units`` (.npz; a conflict is
    an error) or detected by :func:`relcon.data.signal.detect_units` from the median vector
    magnitude of the first 65,536 valid rows (an error when it matches no unit, e.g. gravity
    removed). Given units are checked against the data: when the detection finds another unit
    (e.g. ``units="g"`` on data whose magnitude is 9.8), that is an error naming both.
Regularisation and resampling
    With ``fs`` the native rate and ``up / down`` the reduced ratio ``100 / fs``, the samples
    are linearly interpolated onto the recording's native grid ``T0 + k / fs`` (only inside
    gap-free stretches; a stretch starts at the first grid point after its first sample whose
    ``k`` is a multiple of ``down``), then resampled to 100 Hz with the anti-aliased polyphase
    filter of :func:`scipy.signal.resample_poly` (the filter of
    :func:`relcon.data.signal.resample`). The ends of each gap-free stretch are extended with
    its first / last value (``padtype="edge"``) rather than ``"line"``, whose trend is defined
    by the first *and last* samples of the whole stretch and so cannot be applied chunk by
    chunk. Every chunk is resampled with at least ``2 * ceil(10 * max(up, down) / up)`` native
    samples of context on both sides (more than the filter's half length), and output sample
    ``j`` of the recording always lies at ``T0 + j / 100``: the result does not depend on
    ``chunk_s`` (tested against whole-file processing).
Windows
    Window ``k`` starts at ``T0 + k * stride_s`` (``stride_s`` a multiple of 0.01 s) and holds
    the 256 samples from 100 Hz sample ``k * stride_s * 100`` on. It is kept only when all 256
    samples lie in one gap-free stretch; grid windows that straddle or fall into a gap are
    counted as ``dropped["gap"]``.
Non-wear (``drop_nonwear=True``)
    The rule of :class:`relcon.data.corpus.QualityRules` used by ``relcon prepare``, computed by
    the same function: on each gap-free stretch at 100 Hz, windows of 60 min every 15 min from
    the stretch's start plus one flush with its end; one is non-wear when on at least 2 of the 3
    axes the standard deviation is below 13 mg and the range below 50 mg. A 2.56 s window
    that overlaps a non-wear window is dropped (``dropped["nonwear"]``); stretches shorter than
    60 min are not assessed. It runs chunked without approximation: a window is decided once
    the stretch is known up to 60 min past it (or has ended), from the samples of the
    block-aligned span that can reach it, which is why about 2.5 hours of 100 Hz samples are
    held (see Memory). Other quality rules of ``relcon prepare`` (flat, clipped) are not
    applied.
Too short
    A recording without a single 2.56 s window in a gap-free stretch is an error naming the
    file (a recording shorter than 2.56 s, or one whose gaps leave no room for a window).

Output
------
One row per kept window: ``recording`` (file stem, or the path where two inputs share a stem),
``window`` (``k``, int64), ``start_s`` (float64, ``T0 + k * stride_s`` on the file's clock:
Unix seconds for datetimes), ``start_time`` (UTC timestamp when the clock is absolute --
datetimes, or numeric times that fall between 2000 and 2100 as Unix time; null otherwise; the
DataFrame functions add the column only when it applies) and the embedding as separate
float32 columns ``e000`` ... ``e{D-1}`` (``D`` = the encoder's embedding size: 256 for the
full-size architecture, 128 for the shipped model): ``df.filter(regex=r"^e\\d+$").to_numpy()``
gives the ``(N, D)`` matrix, the columns survive CSV, and any column can be used alone in pandas.
Files are written to a temporary name beside ``out`` and renamed when complete.

Memory
------
Per recording: one chunk of input rows (``chunk_s`` at the input rate, about 40 bytes per row
while it is converted), the resampler's context, at most ``batch_size`` windows waiting for
the model, and, with ``drop_nonwear``, about 2.5 hours of 100 Hz samples in float32 (11 MB)
plus the non-wear computation's temporaries (about 25 MB, every 15 minutes of data); without
it a few windows. Nothing grows with the recording's length.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import resample_poly

from relcon.data.corpus import (
    DEVICE_SUFFIXES,
    TABULAR_SUFFIXES,
    QualityRules,
    _collect_inputs,
    _format_of,
    _nonwear_segments,
    read_device_file,
)
from relcon.data.readers import _TIME_CANDIDATES, _TIME_UNITS, _XYZ_CANDIDATES, _find_column
from relcon.data.signal import TARGET_FS, _rational_ratio, detect_units, normalize_units, to_g
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import atomic_path

if TYPE_CHECKING:
    import torch

    from relcon.models.encoder import ResNet1DEncoder

__all__ = [
    "PROBE_ROWS",
    "WindowBatch",
    "WindowIterator",
    "WindowSummary",
    "embed_array",
    "embed_dataframe",
    "embed_recordings",
    "iter_windows",
    "load_encoder",
]

logger = logging.getLogger(__name__)

#: Valid rows read before the sampling rate and units are decided.
PROBE_ROWS = 65_536
#: Interval share and tolerance of the "dominant interval" test of the rate estimate.
_DOMINANT_SHARE = 0.5
_DOMINANT_TOL = 0.25
#: Numeric times (in seconds) in [2000-01-01, 2100-01-01) are taken as Unix time.
_UNIX_RANGE_S = (946_684_800.0, 4_102_444_800.0)
_EPS = 1e-6  # in grid steps
_CHANNELS = 3
_MAX_ROWS = 1 << 30
_EMIT_MAX = 4096  # windows copied out at once


# ----------------------------------------------------------------------------------------------
# public containers
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# sources: raw blocks of rows
# ----------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    row0: int  # index of the block's first row in the input
    kind: str  # "numeric", "datetime" or "uniform"
    t: np.ndarray | None  # (n,) numeric (float64 or int64) / Unix ns (int64) / None
    x: np.ndarray  # (n, 3) float64 in the input's units, NaN allowed


class _Source:
    """A recording read block by block."""

    src: str = ""
    fs: float | None = None  # rate stated by the input
    units: str | None = None  # units stated by the input
    start_s: float = 0.0  # start of uniform inputs

    def label(self, i: int) -> str:
        """How error messages name row ``i`` (0-based)."""
        return f"row {i} (0-based)"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        raise NotImplementedError

    def close(self) -> None:
        """Release open files."""


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _series_time(
    col: pd.Series, kind: str | None, src: str, label: Callable[[int], str], row0: int
) -> tuple[str, np.ndarray]:
    """Parse a block of a time column: ``(kind, values)``, values float64/int64 or Unix ns."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        dt = col if isinstance(col.dtype, pd.DatetimeTZDtype) else col.dt.tz_localize("UTC")
        bad = dt.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a missing time")
        return "datetime", dt.dt.as_unit("ns").array.asi8.copy()
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        if kind == "datetime":
            raise ValueError(f"{src}: {label(row0)}: the time column changes to numbers")
        bad = col.isna().to_numpy()
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a missing time")
        if pd.api.types.is_integer_dtype(col):
            return "numeric", col.to_numpy(dtype=np.int64)
        arr = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{src}: {label(row0 + _first(bad))} has a non-finite time")
        return "numeric", arr
    numeric = pd.to_numeric(col, errors="coerce")
    is_num = numeric.notna().to_numpy()
    if kind is None:
        kind = "numeric" if is_num.any() else "datetime"
    if kind == "numeric":
        if not is_num.all():
            i = _first(~is_num)
            raise ValueError(
                f"{src}: {label(row0 + i)}: missing or non-numeric time {col.iloc[i]!r}"
            )
        return _series_time(numeric, "numeric", src, label, row0)
    dt = pd.to_datetime(col, format="ISO8601", utc=True, errors="coerce")
    bad = dt.isna().to_numpy()
    if bad.any():
        i = _first(bad)
        raise ValueError(
            f"{src}: {label(row0 + i)}: cannot parse time {col.iloc[i]!r} as a number or an ISO "
            "8601 datetime"
        )
    return "datetime", dt.dt.as_unit("ns").array.asi8.copy()


def _series_xyz(
    df: pd.DataFrame, axes: Sequence[str], src: str, label: Callable[[int], str], row0: int
) -> np.ndarray:
    out = np.empty((len(df), _CHANNELS), dtype=np.float64)
    for c, a in enumerate(axes):
        col = df[a]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[:, c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        num = pd.to_numeric(col, errors="coerce")
        bad = (col.notna() & num.isna()).to_numpy()
        if bad.any():
            i = _first(bad)
            raise ValueError(
                f"{src}: {label(row0 + i)}: non-numeric acceleration {col.iloc[i]!r} in column "
                f"{a!r}"
            )
        out[:, c] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _pick_columns(
    columns: list[str],
    src: str,
    time_column: str | None,
    xyz: tuple[str | None, str | None, str | None],
    time_names: Sequence[str] = _TIME_CANDIDATES,
    xyz_names: Sequence[Sequence[str]] = _XYZ_CANDIDATES,
    *,
    allow_no_time: bool = False,
) -> tuple[str | None, list[str]]:
    tcol = _find_column(columns, time_column, time_names)
    if tcol is None and not (allow_no_time and time_column is None):
        wanted = time_column or " / ".join(time_names)
        raise ValueError(f"{src}: missing time column ({wanted}); columns found: {columns}")
    if any(xyz):
        if not all(xyz):
            raise ValueError(f"{src}: give all of x_column, y_column, z_column or none")
        axes = [_find_column(columns, c, ()) for c in xyz]
        missing = [c for c, a in zip(xyz, axes, strict=True) if a is None]
        if missing:
            raise ValueError(
                f"{src}: missing acceleration column(s) {missing}; columns found: {columns}"
            )
        return tcol, [a for a in axes if a is not None]
    for triple in xyz_names:
        found = [_find_column(columns, c, ()) for c in triple]
        if all(f is not None for f in found):
            return tcol, [f for f in found if f is not None]
    raise ValueError(
        f"{src}: missing acceleration columns (expected one of "
        f"{' or '.join(','.join(t) for t in xyz_names)}); columns found: {columns}"
    )


class _CsvSource(_Source):
    def __init__(
        self,
        path: Path,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        self.path = path
        self.src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            head = pd.read_csv(path, nrows=0, engine="c", skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: cannot parse as CSV: {exc}") from None
        columns = [str(c) for c in head.columns]
        tcol, axes = _pick_columns(columns, self.src, time_column, xyz)
        assert tcol is not None
        self.tcol, self.axes = tcol, axes

    def label(self, i: int) -> str:
        return f"data row {i + 1} (file line {i + 2})"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        kind: str | None = None
        row0 = 0
        try:
            reader = pd.read_csv(
                self.path,
                engine="c",
                skipinitialspace=True,
                usecols=[self.tcol, *self.axes],
                chunksize=rows,
            )
            with reader:
                for df in reader:
                    kind, t = _series_time(df[self.tcol], kind, self.src, self.label, row0)
                    x = _series_xyz(df, self.axes, self.src, self.label, row0)
                    yield _Raw(row0, kind, t, x)
                    row0 += len(df)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{self.path}: file has a header but no data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{self.path}: cannot parse as CSV after {self.label(row0)}: {exc}"
            ) from None
        if row0 == 0:
            raise ValueError(f"{self.path}: file has a header but no data rows")


class _ParquetSource(_Source):
    def __init__(
        self,
        path: Path,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.pf = pq.ParquetFile(path)
            names = list(self.pf.schema_arrow.names)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
        tcol, axes = _pick_columns(names, self.src, time_column, xyz)
        assert tcol is not None
        self.tcol, self.axes = tcol, axes
        if self.pf.metadata.num_rows == 0:
            raise ValueError(f"{path}: no data rows")

    def blocks(self, rows: int) -> Iterator[_Raw]:
        import pyarrow as pa

        kind: str | None = None
        row0 = 0
        try:
            for batch in self.pf.iter_batches(batch_size=rows, columns=[self.tcol, *self.axes]):
                n = batch.num_rows
                tarr = batch.column(self.tcol)
                if pa.types.is_timestamp(tarr.type) or pa.types.is_date(tarr.type):
                    tv = tarr.to_numpy(zero_copy_only=False)
                    bad = np.isnat(tv)
                    if bad.any():
                        raise ValueError(
                            f"{self.src}: {self.label(row0 + _first(bad))} has a missing time"
                        )
                    if kind == "numeric":
                        raise ValueError(
                            f"{self.src}: {self.label(row0)}: the time column changes type"
                        )
                    kind, t = "datetime", tv.astype("datetime64[ns]").view(np.int64)
                elif pa.types.is_integer(tarr.type) or pa.types.is_floating(tarr.type):
                    kind, t = _series_time(
                        pd.Series(tarr.to_numpy(zero_copy_only=False)),
                        kind,
                        self.src,
                        self.label,
                        row0,
                    )
                elif pa.types.is_string(tarr.type) or pa.types.is_large_string(tarr.type):
                    kind, t = _series_time(tarr.to_pandas(), kind, self.src, self.label, row0)
                else:
                    raise ValueError(f"{self.src}: time column {self.tcol!r} has type {tarr.type}")
                x = np.empty((n, _CHANNELS), dtype=np.float64)
                for c, name in enumerate(self.axes):
                    col = batch.column(name)
                    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
                        raise ValueError(f"{self.src}: column {name!r} is not numeric ({col.type})")
                    x[:, c] = col.to_numpy(zero_copy_only=False)
                yield _Raw(row0, kind, t, x)
                row0 += n
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"{self.src}: cannot read as Parquet after {self.label(row0)}: {exc}"
            ) from None


def _npy_header(fh: Any, src: str, key: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{src}: cannot read '{key}' from the .npz: {exc}") from None
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype)


class _NpzSource(_Source):
    """Streams ``x`` (and ``t``) out of an .npz archive without loading them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = src = str(path)
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: file is empty")
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{src}: cannot read as .npz: {exc}") from None
        members = {n[:-4]: n for n in self.zf.namelist() if n.endswith(".npy")}
        self.members = members
        xkey = next((k for k in ("x", "xyz") if k in members), None)
        if xkey is None:
            self.zf.close()
            raise ValueError(
                f"{src}: no acceleration array: expected key 'x' or 'xyz' of shape (T, 3); "
                f"keys found: {sorted(members)}"
            )
        self.xkey = xkey
        with self.zf.open(members[xkey]) as fh:
            shape, self.x_fortran, self.x_dtype = _npy_header(fh, src, xkey)
        if len(shape) != 2 or shape[1] != _CHANNELS or self.x_dtype.kind not in "fiu":
            raise ValueError(
                f"{src}: '{xkey}' must be a numeric (T, 3) array, got {self.x_dtype} {shape}"
            )
        self.n = shape[0]
        if self.n == 0:
            raise ValueError(f"{src}: no samples ('{xkey}' has 0 rows)")
        scal = {k: self._scalar(k) for k in ("fs", "start_s", "units") if k in members}
        self.has_t = "t" in members
        if self.has_t:
            with self.zf.open(members["t"]) as fh:
                tshape, self.t_fortran, self.t_dtype = _npy_header(fh, src, "t")
            if tshape != (self.n,) or self.t_dtype.kind not in "fiu":
                raise ValueError(f"{src}: 't' has {self.t_dtype} {tshape}, expected ({self.n},)")
            if "start_s" in scal:
                raise ValueError(
                    f"{src}: give 'start_s' only with 'fs'; with 't' the times are absolute"
                )
        elif "fs" not in scal:
            raise ValueError(f"{src}: no time base: give 'fs' (Hz) or 't' (seconds, shape (T,))")
        if "fs" in scal:
            fs = float(scal["fs"])
            if not math.isfinite(fs) or fs <= 0:
                raise ValueError(f"{src}: 'fs' must be a positive number, got {fs}")
            self.fs = fs
        self.start_s = float(scal.get("start_s", 0.0))
        if "units" in scal:
            self.units = str(scal["units"])

    def _scalar(self, key: str) -> Any:
        with self.zf.open(self.members[key]) as fh:
            try:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ValueError(f"{self.src}: cannot read '{key}': {exc}") from None
        if arr.size != 1:
            raise ValueError(f"{self.src}: '{key}' must be a scalar, got shape {arr.shape}")
        val = arr.reshape(()).item()
        if key == "units":
            if arr.dtype.kind not in "US":
                raise ValueError(f"{self.src}: 'units' must be a string, got {arr.dtype}")
            return val.decode() if isinstance(val, bytes) else val
        if arr.dtype.kind not in "fiu" or not math.isfinite(float(val)):
            raise ValueError(f"{self.src}: '{key}' must be a finite number, got {val!r}")
        return val

    def _columns(self, key: str, dtype: np.dtype, fortran: bool, ncol: int) -> list[Any]:
        """Open file handles positioned at the data (one per column in Fortran order)."""
        handles = []
        for c in range(ncol if fortran else 1):
            fh = self.zf.open(self.members[key])
            _npy_header(fh, self.src, key)
            if c:
                fh.seek(c * self.n * dtype.itemsize, os.SEEK_CUR)
            handles.append(fh)
        return handles

    def _read(self, handles: list[Any], dtype: np.dtype, n: int, ncol: int) -> np.ndarray:
        """Next ``n`` rows, ``(n, ncol)`` in the stored dtype."""
        per = 1 if len(handles) > 1 else ncol
        parts = []
        for fh in handles:
            size = n * per * dtype.itemsize
            buf = fh.read(size)
            if len(buf) != size:
                raise ValueError(f"{self.src}: the .npz archive is truncated")
            parts.append(np.frombuffer(buf, dtype=dtype).reshape(n, per))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def blocks(self, rows: int) -> Iterator[_Raw]:
        xh = self._columns(self.xkey, self.x_dtype, self.x_fortran, _CHANNELS)
        th = self._columns("t", self.t_dtype, False, 1) if self.has_t else []
        try:
            for row0 in range(0, self.n, rows):
                n = min(rows, self.n - row0)
                x = self._read(xh, self.x_dtype, n, _CHANNELS).astype(np.float64)
                if not self.has_t:
                    yield _Raw(row0, "uniform", None, x)
                    continue
                t = self._read(th, self.t_dtype, n, 1)[:, 0]
                if t.dtype.kind in "iu":
                    t = t.astype(np.int64)
                else:
                    t = t.astype(np.float64)
                    bad = ~np.isfinite(t)
                    if bad.any():
                        raise ValueError(
                            f"{self.src}: time {self.label(row0 + _first(bad))} of 't' is NaN or "
                            "infinite"
                        )
                yield _Raw(row0, "numeric", t, x)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{self.src}: cannot read the .npz archive: {exc}") from None
        finally:
            for fh in xh + th:
                fh.close()

    def close(self) -> None:
        self.zf.close()


class _DeviceSource(_Source):
    def __init__(self, path: Path, units: str | None) -> None:
        self.path = path
        self.src = str(path)
        self.data, self.fs = read_device_file(path, units)
        self.units = "g"

    def blocks(self, rows: int) -> Iterator[_Raw]:
        index = pd.DatetimeIndex(self.data.index)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        ns = np.asarray(index.as_unit("ns").asi8, dtype=np.int64)  # naive times are UTC
        for row0 in range(0, len(self.data), rows):
            part = self.data.iloc[row0 : row0 + rows]
            x = part[["x", "y", "z"]].to_numpy(dtype=np.float64)
            yield _Raw(row0, "datetime", ns[row0 : row0 + rows], x)

    def close(self) -> None:
        self.data = None


class _ArraySource(_Source):
    def __init__(self, x: np.ndarray, fs: float, start_s: float) -> None:
        self.src = "<array>"
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != _CHANNELS or arr.dtype.kind not in "fiu":
            raise ValueError(
                f"<array>: x must be a numeric (T, 3) array, got {arr.dtype} {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ValueError("<array>: x has no samples")
        try:
            rate = float(fs)
        except (TypeError, ValueError):
            rate = float("nan")
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"<array>: fs must be a positive number, got {fs!r}")
        self.x, self.fs, self.start_s = arr, rate, float(start_s)

    def blocks(self, rows: int) -> Iterator[_Raw]:
        for row0 in range(0, self.x.shape[0], rows):
            yield _Raw(row0, "uniform", None, self.x[row0 : row0 + rows].astype(np.float64))


class _FrameSource(_Source):
    def __init__(
        self,
        df: pd.DataFrame,
        time_column: str | None,
        xyz: tuple[str | None, str | None, str | None],
    ) -> None:
        self.src = "<DataFrame>"
        columns = [str(c) for c in df.columns]
        frame = df.copy(deep=False)
        frame.columns = columns
        tcol, axes = _pick_columns(columns, self.src, time_column, xyz, allow_no_time=True)
        if tcol is None:
            if not isinstance(df.index, pd.DatetimeIndex):
                raise ValueError(
                    f"{self.src}: no time column ({' / '.join(_TIME_CANDIDATES)}) and no "
                    f"DatetimeIndex; columns found: {columns}"
                )
            frame = frame.reset_index(names="__time__")
            tcol = "__time__"
        if len(frame) == 0:
            raise ValueError(f"{self.src}: no rows")
        self.df, self.tcol, self.axes = frame, tcol, axes

    def blocks(self, rows: int) -> Iterator[_Raw]:
        kind: str | None = None
        for row0 in range(0, len(self.df), rows):
            part = self.df.iloc[row0 : row0 + rows]
            kind, t = _series_time(part[self.tcol], kind, self.src, self.label, row0)
            yield _Raw(row0, kind, t, _series_xyz(part, self.axes, self.src, self.label, row0))


def _open_source(
    path: Path,
    units: str | None,
    time_column: str | None,
    xyz: tuple[str | None, str | None, str | None],
) -> _Source:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    kind = _format_of(path.name)
    if kind is None:
        raise ValueError(
            f"{path}: unsupported input type; expected "
            f"{', '.join('*' + s for s in TABULAR_SUFFIXES + DEVICE_SUFFIXES)}"
        )
    fmt = kind[0]
    if fmt == "csv":
        return _CsvSource(path, time_column, xyz)
    if fmt == "parquet":
        return _ParquetSource(path, time_column, xyz)
    if fmt == "npz":
        return _NpzSource(path)
    return _DeviceSource(path, units)


# ----------------------------------------------------------------------------------------------
# streaming pipeline: regularise -> resample -> window
# ----------------------------------------------------------------------------------------------


class _Buf:
    """Channel-major ``(C, n)`` samples with global indices ``start .. start + n``."""

    def __init__(self, dtype: Any, capacity: int = 4096) -> None:
        self.a = np.empty((_CHANNELS, capacity), dtype=dtype)
        self.off = 0
        self.n = 0
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self.n

    def reset(self, start: int) -> None:
        self.off, self.n, self.start = 0, 0, start

    def append(self, y: np.ndarray) -> None:
        m = y.shape[1]
        cap = self.a.shape[1]
        if self.off + self.n + m > cap:
            if 3 * (self.n + m) <= 2 * cap:  # compact in place, copies of <= off columns
                step = self.off
                for i in range(0, self.n, step):
                    j = min(self.n, i + step)
                    self.a[:, i:j] = self.a[:, self.off + i : self.off + j]
            else:
                new = np.empty((_CHANNELS, (3 * (self.n + m)) // 2 + 1), dtype=self.a.dtype)
                new[:, : self.n] = self.a[:, self.off : self.off + self.n]
                self.a = new
            self.off = 0
        self.a[:, self.off + self.n : self.off + self.n + m] = y
        self.n += m

    def view(self, a: int, b: int) -> np.ndarray:
        return self.a[:, self.off + a - self.start : self.off + b - self.start]

    def drop_before(self, g: int) -> None:
        k = min(max(0, g - self.start), self.n)
        self.off += k
        self.n -= k
        self.start += k
        if self.n == 0:
            self.off = 0


class _Windower:
    """100 Hz samples of one gap-free stretch -> kept windows on the global grid."""

    def __init__(
        self,
        stride: int,
        rules: QualityRules,
        drop_nonwear: bool,
        emit: Callable[[np.ndarray, np.ndarray], None],
        summary: WindowSummary,
    ) -> None:
        self.S = stride
        self.rules = rules
        self.nonwear = drop_nonwear
        self.win = round(rules.nonwear_window_s * TARGET_FS)
        self.step = round(rules.nonwear_step_s * TARGET_FS)
        self.emit = emit
        self.summary = summary
        self.buf = _Buf(np.float32)
        self.j0 = 0
        self.k_next = 0
        self.end_all = 0  # end of the last stretch (global 100 Hz index)

    def start(self, j0: int) -> None:
        self.j0 = j0
        self.buf.reset(j0)
        self.k_next = -(-j0 // self.S)

    def push(self, y: np.ndarray) -> None:
        self.buf.append(y)
        self._decide(final=False)

    def end(self) -> None:
        self._decide(final=True)
        self.end_all = max(self.end_all, self.buf.end)
        self.buf.reset(self.buf.end)

    def _emit(self, ks: np.ndarray) -> None:
        """Copy windows ``ks`` (global numbers, increasing) out of the buffer."""
        for a in range(0, ks.size, _EMIT_MAX):
            kk = ks[a : a + _EMIT_MAX]
            lo = int(kk[0]) * self.S
            seg = self.buf.view(lo, int(kk[-1]) * self.S + SEGMENT_LENGTH)
            view = sliding_window_view(seg, SEGMENT_LENGTH, axis=1)[:, (kk - kk[0]) * self.S]
            self.emit(np.ascontiguousarray(view.transpose(1, 2, 0)), kk)

    def _decide(self, final: bool) -> None:
        S, j0, end = self.S, self.j0, self.buf.end
        if end - SEGMENT_LENGTH < self.k_next * S:
            return
        k_last = (end - SEGMENT_LENGTH) // S  # last complete window
        if not self.nonwear:
            ks = np.arange(self.k_next, k_last + 1, dtype=np.int64)
            self.summary.windows_kept += ks.size
            self._emit(ks)
            self.k_next = k_last + 1
            self.buf.drop_before(self.k_next * S)
            return
        win, step = self.win, self.step
        if final:
            e_rel = end - j0
        else:  # block-aligned end: no window flush with it that the stretch does not have
            e_rel = ((end - j0) // step) * step
            k_last = min(k_last, (j0 + e_rel - win - SEGMENT_LENGTH) // S)
            if k_last < self.k_next:
                return
        ks = np.arange(self.k_next, k_last + 1, dtype=np.int64)
        rel = ks * S - j0
        a_rel = max(0, ((int(rel[0]) - win) // step) * step)
        flags = _nonwear_segments(self.buf.view(j0 + a_rel, j0 + e_rel), rel - a_rel, self.rules)
        n_flag = int(np.count_nonzero(flags))
        self.summary.dropped["nonwear"] += n_flag
        self.summary.windows_kept += ks.size - n_flag
        if n_flag < ks.size:
            self._emit(ks[~flags])
        self.k_next = k_last + 1
        nxt = self.k_next * S - j0
        self.buf.drop_before(j0 + max(0, ((nxt - win) // step) * step))


class _Resampler:
    """Native-rate samples of one stretch -> 100 Hz, chunk by chunk with context."""

    def __init__(self, fs: float, src: str, sink: _Windower) -> None:
        self.up, self.down = (1, 1) if fs == TARGET_FS else _rational_ratio(fs, TARGET_FS, src)
        half = 10 * max(self.up, self.down)  # resample_poly's filter half length (upsampled)
        m = 2 * math.ceil(half / self.up) + 2 * self.down
        self.margin = -(-m // self.down) * self.down
        self.sink = sink
        self.bypass = self.up == self.down == 1
        self.buf = _Buf(np.float64)
        self.k0 = 0
        self.emitted = 0

    def start(self, k0: int) -> None:
        self.k0 = self.emitted = k0
        self.buf.reset(k0)
        self.sink.start(k0 * self.up // self.down)

    def push(self, v: np.ndarray) -> None:
        if self.bypass:
            self.sink.push(v.astype(np.float32))
            return
        self.buf.append(v)
        self._run(final=False)

    def end(self) -> None:
        if not self.bypass:
            self._run(final=True)
        self.sink.end()

    def _run(self, final: bool) -> None:
        up, down, k0 = self.up, self.down, self.k0
        n_end = self.buf.end
        e = n_end if final else k0 + ((n_end - self.margin - k0) // down) * down
        if e <= self.emitted:
            return
        s = max(k0, self.emitted - self.margin)
        y = resample_poly(self.buf.view(s, n_end), up, down, axis=1, padtype="edge")
        o0 = (self.emitted - s) * up // down
        o1 = y.shape[1] if final else (e - s) * up // down
        self.sink.push(y[:, o0:o1].astype(np.float32))
        self.emitted = e
        self.buf.drop_before(max(k0, e - self.margin))


class _Regularizer:
    """Valid samples (relative seconds, g) -> native grid ``k / fs`` per gap-free stretch."""

    def __init__(self, fs: float, max_gap_s: float, sink: _Resampler, summary: WindowSummary):
        self.fs = fs
        self.max_gap_s = max_gap_s
        self.sink = sink
        self.down = sink.down
        self.summary = summary
        self.last_t: float | None = None
        self.last_x: np.ndarray | None = None
        self.next_k = 0

    def _start(self, t0: float) -> None:
        k0 = math.ceil(t0 * self.fs - _EPS)
        self.next_k = -(-k0 // self.down) * self.down
        self.summary.pieces += 1
        self.sink.start(self.next_k)

    def _grid(self, tp: np.ndarray, xp: np.ndarray) -> None:
        k_hi = math.floor(float(tp[-1]) * self.fs + _EPS)
        if k_hi < self.next_k:
            return
        g = np.arange(self.next_k, k_hi + 1, dtype=np.float64) / self.fs
        v = np.empty((_CHANNELS, g.size), dtype=np.float64)
        for c in range(_CHANNELS):
            v[c] = np.interp(g, tp, xp[c])
        self.next_k = k_hi + 1
        self.sink.push(v)

    def feed(self, t: np.ndarray, x: np.ndarray) -> None:
        """``t`` ``(n,)`` increasing seconds since ``T0``; ``x`` ``(3, n)`` in g."""
        if t.size == 0:
            return
        if self.last_t is not None:
            assert self.last_x is not None
            tt = np.concatenate(([self.last_t], t))
            xx = np.concatenate((self.last_x[:, None], x), axis=1)
        else:
            tt, xx = t, x
        gaps = np.flatnonzero(np.diff(tt) > self.max_gap_s)
        self.summary.gaps += int(gaps.size)
        bounds = [0, *(gaps + 1).tolist(), tt.size]
        for i in range(len(bounds) - 1):
            a, b = bounds[i], bounds[i + 1]
            if i > 0 or self.last_t is None:
                if i > 0:
                    self.sink.end()
                self._start(float(tt[a]))
            self._grid(tt[a:b], xx[:, a:b])
        self.last_t = float(tt[-1])
        self.last_x = xx[:, -1].copy()

    def finish(self) -> None:
        if self.last_t is not None:
            self.sink.end()


# ----------------------------------------------------------------------------------------------
# iter_windows
# ----------------------------------------------------------------------------------------------


def _stride_samples(stride_s: float) -> int:
    try:
        val = float(stride_s)
    except (TypeError, ValueError):
        val = float("nan")
    s = round(val * TARGET_FS) if math.isfinite(val) else 0
    if s < 1 or abs(val * TARGET_FS - s) > 1e-6:
        raise ValueError(f"stride_s must be a positive multiple of 0.01 s, got {stride_s!r}")
    return s


def _positive(value: float, name: str) -> float:
    try:
        val = float(value)
    except (TypeError, ValueError):
        val = float("nan")
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return val


class WindowIterator(Iterator[WindowBatch]):
    """Iterator over the :class:`WindowBatch` es of one recording; see :func:`iter_windows`.

    The input is opened and its first rows are read when the iterator is created, so that bad
    files, unknown units or an unknown sampling rate fail at once. :attr:`summary` is filled
    while iterating and complete when the iterator is exhausted. Use it as a context manager
    (or call :meth:`close`) to close the file early.
    """

    def __init__(
        self,
        source: _Source,
        *,
        recording: str,
        units: str | None,
        stride_s: float,
        max_gap_s: float,
        chunk_s: float,
        drop_nonwear: bool,
        rules: QualityRules | None,
        fs: float | None,
        time_unit: str,
    ) -> None:
        self.source = source
        src = source.src
        self.summary = WindowSummary(source=src, recording=recording)
        self._stride = _stride_samples(stride_s)
        self._stride_s = self._stride / TARGET_FS
        self._max_gap_s = _positive(max_gap_s, "max_gap_s")
        chunk = _positive(chunk_s, "chunk_s")
        if time_unit not in ("auto", "s", "ms", "us", "ns", "datetime"):
            raise ValueError(
                f"{src}: unknown time_unit {time_unit!r}; expected auto, s, ms, us, ns or datetime"
            )
        self._time_unit = time_unit
        self._fs_arg = None if fs is None else _positive(fs, "fs")
        self._units_arg = units
        self._rules = rules or QualityRules()
        self._drop_nonwear = bool(drop_nonwear)
        rate = self._fs_arg or source.fs or TARGET_FS
        self._rows = int(min(_MAX_ROWS, max(1024, math.ceil(chunk * rate))))
        self._queue: deque[WindowBatch] = deque()
        self._prev_t: Any = None
        self._prev_finite = True
        self._kind: str | None = None
        self._blocks = source.blocks(self._rows)
        self._done = False
        try:
            self._probe()
        except BaseException:
            self.close()
            raise

    # ---- setup ----------------------------------------------------------------------------
    def _probe(self) -> None:
        """Read the first rows; decide time unit, start, sampling rate and units."""
        src = self.source.src
        kept: list[tuple[int, np.ndarray, np.ndarray]] = []  # (row0, valid t, valid x)
        n_valid = 0
        self._eof = True
        for raw in self._blocks:
            t, x = self._clean(raw)
            kept.append((raw.row0, t, x))
            n_valid += x.shape[0]
            if n_valid >= PROBE_ROWS:
                self._eof = False
                break
        if self._kind is None:
            raise ValueError(f"{src}: no data rows")
        if n_valid == 0:
            raise ValueError(
                f"{src}: no valid samples in the first {self.summary.rows} rows (every row has a "
                "missing or NaN acceleration value)"
            )
        s = self.summary
        kind = self._kind
        t_all = np.concatenate([t for _, t, _ in kept])
        # time unit and T0
        self._scale = 1.0
        if kind == "uniform":
            s.time_unit = "uniform"
            self._t0_raw: Any = 0
            s.start_s = float(self.source.start_s)
        elif kind == "datetime":
            s.time_unit = "datetime"
            self._scale = 1e-9
            self._t0_raw = int(self._first_t)
            s.start_s = self._t0_raw * 1e-9
        else:
            self._t0_raw = self._first_t
            if self._time_unit == "datetime":
                raise ValueError(f"{src}: time_unit='datetime' but the time column is numeric")
            if self._time_unit == "auto":
                d = np.diff(t_all)
                d = d[d > 0]
                if d.size == 0:
                    raise ValueError(
                        f"{src}: cannot infer the sampling rate: fewer than 2 distinct time "
                        "stamps among the first rows"
                    )
                med = float(np.median(d))
                unit = next((u for u, _, lo, hi in _TIME_UNITS if lo <= med <= hi), None)
                if unit is None:
                    raise ValueError(
                        f"{src}: cannot infer the time unit from the median interval {med:.6g}: "
                        "it implies no sampling rate between 5 and 1000 Hz in s, ms, us or ns; "
                        "pass time_unit"
                    )
            else:
                unit = self._time_unit
            s.time_unit = unit
            self._scale = {u: sc for u, sc, _, _ in _TIME_UNITS}[unit]
            s.start_s = float(self._t0_raw) * self._scale
        if kind == "datetime":
            self._t0_ns: int | None = int(self._t0_raw)
        elif _UNIX_RANGE_S[0] <= s.start_s < _UNIX_RANGE_S[1]:
            self._t0_ns = round(s.start_s * 1e9)
        else:
            self._t0_ns = None
        s.absolute_time = self._t0_ns is not None
        # sampling rate
        fs = self._fs_arg or self.source.fs
        if fs is None:
            d = np.diff(self._rel(t_all))
            d = d[d > 0]
            if d.size == 0:
                raise ValueError(
                    f"{src}: cannot infer the sampling rate: fewer than 2 distinct time stamps "
                    "among the valid rows; pass fs"
                )
            med = float(np.median(d))
            share = float(np.mean(np.abs(d - med) <= _DOMINANT_TOL * med))
            if share < _DOMINANT_SHARE:
                raise ValueError(
                    f"{src}: cannot infer the sampling rate: the time stamps are irregular with no "
                    f"dominant interval (only {share:.0%} of the intervals lie within "
                    f"{_DOMINANT_TOL:.0%} of the median {med:.4g} s); pass fs"
                )
            s.fs_estimated = 1.0 / med
            fs = float(round(s.fs_estimated))
            if fs < 1:
                raise ValueError(
                    f"{src}: estimated sampling rate {s.fs_estimated:.4g} Hz rounds to 0 Hz; pass fs"
                )
        s.fs_native = float(fs)
        # units
        x_probe = np.concatenate([x for _, _, x in kept])
        self._units = self._resolve_units(x_probe)
        s.units = self._units
        del x_probe
        # pipeline
        self._windower = _Windower(
            self._stride, self._rules, self._drop_nonwear, self._on_windows, s
        )
        self._resampler = _Resampler(s.fs_native, src, self._windower)
        self._regular = _Regularizer(s.fs_native, self._max_gap_s, self._resampler, s)
        self._probe_blocks = kept
        last = next((t[-1] for _, t, _ in reversed(kept) if t.size), None)
        if self._eof and last is not None:
            dur = float(self._rel(np.asarray([last]))[0]) + 1.0 / s.fs_native
            if dur < SEGMENT_LENGTH / TARGET_FS:
                raise ValueError(self._too_short_message(dur))

    def _too_short_message(self, dur: float) -> str:
        return (
            f"{self.source.src}: recording too short: {dur:.3f} s of data, one window needs "
            f"{SEGMENT_LENGTH / TARGET_FS:g} s ({SEGMENT_LENGTH} samples at 100 Hz)"
        )

    def _resolve_units(self, x: np.ndarray) -> str:
        src = self.source.src
        s = self.summary
        in_file = self.source.units
        arg = self._units_arg
        if in_file is not None:
            unit = normalize_units(in_file, src)
            if arg is not None and normalize_units(arg, src) != unit:
                raise ValueError(f"{src}: the file says units {unit!r} but units={arg!r} was given")
        elif arg is not None:
            unit = normalize_units(arg, src)
        else:
            s.units_detected = True
            return detect_units(x, src)
        try:
            found = detect_units(x, src)
        except ValueError:
            return unit  # nothing to check against (e.g. gravity removed): trust the caller
        if found != unit:
            mag = float(np.median(np.sqrt((x * x).sum(axis=1))))
            raise ValueError(
                f"{src}: wrong units? units {unit!r} were given, but the median vector magnitude "
                f"{mag:.4g} looks like {found!r} (about 1 g, 9.81 m/s^2 or 1000 mg with gravity); "
                f"pass units={found!r}"
            )
        return unit

    # ---- per block --------------------------------------------------------------------------
    def _fmt_t(self, v: Any) -> str:
        if self._kind == "datetime":
            return str(pd.Timestamp(int(v), unit="ns", tz="UTC"))
        return repr(v.item() if hasattr(v, "item") else v)

    def _clean(self, raw: _Raw) -> tuple[np.ndarray, np.ndarray]:
        """Validate a block (time stamps going backwards, duplicates, NaN rows); return its
        valid rows as ``(raw times, or row indices for uniform inputs; x)``."""
        src = self.source.src
        s = self.summary
        n = raw.x.shape[0]
        s.rows += n
        if raw.t is None:
            t = np.arange(raw.row0, raw.row0 + n, dtype=np.int64)
        else:
            t = raw.t
        if n == 0:
            return t, raw.x
        if self._kind is None:
            self._kind = raw.kind
            self._first_t = t[0]
        elif raw.kind != self._kind:
            raise ValueError(
                f"{src}: {self.source.label(raw.row0)}: the time column changes from "
                f"{self._kind} to {raw.kind} values"
            )
        finite = np.isfinite(raw.x).all(axis=1)
        dup = np.zeros(n, dtype=bool)
        if raw.t is not None:
            prev = self._prev_t
            d = np.diff(t) if prev is None else np.diff(np.concatenate(([prev], t)))
            shift = 1 if prev is None else 0  # d[j] compares row j + shift with the one before
            back = d < 0
            if back.any():
                j = _first(back) + shift
                before = t[j - 1] if j > 0 else prev
                raise ValueError(
                    f"{src}: time stamps go backwards at {self.source.label(raw.row0 + j)} "
                    f"({self._fmt_t(t[j])} < {self._fmt_t(before)} in the row before); sort the "
                    "data by time first"
                )
            dup[shift:] = d == 0
            s.duplicate_rows += int(np.count_nonzero(dup))
            self._prev_t = t[-1]
        f = finite[~dup]  # the rows that are not duplicates: finite or NaN
        if not f.all():
            s.nan_rows += int(np.count_nonzero(~f))
            starts = ~f & np.concatenate(([self._prev_finite], f[:-1]))
            s.nan_runs += int(np.count_nonzero(starts))
        if f.size:
            self._prev_finite = bool(f[-1])
        keep = finite & ~dup
        return t[keep], raw.x[keep]

    def _rel(self, t: np.ndarray) -> np.ndarray:
        """Raw times (or uniform row indices) -> float64 seconds since ``T0``."""
        t0 = self._t0_raw
        if self._kind == "uniform":
            return t.astype(np.float64) / self.summary.fs_native
        if t.dtype.kind in "iu" and isinstance(t0, (int, np.integer)):
            return (t - np.int64(t0)).astype(np.float64) * self._scale
        return (t.astype(np.float64) - float(t0)) * self._scale

    def _feed(self, t: np.ndarray, x: np.ndarray) -> None:
        if x.shape[0] == 0:
            return
        tr = self._rel(t)
        self.summary.duration_s = float(tr[-1])
        xg = to_g(x, self._units, self.source.src)
        self._regular.feed(tr, xg.T)

    def _on_windows(self, x: np.ndarray, ks: np.ndarray) -> None:
        start_s = self.summary.start_s + ks * self._stride_s
        ns = None
        if self._t0_ns is not None:
            ns = self._t0_ns + ks * np.int64(self._stride * 10_000_000)
        self._queue.append(WindowBatch(x, ks, start_s, ns, self.summary.recording))

    def _finish(self) -> None:
        self._regular.finish()
        s = self.summary
        end = self._windower.end_all
        s.windows_grid = 0 if end < SEGMENT_LENGTH else (end - SEGMENT_LENGTH) // self._stride + 1
        s.dropped["gap"] = s.windows_grid - s.windows_kept - s.dropped["nonwear"]
        if s.windows_kept + s.dropped["nonwear"] == 0:
            dur = s.duration_s + 1.0 / s.fs_native
            if dur < SEGMENT_LENGTH / TARGET_FS:
                raise ValueError(self._too_short_message(dur))
            raise ValueError(
                f"{self.source.src}: no {SEGMENT_LENGTH / TARGET_FS:g} s window fits in a gap-free "
                f"stretch: the {s.pieces} stretches are split by {s.gaps} gaps longer than "
                f"max_gap_s={self._max_gap_s} s"
            )
        logger.info("%s", s)

    # ---- iteration ------------------------------------------------------------------------
    def __iter__(self) -> WindowIterator:
        return self

    def __next__(self) -> WindowBatch:
        while not self._queue:
            if self._done:
                raise StopIteration
            if self._probe_blocks:
                _, t, x = self._probe_blocks.pop(0)
                self._feed(t, x)
                continue
            raw = next(self._blocks, None) if not self._eof else None
            if raw is None:
                self._done = True
                try:
                    self._finish()
                finally:
                    self.close()
                continue
            t, x = self._clean(raw)
            self._feed(t, x)
        return self._queue.popleft()

    def close(self) -> None:
        """Close the input (the iterator then yields what it already holds, nothing more)."""
        self._eof = True
        with contextlib.suppress(Exception):
            self._blocks.close()  # type: ignore[attr-defined]
        self.source.close()

    def __enter__(self) -> WindowIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_windows(
    path: str | os.PathLike[str],
    *,
    units: str | None = None,
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    chunk_s: float = 3600.0,
    drop_nonwear: bool = True,
    time_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    z_column: str | None = None,
    time_unit: str = "auto",
    fs: float | None = None,
    rules: QualityRules | None = None,
    recording: str | None = None,
) -> WindowIterator:
    """Stream the 2.56 s windows of a recording file, a chunk at a time.

    See the module docstring for the formats and the rules (time stamps, missing values,
    sampling rate, units, resampling, the window grid, non-wear).

    Parameters
    ----------
    path : path-like
        ``*.csv``, ``*.csv.gz``, ``*.parquet``, ``*.npz``, or a device file (``*.cwa``,
        ``*.cwa.gz``, ``*.gt3x``, ``*.bin``; needs ``actipy``).
    units : str, optional
        ``"g"``, ``"m/s^2"`` or ``"mg"``; detected when None.
    stride_s : float
        Seconds between window starts; a multiple of 0.01 s (2.56: no overlap).
    max_gap_s : float
        Longest interval between valid samples that is bridged by interpolation.
    chunk_s : float
        Input read and processed at a time, in seconds at the input's rate (100 Hz assumed when
        the file does not state its rate). Changes memory and speed, not the result.
    drop_nonwear : bool
        Drop windows in non-wear stretches (the rule of ``relcon prepare``).
    time_column, x_column, y_column, z_column : str, optional
        Column names (CSV, Parquet); found automatically when None.
    time_unit : str
        ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"`` for numeric time
        columns.
    fs : float, optional
        Native sampling rate in Hz (skips the estimate; the file's own rate otherwise).
    rules : QualityRules, optional
        Non-wear thresholds (default :class:`relcon.data.corpus.QualityRules`).
    recording : str, optional
        Recording id for the batches and summary (default: the file stem).

    Returns
    -------
    WindowIterator
        Yields :class:`WindowBatch` es in time order; ``.summary`` is a :class:`WindowSummary`,
        complete after the last batch.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ImportError
        For a device file without ``actipy``.
    ValueError
        With a message naming the file (and row, where there is one): unsupported or unreadable
        file, missing columns, wrong or undetectable units, a sampling rate that cannot be
        inferred, time stamps going backwards, a missing time stamp, a recording shorter than
        one window (raised at once when the file is that short, else at the end of iteration).
    """
    p = Path(path).expanduser()
    xyz = (x_column, y_column, z_column)
    source = _open_source(p, units, time_column, xyz)
    if recording is None:
        fmt = _format_of(p.name)
        recording = fmt[1] if fmt else p.stem
    try:
        return WindowIterator(
            source,
            recording=recording,
            units=units,
            stride_s=stride_s,
            max_gap_s=max_gap_s,
            chunk_s=chunk_s,
            drop_nonwear=drop_nonwear,
            rules=rules,
            fs=fs,
            time_unit=time_unit,
        )
    except BaseException:
        source.close()
        raise


# ----------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------


def load_encoder(
    model: ResNet1DEncoder | str | os.PathLike[str] | None = None, device: str = "auto"
) -> ResNet1DEncoder:
    """The encoder to embed with, in eval mode on ``device``.

    Parameters
    ----------
    model : ResNet1DEncoder, path-like or None
        An encoder (moved to ``device``), a run folder / checkpoint / ``model.safetensors``
        (:func:`relcon.load`), or None for the pretrained model shipped with the package.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...

    Raises
    ------
    ValueError
        If the file holds another kind of model, or None is given and this installation has no
        shipped model.
    """
    import relcon
    from relcon.models.encoder import ResNet1DEncoder
    from relcon.runs import pick_device

    dev = pick_device(device)
    if isinstance(model, ResNet1DEncoder):
        return model.to(dev).eval()
    if model is None:
        params = inspect.signature(relcon.load).parameters
        first = next(iter(params.values()), None)
        if first is None or first.default is inspect.Parameter.empty:
            raise ValueError(
                "no pretrained model is shipped with this relcon version: pass the encoder to use "
                "(model=PATH / --model PATH: a run folder, checkpoint or model.safetensors)"
            )
        try:
            enc = relcon.load(device=str(dev))
        except FileNotFoundError as exc:
            raise ValueError(
                f"the default model is not available ({exc}); pass model=PATH / --model PATH"
            ) from None
    else:
        enc = relcon.load(model, device=str(dev))
    if not isinstance(enc, ResNet1DEncoder):
        raise ValueError(
            f"{model}: holds a {type(enc).__name__}, not an encoder; pass an encoder run or "
            "checkpoint"
        )
    return enc.eval()


def _model_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


# ----------------------------------------------------------------------------------------------
# table output
# ----------------------------------------------------------------------------------------------


def _meta_columns(b: WindowBatch, with_time: bool) -> dict[str, Any]:
    cols: dict[str, Any] = {
        "recording": np.full(len(b), b.recording, dtype=object),
        "window": b.window,
        "start_s": b.start_s,
    }
    if with_time:
        ns = b.start_ns if b.start_ns is not None else np.full(len(b), np.iinfo(np.int64).min)
        cols["start_time"] = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
    return cols


def _empty_columns(
    compute: Callable[[np.ndarray], dict[str, Any]], with_time: bool
) -> dict[str, Any]:
    empty = WindowBatch(
        np.zeros((0, SEGMENT_LENGTH, _CHANNELS), np.float32),
        np.zeros(0, np.int64),
        np.zeros(0, np.float64),
        None,
        "",
    )
    cols = _meta_columns(empty, with_time)
    cols.update(compute(empty.x))
    return cols


def _concat(batches: list[WindowBatch]) -> WindowBatch:
    if len(batches) == 1:
        return batches[0]
    ns = [b.start_ns for b in batches]
    return WindowBatch(
        np.concatenate([b.x for b in batches]),
        np.concatenate([b.window for b in batches]),
        np.concatenate([b.start_s for b in batches]),
        None if any(v is None for v in ns) else np.concatenate(ns),  # type: ignore[arg-type]
        batches[0].recording,
    )


def _batched(it: Iterable[WindowBatch], size: int) -> Iterator[WindowBatch]:
    """Regroup batches into ones of at least ``size`` windows (the last may be smaller)."""
    held: list[WindowBatch] = []
    n = 0
    for b in it:
        held.append(b)
        n += len(b)
        if n >= size:
            yield _concat(held)
            held, n = [], 0
    if held:
        yield _concat(held)


class _TableWriter:
    """Append row chunks to a Parquet or CSV file written under a temporary name."""

    def __init__(self, out: Path, row_group_rows: int = 8192) -> None:
        name = out.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            self.fmt = "csv"
        elif name.endswith((".parquet", ".pq")):
            self.fmt = "parquet"
        else:
            raise ValueError(f"{out}: output must end in .parquet, .pq, .csv or .csv.gz")
        self.out = out
        self.row_group_rows = row_group_rows
        self._ctx = atomic_path(out)
        self.tmp = self._ctx.__enter__()
        self._writer: Any = None
        self._fh: Any = None
        self._held: list[pd.DataFrame] = []
        self._n_held = 0
        self.rows = 0

    def write(self, cols: dict[str, Any], *, empty_ok: bool = False) -> None:
        """Append rows (``empty_ok``: also zero rows, which fixes the columns of an empty file)."""
        df = pd.DataFrame(cols)
        if len(df) == 0 and not empty_ok:
            return
        self.rows += len(df)
        self._held.append(df)
        self._n_held += len(df)
        if self._n_held >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        df = pd.concat(self._held, ignore_index=True) if len(self._held) > 1 else self._held[0]
        self._held, self._n_held = [], 0
        if self.fmt == "csv":
            if self._fh is None:
                import gzip

                gz = self.out.name.lower().endswith(".gz")
                self._fh = (
                    gzip.open(self.tmp, "wt", newline="") if gz else open(self.tmp, "w", newline="")
                )
                df.to_csv(self._fh, index=False)
            else:
                df.to_csv(self._fh, index=False, header=False)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))

    def close(self, ok: bool) -> None:
        """Finish: rename into place when ``ok``, else remove the temporary file."""
        try:
            if ok:
                self._flush()
        except BaseException:
            ok = False
            raise
        finally:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
            if ok:
                self._ctx.__exit__(None, None, None)
            else:
                with contextlib.suppress(Exception):
                    self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
                if self.tmp.exists():
                    self.tmp.unlink()


def _recording_ids(inputs: Sequence[Any]) -> list[str]:
    stems = [inp.recording for inp in inputs]
    return [str(inp.path) if stems.count(inp.recording) > 1 else inp.recording for inp in inputs]


def _run_recordings(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    compute: Callable[[np.ndarray], dict[str, np.ndarray]],
    *,
    batch_size: int,
    progress: bool,
    summaries: list[WindowSummary] | None,
    desc: str,
    window_kw: dict[str, Any],
) -> Path:
    """Stream every recording's windows through ``compute`` into one table at ``out``."""
    from tqdm.auto import tqdm

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    out_p = Path(out).expanduser()
    inputs = _collect_inputs(list(paths), out_p, "stem")
    if not inputs:
        raise ValueError(f"no recordings found in {[str(p) for p in paths]}")
    ids = _recording_ids(inputs)
    writer = _TableWriter(out_p)
    ok = False
    try:
        with tqdm(desc=desc, unit=" win", disable=not progress, dynamic_ncols=True) as bar:
            for i, (inp, rid) in enumerate(zip(inputs, ids, strict=True)):
                bar.set_postfix_str(f"{i + 1}/{len(inputs)} {rid}")
                with iter_windows(inp.path, recording=rid, **window_kw) as it:
                    for b in _batched(it, int(batch_size)):
                        cols = _meta_columns(b, with_time=True)
                        cols.update(compute(b.x))
                        writer.write(cols)
                        bar.update(len(b))
                if summaries is not None:
                    summaries.append(it.summary)
        if writer.rows == 0:  # every window dropped: an empty table with the usual columns
            writer.write(_empty_columns(compute, with_time=True), empty_ok=True)
        ok = True
    finally:
        writer.close(ok)
    return out_p


def _frame(
    source: _Source, compute: Callable[[np.ndarray], dict[str, np.ndarray]], batch_size: int,
    window_kw: dict[str, Any], summary: WindowSummary | None,
) -> pd.DataFrame:  # fmt: skip
    it = WindowIterator(source, recording=source.src, **window_kw)
    parts: list[pd.DataFrame] = []
    with it:
        for b in _batched(it, int(batch_size)):
            cols = _meta_columns(b, with_time=b.start_ns is not None)
            del cols["recording"]
            cols.update(compute(b.x))
            parts.append(pd.DataFrame(cols))
    if summary is not None:
        summary.__dict__.update(it.summary.__dict__)
    if not parts:
        cols = _empty_columns(compute, with_time=it.summary.absolute_time)
        del cols["recording"]
        return pd.DataFrame(cols)
    return pd.concat(parts, ignore_index=True)


def _window_kw(
    *,
    units: str | None,
    stride_s: float,
    max_gap_s: float,
    chunk_s: float,
    drop_nonwear: bool,
    rules: QualityRules | None,
    fs: float | None = None,
    time_unit: str = "auto",
) -> dict[str, Any]:
    return {
        "units": units, "stride_s": stride_s, "max_gap_s": max_gap_s, "chunk_s": chunk_s,
        "drop_nonwear": drop_nonwear, "rules": rules, "fs": fs, "time_unit": time_unit,
    }  # fmt: skip


def _embed_fn(enc: ResNet1DEncoder, batch_size: int) -> Callable[[np.ndarray], dict[str, Any]]:
    names = [f"e{i:03d}" for i in range(enc.embed_dim)]
    dev = _model_device(enc)

    def compute(x: np.ndarray) -> dict[str, Any]:
        z = enc.embed(x, batch_size=batch_size, device=dev)
        return dict(zip(names, z.T, strict=True))

    return compute


# ----------------------------------------------------------------------------------------------
# public embedding API
# ----------------------------------------------------------------------------------------------


def embed_recordings(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    model: ResNet1DEncoder | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] = "embeddings.parquet",
    *,
    batch_size: int = 512,
    device: str = "auto",
    stride_s: float = 2.56,
    units: str | None = None,
    max_gap_s: float = 0.5,
    chunk_s: float = 3600.0,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    progress: bool = True,
    summaries: list[WindowSummary] | None = None,
) -> Path:
    """Embed every 2.56 s window of recording files into one Parquet or CSV table.

    Windows are streamed (:func:`iter_windows`), embedded ``batch_size`` at a time and appended
    to ``out`` under a temporary name that is renamed when everything succeeded, so memory is
    bounded whatever the recordings' length and ``out`` never holds a partial result.

    Parameters
    ----------
    paths : path-like or sequence of path-likes
        Recording files, or folders searched recursively for them (hidden entries skipped);
        processed in sorted order of their resolved paths.
    model : ResNet1DEncoder, path-like or None
        See :func:`load_encoder` (None: the shipped pretrained model).
    out : path-like
        ``*.parquet`` (or ``*.pq``), or ``*.csv`` / ``*.csv.gz``.
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` ...
    stride_s, units, max_gap_s, chunk_s, drop_nonwear, rules
        As in :func:`iter_windows` (the same for every recording).
    progress : bool
        Show a tqdm bar (windows done, current recording).
    summaries : list, optional
        Receives one :class:`WindowSummary` per recording.

    Returns
    -------
    pathlib.Path
        ``out``: one row per kept window, columns ``recording`` (string: the file stem, or the
        path where stems collide), ``window`` (int64), ``start_s`` (float64), ``start_time``
        (timestamp[ns, UTC], null without absolute time) and ``e000`` ... ``e{D-1}`` (float32).

    Raises
    ------
    ValueError, FileNotFoundError, ImportError
        As :func:`iter_windows` for any recording (nothing is written then), or if no
        recordings were found or no window was kept at all (Parquet).
    """
    enc = load_encoder(model, device)
    kw = _window_kw(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=chunk_s,
        drop_nonwear=drop_nonwear, rules=rules,
    )  # fmt: skip
    return _run_recordings(
        paths, out, _embed_fn(enc, batch_size), batch_size=batch_size, progress=progress,
        summaries=summaries, desc="embed", window_kw=kw,
    )  # fmt: skip


def embed_array(
    x: np.ndarray,
    fs: float,
    *,
    units: str | None = "g",
    start_s: float = 0.0,
    model: ResNet1DEncoder | str | os.PathLike[str] | None = None,
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    batch_size: int = 512,
    device: str = "auto",
    summary: WindowSummary | None = None,
) -> pd.DataFrame:
    """Embed a uniformly sampled recording held in memory.

    Parameters
    ----------
    x : numpy.ndarray
        ``(T, 3)`` acceleration sampled at ``fs``; sample ``i`` is at ``start_s + i / fs``.
        Rows with a NaN are removed and the holes follow the gap rule of :func:`iter_windows`.
    fs : float
        Sampling rate in Hz (resampled to 100 Hz when different).
    units : str or None
        ``"g"`` (default), ``"m/s^2"``, ``"mg"``, or None to detect them.
    start_s : float
        Time of the first sample, seconds (Unix time gives a ``start_time`` column).
    model : ResNet1DEncoder, path-like or None
        See :func:`load_encoder`.
    stride_s, max_gap_s, drop_nonwear, rules
        As in :func:`iter_windows`.
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` ...
    summary : WindowSummary, optional
        Filled with the counts.

    Returns
    -------
    pandas.DataFrame
        ``N`` rows (kept windows): ``window`` (int64), ``start_s`` (float64), ``start_time``
        (only with absolute time) and ``e000`` ... ``e{D-1}`` (float32).
    """
    enc = load_encoder(model, device)
    kw = _window_kw(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=3600.0,
        drop_nonwear=drop_nonwear, rules=rules,
    )  # fmt: skip
    return _frame(_ArraySource(x, fs, start_s), _embed_fn(enc, batch_size), batch_size, kw, summary)


def embed_dataframe(
    df: pd.DataFrame,
    *,
    time_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    z_column: str | None = None,
    units: str | None = None,
    time_unit: str = "auto",
    fs: float | None = None,
    model: ResNet1DEncoder | str | os.PathLike[str] | None = None,
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    batch_size: int = 512,
    device: str = "auto",
    summary: WindowSummary | None = None,
) -> pd.DataFrame:
    """Embed a recording held in a DataFrame with a time column and x, y, z columns.

    Parameters
    ----------
    df : pandas.DataFrame
        ``T`` rows. Time: ``time_column`` or the first of ``time``, ``timestamp``, ``t``, ...
        (datetime64 -- naive = UTC --, numbers in s/ms/us/ns, or ISO 8601 strings), or the
        index when it is a :class:`pandas.DatetimeIndex` and no time column exists.
        Acceleration: ``x_column``, ``y_column``, ``z_column`` or the first of ``x,y,z``,
        ``acc_x,...``, ...; rows with a NaN are removed (gap rule of :func:`iter_windows`).
    time_column, x_column, y_column, z_column : str, optional
        Column names.
    units : str, optional
        ``"g"``, ``"m/s^2"``, ``"mg"``; detected when None.
    time_unit : str
        ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"``.
    fs : float, optional
        Native sampling rate (estimated when None).
    model : ResNet1DEncoder, path-like or None
        See :func:`load_encoder`.
    stride_s, max_gap_s, drop_nonwear, rules
        As in :func:`iter_windows`.
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` ...
    summary : WindowSummary, optional
        Filled with the counts.

    Returns
    -------
    pandas.DataFrame
        As :func:`embed_array`: ``window``, ``start_s``, ``start_time`` (with absolute time)
        and ``e000`` ... ``e{D-1}``.
    """
    enc = load_encoder(model, device)
    source = _FrameSource(df, time_column, (x_column, y_column, z_column))
    kw = _window_kw(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=3600.0,
        drop_nonwear=drop_nonwear, rules=rules, fs=fs, time_unit=time_unit,
    )  # fmt: skip
    return _frame(source, _embed_fn(enc, batch_size), batch_size, kw, summary)
