"""The window iterator: a source through the streaming pipeline, as batches of 2.56 s windows."""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from relcon.data.corpus.quality import QualityRules
from relcon.data.signal import TARGET_FS
from relcon.data.stream.batch import WindowBatch, WindowSummary
from relcon.data.stream.options import WindowOptions, open_recording, stride_samples
from relcon.data.stream.reader import PROBE_ROWS, RecordingReader, positive
from relcon.data.stream.sources import Source
from relcon.data.stream.steps import _Regularizer, _Resampler, _Windower
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import Closing

__all__ = ["PROBE_ROWS", "WindowIterator", "iter_windows", "prefetch", "stride_samples"]

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
_NS_PER_SAMPLE = _NS // int(TARGET_FS)


def ns_to_seconds(ns: np.ndarray) -> np.ndarray:
    """Integer nanoseconds -> float64 seconds, the double nearest the exact decimal (whole
    seconds and the fraction are converted apart: no rounding of the 19-digit integer)."""
    whole, frac = np.divmod(np.asarray(ns, dtype=np.int64), _NS)
    return whole.astype(np.float64) + frac.astype(np.float64) / 1e9


class WindowIterator(Closing, Iterator[WindowBatch]):
    """Iterator over the :class:`WindowBatch` es of one recording; see :func:`iter_windows`.

    The input is opened and its first rows are read when the iterator is created, so that bad
    files, unknown units or an unknown sampling rate fail at once. :attr:`summary` is filled
    while iterating and complete when the iterator is exhausted. Use it as a context manager
    (or call :meth:`close`) to close the file early. :meth:`progress` says how far the input
    has been read (bytes of the file against its size).
    """

    def __init__(
        self,
        source: Source,
        *,
        recording: str,
        options: WindowOptions = WindowOptions(),  # noqa: B008 (frozen)
        nan_policy: str = "drop",
    ) -> None:
        self.source = source
        src = source.src
        self.summary = WindowSummary(source=src, recording=recording)
        self._stride = stride_samples(options.stride_s)
        self._max_gap_s = positive(options.max_gap_s, "max_gap_s")
        chunk = positive(options.chunk_s, "chunk_s")
        self._rules = options.rules or QualityRules()
        self._drop_nonwear = bool(options.drop_nonwear)
        fs_arg = None if options.fs is None else positive(options.fs, "fs")
        rate = fs_arg or source.fs or TARGET_FS
        self._queue: deque[WindowBatch] = deque()
        self._done = False
        self._reader = RecordingReader(
            source, self.summary, units=options.units, fs=fs_arg, time_unit=options.time_unit,
            rows=math.ceil(chunk * rate), nan_policy=nan_policy, dtype=np.float64,
        )  # fmt: skip
        self._or_close(self._setup)

    def _setup(self) -> None:
        s = self.summary
        r = self._reader
        self._t0_ns = r.t0_ns
        self._windower = _Windower(
            self._stride, self._rules, self._drop_nonwear, self._on_windows, s
        )
        self._resampler = _Resampler(s.fs_native, s.source, self._windower)
        self._regular = _Regularizer(s.fs_native, self._max_gap_s, self._resampler, s)
        if r.eof and r.last_t_probe is not None:
            dur = r.last_t_probe + 1.0 / s.fs_native
            if dur < SEGMENT_LENGTH / TARGET_FS:
                raise ValueError(self._too_short_message(dur))
        self._blocks = r.blocks()

    def _too_short_message(self, dur: float) -> str:
        return (
            f"{self.source.src}: recording too short: {dur:.3f} s of data, one window needs "
            f"{SEGMENT_LENGTH / TARGET_FS:g} s ({SEGMENT_LENGTH} samples at 100 Hz)"
        )

    def progress(self) -> tuple[int, int]:
        """``(bytes read, bytes to read)`` of the input: the file's size, twice for a ``.cwa``
        file, read once for its calibration (:func:`~relcon.data.stream.sources.bytes_to_read`;
        ``(0, 0)`` for data in memory)."""
        return self.source.position(), self.source.size * self.source.passes

    def _on_windows(self, x: np.ndarray, ks: np.ndarray) -> None:
        ns = self._t0_ns + ks * np.int64(self._stride * _NS_PER_SAMPLE)
        start_s = ns_to_seconds(ns)
        start_ns = ns if self.summary.absolute_time else None
        self._queue.append(WindowBatch(x, ks, start_s, start_ns, self.summary.recording))

    def _finish(self) -> None:
        self._regular.finish()
        s = self.summary
        w = self._windower
        end = w.end_all
        s.windows_grid = 0 if end < SEGMENT_LENGTH else (end - SEGMENT_LENGTH) // self._stride + 1
        s.dropped["gap"] = w.cut_in_grid(s.windows_grid - 1)
        s.windows_empty = s.windows_grid - s.windows_kept - s.dropped["nonwear"] - s.dropped["gap"]
        s.data_s = w.samples / TARGET_FS
        s.gap_s = self._regular.gap_s
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
            block = next(self._blocks, None)
            if block is None:
                self._done = True
                try:
                    self._finish()
                finally:
                    self.close()
                continue
            t, x, _ = block
            self._regular.feed(t, x.T)
        return self._queue.popleft()

    def close(self) -> None:
        """Close the input (the iterator then yields what it already holds, nothing more)."""
        self._reader.close()


