"""The checked rows of one recording: a source's blocks with the time stamps validated, repeated
time stamps and (by policy) rows with a missing value removed, times in seconds since the first
time stamp and acceleration in g. The first rows decide the time unit, the sampling rate and the
units (:class:`RecordingReader`); both back ends of the stream read through it."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.formats import (
    check_time_unit,
    first_true,
    infer_time_unit,
    positive_intervals,
    resolve_units,
    time_scale,
    to_g,
)
from relcon.data.stream.batch import RecordingInfo
from relcon.data.stream.sources import RawBlock, Source
from relcon.io import Closing

__all__ = ["NAN_POLICIES", "PROBE_ROWS", "RecordingReader"]

#: Valid rows read before the sampling rate and units are decided.
PROBE_ROWS = 65_536
#: What a row with a missing, NaN or infinite acceleration value does: ``"drop"`` removes it
#: (counted; the hole follows the gap rule), ``"error"`` refuses the file naming the row.
NAN_POLICIES = ("drop", "error")
#: Interval share and tolerance of the "dominant interval" test of the rate estimate.
_DOMINANT_SHARE = 0.5
_DOMINANT_TOL = 0.25
#: Numeric times (in seconds) in [2000-01-01, 2100-01-01) are taken as Unix time.
_UNIX_RANGE_S = (946_684_800.0, 4_102_444_800.0)
_MAX_ROWS = 1 << 30
#: Largest acceleration value accepted, in any unit: what float32 (the model's input) holds.
_MAX_ABS = float(np.finfo(np.float32).max)
_NS = 1_000_000_000


def positive(value: float, name: str) -> float:
    """``value`` as a positive finite float, else an error naming ``name``."""
    try:
        val = float(value)
    except (TypeError, ValueError):
        val = float("nan")
    if not (math.isfinite(val) and val > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return val


def _seconds_to_ns(t_s: float) -> int:
    """Seconds -> integer nanoseconds, rounded to the microsecond (a float time stamp holds no
    more: ``1700000000.01`` is stored as ``...0.0099999905``)."""
    whole = math.floor(t_s)
    return int(whole) * _NS + round((t_s - whole) * 1e6) * 1000


class RecordingReader(Closing):
    """The checked rows of a :class:`~relcon.data.stream.sources.Source`, block by block.

    The first rows are read when the reader is created (so that a bad file fails at once); they
    decide the time unit, ``T0`` (the first time stamp), the native rate and the units, recorded
    in :attr:`info`. :meth:`blocks` then yields ``(t, x, labels)`` for every block: ``t``
    ``(n,)`` float64 seconds since ``T0``, increasing; ``x`` ``(n, 3)`` in g (float64, or
    float32 with ``dtype``); ``labels`` the source's text labels or None.

    Parameters
    ----------
    source : Source
        Where the rows come from (closed by :meth:`close`).
    info : RecordingInfo
        Filled while reading.
    units, fs, time_unit
        As in :func:`relcon.data.stream.iter_windows`.
    rows : int
        Rows per block asked of the source.
    nan_policy : str
        ``"drop"`` or ``"error"`` (see :data:`NAN_POLICIES`).
    """

    def __init__(
        self,
        source: Source,
        info: RecordingInfo,
        *,
        units: str | None,
        fs: float | None,
        time_unit: str,
        rows: int,
        nan_policy: str = "drop",
        dtype: Any = np.float64,
    ) -> None:
        self.source = source
        self.info = info
        if nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
        self._nan_policy = nan_policy
        self._time_unit = check_time_unit(time_unit, source.src)
        self._fs_arg = None if fs is None else positive(fs, "fs")
        self._units_arg = units
        self._dtype = dtype
        self.rows = int(min(_MAX_ROWS, max(1024, rows)))
        self._prev_t: Any = None
        self._prev_finite = True
        self._kind: str | None = None
        self._first_t: Any = None
        self._blocks = source.blocks(self.rows)
        self._probe_blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._or_close(self._probe)

    # ---- setup ----------------------------------------------------------------------------
    def _probe(self) -> None:
        """Read the first rows; decide time unit, start, sampling rate and units."""
        src = self.source.src
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        n_valid = 0
        self.eof = True
        for raw in self._blocks:
            kept.append(self._clean(raw))
            n_valid += kept[-1][1].shape[0]
            if n_valid >= PROBE_ROWS:
                self.eof = False
                break
        if self._kind is None:
            raise ValueError(f"{src}: no data rows")
        if n_valid == 0:
            raise ValueError(
                f"{src}: no valid samples in the first {self.info.rows} rows (every row has a "
                "missing or NaN acceleration value)"
            )
        s = self.info
        kind = self._kind
        t_all = np.concatenate([t for t, _, _ in kept])
        self._scale = 1.0
        if kind == "uniform":
            s.time_unit = "uniform"
            self._t0_raw: Any = 0
            s.start_s = float(self.source.start_s)
            self.t0_ns = _seconds_to_ns(s.start_s)
        elif kind == "datetime":
            s.time_unit = "datetime"
            self._scale = 1e-9
            self._t0_raw = int(self._first_t)
            self.t0_ns = self._t0_raw
            s.start_s = self._t0_raw * 1e-9
        else:
            self._t0_raw = self._first_t
            if self._time_unit == "datetime":
                raise ValueError(f"{src}: time_unit='datetime' but the time column is numeric")
            unit = self._time_unit
            if unit == "auto":
                unit = self.source.time_unit or infer_time_unit(t_all, src)
            s.time_unit = unit
            self._scale = time_scale(unit)
            s.start_s = float(self._t0_raw) * self._scale
            if isinstance(self._t0_raw, (int, np.integer)):
                self.t0_ns = int(self._t0_raw) * round(self._scale * _NS)
            else:
                self.t0_ns = _seconds_to_ns(s.start_s)
        s.absolute_time = kind == "datetime" or _UNIX_RANGE_S[0] <= s.start_s < _UNIX_RANGE_S[1]
        # sampling rate
        fs = self._fs_arg or self.source.fs
        if fs is None:
            fs = self._estimate_rate(t_all)
        s.fs_native = float(fs)
        self.fs = float(fs)
        # units
        x_probe = np.concatenate([x for _, x, _ in kept])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s.units, s.units_detected = resolve_units(
                self._units_arg, self.source.units, x_probe, src
            )
        for w in caught:  # kept in the info (printed in summaries) and passed on
            s.warnings.append(str(w.message))
            warnings.warn(w.message, stacklevel=4)
        del x_probe
        self._probe_blocks = kept
        last = next((t[-1] for t, _, _ in reversed(kept) if t.size), None)
        self.last_t_probe = None if last is None else float(self._rel(np.asarray([last]))[0])

    def _estimate_rate(self, t_all: np.ndarray) -> float:
        src = self.source.src
        s = self.info
        d = positive_intervals(self._rel(t_all), src, "the valid rows", "fs")
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
        return fs

    # ---- per block --------------------------------------------------------------------------
    def _fmt_t(self, v: Any) -> str:
        if self._kind == "datetime":
            return str(pd.Timestamp(int(v), unit="ns", tz="UTC"))
        return repr(v.item() if hasattr(v, "item") else v)

    def _clean(self, raw: RawBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate a block (time stamps going backwards, duplicates, NaN rows); return its
        valid rows as ``(raw times, or row indices for uniform inputs; x; labels)``."""
        src = self.source.src
        s = self.info
        n = raw.x.shape[0]
        s.rows += n
        t = np.arange(raw.row0, raw.row0 + n, dtype=np.int64) if raw.t is None else raw.t
        if n == 0:
            return t, raw.x, raw.labels
        if self._kind is None:
            self._kind = raw.kind
            self._first_t = t[0]
        elif raw.kind != self._kind:
            raise ValueError(
                f"{src}: {self.source.label(raw.row0)}: the time column changes from "
                f"{self._kind} to {raw.kind} values"
            )
        finite_values = np.isfinite(raw.x)
        finite = finite_values.all(axis=1)
        if raw.x.dtype == np.float64:
            self._check_range(raw, t, finite_values)
        dup = None
        if raw.t is not None:
            prev = self._prev_t
            d = np.diff(t) if prev is None else np.diff(t, prepend=prev)
            shift = 1 if prev is None else 0  # d[j] compares row j + shift with the one before
            back = d < 0
            if back.any():
                j = first_true(back) + shift
                before = t[j - 1] if j > 0 else prev
                raise ValueError(
                    f"{src}: timestamps go backwards at {self.source.label(raw.row0 + j)} "
                    f"({self._fmt_t(t[j])} < {self._fmt_t(before)} in the row before); sort the "
                    "data by time first"
                )
            same = d == 0
            if same.any():
                dup = np.zeros(n, dtype=bool)
                dup[shift:] = same
                s.duplicate_rows += int(np.count_nonzero(dup))
            self._prev_t = t[-1]
        all_finite = bool(finite.all())
        if all_finite:
            if dup is None or not dup.all():
                self._prev_finite = True
        else:
            f = finite if dup is None else finite[~dup]  # the rows that are not duplicates
            if not f.all():
                if self._nan_policy == "error":
                    i = first_true(~finite if dup is None else ~finite & ~dup)
                    raise ValueError(
                        f"{src}: {self.source.label(raw.row0 + i)} has a missing, NaN or "
                        f"infinite acceleration value ({raw.x[i].tolist()}); this command refuses "
                        "such rows"
                    )
                s.nan_rows += int(np.count_nonzero(~f))
                starts = ~f & np.concatenate(([self._prev_finite], f[:-1]))
                s.nan_runs += int(np.count_nonzero(starts))
            if f.size:
                self._prev_finite = bool(f[-1])
        if dup is None and all_finite:
            return t, raw.x, raw.labels
        keep = finite if dup is None else finite & ~dup
        lab = None if raw.labels is None else raw.labels[keep]
        return t[keep], raw.x[keep], lab

    def _check_range(self, raw: RawBlock, t: np.ndarray, finite_values: np.ndarray) -> None:
        """Refuse a finite value that float32 cannot hold (a 1e39 spike would turn into inf
        on the way to the model, far from the row it came from), naming its row and time."""
        huge = np.abs(raw.x, where=finite_values, out=np.zeros_like(raw.x)) > _MAX_ABS
        if not huge.any():
            return
        i = first_true(huge.any(axis=1))
        at = "" if raw.t is None else f", time {self._fmt_t(t[i])}"
        value = raw.x[i][huge[i]][0]
        raise ValueError(
            f"{self.source.src}: {self.source.label(raw.row0 + i)}{at} has the acceleration "
            f"value {value:.4g}, beyond any accelerometer and float32 (at most 3.4e38): a "
            "corrupt value; repair or remove that row"
        )

    def _rel(self, t: np.ndarray) -> np.ndarray:
        """Raw times (or uniform row indices) -> float64 seconds since ``T0``."""
        t0 = self._t0_raw
        if self._kind == "uniform":
            return t.astype(np.float64) / self.info.fs_native
        if t.dtype.kind in "iu" and isinstance(t0, (int, np.integer)):
            return (t - np.int64(t0)).astype(np.float64) * self._scale
        return (t.astype(np.float64) - float(t0)) * self._scale

    def _convert(
        self, t: np.ndarray, x: np.ndarray, lab: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        tr = self._rel(t)
        if tr.size:
            self.info.duration_s = float(tr[-1])
        xg = to_g(x, self.info.units, self.source.src, copy=False)
        if xg.dtype != self._dtype:
            xg = xg.astype(self._dtype)
        return tr, xg, lab

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """``(t seconds since T0, x in g, labels)`` per block, probe rows first."""
        while self._probe_blocks:
            t, x, lab = self._probe_blocks.pop(0)
            if x.shape[0]:
                yield self._convert(t, x, lab)
        if self.eof:
            return
        for raw in self._blocks:
            t, x, lab = self._clean(raw)
            if x.shape[0]:
                yield self._convert(t, x, lab)

    def close(self) -> None:
        """Close the input."""
        self.eof = True
        with contextlib.suppress(Exception):
            self._blocks.close()  # type: ignore[attr-defined]
        self.source.close()
