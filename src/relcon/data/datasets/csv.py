"""A generic CSV / CSV.gz with a time column and x, y, z columns: :func:`read_accel_csv`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from relcon.data.datasets.base import _finish, _pieces_to_recordings
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import TARGET_FS
from relcon.data.stream import WindowOptions
from relcon.data.stream.recording import read_recording

__all__ = ["read_accel_csv"]

MIN_SAMPLES_100HZ = 256

#: The :class:`~relcon.data.stream.WindowOptions` that :func:`read_accel_csv` takes as keywords.
CSV_OPTIONS = ("x_column", "y_column", "z_column", "time_unit", "max_gap_s")


def read_accel_csv(
    path: str | os.PathLike[str],
    units: str | None = None,
    time_column: str | None = None,
    *,
    label_column: str | None = None,
    user: str | None = None,
    fs_out: float = TARGET_FS,
    min_samples: int = MIN_SAMPLES_100HZ,
    report: ReadReport | None = None,
    **options: Any,
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

    Units are ``units`` when given (checked against the data), else
    :func:`relcon.data.formats.detect_units`. Samples are regularized at their native rate,
    split at gaps longer than ``max_gap_s`` and resampled to ``fs_out``. Pieces shorter than
    ``min_samples`` output samples are dropped (counted in ``report``); if no piece is long
    enough the file is rejected.

    The file is read by :func:`relcon.data.stream.read_recording` (the rules of
    :mod:`relcon.data.stream`: delimiter detection, repeated time stamps dropped keeping the
    first, the sampling rate estimated from the first rows) with ``nan_policy="error"``: a row
    with a missing, NaN or non-numeric value is refused, naming the row.

    Parameters
    ----------
    path : path-like
        CSV file (``.gz`` allowed).
    units : str, optional
        ``"g"``, ``"m/s^2"`` or ``"mg"``; detected when None.
    time_column : str, optional
        Name of the time column.
    label_column : str, optional
        Column of per-sample string labels; codes follow the sorted unique names and empty
        cells are unlabelled (``-1``).
    user : str, optional
        User id for the recordings; ``"csv:<file stem>"`` when None.
    fs_out : float
        Output rate in Hz.
    min_samples : int
        Minimum output samples per piece (256 = one 2.56 s model segment at 100 Hz).
    report : ReadReport, optional
        Filled with counts.
    **options
        ``x_column``, ``y_column``, ``z_column`` (names of the acceleration columns),
        ``time_unit`` (``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"``) and
        ``max_gap_s`` (gap threshold in seconds, default 0.5), as in
        :class:`relcon.data.stream.WindowOptions`.

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
    opts = WindowOptions.of(options, "read_accel_csv", CSV_OPTIONS)
    pieces, info = read_recording(
        p, file_format="csv", units=units, time_column=time_column, label_column=label_column,
        fs_out=fs_out, nan_policy="error", **options,
    )  # fmt: skip
    local = ReadReport(dataset="csv", source=str(p), n_files=1, n_rows=info.rows)
    local.notes.append(f"time unit: {info.time_unit}; acceleration units: {info.units}")
    local.add_pieces(
        {
            "n_gaps_split": info.gaps,
            "n_duplicates_dropped": info.duplicate_rows,
            "n_pieces_dropped_short": info.short_pieces,
            "n_samples_dropped_short": info.short_piece_samples,
        }
    )
    kept = [pc for pc in pieces if len(pc) >= min_samples]
    short = [pc for pc in pieces if len(pc) < min_samples]
    local.drop("too_short_pieces", len(short))
    local.drop("too_short_piece_samples", sum(len(pc) for pc in short))
    if not kept:
        longest = max((len(pc) for pc in pieces), default=0)
        raise ValueError(
            f"{p}: too short: the longest gap-free piece has {longest} samples at {fs_out:g} Hz "
            f"after resampling, at least {min_samples} are needed "
            f"({info.gaps} gaps > {opts.max_gap_s} s were split)"
        )
    uid = user if user is not None else f"csv:{p.name.split('.')[0]}"
    recs = _pieces_to_recordings(
        kept, user=uid, prefix=uid, label_names=info.label_names, source=str(p)
    )
    _finish(report, local, recs)
    return recs
