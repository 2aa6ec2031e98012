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

* ``*.csv``, ``*.csv.gz``: :func:`relcon.data.readers.read_accel_csv` (a time column and x, y, z
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
* ``*.cwa``, ``*.cwa.gz``, ``*.gt3x``, ``*.bin``: device files, read with the optional
  ``actipy`` package (``pip install "relcon[devices]"``; it needs Java) with gravity
  calibration, no low-pass filter, no resampling and no non-wear detection of its own. Rows that
  actipy marks invalid (NaN) are removed and counted (``device_nan_rows``): the hole then splits
  the recording like any gap.

Processing: samples are converted to g, regularized at their native rate, split wherever two
samples are more than ``max_gap_s`` apart (a segment never straddles a gap) and resampled to
100 Hz with the anti-aliased polyphase filter (:func:`relcon.data.signal.to_uniform_pieces`;
uniformly sampled ``.npz`` inputs go straight to :func:`relcon.data.signal.resample`). Every
gap-free piece is cut into windows of 256 samples every ``stride_s`` seconds; a window's
``start_s`` is the piece's first time stamp plus ``k * stride_s``.

Quality rules (each can be switched off; thresholds live in :class:`QualityRules`)
----------------------------------------------------------------------------------
A segment is dropped for the first rule it meets, in this order, and counted by reason:

1. ``nonwear`` (van Hees et al. 2013 style, on each gap-free piece at 100 Hz): windows of
   ``nonwear_window_s`` (60 min) start every ``nonwear_step_s`` (15 min), plus one window
   ending at the piece's end; a window is non-wear when on at least ``nonwear_min_axes`` (2) of
   the 3 axes the standard deviation is below ``nonwear_std_g`` (13 mg) and the range
   (max - min) is below ``nonwear_range_g`` (50 mg; None disables the range test). A segment
   that overlaps any non-wear window is dropped. Pieces shorter than one window are not
   assessed.
2. ``flat``: on every axis all 256 samples lie within ``flat_tol_g`` (1e-6 g) of each other.
3. ``clipped``: with ``m`` the largest ``|value|`` over the segment's 768 values (256 samples x
   3 axes), ``m >= clip_min_g`` (2 g) and at least ``clip_fraction`` (1%, i.e. 8) of the 768
   values satisfy ``|value| >= m - clip_tol_g`` (0.05 g): a plateau at the sensor's range.
   Off by default (``drop_clipped=False``; ``relcon prepare --drop-clipped``): low-range
   devices saturate during vigorous activity (the WISDM watch clips at about 2 g, flagging
   28% of its jogging segments), and dropping those would remove hard activities from the
   corpus rather than bad data.

Also counted, never silently lost: gap-free pieces shorter than one segment
(``short_pieces``, ``short_piece_samples``), samples after the last window of a piece
(``tail_samples``), duplicate time stamps (``duplicate_timestamp_rows``: the first is kept),
native pieces of a single sample that cannot be resampled (``unresampleable_pieces``) and, for
int16 storage, values beyond +-16 g that were saturated (``saturated_values``, not a drop).
Users with exactly one segment are kept and counted (``users_single_segment``): such a
segment can never be an anchor with within-user candidates.

Bad inputs raise :class:`ValueError` naming the file (and the first bad row where there is
one): NaN or infinite values, an empty file, ambiguous or unknown units, time stamps going
backwards, unreadable files. With ``on_error="skip"`` such files are skipped instead,
listed in ``corpus.json`` under ``failed_inputs`` with their error and counted in the summary;
a later run retries them.

Layout of a corpus folder
-------------------------
``corpus.json``
    The manifest, the commit point of every write: format and version, storage and scale,
    settings (stride, gap, block length, quality rules), the committed shards and index parts
    (with their sizes in bytes), the inputs done (path, user, recording, size, mtime_ns,
    segments, first segment, hours, drops), a ``pending`` input (one that an interrupted run
    left partly written), failed inputs, totals and a ``summary``.
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
``.prepare.lock``
    Held while a ``prepare`` writes, so that two cannot write at once.

Every file is written to a temporary name and renamed into place. Segment ``i`` of the corpus
is row ``i - first`` of the shard that holds it (shards in order); a run that adds inputs starts
a new shard and never rewrites existing ones. A killed run leaves the corpus as of its last
commit (every ``commit_every_s`` seconds and at the end); rerunning the same command discards
what was written after that commit, skips the inputs done, finishes the pending input (skipping
its segments already committed) and produces exactly the corpus that an uninterrupted run
would have produced.

Memory
------
``prepare`` holds one shard of segments in memory (``shard_segments x 1.5 KiB`` for int16, 96
MiB by default) plus one input file decoded as float (about 40 bytes per sample at the native
rate, more during resampling). :class:`Corpus` memory-maps the shards (at most
``max_open_shards`` at a time) and drops the pages it touched after every
``release_bytes`` gathered, and memory-maps the index cache (12 bytes per segment on disk). The
training loop's sampler still materialises a few int64 arrays per segment (about 50 bytes per
segment in :class:`relcon.data.sampling.CandidateSampler`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import mmap
import os
import re
import shutil
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from relcon.data.readers import ReadReport, read_accel_csv
from relcon.data.signal import (
    TARGET_FS,
    detect_units,
    normalize_units,
    resample,
    to_g,
    to_uniform_pieces,
)
from relcon.data.windowing import SEGMENT_LENGTH, Segments
from relcon.io import atomic_path

try:  # POSIX only; elsewhere concurrent writers are not detected
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import pandas as pd

    from relcon.config import DataConfig

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
    "user_names",
]

logger = logging.getLogger(__name__)

#: Value of the manifest's ``format`` field.
CORPUS_FORMAT = "relcon-corpus"
#: Version of the on-disk layout written by this module.
CORPUS_FORMAT_VERSION = 1
#: g per int16 step (+-16 g full scale).
INT16_SCALE = 1.0 / 2048.0
#: Tabular input suffixes (checked case-insensitively, longest first).
TABULAR_SUFFIXES = (".csv.gz", ".csv", ".npz", ".parquet")
#: Device file suffixes, read through the optional ``actipy`` package.
DEVICE_SUFFIXES = (".cwa.gz", ".cwa", ".gt3x", ".bin")

MANIFEST_NAME = "corpus.json"
_LOCK_NAME = ".prepare.lock"
_CHANNELS = 3
_STORAGE = {"int16": np.dtype("<i2"), "float16": np.dtype("<f2")}
_SHARD_RE = re.compile(r"^shard-(\d{6,})\.npy$")
_PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")
_TIME_NAMES = ("time", "timestamp", "t", "time_s", "datetime", "date_time", "unix_time")
_XYZ_NAMES = (
    ("x", "y", "z"),
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accel_x", "accel_y", "accel_z"),
)
#: (unit, seconds per unit, lowest and highest median interval in that unit): 5-1000 Hz.
_NUMERIC_TIME_UNITS = (
    ("s", 1.0, 1e-3, 0.2),
    ("ms", 1e-3, 1.0, 200.0),
    ("us", 1e-6, 1e3, 2e5),
    ("ns", 1e-9, 1e6, 2e8),
)
_DROP_REASONS = ("nonwear", "flat", "clipped")


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is installed in the dev env
        raise ImportError(
            'the corpus index is stored in Parquet, which needs pyarrow: pip install "pyarrow>=14,<27"'
        ) from exc
    return pa, pq


def _shard_file(i: int) -> str:
    return f"shards/shard-{i:06d}.npy"


def _part_file(i: int) -> str:
    return f"index/part-{i:06d}.parquet"


