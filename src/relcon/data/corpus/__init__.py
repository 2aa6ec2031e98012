"""A sharded on-disk corpus of 2.56 s segments, for pretraining on more data than fits in memory.

:func:`prepare_corpus` turns a folder of raw recordings (any size) into a corpus folder;
:class:`Corpus` reads it back with the interface the training loops use on
:class:`~relcon.data.windowing.Segments` (``len``, ``x[idx]``, ``user``, ``start_s``,
``time_block``, ``subset``), memory-mapping the signals so that memory stays bounded whatever
the corpus size.

Inputs
------
One input file is one recording. Files are given directly or found recursively in folders
(hidden files and folders, and anything inside the output folder, are ignored) and processed in
sorted order of their resolved paths. The user id is the file stem (``user_from="stem"``; the
recording id is then the stem too) or the name of the parent folder (``user_from="parent"``; the
recording id is ``"<parent>/<stem>"``).

* ``*.csv``, ``*.csv.gz``: :func:`relcon.data.datasets.read_accel_csv` (a time column and x, y, z
  columns; time unit and acceleration units inferred as documented there).
* ``*.npz``: arrays ``x`` (or ``xyz``) of shape ``(T, 3)`` (any float or integer dtype), plus
  the time base: ``fs`` (scalar, Hz: uniformly sampled, first sample at ``start_s``, a scalar
  defaulting to 0) or ``t`` (``(T,)`` seconds, non-decreasing; irregular sampling and gaps are
  allowed; ``fs`` may accompany it as the native rate). ``units`` (a string scalar: ``"g"``,
  ``"m/s^2"``, ``"mg"``) is optional; the file's value wins over the ``units`` argument (a
  conflict is an error); without either, units are detected from the median magnitude.
* ``*.parquet``: columns ``time`` (or ``timestamp``, ``t``, ``time_s``, ``datetime``,
  ``date_time``, ``unix_time``) and ``x, y, z`` (or the other triples accepted for CSV), names
  matched case-insensitively. A timestamp column is used as is (naive = UTC); a numeric time
  column's unit is inferred from its median interval exactly as for CSV (s, ms, us or ns).
* ``*.cwa``, ``*.cwa.gz``, ``*.gt3x``, ``*.bin``: device files (``.cwa`` and ``.cwa.gz`` read by
  relcon's own streaming decoder; the others with the optional ``actipy`` package, ``pip install
  "relcon[devices]"``, which needs Java and decodes the whole file into memory) with gravity
  calibration, no low-pass filter, no resampling and no non-wear detection of their own. Rows
  that the decoder marks invalid (NaN) are removed and counted (``nan_rows``): the hole then
  splits the recording like any gap.

Processing: every input is read through the one recording stream of the package,
:func:`relcon.data.stream.iter_windows` (its docstring holds the rules), a chunk at a time, so
that a file of any length (a week at 100 Hz) is never held in memory: samples are converted to
g, regularised at their native rate, split wherever two valid samples are more than
``max_gap_s`` apart, and resampled to 100 Hz with the anti-aliased polyphase filter. Windows lie
on the recording's own grid: window ``k`` starts at ``T0 + k * stride_s`` (``T0`` the first
time stamp) and holds 256 samples; it is kept only when all of them lie in one gap-free stretch,
so no segment straddles a gap. Its ``start_s`` is the stream's (on the file's clock, free of
float noise).

Quality rules (each can be switched off; thresholds live in :class:`QualityRules`)
----------------------------------------------------------------------------------
A window is dropped for the first rule it meets, in this order, and counted by reason in
``dropped`` (windows of the grid that hold data):

1. ``gap``: part of the window has no data (a gap, or the end of a stretch, cuts it).
2. ``nonwear`` (van Hees et al. 2013 style, the stream's rule on each gap-free stretch at 100 Hz,
   computed chunk by chunk without approximation): windows of ``nonwear_window_s`` (60 min)
   start every ``nonwear_step_s`` (15 min) from the stretch's start, plus one window ending at
   the stretch's end; a window is non-wear when on at least ``nonwear_min_axes`` (2) of the 3
   axes the standard deviation is below ``nonwear_std_g`` (13 mg) and the range (max - min) is
   below ``nonwear_range_g`` (50 mg; None disables the range test). A segment that overlaps any
   non-wear window is dropped. Stretches shorter than one window are not assessed.
3. ``flat``: on every axis all 256 samples lie within ``flat_tol_g`` (1e-6 g) of each other.
4. ``clipped``: with ``m`` the largest ``|value|`` over the segment's 768 values (256 samples x
   3 axes), ``m >= clip_min_g`` (2 g) and at least ``clip_fraction`` (1%, i.e. 8) of the 768
   values satisfy ``|value| >= m - clip_tol_g`` (0.05 g): a plateau at the sensor's range.
   Off by default (``drop_clipped=False``; ``relcon prepare --drop-clipped``): low-range
   devices saturate during vigorous activity (the WISDM watch clips at about 2 g, flagging
   28% of its jogging segments), and dropping those would remove hard activities from the
   corpus rather than bad data.

Rules 3 and 4 look at one window each (:func:`relcon.data.corpus.quality.flag_windows`).

Also counted per input (in ``corpus.json``; the names are those of
:class:`relcon.data.stream.WindowSummary`), never silently lost: input ``rows`` read, rows
dropped for a repeated time stamp (``duplicate_rows``: the first is kept) and rows removed for
a missing value (``nan_rows``: device files only), ``gaps`` that split the recording and the
gap-free ``pieces`` they leave, ``short_pieces`` (stretches shorter than one window), the grid's
windows (``windows_grid`` = ``segments`` + the sum of ``dropped`` + ``windows_empty``, the
windows that lie wholly in a gap), ``hours`` of gap-free data at 100 Hz and, for int16 storage,
values beyond +-16 g that were saturated (``saturated_values``, not a drop). The summary sums
them over the inputs. Users with exactly one segment are kept and counted
(``users_single_segment``): such a segment can never be an anchor with within-user candidates.

Bad inputs raise :class:`ValueError` naming the file (and the first bad row where there is
one): NaN or infinite values, an empty file, ambiguous or unknown units, time stamps going
backwards, unreadable files, a recording with no room for a single window (shorter than 2.56
s, or cut by gaps everywhere). An error found late in a long file leaves nothing of it in the
corpus. With ``on_error="skip"`` such files are skipped instead, listed in ``corpus.json``
under ``failed_inputs`` with their error and counted in the summary; a later run retries them.

Layout of a corpus folder
-------------------------
``corpus.json``
    The manifest, the commit point of every write: format and version, storage and scale,
    settings (stride, gap, ``window_grid``, block length, quality rules; inputs are only added
    to a corpus prepared with the same settings, so a corpus whose windows were placed on
    another grid is never extended), the committed shards and index parts
    (with their sizes in bytes and the SHA-256 of their bytes), the inputs done (path, user,
    recording, size, mtime_ns, segments, first segment and the counts above), a ``pending``
    input (one that an interrupted run left partly written), failed inputs, totals and a
    ``summary``.
``shards/shard-000000.npy``
    ``(n, 256, 3)`` segments, ``n <= shard_segments``, as ``.npy``: int16 at a fixed scale of
    1/2048 g per step (+-16 g; value = stored * scale) or float16 (scale 1).
``index/part-000000.parquet``
    One part per shard, one row per segment in shard order: ``user`` (string), ``recording``
    (string), ``block`` (int64, ``floor(start_s / block_seconds)`` with the manifest's
    ``block_seconds``), ``start_s`` (float64), ``shard`` (int32), ``offset`` (int32).
``index/cache/``
    Derived, rebuilt by ``prepare`` when stale: ``user.npy``, ``recording.npy`` (int32 codes
    into the sorted names in ``names.json``) and ``start_s.npy`` (float64) for the whole corpus,
    memory-mapped by :class:`Corpus`; ``meta.json`` ties them to the shards they describe.
``shards/.spool-*.tmp``
    While an input is processed, its encoded segments in order (removed once they are in
    shards, when the input fails, and by the next run when a run was killed).
``.prepare.lock``
    Held while a ``prepare`` writes, so that two cannot write at once.

Every file is written to a temporary name and renamed into place. A shard's SHA-256 is computed
while it is written; :class:`Corpus` checks it the first time a process reads the shard (once per
shard, not per window; ``Corpus.open(..., verify=False)`` skips it, :meth:`Corpus.verify` checks
every shard at once) and raises a :class:`ValueError` naming a shard whose bytes changed; index
parts are checked whenever they are read. Segment ``i`` of the corpus
is row ``i - first`` of the shard that holds it (shards in order); a run that adds inputs starts
a new shard and never rewrites existing ones. A killed run leaves the corpus as of its last
commit (every ``commit_every_s`` seconds and at the end); rerunning the same command discards
what was written after that commit, skips the inputs done, finishes the pending input (skipping
its segments already committed) and produces exactly the corpus that an uninterrupted run
would have produced.

Memory
------
``prepare`` holds one shard of segments in memory (``shard_segments x 1.5 KiB`` for int16, 96
MiB by default), the stream's bounded buffers (one chunk of input rows, and with the non-wear
rule about 2.5 hours of 100 Hz samples: see :mod:`relcon.data.stream`) and 8 bytes per kept
segment of the input being processed (its start times); the segments themselves wait in the
spool file until they are copied into shards, a shard's free space at a time. Nothing else
grows with an input's length, except for the device files decoded by actipy (``.gt3x``,
``.bin``, and ``.cwa`` with ``RELCON_CWA_READER=actipy``), which actipy decodes whole.
:class:`Corpus` memory-maps the shards (at most ``max_open_shards`` at a time) and drops the
pages it touched after every ``release_bytes`` gathered, and memory-maps the index cache (12
bytes per segment on disk). The training loop's sampler still materialises a few int64 arrays
per segment (about 50 bytes per segment in :class:`relcon.data.sampling.CandidateSampler`).

Modules
-------
:mod:`.store` (the on-disk format), :mod:`.quality` (the rules above), :mod:`.inputs` (finding
and opening input files), :mod:`.prepare` (:func:`prepare_corpus`), :mod:`.reader` (:class:`Corpus`).
"""

from relcon.data.corpus.inputs import DEVICE_SUFFIXES, TABULAR_SUFFIXES, read_device_file
from relcon.data.corpus.prepare import CorpusSummary, prepare_corpus
from relcon.data.corpus.quality import QualityRules
from relcon.data.corpus.reader import Corpus, corpus_segments, user_names
from relcon.data.corpus.store import CORPUS_FORMAT, CORPUS_FORMAT_VERSION, INT16_SCALE, is_corpus

__all__ = [
    "CORPUS_FORMAT",
    "CORPUS_FORMAT_VERSION",
    "DEVICE_SUFFIXES",
    "INT16_SCALE",
    "TABULAR_SUFFIXES",
    "Corpus",
    "CorpusSummary",
    "QualityRules",
    "corpus_segments",
    "is_corpus",
    "prepare_corpus",
    "read_device_file",
    "user_names",
]
