"""A model over every window of many recording files, into one table: what ``relcon embed`` and
``relcon predict`` share.

:func:`run_recordings` streams each file's windows (:func:`relcon.data.stream.iter_windows`, read
in a background thread by :func:`relcon.data.stream.prefetch` so that reading overlaps the model),
applies a ``compute`` function to batches of windows and appends the rows to one Parquet or CSV
file. The rules of the output:

* The output is claimed before any work (:func:`claimed_output`, :func:`relcon.io.claim_output`):
  a second run writing the same ``out`` at the same time is refused at once, naming the output
  and the process that holds it, and an output that cannot be written there (a read-only
  folder) fails before any model is loaded or file read.
* An existing output is refused unless ``overwrite``; an output that is one of the input files
  (same resolved path, or the same file through another link) is refused even then.
* The table is written under a temporary name beside ``out`` and renamed into place when
  complete (:func:`relcon.io.atomic_path`): a run that fails or is killed leaves an older ``out``
  as it was.
* A file that cannot be read stops the run with an error naming it and the files not processed,
  and nothing is written; with ``skip_bad`` it is left out instead, listed with its reason in the
  summaries and in a sidecar JSON report beside ``out`` (:func:`report_path`), and the good files
  are written. Only such errors of reading one recording are skipped (and suggest
  ``--skip-bad``); an error of the model (:class:`relcon.models.encoder.ModelOutputError`:
  non-finite outputs), of writing the output or of the settings stops the run as it is.
* Parquet files carry a ``relcon`` key in their metadata (:data:`METADATA_KEY`), both in the
  file's key-value metadata and in the Arrow schema's (``pyarrow.parquet.read_schema(p).metadata``,
  ``pq.read_table(p).schema.metadata``): the package version, the command, the model (name or
  path, class, SHA-256 of its weights) and one record per recording (units and whether they were
  detected, time unit, native rate, counts).
* The window's index on the recording's grid is the column ``window_index`` (:data:`WINDOW_COLUMN`;
  called ``window``, an SQL reserved word, in tables written by earlier releases, which relcon
  still reads: see :mod:`relcon.apps.plots.inputs`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from relcon.apps.table import (
    _NO_TIME,
    METADATA_KEY,
    TableWriter,
    check_output,
    claimed_output,
    read_metadata,
    report_path,
)
from relcon.data.corpus.inputs import Input
from relcon.data.formats import CHANNELS, UNITS
from relcon.data.stream import (
    Source,
    WindowBatch,
    WindowIterator,
    WindowOptions,
    WindowSummary,
    describe_duration,
    iter_windows,
    prefetch,
)
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import atomic_write_json
from relcon.progress import BytesBar

if TYPE_CHECKING:
    import torch

__all__ = [
    "METADATA_KEY",
    "WINDOW_COLUMN",
    "BadRecording",
    "InferenceOptions",
    "TableWriter",
    "WindowFunction",
    "WindowRunConfig",
    "check_output",
    "claimed_output",
    "frame_windows",
    "model_record",
    "read_metadata",
    "report_path",
    "run_command",
    "run_recordings",
    "summary_text",
    "weights_sha256",
]

#: Column of the window's index ``k`` on its recording's grid (``window`` in older tables).
WINDOW_COLUMN = "window_index"

Compute = Callable[[np.ndarray], dict[str, Any]]


@dataclass
class WindowFunction:
    """What a run over recordings computes for every window.

    ``compute`` maps a ``(n, 256, 3)`` float32 batch of windows in g at 100 Hz to output columns
    (name -> length-``n`` array); ``command`` and ``record`` (what to say about the model) go
    into the output's metadata. :func:`relcon.apps.embed.embed_recordings` builds one from an
    encoder and :func:`relcon.apps.predict.predictor` from a fine-tuned model; pass your own as
    ``model`` to the ``embed_*`` functions to stream any per-window computation through the
    same reader.
    """

    compute: Compute
    command: str = "embed"
    record: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------


def weights_sha256(module: torch.nn.Module) -> str:
    """SHA-256 of a model's weights as loaded: every state-dict entry in name order (name, dtype,
    shape and bytes), so the same weights give the same hash whatever file they came from."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        arr = t.detach().cpu().contiguous().numpy()
        h.update(f"{name}|{arr.dtype}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def model_record(given: Any, module: torch.nn.Module) -> dict[str, Any]:
    """What the metadata says about a model: the name or path it was loaded from, its class and
    the hash of its weights."""
    from relcon.models.hub import is_shipped

    if is_shipped(given):
        source = f"shipped model {given or 'default'!r} (relcon.load({given!r}))"
    elif isinstance(given, (str, os.PathLike)):
        p = Path(given).expanduser()
        source = str(p.resolve()) if p.exists() else str(given)
    else:
        source = f"{type(given).__name__} object given in Python"
    return {
        "source": source,
        "class": type(module).__name__,
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "weights_sha256": weights_sha256(module),
    }


def _meta_columns(b: WindowBatch) -> dict[str, Any]:
    return {
        "recording": np.full(len(b), b.recording, dtype=object),
        WINDOW_COLUMN: b.window,
        "start_s": b.start_s,
        "start_time": b.start_ns if b.start_ns is not None else np.full(len(b), _NO_TIME),
    }


def _empty_batch() -> WindowBatch:
    return WindowBatch(
        np.zeros((0, SEGMENT_LENGTH, CHANNELS), np.float32),
        np.zeros(0, np.int64),
        np.zeros(0, np.float64),
        None,
        "",
    )


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
    """Regroup batches into ones of ``size`` windows (the last may be smaller)."""
    held: list[WindowBatch] = []
    n = 0
    for b in it:
        held.append(b)
        n += len(b)
        while n >= size:
            merged = _concat(held)
            yield _take(merged, 0, size)
            rest = _take(merged, size, n)
            held, n = ([rest] if len(rest) else []), n - size
    if held:
        yield _concat(held)


def _take(b: WindowBatch, a: int, z: int) -> WindowBatch:
    if a == 0 and z == len(b):
        return b
    ns = None if b.start_ns is None else b.start_ns[a:z]
    return WindowBatch(b.x[a:z], b.window[a:z], b.start_s[a:z], ns, b.recording)


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------


@dataclass
class BadRecording:
    """A file left out by ``skip_bad``: its path and why."""

    path: str
    error: str
    kind: str = "ValueError"


@dataclass
class _Run:
    inputs: list[Input]
    ids: list[str]
    summaries: list[WindowSummary] = field(default_factory=list)
    failed: list[BadRecording] = field(default_factory=list)


def _recording_ids(inputs: Sequence[Input]) -> list[str]:
    stems = [inp.recording for inp in inputs]
    return [str(inp.path) if stems.count(inp.recording) > 1 else inp.recording for inp in inputs]


def _not_processed(run: _Run, i: int) -> str:
    rest = [str(inp.path) for inp in run.inputs[i + 1 :]]
    if not rest:
        return ""
    shown = ", ".join(rest[:5]) + (f" and {len(rest) - 5} more" if len(rest) > 5 else "")
    return f"; not processed: {shown}"


class _Progress(BytesBar):
    """A bar over the bytes of all input files (a ``.cwa`` file twice: its calibration pass,
    then its reading; :attr:`Input.bytes_to_read`), with the current file and windows done."""

    def __init__(self, inputs: Sequence[Input], desc: str, enabled: bool) -> None:
        super().__init__((inp.bytes_to_read for inp in inputs), desc=desc, enabled=enabled)
        self.windows = 0
        self.n = len(inputs)

    def update(self, it: WindowIterator | None, i: int, rid: str, windows: int = 0) -> None:
        self.windows += windows
        self.at(it.progress()[0] if it is not None else 0)
        self.bar.set_postfix_str(f"{i + 1}/{self.n} {rid}, {self.windows:,} windows", refresh=False)

    def calibrating(self, i: int, rid: str) -> Callable[[int], None]:
        """The ``on_bytes`` of file ``i``'s calibration pass: the bar moves over it and says so."""

        def on_bytes(pos: int) -> None:
            note = f"{i + 1}/{self.n} {rid}: calibrating, {self.windows:,} windows"
            self.bar.set_postfix_str(note, refresh=False)
            self.at(pos)

        return on_bytes


@dataclass
class _Stage:
    """What the run over one file is doing: ``read`` (its input), ``model`` or ``output``; an
    error is the recording's (skipped by ``skip_bad``, with the hint) only while reading."""

    now: str = "read"


def _one_file(
    inp: Input, rid: str, compute: Compute, batch_size: int, window: WindowOptions,
    write: Callable[[dict[str, Any]], None], bar: _Progress, i: int, depth: int, stage: _Stage,
) -> WindowSummary:  # fmt: skip
    stage.now = "read"
    on_bytes = bar.calibrating(i, rid)
    with iter_windows(inp.path, recording=rid, on_bytes=on_bytes, **window.kwargs()) as it:
        bar.update(it, i, rid)
        batches = prefetch(it, depth) if depth > 0 else iter(it)
        with contextlib.closing(batches):  # type: ignore[type-var]
            for b in _batched(batches, batch_size):
                cols = _meta_columns(b)
                stage.now = "model"
                cols.update(compute(b.x))
                stage.now = "output"
                write(cols)
                stage.now = "read"
                bar.update(it, i, rid, len(b))
    return it.summary


def run_recordings(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    compute: Compute,
    *,
    batch_size: int,
    window: WindowOptions,
    desc: str = "windows",
    progress: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
    summaries: list[WindowSummary] | None = None,
    failed: list[BadRecording] | None = None,
    metadata: dict[str, Any] | None = None,
    prefetch_depth: int = 2,
) -> Path:
    """Stream every recording's windows through ``compute`` into one table at ``out``.

    See the module docstring for the output rules. ``compute`` maps ``(n, 256, 3)`` windows to
    a dict of ``n``-row columns; ``window`` holds the settings of
    :func:`relcon.data.stream.iter_windows` (checked first: :meth:`WindowOptions.check`).
    ``summaries`` receives one :class:`~relcon.data.stream.WindowSummary` per recording written,
    ``failed`` one :class:`BadRecording` per file left out (``skip_bad``); ``metadata`` is
    stored in the Parquet file with the recordings' records added. ``prefetch_depth`` batches
    are read ahead in a background thread (0: no thread).
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    window.check()
    with claimed_output(paths, out, overwrite, skip_bad) as (out_p, inputs):
        return _run_claimed(
            inputs, out_p, compute, batch_size=batch_size, window=window, desc=desc,
            progress=progress, skip_bad=skip_bad, summaries=summaries, failed=failed,
            metadata=metadata, prefetch_depth=prefetch_depth,
        )  # fmt: skip


def _run_claimed(
    inputs: list[Input], out_p: Path, compute: Compute, *, batch_size: int,
    window: WindowOptions, desc: str, progress: bool, skip_bad: bool,
    summaries: list[WindowSummary] | None, failed: list[BadRecording] | None,
    metadata: dict[str, Any] | None, prefetch_depth: int,
) -> Path:  # fmt: skip
    report = report_path(out_p) if skip_bad else None
    run = _Run(inputs, _recording_ids(inputs))
    writer = TableWriter(out_p)
    bar = _Progress(inputs, desc, progress)
    ok = False
    try:
        for i, (inp, rid) in enumerate(zip(run.inputs, run.ids, strict=True)):
            _process(run, i, inp, rid, compute, int(batch_size), window, writer, bar,
                     skip_bad, prefetch_depth)  # fmt: skip
        if not run.summaries:
            reasons = "; ".join(f"{f.path}: {f.error}" for f in run.failed)
            raise ValueError(f"no recording could be read, nothing written ({reasons})")
        if writer.rows == 0:  # every window dropped: an empty table with the usual columns
            cols = _meta_columns(_empty_batch())
            cols.update(compute(_empty_batch().x))
            writer.write(cols, empty_ok=True)
        writer.metadata = _run_metadata(metadata, run)
        ok = True
    finally:
        bar.close()
        writer.close(ok)
    if summaries is not None:
        summaries.extend(run.summaries)
    if failed is not None:
        failed.extend(run.failed)
    if report is not None:
        atomic_write_json(report, {**writer.metadata, "out": str(out_p),
                                   "failed": [f.__dict__ for f in run.failed]})  # fmt: skip
    return out_p


def _process(
    run: _Run, i: int, inp: Input, rid: str, compute: Compute, batch_size: int,
    window: WindowOptions, writer: TableWriter, bar: _Progress, skip_bad: bool, depth: int,
) -> None:  # fmt: skip
    """One file: its rows into ``writer`` (via a part file with ``skip_bad``, so that a file
    failing half-way leaves no rows behind)."""
    part: TableWriter | None = None
    if skip_bad:
        part = TableWriter(
            writer.out.with_name(f".{writer.out.name}.part{i}{_part_suffix(writer)}")
        )
    from relcon.models.encoder import ModelOutputError

    sink = part.write if part is not None else writer.write
    stage = _Stage()
    try:
        summary = _one_file(inp, rid, compute, batch_size, window, sink, bar, i, depth, stage)
    except ModelOutputError:  # the model is broken, not the file: no other file fares better
        if part is not None:
            part.close(False)
        raise
    except (ValueError, OSError, ImportError, EOFError) as exc:
        if part is not None:
            part.close(False)
        if stage.now != "read":  # the model's or the output's error: not skipped, no hint
            raise
        if not skip_bad:
            done = f"; {i} file(s) before it were read, " if i else "; "
            msg = (
                f"{exc}{_not_processed(run, i)}{done}nothing was written to {writer.out} "
                "(pass --skip-bad to write the files that can be read)"
            )
            try:
                wrapped = type(exc)(msg)
            except TypeError:  # an exception type that takes other arguments
                wrapped = ValueError(msg)
            raise wrapped from exc
        run.failed.append(BadRecording(str(inp.path), str(exc), type(exc).__name__))
        bar.file_done(inp.bytes_to_read)
        return
    except BaseException:
        if part is not None:
            part.close(False)
        raise
    if part is not None:
        _append_part(part, writer)
    run.summaries.append(summary)
    bar.file_done(inp.bytes_to_read)


def _part_suffix(writer: TableWriter) -> str:
    return ".parquet" if writer.fmt == "parquet" else ".csv"


def _append_part(part: TableWriter, writer: TableWriter) -> None:
    """Move a finished file's rows from its part file into the main table."""
    part.close(True)
    try:
        if part.rows == 0:
            return
        if writer.fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(part.out)
            for g in range(pf.num_row_groups):
                table = pf.read_row_group(g)
                writer._held.append(table)
                writer._n_held += table.num_rows
                writer.rows += table.num_rows
                writer._flush()
        else:
            for df in pd.read_csv(part.out, chunksize=8192):
                if "start_time" in df:
                    df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
                writer._held.append(df)
                writer._n_held += len(df)
                writer.rows += len(df)
                writer._flush()
    finally:
        part.out.unlink(missing_ok=True)


def _run_metadata(extra: dict[str, Any] | None, run: _Run) -> dict[str, Any]:
    import relcon

    recs = [s.to_dict() for s in run.summaries]
    return {
        "relcon_version": relcon.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
        "recordings": recs,
        "failed": [f.__dict__ for f in run.failed],
    }


def summary_text(
    summaries: Sequence[WindowSummary], failed: Sequence[BadRecording], out: Path, what: str
) -> str:
    """The printed summary of a run: one line per recording, the files left out, the total."""
    lines = [str(s) for s in summaries]
    lines += [f"skipped {f.path}: {f.error}" for f in failed]
    kept = sum(s.windows_kept for s in summaries)
    data = sum(s.data_s for s in summaries)
    n = len(summaries)
    text = f"{what} written to {out}: {kept:,} windows from {n} recording{'s' * (n != 1)} "
    text += f"({describe_duration(data)} of data)"
    if failed:
        text += f"; {len(failed)} file{'s' * (len(failed) != 1)} skipped, listed in "
        text += str(report_path(out))
    return "\n".join([*lines, text])


# ----------------------------------------------------------------------------------------------
# data in memory
# ----------------------------------------------------------------------------------------------


def frame_windows(
    source: Source, compute: Compute, batch_size: int, window: WindowOptions,
    summary: WindowSummary | None,
) -> pd.DataFrame:  # fmt: skip
    """``compute`` over the windows of an in-memory source, as a DataFrame (``window_index``,
    ``start_s``, ``start_time`` when the clock is absolute, then ``compute``'s columns)."""
    it = WindowIterator(source, recording=source.src, options=window)
    parts: list[pd.DataFrame] = []
    with it:
        for b in _batched(it, int(batch_size)):
            parts.append(_frame_part(b, compute))
    if summary is not None:
        summary.__dict__.update(it.summary.__dict__)
    if not parts:
        empty = _frame_part(_empty_batch(), compute)
        return empty if it.summary.absolute_time else empty.drop(columns="start_time")
    return pd.concat(parts, ignore_index=True)


def _frame_part(b: WindowBatch, compute: Compute) -> pd.DataFrame:
    cols: dict[str, Any] = {WINDOW_COLUMN: b.window, "start_s": b.start_s}
    if b.start_ns is not None or len(b) == 0:
        ns = b.start_ns if b.start_ns is not None else np.zeros(0, np.int64)
        cols["start_time"] = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
    cols.update(compute(b.x))
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class InferenceOptions(WindowOptions):
    """The keyword options of the ``embed_*`` and ``predict_*`` functions: how recordings are read
    and windowed (:class:`~relcon.data.stream.WindowOptions`) and how the model runs.

    Attributes
    ----------
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` ...; the model and the data go
        there.
    precision : str
        ``"fp32"`` (default), ``"bf16"`` or ``"auto"`` (bf16 on a CPU with native bf16): see
        :meth:`~relcon.models.ResNet1DEncoder.embed` (about 2x faster there; outputs move by
        about 0.5 % median, up to 5 %).
    pooling : str
        What an encoder's embedding pools (the ``embed_*`` functions only: a fine-tuned model's
        head was trained on one embedding, so the ``predict_*`` functions refuse it):
        ``"last"`` (default, the paper's: the last stage's time-average) or ``"stages"``
        (every stage's, side by side): see :meth:`~relcon.models.ResNet1DEncoder.embed`.
    """

    batch_size: int = 256
    device: str = "auto"
    precision: str = "fp32"
    pooling: str = "last"

    def check(self) -> None:
        """Refuse a bad setting before any file is read or model loaded (a :class:`ValueError`
        naming it as the user wrote it; ``pooling``:
        :func:`~relcon.models.encoder.check_pooling`)."""
        from relcon.config import spell
        from relcon.models.encoder import check_pooling

        super().check()
        check_pooling(self.pooling, spell("pooling", self.pooling))


@dataclass
class WindowRunConfig:
    """The settings ``relcon embed`` and ``relcon predict`` share (their configs extend it):
    which recordings, where the table goes, and how windows are read (see
    :func:`relcon.data.stream.iter_windows`)."""

    #: recording files or folders (csv[.gz], parquet, npz, cwa, gt3x, bin)
    recordings: list[str] = field(default_factory=list)
    out: str = ""  # output table: .parquet or .csv[.gz]
    device: str = "auto"  # auto (default), cpu, cuda, cuda:1, ...
    #: fp32 (default), bf16 (autocast), or auto: bf16 on a CPU with native bf16 (AVX512-BF16,
    #: AMX), about 2x faster there; outputs move by about 0.5 % (median), up to 5 %
    precision: str = field(default="fp32", metadata={"choices": ("fp32", "bf16", "auto")})
    #: windows per forward pass (256: as fast as 512 on CPUs, 0.2 GB less memory with the
    #: full-size model)
    batch_size: int = 256
    stride_s: float = 2.56  # seconds between windows (2.56: no overlap)
    #: acceleration units: g, m/s^2 or mg (default: detected)
    units: str | None = field(default=None, metadata={"choices": UNITS})
    max_gap_s: float = 0.5  # longer gaps split a recording
    keep_nonwear: bool = False  # do not drop non-wear windows
    no_progress: bool = False  # no progress bar
    overwrite: bool = False  # replace an existing --out (an input file is never overwritten)
    #: leave out files that cannot be read (listed in the summary and in OUT.report.json)
    #: instead of stopping
    skip_bad: bool = False
    chunk_s: float = 3600.0  # seconds of input read at a time (memory, not results)


def run_command(
    cfg: WindowRunConfig, command: str, what: str, run: Callable[..., Path], **extra: Any
) -> int:
    """What ``relcon embed`` and ``relcon predict`` do with their settings.

    Checks that ``cfg`` names recordings and an output, calls ``run(cfg.recordings, cfg.model,
    cfg.out, **options)`` (:func:`relcon.apps.embed.embed_recordings` or
    :func:`relcon.apps.predict.predict_recordings`, which take the same options: those of
    :class:`WindowRunConfig`) and prints one line per recording (kept windows, hours of data
    and of gaps, dropped windows by reason, rows removed), the files skipped and the total.
    ``extra`` are options of one command alone (``relcon embed``'s ``pooling``), passed to
    ``run`` as they are. Returns the exit status (0).
    """
    if not cfg.recordings:
        raise ValueError(f"relcon {command}: give at least one recording file or folder")
    if not cfg.out:
        raise ValueError(f"relcon {command}: --out is required (a .parquet or .csv file)")
    summaries: list[WindowSummary] = []
    failed: list[BadRecording] = []
    out = run(
        cfg.recordings, cfg.model, cfg.out,  # type: ignore[attr-defined]  (each command's model)
        batch_size=cfg.batch_size, device=cfg.device, precision=cfg.precision,
        stride_s=cfg.stride_s, units=cfg.units,
        max_gap_s=cfg.max_gap_s, chunk_s=cfg.chunk_s, drop_nonwear=not cfg.keep_nonwear,
        progress=not cfg.no_progress, overwrite=cfg.overwrite, skip_bad=cfg.skip_bad,
        summaries=summaries, failed=failed, **extra,
    )  # fmt: skip
    print(summary_text(summaries, failed, out, what))
    return 0
