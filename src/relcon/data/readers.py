"""Readers for the accelerometry data sets used with RelCon, and for a user's own CSV files.

Every reader returns a list of :class:`Recording` objects that satisfy the package's input
contract: tri-axial acceleration in g, uniformly sampled at 100 Hz, float32, with optional
per-sample integer labels (``-1`` = unlabelled).

Supported data sets (see ``<data root>/<name>/SOURCE.txt`` for provenance and caveats):

* :func:`read_wisdm_watch` - WISDM 2019 smartwatch accelerometer (m/s^2, ~20 Hz, irregular);
* :func:`read_spsw_smartwatch` - Matey-Sanz et al. 2023 smartwatch (m/s^2, ~100 Hz, irregular);
* :func:`read_hapt` - UCI HAPT v2.1 raw waist accelerometer (g, 50 Hz, interval labels);
* :func:`read_ipol_gait` - IPOL 2023 lower-back gait trials (m/s^2, 100 Hz, lost packets), with
  the gait events of :func:`read_ipol_gait_events`;
* :func:`read_oxford_step_count` - Oxford step counter phone accelerometer (m/s^2, 100-405 Hz,
  irregular), with the ground-truth steps of :func:`read_oxford_step_events`;
* :func:`read_accel_csv` - a generic CSV / CSV.gz with a time column and x, y, z columns.

Nothing is dropped silently: each reader accepts an optional :class:`ReadReport` that it fills
with counts of what was read, removed and why, and it logs a summary via :mod:`logging`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.signal import (
    TARGET_FS,
    UniformPiece,
    detect_units,
    normalize_units,
    resample,
    resample_labels,
    to_g,
    to_uniform_pieces,
)

__all__ = [
    "DATA_ROOT_ENV",
    "HAPT_ACTIVITIES6",
    "HAPT_LABEL_INDEX_BASE",
    "IPOL_FS",
    "IPOL_MAX_GAP_S",
    "OXFORD_MAX_GAP_S",
    "OXFORD_POSITIONS",
    "SPSW_LABELS",
    "WISDM_ACTIVITIES",
    "WISDM_HAR6",
    "WISDM_LETTERS",
    "GaitTrial",
    "ReadReport",
    "Recording",
    "StepRecording",
    "default_data_root",
    "read_accel_csv",
    "read_hapt",
    "read_hapt_subject_split",
    "read_ipol_gait",
    "read_ipol_gait_events",
    "read_oxford_step_count",
    "read_oxford_step_events",
    "read_spsw_smartwatch",
    "read_wisdm_watch",
]

logger = logging.getLogger(__name__)

#: Environment variable that points to the data root (the folder holding ``wisdm_watch/`` etc.).
DATA_ROOT_ENV = "RELCON_DATA"

#: WISDM activity letter -> name, as in ``activity_key.txt`` (there is no letter N).
WISDM_ACTIVITIES: dict[str, str] = {
    "A": "walking",
    "B": "jogging",
    "C": "stairs",
    "D": "sitting",
    "E": "standing",
    "F": "typing",
    "G": "teeth",
    "H": "soup",
    "I": "chips",
    "J": "pasta",
    "K": "drinking",
    "L": "sandwich",
    "M": "kicking",
    "O": "catch",
    "P": "dribbling",
    "Q": "writing",
    "R": "clapping",
    "S": "folding",
}

#: The 18 WISDM letters in code order: label code ``i`` is letter ``WISDM_LETTERS[i]``.
WISDM_LETTERS: tuple[str, ...] = tuple(WISDM_ACTIVITIES)

#: The six WISDM activities used for 6-class HAR: walking, jogging, stairs, sitting, standing,
#: kicking.
WISDM_HAR6: tuple[str, ...] = ("A", "B", "C", "D", "E", "M")

#: Per-sample label names of the spsw smartwatch data (code = position).
SPSW_LABELS: tuple[str, ...] = ("SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN")

#: HAPT activity names (code = activity id - 1), as in ``activity_labels.txt``.
HAPT_ACTIVITY_NAMES: tuple[str, ...] = (
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
    "STAND_TO_SIT",
    "SIT_TO_STAND",
    "SIT_TO_LIE",
    "LIE_TO_SIT",
    "STAND_TO_LIE",
    "LIE_TO_STAND",
)

#: Label codes (activity id - 1) of the six basic HAPT activities: WALKING, WALKING_UPSTAIRS,
#: WALKING_DOWNSTAIRS, SITTING, STANDING, LAYING.
HAPT_ACTIVITIES6: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

#: Index base assumed for the start/end sample numbers of HAPT ``labels.txt``: 1-based with an
#: inclusive end (see :func:`read_hapt`).
HAPT_LABEL_INDEX_BASE = 1

HAPT_FS = 50.0
MIN_SAMPLES_100HZ = 256


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

    def add_pieces(self, stats: dict[str, Any]) -> None:
        """Accumulate the statistics returned by :func:`relcon.data.signal.to_uniform_pieces`."""
        self.n_gaps_split += int(stats.get("n_gaps_split", 0))
        self.drop("duplicate_timestamp_rows", int(stats.get("n_duplicates_dropped", 0)))
        self.drop("too_short_pieces", int(stats.get("n_pieces_dropped_short", 0)))
        self.drop("too_short_piece_samples", int(stats.get("n_samples_dropped_short", 0)))

    def summary(self) -> str:
        """One-line human-readable summary."""
        return (
            f"{self.dataset} ({self.source}): {self.n_files} files, {self.n_rows} rows -> "
            f"{self.n_recordings} recordings, {self.n_samples_out} samples at 100 Hz; "
            f"{self.n_gaps_split} gap splits; dropped {self.dropped or 'nothing'}"
        )


# ----------------------------------------------------------------------------------------------
# data root
# ----------------------------------------------------------------------------------------------


def default_data_root() -> Path | None:
    """Locate the folder that holds the data sets.

    Order: the ``RELCON_DATA`` environment variable when set (returned even if it does not
    exist, so that readers can report the bad path); otherwise the first existing
    ``shared/data`` folder found by walking up from this file's location and then from the
    current working directory; otherwise None.

    Returns
    -------
    pathlib.Path or None
        The data root, or None when nothing was found.
    """
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    for start in starts:
        for folder in (start, *start.parents):
            cand = folder / "shared" / "data"
            if cand.is_dir():
                return cand
    return None


def _dataset_dir(root: str | os.PathLike[str] | None, name: str, marker: str) -> Path:
    """Resolve a data set folder: ``root`` itself or ``root/name``; it must contain ``marker``."""
    if root is None:
        base = default_data_root()
        if base is None:
            raise FileNotFoundError(
                f"no data root found for {name!r}: pass root explicitly or set ${DATA_ROOT_ENV}"
            )
        root = base
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: data folder for {name!r} does not exist")
    if (path / marker).exists():
        return path
    if (path / name / marker).exists():
        return path / name
    raise FileNotFoundError(
        f"{path}: expected the {name!r} data set here (a {marker!r} entry in it or in "
        f"{path / name}), found none"
    )


def _finish(report: ReadReport | None, local: ReadReport, recs: list[Recording]) -> None:
    local.n_recordings = len(recs)
    local.n_samples_out = int(sum(len(r) for r in recs))
    logger.info(local.summary())
    if local.dropped:
        logger.warning("%s: dropped %s", local.dataset, local.dropped)
    if report is not None:
        report.__dict__.update(local.__dict__)


def _pieces_to_recordings(
    pieces: list[UniformPiece],
    *,
    user: str,
    prefix: str,
    label_names: tuple[str, ...],
    source: str,
) -> list[Recording]:
    return [
        Recording(
            user=user,
            recording=f"{prefix}:{k}",
            x=np.ascontiguousarray(p.x, dtype=np.float32),
            fs=float(p.fs),
            start_s=float(p.t0_s),
            labels=p.labels,
            label_names=label_names,
            source=source,
        )
        for k, p in enumerate(pieces)
    ]


def _first_true(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


# ----------------------------------------------------------------------------------------------
# WISDM
# ----------------------------------------------------------------------------------------------

_WISDM_FILE = re.compile(r"^data_(\d+)_accel_watch\.txt(\.gz)?$")


def _read_wisdm_key(folder: Path) -> dict[str, str]:
    key_path = folder / "activity_key.txt"
    if not key_path.exists():
        logger.warning("%s missing; using the built-in WISDM activity key", key_path)
        return dict(WISDM_ACTIVITIES)
    key: dict[str, str] = {}
    for lineno, line in enumerate(key_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, letter = line.partition("=")
        if not sep:
            raise ValueError(f"{key_path}: line {lineno} is not 'name = LETTER': {line!r}")
        key[letter.strip()] = name.strip()
    if set(key) != set(WISDM_ACTIVITIES):
        raise ValueError(
            f"{key_path}: activity letters {sorted(key)} differ from the expected "
            f"{sorted(WISDM_ACTIVITIES)}"
        )
    return key


def _read_wisdm_file(path: Path, sid: int) -> pd.DataFrame:
    try:
        df = pd.read_csv(
            path,
            header=None,
            names=["subject", "activity", "t", "x", "y", "z"],
            comment=";",  # every line ends with ';'
            dtype={"activity": str, "x": np.float64, "y": np.float64, "z": np.float64},
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(
            f"{path}: cannot parse as 'subject,activity,timestamp,x,y,z;': {exc}"
        ) from None
    if len(df) == 0:
        raise ValueError(f"{path}: file has no data rows")
    bad = df.isna().any(axis=1).to_numpy()
    if bad.any():
        i = _first_true(bad)
        raise ValueError(f"{path}: row {i + 1} has missing or non-numeric fields")
    subj = df["subject"].to_numpy()
    if not np.all(subj == sid):
        i = _first_true(subj != sid)
        raise ValueError(f"{path}: row {i + 1} has subject {subj[i]}, file name says {sid}")
    letters = df["activity"].astype(str).str.strip()
    unknown = ~letters.isin(list(WISDM_ACTIVITIES)).to_numpy()
    if unknown.any():
        i = _first_true(unknown)
        raise ValueError(f"{path}: row {i + 1} has unknown activity code {letters.iloc[i]!r}")
    df["activity"] = letters
    df["t"] = df["t"].astype(np.int64)
    return df


def read_wisdm_watch(
    root: str | os.PathLike[str] | None = None,
    subjects: Iterable[int | str] | None = None,
    activities: Iterable[str] | None = None,
    max_gap_s: float = 0.5,
    *,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the WISDM 2019 smartwatch accelerometer files.

    Expects ``raw/watch/accel/data_<SID>_accel_watch.txt[.gz]`` under ``root`` (the
    ``wisdm_watch`` folder, or the data root that contains it). Format: no header, lines
    ``subject,activity,timestamp_ns,x,y,z;`` in m/s^2 on a device clock in nanoseconds.

    Processing, following the data set's caveats:

    * rows are grouped by (subject, activity) first, because files are sorted by activity and
      timestamps jump between blocks; a block whose timestamps are not increasing is sorted
      (stable) and noted in the report;
    * timestamps that occur under more than one activity of the same subject (subject 1649:
      1,160 rows present as both M and O with identical timestamps and x, y, z) are dropped in
      *all* copies, since they cannot be trusted for either label;
    * exact duplicate timestamps within a block (e.g. subject 1629, if present) keep the first
      row;
    * each block is regularized at its own native rate (``1 / median(dt)`` rounded to an
      integer: ~20 Hz for most blocks, ~100 Hz for blocks dominated by 10 ms bursts), split at
      gaps longer than ``max_gap_s`` and resampled to 100 Hz with a polyphase filter.

    Parameters
    ----------
    root : path-like, optional
        The ``wisdm_watch`` folder or the data root; :func:`default_data_root` when None.
    subjects : iterable of int or str, optional
        Subject ids (e.g. ``1600``) to read; all files when None. Requesting a subject without
        a file raises FileNotFoundError.
    activities : iterable of str, optional
        Activity letters to keep (e.g. :data:`WISDM_HAR6`); all 18 when None.
    max_gap_s : float
        Gaps longer than this split a block into separate recordings.
    report : ReadReport, optional
        Filled with counts of what was read and dropped.

    Returns
    -------
    list of Recording
        One per (subject, activity, gap-free piece), in subject then letter order. ``user`` is
        ``"wisdm_watch:<SID>"``, ``recording`` is ``"wisdm_watch:<SID>:<letter>:<piece>"``,
        ``labels`` hold the activity code (index into :data:`WISDM_LETTERS`) for every sample,
        ``start_s`` is on the device clock in seconds.

    Raises
    ------
    FileNotFoundError
        If the folder or requested subject files are missing.
    ValueError
        On malformed files or unknown activity letters.
    """
    folder = _dataset_dir(root, "wisdm_watch", "raw/watch/accel")
    accel_dir = folder / "raw" / "watch" / "accel"
    files: dict[int, Path] = {}
    for p in sorted(accel_dir.iterdir()):
        m = _WISDM_FILE.match(p.name)
        if m:
            files.setdefault(int(m.group(1)), p)
    if not files:
        raise FileNotFoundError(f"{accel_dir}: no data_<SID>_accel_watch.txt[.gz] files found")
    if subjects is not None:
        wanted = sorted({int(s) for s in subjects})
        missing = [s for s in wanted if s not in files]
        if missing:
            raise FileNotFoundError(
                f"{accel_dir}: no accelerometer file for subject(s) {missing}; "
                f"available: {sorted(files)}"
            )
        files = {s: files[s] for s in wanted}
    letters_wanted = list(WISDM_LETTERS)
    if activities is not None:
        acts = [str(a).strip().upper() for a in activities]
        bad = [a for a in acts if a not in WISDM_ACTIVITIES]
        if bad:
            raise ValueError(
                f"{folder}: unknown WISDM activity letter(s) {bad}; expected {list(WISDM_LETTERS)}"
            )
        letters_wanted = [a for a in WISDM_LETTERS if a in set(acts)]
    key = _read_wisdm_key(folder)
    label_names = tuple(key[a] for a in WISDM_LETTERS)
    code_of = {a: i for i, a in enumerate(WISDM_LETTERS)}

    local = ReadReport(dataset="wisdm_watch", source=str(folder))
    recs: list[Recording] = []
    for sid, path in files.items():
        df = _read_wisdm_file(path, sid)
        local.n_files += 1
        local.n_rows += len(df)
        # Timestamps shared by different activities of one subject: drop all copies.
        per_act = df.drop_duplicates(["t", "activity"])
        shared_t = per_act.loc[per_act.duplicated("t", keep=False), "t"].unique()
        if shared_t.size:
            mask = df["t"].isin(shared_t).to_numpy()
            n_shared = int(mask.sum())
            acts_involved = sorted(df.loc[mask, "activity"].unique())
            local.drop("cross_activity_duplicate_rows", n_shared)
            local.notes.append(
                f"{path}: dropped {n_shared} rows whose timestamps occur under several "
                f"activities {acts_involved}"
            )
            df = df.loc[~mask]
        for letter, block in df.groupby("activity", sort=True):
            letter = str(letter)
            if letter not in letters_wanted:
                continue
            t_ns = block["t"].to_numpy()
            if np.any(np.diff(t_ns) < 0):
                order = np.argsort(t_ns, kind="stable")
                block = block.iloc[order]
                t_ns = t_ns[order]
                local.notes.append(f"{path}: activity {letter} rows were not in time order")
            t_s = t_ns.astype(np.float64) * 1e-9
            xyz = to_g(block[["x", "y", "z"]].to_numpy(dtype=np.float64), "m/s^2", str(path))
            lab = np.full(len(block), code_of[letter], dtype=np.int16)
            src = f"{path} [subject {sid}, activity {letter}]"
            pieces, stats = to_uniform_pieces(
                t_s, xyz, lab, fs_out=TARGET_FS, max_gap_s=max_gap_s, source=src
            )
            local.add_pieces(stats)
            local.details.append(
                {
                    "subject": sid,
                    "activity": letter,
                    "n_rows": len(block),
                    "duration_s": float(t_s[-1] - t_s[0]),
                    "fs_estimated": stats["fs_estimated"],
                    "fs_native": stats["fs_native"],
                    "n_duplicates_dropped": stats["n_duplicates_dropped"],
                    "n_gaps_split": stats["n_gaps_split"],
                    "n_pieces": stats["n_pieces"],
                }
            )
            recs.extend(
                _pieces_to_recordings(
                    pieces,
                    user=f"wisdm_watch:{sid}",
                    prefix=f"wisdm_watch:{sid}:{letter}",
                    label_names=label_names,
                    source=str(path),
                )
            )
    _finish(report, local, recs)
    return recs


