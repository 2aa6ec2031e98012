"""Small synthetic copies of the paper's benchmark data sets, in their original file formats.

Each ``write_*`` function lays out a folder exactly like the public download (same file names,
folder structure, delimiters, column counts and order, units and label codes) and fills it
with known signals: every activity is a fixed gravity direction (1 g) plus, for moving
activities, a sinusoid of known frequency and amplitude on the first axis. The functions
return a :class:`Truth` that tells, per recording id (as ``relcon.eval.paper`` names
them) and on the time axis it reports (``start_s``), where each activity lies, where samples
are missing, and which subject the recording belongs to. Signals are given in g here and
written in the data set's own unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

G = 9.80665


@dataclass(frozen=True)
class Act:
    """Known signal of one activity, in g: ``gdir + [amp * sin(2 pi freq t), 0, 0]``."""

    freq: float = 0.0
    amp: float = 0.0
    gdir: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def signal(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.tile(np.asarray(self.gdir, dtype=np.float64), (t.size, 1))
        if self.amp:
            out[:, 0] += self.amp * np.sin(2 * np.pi * self.freq * t)
        return out


@dataclass
class Segment:
    """Samples ``t0 <= t < t1`` of a recording belong to ``label`` (None = not a class)."""

    t0: float
    t1: float
    label: str | None
    act: Act


@dataclass
class Truth:
    """What a reader should find: per recording id, segments, gaps and subject."""

    segments: dict[str, list[Segment]] = field(default_factory=dict)
    long_gaps: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    short_gaps: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    subject: dict[str, str] = field(default_factory=dict)

    def segment_at(self, rec: str, t0: float, t1: float, tol: float = 1e-6) -> Segment | None:
        """The segment that holds the whole interval ``[t0, t1]``, or None."""
        for s in self.segments.get(rec, []):
            if s.t0 - tol <= t0 and t1 < s.t1 + tol:
                return s
        return None


def _timeline(
    plan: list[tuple[str | None, float, Act]], fs: float, t_start: float
) -> tuple[np.ndarray, list[int], list[Segment]]:
    """Sample times, per-sample segment index and the segments of a list of (label, s, act)."""
    seg_idx: list[int] = []
    segments: list[Segment] = []
    k = 0
    for i, (label, dur, act) in enumerate(plan):
        n = round(dur * fs)
        segments.append(Segment(t_start + k / fs, t_start + (k + n) / fs, label, act))
        seg_idx += [i] * n
        k += n
    return t_start + np.arange(k) / fs, seg_idx, segments


def _fill(t: np.ndarray, seg_idx: list[int], segments: list[Segment]) -> np.ndarray:
    out = np.empty((t.size, 3))
    idx = np.asarray(seg_idx)
    for i, s in enumerate(segments):
        m = idx == i
        out[m] = s.act.signal(t[m])
    return out


# ----------------------------------------------------------------------------------------------
# PAMAP2: PAMAP2_Dataset/{Protocol,Optional}/subject1xx.dat, 54 space-separated columns
# ----------------------------------------------------------------------------------------------

PAMAP2_NAMES = {0: None, 1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running",
                6: "cycling", 7: "Nordic walking", 9: "watching TV", 12: "ascending stairs",
                13: "descending stairs", 16: "vacuum cleaning", 17: "ironing",
                24: "rope jumping"}  # fmt: skip

#: activity id -> (hand signal, ankle signal). Hand walking reaches 3.5 g on x (clipped to 3 g
#: by the 10 s benchmark).
PAMAP2_ACTS: dict[int, tuple[Act, Act]] = {
    0: (Act(0.7, 0.3, (0, 1, 0)), Act(0.7, 0.3, (0, 1, 0))),
    1: (Act(gdir=(0, 0, 1)), Act(gdir=(0, 1, 0))),
    2: (Act(gdir=(0, 1, 0)), Act(gdir=(1, 0, 0))),
    3: (Act(gdir=(0, -1, 0)), Act(gdir=(0, 0, -1))),
    4: (Act(2.0, 2.5, (1, 0, 0)), Act(2.5, 1.0, (0, 0, 1))),
    5: (Act(3.0, 1.0, (0, 0, 1)), Act(3.5, 1.2, (0, 0, 1))),
    6: (Act(1.0, 0.2, (0, 0, 1)), Act(1.5, 0.5, (0, 1, 0))),
    7: (Act(1.5, 0.6, (0, 0, 1)), Act(2.0, 0.9, (0, 0, 1))),
    9: (Act(gdir=(0, 0, 1)), Act(gdir=(0, 1, 0))),
    12: (Act(1.0, 0.4, (0, 0, 1)), Act(1.5, 0.8, (0, 0, 1))),
    13: (Act(1.5, 0.4, (0, 0, 1)), Act(2.0, 0.8, (0, 0, 1))),
    16: (Act(0.5, 0.3, (0, 0, 1)), Act(0.5, 0.1, (0, 0, 1))),
    17: (Act(0.3, 0.2, (0, 1, 0)), Act(gdir=(0, 1, 0))),
    24: (Act(2.5, 1.5, (0, 0, 1)), Act(3.0, 1.5, (0, 0, 1))),
}


def _pamap2_plan(subject: int, session: str) -> list[tuple[int, float]]:
    if session == "Optional":
        return [(9, 3.0), (16, 11.0)] if subject == 105 else [(9, 3.0)]
    if subject == 101:
        return [(0, 1.5), (1, 16.0), (2, 11.0), (0, 2.0), (4, 25.0), (24, 6.0), (5, 4.0),
                (3, 11.0), (12, 11.0), (13, 11.0), (16, 11.0), (17, 11.0), (6, 4.0),
                (7, 4.0)]  # fmt: skip
    return [(1, 11.0), (0, 1.0), (4, 11.0), (3, 4.0)]


#: (subject, session) -> {sensor: [(start offset s from the first sample, n samples, long?)]}
PAMAP2_GAPS = {
    (101, "Protocol"): {
        "hand": [(4.5, 5, False), (42.0, 100, True)],  # lying (short), walking (1 s)
        "ankle": [(9.5, 7, False), (35.0, 50, True)],  # lying (short), walking (0.5 s)
    },
}


def write_pamap2(raw_dir: Path) -> dict[str, Truth]:
    """Write a PAMAP2-like download into ``raw_dir``; return the truth per sensor.

    Each data file has 54 columns: timestamp (s), activityID, heart rate (NaN
    between the ~9 Hz beats), then 3 IMUs (hand, chest, ankle) of 17 columns: temperature,
    +-16 g acceleration (m/s^2), +-6 g acceleration (written as a decoy), gyroscope,
    magnetometer, 4 orientation values. Dropped packets are NaN over a whole IMU.
    """
    base = raw_dir / "PAMAP2_Dataset"
    truth = {"hand": Truth(), "ankle": Truth()}
    sessions = [("Protocol", s) for s in range(101, 110)]
    sessions += [("Optional", s) for s in (101, 105, 106, 108, 109)]
    for session, subject in sessions:
        plan = _pamap2_plan(subject, session)
        t_start = 5.64 if session == "Protocol" else 1.0
        tl, idx, segs = {}, None, {}
        for k, sensor in enumerate(("hand", "ankle")):
            p = [(PAMAP2_NAMES[a], d, PAMAP2_ACTS[a][k]) for a, d in plan]
            t, idx, segs[sensor] = _timeline(p, 100.0, t_start)
            tl[sensor] = _fill(t, idx, segs[sensor]) * G
        n = t.size
        ids = np.array([plan[i][0] for i in idx], dtype=np.float64)
        data = np.zeros((n, 54))
        data[:, 0] = t
        data[:, 1] = ids
        data[:, 2] = np.where(np.arange(n) % 11 == 0, 100.0, np.nan)
        decoy = Act(4.0, 3.0, (1, 1, 1)).signal(t) * G
        for off, sensor in ((3, "hand"), (20, "chest"), (37, "ankle")):
            acc = tl.get(sensor, decoy)
            data[:, off] = 31.0
            data[:, off + 1 : off + 4] = acc
            data[:, off + 4 : off + 7] = acc * 0.5 + 3.0  # +-6 g decoy
            data[:, off + 7 : off + 13] = 0.01
            data[:, off + 13 : off + 17] = (1.0, 0.0, 0.0, 0.0)
        rec = f"pamap2:{session}/subject{subject}.dat"
        for sensor, off in (("hand", 3), ("ankle", 37)):
            tr = truth[sensor]
            tr.segments[rec] = segs[sensor]
            tr.subject[rec] = f"pamap2:{subject}"
            tr.long_gaps[rec], tr.short_gaps[rec] = [], []
            for start, count, is_long in PAMAP2_GAPS.get((subject, session), {}).get(sensor, []):
                i0 = round(start * 100)
                data[i0 : i0 + count, off : off + 17] = np.nan
                gap = (t[i0], t[i0 + count - 1])
                (tr.long_gaps if is_long else tr.short_gaps)[rec].append(gap)
        folder = base / session
        folder.mkdir(parents=True, exist_ok=True)
        df = pd.DataFrame(data)
        df[0] = df[0].map(lambda v: f"{v:.2f}")
        df[1] = df[1].astype(int)
        df.to_csv(folder / f"subject{subject}.dat", sep=" ", header=False, index=False,
                  na_rep="NaN", float_format="%.6g")  # fmt: skip
    return truth


# ----------------------------------------------------------------------------------------------
# Opportunity: OpportunityUCIDataset/dataset/S<s>-<run>.dat, 250 space-separated columns
# ----------------------------------------------------------------------------------------------

OPPORTUNITY_NAMES = {0: None, 1: "stand", 2: "walk", 4: "sit", 5: "lie"}
OPPORTUNITY_ACTS = {
    0: Act(0.8, 0.3, (0, 0, 1)),
    1: Act(gdir=(0, 0, 1)),
    2: Act(1.2, 0.5, (0, 1, 0)),
    4: Act(0.4, 0.1, (1, 0, 0)),
    5: Act(gdir=(-1, 0, 0)),
}


def write_opportunity(raw_dir: Path) -> Truth:
    """Write an Opportunity-like download (30 Hz, milli g, NaN for missing) into ``raw_dir``.

    Columns: MILLISEC, 242 sensor values (the right-wrist accelerometer RWR in 1-based columns
    23-25; the others hold decoys), 7 label tracks starting with Locomotion (column 244).
    Subjects 1-4 have content in ADL1; the other runs are 10 null rows.
    """
    folder = raw_dir / "OpportunityUCIDataset" / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    truth = Truth()
    for s in range(1, 5):
        for run in ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill"):
            name = f"S{s}-{run}.dat"
            if run != "ADL1":
                plan = [(0, 10 / 30)]
            elif s == 1:
                plan = [(0, 1.0), (1, 12.0), (2, 24.0), (4, 11.0), (0, 1.0), (5, 11.0)]
            else:
                plan = [(1, 11.0), (2, 11.0)]
            p = [(OPPORTUNITY_NAMES[a], d, OPPORTUNITY_ACTS[a]) for a, d in plan]
            k = 0
            idx: list[int] = []
            segs: list[Segment] = []
            for i, (label, dur, act) in enumerate(p):
                n = round(dur * 30)
                # MILLISEC is rounded to whole ms; segment bounds on the exact 30 Hz clock
                segs.append(Segment(k / 30, (k + n) / 30, label, act))
                idx += [i] * n
                k += n
            ms = np.round(np.arange(k) * 1000 / 30)
            t = ms / 1000.0
            acc_mg = np.round(_fill(t, idx, segs) * 1000)
            data = np.zeros((k, 250))
            data[:, 0] = ms
            data[:, 1:243] = 7.0
            data[:, 22:25] = acc_mg
            data[:, 31:34] = np.round(Act(3.0, 0.9, (0, 0, 1)).signal(t) * 1000)  # LWR decoy
            data[:, 19:22] = 555.0
            data[:, 243] = [plan[i][0] for i in idx]
            data[:, 244:250] = 101.0
            rec = f"opportunity:{name}"
            truth.segments[rec] = segs
            truth.subject[rec] = f"opportunity:{s}"
            truth.long_gaps[rec], truth.short_gaps[rec] = [], []
            if run == "ADL1" and s == 1:
                for start, count, is_long in ((5.0, 3, False), (24.0, 60, True)):
                    i0 = round(start * 30)
                    data[i0 : i0 + count, 22:25] = np.nan
                    gap = (t[i0], t[i0 + count - 1])
                    (truth.long_gaps if is_long else truth.short_gaps)[rec].append(gap)
            df = pd.DataFrame(data)
            df.to_csv(folder / name, sep=" ", header=False, index=False, na_rep="NaN",
                      float_format="%.10g")  # fmt: skip
    return truth


# ----------------------------------------------------------------------------------------------
# MotionSense: B_Accelerometer_data/<act>_<trial>/sub_<n>.csv, header ",x,y,z", g, 50 Hz
# ----------------------------------------------------------------------------------------------

MOTIONSENSE_TRIALS = ("dws_1", "dws_2", "dws_11", "ups_3", "ups_4", "ups_12", "wlk_7", "wlk_8",
                      "wlk_15", "jog_9", "jog_16", "sit_5", "sit_13", "std_6", "std_14")  # fmt: skip
MOTIONSENSE_NAMES = {"dws": "downstairs", "ups": "upstairs", "wlk": "walking", "jog": "jogging",
                     "std": "standing", "sit": "sitting"}  # fmt: skip
MOTIONSENSE_ACTS = {
    "dws": Act(1.5, 0.4, (0, -1, 0)),
    "ups": Act(1.0, 0.4, (0, -1, 0)),
    "wlk": Act(2.0, 0.5, (0, -1, 0)),
    "jog": Act(3.0, 0.9, (0, -1, 0)),
    "std": Act(gdir=(0, -1, 0)),
    "sit": Act(gdir=(0.6, 0, -0.8)),
}


def write_motionsense(raw_dir: Path, seconds: float = 2.5, doubled: bool = True) -> Truth:
    """Write a MotionSense-like ``B_Accelerometer_data`` folder (15 trials x 24 subjects).

    ``doubled`` nests it as ``B_Accelerometer_data/B_Accelerometer_data`` the way extracting
    the zip into a folder of its name does.
    """
    base = raw_dir / "B_Accelerometer_data"
    if doubled:
        base = base / "B_Accelerometer_data"
    truth = Truth()
    for trial in MOTIONSENSE_TRIALS:
        code = trial.split("_")[0]
        act = MOTIONSENSE_ACTS[code]
        (base / trial).mkdir(parents=True, exist_ok=True)
        for s in range(1, 25):
            n = round(seconds * 50)
            t = np.arange(n) / 50
            x = act.signal(t)
            pd.DataFrame(x, columns=["x", "y", "z"]).to_csv(
                base / trial / f"sub_{s}.csv", float_format="%.8f"
            )
            rec = f"motionsense:{trial}/sub_{s}"
            truth.segments[rec] = [Segment(0.0, n / 50, MOTIONSENSE_NAMES[code], act)]
            truth.subject[rec] = f"motionsense:{s}"
            truth.long_gaps[rec], truth.short_gaps[rec] = [], []
    return truth


# ----------------------------------------------------------------------------------------------
# HHAR: Activity recognition exp/Watch_accelerometer.csv, irregular time stamps, m/s^2
# ----------------------------------------------------------------------------------------------

HHAR_ACTS = {
    "stand": Act(gdir=(0, 0, 1)),
    "sit": Act(gdir=(0, 1, 0)),
    "walk": Act(2.0, 0.5, (1, 0, 0)),
    "bike": Act(1.0, 0.3, (0, 0, 1)),
    "stairsup": Act(1.5, 0.4, (1, 0, 0)),
    "stairsdown": Act(2.5, 0.4, (1, 0, 0)),
    None: Act(0.5, 0.5, (0, 0, 1)),
}
HHAR_DEVICES = (("gear", "gear_1", 100.0, 27_920_678_471_000),
                ("lgwatch", "lgwatch_1", 200.0, 1_424_696_631_913_248_572))  # fmt: skip


def write_hhar(raw_dir: Path, users: str = "abcde", drop_column: str | None = None) -> Truth:
    """Write an HHAR-like ``Watch_accelerometer.csv`` (two watches per user, jittered clocks).

    Creation_Time is in ns on each device's clock; samples are jittered by up to +-20% of the
    interval. User ``a``'s gear has a 1 s hole inside 'walk' and a second session whose clock
    starts 100 s before the first one (a reset), which must become separate recordings.
    """
    rng = np.random.default_rng(7)
    folder = raw_dir / "Activity recognition exp"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [("stand", 5.0), (None, 1.0), ("walk", 7.0), ("bike", 5.0), ("sit", 3.0),
            ("stairsup", 3.0), ("stairsdown", 3.0)]  # fmt: skip
    frames = []
    truth = Truth()
    for user in users:
        for model, device, fs, tick0 in HHAR_DEVICES:
            sessions = [(0.0, plan)]
            if user == "a" and model == "gear":
                sessions.append((-100.0, [("stand", 3.0)]))
            for k, (t_start, pl) in enumerate(sessions):
                p = [(lab, d, HHAR_ACTS[lab]) for lab, d in pl]
                t, idx, segs = _timeline(p, fs, t_start)
                t = t + rng.uniform(-0.2, 0.2, t.size) / fs
                t[0] = t_start
                keep = np.ones(t.size, dtype=bool)
                rec = f"hhar:{user}:{device}:session{k}"
                truth.long_gaps[rec], truth.short_gaps[rec] = [], []
                if user == "a" and model == "gear" and k == 0:
                    hole = (t >= 9.0) & (t < 10.0)  # inside 'walk' (6.0 - 13.0 s)
                    keep &= ~hole
                    truth.long_gaps[rec].append((9.0, 10.0))
                ticks = tick0 + np.round(t * 1e9).astype(np.int64)
                x = _fill(t, idx, segs) * G
                gt = [pl[i][0] or "null" for i in idx]
                frames.append(
                    pd.DataFrame(
                        {
                            "Arrival_Time": 1424696633908 + np.round(t * 1000).astype(np.int64),
                            "Creation_Time": ticks,
                            "x": x[:, 0],
                            "y": x[:, 1],
                            "z": x[:, 2],
                            "User": user,
                            "Model": model,
                            "Device": device,
                            "gt": gt,
                        }
                    )[keep]
                )
                truth.segments[rec] = segs
                truth.subject[rec] = f"hhar:{user}"
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "Index", np.arange(len(df)))
    if drop_column:
        df = df.drop(columns=[drop_column])
    df.to_csv(folder / "Watch_accelerometer.csv", index=False, float_format="%.7g")
    return truth