# ----------------------------------------------------------------------------------------------
# quality rules
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the segment quality rules (see the module docstring for the rules).

    Attributes
    ----------
    nonwear_window_s : float
        Length of a non-wear test window in seconds (3600).
    nonwear_step_s : float
        Step between window starts in seconds (900); ``nonwear_window_s`` must be a multiple.
    nonwear_std_g : float
        An axis is "still" when its standard deviation over the window is below this (0.013 g).
    nonwear_range_g : float or None
        ... and its range (max - min) is below this (0.050 g); None skips the range test.
    nonwear_min_axes : int
        Still axes needed to call a window non-wear (2 of 3).
    flat_tol_g : float
        A segment is flat when every axis varies by at most this (1e-6 g).
    clip_min_g : float
        Peak ``|value|`` a segment needs before it can count as clipped (2 g).
    clip_tol_g : float
        Values within this of the peak count as "at the peak" (0.05 g).
    clip_fraction : float
        Share of the 768 values at the peak that makes a segment clipped (0.01).
    """

    nonwear_window_s: float = 3600.0
    nonwear_step_s: float = 900.0
    nonwear_std_g: float = 0.013
    nonwear_range_g: float | None = 0.050
    nonwear_min_axes: int = 2
    flat_tol_g: float = 1e-6
    clip_min_g: float = 2.0
    clip_tol_g: float = 0.05
    clip_fraction: float = 0.01

    def __post_init__(self) -> None:
        win = round(self.nonwear_window_s * TARGET_FS)
        step = round(self.nonwear_step_s * TARGET_FS)
        if step < 1 or win < step or win % step:
            raise ValueError(
                "QualityRules: nonwear_window_s must be a positive multiple of nonwear_step_s "
                f"(at 100 Hz), got {self.nonwear_window_s} and {self.nonwear_step_s}"
            )
        if not 1 <= self.nonwear_min_axes <= _CHANNELS:
            raise ValueError(
                f"QualityRules: nonwear_min_axes must be 1..3, got {self.nonwear_min_axes}"
            )
        if not 0 < self.clip_fraction <= 1:
            raise ValueError(
                f"QualityRules: clip_fraction must lie in (0, 1], got {self.clip_fraction}"
            )
        if min(self.nonwear_std_g, self.flat_tol_g, self.clip_tol_g, self.clip_min_g) < 0:
            raise ValueError("QualityRules: thresholds must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """The thresholds as a plain dict (stored in ``corpus.json``)."""
        return asdict(self)


def _nonwear_segments(
    xt: np.ndarray, starts: np.ndarray, rules: QualityRules, length: int = SEGMENT_LENGTH
) -> np.ndarray:
    """Boolean per segment start: does the segment overlap a non-wear window?

    ``xt`` is the piece channel-major, ``(3, n)`` float32 at 100 Hz.
    """
    n = xt.shape[1]
    win = round(rules.nonwear_window_s * TARGET_FS)
    step = round(rules.nonwear_step_s * TARGET_FS)
    out = np.zeros(starts.shape[0], dtype=bool)
    if n < win or starts.size == 0:
        return out
    k = win // step
    nb = n // step
    # per block of `step` samples: mean, sum of squared deviations, max and min -> (3, nb)
    blocks = xt[:, : nb * step].reshape(_CHANNELS, nb, step)
    mean = blocks.mean(axis=2, dtype=np.float64)
    m2 = np.empty((_CHANNELS, nb))
    chunk = max(1, (1 << 20) // step)
    for a in range(0, nb, chunk):
        dev = blocks[:, a : a + chunk] - mean[:, a : a + chunk, None].astype(np.float32)
        m2[:, a : a + chunk] = np.square(dev).sum(axis=2, dtype=np.float64)
    bmax = blocks.max(axis=2).astype(np.float64)
    bmin = blocks.min(axis=2).astype(np.float64)
    # windows of k consecutive blocks, combined exactly (Chan et al.'s parallel variance)
    mv = sliding_window_view(mean, k, axis=1)  # (3, n_windows, k)
    mu_w = mv.mean(axis=-1)
    m2_w = sliding_window_view(m2, k, axis=1).sum(axis=-1)
    m2_w += step * np.square(mv - mu_w[..., None]).sum(axis=-1)
    std_w = np.sqrt(np.maximum(m2_w, 0.0) / win)
    range_w = sliding_window_view(bmax, k, axis=1).max(axis=-1) - sliding_window_view(
        bmin, k, axis=1
    ).min(axis=-1)
    w_starts = np.arange(mv.shape[1], dtype=np.int64) * step
    still = std_w < rules.nonwear_std_g
    if rules.nonwear_range_g is not None:
        still &= range_w < rules.nonwear_range_g
    flagged = still.sum(axis=0) >= rules.nonwear_min_axes
    if (n - win) % step:  # one more window, flush with the end of the piece
        tail = xt[:, n - win :].astype(np.float64)
        t_still = tail.std(axis=1) < rules.nonwear_std_g
        if rules.nonwear_range_g is not None:
            t_still &= (tail.max(axis=1) - tail.min(axis=1)) < rules.nonwear_range_g
        w_starts = np.append(w_starts, n - win)
        flagged = np.append(flagged, t_still.sum() >= rules.nonwear_min_axes)
    s_flag = w_starts[flagged]
    if s_flag.size == 0:
        return out
    # segment [a, a + length) overlaps window [s, s + win) iff s < a + length and a < s + win;
    # window ends grow with their starts, so the last window starting before a + length decides
    last = np.searchsorted(s_flag, starts + length, side="left") - 1
    ok = last >= 0
    out[ok] = s_flag[last[ok]] + win > starts[ok]
    return out


def _flag_segments(
    x: np.ndarray,
    stride: int,
    rules: QualityRules,
    drop_nonwear: bool,
    drop_flat: bool,
    drop_clipped: bool,
) -> np.ndarray:
    """Drop reason per window of piece ``x`` ``(n, 3)``: 0 keep, 1 nonwear, 2 flat, 3 clipped."""
    n_win = (x.shape[0] - SEGMENT_LENGTH) // stride + 1
    reason = np.zeros(n_win, dtype=np.int8)
    if not (drop_nonwear or drop_flat or drop_clipped):
        return reason
    xt = np.ascontiguousarray(x.T)  # channel-major: reductions run along contiguous memory
    starts = np.arange(n_win, dtype=np.int64) * stride
    if drop_nonwear:
        reason[_nonwear_segments(xt, starts, rules)] = 1
    if drop_flat or drop_clipped:
        view = sliding_window_view(xt, SEGMENT_LENGTH, axis=1)[:, ::stride]  # (3, n_win, 256)
        vmax = view.max(axis=2)
        vmin = view.min(axis=2)
        if drop_flat:
            flat = ((vmax - vmin) <= rules.flat_tol_g).all(axis=0)
            reason[(reason == 0) & flat] = 2
        if drop_clipped:
            peak = np.maximum(vmax, -vmin).max(axis=0)
            cand = np.flatnonzero((peak >= rules.clip_min_g) & (reason == 0))
            need = max(1, math.ceil(rules.clip_fraction * SEGMENT_LENGTH * _CHANNELS - 1e-9))
            for a in range(0, cand.size, 1024):
                c = cand[a : a + 1024]
                near = (np.abs(view[:, c]) >= (peak[c] - rules.clip_tol_g)[None, :, None]).sum(
                    axis=(0, 2)
                )
                reason[c[near >= need]] = 3
    return reason


def _windows(x: np.ndarray, stride: int) -> np.ndarray:
    """Read-only ``(n_win, 256, 3)`` view of the windows of piece ``x`` ``(n, 3)``."""
    x = np.ascontiguousarray(x)
    n_win = (x.shape[0] - SEGMENT_LENGTH) // stride + 1
    s0, s1 = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n_win, SEGMENT_LENGTH, x.shape[1]), strides=(stride * s0, s0, s1), writeable=False
    )


def _quantize(w: np.ndarray, storage: str) -> tuple[np.ndarray, int]:
    """Encode float32 windows in g for storage; returns the codes and the saturated count."""
    if storage == "int16":
        y = np.rint(w * np.float32(1.0 / INT16_SCALE))
        hi, lo = np.iinfo(np.int16).max, np.iinfo(np.int16).min
        sat = int(np.count_nonzero((y > hi) | (y < lo)))
        np.clip(y, lo, hi, out=y)
        return y.astype(np.int16), sat
    lim = float(np.finfo(np.float16).max)
    sat = int(np.count_nonzero(np.abs(w) > lim))
    return np.clip(w, -lim, lim).astype(np.float16), sat


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    path: Path
    fmt: str  # "csv", "npz", "parquet", "device"
    user: str
    recording: str
    size: int
    mtime_ns: int


def _format_of(name: str) -> tuple[str, str] | None:
    low = name.lower()
    for suf in TABULAR_SUFFIXES + DEVICE_SUFFIXES:
        if low.endswith(suf) and len(name) > len(suf):
            fmt = "device" if suf in DEVICE_SUFFIXES else suf.split(".")[1]
            return fmt, name[: -len(suf)]
    return None


def _collect_inputs(
    inputs: Sequence[str | os.PathLike[str]], out: Path, user_from: str
) -> list[_Input]:
    out_res = out.expanduser().resolve()
    found: dict[str, tuple[Path, str, str, str]] = {}
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"{p}: input not found")
        if p.is_dir():
            for f in p.rglob("*"):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                kind = _format_of(f.name)
                if kind is None or not f.is_file():
                    continue
                r = f.resolve()
                if r == out_res or out_res in r.parents:
                    continue
                found[str(r)] = (r, *kind, f.absolute().parent.name)
        else:
            kind = _format_of(p.name)
            if kind is None:
                raise ValueError(
                    f"{p}: unsupported input type; expected "
                    f"{', '.join('*' + s for s in TABULAR_SUFFIXES + DEVICE_SUFFIXES)}"
                )
            r = p.resolve()
            found[str(r)] = (r, *kind, p.absolute().parent.name)
    result = []
    for key in sorted(found):
        r, fmt, stem, parent = found[key]
        st = r.stat()
        if user_from == "stem":
            user, rec = stem, stem
        else:
            user = parent
            rec = f"{user}/{stem}"
        result.append(_Input(r, fmt, user, rec, int(st.st_size), int(st.st_mtime_ns)))
    return result


Piece = tuple[float, np.ndarray]  # (start time in seconds, (n, 3) float32 at 100 Hz in g)


def _resolve_units(arg: str | None, in_file: str | None, x: np.ndarray, src: str) -> str:
    if in_file is not None:
        unit = normalize_units(in_file, src)
        if arg is not None and normalize_units(arg, src) != unit:
            raise ValueError(f"{src}: the file says units {unit!r} but units={arg!r} was given")
        return unit
    if arg is not None:
        return normalize_units(arg, src)
    step = max(1, x.shape[0] // 200_000)  # the median needs no more than that
    return detect_units(x[::step], src)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_finite_xyz(x: np.ndarray, src: str, what: str) -> None:
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(
            f"{src}: sample row {i} (0-based) of {what} has a NaN, missing or infinite value "
            f"({x[i].tolist()})"
        )


def _uniform_stats(stats: dict[str, Any]) -> dict[str, int]:
    return {
        "duplicate_timestamp_rows": int(stats.get("n_duplicates_dropped", 0)),
        "unresampleable_pieces": int(stats.get("n_pieces_dropped_short", 0)),
        "gap_splits": int(stats.get("n_gaps_split", 0)),
    }


def _read_csv(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    rep = ReadReport()
    recs = read_accel_csv(
        inp.path, units=units, user=inp.user, max_gap_s=max_gap_s, min_samples=1, report=rep
    )
    used = "?"
    for note in rep.notes:
        m = re.search(r"acceleration units: (\S+)", note)
        if m:
            used = m.group(1)
    counts = {
        "duplicate_timestamp_rows": rep.dropped.get("duplicate_timestamp_rows", 0),
        "unresampleable_pieces": rep.dropped.get("too_short_pieces", 0),
        "gap_splits": rep.n_gaps_split,
    }
    return [(float(r.start_s), np.asarray(r.x, dtype=np.float32)) for r in recs], counts, used


def _npz_scalar(z: Any, key: str, src: str) -> float:
    arr = np.asarray(z[key])
    if arr.size != 1 or arr.dtype.kind not in "fiu":
        raise ValueError(f"{src}: '{key}' must be a number, got {arr.dtype} of shape {arr.shape}")
    val = float(arr.reshape(()))
    if not math.isfinite(val):
        raise ValueError(f"{src}: '{key}' is not finite ({val})")
    return val


def _read_npz(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    src = str(inp.path)
    if inp.size == 0:
        raise ValueError(f"{src}: file is empty")
    try:
        z = np.load(inp.path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{src}: cannot read as .npz: {exc}") from None
    if not hasattr(z, "files"):
        raise ValueError(f"{src}: not an .npz archive (a single array was found)")
    with z:
        keys = set(z.files)
        xkey = next((k for k in ("x", "xyz") if k in keys), None)
        if xkey is None:
            raise ValueError(
                f"{src}: no acceleration array: expected key 'x' or 'xyz' of shape (T, 3); "
                f"keys found: {sorted(keys)}"
            )
        x = np.asarray(z[xkey])
        t = np.asarray(z["t"], dtype=np.float64) if "t" in keys else None
        fs = _npz_scalar(z, "fs", src) if "fs" in keys else None
        start = _npz_scalar(z, "start_s", src) if "start_s" in keys else None
        file_units = None
        if "units" in keys:
            u = np.asarray(z["units"])
            if u.size != 1 or u.dtype.kind not in "US":
                raise ValueError(f"{src}: 'units' must be a string scalar, got {u.dtype} {u.shape}")
            file_units = str(u.reshape(()).item())
            if isinstance(u.reshape(()).item(), bytes):
                file_units = u.reshape(()).item().decode()
    if x.ndim != 2 or x.shape[1] != _CHANNELS or x.dtype.kind not in "fiu":
        raise ValueError(f"{src}: '{xkey}' must be a numeric (T, 3) array, got {x.dtype} {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{src}: no samples ('{xkey}' has 0 rows)")
    x32 = x.astype(np.float32, copy=False)
    _check_finite_xyz(x32, src, f"'{xkey}'")
    unit = _resolve_units(units, file_units, x32, src)
    xg = to_g(x32, unit, src)
    if t is None:
        if fs is None:
            raise ValueError(f"{src}: no time base: give 'fs' (Hz) or 't' (seconds, shape (T,))")
        if fs <= 0:
            raise ValueError(f"{src}: 'fs' must be positive, got {fs}")
        y = resample(xg, fs, TARGET_FS, source=src).astype(np.float32, copy=False)
        counts = {"duplicate_timestamp_rows": 0, "unresampleable_pieces": 0, "gap_splits": 0}
        return [(start or 0.0, y)], counts, unit
    if start is not None:
        raise ValueError(f"{src}: give 'start_s' only with 'fs'; with 't' the times are absolute")
    if t.shape != (x.shape[0],):
        raise ValueError(f"{src}: 't' has shape {t.shape}, expected ({x.shape[0]},)")
    bad = ~np.isfinite(t)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{src}: time row {i} (0-based) of 't' is NaN or infinite")
    pieces, stats = to_uniform_pieces(
        t, xg, fs_out=TARGET_FS, fs_native=fs, max_gap_s=max_gap_s, source=src
    )
    return [(p.t0_s, p.x) for p in pieces], _uniform_stats(stats), unit


def _numeric_time_seconds(t: np.ndarray, src: str) -> np.ndarray:
    d = np.diff(t)
    d = d[d > 0]
    if d.size == 0:
        raise ValueError(f"{src}: cannot infer the time unit: fewer than 2 distinct timestamps")
    med = float(np.median(d))
    for _unit, scale, lo, hi in _NUMERIC_TIME_UNITS:
        if lo <= med <= hi:
            return t * scale
    raise ValueError(
        f"{src}: cannot infer the time unit from the median interval {med:.6g}: it implies no "
        "sampling rate between 5 and 1000 Hz in s, ms, us or ns"
    )


def _read_parquet(
    inp: _Input, units: str | None, max_gap_s: float
) -> tuple[list[Piece], dict, str]:
    pa, pq = _pyarrow()
    src = str(inp.path)
    if inp.size == 0:
        raise ValueError(f"{src}: file is empty")
    try:
        pf = pq.ParquetFile(inp.path)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{src}: cannot read as Parquet: {exc}") from None
    lower = {n.strip().lower(): n for n in names}
    tcol = next((lower[c] for c in _TIME_NAMES if c in lower), None)
    axes = next(
        ([lower[c] for c in trip] for trip in _XYZ_NAMES if all(c in lower for c in trip)), None
    )
    if tcol is None or axes is None:
        raise ValueError(
            f"{src}: need a time column ({' / '.join(_TIME_NAMES)}) and x, y, z columns; "
            f"columns found: {names}"
        )
    try:
        table = pf.read(columns=[tcol, *axes])
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{src}: cannot read as Parquet: {exc}") from None
    if table.num_rows == 0:
        raise ValueError(f"{src}: no data rows")
    traw = table.column(tcol).to_numpy()
    if np.issubdtype(traw.dtype, np.datetime64):
        bad = np.isnat(traw)
        if bad.any():
            raise ValueError(f"{src}: data row {_first_bad(bad)} (0-based) has a missing time")
        ns = traw.astype("datetime64[ns]").astype(np.int64)
        t = (ns - ns[0]) * 1e-9 + ns[0] * 1e-9
    elif traw.dtype.kind in "fiu":
        t = traw.astype(np.float64)
        bad = ~np.isfinite(t)
        if bad.any():
            raise ValueError(f"{src}: data row {_first_bad(bad)} (0-based) has a missing time")
        t = _numeric_time_seconds(t, src)
    else:
        raise ValueError(f"{src}: time column {tcol!r} has type {table.column(tcol).type}")
    cols = []
    for a in axes:
        c = table.column(a).to_numpy()
        if c.dtype.kind not in "fiu":
            raise ValueError(f"{src}: column {a!r} is not numeric ({table.column(a).type})")
        cols.append(c.astype(np.float32))
    x = np.stack(cols, axis=1)
    _check_finite_xyz(x, src, "x, y, z")
    unit = _resolve_units(units, None, x, src)
    pieces, stats = to_uniform_pieces(
        t, to_g(x, unit, src), fs_out=TARGET_FS, max_gap_s=max_gap_s, source=src
    )
    return [(p.t0_s, p.x) for p in pieces], _uniform_stats(stats), unit


def read_device_file(path: Path, units: str | None) -> tuple[pd.DataFrame, float | None]:
    """A ``.cwa`` / ``.gt3x`` / ``.bin`` file through actipy, in g with gravity calibration only.

    Returns actipy's DataFrame (x, y, z columns, time index) and the device's sampling rate (None
    if it does not say). Clear errors for a missing actipy, units other than g, an empty file or
    a file without samples.
    """
    src = str(path)
    try:
        import actipy
    except ImportError:
        raise ImportError(
            f"{src}: reading device files (.cwa, .gt3x, .bin) needs the optional actipy package "
            '(and Java): pip install "relcon[devices]"'
        ) from None
    if units is not None and normalize_units(units, src) != "g":
        raise ValueError(f"{src}: device files are read in g; units={units!r} does not apply")
    if path.stat().st_size == 0:
        raise ValueError(f"{src}: file is empty")
    data, info = actipy.read_device(
        src,
        lowpass_hz=None,
        calibrate_gravity=True,
        detect_nonwear=False,
        resample_hz=None,
        verbose=False,
    )
    if len(data) == 0:
        raise ValueError(f"{src}: the device file holds no samples")
    rate = info.get("SampleRate") if isinstance(info, dict) else None
    return data, float(rate) if rate else None


def _read_device(inp: _Input, units: str | None, max_gap_s: float) -> tuple[list[Piece], dict, str]:
    src = str(inp.path)
    data, fs = read_device_file(inp.path, units)
    xyz = data[["x", "y", "z"]].to_numpy(dtype=np.float64)
    ns = np.asarray(data.index.asi8, dtype=np.int64)  # naive times are taken as UTC
    ok = np.isfinite(xyz).all(axis=1)
    xyz, ns = xyz[ok], ns[ok]
    if ns.size == 0:
        raise ValueError(f"{src}: every sample of the device file is invalid (NaN)")
    t = (ns - ns[0]) * 1e-9 + ns[0] * 1e-9
    pieces, stats = to_uniform_pieces(
        t,
        xyz.astype(np.float32),
        fs_out=TARGET_FS,
        fs_native=fs,
        max_gap_s=max_gap_s,
        source=src,
    )
    counts = _uniform_stats(stats)
    counts["device_nan_rows"] = int((~ok).sum())
    return [(p.t0_s, p.x) for p in pieces], counts, "g"


_READERS = {"csv": _read_csv, "npz": _read_npz, "parquet": _read_parquet, "device": _read_device}


@dataclass
class _Processed:
    q: np.ndarray  # (n, 256, 3) in the storage dtype
    start_s: np.ndarray  # (n,) float64
    entry: dict[str, Any]  # manifest record of the input


def _process_input(inp: _Input, cfg: dict[str, Any]) -> _Processed:
    """Read one input file and turn it into quality-checked, encoded segments."""
    rules: QualityRules = cfg["rules"]
    stride = cfg["stride"]
    pieces, counts, unit = _READERS[inp.fmt](inp, cfg["units"], cfg["max_gap_s"])
    dropped: dict[str, int] = {f"{r}_segments": 0 for r in _DROP_REASONS}
    dropped.update(short_pieces=0, short_piece_samples=0, tail_samples=0)
    for k in ("duplicate_timestamp_rows", "unresampleable_pieces", "device_nan_rows"):
        if k in counts:
            dropped[k] = int(counts[k])
    qs: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    saturated = 0
    n_samples = 0
    for t0, x in pieces:
        n = x.shape[0]
        n_samples += n
        if n < SEGMENT_LENGTH:
            dropped["short_pieces"] += 1
            dropped["short_piece_samples"] += n
            continue
        n_win = (n - SEGMENT_LENGTH) // stride + 1
        dropped["tail_samples"] += n - ((n_win - 1) * stride + SEGMENT_LENGTH)
        reason = _flag_segments(
            x, stride, rules, cfg["drop_nonwear"], cfg["drop_flat"], cfg["drop_clipped"]
        )
        for code, name in enumerate(_DROP_REASONS, start=1):
            dropped[f"{name}_segments"] += int(np.count_nonzero(reason == code))
        keep = np.flatnonzero(reason == 0)
        if keep.size == 0:
            continue
        view = _windows(x, stride)
        for a in range(0, keep.size, 8192):  # bounded temporaries
            q, sat = _quantize(view[keep[a : a + 8192]], cfg["storage"])
            qs.append(q)
            saturated += sat
        starts.append(float(t0) + keep * (stride / TARGET_FS))
    dtype = _STORAGE[cfg["storage"]]
    q_all = np.concatenate(qs) if qs else np.zeros((0, SEGMENT_LENGTH, _CHANNELS), dtype=dtype)
    entry = {
        "path": str(inp.path),
        "format": inp.fmt,
        "user": inp.user,
        "recording": inp.recording,
        "size": inp.size,
        "mtime_ns": inp.mtime_ns,
        "units": unit,
        "segments": int(q_all.shape[0]),
        "first_segment": -1,
        "hours": n_samples / TARGET_FS / 3600.0,
        "pieces": len(pieces),
        "gap_splits": int(counts.get("gap_splits", 0)),
        "dropped": dropped,
        "saturated_values": saturated,
    }
    s_all = np.concatenate(starts) if starts else np.zeros(0)
    return _Processed(q_all, s_all, entry)


# ----------------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------------


def _dumps(obj: dict[str, Any]) -> str:
    """JSON with one line per top-level key, and one line per record of a list of records."""

    def is_records(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(e, dict) for e in v)

    lines = []
    for k, v in sorted(obj.items(), key=lambda kv: is_records(kv[1])):  # stable: records last
        if is_records(v):
            body = ",\n".join("  " + json.dumps(e) for e in v)
            lines.append(f" {json.dumps(k)}: [\n{body}\n ]")
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(_dumps(obj))


def _write_shard(path: Path, arr: np.ndarray) -> int:
    """Write ``arr`` as ``.npy`` atomically; returns the file size in bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
    return path.stat().st_size