# ----------------------------------------------------------------------------------------------
# spsw smartwatch
# ----------------------------------------------------------------------------------------------

_SPSW_FILE = re.compile(r"^(s\d+)_(\d+)_sw\.csv(\.gz)?$")
_SPSW_COLUMNS = ("x_acc", "y_acc", "z_acc", "timestamp", "label")


def _spsw_subject(s: int | str) -> str:
    if isinstance(s, int | np.integer):
        return f"s{int(s):02d}"
    text = str(s).strip().lower()
    if text.isdigit():
        return f"s{int(text):02d}"
    return text


def read_spsw_smartwatch(
    root: str | os.PathLike[str] | None = None,
    subjects: Iterable[int | str] | None = None,
    max_gap_s: float = 0.5,
    *,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the Matey-Sanz et al. (2023) smartwatch accelerometer executions.

    Expects ``DATA/sXX/sXX_YY_sw.csv[.gz]`` under ``root`` (the ``spsw_smartwatch`` folder, or
    the data root that contains it). Columns are read by name: ``x_acc, y_acc, z_acc`` (m/s^2),
    ``timestamp`` (Unix epoch milliseconds) and ``label`` (one of :data:`SPSW_LABELS`).
    Duplicate timestamps (dt = 0) keep the first row; the irregular ~100 Hz samples are
    regularized at the estimated native rate (100 Hz for every file of the release) and
    resampled to 100 Hz.

    Parameters
    ----------
    root : path-like, optional
        The ``spsw_smartwatch`` folder or the data root; :func:`default_data_root` when None.
    subjects : iterable of int or str, optional
        Subjects to read, as ``"s01"`` or ``1``; all when None.
    max_gap_s : float
        Gaps longer than this split an execution (none occur in the release; max dt 58 ms).
    report : ReadReport, optional
        Filled with counts of what was read and dropped.

    Returns
    -------
    list of Recording
        One per execution piece; ``user`` is ``"spsw:sXX"``, ``recording`` is
        ``"spsw:sXX:YY:<piece>"``, ``start_s`` is Unix time in seconds.

    Raises
    ------
    FileNotFoundError
        If the folder or requested subjects are missing.
    ValueError
        On missing columns, NaNs, unknown labels or timestamps going backwards.
    """
    folder = _dataset_dir(root, "spsw_smartwatch", "DATA")
    data_dir = folder / "DATA"
    files: dict[str, list[tuple[str, Path]]] = {}
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for p in sorted(sub.iterdir()):
            m = _SPSW_FILE.match(p.name)
            if m:
                if m.group(1) != sub.name:
                    raise ValueError(f"{p}: file name subject {m.group(1)} != folder {sub.name}")
                files.setdefault(sub.name, []).append((m.group(2), p))
    if not files:
        raise FileNotFoundError(f"{data_dir}: no sXX/sXX_YY_sw.csv[.gz] files found")
    if subjects is not None:
        wanted = sorted({_spsw_subject(s) for s in subjects})
        missing = [s for s in wanted if s not in files]
        if missing:
            raise FileNotFoundError(
                f"{data_dir}: no smartwatch files for subject(s) {missing}; "
                f"available: {sorted(files)}"
            )
        files = {s: files[s] for s in wanted}
    code_of = {name: i for i, name in enumerate(SPSW_LABELS)}

    local = ReadReport(dataset="spsw_smartwatch", source=str(folder))
    recs: list[Recording] = []
    for sid, execs in files.items():
        for exec_id, path in execs:
            try:
                df = pd.read_csv(path, engine="c")
            except pd.errors.EmptyDataError:
                raise ValueError(f"{path}: file is empty") from None
            missing_cols = [c for c in _SPSW_COLUMNS if c not in df.columns]
            if missing_cols:
                raise ValueError(
                    f"{path}: missing column(s) {missing_cols}; found {list(df.columns)}"
                )
            if len(df) == 0:
                raise ValueError(f"{path}: file has no data rows")
            num = df[["x_acc", "y_acc", "z_acc", "timestamp"]].apply(pd.to_numeric, errors="coerce")
            bad = num.isna().any(axis=1).to_numpy() | df["label"].isna().to_numpy()
            if bad.any():
                i = _first_true(bad)
                raise ValueError(
                    f"{path}: data row {i + 1} (file line {i + 2}) has missing or non-numeric values"
                )
            labels_str = df["label"].astype(str).str.strip()
            unknown = ~labels_str.isin(list(SPSW_LABELS)).to_numpy()
            if unknown.any():
                i = _first_true(unknown)
                raise ValueError(
                    f"{path}: data row {i + 1} has unknown label {labels_str.iloc[i]!r}; "
                    f"expected one of {list(SPSW_LABELS)}"
                )
            lab = labels_str.map(code_of).to_numpy(dtype=np.int16)
            t_s = num["timestamp"].to_numpy(dtype=np.float64) * 1e-3
            xyz = to_g(num[["x_acc", "y_acc", "z_acc"]].to_numpy(dtype=np.float64), "m/s^2")
            local.n_files += 1
            local.n_rows += len(df)
            pieces, stats = to_uniform_pieces(
                t_s, xyz, lab, fs_out=TARGET_FS, max_gap_s=max_gap_s, source=str(path)
            )
            local.add_pieces(stats)
            local.details.append(
                {
                    "subject": sid,
                    "execution": exec_id,
                    "n_rows": len(df),
                    "fs_estimated": stats["fs_estimated"],
                    "fs_native": stats["fs_native"],
                    "n_duplicates_dropped": stats["n_duplicates_dropped"],
                    "n_gaps_split": stats["n_gaps_split"],
                }
            )
            recs.extend(
                _pieces_to_recordings(
                    pieces,
                    user=f"spsw:{sid}",
                    prefix=f"spsw:{sid}:{exec_id}",
                    label_names=SPSW_LABELS,
                    source=str(path),
                )
            )
    _finish(report, local, recs)
    return recs


# ----------------------------------------------------------------------------------------------
# HAPT
# ----------------------------------------------------------------------------------------------

_HAPT_FILE = re.compile(r"^acc_exp(\d+)_user(\d+)\.txt(\.gz)?$")


def _read_hapt_activity_names(folder: Path) -> tuple[str, ...]:
    for cand in (folder / "activity_labels.txt", folder / "RawData" / "activity_labels.txt"):
        if cand.exists():
            names: dict[int, str] = {}
            for lineno, line in enumerate(cand.read_text().splitlines(), start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or not parts[0].isdigit():
                    raise ValueError(f"{cand}: line {lineno} is not 'id NAME': {line!r}")
                names[int(parts[0])] = parts[1]
            if sorted(names) != list(range(1, 13)):
                raise ValueError(f"{cand}: expected activity ids 1..12, found {sorted(names)}")
            return tuple(names[i] for i in range(1, 13))
    logger.warning("%s: activity_labels.txt not found; using built-in HAPT names", folder)
    return HAPT_ACTIVITY_NAMES


def _read_hapt_labels(path: Path) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"{path}: HAPT labels file not found")
    try:
        lab = pd.read_csv(path, sep=r"\s+", header=None, engine="c").to_numpy()
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: file is empty") from None
    if lab.ndim != 2 or lab.shape[1] != 5 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(
            f"{path}: expected 5 integer columns 'exp user activity start end' per row, "
            f"got an array of shape {lab.shape} and dtype {lab.dtype}"
        )
    return lab.astype(np.int64)


def read_hapt(
    root: str | os.PathLike[str] | None = None,
    users: Iterable[int] | None = None,
    *,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the UCI HAPT v2.1 raw accelerometer recordings with per-sample labels.

    Expects ``RawData/acc_expXX_userYY.txt[.gz]`` and ``RawData/labels.txt`` under ``root``
    (the ``hapt`` folder, or the data root that contains it), plus ``activity_labels.txt``.
    The signals are in g at 50 Hz without timestamps; they are resampled to 100 Hz with a
    polyphase filter and ``start_s`` is 0 (time = sample index / 50 on the original clock).

    Label intervals: each row of ``labels.txt`` is ``exp user activity start end``. The index
    base is undocumented; this reader treats ``start`` and ``end`` as **1-based sample numbers
    with an inclusive end** (:data:`HAPT_LABEL_INDEX_BASE`), i.e. 0-based rows
    ``start - 1 .. end - 1``. Reasons: consecutive intervals of the release satisfy
    ``next_start == previous_end + 1`` (an inclusive end, otherwise one sample would be
    skipped every time), the README counts them "in number of signal log samples", and the
    data were produced in MATLAB. Every interval then lies inside its file (the largest end is
    at least 631 samples before the end of its file) and a 1-sample shift is immaterial for
    2.56 s windows. Samples covered by no interval (~27%) stay unlabelled (``-1``). Codes are
    ``activity_id - 1`` (0..11), with names from ``activity_labels.txt``; the six basic
    activities are :data:`HAPT_ACTIVITIES6`.

    Parameters
    ----------
    root : path-like, optional
        The ``hapt`` folder or the data root; :func:`default_data_root` when None.
    users : iterable of int, optional
        User ids (1-30) to read; all when None.
    report : ReadReport, optional
        Filled with counts.

    Returns
    -------
    list of Recording
        One per experiment, in experiment order; ``user`` is ``"hapt:<user>"``,
        ``recording`` is ``"hapt:<user>:exp<XX>"``.

    Raises
    ------
    FileNotFoundError
        If files are missing (including an acc file for an experiment listed in labels.txt).
    ValueError
        On malformed files, or label intervals outside their file, overlapping, or with a user
        id that disagrees with the file name.
    """
    folder = _dataset_dir(root, "hapt", "RawData")
    raw = folder / "RawData"
    files: dict[int, tuple[int, Path]] = {}
    for p in sorted(raw.iterdir()):
        m = _HAPT_FILE.match(p.name)
        if m:
            files[int(m.group(1))] = (int(m.group(2)), p)
    if not files:
        raise FileNotFoundError(f"{raw}: no acc_expXX_userYY.txt[.gz] files found")
    labels_path = raw / "labels.txt"
    lab_rows = _read_hapt_labels(labels_path)
    names = _read_hapt_activity_names(folder)
    missing_exp = sorted(set(lab_rows[:, 0].tolist()) - set(files))
    if missing_exp:
        raise FileNotFoundError(
            f"{raw}: labels.txt refers to experiment(s) {missing_exp} without an acc file"
        )
    if users is not None:
        wanted = {int(u) for u in users}
        have = {u for u, _ in files.values()}
        missing_users = sorted(wanted - have)
        if missing_users:
            raise FileNotFoundError(
                f"{raw}: no acc files for user(s) {missing_users}; available: {sorted(have)}"
            )
        files = {e: v for e, v in files.items() if v[0] in wanted}

    local = ReadReport(dataset="hapt", source=str(folder))
    recs: list[Recording] = []
    n_unlabelled = 0
    for exp, (user, path) in sorted(files.items()):
        try:
            x = pd.read_csv(path, sep=r"\s+", header=None, engine="c", dtype=np.float64)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: file is empty") from None
        except ValueError as exc:
            raise ValueError(f"{path}: cannot parse 3 numeric columns: {exc}") from None
        arr = x.to_numpy()
        if arr.shape[1] != 3:
            raise ValueError(f"{path}: expected 3 columns acc_x acc_y acc_z, got {arr.shape[1]}")
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise ValueError(f"{path}: row {_first_true(bad) + 1} has missing/non-finite values")
        n = arr.shape[0]
        lab50 = np.full(n, -1, dtype=np.int16)
        rows = lab_rows[lab_rows[:, 0] == exp]
        rows = rows[np.argsort(rows[:, 3], kind="stable")]
        prev_end = 0
        for _, u, act, start, end in rows.tolist():
            where = f"{labels_path}: row 'exp {exp} user {u} activity {act} {start} {end}'"
            if u != user:
                raise ValueError(f"{where}: user disagrees with file {path.name}")
            if not 1 <= act <= 12:
                raise ValueError(f"{where}: activity id outside 1..12")
            if not (HAPT_LABEL_INDEX_BASE <= start <= end <= n - 1 + HAPT_LABEL_INDEX_BASE):
                raise ValueError(f"{where}: interval outside the {n} samples of {path.name}")
            if start <= prev_end:
                raise ValueError(f"{where}: overlaps the previous interval ending at {prev_end}")
            prev_end = end
            lab50[start - HAPT_LABEL_INDEX_BASE : end - HAPT_LABEL_INDEX_BASE + 1] = act - 1
        n_unlabelled += int(np.sum(lab50 < 0))
        y = resample(arr, HAPT_FS, TARGET_FS, source=str(path)).astype(np.float32)
        lab = resample_labels(lab50, n, HAPT_FS, TARGET_FS, y.shape[0])
        local.n_files += 1
        local.n_rows += n
        local.details.append(
            {"experiment": exp, "user": user, "n_rows": n, "n_unlabelled": int(np.sum(lab50 < 0))}
        )
        recs.append(
            Recording(
                user=f"hapt:{user}",
                recording=f"hapt:{user}:exp{exp:02d}",
                x=np.ascontiguousarray(y),
                fs=TARGET_FS,
                start_s=0.0,
                labels=lab,
                label_names=names,
                source=str(path),
            )
        )
    local.notes.append(f"{n_unlabelled} of {local.n_rows} samples at 50 Hz carry no label (-1)")
    _finish(report, local, recs)
    return recs


def read_hapt_subject_split(
    root: str | os.PathLike[str] | None = None, *, qualified: bool = False
) -> dict[str, tuple[Any, ...]]:
    """Return the standard UCI-HAR subject split from ``hapt/subject_split.csv``.

    Parameters
    ----------
    root : path-like, optional
        The ``hapt`` folder or the data root; :func:`default_data_root` when None.
    qualified : bool
        Return user ids as ``"hapt:<n>"`` strings (matching :attr:`Recording.user`) instead of
        integers.

    Returns
    -------
    dict
        ``{"train": (...), "test": (...)}``, sorted user ids.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If the columns ``subject, split`` are missing or a split is not train/test.
    """
    folder = _dataset_dir(root, "hapt", "RawData")
    path = folder / "subject_split.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: subject split file not found")
    df = pd.read_csv(path)
    if not {"subject", "split"} <= set(df.columns):
        raise ValueError(f"{path}: expected columns 'subject,split', found {list(df.columns)}")
    split = df["split"].astype(str).str.strip().str.lower()
    bad = ~split.isin(["train", "test"]).to_numpy()
    if bad.any():
        i = _first_true(bad)
        raise ValueError(f"{path}: row {i + 1} has split {df['split'].iloc[i]!r}")
    out: dict[str, tuple[Any, ...]] = {}
    for name in ("train", "test"):
        ids = sorted(int(s) for s in df.loc[(split == name).to_numpy(), "subject"])
        out[name] = tuple(f"hapt:{s}" for s in ids) if qualified else tuple(ids)
    return out


