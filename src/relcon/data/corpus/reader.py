"""Reading a corpus back: :class:`Corpus`, memory-mapped, with the interface of
:class:`~relcon.data.windowing.Segments`, and :func:`corpus_segments` for a
:class:`~relcon.config.DataConfig`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from relcon.data.corpus.store import (
    _CHANNELS,
    _STORAGE,
    _check_files,
    _fill_index,
    _names,
    _read_manifest,
    _shards_fingerprint,
    _verify_sha256,
)
from relcon.data.windowing import SEGMENT_LENGTH, Segments
from relcon.io import Closing

if TYPE_CHECKING:
    from relcon.config import DataConfig

__all__ = ["Corpus", "corpus_segments", "user_names"]

logger = logging.getLogger(__name__)


class _ShardStore:
    """Memory-mapped shards: gathers rows, keeps at most ``max_open`` maps and drops pages.

    With ``verify``, a shard's bytes are checked against the SHA-256 that the manifest records
    the first time this process maps it (one sequential read of the shard, then never again:
    the verified shards are remembered across unmapping and in pickled copies).
    """

    def __init__(
        self,
        root: Path,
        shards: list[dict[str, Any]],
        dtype: np.dtype,
        scale: float,
        max_open: int,
        release_bytes: int,
        verify: bool = True,
    ) -> None:
        self.root = root
        self.records = shards
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
        self.verify = verify
        self.verified: set[int] = set()

    def check(self, i: int) -> None:
        """Verify shard ``i``'s checksum (once per process); a ValueError names a damaged one."""
        if self.verify and i not in self.verified:
            _verify_sha256(self.root / self.files[i], self.records[i], "shard")
            self.verified.add(i)

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
        self.check(i)
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


class Corpus(Closing):
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
        verify: bool = True,
    ) -> Corpus:
        """Open a corpus folder, validating the manifest and the size of every shard.

        Opening reads the manifest and the index only. Each shard's bytes are checked against
        the SHA-256 recorded in the manifest when the shard is first read (mapped) by this
        process: a whole-shard sequential read, once, not per window (see
        ``benchmarks/corpus_checksum.py`` for its cost). :meth:`verify` checks them all now.

        Parameters
        ----------
        path : path-like
            Corpus folder.
        max_open_shards : int
            Shards memory-mapped at once (each holds a file descriptor).
        release_bytes : int
            Drop the pages touched by gathering from this process's resident memory after
            about this many bytes were read.
        verify : bool
            Check each shard's checksum the first time it is read (a manifest without a
            shard's checksum is refused at open).

        Raises
        ------
        FileNotFoundError
            If the folder is not a corpus or a listed file is missing.
        ValueError
            If the manifest is damaged or of another version, or a shard or index part does
            not have the size the manifest records (e.g. a truncated copy); the message names
            the file. Later, reading a shard whose bytes changed raises a ValueError naming
            the shard.
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
            verify,
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

    def verify(self) -> None:
        """Check every shard's checksum now (a sequential read of the whole corpus).

        Raises
        ------
        ValueError
            Naming the first shard whose bytes differ from what ``prepare`` wrote.
        """
        store = self._store
        for i, record in enumerate(store.records):
            _verify_sha256(store.root / store.files[i], record, "shard")
            store.verified.add(i)

    def close(self) -> None:
        """Unmap the shards (a closed corpus reopens them on the next gather)."""
        self._store.close()

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
