"""WISDM 2019 smartwatch accelerometer (Weiss et al.; m/s^2, ~20 Hz, irregular): :func:`read_wisdm_watch`."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.datasets.base import (
    _dataset_dir,
    _finish,
    _pieces_to_recordings,
    reading,
    select_subjects,
)
from relcon.data.formats import first_true
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import TARGET_FS, to_g, to_uniform_pieces

__all__ = ["WISDM_ACTIVITIES", "WISDM_HAR6", "WISDM_LETTERS", "read_wisdm_watch"]

logger = logging.getLogger(__name__)

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

_WISDM_FILE = re.compile(r"^data_(\d+)_accel_watch\.txt(\.gz)?$")


def _read_wisdm_key(folder: Path) -> dict[str, str]:
    key_path = folder / "activity_key.txt"
    if not key_path.exists():
        logger.warning("%s missing; using the built-in WISDM activity key", key_path)
        return dict(WISDM_ACTIVITIES)
    key: dict[str, str] = {}
    with reading(key_path):
        text = key_path.read_text()
    for lineno, line in enumerate(text.splitlines(), start=1):
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
    with reading(path):
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
        except UnicodeDecodeError:
            raise  # a damaged file: reading() names it
        except (pd.errors.ParserError, ValueError) as exc:
            raise ValueError(
                f"{path}: cannot parse as 'subject,activity,timestamp,x,y,z;': {exc}"
            ) from None
    if len(df) == 0:
        raise ValueError(f"{path}: file has no data rows")
    bad = df.isna().any(axis=1).to_numpy()
    if bad.any():
        i = first_true(bad)
        raise ValueError(f"{path}: row {i + 1} has missing or non-numeric fields")
    subj = df["subject"].to_numpy()
    if not np.all(subj == sid):
        i = first_true(subj != sid)
        raise ValueError(f"{path}: row {i + 1} has subject {subj[i]}, file name says {sid}")
    letters = df["activity"].astype(str).str.strip()
    unknown = ~letters.isin(list(WISDM_ACTIVITIES)).to_numpy()
    if unknown.any():
        i = first_true(unknown)
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
    files = select_subjects(files, subjects, int, accel_dir, "accelerometer file")
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
            block_info = {"subject": sid, "activity": letter, "n_rows": len(block)}
            block_info["duration_s"] = float(t_s[-1] - t_s[0])
            local.add_pieces(stats, block_info, extra=("n_pieces",))
            user = f"wisdm_watch:{sid}"
            recs += _pieces_to_recordings(pieces, user, f"{user}:{letter}", label_names, path)
    _finish(report, local, recs)
    return recs