_END = object()


def prefetch(it: Iterator[WindowBatch], depth: int = 4) -> Iterator[WindowBatch]:
    """The batches of ``it``, produced by a background thread up to ``depth`` batches ahead.

    Reading, parsing and resampling (numpy, pyarrow and scipy release the GIL) then run while
    the consumer's model runs: on two cores both are busy. Errors of the producer are raised in
    the consumer at the point where they happened; closing the generator (or leaving a ``for``
    loop early) stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:
            q.put(exc)

    thread = threading.Thread(target=produce, name="relcon-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def iter_windows(
    path: str | os.PathLike[str],
    *,
    recording: str | None = None,
    nan_policy: str = "drop",
    on_bytes: Callable[[int], None] | None = None,
    **options: Any,
) -> WindowIterator:
    """Stream the 2.56 s windows of a recording file, a chunk at a time.

    See the module docstring for the formats and the rules (time stamps, missing values,
    sampling rate, units, resampling, the window grid, non-wear).

    Parameters
    ----------
    path : path-like
        ``*.csv``, ``*.csv.gz``, ``*.parquet``, ``*.npz``, or a device file (``*.cwa``,
        ``*.cwa.gz``, ``*.gt3x``, ``*.bin``; needs ``actipy``).
    recording : str, optional
        Recording id for the batches and summary (default: the file stem).
    nan_policy : str
        ``"drop"`` (default: rows with a missing value are removed and counted, the hole follows
        the gap rule) or ``"error"`` (such a row is an error naming it).
    on_bytes : callable, optional
        Told the bytes read (``on_bytes(n)``) by a pass over the whole file made on opening,
        before the first window: a ``.cwa`` file's gravity calibration. With
        :meth:`WindowIterator.progress` after it, a progress bar moves over both passes.
    **options
        Any of :class:`~relcon.data.stream.options.WindowOptions` (``units``, ``stride_s``,
        ``max_gap_s``, ``chunk_s``, ``drop_nonwear``, ``rules``, ``fs``, ``time_unit``,
        ``time_column``, ``x_column``, ``y_column``, ``z_column``), with its defaults.

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
    opts = WindowOptions.of(options, "iter_windows")
    source, recording = open_recording(path, opts, recording, on_bytes=on_bytes)
    try:
        return WindowIterator(source, recording=recording, options=opts, nan_policy=nan_policy)
    except BaseException:
        source.close()
        raise