def _write_part(
    path: Path,
    users: list[str],
    recordings: list[str],
    start_s: np.ndarray,
    block_seconds: float,
    shard: int,
) -> int:
    pa, pq = _pyarrow()
    n = len(users)
    if math.isfinite(block_seconds) and block_seconds > 0:
        block = np.floor(start_s / block_seconds).astype(np.int64)
    else:
        block = np.zeros(n, dtype=np.int64)
    table = pa.table(
        {
            "user": pa.array(users, type=pa.string()),
            "recording": pa.array(recordings, type=pa.string()),
            "block": pa.array(block, type=pa.int64()),
            "start_s": pa.array(start_s, type=pa.float64()),
            "shard": pa.array(np.full(n, shard, dtype=np.int32), type=pa.int32()),
            "offset": pa.array(np.arange(n, dtype=np.int32), type=pa.int32()),
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))
    return path.stat().st_size


def _summarize(m: dict[str, Any]) -> dict[str, Any]:
    per_user: dict[str, int] = {}
    recordings: set[str] = set()
    dropped: dict[str, int] = {}
    hours = 0.0
    saturated = 0
    empty = 0
    for e in m["inputs"]:
        per_user[e["user"]] = per_user.get(e["user"], 0) + int(e["segments"])
        if e["segments"]:
            recordings.add(e["recording"])
        else:
            empty += 1
        hours += float(e["hours"])
        saturated += int(e["saturated_values"])
        for k, v in e["dropped"].items():
            dropped[k] = dropped.get(k, 0) + int(v)
    pend = m.get("pending")
    if pend and pend["committed_segments"]:
        per_user[pend["user"]] = per_user.get(pend["user"], 0) + int(pend["committed_segments"])
        recordings.add(pend["recording"])
    n_seg = int(sum(s["segments"] for s in m["shards"]))
    return {
        "users": sum(1 for c in per_user.values() if c > 0),
        "recordings": len(recordings),
        "segments": n_seg,
        "hours": hours,
        "segment_hours": n_seg * SEGMENT_LENGTH / TARGET_FS / 3600.0,
        "dropped": dict(sorted(dropped.items())),
        "users_single_segment": sum(1 for c in per_user.values() if c == 1),
        "inputs": len(m["inputs"]),
        "inputs_without_segments": empty,
        "inputs_failed": len(m.get("failed_inputs", [])),
        "saturated_values": saturated,
        "interrupted": pend is not None,
    }