# ----------------------------------------------------------------------------------------------
# IPOL 2023 lower-back gait (Voisard et al.)
# ----------------------------------------------------------------------------------------------

#: Sampling rate of the IPOL lower-back XSens sensor (one PacketCounter count per 10 ms).
IPOL_FS = 100.0

#: Default gap threshold of :func:`read_ipol_gait`: intervals of up to 0.1 s between received
#: packets (a PacketCounter step of at most 10, i.e. at most 9 lost packets) are filled by linear
#: interpolation; longer intervals split the trial.
IPOL_MAX_GAP_S = 0.1

_IPOL_SIGNAL_FILE = re.compile(r"^(\d+)-(\d+)_lb\.txt(\.gz)?$")
_IPOL_COLUMNS = ("PacketCounter", "Acc_X", "Acc_Y", "Acc_Z")
_IPOL_RATE_LINE = re.compile(r"Acquisition frequency:\s*([0-9.]+)\s*Hz", re.IGNORECASE)


@dataclass
class GaitTrial:
    """Annotations of one IPOL gait trial (from its ``<S>-<T>.json`` file).

    Every index is a sample number at 100 Hz on the trial's PacketCounter time axis, i.e.
    ``PacketCounter - PacketCounter[0]`` of the lower-back file; index ``i`` is at
    ``i / 100`` seconds, the same clock as :attr:`Recording.start_s` of the recordings that
    :func:`read_ipol_gait` returns for this trial.

    Attributes
    ----------
    key : str
        ``"ipol_gait:<S>:<T>"``; the recordings of this trial have ids ``"<key>:<piece>"``.
    user : str
        ``"ipol_gait:<S>"``.
    subject, trial : int
        Subject (1-19) and trial number.
    fs : float
        100.0.
    trial_bounds : tuple of int
        ``TrialBoundaries`` ``(start, end)``: first toe-off and last heel strike of the walk.
    uturn_bounds : tuple of int
        ``UTurnBoundaries`` ``(start, end)``; steps inside are turning steps.
    left_events, right_events : numpy.ndarray
        ``(n, 2)`` int64 ``[toe_off, heel_strike]`` pairs of each foot, sorted by heel strike.
    age : float
        Age in years (NaN when missing).
    gender : str
        ``"F"`` / ``"M"`` as in the file (empty when missing).
    height_cm, weight_kg : float
        NaN when missing (the JSON files of some subjects hold the bare token ``NaN``).
    source : str
        Path of the JSON file.
    """

    key: str
    user: str
    subject: int
    trial: int
    fs: float
    trial_bounds: tuple[int, int]
    uturn_bounds: tuple[int, int]
    left_events: np.ndarray
    right_events: np.ndarray
    age: float
    gender: str
    height_cm: float
    weight_kg: float
    source: str

    def heel_strikes(self, foot: str = "both") -> np.ndarray:
        """Return the sorted heel-strike indices (ends of the event pairs).

        Parameters
        ----------
        foot : str
            ``"left"``, ``"right"`` or ``"both"`` (merged and sorted).

        Returns
        -------
        numpy.ndarray
            int64 sample indices on the trial's PacketCounter axis.
        """
        if foot == "left":
            return self.left_events[:, 1].copy()
        if foot == "right":
            return self.right_events[:, 1].copy()
        if foot == "both":
            return np.sort(np.concatenate([self.left_events[:, 1], self.right_events[:, 1]]))
        raise ValueError(f"foot must be 'left', 'right' or 'both', got {foot!r}")

    def straight_segments(self) -> list[tuple[int, int]]:
        """Return the two straight-walking index ranges of the trial.

        Returns
        -------
        list of tuple of int
            Half-open ranges ``[trial_start, uturn_start)`` and ``[uturn_end + 1, trial_end + 1)``:
            inside ``TrialBoundaries`` (both ends included) and outside ``UTurnBoundaries``
            (both ends excluded).
        """
        (t0, t1), (u0, u1) = self.trial_bounds, self.uturn_bounds
        return [(t0, u0), (u1 + 1, t1 + 1)]


