"""The on-disk format of a corpus: constants, manifest, shards, index parts and the index cache.

See :mod:`relcon.data.corpus` for the layout of a corpus folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from relcon.data.signal import TARGET_FS
from relcon.data.windowing import SEGMENT_LENGTH
from relcon.io import atomic_path, read_json_object

try:  # POSIX only; elsewhere concurrent writers are not detected
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["CORPUS_FORMAT", "CORPUS_FORMAT_VERSION", "INT16_SCALE", "MANIFEST_NAME", "is_corpus"]

logger = logging.getLogger(__name__)

#: Value of the manifest's ``format`` field.
CORPUS_FORMAT = "relcon-corpus"
#: Version of the on-disk layout written by this module.
CORPUS_FORMAT_VERSION = 1
#: g per int16 step (+-16 g full scale).
INT16_SCALE = 1.0 / 2048.0

MANIFEST_NAME = "corpus.json"
_LOCK_NAME = ".prepare.lock"
_CHANNELS = 3
_STORAGE = {"int16": np.dtype("<i2"), "float16": np.dtype("<f2")}
_SHARD_RE = re.compile(r"^shard-(\d{6,})\.npy$")
_PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")
#: Test hook: ``POINT:N`` makes the process SIGKILL itself the N-th time it reaches ``POINT``
#: (see :func:`_kill_point`), so that tests can interrupt ``prepare`` deterministically.
KILL_ENV = "RELCON_TEST_KILL_AT"
_kill_counts: dict[str, int] = {}
_HASH_CHUNK = 1 << 20
#: Name prefix of the temporary file that holds one input's segments in ``shards/`` until
#: they are written into shards (a ``.tmp`` name: :func:`_discard_uncommitted` removes one
#: that a killed run left).
SPOOL_PREFIX = ".spool-"
#: What reading an input counted, recorded per input in the manifest and summed in its
#: summary, under the names of :class:`relcon.data.stream.WindowSummary`: input rows read,
#: rows removed for a repeated time stamp or (device files) a missing value, gaps that split
#: the recording, and gap-free stretches too short to hold a window.
INPUT_COUNTS = ("rows", "duplicate_rows", "nan_rows", "gaps", "short_pieces")


def _kill_point(name: str) -> None:
    """SIGKILL this process at the N-th visit of ``name`` when ``$RELCON_TEST_KILL_AT=name:N``.

    For tests only: it simulates a power cut at a precise point of ``prepare``. The points are
    ``input`` (an input read into its spool file, nothing of it in a shard), ``shard-write``
    (a shard's temporary file holds its header only), ``shard`` (a shard renamed into place,
    its index part not yet written), ``manifest-write`` (the manifest's temporary file written,
    not yet renamed), ``commit`` (a manifest renamed into place) and ``cache`` (the index cache
    half rebuilt).
    """
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    point, _, count = spec.rpartition(":")
    if point != name:
        return
    _kill_counts[name] = _kill_counts.get(name, 0) + 1
    if _kill_counts[name] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)


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
        if path.name == MANIFEST_NAME:
            _kill_point("manifest-write")


class _HashingWriter:
    """A write-only file object that hashes (SHA-256) what it writes to ``fh``."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.writes = 0

    def write(self, b: Any) -> int:
        self.sha.update(b)
        n = self.fh.write(b)
        self.writes += 1
        if self.writes == 1:  # the header is on disk, the data not yet
            _kill_point("shard-write")
        return n


def _write_shard(path: Path, arr: np.ndarray) -> tuple[int, str]:
    """Write ``arr`` as ``.npy`` atomically; returns its size in bytes and its SHA-256 (hex)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        w = _HashingWriter(fh)
        np.lib.format.write_array(w, arr, allow_pickle=False)  # type: ignore[arg-type]
    return path.stat().st_size, w.sha.hexdigest()


def _file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks (bounded memory)."""
    sha = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            sha.update(view[:n])
    return sha.hexdigest()


def _verify_sha256(path: Path, record: dict[str, Any], what: str) -> None:
    """Raise a ValueError naming ``path`` if its bytes differ from the manifest's ``sha256``."""
    want = record["sha256"]  # present: _check_files refuses a manifest without it
    got = _file_sha256(path)
    if got != want:
        raise ValueError(
            f"{path}: {what} is damaged: its bytes changed since it was written (SHA-256 "
            f"{got[:16]}..., {MANIFEST_NAME} records {want[:16]}...); restore it from a good "
            "copy or prepare the corpus again"
        )