def _new_manifest(settings: dict[str, Any]) -> dict[str, Any]:
    import relcon

    m: dict[str, Any] = {
        "format": CORPUS_FORMAT,
        "format_version": CORPUS_FORMAT_VERSION,
        "relcon_version": relcon.__version__,
        **settings,
        "generation": 0,
        "shards": [],
        "parts": [],
        "inputs": [],
        "pending": None,
        "failed_inputs": [],
        "totals": {"segments": 0, "shards": 0, "inputs": 0, "bytes": 0},
    }
    m["summary"] = _summarize(m)
    return m


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{root}: not a relcon corpus (no {MANIFEST_NAME})")
    try:
        m = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged manifest: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != CORPUS_FORMAT:
        raise ValueError(f"{path}: not a relcon corpus manifest (format {m.get('format')!r})")
    version = m.get("format_version")
    if version != CORPUS_FORMAT_VERSION:
        raise ValueError(
            f"{path}: corpus format version {version}, this relcon reads version "
            f"{CORPUS_FORMAT_VERSION}; upgrade relcon or prepare the corpus again"
        )
    return m


def _check_files(root: Path, m: dict[str, Any]) -> None:
    """Every committed shard and part exists with the size the manifest records."""
    for s in m["shards"]:
        p = root / s["file"]
        if not p.is_file():
            raise FileNotFoundError(f"{p}: shard listed in {MANIFEST_NAME} is missing")
        size = p.stat().st_size
        if size != s["bytes"]:
            raise ValueError(
                f"{p}: shard is {size} bytes on disk but {MANIFEST_NAME} records {s['bytes']}: "
                "the shard is truncated or damaged; restore it or prepare the corpus again"
            )
    for part in m["parts"]:
        p = root / part["file"]
        if not p.is_file():
            raise FileNotFoundError(f"{p}: index part listed in {MANIFEST_NAME} is missing")
        if p.stat().st_size != part["bytes"]:
            raise ValueError(
                f"{p}: index part is {p.stat().st_size} bytes on disk but {MANIFEST_NAME} "
                f"records {part['bytes']}: it is truncated or damaged"
            )
    if len(m["parts"]) != len(m["shards"]):
        raise ValueError(f"{root}: {len(m['shards'])} shards but {len(m['parts'])} index parts")