def _ipol_files(folder: Path, subjects: Iterable[int | str] | None) -> dict[tuple[int, int], Path]:
    data_dir = folder / "GaitData"
    files: dict[tuple[int, int], Path] = {}
    for p in sorted(data_dir.iterdir()):
        m = _IPOL_SIGNAL_FILE.match(p.name)
        if m:
            files.setdefault((int(m.group(1)), int(m.group(2))), p)
    if not files:
        raise FileNotFoundError(f"{data_dir}: no <S>-<T>_lb.txt[.gz] files found")
    if subjects is not None:
        wanted = sorted({int(str(s).strip().rsplit(":", 1)[-1]) for s in subjects})
        have = sorted({s for s, _ in files})
        missing = [s for s in wanted if s not in have]
        if missing:
            raise FileNotFoundError(
                f"{data_dir}: no lower-back files for subject(s) {missing}; available: {have}"
            )
        files = {k: v for k, v in files.items() if k[0] in set(wanted)}
    return dict(sorted(files.items()))


def _json_float(value: Any) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _ipol_pairs(meta: dict[str, Any], key: str, path: Path) -> np.ndarray:
    raw = meta.get(key)
    if raw is None:
        raise ValueError(f"{path}: missing key {key!r}")
    arr = np.asarray(raw, dtype=np.float64).reshape(-1, 2) if len(raw) else np.zeros((0, 2))
    if not np.isfinite(arr).all() or np.any(arr != np.round(arr)):
        raise ValueError(f"{path}: {key} must hold integer [toe_off, heel_strike] pairs")
    ev = arr.astype(np.int64)
    if np.any(ev < 0):
        raise ValueError(f"{path}: {key} has a negative sample index")
    if np.any(ev[:, 0] > ev[:, 1]):
        i = _first_true(ev[:, 0] > ev[:, 1])
        raise ValueError(
            f"{path}: {key} pair {i} has toe-off {ev[i, 0]} after heel strike {ev[i, 1]}"
        )
    return ev[np.argsort(ev[:, 1], kind="stable")]


