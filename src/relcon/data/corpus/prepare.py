"""``relcon prepare``: turn a folder of raw recordings into a corpus folder, resumably.

See :mod:`relcon.data.corpus` for what it does and the layout it writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relcon.config import spell
from relcon.data.corpus.inputs import _collect_inputs, _Input, open_input
from relcon.data.corpus.quality import WINDOW_RULES, QualityRules, _quantize, flag_windows
from relcon.data.corpus.store import (
    _CHANNELS,
    _LOCK_NAME,
    _STORAGE,
    INPUT_COUNTS,
    INT16_SCALE,
    MANIFEST_NAME,
    SPOOL_PREFIX,
    _build_cache,
    _check_files,
    _discard_stray_manifests,
    _discard_uncommitted,
    _exclusive_lock,
    _kill_point,
    _new_manifest,
    _part_file,
    _read_manifest,
    _shard_file,
    _summarize,
    _write_json,
    _write_part,
    _write_shard,
)
from relcon.data.signal import TARGET_FS, normalize_units
from relcon.data.stream.options import WindowOptions
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.progress import BytesBar, progress_bar

__all__ = ["CorpusSummary", "prepare_corpus"]

logger = logging.getLogger(__name__)

#: How the windows of a recording are placed (a corpus setting: corpora whose windows were
#: placed otherwise are not appended to): every ``stride_s`` from the recording's first time
#: stamp, on its own clock (:mod:`relcon.data.stream`).
WINDOW_GRID = "recording"


@dataclass
class _Processed:
    """One input's kept segments, waiting in a spool file to be written into shards."""

    spool: Path  # (n, 256, 3) segments in the storage dtype, raw bytes in order
    start_s: np.ndarray  # (n,) float64
    entry: dict[str, Any]  # manifest record of the input

    @property
    def n(self) -> int:
        return int(self.start_s.shape[0])

    def discard(self) -> None:
        self.spool.unlink(missing_ok=True)


def _new_spool(out: Path) -> tuple[Path, Any]:
    """A new spool file in ``out/shards`` (a name that :func:`_discard_uncommitted` removes
    when a killed run left it), open for writing."""
    folder = out / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, suffix=".tmp", dir=folder)
    return Path(name), os.fdopen(fd, "wb")


def _process_input(
    inp: _Input, cfg: dict[str, Any], out: Path, tick: Callable[[int], None] | None = None
) -> _Processed:
    """Stream one input file through the quality rules into a spool of encoded segments.

    Only the segments' start times stay in memory; ``tick(bytes read)`` follows the input (both
    passes over a ``.cwa`` file: :attr:`~relcon.data.corpus.inputs.Input.bytes_to_read`). On
    any failure the spool is removed, so nothing of the input is left behind.
    """
    rules: QualityRules = cfg["window"].rules
    dtype = _STORAGE[cfg["storage"]]
    by_rule = dict.fromkeys(WINDOW_RULES, 0)
    starts: list[np.ndarray] = []
    saturated = 0
    spool: Path | None = None
    try:
        with open_input(inp, cfg["window"], tick) as it:
            spool, fh = _new_spool(out)
            with fh:
                for b in it:
                    reason = flag_windows(b.x, rules, cfg["drop_flat"], cfg["drop_clipped"])
                    for code, name in enumerate(WINDOW_RULES, start=1):
                        by_rule[name] += int(np.count_nonzero(reason == code))
                    keep = reason == 0
                    if keep.any():
                        q, sat = _quantize(b.x if keep.all() else b.x[keep], cfg["storage"])
                        fh.write(np.ascontiguousarray(q, dtype=dtype).data)
                        saturated += sat
                        starts.append(b.start_s[keep])
                    if tick is not None:
                        tick(it.progress()[0])
    except BaseException:
        if spool is not None:
            spool.unlink(missing_ok=True)
        raise
    assert spool is not None
    s = it.summary
    start_s = np.concatenate(starts) if starts else np.zeros(0)
    dropped = {"gap": s.dropped["gap"], "nonwear": s.dropped["nonwear"], **by_rule}
    entry = {
        "path": str(inp.path),
        "format": inp.fmt,
        "user": inp.user,
        "recording": inp.recording,
        "size": inp.size,
        "mtime_ns": inp.mtime_ns,
        "units": s.units,
        "segments": int(start_s.shape[0]),
        "first_segment": -1,
        "hours": s.data_s / 3600.0,
        **{k: int(getattr(s, k)) for k in INPUT_COUNTS},
        "pieces": s.pieces,
        "windows_grid": s.windows_grid,
        "windows_empty": s.windows_empty,
        "dropped": dict(sorted(dropped.items())),
        "saturated_values": saturated,
    }
    return _Processed(spool, start_s, entry)


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
        Windows of the inputs' grids that hold data but were not stored, by reason: ``gap``
        (cut by a gap), ``nonwear``, ``flat``, ``clipped``.
    rows, duplicate_rows, nan_rows : int
        Input rows read, and rows removed for a repeated time stamp or (device files) a
        missing value.
    gaps : int
        Intervals longer than ``max_gap_s`` that split a recording.
    short_pieces : int
        Gap-free stretches too short to hold one window (256 samples at 100 Hz).
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
    rows: int
    duplicate_rows: int
    nan_rows: int
    gaps: int
    short_pieces: int
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
        drops = ", ".join(f"{k}={v}" for k, v in self.dropped.items() if v) or "none"
        return (
            f"{self.path}: {self.users} users, {self.recordings} recordings, {self.segments} "
            f"segments ({self.segment_hours:.1f} h) in {self.shards} shards; this run: "
            f"{len(self.processed)} inputs processed, {len(self.skipped_existing)} already "
            f"present, {len(self.failed)} failed, {self.segments_added} segments added in "
            f"{self.wall_s:.1f} s; from {self.rows} rows ({self.hours:.1f} h of data, "
            f"{self.gaps} gaps, {self.short_pieces} stretches too short for a window; rows "
            f"removed: duplicate_rows={self.duplicate_rows}, nan_rows={self.nan_rows}); "
            f"windows dropped: {drops}; {self.users_single_segment} users with a single "
            f"segment; {self.saturated_values} values saturated"
        )