@contextlib.contextmanager
def _exclusive_lock(out: Path) -> Iterator[None]:
    fd = os.open(out / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(
                    f"{out}: another relcon prepare is writing to this corpus"
                ) from None
        yield
    finally:
        os.close(fd)


def _discard_uncommitted(out: Path, m: dict[str, Any]) -> int:
    """Delete shards, parts and temporary files that no commit refers to."""
    n = len(m["shards"])
    removed = 0
    for sub, rx in (("shards", _SHARD_RE), ("index", _PART_RE)):
        folder = out / sub
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            hit = rx.match(f.name)
            stale = hit is not None and int(hit.group(1)) >= n
            if stale or (f.name.startswith(".") and f.name.endswith(".tmp")):
                f.unlink()
                removed += 1
    if removed:
        logger.warning("%s: discarded %d files left by an interrupted prepare", out, removed)
    return removed


def _shards_fingerprint(m: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(m["shards"], sort_keys=True).encode()).hexdigest()


def _names(m: dict[str, Any]) -> tuple[list[str], list[str]]:
    users = {e["user"] for e in m["inputs"] if e["segments"]}
    recs = {e["recording"] for e in m["inputs"] if e["segments"]}
    pend = m.get("pending")
    if pend and pend["committed_segments"]:
        users.add(pend["user"])
        recs.add(pend["recording"])
    return sorted(users), sorted(recs)


def _fill_index(
    root: Path,
    m: dict[str, Any],
    users: list[str],
    recordings: list[str],
    user_out: np.ndarray,
    rec_out: np.ndarray,
    start_out: np.ndarray,
) -> None:
    """Stream the index parts into the three global arrays, validating them against the shards."""
    _, pq = _pyarrow()
    codes = {"user": {u: i for i, u in enumerate(users)}}
    codes["recording"] = {r: i for i, r in enumerate(recordings)}
    pos = 0
    for i, (shard, part) in enumerate(zip(m["shards"], m["parts"], strict=True)):
        path = root / part["file"]
        t = pq.read_table(
            path,
            columns=["user", "recording", "start_s", "shard", "offset"],
            read_dictionary=["user", "recording"],
        )
        n = t.num_rows
        if n != shard["segments"]:
            raise ValueError(
                f"{path}: {n} index rows but {shard['file']} holds {shard['segments']} "
                "segments: the corpus is damaged"
            )
        sh = t.column("shard").to_numpy()
        off = t.column("offset").to_numpy()
        if n and (not (sh == i).all() or not np.array_equal(off, np.arange(n))):
            raise ValueError(
                f"{path}: rows do not point at consecutive offsets of {shard['file']}: damaged"
            )
        for name, dest in (("user", user_out), ("recording", rec_out)):
            row = pos
            for chunk in t.column(name).chunks:
                try:
                    table = np.array(
                        [codes[name][v] for v in chunk.dictionary.to_pylist()], dtype=np.int32
                    )
                except KeyError as exc:
                    raise ValueError(
                        f"{path}: {name} {exc} is not in {MANIFEST_NAME}: the corpus is damaged"
                    ) from None
                idx = chunk.indices.to_numpy(zero_copy_only=False)
                dest[row : row + len(idx)] = table[idx]
                row += len(idx)
        start_out[pos : pos + n] = t.column("start_s").to_numpy()
        pos += n


def _build_cache(root: Path, m: dict[str, Any]) -> None:
    """(Re)write ``index/cache`` for the committed state ``m`` unless it is up to date."""
    cache = root / "index" / "cache"
    fp = _shards_fingerprint(m)
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads((cache / "meta.json").read_text())["shards_sha1"] == fp:
            return
    cache.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (cache / "meta.json").unlink()  # invalid until rewritten below
    users, recs = _names(m)
    n = int(sum(s["segments"] for s in m["shards"]))
    specs = (("user", np.int32), ("recording", np.int32), ("start_s", np.float64))
    with contextlib.ExitStack() as stack:
        arrays = []
        for name, dtype in specs:
            tmp = stack.enter_context(atomic_path(cache / f"{name}.npy"))
            if n:
                arrays.append(np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n,)))
            else:
                with open(tmp, "wb") as fh:
                    np.save(fh, np.zeros(0, dtype=dtype))
                arrays.append(np.zeros(0, dtype=dtype))
        _fill_index(root, m, users, recs, *arrays)
        for a in arrays:
            if isinstance(a, np.memmap):
                a.flush()
        del arrays
    _write_json(cache / "names.json", {"users": users, "recordings": recs})
    _write_json(cache / "meta.json", {"shards_sha1": fp, "segments": n})


# ----------------------------------------------------------------------------------------------
# prepare
# ----------------------------------------------------------------------------------------------