def _read_ipol_json(path: Path, subject: int, trial: int) -> GaitTrial:
    try:
        meta = json.loads(path.read_text())  # accepts the bare NaN tokens of some files
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: cannot parse JSON: {exc}") from None
    if int(meta.get("Subject", subject)) != subject or int(meta.get("Trial", trial)) != trial:
        raise ValueError(
            f"{path}: Subject/Trial {meta.get('Subject')}/{meta.get('Trial')} disagree with the "
            f"file name ({subject}-{trial})"
        )
    bounds = []
    for key in ("TrialBoundaries", "UTurnBoundaries"):
        val = meta.get(key)
        if val is None or len(val) != 2:
            raise ValueError(f"{path}: {key} must be [start, end], got {val!r}")
        a, b = int(val[0]), int(val[1])
        if not 0 <= a <= b:
            raise ValueError(f"{path}: {key} {val!r} is not an increasing pair of indices")
        bounds.append((a, b))
    (t0, t1), (u0, u1) = bounds
    if not t0 <= u0 <= u1 <= t1:
        raise ValueError(
            f"{path}: UTurnBoundaries {bounds[1]} not inside TrialBoundaries {bounds[0]}"
        )
    gender = meta.get("Gender")
    return GaitTrial(
        key=f"ipol_gait:{subject}:{trial}",
        user=f"ipol_gait:{subject}",
        subject=subject,
        trial=trial,
        fs=IPOL_FS,
        trial_bounds=bounds[0],
        uturn_bounds=bounds[1],
        left_events=_ipol_pairs(meta, "LeftFootEvents", path),
        right_events=_ipol_pairs(meta, "RightFootEvents", path),
        age=_json_float(meta.get("Age")),
        gender=gender if isinstance(gender, str) else "",
        height_cm=_json_float(meta.get("Height")),
        weight_kg=_json_float(meta.get("Weight")),
        source=str(path),
    )


def read_ipol_gait_events(
    root: str | os.PathLike[str] | None = None,
    subjects: Iterable[int | str] | None = None,
) -> dict[str, GaitTrial]:
    """Read the gait annotations of the IPOL 2023 lower-back data set.

    Parameters
    ----------
    root : path-like, optional
        The ``ipol_gait`` folder or the data root; :func:`default_data_root` when None.
    subjects : iterable of int or str, optional
        Subjects (``3``, ``"3"`` or ``"ipol_gait:3"``) to read; all when None.

    Returns
    -------
    dict of str to GaitTrial
        Keyed by trial key ``"ipol_gait:<S>:<T>"`` (the recording id of
        :func:`read_ipol_gait` without its last ``":<piece>"`` field), in (subject, trial)
        order.

    Raises
    ------
    FileNotFoundError
        If the folder, a requested subject or a trial's JSON file is missing.
    ValueError
        On malformed JSON: Subject/Trial disagreeing with the file name, bad boundaries or
        event pairs with a toe-off after the heel strike.
    """
    folder = _dataset_dir(root, "ipol_gait", "GaitData")
    out: dict[str, GaitTrial] = {}
    for (sid, trial), sig in _ipol_files(folder, subjects).items():
        path = sig.parent / f"{sid}-{trial}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: annotation file of {sig.name} not found")
        info = _read_ipol_json(path, sid, trial)
        out[info.key] = info
    return out


