"""Embeddings of raw recordings, one row per 2.56 s window, streamed with bounded memory.

A wrist recording is often a week at 100 Hz (about 60 million samples).
:func:`relcon.data.stream.iter_windows` reads such a file a chunk at a time and yields the
model's 256-sample windows in g at 100 Hz;
:func:`embed_recordings` embeds them in batches and appends the rows to a Parquet (or CSV) file,
so memory stays bounded whatever the recording length; reading runs in a background thread,
overlapped with the model. :func:`embed_array` and :func:`embed_dataframe` do the same for data
already in memory and return a DataFrame. Which inputs are read and the rules of reading,
resampling and windowing (gaps, units, missing values, non-wear, memory) are those of
:mod:`relcon.data.stream`; the rules of the output (never over an input, ``overwrite``,
``skip_bad``, atomic writes, metadata) those of :mod:`relcon.apps.batch`. ``relcon embed`` is
:func:`embed_command` with an :class:`EmbedConfig`.

Output
------
One row per kept window: ``recording`` (file stem, or the path where two inputs share a stem),
``window_index`` (``k``, int64), ``start_s`` (float64, ``T0 + k * stride_s`` on the file's clock:
Unix seconds for datetimes; exact multiples of the stride, without float noise), ``start_time``
(UTC timestamp when the clock is absolute -- datetimes, or numeric times that fall between 2000
and 2100 as Unix time; null otherwise; the DataFrame functions add the column only when it
applies) and the embedding as separate float32 columns ``e000`` ... ``e{D-1}`` (``D`` = the
encoder's embedding size: 256 for the default shipped model, 128 for ``relcon-wrist-small``):
``df.filter(regex=r"^e\\d+$").to_numpy()`` gives the ``(N, D)`` matrix, the columns survive CSV,
and any column can be used alone in pandas. With ``pooling="stages"`` (``relcon embed --pooling
stages``) the columns are every stage's time-average side by side, in the order of
:meth:`~relcon.models.ResNet1DEncoder.embed` (the first stage first; ``D`` = the sum of the
stages' filters: 448 for the default shipped model, 224 for ``relcon-wrist-small``; the last
``embed_dim`` columns are the default embedding, ``pooling="last"``). A Parquet file's metadata
records the model (name or path, SHA-256 of its weights, the pooling and the number of embedding
columns), the units used for each recording and the relcon version
(:func:`relcon.apps.batch.read_metadata`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relcon.apps.batch import (
    BadRecording,
    InferenceOptions,
    WindowFunction,
    WindowRunConfig,
    claimed_output,
    frame_windows,
    model_record,
    run_command,
    run_recordings,
)
from relcon.data.stream import ArraySource, FrameSource, WindowSummary
from relcon.data.stream.options import COLUMN_OPTIONS
from relcon.models.encoder import POOLINGS, resolve_precision

if TYPE_CHECKING:
    import torch

    from relcon.models.encoder import ResNet1DEncoder

__all__ = [
    "EmbedConfig",
    "InferenceOptions",
    "embed_array",
    "embed_command",
    "embed_dataframe",
    "embed_recordings",
    "load_encoder",
]


@dataclass
class EmbedConfig(WindowRunConfig):
    """``relcon embed``: embed every 2.56 s window of raw recordings into one table.

    ``recordings`` are the command's positional arguments; ``out`` is required.
    """

    #: encoder run/checkpoint or shipped model name (default: the shipped RelCon model)
    model: str | None = None
    #: what the embedding pools: last (the paper's, the last stage's time-average; 256 columns
    #: for the default model) | stages (every stage's, side by side: 448 columns, the last 256
    #: those of last; ResNet1DEncoder.embed)
    pooling: str = field(default="last", metadata={"choices": POOLINGS})


# ----------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------


def load_encoder(
    model: ResNet1DEncoder | str | os.PathLike[str] | None = None, device: str = "auto"
) -> ResNet1DEncoder:
    """The encoder to embed with, in eval mode on ``device``: ``relcon.load(model,
    kind="encoder")``.

    Parameters
    ----------
    model : ResNet1DEncoder, path-like, name or None
        An encoder (moved to ``device``), anything :func:`relcon.load` reads (a run folder,
        checkpoint, ``model.safetensors``, a shipped model's name), or None / ``"default"`` for
        the pretrained model shipped with the package.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...

    Raises
    ------
    ValueError
        If the file holds another kind of model.
    FileNotFoundError
        If there is no model there (or the shipped model is missing from the installation).
    """
    from relcon.models.hub import load
    from relcon.train.common import pick_device

    return load(model, kind="encoder", device=pick_device(device))


def _model_device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


#: The options of :func:`embed_recordings` (and, less :data:`EMBED_ONLY`, of
#: :func:`relcon.apps.predict.predict_recordings`).
RECORDING_OPTIONS = (
    "units", "stride_s", "max_gap_s", "chunk_s", "drop_nonwear", "rules",
    "batch_size", "device", "precision", "pooling",
)  # fmt: skip
#: The options of the ``embed_*`` functions that the ``predict_*`` ones refuse: a fine-tuned
#: model's head was trained on one embedding (``pooling="last"``).
EMBED_ONLY = ("pooling",)
#: The options of :func:`embed_array`: an array has no columns and no time unit to choose.
ARRAY_OPTIONS = tuple(n for n in RECORDING_OPTIONS if n != "chunk_s")
#: The options of :func:`embed_dataframe`.
FRAME_OPTIONS = (*ARRAY_OPTIONS, *COLUMN_OPTIONS, "time_unit", "fs")


def _window_function(model: Any, options: InferenceOptions) -> WindowFunction:
    """``model`` as a :class:`WindowFunction` (an encoder's: columns ``e000`` ...
    ``e{D-1}``, ``D = enc.pooled_dim(options.pooling)``, in the order of ``enc.embed``; its
    record names the pooling and ``D``). ``options`` have been checked."""
    from relcon.config import spell

    pooling = options.pooling
    if isinstance(model, WindowFunction):
        if pooling != "last":
            raise ValueError(
                f"{spell('pooling', pooling)} pools an encoder's embedding; a WindowFunction "
                "model computes its own columns: leave pooling at 'last'"
            )
        return model
    enc = load_encoder(model, options.device)
    dim = enc.pooled_dim(pooling)
    names = [f"e{i:03d}" for i in range(dim)]
    dev = _model_device(enc)
    batch_size, precision = options.batch_size, options.precision

    def compute(x: np.ndarray) -> dict[str, Any]:
        z = enc.embed(x, batch_size=batch_size, device=dev, precision=precision, pooling=pooling)
        return dict(zip(names, z.T, strict=True))

    record = model_record(model, enc)
    record["precision"] = resolve_precision(precision, dev)
    record["pooling"] = pooling
    record["embedding_dim"] = dim
    return WindowFunction(compute, "embed", record)


# ----------------------------------------------------------------------------------------------
# public embedding API
# ----------------------------------------------------------------------------------------------


def embed_recordings(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    model: ResNet1DEncoder | str | os.PathLike[str] | WindowFunction | None = None,
    out: str | os.PathLike[str] = "embeddings.parquet",
    *,
    progress: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
    summaries: list[WindowSummary] | None = None,
    failed: list[BadRecording] | None = None,
    **options: Any,
) -> Path:
    """Embed every 2.56 s window of recording files into one Parquet or CSV table.

    Windows are streamed (:func:`~relcon.data.stream.iter_windows`, read in a background thread),
    embedded ``batch_size`` at a time and appended to ``out`` under a temporary name that is
    renamed when everything succeeded, so memory is bounded whatever the recordings' length and
    ``out`` never holds a partial result.

    Parameters
    ----------
    paths : path-like or sequence of path-likes
        Recording files, or folders searched recursively for them (hidden entries skipped);
        processed in sorted order of their resolved paths.
    model : ResNet1DEncoder, path-like, WindowFunction or None
        See :func:`load_encoder` (None: the shipped pretrained model); a
        :class:`~relcon.apps.batch.WindowFunction` computes its own columns instead.
    out : path-like
        ``*.parquet`` (or ``*.pq``), or ``*.csv`` / ``*.csv.gz``.
    progress : bool
        Show a progress bar (bytes of the input files read, with an estimate of the time left).
    overwrite : bool
        Replace an existing ``out`` (an input file is never replaced).
    skip_bad : bool
        Leave out files that cannot be read (:class:`~relcon.apps.batch.BadRecording` s in
        ``failed`` and in the report :func:`~relcon.apps.batch.report_path`) instead of stopping.
    summaries : list, optional
        Receives one :class:`~relcon.data.stream.WindowSummary` per recording written.
    failed : list, optional
        Receives the files left out by ``skip_bad``.
    **options
        ``batch_size`` (256), ``device`` ("auto"), ``precision`` ("fp32"), ``pooling``
        ("last"; "stages": every stage's time-average, ``sum(stage_filters)`` columns),
        ``stride_s`` (2.56), ``units`` (None: detected), ``max_gap_s`` (0.5), ``chunk_s``
        (3600), ``drop_nonwear`` (True), ``rules`` (None): see
        :class:`~relcon.apps.batch.InferenceOptions` (the same for every recording). A row
        with a missing value is removed and counted; the hole follows the gap rule.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        From reading a recording (the message names the file and the files not processed), or
        when no recordings were found; a :class:`ValueError` for a bad setting (an unknown
        ``pooling``, or a ``pooling`` other than "last" with a ``WindowFunction`` model).
    FileExistsError
        When ``out`` exists and ``overwrite`` is False.
    relcon.io.OutputInUse
        When another run is writing ``out`` (checked first, before the model is loaded).
    """
    opts = InferenceOptions.of(options, "embed_recordings", RECORDING_OPTIONS)
    opts.check()
    with claimed_output(paths, out, overwrite, skip_bad):  # before the model is loaded
        fn = _window_function(model, opts)
        meta = {"command": fn.command, "model": fn.record, "settings": opts.settings()}
        return run_recordings(
            paths, out, fn.compute, batch_size=opts.batch_size, window=opts,
            desc=fn.command, progress=progress, overwrite=overwrite, skip_bad=skip_bad,
            summaries=summaries, failed=failed, metadata=meta,
        )  # fmt: skip


def embed_command(cfg: EmbedConfig) -> int:
    """``relcon embed``: embeds ``cfg.recordings`` into ``cfg.out`` (:func:`embed_recordings`,
    pooled as ``cfg.pooling``) and prints the per-recording summaries
    (:func:`relcon.apps.batch.run_command`)."""
    return run_command(cfg, "embed", "embeddings", embed_recordings, pooling=cfg.pooling)


def embed_array(
    x: np.ndarray,
    fs: float,
    *,
    start_s: float = 0.0,
    model: ResNet1DEncoder | str | os.PathLike[str] | WindowFunction | None = None,
    summary: WindowSummary | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Embed a uniformly sampled recording held in memory.

    Parameters
    ----------
    x : numpy.ndarray
        ``(T, 3)`` acceleration sampled at ``fs``; sample ``i`` is at ``start_s + i / fs``.
        Rows with a NaN are removed and the holes follow the gap rule of :func:`iter_windows`.
    fs : float
        Sampling rate in Hz (resampled to 100 Hz when different).
    start_s : float
        Time of the first sample, seconds (Unix time gives a ``start_time`` column).
    model : ResNet1DEncoder, path-like, WindowFunction or None
        See :func:`embed_recordings`.
    summary : WindowSummary, optional
        Filled with the counts.
    **options
        ``units`` (None: detected, as every other embed function does:
        :func:`relcon.data.formats.detect_units`), ``stride_s``, ``max_gap_s``,
        ``drop_nonwear``, ``rules``, ``batch_size``, ``device``, ``precision``, ``pooling``: see
        :class:`~relcon.apps.batch.InferenceOptions` (the same defaults as
        :func:`embed_recordings`).

    Returns
    -------
    pandas.DataFrame
        ``N`` rows (kept windows): ``window_index`` (int64), ``start_s`` (float64), ``start_time``
        (only with absolute time) and ``e000`` ... ``e{D-1}`` (float32; ``D`` as in
        :func:`embed_recordings`: the encoder's ``pooled_dim(pooling)``).
    """
    opts = InferenceOptions.of(options, "embed_array", ARRAY_OPTIONS)
    opts.check()  # before the model is loaded
    fn = _window_function(model, opts)
    return frame_windows(ArraySource(x, fs, start_s), fn.compute, opts.batch_size, opts, summary)


def embed_dataframe(
    df: pd.DataFrame,
    *,
    model: ResNet1DEncoder | str | os.PathLike[str] | WindowFunction | None = None,
    summary: WindowSummary | None = None,
    **options: Any,
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
    model, summary
        As in :func:`embed_array`.
    **options
        Those of :func:`embed_array` and ``time_column``, ``x_column``, ``y_column``,
        ``z_column`` (column names), ``time_unit`` (``"auto"``, ``"s"``, ``"ms"``, ``"us"``,
        ``"ns"`` or ``"datetime"``) and ``fs`` (the native sampling rate; estimated when None):
        see :class:`~relcon.apps.batch.InferenceOptions`.

    Returns
    -------
    pandas.DataFrame
        As :func:`embed_array`: ``window_index``, ``start_s``, ``start_time`` (with absolute time)
        and ``e000`` ... ``e{D-1}``.
    """
    opts = InferenceOptions.of(options, "embed_dataframe", FRAME_OPTIONS)
    opts.check()  # before the model is loaded
    fn = _window_function(model, opts)
    source = FrameSource(df, opts.time_column, opts.xyz)
    return frame_windows(source, fn.compute, opts.batch_size, opts, summary)