@dataclass
class CorpusSummary:
    """What a :func:`prepare_corpus` run did, and the state of the corpus afterwards.

    Attributes
    ----------
    path : str
        Corpus folder.
    users, recordings, segments : int
        In the whole corpus.
    hours : float
        Gap-free input hours read at 100 Hz for the inputs in the corpus.
    segment_hours : float
        ``segments x 2.56 s`` in hours.
    dropped : dict
        Reason -> count over the corpus (``*_segments`` are segments, the others samples,
        rows or pieces as named).
    users_single_segment : int
        Users with exactly one segment (never anchors with within-user candidates).
    inputs : int
        Inputs recorded as done in the corpus.
    inputs_without_segments : int
        Inputs done that yielded no segment.
    inputs_failed : int
        Inputs listed as failed in the corpus (``on_error="skip"``), to retry.
    saturated_values : int
        Values clipped to the int16 range (+-16 g).
    shards : int
        Shard files in the corpus.
    bytes : int
        Bytes of shards and index parts.
    processed : list of str
        Inputs processed by this run.
    skipped_existing : list of str
        Inputs skipped by this run because their recording was already in the corpus
        (unchanged).
    failed : list of tuple
        ``(path, error)`` of inputs skipped by this run with ``on_error="skip"``.
    segments_added, shards_added : int
        Written by this run.
    wall_s : float
        Duration of the run in seconds.
    """

    path: str
    users: int
    recordings: int
    segments: int
    hours: float
    segment_hours: float
    dropped: dict[str, int]
    users_single_segment: int
    inputs: int
    inputs_without_segments: int
    inputs_failed: int
    saturated_values: int
    shards: int
    bytes: int
    processed: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    segments_added: int = 0
    shards_added: int = 0
    wall_s: float = 0.0

    def __str__(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "nothing"
        return (
            f"{self.path}: {self.users} users, {self.recordings} recordings, {self.segments} "
            f"segments ({self.segment_hours:.1f} h) in {self.shards} shards; this run: "
            f"{len(self.processed)} inputs processed, {len(self.skipped_existing)} already "
            f"present, {len(self.failed)} failed, {self.segments_added} segments added in "
            f"{self.wall_s:.1f} s; dropped {drops}; {self.users_single_segment} users with a "
            f"single segment; {self.saturated_values} values saturated"
        )


class _Writer:
    """Fills shards in order and commits them to the manifest."""

    def __init__(self, out: Path, m: dict[str, Any], commit_every_s: float) -> None:
        self.out = out
        self.m = m
        self.cap = int(m["shard_segments"])
        self.buf = np.empty((self.cap, SEGMENT_LENGTH, _CHANNELS), dtype=_STORAGE[m["storage"]])
        self.buf_start = np.empty(self.cap, dtype=np.float64)
        self.buf_user: list[str] = []
        self.buf_rec: list[str] = []
        self.n_buf = 0
        self.shards = list(m["shards"])
        self.parts = list(m["parts"])
        self.done = list(m["inputs"])
        self.staged: list[dict[str, Any]] = []
        self.pending = m.get("pending")
        # failures of earlier runs, unless the file has gone since (a retry clears them too)
        self.failed = {f["path"]: f for f in m.get("failed_inputs", []) if Path(f["path"]).exists()}
        self.n_written = int(sum(s["segments"] for s in self.shards))
        self.commit_every_s = commit_every_s
        self.last_commit = time.monotonic()
        self.consistent = True
        self.segments_added = 0
        self.shards_added = 0

    def add(self, proc: _Processed, skip: int) -> None:
        entry = proc.entry
        n = int(proc.q.shape[0])
        if skip:
            pend = self.pending
            if pend is None or self.n_buf or self.n_written != pend["first_segment"] + skip:
                raise RuntimeError(f"{self.out}: corpus bookkeeping mismatch for {entry['path']}")
            if n < skip:
                raise ValueError(
                    f"{entry['path']}: yields {n} segments now but {skip} were written before the "
                    "interruption: the file or the software changed; prepare again with overwrite"
                )
            entry["first_segment"] = pend["first_segment"]
        else:
            entry["first_segment"] = self.n_written + self.n_buf
        self.failed.pop(entry["path"], None)
        pos, total, staged = skip, n, False
        self.consistent = False
        while pos < total:
            take = min(self.cap - self.n_buf, total - pos)
            sl = slice(self.n_buf, self.n_buf + take)
            self.buf[sl] = proc.q[pos : pos + take]
            self.buf_start[sl] = proc.start_s[pos : pos + take]
            self.buf_user.extend([entry["user"]] * take)
            self.buf_rec.extend([entry["recording"]] * take)
            self.n_buf += take
            pos += take
            self.segments_added += take
            if self.n_buf == self.cap:
                if pos == total:
                    self.staged.append(entry)
                    staged = True
                    self._flush(None)
                else:
                    self._flush((entry, pos))
        if not staged:
            self.staged.append(entry)
        self.consistent = True

    def fail(self, path: str, error: str) -> None:
        self.failed[path] = {"path": path, "error": error}

    def _flush(self, partial: tuple[dict[str, Any], int] | None) -> None:
        self.consistent = False
        i = len(self.shards)
        n = self.n_buf
        shard_bytes = _write_shard(self.out / _shard_file(i), self.buf[:n])
        part_bytes = _write_part(
            self.out / _part_file(i),
            self.buf_user,
            self.buf_rec,
            self.buf_start[:n].copy(),
            float(self.m["block_seconds"]),
            i,
        )
        self.shards.append({"file": _shard_file(i), "segments": n, "bytes": shard_bytes})
        self.parts.append({"file": _part_file(i), "rows": n, "bytes": part_bytes})
        self.n_written += n
        self.n_buf = 0
        self.buf_user, self.buf_rec = [], []
        self.done.extend(self.staged)
        self.staged = []
        if partial is None:
            self.pending = None
        else:
            e, k = partial
            self.pending = {
                key: e[key] for key in ("path", "user", "recording", "size", "mtime_ns")
            }
            self.pending.update(first_segment=e["first_segment"], committed_segments=k)
        self.shards_added += 1
        self.consistent = True
        if time.monotonic() - self.last_commit >= self.commit_every_s:
            self.commit()

    def commit(self) -> None:
        m = self.m
        m["shards"], m["parts"], m["inputs"] = list(self.shards), list(self.parts), list(self.done)
        m["pending"] = self.pending
        m["failed_inputs"] = list(self.failed.values())
        m["totals"] = {
            "segments": self.n_written,
            "shards": len(self.shards),
            "inputs": len(self.done),
            "bytes": int(
                sum(s["bytes"] for s in self.shards) + sum(p["bytes"] for p in self.parts)
            ),
        }
        m["summary"] = _summarize(m)
        m["generation"] = int(m.get("generation", 0)) + 1
        _write_json(self.out / MANIFEST_NAME, m)
        self.last_commit = time.monotonic()

    def finish(self) -> None:
        if self.n_buf:
            self._flush(None)
        else:
            self.done.extend(self.staged)
            self.staged = []
            self.pending = None
        self.commit()


def _wipe(out: Path) -> None:
    if not (out / MANIFEST_NAME).is_file():
        others = [p.name for p in out.iterdir() if p.name != _LOCK_NAME]
        if others:
            raise ValueError(
                f"{out}: overwrite refused: the folder is not a relcon corpus and not empty"
            )
        return
    for sub in ("shards", "index"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    (out / MANIFEST_NAME).unlink()


def prepare_corpus(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    units: str | None = None,
    storage: str = "int16",
    shard_segments: int = 65536,
    user_from: str = "stem",
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    block_seconds: float = 3600.0,
    drop_nonwear: bool = True,
    drop_flat: bool = True,
    drop_clipped: bool = False,
    rules: QualityRules | None = None,
    on_error: str = "raise",
    overwrite: bool = False,
    progress: bool = True,
    commit_every_s: float = 30.0,
) -> CorpusSummary:
    """Turn raw recordings into (or add them to) a sharded corpus folder.

    See the module docstring for the input formats, processing, quality rules and the layout.
    Rerunning the same call after a crash or a kill resumes it; calling it again with more
    inputs appends them (new shards; existing shards are never rewritten). Inputs whose
    recording is already in the corpus are skipped when unchanged (same size and mtime).

    Parameters
    ----------
    inputs : sequence of path-like
        Files and folders (searched recursively). Empty: only finish/refresh the corpus.
    out : path-like
        Corpus folder (created if needed; an existing non-corpus folder must be empty).
    units : str, optional
        Acceleration units of the inputs (``"g"``, ``"m/s^2"``, ``"mg"``); detected per file
        when None (an ``.npz``'s own ``units`` key wins).
    storage : {"int16", "float16"}
        Sample encoding: int16 at 1/2048 g per step (+-16 g) or float16.
    shard_segments : int
        Segments per shard file.
    user_from : {"stem", "parent"}
        User id from the file stem or the parent folder's name.
    stride_s : float
        Window step in seconds (2.56 = no overlap).
    max_gap_s : float
        Longer intervals between samples split a recording.
    block_seconds : float
        Block length stored in the index's ``block`` column (``corpus.json`` keeps it).
    drop_nonwear, drop_flat, drop_clipped : bool
        Apply the quality rules (non-wear and flat on, clipped off by default).
    rules : QualityRules, optional
        Thresholds of the rules (defaults when None).
    on_error : {"raise", "skip"}
        What to do with an input that cannot be read (see the module docstring).
    overwrite : bool
        Delete an existing corpus in ``out`` first.
    progress : bool
        Show a progress bar.
    commit_every_s : float
        Commit the manifest at most this often while filling shards (and always at the end);
        a killed run redoes at most this much work. 0 commits after every shard.

    Returns
    -------
    CorpusSummary
        The corpus totals and what this run did.

    Raises
    ------
    ValueError
        On bad input files (``on_error="raise"``), changed files whose recording is already in
        the corpus, settings that differ from the existing corpus, or a damaged corpus.
    FileNotFoundError
        If an input does not exist.
    RuntimeError
        If another prepare is writing to ``out``.
    """
    t0 = time.perf_counter()
    if storage not in _STORAGE:
        raise ValueError(f"storage must be 'int16' or 'float16', got {storage!r}")
    if user_from not in ("stem", "parent"):
        raise ValueError(f"user_from must be 'stem' or 'parent', got {user_from!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if int(shard_segments) != shard_segments or shard_segments < 1:
        raise ValueError(f"shard_segments must be a positive integer, got {shard_segments}")
    stride = round(stride_s * TARGET_FS)
    if stride < 1 or abs(stride - stride_s * TARGET_FS) > 1e-6:
        raise ValueError(f"stride_s must be a positive multiple of 0.01 s, got {stride_s}")
    if not max_gap_s > 0:
        raise ValueError(f"max_gap_s must be positive, got {max_gap_s}")
    if units is not None:
        units = normalize_units(units, "prepare_corpus")
    rules = rules if rules is not None else QualityRules()
    settings = {
        "segment_length": SEGMENT_LENGTH,
        "channels": _CHANNELS,
        "fs": TARGET_FS,
        "storage": storage,
        "scale": INT16_SCALE if storage == "int16" else 1.0,
        "shard_segments": int(shard_segments),
        "stride_s": float(stride_s),
        "max_gap_s": float(max_gap_s),
        "block_seconds": float(block_seconds),
        "user_from": user_from,
        "drop_nonwear": bool(drop_nonwear),
        "drop_flat": bool(drop_flat),
        "drop_clipped": bool(drop_clipped),
        "rules": rules.to_dict(),
    }
    cfg = {
        "rules": rules,
        "stride": stride,
        "units": units,
        "max_gap_s": float(max_gap_s),
        "storage": storage,
        "drop_nonwear": drop_nonwear,
        "drop_flat": drop_flat,
        "drop_clipped": drop_clipped,
    }
    out = Path(out).expanduser()
    plan = _collect_inputs(inputs, out, user_from)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(out):
        if overwrite:
            _wipe(out)
        if (out / MANIFEST_NAME).is_file():
            m = _read_manifest(out)
            diff = [k for k in settings if m.get(k) != settings[k]]
            if diff:
                was = ", ".join(f"{k}={m.get(k)!r}" for k in diff)
                now = ", ".join(f"{k}={settings[k]!r}" for k in diff)
                raise ValueError(
                    f"{out}: the corpus was prepared with {was}; this call asks for {now}. Use the "
                    "same settings to add inputs, or a new output folder (or overwrite)"
                )
        else:
            if any(p.name != _LOCK_NAME for p in out.iterdir()):
                raise ValueError(
                    f"{out}: folder is not empty and holds no {MANIFEST_NAME}: refusing to write a "
                    "corpus into it"
                )
            m = _new_manifest(settings)
            _write_json(out / MANIFEST_NAME, m)
        _discard_uncommitted(out, m)
        _check_files(out, m)
        writer = _Writer(out, m, commit_every_s)
        todo, skipped = _plan(out, plan, writer)
        for path in skipped:
            logger.info("%s: recording already in the corpus, unchanged: skipped", path)
        if skipped:
            logger.warning("%s: %d inputs already in the corpus were skipped", out, len(skipped))
        processed: list[str] = []
        failed: list[tuple[str, str]] = []
        try:
            from tqdm.auto import tqdm

            with tqdm(todo, desc="prepare", unit="file", disable=not progress) as bar:
                for inp, skip in bar:
                    try:
                        proc = _process_input(inp, cfg)
                    except (ValueError, OSError) as exc:
                        if on_error == "raise":
                            raise
                        msg = str(exc)
                        logger.warning("skipped (on_error='skip'): %s", msg)
                        writer.fail(str(inp.path), msg)
                        failed.append((str(inp.path), msg))
                        continue
                    writer.add(proc, skip)
                    processed.append(str(inp.path))
                    bar.set_postfix(segments=writer.n_written + writer.n_buf, refresh=False)
            writer.finish()
        except BaseException:
            if writer.consistent:  # everything written so far is whole: keep it
                with contextlib.suppress(Exception):
                    writer.commit()
            raise
        _build_cache(out, m)
    s = m["summary"]
    summary = CorpusSummary(
        path=str(out),
        users=s["users"],
        recordings=s["recordings"],
        segments=s["segments"],
        hours=s["hours"],
        segment_hours=s["segment_hours"],
        dropped=s["dropped"],
        users_single_segment=s["users_single_segment"],
        inputs=s["inputs"],
        inputs_without_segments=s["inputs_without_segments"],
        inputs_failed=s["inputs_failed"],
        saturated_values=s["saturated_values"],
        shards=m["totals"]["shards"],
        bytes=m["totals"]["bytes"],
        processed=processed,
        skipped_existing=skipped,
        failed=failed,
        segments_added=writer.segments_added,
        shards_added=writer.shards_added,
        wall_s=time.perf_counter() - t0,
    )
    logger.info("%s", summary)
    return summary


def _plan(
    out: Path, inputs: list[_Input], writer: _Writer
) -> tuple[list[tuple[_Input, int]], list[str]]:
    """Order the work: the pending input first, then the new ones; skip unchanged ones."""
    seen: dict[str, Path] = {}
    for inp in inputs:
        if inp.recording in seen:
            raise ValueError(
                f"two inputs give the recording id {inp.recording!r}: {seen[inp.recording]} and "
                f"{inp.path}; rename one, or use user_from='parent'"
            )
        seen[inp.recording] = inp.path
    done = {e["recording"]: e for e in writer.done}
    pend = writer.pending
    todo: list[tuple[_Input, int]] = []
    skipped: list[str] = []
    pend_inp = None
    for inp in inputs:
        e = done.get(inp.recording)
        if e is not None:
            if (e["size"], e["mtime_ns"]) == (inp.size, inp.mtime_ns):
                skipped.append(str(inp.path))
                continue
            raise ValueError(
                f"{inp.path}: recording {inp.recording!r} is already in the corpus {out} "
                f"(prepared from {e['path']}, {e['size']} bytes, mtime_ns {e['mtime_ns']}) and "
                f"the file has changed since ({inp.size} bytes, mtime_ns {inp.mtime_ns}). "
                "Existing shards are never rewritten: write to a new output folder or use "
                "--overwrite to rebuild the corpus"
            )
        if pend is not None and pend["recording"] == inp.recording:
            if (pend["size"], pend["mtime_ns"]) != (inp.size, inp.mtime_ns):
                raise ValueError(
                    f"{inp.path}: an interrupted prepare wrote {pend['committed_segments']} "
                    "segments of this recording and the file has changed since: use --overwrite "
                    "or a new output folder"
                )
            pend_inp = inp
            continue
        todo.append((inp, 0))
    if pend is not None:
        if pend_inp is None:
            raise ValueError(
                f"{out}: an interrupted prepare left {pend['path']} (recording "
                f"{pend['recording']!r}) partly written ({pend['committed_segments']} segments); "
                "rerun with that input included to finish it, or use --overwrite"
            )
        todo.insert(0, (pend_inp, int(pend["committed_segments"])))
    return todo, skipped


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------


def is_corpus(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a corpus folder written by :func:`prepare_corpus`."""
    p = Path(path).expanduser()
    mf = p / MANIFEST_NAME
    if not mf.is_file():
        return False
    try:
        with open(mf, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return re.search(r'"format"\s*:\s*"' + CORPUS_FORMAT + '"', head) is not None


class _ShardStore:
    """Memory-mapped shards: gathers rows, keeps at most ``max_open`` maps and drops pages."""

    def __init__(
        self,
        root: Path,
        shards: list[dict[str, Any]],
        dtype: np.dtype,
        scale: float,
        max_open: int,
        release_bytes: int,
    ) -> None:
        self.root = root
        self.files = [s["file"] for s in shards]
        self.counts = np.array([s["segments"] for s in shards], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.dtype = dtype
        self.scale = np.float32(scale)
        self.max_open = max(1, int(max_open))
        self.release_bytes = int(release_bytes)
        self.maps: OrderedDict[int, tuple[mmap.mmap, np.ndarray]] = OrderedDict()
        self.touched = 0
        self.dirty: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        # for DataLoader workers started with "spawn": maps are reopened lazily in the worker
        state = self.__dict__.copy()
        state.update(maps=OrderedDict(), dirty=set(), touched=0)
        return state

    def array(self, i: int) -> np.ndarray:
        """The stored values of shard ``i``, memory-mapped, read-only, ``(n, 256, 3)``."""
        hit = self.maps.get(i)
        if hit is not None:
            self.maps.move_to_end(i)
            return hit[1]
        path = self.root / self.files[i]
        n = int(self.counts[i])
        with open(path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                reader = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = reader(fh)
            except ValueError as exc:
                raise ValueError(f"{path}: not a valid .npy shard: {exc}") from None
            offset = fh.tell()
            want = (n, SEGMENT_LENGTH, _CHANNELS)
            if tuple(shape) != want or fortran or np.dtype(dtype) != self.dtype:
                raise ValueError(
                    f"{path}: shard holds {np.dtype(dtype)} {tuple(shape)}, the manifest expects "
                    f"{self.dtype} {want}: the corpus is damaged"
                )
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
            mm.madvise(mmap.MADV_RANDOM)
        arr = np.frombuffer(
            mm, dtype=self.dtype, count=n * SEGMENT_LENGTH * _CHANNELS, offset=offset
        )
        arr = arr.reshape(want)
        self.maps[i] = (mm, arr)
        while len(self.maps) > self.max_open:
            self.maps.popitem(last=False)  # unmapped once no gathered view refers to it
        return arr

    def release(self) -> None:
        """Drop the pages gathered from this process's memory (they stay in the page cache)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for i in self.dirty:
                hit = self.maps.get(i)
                if hit is not None:
                    with contextlib.suppress(OSError, ValueError):
                        hit[0].madvise(mmap.MADV_DONTNEED)
        self.dirty.clear()
        self.touched = 0

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), 256, 3)`` float32 in g for global segment numbers ``rows``."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((rows.size, SEGMENT_LENGTH, _CHANNELS), dtype=np.float32)
        if rows.size == 0:
            return out
        shard = np.searchsorted(self.first, rows, side="right") - 1
        order = np.argsort(shard, kind="stable")
        s_sorted = shard[order]
        cuts = np.flatnonzero(np.diff(s_sorted)) + 1
        # a page fault may map much more than the row (fault-around; recent kernels map whole
        # large page-cache folios, ~1 MiB per random row measured on Linux 6.18): count 2 MiB
        # per row, so that the resident mapped pages stay within about release_bytes
        cost = 2 << 20
        step = max(1, self.release_bytes // cost)
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, rows.size], strict=True):
            i = int(s_sorted[a])
            arr = self.array(i)
            for c in range(a, b, step):
                sel = order[c : min(b, c + step)]
                out[sel] = arr[rows[sel] - self.first[i]]
                self.dirty.add(i)
                self.touched += sel.size * cost
                if self.touched >= self.release_bytes:
                    self.release()
        if self.scale != 1:
            out *= self.scale
        return out

    def close(self) -> None:
        self.maps.clear()


class _CorpusX:
    """``corpus.x``: indexable like an ``(N, 256, 3)`` float32 array, gathering from disk."""

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, store: _ShardStore, rows: np.ndarray | None, n: int) -> None:
        self._store = store
        self._rows = rows
        self._n = n

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self._n, SEGMENT_LENGTH, _CHANNELS)

    def __len__(self) -> int:
        return self._n

    def _positions(self, key: Any) -> tuple[np.ndarray, bool]:
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -self._n <= i < self._n:
                raise IndexError(f"index {i} out of range for {self._n} segments")
            return np.array([i % self._n]), True
        if isinstance(key, slice):
            return np.arange(self._n)[key], False
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (self._n,):
                raise IndexError(f"boolean index of shape {idx.shape}, expected ({self._n},)")
            return np.flatnonzero(idx), False
        if idx.size == 0:
            return idx.astype(np.int64), False
        if not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"corpus.x takes integers, slices or masks, got {idx.dtype}")
        if idx.min() < -self._n or idx.max() >= self._n:
            raise IndexError(f"index out of range for {self._n} segments")
        return np.where(idx < 0, idx + self._n, idx), False

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        pos, scalar = self._positions(key)
        shape = pos.shape
        flat = pos.reshape(-1).astype(np.int64)
        rows = flat if self._rows is None else self._rows[flat]
        out = self._store.gather(rows).reshape((*shape, SEGMENT_LENGTH, _CHANNELS))
        if scalar:
            out = out[0]
        if rest:
            out = out[(slice(None), *rest)] if not scalar else out[rest]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"<corpus segments {self.shape} float32, memory-mapped>"