def _read_ipol_signal(path: Path) -> pd.DataFrame:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        first = fh.readline()
    m = _IPOL_RATE_LINE.search(first)
    if m is None:
        raise ValueError(
            f"{path}: first line should be 'Acquisition frequency: 100 Hz', got {first!r}"
        )
    if float(m.group(1)) != IPOL_FS:
        raise ValueError(f"{path}: acquisition frequency {m.group(1)} Hz, expected 100 Hz")
    try:
        df = pd.read_csv(path, sep="\t", skiprows=1, engine="c")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: file has no header or data") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in _IPOL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    if len(df) < 2:
        raise ValueError(f"{path}: fewer than 2 data rows")
    num = df[list(_IPOL_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(num.to_numpy(dtype=np.float64)).all(axis=1)
    if bad.any():
        i = _first_true(bad)
        raise ValueError(f"{path}: data row {i + 1} has missing or non-numeric values")
    return num


def read_ipol_gait(
    root: str | os.PathLike[str] | None = None,
    subjects: Iterable[int | str] | None = None,
    max_gap_s: float = IPOL_MAX_GAP_S,
    *,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the IPOL 2023 lower-back (L5) accelerometer trials of Voisard et al.

    Expects ``GaitData/<S>-<T>_lb.txt[.gz]`` (first line ``Acquisition frequency: 100 Hz``,
    then the tab-separated columns ``PacketCounter Acc_X Acc_Y Acc_Z``, in m/s^2) under
    ``root`` (the ``ipol_gait`` folder or the data root that contains it).

    Time axis: the XSens ``PacketCounter`` (one count per 10 ms), not the row number, because
    about 5% of the packets were lost. Sample ``i`` of the trial is at ``i / 100`` s with
    ``i = PacketCounter - PacketCounter[0]``; the gait events of
    :func:`read_ipol_gait_events` use the same axis. Processing:

    * rows repeating the previous PacketCounter (one in trial 11-1) keep the first row
      (counted as ``duplicate_packet_rows``); a PacketCounter going backwards is an error;
    * the samples are put on the uniform 100 Hz grid of the PacketCounter. Runs of lost
      packets whose received neighbours are at most ``max_gap_s`` apart are filled by linear
      interpolation (counted in ``report.details`` / ``report.notes`` as interpolated
      samples); longer intervals split the trial into separate recordings. With the default
      0.1 s (at most 9 lost packets in a row, covering the 2-9 sample gaps that make up more
      than 99.5% of the losses), the release has 18 splits; interpolating 90 ms is a small
      error at gait frequencies of ~2 Hz;
    * pieces of a single sample are dropped (counted); the rest are kept whatever their
      length;
    * units are converted from m/s^2 to g. No resampling is needed.

    Parameters
    ----------
    root : path-like, optional
        The ``ipol_gait`` folder or the data root; :func:`default_data_root` when None.
    subjects : iterable of int or str, optional
        Subjects (``3``, ``"3"`` or ``"ipol_gait:3"``) to read; all 19 when None.
    max_gap_s : float
        Longest interval between received packets that is bridged by interpolation.
    report : ReadReport, optional
        Filled with counts of what was read, interpolated and dropped.

    Returns
    -------
    list of Recording
        One per gap-free piece, in (subject, trial) order. ``user`` is ``"ipol_gait:<S>"``,
        ``recording`` is ``"ipol_gait:<S>:<T>:<piece>"``, ``start_s`` is the piece's first
        sample on the trial's PacketCounter axis (``index / 100``), ``labels`` is None.

    Raises
    ------
    FileNotFoundError
        If the folder or requested subjects are missing.
    ValueError
        On a bad header, missing columns, non-numeric values, a non-integer or decreasing
        PacketCounter, or a non-positive ``max_gap_s``.
    """
    gap = float(max_gap_s)
    if not gap > 0:
        raise ValueError(f"max_gap_s must be a positive number, got {max_gap_s!r}")
    max_step = int(np.floor(gap * IPOL_FS + 1e-9))  # largest bridged PacketCounter step
    folder = _dataset_dir(root, "ipol_gait", "GaitData")
    files = _ipol_files(folder, subjects)
    local = ReadReport(dataset="ipol_gait", source=str(folder))
    recs: list[Recording] = []
    n_interp_total = 0
    for (sid, trial), path in files.items():
        num = _read_ipol_signal(path)
        pc = num["PacketCounter"].to_numpy(dtype=np.float64)
        if np.any(pc != np.round(pc)):
            i = _first_true(pc != np.round(pc))
            raise ValueError(f"{path}: data row {i + 1} has a non-integer PacketCounter {pc[i]}")
        step = np.diff(pc)
        if np.any(step < 0):
            i = _first_true(step < 0) + 1
            raise ValueError(
                f"{path}: PacketCounter goes backwards at data row {i + 1} "
                f"({pc[i - 1]:.0f} -> {pc[i]:.0f})"
            )
        keep = np.r_[True, step != 0]
        n_dup = int((~keep).sum())
        local.drop("duplicate_packet_rows", n_dup)
        idx = (pc[keep] - pc[0]).astype(np.int64)
        xyz = to_g(num[["Acc_X", "Acc_Y", "Acc_Z"]].to_numpy(dtype=np.float64)[keep], "m/s^2")
        local.n_files += 1
        local.n_rows += len(pc)
        d = np.diff(idx)
        split_at = np.flatnonzero(d > max_step)
        bounds = np.concatenate(([0], split_at + 1, [idx.shape[0]]))
        n_interp = 0
        piece = 0
        for a, b in itertools.pairwise(bounds.tolist()):
            if b - a < 2:
                local.drop("too_short_pieces", 1)
                local.drop("too_short_piece_samples", b - a)
                continue
            grid = np.arange(idx[a], idx[b - 1] + 1, dtype=np.int64)
            out = np.empty((grid.size, 3), dtype=np.float32)
            for c in range(3):
                out[:, c] = np.interp(grid, idx[a:b], xyz[a:b, c])
            n_interp += grid.size - (b - a)
            recs.append(
                Recording(
                    user=f"ipol_gait:{sid}",
                    recording=f"ipol_gait:{sid}:{trial}:{piece}",
                    x=out,
                    fs=IPOL_FS,
                    start_s=float(idx[a]) / IPOL_FS,
                    labels=None,
                    label_names=(),
                    source=str(path),
                )
            )
            piece += 1
        n_missing = int(idx[-1] + 1 - idx.shape[0])
        n_interp_total += n_interp
        local.n_gaps_split += int(split_at.size)
        local.details.append(
            {
                "subject": sid,
                "trial": trial,
                "n_rows": len(pc),
                "packet_span": int(idx[-1] + 1),
                "n_missing_packets": n_missing,
                "n_interpolated": n_interp,
                "n_duplicates_dropped": n_dup,
                "n_gaps_split": int(split_at.size),
                "max_packet_step": int(d.max()) if d.size else 0,
            }
        )
    local.notes.append(
        f"{n_interp_total} lost packets filled by linear interpolation (gaps <= {gap:g} s); "
        f"{local.n_gaps_split} longer gaps split trials"
    )
    _finish(report, local, recs)
    return recs


# ----------------------------------------------------------------------------------------------
# Oxford step counter (Salvi et al. 2018)
# ----------------------------------------------------------------------------------------------

#: Default gap threshold of :func:`read_oxford_step_count` (the largest sampling interval of
#: the release is 22 ms apart from three 0.21-0.22 s holes in two validation files, which split).
OXFORD_MAX_GAP_S = 0.1

#: Canonical phone positions of the Oxford step counter data (file names spell them
#: inconsistently: ``ArmBand``/``Armband``, ``Backpocket``/``BackPocket``, ``hand``, ``bag`` ...).
OXFORD_POSITIONS: tuple[str, ...] = (
    "InHand",
    "SwingingArm",
    "Armband",
    "BackPocket",
    "FrontPocket",
    "NeckPouch",
    "Purse",
    "Bag",
)

_OXFORD_POSITION_ALIASES: dict[str, str] = {
    "inhand": "InHand",
    "hand": "InHand",
    "swingingarm": "SwingingArm",
    "armband": "Armband",
    "backpocket": "BackPocket",
    "frontpocket": "FrontPocket",
    "neckpouch": "NeckPouch",
    "purse": "Purse",
    "bag": "Bag",
}
_OXFORD_VAL_FILE = re.compile(r"^(user\d+)_([A-Za-z]+)_(\d+)\.csv(\.gz)?$")
_OXFORD_PARTS = ("optimisation", "validation", "both")


@dataclass
class StepRecording:
    """Ground-truth steps and metadata of one Oxford step counter recording.

    Attributes
    ----------
    key : str
        ``"<user>:<name>"``; the recordings of :func:`read_oxford_step_count` made from this
        file have ids ``"<key>:<piece>"``.
    user : str
        ``"oxford_opt:<name>"`` (Jamie, Carmelo, Dario) or ``"oxford_val:<userN>"``. The
        validation users are not linked to the optimisation people and are separate groups.
    part : str
        ``"optimisation"`` or ``"validation"``.
    phone : str
        ``"Nexus"``, ``"Pixel"``, ``"Samsung"`` (optimisation), ``"Samsung S6"`` (validation).
    position : str
        Canonical position, one of :data:`OXFORD_POSITIONS`.
    surface : str
        ``"Hard"`` / ``"Carpet"`` (optimisation), ``""`` (validation: not stated).
    step_times_s : numpy.ndarray
        float64 step times in seconds since device boot (the clock of
        :attr:`Recording.start_s`): the timestamp of each 0 -> 1 transition of ``foot1`` or
        ``foot2`` in ``stepcounter.csv`` (optimisation), or of each row where the cumulative
        ``truth_steps`` increases (validation; an increase by ``k`` gives ``k`` events).
    n_steps_reference : int
        Independent total: the ``steps`` column of ``stats.csv`` (optimisation) or the last
        ``truth_steps`` value (validation).
    source : str
        The file the step times came from.
    """

    key: str
    user: str
    part: str
    phone: str
    position: str
    surface: str
    step_times_s: np.ndarray
    n_steps_reference: int
    source: str


def _oxford_position(raw: str, where: str) -> str:
    pos = _OXFORD_POSITION_ALIASES.get(raw.strip().lower())
    if pos is None:
        raise ValueError(
            f"{where}: unknown phone position {raw!r}; expected one of {OXFORD_POSITIONS}"
        )
    return pos


def _read_oxford_stats(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: optimisation summary file not found")
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        lines = fh.read().splitlines()
    if not lines:
        raise ValueError(f"{path}: file is empty")
    # The header line of the original starts with a stray prefix ("614 steps#dir, ...").
    header = lines[0].split("#", 1)[-1]
    names = [c.strip().lower() for c in header.split(",")]
    wanted = ["dir", "user", "phone", "position", "surface", "duration(s)", "steps"]
    if names != wanted:
        raise ValueError(f"{path}: header columns {names}, expected {wanted}")
    rows = [[f.strip() for f in ln.split(",")] for ln in lines[1:] if ln.strip()]
    bad = [i for i, r in enumerate(rows) if len(r) != len(wanted)]
    if bad:
        raise ValueError(f"{path}: line {bad[0] + 2} does not have {len(wanted)} fields")
    df = pd.DataFrame(rows, columns=wanted)
    try:
        df["steps"] = df["steps"].astype(np.int64)
    except ValueError:
        raise ValueError(f"{path}: non-integer value in the steps column") from None
    if df["dir"].duplicated().any():
        raise ValueError(f"{path}: duplicate dir {df.loc[df['dir'].duplicated(), 'dir'].iloc[0]!r}")
    return df


def _read_headerless(path: Path, n_cols: int, what: str) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} file not found")
    try:
        df = pd.read_csv(path, header=None, engine="c")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: file is empty") from None
    if df.shape[1] != n_cols:
        raise ValueError(f"{path}: expected {n_cols} columns ({what}), found {df.shape[1]}")
    num = df.apply(pd.to_numeric, errors="coerce")
    bad = num.isna().any(axis=1).to_numpy()
    if bad.any():
        raise ValueError(f"{path}: row {_first_true(bad) + 1} has missing or non-numeric values")
    if len(num) < 2:
        raise ValueError(f"{path}: fewer than 2 rows")
    t = num[0].to_numpy(dtype=np.int64)
    back = np.diff(t) < 0
    if back.any():
        raise ValueError(f"{path}: timestamps go backwards at row {_first_true(back) + 2}")
    return num.to_numpy(dtype=np.float64)


def _oxford_sources(folder: Path, part: str) -> list[dict[str, Any]]:
    """List the recordings of the requested part(s) with their metadata (no signal read)."""
    if part not in _OXFORD_PARTS:
        raise ValueError(f"part must be one of {_OXFORD_PARTS}, got {part!r}")
    out: list[dict[str, Any]] = []
    if part in ("optimisation", "both"):
        opt = folder / "optimisation"
        stats_path = opt / "stats.csv.gz"
        if not stats_path.exists():
            stats_path = opt / "stats.csv"
        stats = _read_oxford_stats(stats_path)
        for row in stats.itertuples(index=False):
            d = opt / "data" / row.dir
            if not d.is_dir():
                raise FileNotFoundError(f"{d}: folder listed in {stats_path} not found")
            where = f"{stats_path} [{row.dir}]"
            out.append(
                {
                    "part": "optimisation",
                    "name": row.dir,
                    "user": f"oxford_opt:{row.user}",
                    "phone": row.phone,
                    "position": _oxford_position(row.position, where),
                    "surface": row.surface,
                    "n_steps_reference": int(row.steps),
                    "accel": _gz_or_plain(d / "accelerometer.csv"),
                    "steps": _gz_or_plain(d / "stepcounter.csv"),
                }
            )
    if part in ("validation", "both"):
        val = folder / "validation"
        files = [p for p in sorted(val.iterdir()) if _OXFORD_VAL_FILE.match(p.name)]
        if not files:
            raise FileNotFoundError(f"{val}: no userN_<position>_<ms>.csv[.gz] files found")
        for p in files:
            m = _OXFORD_VAL_FILE.match(p.name)
            assert m is not None
            out.append(
                {
                    "part": "validation",
                    "name": p.name.split(".")[0],
                    "user": f"oxford_val:{m.group(1)}",
                    "phone": "Samsung S6",
                    "position": _oxford_position(m.group(2), str(p)),
                    "surface": "",
                    "n_steps_reference": None,
                    "accel": p,
                    "steps": p,
                }
            )
    return out


def _gz_or_plain(base: Path) -> Path:
    gz = base.with_name(base.name + ".gz")
    return gz if gz.exists() else base


def _transition_times(t_ns: np.ndarray, switch: np.ndarray) -> np.ndarray:
    s = np.asarray(switch)
    up = np.flatnonzero((s[1:] == 1) & (s[:-1] == 0)) + 1
    return t_ns[up]


def _oxford_steps(src: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Step times (s since boot) and the reference total of one recording."""
    if src["part"] == "optimisation":
        arr = _read_headerless(src["steps"], 3, "timestamp_ns, foot1, foot2")
        sw = arr[:, 1:]
        if not np.isin(sw, (0, 1)).all():
            raise ValueError(f"{src['steps']}: foot1/foot2 must be 0 or 1")
        t_ns = arr[:, 0].astype(np.int64)
        times = np.concatenate(
            [_transition_times(t_ns, sw[:, 0]), _transition_times(t_ns, sw[:, 1])]
        )
        return np.sort(times).astype(np.float64) * 1e-9, int(src["n_steps_reference"])
    arr = _read_headerless(src["steps"], 7, "timestamp_ns, x, y, z, algo, truth, hw")
    truth = arr[:, 5].astype(np.int64)
    inc = np.diff(truth)
    if np.any(inc < 0):
        raise ValueError(f"{src['steps']}: truth_steps decreases at row {_first_true(inc < 0) + 2}")
    rows = np.flatnonzero(inc > 0) + 1
    t_ns = arr[:, 0].astype(np.int64)
    times = np.repeat(t_ns[rows], inc[rows - 1]).astype(np.float64) * 1e-9
    return times, int(truth[-1] - truth[0])


def read_oxford_step_events(
    root: str | os.PathLike[str] | None = None, *, part: str = "both"
) -> dict[str, StepRecording]:
    """Read the ground-truth step events of the Oxford step counter data set.

    Step events (caveat 4 of ``SOURCE.txt``): in the optimisation part a step is a 0 -> 1
    transition of ``foot1`` or of ``foot2`` in ``stepcounter.csv`` (timestamp of the first
    row after the transition; the switches are sampled at ~10 Hz); in the validation part a
    step is an increment of the cumulative ``truth_steps`` column (timestamp of the row where
    it increases). Times are seconds since device boot, the clock of
    :attr:`Recording.start_s` of :func:`read_oxford_step_count`, so the steps inside a window
    are those with ``start_s <= t < start_s + length / fs``.

    Parameters
    ----------
    root : path-like, optional
        The ``oxford_step_count`` folder or the data root; :func:`default_data_root` when None.
    part : str
        ``"optimisation"``, ``"validation"`` or ``"both"``.

    Returns
    -------
    dict of str to StepRecording
        Keyed by recording key ``"<user>:<name>"``: ``name`` is the folder name
        (``Pixel_Jamie_Hard_InHand_1``) or the validation file stem
        (``user1_hand_1506421989895``).

    Raises
    ------
    FileNotFoundError
        If files are missing.
    ValueError
        On malformed files, unknown positions or a decreasing ``truth_steps``.
    """
    folder = _dataset_dir(root, "oxford_step_count", "optimisation")
    out: dict[str, StepRecording] = {}
    for src in _oxford_sources(folder, part):
        times, ref = _oxford_steps(src)
        key = f"{src['user']}:{src['name']}"
        out[key] = StepRecording(
            key=key,
            user=src["user"],
            part=src["part"],
            phone=src["phone"],
            position=src["position"],
            surface=src["surface"],
            step_times_s=times,
            n_steps_reference=ref,
            source=str(src["steps"]),
        )
    return out


def read_oxford_step_count(
    root: str | os.PathLike[str] | None = None,
    *,
    part: str = "both",
    max_gap_s: float = OXFORD_MAX_GAP_S,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read the phone accelerometer recordings of the Oxford step counter data set.

    Expects ``optimisation/stats.csv[.gz]``, ``optimisation/data/<dir>/accelerometer.csv[.gz]``
    (``timestamp_ns, accuracy, x, y, z``, no header) and
    ``validation/userN_<position>_<unix_ms>.csv[.gz]`` (``timestamp_ns, x, y, z, algo_steps,
    truth_steps, hw_steps``, no header) under ``root`` (the ``oxford_step_count`` folder or the
    data root). Acceleration is in m/s^2; the timestamps are nanoseconds since device boot.

    Processing: the ``accuracy`` column is ignored (an Android flag, not a signal); rows whose
    x, y, z are all exactly 0 (the first row of one validation file: impossible with gravity)
    are dropped and counted as ``zero_vector_rows``; duplicate timestamps keep the first row;
    the irregular samples (100-405 Hz depending on the phone) are regularized at the
    estimated native rate, split at intervals longer than ``max_gap_s`` and resampled to
    100 Hz with the anti-aliased polyphase filter (:func:`relcon.data.signal.to_uniform_pieces`).
    The ground-truth steps are read by :func:`read_oxford_step_events`; the phone position of a
    recording is in its id and in that function's :attr:`StepRecording.position`.

    Parameters
    ----------
    root : path-like, optional
        The ``oxford_step_count`` folder or the data root; :func:`default_data_root` when None.
    part : str
        ``"optimisation"`` (48 recordings of Jamie, Carmelo, Dario), ``"validation"``
        (12 recordings of user1, user2) or ``"both"``.
    max_gap_s : float
        Gap threshold in seconds.
    report : ReadReport, optional
        Filled with counts.

    Returns
    -------
    list of Recording
        One per gap-free piece. ``user`` is ``"oxford_opt:<Name>"`` or
        ``"oxford_val:<userN>"``; ``recording`` is ``"<user>:<name>:<piece>"`` where ``name``
        is the folder name (``Pixel_Jamie_Hard_InHand_1``: phone, person, surface, position,
        repeat) or the validation file stem (``user1_hand_1506421989895``); ``start_s`` is in
        seconds since device boot; ``labels`` is None.

    Raises
    ------
    FileNotFoundError
        If files are missing.
    ValueError
        On malformed files, an unknown part or position, or timestamps going backwards.
    """
    folder = _dataset_dir(root, "oxford_step_count", "optimisation")
    local = ReadReport(dataset="oxford_step_count", source=str(folder))
    recs: list[Recording] = []
    for src in _oxford_sources(folder, part):
        path = src["accel"]
        if src["part"] == "optimisation":
            arr = _read_headerless(path, 5, "timestamp_ns, accuracy, x, y, z")
            xyz_ms2 = arr[:, 2:5]
        else:
            arr = _read_headerless(path, 7, "timestamp_ns, x, y, z, algo, truth, hw")
            xyz_ms2 = arr[:, 1:4]
        t_ns = arr[:, 0].astype(np.int64)
        zero = (xyz_ms2 == 0).all(axis=1)
        local.drop("zero_vector_rows", int(zero.sum()))
        t_s = t_ns[~zero].astype(np.float64) * 1e-9
        xyz = to_g(xyz_ms2[~zero], "m/s^2", str(path))
        local.n_files += 1
        local.n_rows += len(arr)
        pieces, stats = to_uniform_pieces(
            t_s, xyz, None, fs_out=TARGET_FS, max_gap_s=max_gap_s, source=str(path)
        )
        local.add_pieces(stats)
        local.details.append(
            {
                "recording": src["name"],
                "part": src["part"],
                "position": src["position"],
                "n_rows": len(arr),
                "fs_estimated": stats["fs_estimated"],
                "fs_native": stats["fs_native"],
                "n_duplicates_dropped": stats["n_duplicates_dropped"],
                "n_gaps_split": stats["n_gaps_split"],
                "max_dt_s": stats["max_dt_s"],
            }
        )
        recs.extend(
            _pieces_to_recordings(
                pieces,
                user=src["user"],
                prefix=f"{src['user']}:{src['name']}",
                label_names=(),
                source=str(path),
            )
        )
    _finish(report, local, recs)
    return recs


# ----------------------------------------------------------------------------------------------
# generic CSV
# ----------------------------------------------------------------------------------------------

_TIME_CANDIDATES = ("time", "timestamp", "t", "time_s", "datetime", "date_time", "unix_time")
_XYZ_CANDIDATES = (
    ("x", "y", "z"),
    ("acc_x", "acc_y", "acc_z"),
    ("x_acc", "y_acc", "z_acc"),
    ("ax", "ay", "az"),
    ("accel_x", "accel_y", "accel_z"),
)
#: Median sampling interval range (in the candidate unit) that implies a 5-1000 Hz rate.
_TIME_UNITS: tuple[tuple[str, float, float, float], ...] = (
    ("s", 1.0, 1e-3, 0.2),
    ("ms", 1e-3, 1.0, 200.0),
    ("us", 1e-6, 1e3, 2e5),
    ("ns", 1e-9, 1e6, 2e8),
)


def _find_column(columns: list[str], wanted: str | None, candidates: Iterable[str]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        return lower.get(wanted.strip().lower())
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    return None


def _time_to_seconds(col: pd.Series, time_unit: str, path: Path) -> tuple[np.ndarray, str]:
    if time_unit not in ("auto", "s", "ms", "us", "ns", "datetime"):
        raise ValueError(
            f"{path}: unknown time_unit {time_unit!r}; expected auto, s, ms, us, ns or datetime"
        )
    numeric = pd.to_numeric(col, errors="coerce")
    is_numeric = bool(numeric.notna().all())
    any_numeric = bool(numeric.notna().any())
    if time_unit == "datetime" or (time_unit == "auto" and not any_numeric):
        try:
            dt = pd.to_datetime(col, format="ISO8601", utc=True)
        except (ValueError, TypeError):
            dt = pd.to_datetime(col, errors="coerce", format="ISO8601", utc=True)
            bad = dt.isna().to_numpy()
            i = _first_true(bad) if bad.any() else 0
            raise ValueError(
                f"{path}: data row {i + 1} (file line {i + 2}): cannot parse time "
                f"{col.iloc[i]!r} as a number or an ISO 8601 datetime"
            ) from None
        bad = dt.isna().to_numpy()
        if bad.any():
            i = _first_true(bad)
            raise ValueError(
                f"{path}: data row {i + 1} (file line {i + 2}): missing or unparseable time"
            )
        rel = (dt - dt.iloc[0]).dt.total_seconds().to_numpy(dtype=np.float64)
        return rel + dt.iloc[0].timestamp(), "datetime"
    if not is_numeric:
        i = _first_true(numeric.isna().to_numpy())
        raise ValueError(
            f"{path}: data row {i + 1} (file line {i + 2}): missing or non-numeric time "
            f"{col.iloc[i]!r}"
        )
    t = numeric.to_numpy(dtype=np.float64)
    if time_unit != "auto":
        scale = {u: s for u, s, _, _ in _TIME_UNITS}[time_unit]
        return t * scale, time_unit
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        raise ValueError(
            f"{path}: cannot infer the time unit: fewer than 2 distinct timestamps; pass time_unit"
        )
    med = float(np.median(dt))
    for unit, scale, lo, hi in _TIME_UNITS:
        if lo <= med <= hi:
            return t * scale, unit
    raise ValueError(
        f"{path}: cannot infer the time unit from the median interval {med:.6g}: it implies no "
        "sampling rate between 5 and 1000 Hz in s, ms, us or ns; pass time_unit"
    )


def read_accel_csv(
    path: str | os.PathLike[str],
    units: str | None = None,
    time_column: str | None = None,
    *,
    x_column: str | None = None,
    y_column: str | None = None,
    z_column: str | None = None,
    time_unit: str = "auto",
    label_column: str | None = None,
    user: str | None = None,
    fs_out: float = TARGET_FS,
    max_gap_s: float = 0.5,
    min_samples: int = MIN_SAMPLES_100HZ,
    report: ReadReport | None = None,
) -> list[Recording]:
    """Read a user's own accelerometer CSV (or CSV.gz) into 100 Hz recordings in g.

    The file needs a header row, a time column and three acceleration columns. Column names
    are matched case-insensitively. Defaults: the time column is the first of ``time``,
    ``timestamp``, ``t``, ``time_s``, ``datetime``, ``date_time``, ``unix_time``; the axes are
    the first complete triple of ``x,y,z``, ``acc_x,...``, ``x_acc,...``, ``ax,...``,
    ``accel_x,...``.

    How the time unit is decided (``time_unit="auto"``): a column in which no value is a
    number is parsed as ISO 8601 datetimes (timezone-naive values are taken as UTC); a column
    mixing numbers and text is an error naming the first non-numeric row. A numeric column is
    interpreted from its median positive interval ``d``: seconds if ``1e-3 <= d <= 0.2``,
    milliseconds if ``1 <= d <= 200``, microseconds if ``1e3 <= d <= 2e5``, nanoseconds if
    ``1e6 <= d <= 2e8`` (each range means a 5-1000 Hz sampling rate; the ranges do not
    overlap). Anything else is an error asking for ``time_unit`` (``"s"``, ``"ms"``, ``"us"``,
    ``"ns"`` or ``"datetime"``).

    Units are ``units`` when given, else :func:`relcon.data.signal.detect_units`. Samples are
    regularized at their native rate, split at gaps longer than ``max_gap_s`` and resampled to
    ``fs_out``. Pieces shorter than ``min_samples`` output samples are dropped (counted in
    ``report``); if no piece is long enough the file is rejected.

    Parameters
    ----------
    path : path-like
        CSV file (``.gz`` allowed).
    units : str, optional
        ``"g"``, ``"m/s^2"`` or ``"mg"``; detected when None.
    time_column : str, optional
        Name of the time column.
    x_column, y_column, z_column : str, optional
        Names of the acceleration columns.
    time_unit : str
        ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"`` or ``"datetime"``.
    label_column : str, optional
        Column of per-sample string labels; codes follow the sorted unique names and empty
        cells are unlabelled (``-1``).
    user : str, optional
        User id for the recordings; ``"csv:<file stem>"`` when None.
    fs_out : float
        Output rate in Hz.
    max_gap_s : float
        Gap threshold in seconds.
    min_samples : int
        Minimum output samples per piece (256 = one 2.56 s model segment at 100 Hz).
    report : ReadReport, optional
        Filled with counts.

    Returns
    -------
    list of Recording
        One per gap-free piece; ``recording`` is ``"<user>:<piece>"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is empty, columns are missing (the message lists the columns found), a
        row has missing/non-numeric values (the message gives the first bad row), timestamps
        go backwards, units or time unit are ambiguous, or the data are too short.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    try:
        df = pd.read_csv(p, engine="c", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{p}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{p}: cannot parse as CSV: {exc}") from None
    columns = [str(c) for c in df.columns]
    df.columns = columns
    tcol = _find_column(columns, time_column, _TIME_CANDIDATES)
    if tcol is None:
        wanted = time_column or " / ".join(_TIME_CANDIDATES)
        raise ValueError(f"{p}: missing time column ({wanted}); columns found: {columns}")
    if x_column or y_column or z_column:
        if not (x_column and y_column and z_column):
            raise ValueError(f"{p}: give all of x_column, y_column, z_column or none")
        axes = [_find_column(columns, c, ()) for c in (x_column, y_column, z_column)]
        if any(a is None for a in axes):
            raise ValueError(
                f"{p}: missing acceleration column(s) "
                f"{[c for c, a in zip((x_column, y_column, z_column), axes, strict=True) if a is None]}; "
                f"columns found: {columns}"
            )
    else:
        axes = []
        for triple in _XYZ_CANDIDATES:
            found = [_find_column(columns, c, ()) for c in triple]
            if all(f is not None for f in found):
                axes = found
                break
        if not axes:
            raise ValueError(
                f"{p}: missing acceleration columns (expected x,y,z or acc_x,acc_y,acc_z or "
                f"x_acc,y_acc,z_acc or ax,ay,az or accel_x,accel_y,accel_z); "
                f"columns found: {columns}"
            )
    lcol = None
    if label_column is not None:
        lcol = _find_column(columns, label_column, ())
        if lcol is None:
            raise ValueError(
                f"{p}: missing label column {label_column!r}; columns found: {columns}"
            )
    if len(df) == 0:
        raise ValueError(f"{p}: file has a header but no data rows")

    xyz_df = df[axes].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(xyz_df.to_numpy(dtype=np.float64)).all(axis=1)
    bad |= df[tcol].isna().to_numpy()
    if bad.any():
        i = _first_true(bad)
        raise ValueError(
            f"{p}: data row {i + 1} (file line {i + 2}) has missing, NaN or non-numeric values"
        )
    t_s, unit_used = _time_to_seconds(df[tcol], time_unit, p)
    xyz = xyz_df.to_numpy(dtype=np.float64)
    acc_units = normalize_units(units, str(p)) if units is not None else detect_units(xyz, str(p))
    xyz_g = to_g(xyz, acc_units, str(p))

    label_names: tuple[str, ...] = ()
    lab = None
    if lcol is not None:
        raw_lab = df[lcol]
        present = raw_lab.notna().to_numpy() & (raw_lab.astype(str).str.strip() != "").to_numpy()
        text = raw_lab.astype(str).str.strip()
        label_names = tuple(sorted(set(text[present].tolist())))
        code_of = {n: i for i, n in enumerate(label_names)}
        lab = np.full(len(df), -1, dtype=np.int16)
        lab[present] = text[present].map(code_of).to_numpy(dtype=np.int16)

    local = ReadReport(dataset="csv", source=str(p), n_files=1, n_rows=len(df))
    local.notes.append(f"time unit: {unit_used}; acceleration units: {acc_units}")
    pieces, stats = to_uniform_pieces(
        t_s, xyz_g, lab, fs_out=fs_out, max_gap_s=max_gap_s, min_samples=1, source=str(p)
    )
    local.add_pieces(stats)
    kept = [pc for pc in pieces if len(pc) >= min_samples]
    short = [pc for pc in pieces if len(pc) < min_samples]
    local.drop("too_short_pieces", len(short))
    local.drop("too_short_piece_samples", sum(len(pc) for pc in short))
    if not kept:
        longest = max((len(pc) for pc in pieces), default=0)
        raise ValueError(
            f"{p}: too short: the longest gap-free piece has {longest} samples at {fs_out:g} Hz "
            f"after resampling, at least {min_samples} are needed "
            f"({stats['n_gaps_split']} gaps > {max_gap_s} s were split)"
        )
    uid = user if user is not None else f"csv:{p.name.split('.')[0]}"
    recs = _pieces_to_recordings(kept, user=uid, prefix=uid, label_names=label_names, source=str(p))
    _finish(report, local, recs)
    return recs
