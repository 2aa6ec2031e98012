"""What every reader returns: :class:`Recording`, and :class:`ReadReport`, what it read and left out.

A :class:`Recording` satisfies the package's input contract: tri-axial acceleration in g,
uniformly sampled at 100 Hz, float32, with optional per-sample integer labels (``-1`` =
unlabelled). The readers of :mod:`relcon.data.datasets` produce them; :mod:`relcon.data.windowing`
cuts them into windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ReadReport", "Recording"]


@dataclass
class Recording:
    """One uniformly sampled, gap-free recording in the package's input contract.

    Attributes
    ----------
    user : str
        Dataset-qualified subject id, e.g. ``"wisdm_watch:1600"``, ``"spsw:s01"``,
        ``"hapt:1"``.
    recording : str
        Unique id, e.g. ``"wisdm_watch:1600:A:0"`` (the last field is the piece index after
        gap splits).
    x : numpy.ndarray
        ``(T, 3)`` float32 acceleration in g, uniform at ``fs``.
    fs : float
        Sampling rate in Hz (100.0 after the readers' standardisation).
    start_s : float
        Start time in seconds on the recording's own clock (device clock for WISDM, Unix
        seconds for spsw, sample index / 50 for HAPT, the file's clock for CSV).
    labels : numpy.ndarray or None
        ``(T,)`` int16 per-sample class codes, ``-1`` = unlabelled.
    label_names : tuple of str
        Code -> name.
    source : str
        Path of the file it came from.
    """

    user: str
    recording: str
    x: np.ndarray
    fs: float
    start_s: float
    labels: np.ndarray | None
    label_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds (``T / fs``)."""
        return len(self) / self.fs


@dataclass
class ReadReport:
    """What a reader read, produced and left out.

    Pass an instance to a reader's ``report`` argument; the reader fills it in.

    Attributes
    ----------
    dataset : str
        Name of the reader / data set.
    source : str
        Folder or file that was read.
    n_files : int
        Number of data files read.
    n_rows : int
        Number of raw sample rows read.
    n_recordings : int
        Number of recordings returned.
    n_samples_out : int
        Total samples returned (at 100 Hz).
    n_gaps_split : int
        Number of gaps longer than ``max_gap_s`` at which recordings were split.
    dropped : dict
        Reason -> count of what was removed (rows, or pieces for the ``*_pieces`` reasons).
    details : list of dict
        Per-block information (native rate, duplicates, gaps), one entry per uniform block.
    notes : list of str
        Free-text remarks (e.g. reordered blocks).
    """

    dataset: str = ""
    source: str = ""
    n_files: int = 0
    n_rows: int = 0
    n_recordings: int = 0
    n_samples_out: int = 0
    n_gaps_split: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int) -> None:
        """Add ``n`` to the count of items dropped for ``reason`` (no-op when ``n == 0``)."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def add_pieces(
        self, stats: dict[str, Any], details: dict[str, Any] | None = None, extra: tuple = ()
    ) -> None:
        """Accumulate the statistics returned by :func:`relcon.data.signal.to_uniform_pieces`.

        With ``details`` (what the file or block was: subject, activity, rows, ...), also list
        it in :attr:`details` followed by its sampling rates, duplicates and gap splits and the
        ``extra`` statistics named."""
        self.n_gaps_split += int(stats.get("n_gaps_split", 0))
        self.drop("duplicate_timestamp_rows", int(stats.get("n_duplicates_dropped", 0)))
        self.drop("too_short_pieces", int(stats.get("n_pieces_dropped_short", 0)))
        self.drop("too_short_piece_samples", int(stats.get("n_samples_dropped_short", 0)))
        if details is not None:
            keys = ("fs_estimated", "fs_native", "n_duplicates_dropped", "n_gaps_split", *extra)
            self.details.append({**details, **{k: stats[k] for k in keys}})

    def summary(self) -> str:
        """One-line human-readable summary."""
        return (
            f"{self.dataset} ({self.source}): {self.n_files} files, {self.n_rows} rows -> "
            f"{self.n_recordings} recordings, {self.n_samples_out} samples at 100 Hz; "
            f"{self.n_gaps_split} gap splits; dropped {self.dropped or 'nothing'}"
        )
