"""Embeddings of raw recordings, one row per 2.56 s window, streamed with bounded memory.

A wrist recording is often a week at 100 Hz (about 60 million samples).
:func:`relcon.data.stream.iter_windows` reads such a file a chunk at a time and yields the
model's 256-sample windows in g at 100 Hz;
:func:`embed_recordings` embeds them in batches and appends the rows to a Parquet (or CSV) file,
so memory stays bounded whatever the recording length. :func:`embed_array` and
:func:`embed_dataframe` do the same for data already in memory and return a DataFrame.
Which inputs are read and the rules of reading, resampling and windowing (gaps, units,
non-wear, memory) are those of :mod:`relcon.data.stream`.

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
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relcon.data.corpus import QualityRules
from relcon.data.corpus.inputs import _collect_inputs
from relcon.data.stream import WindowBatch, WindowIterator, WindowSummary, iter_windows
from relcon.data.stream.sources import _CHANNELS, _ArraySource, _FrameSource, _Source
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import atomic_path

if TYPE_CHECKING:
    import torch

    from relcon.models.encoder import ResNet1DEncoder

__all__ = [
    "embed_array",
    "embed_dataframe",
    "embed_recordings",
    "load_encoder",
]


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
    from relcon.train.common import pick_device

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
