"""A generic CSV / CSV.gz with a time column and x, y, z columns: :func:`read_accel_csv`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.datasets.base import _finish, _first_true, _pieces_to_recordings
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import (
    TARGET_FS,
    detect_units,
    normalize_units,
    to_g,
    to_uniform_pieces,
)

__all__ = ["read_accel_csv"]

MIN_SAMPLES_100HZ = 256

_TIME_CANDIDATES = ("time", "timestamp", "t", "time_s", "datetime", "date_time", "unix_time")
_XYZ_CANDIDATES = (
    ("x", "y", "z"),
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accel_x", "accel_y", "accel_z"),
)
#: Median sampling interval range (in the candidate unit) that implies a 5-1000 Hz rate.
_TIME_UNITS: tuple[tuple[str, float, float, float], ...] = (
    ("s", 1.0, 1e-3, 0.2),
    ("ms", 1e-3, 1.0, 200.0),
    ("us", 1e-6, 1e3, 2e5),
    ("ns", 1e-9, 1e6, 2e8),
)


def _find_column(columns: list[str], wanted: str | None, candidates: Iterable[str]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        return lower.get(wanted.strip().lower())
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def _time_to_seconds(col: pd.Series, time_unit: str, path: Path) -> tuple[np.ndarray, str]:
    if time_unit not in ("auto", "s", "ms", "us", "ns", "datetime"):
        raise ValueError(
            f"{path}: unknown time_unit {time_unit!r}; expected auto, s, ms, us, ns or datetime"
        )
    numeric = pd.to_numeric(col, errors="coerce")
    is_numeric = bool(numeric.notna().all())
    any_numeric = bool(numeric.notna().any())
    if time_unit == "datetime" or (time_unit == "auto" and not any_numeric):
        try:
            dt = pd.to_datetime(col, format="ISO8601", utc=True)
        except (ValueError, TypeError):
            dt = pd.to_datetime(col, errors="coerce", format="ISO8601", utc=True)
            bad = dt.isna().to_numpy()
            i = _first_true(bad) if bad.any() else 0
            raise ValueError(
                f"{path}: data row {i + 1} (file line {i + 2}): cannot parse time "
                f"{col.iloc[i]!r} as a number or an ISO 8601 datetime"
            ) from None
        bad = dt.isna().to_numpy()
        if bad.any():
            i = _first_true(bad)
            raise ValueError(
                f"{path}: data row {i + 1} (file line {i + 2}): missing or unparseable time"
            )
        rel = (dt - dt.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
        return rel + dt.iloc[0].timestamp(), "datetime"
    if not is_numeric:
        i = _first_true(numeric.isna().to_numpy())
        raise ValueError(
            f"{path}: data row {i + 1} (file line {i + 2}): missing or non-numeric time "
            f"{col.iloc[i]!r}"
        )
    t = numeric.to_numpy(dtype=np.float64)
    if time_unit != "auto":
        scale = {u: s for u, s, _, _ in _TIME_UNITS}[time_unit]
        return t * scale, time_unit
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        raise ValueError(
            f"{path}: cannot infer the time unit: fewer than 2 distinct timestamps; pass time_unit"
        )
    med = float(np.median(dt))
    for unit, scale, lo, hi in _TIME_UNITS:
        if lo <= med <= hi:
            return t * scale, unit
    raise ValueError(
        f"{path}: cannot infer the time unit from the median interval {med:.6g}: it implies no "
        "sampling rate between 5 and 1000 Hz in s, ms, us or ns; pass time_unit"
    )


def read_accel_csv(
    path: str | os.PathLike[str],
    units: str | None = None,
    time_column: str | None = None,
    *,
    x_column: str | None = None,
    y_column: str | None = None,
    z_column: str | None = None,
    time_unit: str = "auto",
    label_column: str | None = None,
    user: str | None = None,
    fs_out: float = TARGET_FS,
    max_gap_s: float = 0.5,
    min_samples: int = MIN_SAMPLES_100HZ,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read a user's own accelerometer CSV (or CSV.gz) into 100 Hz recordings in g.

    The file needs a header row, a time column and three acceleration columns. Column names
    are matched case-insensitively. Defaults: the time column is the first of ``time``,
    ``timestamp``, ``t``, ``time_s``, ``datetime``, ``date_time``, ``unix_time``; the axes are
    the first complete triple of ``x,y,z``, ``acc_x,...``, ``x_acc,...``, ``ax,...``,
    ``accel_x,...``.

    How the time unit is decided (``time_unit="auto"``): a column in which no value is a
    number is parsed as ISO 8601 datetimes (timezone-naive values are taken as UTC); a column
    mixing numbers and text is an error naming the first non-numeric row. A numeric column is
    interpreted from its median positive interval ``d``: seconds if ``1e-3 <= d <= 0.2``,
    milliseconds if ``1 <= d <= 200``, microseconds if ``1e3 <= d <= 2e5``, nanoseconds if
    ``1e6 <= d <= 2e8`` (each range means a 5-1000 Hz sampling rate; the ranges do not
    overlap). Anything else is an error asking for ``time_unit`` (``"s"``, ``"ms"``, ``"us"``,
    ``"ns"`` or ``"datetime"``).

    Units are ``units`` when given, else :func:`relcon.data.signal.detect_units`. Samples are
    regularized at their native rate, split at gaps longer than ``max_gap_s`` and resampled to
    ``fs_out``. Pieces shorter than ``min_samples`` output samples are dropped (counted in
    ``report``); if no piece is long enough the file is rejected.

    Parameters
    ----------
    path : path-like
        CSV file (``.gz`` allowed).
    units : str, optional
        ``"g"``, ``"m/s^2"`` or ``"mg"``; detected when None.
    time_column : str, optional
        Name of the time column.
    x_column, y_column, z_column : str, optional
        Names of the acceleration columns.
    time_unit : str
        ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"``.
    label_column : str, optional
        Column of per-sample string labels; codes follow the sorted unique names and empty
        cells are unlabelled (``-1``).
    user : str, optional
        User id for the recordings; ``"csv:<file stem>"`` when None.
    fs_out : float
        Output rate in Hz.
    max_gap_s : float
        Gap threshold in seconds.
    min_samples : int
        Minimum output samples per piece (256 = one 2.56 s model segment at 100 Hz).
    report : ReadReport, optional
        Filled with counts.

    Returns
    -------
    list of Recording
        One per gap-free piece; ``recording`` is ``"<user>:<piece>"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, columns are missing (the message lists the columns found), a
        row has missing/non-numeric values (the message gives the first bad row), timestamps
        go backwards, units or time unit are ambiguous, or the data are too short.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    try:
        df = pd.read_csv(p, engine="c", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{p}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{p}: cannot parse as CSV: {exc}") from None
    columns = [str(c) for c in df.columns]
    df.columns = columns
    tcol = _find_column(columns, time_column, _TIME_CANDIDATES)
    if tcol is None:
        wanted = time_column or " / ".join(_TIME_CANDIDATES)
        raise ValueError(f"{p}: missing time column ({wanted}); columns found: {columns}")
    if x_column or y_column or z_column:
        if not (x_column and y_column and z_column):
            raise ValueError(f"{p}: give all of x_column, y_column, z_column or none")
        axes = [_find_column(columns, c, ()) for c in (x_column, y_column, z_column)]
        if any(a is None for a in axes):
            raise ValueError(
                f"{p}: missing acceleration column(s) "
                f"{[c for c, a in zip((x_column, y_column, z_column), axes, strict=True) if a is None]}; "
                f"columns found: {columns}"
            )
    else:
        axes = []
        for triple in _XYZ_CANDIDATES:
            found = [_find_column(columns, c, ()) for c in triple]
            if all(f is not None for f in found):
                axes = found
                break
        if not axes:
            raise ValueError(
                f"{p}: missing acceleration columns (expected x,y,z or acc_x,acc_y,acc_z or "
                f"x_acc,y_acc,z_acc or ax,ay,az or accel_x,accel_y,accel_z); "
                f"columns found: {columns}"
            )
    lcol = None
    if label_column is not None:
        lcol = _find_column(columns, label_column, ())
        if lcol is None:
            raise ValueError(
                f"{p}: missing label column {label_column!r}; columns found: {columns}"
            )
    if len(df) == 0:
        raise ValueError(f"{p}: file has a header but no data rows")

    xyz_df = df[axes].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(xyz_df.to_numpy(dtype=np.float64)).all(axis=1)
    bad |= df[tcol].isna().to_numpy()
    if bad.any():
        i = _first_true(bad)
        raise ValueError(
            f"{p}: data row {i + 1} (file line {i + 2}) has missing, NaN or non-numeric values"
        )
    t_s, unit_used = _time_to_seconds(df[tcol], time_unit, p)
    xyz = xyz_df.to_numpy(dtype=np.float64)
    acc_units = normalize_units(units, str(p)) if units is not None else detect_units(xyz, str(p))
    xyz_g = to_g(xyz, acc_units, str(p))

    label_names: tuple[str, ...] = ()
    lab = None
    if lcol is not None:
        raw_lab = df[lcol]
        present = raw_lab.notna().to_numpy() & (raw_lab.astype(str).str.strip() != "").to_numpy()
        text = raw_lab.astype(str).str.strip()
        label_names = tuple(sorted(set(text[present].tolist())))
        code_of = {n: i for i, n in enumerate(label_names)}
        lab = np.full(len(df), -1, dtype=np.int16)
        lab[present] = text[present].map(code_of).to_numpy(dtype=np.int16)

    local = ReadReport(dataset="csv", source=str(p), n_files=1, n_rows=len(df))
    local.notes.append(f"time unit: {unit_used}; acceleration units: {acc_units}")
    pieces, stats = to_uniform_pieces(
        t_s, xyz_g, lab, fs_out=fs_out, max_gap_s=max_gap_s, min_samples=1, source=str(p)
    )
    local.add_pieces(stats)
    kept = [pc for pc in pieces if len(pc) >= min_samples]
    short = [pc for pc in pieces if len(pc) < min_samples]
    local.drop("too_short_pieces", len(short))
    local.drop("too_short_piece_samples", sum(len(pc) for pc in short))
    if not kept:
        longest = max((len(pc) for pc in pieces), default=0)
        raise ValueError(
            f"{p}: too short: the longest gap-free piece has {longest} samples at {fs_out:g} Hz "
            f"after resampling, at least {min_samples} are needed "
            f"({stats['n_gaps_split']} gaps > {max_gap_s} s were split)"
        )
    uid = user if user is not None else f"csv:{p.name.split('.')[0]}"
    recs = _pieces_to_recordings(kept, user=uid, prefix=uid, label_names=label_names, source=str(p))
    _finish(report, local, recs)
    return recs