def _write_part(
    path: Path,
    users: list[str],
    recordings: list[str],
    start_s: np.ndarray,
    block_seconds: float,
    shard: int,
) -> tuple[int, str]:
    """Write one index part atomically; returns its size in bytes and its SHA-256 (hex)."""
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
    return path.stat().st_size, _file_sha256(path)


def _summarize(m: dict[str, Any]) -> dict[str, Any]:
    per_user: dict[str, int] = {}
    recordings: set[str] = set()
    dropped: dict[str, int] = {}
    hours = 0.0
    saturated = 0
    empty = 0
    counts = dict.fromkeys(INPUT_COUNTS, 0)
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
        for k in INPUT_COUNTS:
            counts[k] += int(e[k])
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
        **counts,
        "users_single_segment": sum(1 for c in per_user.values() if c == 1),
        "inputs": len(m["inputs"]),
        "inputs_without_segments": empty,
        "inputs_failed": len(m.get("failed_inputs", [])),
        "saturated_values": saturated,
        "interrupted": pend is not None,
    }


def _new_manifest(settings: dict[str, Any]) -> dict[str, Any]:
    from relcon._version import __version__

    m: dict[str, Any] = {
        "format": CORPUS_FORMAT,
        "format_version": CORPUS_FORMAT_VERSION,
        "relcon_version": __version__,
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
    m = read_json_object(path, "a relcon corpus manifest")
    if m.get("format") != CORPUS_FORMAT:
        raise ValueError(f"{path}: not a relcon corpus manifest (format {m.get('format')!r})")
    version = m.get("format_version")
    if version != CORPUS_FORMAT_VERSION:
        raise ValueError(
            f"{path}: corpus format version {version}, this relcon reads version "
            f"{CORPUS_FORMAT_VERSION}; upgrade relcon or prepare the corpus again"
        )
    return m


def _check_files(root: Path, m: dict[str, Any]) -> None:
    """Every committed shard and part exists with the size the manifest records, and has a
    recorded checksum."""
    for rec, what in [(s, "shard") for s in m["shards"]] + [(p, "index part") for p in m["parts"]]:
        p = root / rec["file"]
        if "sha256" not in rec:
            raise ValueError(
                f"{p}: {MANIFEST_NAME} records no SHA-256 for this {what}, so it cannot be "
                "checked; prepare the corpus again with this relcon (relcon prepare)"
            )
        if not p.is_file():
            raise FileNotFoundError(f"{p}: {what} listed in {MANIFEST_NAME} is missing")
        size = p.stat().st_size
        if size != rec["bytes"]:
            raise ValueError(
                f"{p}: {what} is {size} bytes on disk but {MANIFEST_NAME} records "
                f"{rec['bytes']}: it is truncated or damaged; restore it or prepare the corpus "
                "again"
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


def _is_tmp(f: Path) -> bool:
    """A temporary file of :func:`relcon.io.atomic_path` (left behind by a kill)."""
    return f.name.startswith(".") and f.name.endswith(".tmp")


def _discard_stray_manifests(out: Path) -> int:
    """Delete temporary manifests (a run killed while writing one) from ``out``."""
    stray = [f for f in out.glob(f".{MANIFEST_NAME}.*") if _is_tmp(f)]
    for f in stray:
        f.unlink()
    return len(stray)


def _discard_uncommitted(out: Path, m: dict[str, Any]) -> int:
    """Delete shards, parts and temporary files that no commit refers to."""
    n = len(m["shards"])
    removed = _discard_stray_manifests(out)
    for sub, rx in (("shards", _SHARD_RE), ("index", _PART_RE), ("index/cache", None)):
        folder = out / sub
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            hit = rx.match(f.name) if rx is not None else None
            stale = hit is not None and int(hit.group(1)) >= n
            if stale or _is_tmp(f):
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
        _verify_sha256(path, part, "index part")
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
        _kill_point("cache")
    _write_json(cache / "names.json", {"users": users, "recordings": recs})
    _write_json(cache / "meta.json", {"shards_sha1": fp, "segments": n})


def is_corpus(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a corpus folder written by :func:`~relcon.data.corpus.prepare_corpus`."""
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
