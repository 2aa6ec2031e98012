"""UCI HAPT v2.1 raw waist accelerometer (g, 50 Hz, interval labels): :func:`read_hapt`."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.datasets.base import _dataset_dir, _finish, _first_true, reading
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import (
    TARGET_FS,
    resample,
    resample_labels,
)

__all__ = [
    "HAPT_ACTIVITIES6",
    "HAPT_ACTIVITY_NAMES",
    "HAPT_LABEL_INDEX_BASE",
    "read_hapt",
    "read_hapt_subject_split",
]

logger = logging.getLogger(__name__)

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

_HAPT_FILE = re.compile(r"^acc_exp(\d+)_user(\d+)\.txt(\.gz)?$")


def _read_hapt_activity_names(folder: Path) -> tuple[str, ...]:
    for cand in (folder / "activity_labels.txt", folder / "RawData" / "activity_labels.txt"):
        if cand.exists():
            names: dict[int, str] = {}
            with reading(cand):
                text = cand.read_text()
            for lineno, line in enumerate(text.splitlines(), start=1):
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
    with reading(path):
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
        with reading(path):
            try:
                x = pd.read_csv(path, sep=r"\s+", header=None, engine="c", dtype=np.float64)
            except pd.errors.EmptyDataError:
                raise ValueError(f"{path}: file is empty") from None
            except UnicodeDecodeError:
                raise  # a damaged file: reading() names it
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
    with reading(path):
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
