"""The window iterator: a source through the streaming pipeline, as batches of 2.56 s windows."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.corpus import QualityRules
from relcon.data.corpus.inputs import _format_of
from relcon.data.datasets.csv import _TIME_UNITS
from relcon.data.signal import TARGET_FS, detect_units, normalize_units, to_g
from relcon.data.stream.batch import WindowBatch, WindowSummary
from relcon.data.stream.sources import _first, _open_source, _Raw, _Source
from relcon.data.stream.steps import _Regularizer, _Resampler, _Windower
from relcon.data.windowing import SEGMENT_LENGTH

__all__ = ["PROBE_ROWS", "WindowIterator", "iter_windows"]

logger = logging.getLogger(__name__)

#: Valid rows read before the sampling rate and units are decided.
PROBE_ROWS = 65_536
#: Interval share and tolerance of the "dominant interval" test of the rate estimate.
_DOMINANT_SHARE = 0.5
_DOMINANT_TOL = 0.25
#: Numeric times (in seconds) in [2000-01-01, 2100-01-01) are taken as Unix time.
_UNIX_RANGE_S = (946_684_800.0, 4_102_444_800.0)

_MAX_ROWS = 1 << 30


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
