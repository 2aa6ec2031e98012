"""Oxford step counter (Salvi et al. 2018; phone accelerometer, m/s^2, 100-405 Hz, irregular): :func:`read_oxford_step_count` and the ground-truth steps of :func:`read_oxford_step_events`."""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relcon.data.datasets.base import (
    _dataset_dir,
    _finish,
    _first_true,
    _pieces_to_recordings,
    reading,
)
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import (
    TARGET_FS,
    to_g,
    to_uniform_pieces,
)

__all__ = [
    "OXFORD_MAX_GAP_S",
    "OXFORD_POSITIONS",
    "StepRecording",
    "read_oxford_step_count",
    "read_oxford_step_events",
]

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
    with reading(path), gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as fh:
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
    with reading(path):
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
        part = {"recording": src["name"], "part": src["part"], "position": src["position"]}
        local.add_pieces(stats, {**part, "n_rows": len(arr)}, extra=("max_dt_s",))
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
