"""IPOL 2023 lower-back gait trials (Voisard et al.; m/s^2, 100 Hz, lost packets): :func:`read_ipol_gait` and the gait events of :func:`read_ipol_gait_events`."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.datasets.base import (
    _dataset_dir,
    _finish,
    _first_true,
    check_subjects,
    reading,
)
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import (
    to_g,
)

__all__ = ["IPOL_FS", "IPOL_MAX_GAP_S", "GaitTrial", "read_ipol_gait", "read_ipol_gait_events"]

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
        check_subjects(wanted, (s for s, _ in files), data_dir, "lower-back files")
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
        with reading(path):
            text = path.read_text()
        meta = json.loads(text)  # accepts the bare NaN tokens of some files
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
    with reading(path), gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
        first = fh.readline()
    m = _IPOL_RATE_LINE.search(first)
    if m is None:
        raise ValueError(
            f"{path}: first line should be 'Acquisition frequency: 100 Hz', got {first!r}"
        )
    if float(m.group(1)) != IPOL_FS:
        raise ValueError(f"{path}: acquisition frequency {m.group(1)} Hz, expected 100 Hz")
    with reading(path):
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
