"""A whole recording in memory: file -> checked rows -> gap-free pieces at 100 Hz in g.

:func:`read_recording` is the in-memory back end of the stream, in the spirit of actipy's
``read_device`` returning ``(data, info)``: the same sources, column and time rules, units and
row checks as :func:`~relcon.data.stream.iter_windows` (one :class:`RecordingReader`), then every
gap-free stretch regularised and resampled whole by
:func:`relcon.data.signal.to_uniform_pieces` (``padtype="line"`` at the ends of each stretch,
which the chunked stream cannot use). :func:`relcon.data.datasets.read_accel_csv` reads through
it (``relcon prepare`` streams, through :func:`~relcon.data.stream.iter_windows`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.signal import TARGET_FS, UniformPiece, resample, to_uniform_pieces
from relcon.data.stream.batch import RecordingInfo
from relcon.data.stream.options import COLUMN_OPTIONS, WindowOptions, open_recording
from relcon.data.stream.reader import RecordingReader, positive
from relcon.data.stream.sources import Source

__all__ = ["read_recording", "read_source"]

#: Rows asked of the source per block (the whole file is held anyway).
_ROWS = 1 << 20


def _label_codes(raw: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text labels -> int16 codes of the sorted names (``-1``: empty or missing)."""
    col = pd.Series(raw, dtype=object)
    text = col.astype(str).str.strip().where(col.notna(), "")
    present = (text != "").to_numpy()
    names = tuple(sorted(set(text[present].tolist())))
    codes = np.full(len(text), -1, dtype=np.int16)
    codes[present] = pd.Categorical(text[present], categories=names).codes
    return codes, names


#: The :class:`~relcon.data.stream.WindowOptions` that reading a recording whole takes.
READ_OPTIONS = ("units", "time_unit", "fs", "max_gap_s")


def read_source(
    source: Source,
    *,
    recording: str | None = None,
    fs_out: float = TARGET_FS,
    nan_policy: str = "error",
    **options: Any,
) -> tuple[list[UniformPiece], RecordingInfo]:
    """:func:`read_recording` for an open :class:`~relcon.data.stream.sources.Source` (closed
    when done); ``options`` as there, column names aside (the source has its columns)."""
    opts = WindowOptions.of(options, "read_source", READ_OPTIONS)
    info = RecordingInfo(source=source.src, recording=recording or source.src)
    gap = positive(opts.max_gap_s, "max_gap_s")
    try:
        reader = RecordingReader(
            source, info, units=opts.units, fs=opts.fs, time_unit=opts.time_unit, rows=_ROWS,
            nan_policy=nan_policy, dtype=np.float32,
        )  # fmt: skip
        try:
            ts, xs, labs = [], [], []
            for t, x, lab in reader.blocks():
                ts.append(t)
                xs.append(x)
                labs.append(lab)
        finally:
            reader.close()
    finally:
        source.close()
    t = np.concatenate(ts) if len(ts) > 1 else ts[0]
    x = np.concatenate(xs) if len(xs) > 1 else xs[0]
    del ts, xs
    labels = None
    if labs and labs[0] is not None:
        labels, info.label_names = _label_codes(np.concatenate(labs))
    removed = info.nan_rows + info.duplicate_rows
    if info.time_unit == "uniform" and removed == 0:
        # rows at exactly start_s + i / fs: resampled whole, nothing to regularise
        y = resample(x, info.fs_native, fs_out, source=info.source).astype(np.float32, copy=False)
        pieces = [UniformPiece(t0_s=info.start_s, fs=fs_out, x=y)]
    else:
        pieces, stats = to_uniform_pieces(
            t, x, labels, fs_out=fs_out, fs_native=info.fs_native, max_gap_s=gap,
            source=info.source,
        )  # fmt: skip
        for p in pieces:
            p.t0_s = info.start_s + p.t0_s
        info.gaps = int(stats["n_gaps_split"])
        info.short_pieces = int(stats["n_pieces_dropped_short"])
        info.short_piece_samples = int(stats["n_samples_dropped_short"])
        d = np.diff(t)
        info.gap_s = float(d[d > gap].sum())
    info.pieces = len(pieces)
    info.data_s = sum(len(p) for p in pieces) / fs_out
    return pieces, info


def read_recording(
    path: str | os.PathLike[str],
    *,
    label_column: str | None = None,
    fs_out: float = TARGET_FS,
    nan_policy: str = "error",
    recording: str | None = None,
    file_format: str | None = None,
    **options: Any,
) -> tuple[list[UniformPiece], RecordingInfo]:
    """Read a recording file whole: ``(pieces, info)``.

    The formats and rules (columns, time stamps, sampling rate, units) are those of
    :mod:`relcon.data.stream`; the whole recording is then held in memory (about 12 bytes per
    sample while it is read, plus the output) and each gap-free stretch is regularised at the
    native rate and resampled to ``fs_out`` at once (:func:`relcon.data.signal.to_uniform_pieces`:
    interpolation on the grid ``t0 + k / fs`` of each stretch, polyphase filter with
    ``padtype="line"``). For recordings longer than memory use
    :func:`~relcon.data.stream.iter_windows`.

    Parameters
    ----------
    path : path-like
        ``*.csv``, ``*.csv.gz``, ``*.parquet``, ``*.npz`` or a device file (needs actipy).
    label_column : str, optional
        A CSV column of per-row text labels, carried to the pieces as int16 codes of the sorted
        names (``info.label_names``; empty cells are ``-1``).
    fs_out : float
        Output rate in Hz.
    nan_policy : str
        ``"error"`` (default: a row with a missing, NaN or infinite acceleration value is an
        error naming it) or ``"drop"`` (the row is removed and counted; the hole follows the gap
        rule).
    recording : str, optional
        Id recorded in ``info`` (default: the file stem).
    file_format : str, optional
        ``"csv"``, ``"parquet"``, ``"npz"`` or ``"device"`` whatever the file's suffix
        (default: from the suffix).
    **options
        ``units``, ``time_unit``, ``fs`` (the native rate; estimated when the file does not
        state it), ``max_gap_s`` (longer intervals between valid samples split the recording)
        and the column names ``time_column``, ``x_column``, ``y_column``, ``z_column``: see
        :class:`~relcon.data.stream.WindowOptions` (the same defaults).

    Returns
    -------
    pieces : list of UniformPiece
        Gap-free pieces at ``fs_out`` in g (float32), ``t0_s`` on the file's clock; single-sample
        stretches are dropped (``info.short_pieces``).
    info : RecordingInfo
        Units (given, stated or detected), time unit, native rate, start, rows read, repeated
        time stamps, missing values, gaps and the time they span.

    Raises
    ------
    FileNotFoundError, ImportError, ValueError
        As :func:`~relcon.data.stream.iter_windows`, with the file (and row) named.
    """
    opts = WindowOptions.of(options, "read_recording", (*READ_OPTIONS, *COLUMN_OPTIONS))
    source, recording = open_recording(
        path, opts, recording, label_column=label_column, file_format=file_format
    )
    reading = {k: v for k, v in options.items() if k not in COLUMN_OPTIONS}
    return read_source(source, recording=recording, fs_out=fs_out, nan_policy=nan_policy, **reading)