@dataclass
class _Index:
    user: np.ndarray  # (N,) int32 codes into users
    recording: np.ndarray  # (N,) int32 codes into recordings
    start_s: np.ndarray  # (N,) float64
    users: tuple[str, ...]
    recordings: tuple[str, ...]


class Corpus:
    """A prepared corpus, read with bounded memory; a drop-in for :class:`Segments` in training.

    Open with :meth:`Corpus.open`. Signals stay on disk: ``x[idx]`` gathers the requested
    segments from the memory-mapped shards (grouped by shard, vectorised) and returns float32 in
    g. Users and recordings are integer codes into the sorted names :attr:`user_names` and
    :attr:`recording_names`, so ``np.unique`` and :class:`~relcon.data.sampling.CandidateSampler`
    work on :attr:`user` directly and code order is name order. Use :func:`user_names` (or
    :meth:`present_users`) for the names of the users present.

    Attributes
    ----------
    root : pathlib.Path
        Corpus folder.
    manifest : dict
        The parsed ``corpus.json``.
    label_names : tuple
        Always empty (a pretraining corpus is unlabelled).
    """

    label_names: tuple[str, ...] = ()

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        store: _ShardStore,
        index: _Index,
        rows: np.ndarray | None = None,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._store = store
        self._index = index
        self._rows = rows
        self._n = len(index.user) if rows is None else int(rows.size)
        self._cache: dict[str, np.ndarray] = {}

    # ---- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        max_open_shards: int = 256,
        release_bytes: int = 64 << 20,
    ) -> Corpus:
        """Open a corpus folder, validating the manifest and the size of every shard.

        Parameters
        ----------
        path : path-like
            Corpus folder.
        max_open_shards : int
            Shards memory-mapped at once (each holds a file descriptor).
        release_bytes : int
            Drop the pages touched by gathering from this process's resident memory after
            about this many bytes were read.

        Raises
        ------
        FileNotFoundError
            If the folder is not a corpus or a listed file is missing.
        ValueError
            If the manifest is damaged or of another version, or a shard or index part does
            not have the size the manifest records (e.g. a truncated copy); the message names
            the file.
        """
        root = Path(path).expanduser()
        m = _read_manifest(root)
        _check_files(root, m)
        if m.get("pending"):
            p = m["pending"]
            logger.warning(
                "%s: a prepare was interrupted while writing %s; the corpus holds what was "
                "committed (rerun prepare to finish)",
                root,
                p["path"],
            )
        n = int(sum(s["segments"] for s in m["shards"]))
        index = cls._load_cache(root, m, n)
        if index is None:
            logger.warning("%s: index cache missing or stale; reading the index parts", root)
            users, recs = _names(m)
            arrays = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.float64))
            _fill_index(root, m, users, recs, *arrays)
            index = _Index(*arrays, tuple(users), tuple(recs))
        store = _ShardStore(
            root,
            m["shards"],
            _STORAGE[m["storage"]],
            float(m["scale"]),
            max_open_shards,
            release_bytes,
        )
        return cls(root, m, store, index)

    @staticmethod
    def _load_cache(root: Path, m: dict[str, Any], n: int) -> _Index | None:
        cache = root / "index" / "cache"
        try:
            meta = json.loads((cache / "meta.json").read_text())
            if meta.get("shards_sha1") != _shards_fingerprint(m) or meta.get("segments") != n:
                return None
            names = json.loads((cache / "names.json").read_text())
            arrays = []
            for name, dtype in (
                ("user", np.int32),
                ("recording", np.int32),
                ("start_s", np.float64),
            ):
                a = np.load(cache / f"{name}.npy", mmap_mode="r" if n else None)
                if a.shape != (n,) or a.dtype != dtype:
                    return None
                arrays.append(a)
        except (OSError, ValueError, KeyError):
            return None
        return _Index(*arrays, tuple(names["users"]), tuple(names["recordings"]))

    def close(self) -> None:
        """Unmap the shards (a closed corpus reopens them on the next gather)."""
        self._store.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the Segments interface ---------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (
            f"Corpus({str(self.root)!r}, segments={self._n}, users={len(self.present_users())}, "
            f"storage={self.storage})"
        )

    def _column(self, name: str) -> np.ndarray:
        full = getattr(self._index, name)
        if self._rows is None:
            return full
        if name not in self._cache:
            self._cache[name] = np.asarray(full[self._rows])
        return self._cache[name]

    @property
    def x(self) -> _CorpusX:
        """Segments as an indexable ``(N, 256, 3)`` float32 object (``x[int_array]``)."""
        return _CorpusX(self._store, self._rows, self._n)

    @property
    def user(self) -> np.ndarray:
        """``(N,)`` int32 user codes into :attr:`user_names` (memory-mapped when not a subset)."""
        return self._column("user")

    @property
    def recording(self) -> np.ndarray:
        """``(N,)`` int32 recording codes into :attr:`recording_names`."""
        return self._column("recording")

    @property
    def start_s(self) -> np.ndarray:
        """``(N,)`` float64 start time of each segment on its recording's clock."""
        return self._column("start_s")

    @property
    def label(self) -> np.ndarray:
        """``(N,)`` int16, all ``-1`` (a read-only broadcast view: no memory)."""
        return np.broadcast_to(np.int16(-1), (self._n,))

    @property
    def user_names(self) -> tuple[str, ...]:
        """User code -> name, sorted (covers the whole corpus, also for a subset)."""
        return self._index.users

    @property
    def recording_names(self) -> tuple[str, ...]:
        """Recording code -> id, sorted."""
        return self._index.recordings

    @property
    def storage(self) -> str:
        return str(self.manifest["storage"])

    @property
    def stride_s(self) -> float:
        return float(self.manifest["stride_s"])

    @property
    def summary(self) -> dict[str, Any]:
        """The manifest's summary (whole corpus, not this subset)."""
        return dict(self.manifest["summary"])

    def present_users(self) -> list[str]:
        """Sorted names of the users that have segments in this (sub)set."""
        codes = np.unique(self.user)
        return [self._index.users[int(c)] for c in codes]

    def user_of(self, idx: np.ndarray | Sequence[int]) -> np.ndarray:
        """User names of segments ``idx`` as a string array."""
        names = np.asarray(self._index.users, dtype=str)
        return names[self.user[np.asarray(idx, dtype=np.int64)]]

    def time_block(self, block_seconds: float) -> np.ndarray:
        """Time block codes per user, with the semantics of :meth:`Segments.time_block`.

        Parameters
        ----------
        block_seconds : float
            Block length; ``<= 0`` or infinite gives one block per user.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` int64 codes ``0 .. n_blocks - 1`` unique per (user, block), numbered in
            sorted (user name, block) order. Computed from the index only.
        """
        user = np.asarray(self.user)
        if user.size == 0:
            return np.zeros(0, dtype=np.int64)
        _, ucode = np.unique(user, return_inverse=True)
        ucode = ucode.reshape(-1).astype(np.int64)
        bs = float(block_seconds)
        if not np.isfinite(bs) or bs <= 0:
            return ucode
        block = np.floor(np.asarray(self.start_s) / bs).astype(np.int64)
        b0 = int(block.min())
        span = int(block.max()) - b0 + 1
        if (int(ucode.max()) + 1) * span < 2**62:
            key = ucode * span + (block - b0)
            codes = np.unique(key, return_inverse=True)[1]
        else:  # pragma: no cover - astronomically long clocks
            codes = np.unique(np.stack([ucode, block], axis=1), axis=0, return_inverse=True)[1]
        return codes.reshape(-1).astype(np.int64)

    def subset(self, mask_or_index: np.ndarray | Sequence[int] | slice) -> Corpus:
        """A lazy view of the segments selected by a boolean mask, indices or a slice."""
        if isinstance(mask_or_index, slice):
            sel = np.arange(self._n)[mask_or_index]
        else:
            sel = np.asarray(mask_or_index)
            if sel.dtype == bool:
                if sel.shape != (self._n,):
                    raise ValueError(
                        f"Corpus.subset: boolean mask has shape {sel.shape}, expected ({self._n},)"
                    )
                sel = np.flatnonzero(sel)
            elif sel.size == 0:
                sel = sel.astype(np.int64)
            elif not np.issubdtype(sel.dtype, np.integer):
                raise ValueError(
                    f"Corpus.subset: expected a boolean mask or integer indices, got {sel.dtype}"
                )
            elif sel.min() < -self._n or sel.max() >= self._n:
                raise IndexError(f"Corpus.subset: index out of range for {self._n} segments")
            sel = np.where(sel < 0, sel + self._n, sel).astype(np.int64)
        rows = sel if self._rows is None else self._rows[sel]
        return Corpus(self.root, self.manifest, self._store, self._index, rows)

    def shard_array(self, i: int) -> np.ndarray:
        """The raw stored values of shard ``i`` (memory-mapped, read-only, storage dtype)."""
        return self._store.array(i)

    def to_segments(self, idx: np.ndarray | Sequence[int] | None = None) -> Segments:
        """Load segments ``idx`` (all when None) into an in-memory :class:`Segments`."""
        sel = np.arange(self._n) if idx is None else np.asarray(idx, dtype=np.int64)
        users = np.asarray(self._index.users, dtype=str)
        recs = np.asarray(self._index.recordings, dtype=str)
        return Segments(
            x=self.x[sel],
            user=users[self.user[sel]] if sel.size else np.zeros(0, dtype="<U1"),
            recording=recs[self.recording[sel]] if sel.size else np.zeros(0, dtype="<U1"),
            start_s=self.start_s[sel],
            label=np.full(sel.size, -1, dtype=np.int16),
            label_names=(),
        )


