"""Readers of the raw downloads behind the paper's benchmarks (HHAR, MotionSense, PAMAP2,
Opportunity): each turns a data set folder into gap-free, single-activity runs at 100 Hz in g.

The rules they follow are listed in :mod:`relcon.eval.paper`; the folder layouts they expect are
in :data:`_LAYOUTS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.signal import TARGET_FS, regularize, resample, to_g

__all__ = ["MAX_BRIDGE_S"]

#: Longest hole (seconds) between two valid samples that is bridged by linear interpolation;
#: a longer hole splits the recording.
MAX_BRIDGE_S = 0.2

# ----------------------------------------------------------------------------------------------
# data set facts (sources: the UCI / GitHub documentation of each data set and the reference
# implementation's relcon/data/process/{comparesslbench,comparepriorpt}/*.py)
# ----------------------------------------------------------------------------------------------

#: HHAR ``Watch_accelerometer.csv`` header (UCI README: the same columns in all four files).
HHAR_COLUMNS = ("Index", "Arrival_Time", "Creation_Time", "x", "y", "z", "User", "Model",
                "Device", "gt")  # fmt: skip
#: HHAR activities in the code order of the reference (comparesslbench/hhar.py).
HHAR_ACTIVITIES = ("bike", "sit", "stairsdown", "stairsup", "stand", "walk")
HHAR_USERS = tuple("abcdefghi")

#: MotionSense trial folders (activity_trial) and the reference's activity codes.
MOTIONSENSE_TRIALS = ("dws_1", "dws_2", "dws_11", "ups_3", "ups_4", "ups_12", "wlk_7", "wlk_8",
                      "wlk_15", "jog_9", "jog_16", "sit_5", "sit_13", "std_6", "std_14")  # fmt: skip
MOTIONSENSE_CODES = {"dws": 0, "ups": 1, "wlk": 2, "jog": 3, "std": 4, "sit": 5}
MOTIONSENSE_ACTIVITIES = ("downstairs", "upstairs", "walking", "jogging", "standing", "sitting")
MOTIONSENSE_SUBJECTS = tuple(range(1, 25))
MOTIONSENSE_FS = 50.0

#: PAMAP2 activity ids (readme.pdf, section II.2).
PAMAP2_ACTIVITY_NAMES = {
    0: "other (transient activities)", 1: "lying", 2: "sitting", 3: "standing", 4: "walking",
    5: "running", 6: "cycling", 7: "Nordic walking", 9: "watching TV", 10: "computer work",
    11: "car driving", 12: "ascending stairs", 13: "descending stairs", 16: "vacuum cleaning",
    17: "ironing", 18: "folding laundry", 19: "house cleaning", 20: "playing soccer",
    24: "rope jumping",
}  # fmt: skip
#: The 12 protocol activities of the SSL benchmark (comparesslbench/pamap.py), id order.
PAMAP2_ACTIVITIES_12 = (1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24)
#: The 8 activities "that everyone has" of the Yuan et al. set-up (comparepriorpt/pamap.py).
PAMAP2_ACTIVITIES_8 = (1, 2, 3, 4, 12, 13, 16, 17)
PAMAP2_N_COLUMNS = 54
PAMAP2_FS = 100.0
#: 0-based columns: timestamp (s), activity id, and the +-16 g accelerometer of each IMU
#: (IMU hand = columns 4-20, ankle = 38-54 in the readme's 1-based numbering; the IMU's
#: columns 2-4 are the +-16 g accelerometer).
PAMAP2_TIME_COL = 0
PAMAP2_LABEL_COL = 1
PAMAP2_ACC_COLS = {"hand": (4, 5, 6), "ankle": (38, 39, 40)}
PAMAP2_PROTOCOL_SUBJECTS = tuple(range(101, 110))
PAMAP2_OPTIONAL_SUBJECTS = (101, 105, 106, 108, 109)

#: Opportunity (UCI ``column_names.txt``, 1-based): column 1 MILLISEC, columns 23-25
#: "Accelerometer RWR accX/Y/Z" in milli g, column 244 "Locomotion"; 250 columns in all.
OPPORTUNITY_N_COLUMNS = 250
OPPORTUNITY_TIME_COL = 0
OPPORTUNITY_ACC_COLS = (22, 23, 24)
OPPORTUNITY_LABEL_COL = 243
OPPORTUNITY_FS = 30.0
#: Locomotion codes of ``label_legend.txt`` (0 = null).
OPPORTUNITY_LOCOMOTION = {1: "stand", 2: "walk", 4: "sit", 5: "lie"}
OPPORTUNITY_FILES = tuple(
    f"S{s}-{run}.dat"
    for s in range(1, 5)
    for run in ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")
)

_LAYOUTS = {
    "hhar": (
        "<raw_dir>/Activity recognition exp/Watch_accelerometer.csv  (the UCI archive "
        "'heterogeneity+activity+recognition.zip' holds 'Activity recognition exp.zip'; extract "
        "both; Watch_accelerometer.csv directly in <raw_dir> is accepted too)"
    ),
    "motionsense": (
        "<raw_dir>/B_Accelerometer_data/<trial>/sub_<1..24>.csv for the 15 trials "
        + " ".join(MOTIONSENSE_TRIALS)
        + " (extracted data/B_Accelerometer_data.zip of the motion-sense repository; a doubled "
        "B_Accelerometer_data/B_Accelerometer_data/ is accepted too)"
    ),
    "pamap2": (
        "<raw_dir>/PAMAP2_Dataset/Protocol/subject101.dat ... subject109.dat and "
        "<raw_dir>/PAMAP2_Dataset/Optional/subject101.dat, subject105.dat, subject106.dat, "
        "subject108.dat, subject109.dat (extracted PAMAP2_Dataset.zip from the UCI archive; "
        "Protocol/ and Optional/ directly in <raw_dir> are accepted too)"
    ),
    "opportunity": (
        "<raw_dir>/OpportunityUCIDataset/dataset/S<1-4>-ADL<1-5>.dat and S<1-4>-Drill.dat "
        "(24 files; the extracted UCI archive; dataset/ or the .dat files directly in <raw_dir> "
        "are accepted too)"
    ),
}

_DOWNLOADS = {
    "hhar": "https://archive.ics.uci.edu/dataset/344/heterogeneity+activity+recognition",
    "motionsense": "https://github.com/mmalekzadeh/motion-sense (data/B_Accelerometer_data.zip)",
    "pamap2": "https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring",
    "opportunity": "https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition",
}


@dataclass(frozen=True)
class _Spec:
    name: str
    dataset: str
    window_s: float
    stride_s: float
    protocol: str  # "5fold" | "loso"
    classes: tuple[str, ...]
    sensor: str
    clip_g: float | None
    paper: str
    data_citation: str
    protocol_citation: str
    licence: str
    reference: str


# ----------------------------------------------------------------------------------------------
# runs: gap-free, single-activity stretches at 100 Hz
# ----------------------------------------------------------------------------------------------


@dataclass
class _Run:
    user: str
    recording: str
    t0_s: float
    x: np.ndarray  # (T, 3) float32 in g at 100 Hz
    code: int


def _native_rate(t: np.ndarray, source: str) -> float:
    """Nominal rate of irregular time stamps: ``1 / median`` positive interval, whole Hz."""
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        raise ValueError(f"{source}: fewer than 2 distinct time stamps; cannot estimate the rate")
    fs = float(round(1.0 / float(np.median(dt))))
    if not 10.0 <= fs <= 1000.0:
        raise ValueError(f"{source}: estimated sampling rate {fs:g} Hz is implausible")
    return fs


def _runs_from_samples(
    t_s: np.ndarray,
    x_g: np.ndarray,
    codes: np.ndarray,
    *,
    fs_native: float | None,
    user: str,
    recording: str,
    source: str,
) -> tuple[list[_Run], float | None]:
    """Split one recording into gap-free single-activity runs at 100 Hz.

    The rows (time-ordered) are first cut wherever the label changes, so that nothing below
    ever mixes two activities. Inside each labelled stretch, rows with a non-finite value are
    missing; holes up to :data:`MAX_BRIDGE_S` between valid rows are bridged by
    :func:`relcon.data.signal.regularize` (linear interpolation onto the native grid
    ``t0 + k / fs_native``), longer ones split the stretch. Each piece is then resampled from
    ``fs_native`` to 100 Hz on its own. ``fs_native`` None estimates the rate from the valid
    time stamps of the whole recording (rounded to whole Hz).

    Returns the runs and the native rate used (None when nothing was labelled).
    """
    t = np.asarray(t_s, dtype=np.float64)
    x = np.asarray(x_g, dtype=np.float64)
    lab = np.asarray(codes, dtype=np.int64)
    keep = np.isfinite(t)
    t, x, lab = t[keep], x[keep], lab[keep]
    if t.size >= 2:
        back = np.diff(t) < 0
        if back.any():
            i = int(np.flatnonzero(back)[0]) + 1
            raise ValueError(
                f"{source}: time stamps go backwards at data row {i} ({t[i]!r} after {t[i - 1]!r})"
            )
    valid = np.isfinite(x).all(axis=1)
    if int(valid.sum()) < 2 or not (lab[valid] >= 0).any():
        return [], None
    fs = float(fs_native) if fs_native is not None else _native_rate(t[valid], source)
    runs: list[_Run] = []
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(lab)) + 1, [lab.size]))
    for a, b in itertools.pairwise(bounds.tolist()):
        code = int(lab[a])
        ok = valid[a:b]
        if code < 0 or int(ok.sum()) < 2:
            continue
        pieces, _ = regularize(
            t[a:b][ok], x[a:b][ok], None, fs=fs, max_gap_s=MAX_BRIDGE_S, source=source
        )
        for piece in pieces:
            if len(piece) < 2:
                continue
            y = resample(piece.x, fs, TARGET_FS, source=source)
            runs.append(_Run(user, recording, piece.t0_s, y.astype(np.float32), code))
    return runs, fs


# ----------------------------------------------------------------------------------------------
# layout helpers
# ----------------------------------------------------------------------------------------------


def _layout_error(dataset: str, raw_dir: Path, problem: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{dataset}: {problem}. Expected layout: {_LAYOUTS[dataset]} (with <raw_dir> = {raw_dir}); "
        f"download from {_DOWNLOADS[dataset]}"
    )


def _find_root(raw_dir: Path, dataset: str, candidates: Sequence[str], marker: str) -> Path:
    if not raw_dir.is_dir():
        raise _layout_error(dataset, raw_dir, f"folder {raw_dir} does not exist")
    for cand in candidates:
        root = raw_dir / cand
        if (root / marker).exists():
            return root
    tried = ", ".join(str(raw_dir / c / marker) for c in candidates)
    raise _layout_error(dataset, raw_dir, f"missing {marker!r} (looked for {tried})")


def _require_files(dataset: str, raw_dir: Path, paths: Iterable[Path]) -> list[Path]:
    paths = list(paths)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise _layout_error(dataset, raw_dir, f"missing file {missing[0]}{more}")
    return paths


def _first_line(path: Path) -> str:
    with path.open("r", errors="replace") as f:
        for line in f:
            if line.strip():
                return line
    raise ValueError(f"{path}: file is empty")


def _read_numeric_table(
    path: Path, n_columns: int, usecols: Sequence[int], what: str, cache: dict | None
) -> np.ndarray:
    """Read selected columns of a whitespace-separated numeric table (NaN allowed).

    The first row must have exactly ``n_columns`` fields; rows cut short read as NaN (missing).
    """
    key = (str(path.resolve()), tuple(usecols))
    if cache is not None and key in cache:
        return cache[key]
    n_found = len(_first_line(path).split())
    if n_found != n_columns:
        raise ValueError(
            f"{path}: expected {n_columns} whitespace-separated columns per row ({what}), found "
            f"{n_found} in the first row; is this the right file?"
        )
    cols = sorted(set(usecols))
    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, usecols=cols, dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: cannot parse as a numeric table ({what}): {e}") from None
    arr = df[list(usecols)].to_numpy(dtype=np.float64)
    if cache is not None:
        cache[key] = arr
    return arr


def _codes_from_ids(
    ids: np.ndarray, known: Iterable[int], chosen: Sequence[int], path: Path, what: str
) -> np.ndarray:
    """Map raw integer activity ids to class codes (-1 for ids outside ``chosen`` or NaN)."""
    ids = np.asarray(ids, dtype=np.float64)
    finite = np.isfinite(ids)
    known_set = set(known)
    vals = ids[finite]
    bad = ~np.isin(vals, list(known_set)) | (vals != np.round(vals))
    if bad.any():
        row = int(np.flatnonzero(finite)[np.flatnonzero(bad)[0]])
        raise ValueError(
            f"{path}: unknown {what} {ids[row]:g} on line {row + 1}; expected one of "
            f"{sorted(known_set)}"
        )
    codes = np.full(ids.shape, -1, dtype=np.int64)
    for code, raw in enumerate(chosen):
        codes[finite & (ids == raw)] = code
    return codes


# ----------------------------------------------------------------------------------------------
# readers
# ----------------------------------------------------------------------------------------------


def _read_pamap2(raw_dir: Path, spec: _Spec, cache: dict | None) -> list[_Run]:
    root = _find_root(raw_dir, "pamap2", ["PAMAP2_Dataset", "."], "Protocol")
    files = [root / "Protocol" / f"subject{s}.dat" for s in PAMAP2_PROTOCOL_SUBJECTS]
    files += [root / "Optional" / f"subject{s}.dat" for s in PAMAP2_OPTIONAL_SUBJECTS]
    _require_files("pamap2", raw_dir, files)
    sensor = "ankle" if spec.name == "pamap2_2s" else "hand"
    chosen = PAMAP2_ACTIVITIES_12 if spec.name == "pamap2_2s" else PAMAP2_ACTIVITIES_8
    usecols = (PAMAP2_TIME_COL, PAMAP2_LABEL_COL, *PAMAP2_ACC_COLS["hand"],
               *PAMAP2_ACC_COLS["ankle"])  # fmt: skip
    acc_at = {"hand": [2, 3, 4], "ankle": [5, 6, 7]}[sensor]
    runs: list[_Run] = []
    for path in files:
        arr = _read_numeric_table(path, PAMAP2_N_COLUMNS, usecols, "PAMAP2 .dat", cache)
        codes = _codes_from_ids(arr[:, 1], PAMAP2_ACTIVITY_NAMES, chosen, path, "activityID")
        subject = path.stem.removeprefix("subject")
        rec = f"pamap2:{path.parent.name}/{path.name}"
        got, _ = _runs_from_samples(
            arr[:, 0], to_g(arr[:, acc_at], "m/s^2", str(path)), codes, fs_native=PAMAP2_FS,
            user=f"pamap2:{subject}", recording=rec, source=str(path),
        )  # fmt: skip
        runs += got
    return runs


def _read_opportunity(raw_dir: Path, spec: _Spec, cache: dict | None) -> list[_Run]:
    root = _find_root(
        raw_dir, "opportunity", ["OpportunityUCIDataset/dataset", "dataset", "."],
        OPPORTUNITY_FILES[0],
    )  # fmt: skip
    files = _require_files("opportunity", raw_dir, [root / f for f in OPPORTUNITY_FILES])
    chosen = tuple(OPPORTUNITY_LOCOMOTION)
    usecols = (OPPORTUNITY_TIME_COL, OPPORTUNITY_LABEL_COL, *OPPORTUNITY_ACC_COLS)
    runs: list[_Run] = []
    for path in files:
        arr = _read_numeric_table(path, OPPORTUNITY_N_COLUMNS, usecols, "Opportunity .dat", cache)
        codes = _codes_from_ids(arr[:, 1], [0, *chosen], chosen, path, "Locomotion label")
        subject = path.name.split("-")[0].removeprefix("S")
        got, _ = _runs_from_samples(
            arr[:, 0] / 1000.0, to_g(arr[:, 2:5], "mg", str(path)), codes,
            fs_native=OPPORTUNITY_FS, user=f"opportunity:{subject}",
            recording=f"opportunity:{path.name}", source=str(path),
        )  # fmt: skip
        runs += got
    return runs


def _read_motionsense(raw_dir: Path, spec: _Spec, cache: dict | None) -> list[_Run]:
    root = _find_root(
        raw_dir, "motionsense",
        ["B_Accelerometer_data/B_Accelerometer_data", "B_Accelerometer_data", "."],
        MOTIONSENSE_TRIALS[0],
    )  # fmt: skip
    files = [
        (trial, s, root / trial / f"sub_{s}.csv")
        for trial in MOTIONSENSE_TRIALS
        for s in MOTIONSENSE_SUBJECTS
    ]
    _require_files("motionsense", raw_dir, (p for _, _, p in files))
    runs: list[_Run] = []
    for trial, s, path in files:
        try:
            df = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError) as e:
            raise ValueError(f"{path}: cannot parse as CSV: {e}") from None
        cols = [str(c) for c in df.columns]
        if len(cols) != 4 or cols[1:] != ["x", "y", "z"]:
            raise ValueError(
                f"{path}: expected 4 columns (an unnamed index, then x, y, z), found {cols}"
            )
        try:
            x = df[["x", "y", "z"]].to_numpy(dtype=np.float64)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: x, y, z must be numeric ({e})") from None
        code = MOTIONSENSE_CODES[trial.split("_")[0]]
        got, _ = _runs_from_samples(
            np.arange(len(x)) / MOTIONSENSE_FS, to_g(x, "g", str(path)),
            np.full(len(x), code), fs_native=MOTIONSENSE_FS, user=f"motionsense:{s}",
            recording=f"motionsense:{trial}/sub_{s}", source=str(path),
        )  # fmt: skip
        runs += got
    return runs


def _infer_ns_scale(raw_ticks: np.ndarray, where: str) -> float:
    """Ticks per second of an integer clock, chosen so the median interval is 1-100 ms."""
    d = np.diff(raw_ticks)
    d = d[d > 0]
    if d.size == 0:
        raise ValueError(f"{where}: Creation_Time never increases; cannot time the samples")
    med = float(np.median(d))
    for scale in (1e9, 1e6, 1e3):  # ns (documented), then us, ms
        if 10.0 <= scale / med <= 1000.0:
            return scale
    raise ValueError(
        f"{where}: median Creation_Time step {med:g} gives no plausible sampling rate "
        "(10-1000 Hz) in ns, us or ms"
    )


def _read_hhar(raw_dir: Path, spec: _Spec, cache: dict | None) -> list[_Run]:
    root = _find_root(raw_dir, "hhar", ["Activity recognition exp", "."], "Watch_accelerometer.csv")
    path = root / "Watch_accelerometer.csv"
    header = [h.strip().strip('"') for h in _first_line(path).strip().split(",")]
    if tuple(header) != HHAR_COLUMNS:
        raise ValueError(
            f"{path}: expected the {len(HHAR_COLUMNS)} columns {','.join(HHAR_COLUMNS)}, found "
            f"{len(header)}: {','.join(header)}"
        )
    try:
        df = pd.read_csv(
            path,
            usecols=["Creation_Time", "x", "y", "z", "User", "Device", "gt"],
            dtype={"Creation_Time": np.int64, "x": np.float64, "y": np.float64,
                   "z": np.float64, "User": str, "Device": str, "gt": str},
        )  # fmt: skip
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: cannot parse: {e}") from None
    gt = df["gt"].fillna("null").astype(str).to_numpy()
    known = {*HHAR_ACTIVITIES, "null"}
    odd = sorted(set(np.unique(gt)) - known)
    if odd:
        raise ValueError(f"{path}: unknown gt value(s) {odd}; expected {sorted(known)}")
    code_of = {a: i for i, a in enumerate(HHAR_ACTIVITIES)}
    codes_all = np.array([code_of.get(g, -1) for g in gt], dtype=np.int64)
    ticks_all = df["Creation_Time"].to_numpy(np.int64)
    x_all = to_g(df[["x", "y", "z"]].to_numpy(np.float64), "m/s^2", str(path))
    runs: list[_Run] = []
    groups = df.groupby(["User", "Device"], sort=True, dropna=False).indices
    for (user, device), rows in groups.items():
        idx = np.sort(np.asarray(rows, dtype=np.int64))  # file order
        where = f"{path} (User {user}, Device {device})"
        if idx.size < 2:
            continue
        ticks = ticks_all[idx]
        scale = _infer_ns_scale(ticks, where)
        t = (ticks - ticks[0]).astype(np.float64) / scale
        # a clock that jumps back by more than a gap starts a new session
        new = np.flatnonzero(np.diff(t) < -MAX_BRIDGE_S) + 1
        bounds = np.concatenate(([0], new, [idx.size]))
        for k, (a, b) in enumerate(itertools.pairwise(bounds.tolist())):
            order = np.argsort(t[a:b], kind="stable") + a
            got, _ = _runs_from_samples(
                t[order], x_all[idx[order]], codes_all[idx[order]], fs_native=None,
                user=f"hhar:{user}", recording=f"hhar:{user}:{device}:session{k}",
                source=f"{where} session {k}",
            )  # fmt: skip
            runs += got
    return runs


_READERS: dict[str, Callable[[Path, _Spec, dict | None], list[_Run]]] = {
    "hhar": _read_hhar,
    "motionsense": _read_motionsense,
    "pamap2": _read_pamap2,
    "opportunity": _read_opportunity,
}