def _read_into(fh: Any, dest: np.ndarray, path: Path) -> None:
    """Fill the C-contiguous ``dest`` with the next bytes of ``fh`` (a spool file)."""
    view = memoryview(dest).cast("B")
    got = 0
    while got < view.nbytes:
        n = fh.readinto(view[got:])
        if not n:
            raise OSError(f"{path}: spool file ends early ({got} of {view.nbytes} bytes read)")
        got += n


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
        """Append ``proc``'s segments from ``skip`` on (those before were committed by an
        interrupted run), copying them from its spool a shard's free space at a time."""
        entry = proc.entry
        n = proc.n
        if skip:
            pend = self.pending
            if pend is None or self.n_buf or self.n_written != pend["first_segment"] + skip:
                raise RuntimeError(f"{self.out}: corpus bookkeeping mismatch for {entry['path']}")
            if n < skip:
                raise ValueError(
                    f"{entry['path']}: yields {n} segments now but {skip} were written before the "
                    "interruption: the file or the software changed; prepare again with "
                    f"{spell('overwrite', True)}"
                )
            entry["first_segment"] = pend["first_segment"]
        else:
            entry["first_segment"] = self.n_written + self.n_buf
        self.failed.pop(entry["path"], None)
        pos, total, staged = skip, n, False
        self.consistent = False
        with open(proc.spool, "rb") as fh:
            fh.seek(skip * self.buf[0].nbytes)
            while pos < total:
                take = min(self.cap - self.n_buf, total - pos)
                sl = slice(self.n_buf, self.n_buf + take)
                _read_into(fh, self.buf[sl], proc.spool)
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
        shard_bytes, shard_sha = _write_shard(self.out / _shard_file(i), self.buf[:n])
        _kill_point("shard")
        part_bytes, part_sha = _write_part(
            self.out / _part_file(i),
            self.buf_user,
            self.buf_rec,
            self.buf_start[:n].copy(),
            float(self.m["block_seconds"]),
            i,
        )
        self.shards.append(
            {"file": _shard_file(i), "segments": n, "bytes": shard_bytes, "sha256": shard_sha}
        )
        self.parts.append(
            {"file": _part_file(i), "rows": n, "bytes": part_bytes, "sha256": part_sha}
        )
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
        _kill_point("commit")
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
    _discard_stray_manifests(out)
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
        Show progress bars: inputs done, and bytes of the inputs read (it moves within a long
        file; a ``.cwa`` file counts twice, its calibration pass and its reading).
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
    if units is not None:
        units = normalize_units(units, "prepare_corpus")
    rules = rules if rules is not None else QualityRules()
    window = WindowOptions(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, drop_nonwear=drop_nonwear,
        rules=rules,
    )  # fmt: skip
    window.check()
    settings = {
        "segment_length": SEGMENT_LENGTH,
        "channels": _CHANNELS,
        "fs": TARGET_FS,
        "storage": storage,
        "scale": INT16_SCALE if storage == "int16" else 1.0,
        "shard_segments": int(shard_segments),
        "stride_s": float(stride_s),
        "max_gap_s": float(max_gap_s),
        "window_grid": WINDOW_GRID,
        "block_seconds": float(block_seconds),
        "user_from": user_from,
        "drop_nonwear": bool(drop_nonwear),
        "drop_flat": bool(drop_flat),
        "drop_clipped": bool(drop_clipped),
        "rules": rules.to_dict(),
    }
    cfg = {
        "window": window,  # its rules are the flat and clipped rules too
        "storage": storage,
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
                was = ", ".join(_spell_setting(k, m.get(k)) for k in diff)
                now = ", ".join(_spell_setting(k, settings[k]) for k in diff)
                raise ValueError(
                    f"{out}: the corpus was prepared with {was}; this call asks for {now}. Use the "
                    f"same settings to add inputs, or a new output folder (or "
                    f"{spell('overwrite', True)})"
                )
        else:
            _discard_stray_manifests(out)  # a run killed while writing its first manifest
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
            with (
                progress_bar(todo, enabled=progress, desc="prepare", unit="file") as bar,
                BytesBar(
                    (inp.bytes_to_read for inp, _ in todo), desc="read", enabled=progress
                ) as read,
            ):
                for inp, skip in bar:
                    try:
                        proc = _process_input(inp, cfg, out, read.at)
                        _kill_point("input")
                    except (ValueError, OSError) as exc:
                        if on_error == "raise":
                            raise
                        msg = str(exc)
                        logger.warning("skipped (%s): %s", spell("on_error", "skip"), msg)
                        writer.fail(str(inp.path), msg)
                        failed.append((str(inp.path), msg))
                        continue
                    finally:
                        read.file_done(inp.bytes_to_read)
                    try:
                        writer.add(proc, skip)
                    finally:
                        proc.discard()
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
        **{k: s[k] for k in INPUT_COUNTS},
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


#: Corpus settings the caller chooses (the others follow from the software or the rules).
_USER_SETTINGS = frozenset(
    {"storage", "shard_segments", "stride_s", "max_gap_s", "block_seconds", "user_from"}
    | {"drop_nonwear", "drop_flat", "drop_clipped"}
)


def _spell_setting(key: str, value: Any) -> str:
    """A corpus setting as the user writes it (:func:`relcon.config.spell`)."""
    return spell(key, value) if key in _USER_SETTINGS else f"{key}={value!r}"


def _plan(
    out: Path, inputs: list[_Input], writer: _Writer
) -> tuple[list[tuple[_Input, int]], list[str]]:
    """Order the work: the pending input first, then the new ones; skip unchanged ones."""
    seen: dict[str, Path] = {}
    for inp in inputs:
        if inp.recording in seen:
            raise ValueError(
                f"two inputs give the recording id {inp.recording!r}: {seen[inp.recording]} and "
                f"{inp.path}; rename one, or use {spell('user_from', 'parent')}"
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
                f"{spell('overwrite', True)} to rebuild the corpus"
            )
        if pend is not None and pend["recording"] == inp.recording:
            if (pend["size"], pend["mtime_ns"]) != (inp.size, inp.mtime_ns):
                raise ValueError(
                    f"{inp.path}: an interrupted prepare wrote {pend['committed_segments']} "
                    "segments of this recording and the file has changed since: use "
                    f"{spell('overwrite', True)} or a new output folder"
                )
            pend_inp = inp
            continue
        todo.append((inp, 0))
    if pend is not None:
        if pend_inp is None:
            raise ValueError(
                f"{out}: an interrupted prepare left {pend['path']} (recording "
                f"{pend['recording']!r}) partly written ({pend['committed_segments']} segments); "
                f"rerun with that input included to finish it, or use {spell('overwrite', True)}"
            )
        todo.insert(0, (pend_inp, int(pend["committed_segments"])))
    return todo, skipped