def user_names(segs: Segments | Corpus) -> list[str]:
    """Sorted names of the users present in ``segs`` (a :class:`Segments` or a :class:`Corpus`).

    Use this instead of ``sorted({str(u) for u in segs.user})``: a corpus stores user codes,
    and iterating over a billion of them in Python would take hours.
    """
    if isinstance(segs, Corpus):
        return segs.present_users()
    return [str(u) for u in np.unique(np.asarray(segs.user).astype(str))]


def _matches(user: str, wanted: set[str]) -> bool:
    # as relcon.data.datasets: "ds:1600" matches "ds:1600" and "1600"
    return user in wanted or user.split(":", 1)[-1] in wanted


def corpus_segments(cfg: DataConfig) -> Corpus:
    """Open the corpus ``cfg.source`` and keep ``cfg.users`` minus ``cfg.exclude_users``.

    ``cfg.stride_s`` cannot change a prepared corpus; a different value is reported with a
    warning and ignored.

    Raises
    ------
    ValueError
        If requested users are not in the corpus.
    """
    corpus = Corpus.open(cfg.source)
    if abs(float(cfg.stride_s) - corpus.stride_s) > 1e-9:
        logger.warning(
            "%s: data.stride_s=%s is ignored: the corpus was prepared with stride_s=%s",
            cfg.source,
            cfg.stride_s,
            corpus.stride_s,
        )
    names = corpus.user_names
    keep = np.ones(len(names), dtype=bool)
    if cfg.users is not None:
        wanted = {str(u) for u in cfg.users}
        keep &= np.array([_matches(u, wanted) for u in names], dtype=bool)
        found = {u for u, k in zip(names, keep, strict=True) if k}
        found |= {u.split(":", 1)[-1] for u in found}
        missing = sorted(wanted - found)
        if missing:
            raise ValueError(f"requested users not found in the corpus {cfg.source}: {missing}")
    if cfg.exclude_users:
        banned = {str(u) for u in cfg.exclude_users}
        keep &= ~np.array([_matches(u, banned) for u in names], dtype=bool)
    if keep.all():
        return corpus
    return corpus.subset(keep[np.asarray(corpus.user)])
