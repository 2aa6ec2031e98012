"""Cut uniform recordings into fixed-length segments (2.56 s = 256 samples at 100 Hz).

:func:`window_recordings` turns a list of :class:`relcon.data.recording.Recording` into a
:class:`Segments` container holding the windows with their user, recording, absolute start
time and label. Windows never cross recordings.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    from relcon.data.recording import Recording

__all__ = ["SEGMENT_LENGTH", "Segments", "window_labels", "window_recordings"]

#: Samples per model segment (2.56 s at 100 Hz).
SEGMENT_LENGTH = 256

_NPZ_FORMAT = 1


def _as_str_array(values: Sequence[str] | np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"Segments: {name} has shape {arr.shape}, expected ({n},)")
    if arr.dtype.kind not in ("U", "O"):
        raise ValueError(f"Segments: {name} must hold strings, got dtype {arr.dtype}")
    return arr.astype(str)


@dataclass
class Segments:
    """A set of fixed-length windows with their metadata.

    Attributes
    ----------
    x : numpy.ndarray
        ``(N, L, C)`` float32 windows (``(N, 256, 3)`` in g at 100 Hz by default).
    user : numpy.ndarray
        ``(N,)`` dataset-qualified user ids (unicode strings).
    recording : numpy.ndarray
        ``(N,)`` recording ids.
    start_s : numpy.ndarray
        ``(N,)`` float64 absolute start time of each window on its recording's clock.
    label : numpy.ndarray
        ``(N,)`` int16 class code, ``-1`` = unlabelled or mixed.
    label_names : tuple of str
        Code -> name.
    """

    x: np.ndarray
    user: np.ndarray
    recording: np.ndarray
    start_s: np.ndarray
    label: np.ndarray
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float32)
        if self.x.ndim != 3:
            raise ValueError(f"Segments: x must have shape (N, L, C), got {self.x.shape}")
        n = self.x.shape[0]
        self.user = _as_str_array(self.user, n, "user")
        self.recording = _as_str_array(self.recording, n, "recording")
        self.start_s = np.asarray(self.start_s, dtype=np.float64)
        if self.start_s.shape != (n,):
            raise ValueError(f"Segments: start_s has shape {self.start_s.shape}, expected ({n},)")
        self.label = np.asarray(self.label).astype(np.int16, copy=False)
        if self.label.shape != (n,):
            raise ValueError(f"Segments: label has shape {self.label.shape}, expected ({n},)")
        self.label_names = tuple(str(s) for s in self.label_names)
        if n and (self.label.min() < -1 or self.label.max() >= len(self.label_names)):
            raise ValueError(
                f"Segments: labels must lie in [-1, {len(self.label_names) - 1}], found "
                f"[{self.label.min()}, {self.label.max()}]"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @classmethod
    def empty(
        cls, length: int = SEGMENT_LENGTH, channels: int = 3, label_names: Sequence[str] = ()
    ) -> Segments:
        """Return a container with no windows."""
        return cls(
            x=np.zeros((0, length, channels), dtype=np.float32),
            user=np.zeros(0, dtype="<U1"),
            recording=np.zeros(0, dtype="<U1"),
            start_s=np.zeros(0),
            label=np.zeros(0, dtype=np.int16),
            label_names=tuple(label_names),
        )

    def subset(self, mask_or_index: np.ndarray | Sequence[int] | slice) -> Segments:
        """Return the windows selected by a boolean mask, an index array or a slice.

        Parameters
        ----------
        mask_or_index : array-like or slice
            Boolean mask of length N, or integer indices.

        Returns
        -------
        Segments
            A new container (arrays are copies, except for slices).
        """
        sel: np.ndarray | slice
        if isinstance(mask_or_index, slice):
            sel = mask_or_index
        else:
            sel = np.asarray(mask_or_index)
            if sel.dtype == bool:
                if sel.shape != (len(self),):
                    raise ValueError(
                        f"Segments.subset: boolean mask has shape {sel.shape}, "
                        f"expected ({len(self)},)"
                    )
            elif sel.size == 0:
                sel = sel.astype(np.int64)
            elif not np.issubdtype(sel.dtype, np.integer):
                raise ValueError(
                    f"Segments.subset: expected a boolean mask or integer indices, got {sel.dtype}"
                )
        return Segments(
            x=self.x[sel],
            user=self.user[sel],
            recording=self.recording[sel],
            start_s=self.start_s[sel],
            label=self.label[sel],
            label_names=self.label_names,
        )

    def time_block(self, block_seconds: float) -> np.ndarray:
        """Group windows into time blocks per user.

        Parameters
        ----------
        block_seconds : float
            Block length in seconds. Windows of the same user whose ``floor(start_s /
            block_seconds)`` agree share a code. ``block_seconds <= 0`` or infinite gives one
            block per user.

        Returns
        -------
        numpy.ndarray
            ``(N,)`` int64 codes ``0 .. n_blocks - 1``, unique per (user, block), numbered in
            sorted (user, block) order.
        """
        _, user_code = np.unique(self.user, return_inverse=True)
        user_code = user_code.reshape(-1).astype(np.int64)
        bs = float(block_seconds)
        if not np.isfinite(bs) or bs <= 0:
            return user_code
        block = np.floor(self.start_s / bs).astype(np.int64)
        pairs = np.stack([user_code, block], axis=1)
        if len(pairs) == 0:
            return np.zeros(0, dtype=np.int64)
        _, codes = np.unique(pairs, axis=0, return_inverse=True)
        return codes.reshape(-1).astype(np.int64)

    def save_npz(self, path: str | os.PathLike[str], compress: bool = False) -> None:
        """Write the windows to ``path`` atomically (temporary file + ``os.replace``).

        Parameters
        ----------
        path : path-like
            Destination file; written exactly at this path (no suffix is added).
        compress : bool
            Use ``numpy.savez_compressed``.
        """
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        saver = np.savez_compressed if compress else np.savez
        try:
            with os.fdopen(fd, "wb") as fh:
                saver(
                    fh,
                    format_version=np.int64(_NPZ_FORMAT),
                    x=self.x,
                    user=self.user.astype(str),
                    recording=self.recording.astype(str),
                    start_s=self.start_s,
                    label=self.label,
                    label_names=np.asarray(self.label_names, dtype=str),
                )
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load_npz(cls, path: str | os.PathLike[str]) -> Segments:
        """Load windows written by :meth:`save_npz`.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If a field is missing.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: segments file not found")
        with np.load(p, allow_pickle=False) as z:
            needed = ("x", "user", "recording", "start_s", "label", "label_names")
            missing = [k for k in needed if k not in z.files]
            if missing:
                raise ValueError(f"{p}: not a Segments file, missing arrays {missing}")
            names = z["label_names"]
            return cls(
                x=z["x"],
                user=z["user"],
                recording=z["recording"],
                start_s=z["start_s"],
                label=z["label"],
                label_names=tuple(names.tolist()) if names.size else (),
            )

    @classmethod
    def concat(cls, parts: Sequence[Segments]) -> Segments:
        """Concatenate containers that share ``label_names`` and window shape.

        Raises
        ------
        ValueError
            If ``parts`` is empty or the parts disagree on label names or window shape.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("Segments.concat: nothing to concatenate")
        names = parts[0].label_names
        shape = parts[0].x.shape[1:]
        for i, p in enumerate(parts[1:], start=1):
            if p.label_names != names:
                raise ValueError(
                    f"Segments.concat: part {i} has label_names {p.label_names}, part 0 has {names}"
                )
            if p.x.shape[1:] != shape:
                raise ValueError(
                    f"Segments.concat: part {i} has windows of shape {p.x.shape[1:]}, "
                    f"part 0 has {shape}"
                )
        return cls(
            x=np.concatenate([p.x for p in parts], axis=0),
            user=np.concatenate([p.user for p in parts]),
            recording=np.concatenate([p.recording for p in parts]),
            start_s=np.concatenate([p.start_s for p in parts]),
            label=np.concatenate([p.label for p in parts]),
            label_names=names,
        )


def window_labels(
    labels: np.ndarray,
    n_classes: int,
    length: int = SEGMENT_LENGTH,
    stride: int = SEGMENT_LENGTH,
    min_label_fraction: float = 1.0,
) -> np.ndarray:
    """Label each window of a per-sample label sequence by majority.

    A window's label is its most frequent class if that class covers at least
    ``min_label_fraction`` of the window's samples (unlabelled samples, ``-1``, count against
    it); otherwise ``-1``. Ties go to the smaller code (only possible when
    ``min_label_fraction <= 0.5``).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(T,)`` integer codes in ``[-1, n_classes - 1]``.
    n_classes : int
        Number of classes.
    length, stride : int
        Window length and step in samples.
    min_label_fraction : float
        Required share of the majority class, in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray
        ``(n_windows,)`` int16, with ``n_windows = (T - length) // stride + 1`` (0 if
        ``T < length``).
    """
    if not 0 < min_label_fraction <= 1:
        raise ValueError(f"min_label_fraction must lie in (0, 1], got {min_label_fraction}")
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {lab.shape}")
    if lab.shape[0] < length:
        return np.zeros(0, dtype=np.int16)
    if lab.size and (lab.min() < -1 or lab.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [-1, {n_classes - 1}], found [{lab.min()}, {lab.max()}]"
        )
    win = sliding_window_view(lab.astype(np.int64) + 1, length)[::stride]  # 0 = unlabelled
    n_win = win.shape[0]
    k = n_classes + 1
    flat = (np.arange(n_win, dtype=np.int64)[:, None] * k + win).ravel()
    counts = np.bincount(flat, minlength=n_win * k).reshape(n_win, k)[:, 1:]
    if n_classes == 0:
        return np.full(n_win, -1, dtype=np.int16)
    best = counts.argmax(axis=1)
    best_count = counts[np.arange(n_win), best]
    # Integer comparison avoids floating-point trouble at min_label_fraction = 1.0.
    ok = (best_count > 0) & (best_count >= np.ceil(min_label_fraction * length - 1e-9))
    return np.where(ok, best, -1).astype(np.int16)


def window_recordings(
    recordings: Sequence[Recording],
    length: int = SEGMENT_LENGTH,
    stride: int = SEGMENT_LENGTH,
    min_label_fraction: float = 1.0,
    *,
    expected_fs: float | None = 100.0,
) -> Segments:
    """Cut recordings into fixed-length windows.

    Each recording of ``T`` samples yields ``(T - length) // stride + 1`` windows starting at
    samples ``0, stride, 2 * stride, ...`` (none if ``T < length``); windows never cross
    recordings. Window labels follow :func:`window_labels`; recordings without labels give
    ``-1``.

    Parameters
    ----------
    recordings : sequence of Recording
        Uniform recordings that share ``label_names`` (and ``fs``).
    length, stride : int
        Window length and step in samples (256 = 2.56 s at 100 Hz).
    min_label_fraction : float
        Share of a window that its majority class must cover to label the window.
    expected_fs : float, optional
        Required sampling rate of every recording (the package contract is 100 Hz); None
        accepts any common rate.

    Returns
    -------
    Segments
        Windows in recording order. ``start_s`` is ``recording.start_s + start / fs``.

    Raises
    ------
    ValueError
        On bad parameters, recordings with a different rate, different label names, a
        non-2-D signal, or labels of the wrong length or range.
    """
    if int(length) != length or length < 1 or int(stride) != stride or stride < 1:
        raise ValueError(f"length and stride must be positive integers, got {length}, {stride}")
    length, stride = int(length), int(stride)
    if not 0 < min_label_fraction <= 1:
        raise ValueError(f"min_label_fraction must lie in (0, 1], got {min_label_fraction}")
    recs = list(recordings)
    if not recs:
        return Segments.empty(length, 3)
    names = tuple(recs[0].label_names)
    channels = np.asarray(recs[0].x).shape[-1]
    fs0 = float(recs[0].fs)
    xs: list[np.ndarray] = []
    users: list[np.ndarray] = []
    rec_ids: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    labs: list[np.ndarray] = []
    for r in recs:
        where = f"recording {r.recording!r} ({r.source})"
        if tuple(r.label_names) != names:
            raise ValueError(
                f"{where}: label_names {tuple(r.label_names)} differ from {names} of the first "
                "recording; window data sets with different label sets separately"
            )
        if expected_fs is not None and float(r.fs) != float(expected_fs):
            raise ValueError(f"{where}: sampling rate {r.fs} Hz, expected {expected_fs} Hz")
        if float(r.fs) != fs0:
            raise ValueError(f"{where}: sampling rate {r.fs} Hz differs from {fs0} Hz")
        x = np.asarray(r.x)
        if x.ndim != 2 or x.shape[1] != channels:
            raise ValueError(f"{where}: x has shape {x.shape}, expected (T, {channels})")
        n = x.shape[0]
        if r.labels is not None and np.shape(r.labels) != (n,):
            raise ValueError(f"{where}: labels have shape {np.shape(r.labels)}, expected ({n},)")
        if n < length:
            continue
        win = sliding_window_view(x, length, axis=0)[::stride]  # (n_win, C, length)
        n_win = win.shape[0]
        xs.append(np.ascontiguousarray(win.transpose(0, 2, 1), dtype=np.float32))
        users.append(np.full(n_win, r.user, dtype=object))
        rec_ids.append(np.full(n_win, r.recording, dtype=object))
        starts.append(float(r.start_s) + np.arange(n_win, dtype=np.float64) * stride / float(r.fs))
        if r.labels is None:
            labs.append(np.full(n_win, -1, dtype=np.int16))
        else:
            try:
                labs.append(window_labels(r.labels, len(names), length, stride, min_label_fraction))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
    if not xs:
        return Segments.empty(length, channels, names)
    return Segments(
        x=np.concatenate(xs, axis=0),
        user=np.concatenate(users).astype(str),
        recording=np.concatenate(rec_ids).astype(str),
        start_s=np.concatenate(starts),
        label=np.concatenate(labs),
        label_names=names,
    )
