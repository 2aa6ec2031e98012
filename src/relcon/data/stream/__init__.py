"""One recording stream: file -> checked rows -> regularise -> resample -> 2.56 s windows.

Every reader of raw recordings in the package goes through here: ``relcon embed``
(:mod:`relcon.apps.embed`), ``relcon predict`` (:mod:`relcon.apps.predict`), ``relcon prepare``
(:mod:`relcon.data.corpus`) and :func:`relcon.data.datasets.read_accel_csv`. One set of sources
(below), one :class:`RecordingReader` (time stamps, repeated rows, missing values, sampling rate,
units; the tables of :mod:`relcon.data.formats`), and two back ends:

* :func:`iter_windows` streams: a week at 100 Hz (about 60 million samples) is read a chunk at a
  time and yields the model's 256-sample windows in g at 100 Hz in batches
  (:class:`WindowBatch`), with a :class:`WindowSummary` of what was kept and dropped;
  :class:`WindowIterator` does the same for an array or DataFrame already in memory
  (:class:`ArraySource`, :class:`FrameSource`), and :func:`prefetch` runs it in a background
  thread, overlapped with the model.
* :func:`read_recording` returns ``(pieces, info)``: the whole recording as gap-free pieces at
  100 Hz in g (:class:`relcon.data.signal.UniformPiece`) and a :class:`RecordingInfo`, in the
  spirit of actipy's ``read_device``.

Inputs
------
* ``*.csv``, ``*.csv.gz``: a header row, a time column and x, y, z columns, read with pyarrow's
  multi-threaded streaming CSV reader (pandas' chunked reader takes over from a block pyarrow
  cannot convert, and names the bad row and value). The delimiter (``,``, ``;``, tab, ``|``) and
  a decimal comma (``0,98`` in a ``;``-separated file) are detected from the first lines
  (:func:`relcon.data.formats.sniff_csv`). Column names (:data:`relcon.data.formats.TIME_COLUMNS`,
  :data:`~relcon.data.formats.XYZ_COLUMNS`): ``time``, ``timestamp``, ``t``, ``time_s``,
  ``datetime``, ``date_time``, ``unix_time``; ``x,y,z``, ``acc_x,...``, ``x_acc,...``,
  ``ax,...``, ``accel_x,...``; case-insensitive, or given with ``time_column`` /
  ``x_column`` ... A time column in which no value of the first chunk is a number holds ISO
  8601 datetimes (naive = UTC); a column mixing numbers and text is an error naming the first
  non-numeric row. A numeric time column's unit follows the median positive interval ``d`` of
  the first rows (:data:`relcon.data.formats.TIME_UNITS`): seconds if ``1e-3 <= d <= 0.2``, ms
  if ``1 <= d <= 200``, us if ``1e3 <= d <= 2e5``, ns if ``1e6 <= d <= 2e8``; else pass
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
Missing values (``nan_policy``; the one rule of each command)
    A row with a missing, NaN or infinite x, y or z:

    * ``relcon embed`` and ``relcon predict`` (and the Python functions behind them,
      :func:`iter_windows`' default ``nan_policy="drop"``): the row is removed and counted
      (``nan_rows``; ``nan_runs`` counts the runs of consecutive such rows). The hole it leaves
      is then treated like any interval between samples: bridged by linear interpolation when
      the valid samples on both sides are at most ``max_gap_s`` apart, a gap that splits the
      recording otherwise. Windows are only ever cut from real samples and such short bridges,
      and the printed summary says how many rows were removed.
    * ``relcon prepare`` (:func:`iter_windows` with ``nan_policy="error"``) and
      :func:`relcon.data.datasets.read_accel_csv` (:func:`read_recording`'s default
      ``nan_policy="error"``): the file is refused with an error naming the first such row, so
      a training corpus never holds guessed samples. The exception is a device file, whose
      decoder marks invalid samples NaN: ``relcon prepare`` removes and counts those rows
      (``nan_rows``) as above.

    Text in an acceleration column is an error naming the row, whatever the policy; so is a
    finite value beyond what float32 holds (``|x| > 3.4e38``, e.g. a ``1e39`` spike), which
    would otherwise turn into infinity far from the file it came from.
Damaged files
    A CSV row with more or fewer fields than the header is an error naming the file, the
    line and both counts (:func:`relcon.data.formats.row_length_error`; in a comma-separated
    file it points out decimal commas such as ``0,98``). A truncated or corrupt ``.gz`` (or
    bytes that are not text) is an error naming the file and saying to download it again.
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
    removed). Given units are checked against the data
    (:func:`relcon.data.formats.resolve_units`): when the detection finds another unit (e.g.
    ``--units g`` on data whose magnitude is 9.8), that is an error naming both; when the
    median magnitude matches no unit at all (gravity removed: the model expects gravity
    included), a :class:`relcon.data.formats.UnitsWarning` says so and the data are used as
    given.
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
    ``chunk_s`` (tested against whole-file processing). Filtering stays in float64: float32
    polyphase filtering was measured 1.1-1.7x faster on that step but moved samples by up to
    2e-6 g, and at 100 Hz input (the common case) the step is skipped anyway.
    :func:`read_recording` holds the whole recording and so uses the in-memory steps of
    :func:`relcon.data.signal.to_uniform_pieces` instead: each stretch on its own grid
    ``t0 + k / fs`` from its first sample, ``padtype="line"`` (what ``read_accel_csv`` has
    always produced).
Windows
    Window ``k`` starts at ``T0 + k * stride_s`` (``stride_s`` a multiple of 0.01 s) and holds
    the 256 samples from 100 Hz sample ``k * stride_s * 100`` on; its ``start_s`` is computed
    in integer nanoseconds from ``T0`` rounded to the microsecond, so it carries no float
    noise. It is kept only when all 256 samples lie in one gap-free stretch; a grid window that
    holds data but is cut by a gap is counted in ``dropped["gap"]``, one that lies wholly in a
    gap in ``windows_empty`` (no data: not a dropped window). The time the gaps span is
    ``gap_s``, the time covered by data ``data_s``.
Non-wear (``drop_nonwear=True``)
    The rule of :class:`relcon.data.corpus.QualityRules` used by ``relcon prepare``, computed by
    the same function: on each gap-free stretch at 100 Hz, windows of 60 min every 15 min from
    the stretch's start plus one flush with its end; one is non-wear when on at least 2 of the 3
    axes the standard deviation is below 13 mg and the range below 50 mg. A 2.56 s window
    that overlaps a non-wear window is dropped (``dropped["nonwear"]``); stretches shorter than
    60 min are not assessed. It runs chunked without approximation: a window is decided once
    the stretch is known up to 60 min past it (or has ended), from the samples of the
    block-aligned span that can reach it, which is why about 2.5 hours of 100 Hz samples are
    held (see Memory). The other quality rules of ``relcon prepare`` (flat, clipped) look at
    one window each; ``prepare`` applies them to the windows yielded here.
Too short
    A recording without a single 2.56 s window in a gap-free stretch is an error naming the
    file (a recording shorter than 2.56 s, or one whose gaps leave no room for a window).

Memory
------
Per recording: one chunk of input rows (``chunk_s`` at the input rate, about 40 bytes per row
while it is converted; for CSV, blocks of at most 1 MiB of text, of which pyarrow's reader keeps
a few dozen ahead, about 40 MB), the resampler's context, at most ``batch_size`` windows waiting for
the model, and, with ``drop_nonwear``, about 2.5 hours of 100 Hz samples in float32 (11 MB)
plus the non-wear computation's temporaries (about 25 MB, every 15 minutes of data); without
it a few windows. Nothing grows with the recording's length.

Modules
-------
:mod:`.sources` (raw blocks of rows from each input format), :mod:`.reader` (the checked rows,
:class:`RecordingReader`), :mod:`.steps` (regularise -> resample -> window, chunk by chunk),
:mod:`.iterator` (:class:`WindowIterator`, :func:`iter_windows`, :func:`prefetch`),
:mod:`.recording` (:func:`read_recording`), :mod:`.batch` (the containers they return).
"""

from relcon.data.stream.batch import RecordingInfo, WindowBatch, WindowSummary, describe_duration
from relcon.data.stream.iterator import (
    PROBE_ROWS,
    WindowIterator,
    iter_windows,
    ns_to_seconds,
    prefetch,
    stride_samples,
)
from relcon.data.stream.options import WindowOptions
from relcon.data.stream.reader import NAN_POLICIES, RecordingReader
from relcon.data.stream.recording import read_recording, read_source
from relcon.data.stream.sources import ArraySource, FrameSource, Source, open_source

__all__ = [
    "NAN_POLICIES",
    "PROBE_ROWS",
    "ArraySource",
    "FrameSource",
    "RecordingInfo",
    "RecordingReader",
    "Source",
    "WindowBatch",
    "WindowIterator",
    "WindowOptions",
    "WindowSummary",
    "describe_duration",
    "iter_windows",
    "ns_to_seconds",
    "open_source",
    "prefetch",
    "read_recording",
    "read_source",
    "stride_samples",
]
