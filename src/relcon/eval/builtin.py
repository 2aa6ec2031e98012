"""Downstream task files built from the shared accelerometry data sets.

Every task is a :class:`relcon.data.tasks.Task` of 2.56 s windows (256 samples at 100 Hz, in g,
gravity included) whose ``groups`` are dataset-qualified subject ids (``"wisdm_watch:1600"``,
``"spsw:s01"``, ``"hapt:1"``, ``"ipol_gait:3"``, ``"oxford_opt:Jamie"``). Its ``description``
holds the citation, the licence, the caveats, the windowing rule and the window counts.

================ ============== =========================================================
name             type           content
================ ============== =========================================================
wisdm_har6       classification WISDM watch: walking, jogging, stairs, sitting, standing,
                                kicking; non-overlapping windows inside each activity
spsw_har5        classification smartwatch Timed-Up-and-Go: SEATED, STANDING_UP, WALKING,
                                TURNING, SITTING_DOWN; stride 0.64 s, plurality >= 40%
hapt_har6        classification HAPT waist phone, 6 basic activities; 50% overlap,
                                windows fully inside one labelled interval
hapt_har6_uci    classification the same windows with the UCI-HAR train/test subject split
oxford_steps     regression     phone (not wrist) step count per non-overlapping window
ipol_cadence     regression     lower-back cadence (steps/min) in straight walking
ipol_stride_time regression     lower-back mean stride time (s) in straight walking
================ ============== =========================================================

Besides the keys of the task format, every file stores the per-window arrays ``recording``
(recording id of :mod:`relcon.data.datasets`) and ``start_s`` (window start on that
recording's clock); ``oxford_steps`` also stores ``positions`` (phone position per window).
:func:`relcon.data.tasks.load_task` ignores these keys; read them with :func:`numpy.load`.

:data:`relcon.data.datasets.heldout.HELD_OUT_SUBJECTS` fixes, per data set, the subjects that
pretraining must never see: the test subjects of these tasks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relcon.config import spell
from relcon.data.datasets import (
    HAPT_ACTIVITIES6,
    SPSW_LABELS,
    WISDM_ACTIVITIES,
    WISDM_HAR6,
    WISDM_LETTERS,
    GaitTrial,
    read_hapt,
    read_hapt_subject_split,
    read_ipol_gait,
    read_ipol_gait_events,
    read_oxford_step_count,
    read_oxford_step_events,
    read_spsw_smartwatch,
    read_wisdm_watch,
)
from relcon.data.recording import Recording
from relcon.data.signal import TARGET_FS
from relcon.data.tasks import Task, save_task
from relcon.data.windowing import SEGMENT_LENGTH, window_recordings
from relcon.io import claim_outputs
from relcon.progress import progress_bar

__all__ = [
    "BUILTIN_TASKS",
    "HAPT_STRIDE",
    "IPOL_MIN_INTERVALS",
    "IPOL_STRIDE",
    "OXFORD_STRIDE",
    "SPSW_MIN_LABEL_FRACTION",
    "SPSW_STRIDE",
    "WISDM_STRIDE",
    "build_task",
    "build_tasks",
    "ipol_window_targets",
    "write_task",
]

logger = logging.getLogger(__name__)

#: Name -> one-line description of the built-in tasks.
BUILTIN_TASKS: dict[str, str] = {
    "wisdm_har6": "WISDM watch (wrist), 6 classes: walking, jogging, stairs, sitting, standing, "
    "kicking; 46 subjects",
    "spsw_har5": "Smartwatch Timed-Up-and-Go (wrist), 5 classes: SEATED, STANDING_UP, WALKING, "
    "TURNING, SITTING_DOWN; 23 subjects",
    "hapt_har6": "UCI HAPT (waist phone), 6 basic activities; 30 subjects",
    "hapt_har6_uci": "UCI HAPT (waist phone), 6 basic activities with the UCI-HAR subject "
    "train/test split",
    "oxford_steps": "Oxford step counter (phone in hand/pocket/bag..., not wrist): steps per "
    "2.56 s window (regression); 3 + 2 people",
    "ipol_cadence": "IPOL 2023 lower-back gait: cadence in steps/min during straight walking "
    "(regression); 19 subjects",
    "ipol_stride_time": "IPOL 2023 lower-back gait: mean stride time in s during straight walking "
    "(regression); 19 subjects",
}

#: Window step (samples at 100 Hz) of each task family.
WISDM_STRIDE = SEGMENT_LENGTH  # non-overlapping
SPSW_STRIDE = 64  # 0.64 s, 75% overlap: the transitions last only ~1.2 s
HAPT_STRIDE = SEGMENT_LENGTH // 2  # 50% overlap
OXFORD_STRIDE = SEGMENT_LENGTH  # non-overlapping: per-window step counts add up
IPOL_STRIDE = SEGMENT_LENGTH // 2  # 50% overlap

#: Share of a spsw window that its most frequent label must cover (plurality rule).
SPSW_MIN_LABEL_FRACTION = 0.4

#: Minimum number of intervals (step intervals for cadence, strides for stride time) per
#: IPOL window; windows with fewer are dropped and counted.
IPOL_MIN_INTERVALS = 2

#: Per-window arrays stored in the task file besides the task format's keys.
_EXTRA_KEYS = ("recording", "start_s", "positions")

_FS = TARGET_FS
_WIN_S = SEGMENT_LENGTH / TARGET_FS


# ----------------------------------------------------------------------------------------------
# windowing helpers
# ----------------------------------------------------------------------------------------------


class _Windows:
    """Accumulates windows and their per-window metadata."""

    def __init__(self) -> None:
        self.x: list[np.ndarray] = []
        self.y: list[Any] = []
        self.groups: list[str] = []
        self.recording: list[str] = []
        self.start_s: list[float] = []
        self.positions: list[str] = []

    def add(self, rec: Recording, start: int, y: Any, position: str | None = None) -> None:
        self.x.append(rec.x[start : start + SEGMENT_LENGTH])
        self.y.append(y)
        self.groups.append(rec.user)
        self.recording.append(rec.recording)
        self.start_s.append(float(rec.start_s) + start / float(rec.fs))
        if position is not None:
            self.positions.append(position)

    def __len__(self) -> int:
        return len(self.y)

    def task(
        self,
        name: str,
        task_type: str,
        description: str,
        label_names: tuple[str, ...] | None = None,
        split: np.ndarray | None = None,
    ) -> Task:
        if not self.x:
            raise ValueError(f"{name}: no windows were produced")
        y = np.asarray(self.y, dtype=np.int64 if task_type == "classification" else np.float64)
        extra: dict[str, Any] = {
            "recording": np.asarray(self.recording, dtype=str),
            "start_s": np.asarray(self.start_s, dtype=np.float64),
        }
        if self.positions:
            extra["positions"] = np.asarray(self.positions, dtype=str)
        x = np.ascontiguousarray(np.stack(self.x), dtype=np.float32)
        return Task(
            X=x, y=y, groups=np.asarray(self.groups, dtype=str), task_type=task_type, fs=_FS,
            split=split, label_names=label_names, name=name, description=description, extra=extra,
        )  # fmt: skip


def _starts(lo: int, hi: int, stride: int) -> range:
    """Window starts ``lo, lo + stride, ...`` of windows lying fully inside ``[lo, hi)``."""
    return range(lo, hi - SEGMENT_LENGTH + 1, stride)


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, end_exclusive, code)`` of the runs of equal labels."""
    lab = np.asarray(labels)
    if lab.size == 0:
        return []
    cut = np.flatnonzero(np.diff(lab)) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, lab.size]
    return [(int(a), int(b), int(lab[a])) for a, b in zip(starts, ends, strict=True)]


def _run_windows(
    recs: Sequence[Recording], code_map: dict[int, int], stride: int, out: _Windows
) -> None:
    """Windows fully inside runs of one label, anchored at each run's start."""
    for rec in recs:
        if rec.labels is None:
            continue
        for a, b, code in _runs(rec.labels):
            if code not in code_map:
                continue
            for s in _starts(a, b, stride):
                out.add(rec, s, code_map[code])


def _class_counts(y: Sequence[int], names: Sequence[str]) -> str:
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(names))
    return ", ".join(f"{n} {int(c)}" for n, c in zip(names, counts, strict=True))


def _summary(out: _Windows) -> str:
    return f"{len(out)} windows from {len(set(out.groups))} subjects"


def _range_summary(values: Sequence[float], unit: str) -> str:
    v = np.asarray(values, dtype=np.float64)
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return (
        f"targets {v.min():.3g}-{v.max():.3g} {unit} (5/50/95th percentiles "
        f"{p5:.3g}/{p50:.3g}/{p95:.3g})"
    )


_WINDOW_NOTE = "Windows are 2.56 s (256 samples at 100 Hz) of acceleration in g, gravity included."


# ----------------------------------------------------------------------------------------------
# task builders
# ----------------------------------------------------------------------------------------------

_Cache = dict[str, Any]


def _cached(cache: _Cache, key: str, fn: Callable[[], Any]) -> Any:
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def _build_wisdm_har6(root: Path | None, cache: _Cache) -> Task:
    recs = read_wisdm_watch(root, activities=WISDM_HAR6)
    names = tuple(WISDM_ACTIVITIES[a] for a in WISDM_HAR6)
    code_map = {WISDM_LETTERS.index(a): i for i, a in enumerate(WISDM_HAR6)}
    out = _Windows()
    _run_windows(recs, code_map, WISDM_STRIDE, out)
    desc = (
        "WISDM Smartphone and Smartwatch Activity and Biometrics Dataset, smartwatch "
        "accelerometer. Cite: G. M. Weiss (2019), UCI Machine Learning Repository id 507; "
        "G. M. Weiss, K. Yoneda, T. Hayajneh, 'Smartphone and Smartwatch-Based Biometrics Using "
        "Activities of Daily Living', IEEE Access 7:133190-133202, 2019. Licence: CC BY 4.0. "
        "Sensor: LG G Watch on the wrist, ~20 Hz irregular, m/s^2 converted to g, regularised "
        "per (subject, activity) block, split at gaps > 0.5 s and resampled to 100 Hz with a "
        "polyphase anti-aliasing filter. Classes (WISDM letters A, B, C, D, E, M): "
        f"{', '.join(names)}. Caveats: only 46 of the 51 subjects (1629, 1637-1640 are missing "
        "from the public copy); 1616 has no jogging and 1642 no stairs; 1,160 rows of subject "
        "1649 recorded under both kicking and catch were dropped. "
        f"{_WINDOW_NOTE} Windowing: non-overlapping (stride 256) from the start of each "
        "gap-free piece of one activity block, so no window crosses a gap or an activity "
        f"boundary. Counts: {_summary(out)}; per class: {_class_counts(out.y, names)}."
    )
    return out.task("wisdm_har6", "classification", desc, label_names=names)


def _build_spsw_har5(root: Path | None, cache: _Cache) -> Task:
    recs = read_spsw_smartwatch(root)
    segs = window_recordings(
        recs, SEGMENT_LENGTH, SPSW_STRIDE, min_label_fraction=SPSW_MIN_LABEL_FRACTION
    )
    out = _Windows()
    by_id = {r.recording: r for r in recs}
    n_unlabelled = int(np.sum(segs.label < 0))
    for i in np.flatnonzero(segs.label >= 0):
        rec = by_id[str(segs.recording[i])]
        start = round((float(segs.start_s[i]) - rec.start_s) * rec.fs)
        out.add(rec, start, int(segs.label[i]))
    desc = (
        "Smartphone and smartwatch HAR data set, smartwatch accelerometer only. Cite: "
        "M. Matey-Sanz, S. Casteleyn, C. Granell, 'Dataset of inertial measurements of "
        "smartphones and smartwatches for human activity recognition', Data in Brief 51:109809, "
        "2023 (DOI 10.1016/j.dib.2023.109809; data DOI 10.5281/zenodo.8398688). Licence: "
        "CC BY 4.0. Sensor: wrist smartwatch, ~100 Hz irregular (Unix ms timestamps), m/s^2 "
        "converted to g, duplicate timestamps dropped, regularised and resampled to 100 Hz. "
        "Protocol: Timed-Up-and-Go-like executions of 8.6-14.8 s (seated, stand up, walk, turn, "
        "walk, turn, sit down). Caveats: executions are short and the transitions STANDING_UP / "
        "SITTING_DOWN last only ~1.2 s (SEATED runs ~0.7 s), so no 2.56 s window is pure for "
        "them; not every execution has the canonical label sequence; the watch wrist is not "
        f"stated. {_WINDOW_NOTE} Windowing: stride {SPSW_STRIDE} samples (0.64 s, 75% overlap) "
        "inside each execution (never across executions); a window takes its most frequent "
        f"per-sample label if that label covers at least {SPSW_MIN_LABEL_FRACTION:.0%} of it "
        "(>= 103 of 256 samples; ties go to the smaller code), otherwise it is dropped "
        f"({n_unlabelled} windows dropped). Counts: {_summary(out)}; per class: "
        f"{_class_counts(out.y, SPSW_LABELS)}. SEATED is a small class."
    )
    return out.task("spsw_har5", "classification", desc, label_names=SPSW_LABELS)


def _hapt_windows(root: Path | None, cache: _Cache) -> tuple[_Windows, tuple[str, ...]]:
    def make() -> tuple[_Windows, tuple[str, ...]]:
        recs = read_hapt(root)
        names = tuple(recs[0].label_names[c] for c in HAPT_ACTIVITIES6)
        out = _Windows()
        _run_windows(recs, {c: i for i, c in enumerate(HAPT_ACTIVITIES6)}, HAPT_STRIDE, out)
        return out, names

    return _cached(cache, "hapt_windows", make)


def _hapt_description(out: _Windows, names: tuple[str, ...], extra: str = "") -> str:
    return (
        "Smartphone-Based Recognition of Human Activities and Postural Transitions (HAPT) v2.1, "
        "raw accelerometer. Cite: J.-L. Reyes-Ortiz, L. Oneto, A. Sama, X. Parra, D. Anguita, "
        "'Transition-Aware Human Activity Recognition Using Smartphones', Neurocomputing "
        "171:754-767, 2016; data: UCI Machine Learning Repository id 341. Licence: UCI lists "
        "CC BY 4.0, the original README forbids commercial use: treat as non-commercial with "
        "citation. Sensor: Samsung Galaxy S II on the waist, 50 Hz, already in g, resampled to "
        "100 Hz. Caveats: label start/end are read as 1-based inclusive sample numbers (index "
        "base undocumented; a 1-sample shift is immaterial); ~27% of samples are unlabelled and "
        "never given a class; the 6 postural transitions are not used. "
        f"{_WINDOW_NOTE} Windowing: stride {HAPT_STRIDE} (50% overlap), anchored at the start of "
        "each labelled interval of a basic activity and lying fully inside it (no two intervals "
        "of the same activity touch, so a window never spans two intervals or unlabelled "
        f"samples). Counts: {_summary(out)}; per class: {_class_counts(out.y, names)}.{extra}"
    )


def _build_hapt_har6(root: Path | None, cache: _Cache) -> Task:
    out, names = _hapt_windows(root, cache)
    return out.task("hapt_har6", "classification", _hapt_description(out, names), names)


def _build_hapt_har6_uci(root: Path | None, cache: _Cache) -> Task:
    out, names = _hapt_windows(root, cache)
    split_ids = read_hapt_subject_split(root, qualified=True)
    test = set(split_ids["test"])
    split = np.where(np.isin(np.asarray(out.groups), list(test)), "test", "train")
    n_test = int(np.sum(split == "test"))
    extra = (
        " Split: the standard UCI-HAR subject split from hapt/subject_split.csv, test users "
        f"{', '.join(s.split(':')[1] for s in split_ids['test'])} ({n_test} test windows, "
        f"{len(split) - n_test} train windows)."
    )
    return out.task(
        "hapt_har6_uci", "classification", _hapt_description(out, names, extra), names, split
    )


def _build_oxford_steps(root: Path | None, cache: _Cache) -> Task:
    recs = read_oxford_step_count(root, part="both")
    events = read_oxford_step_events(root, part="both")
    out = _Windows()
    for rec in recs:
        info = events[rec.recording.rsplit(":", 1)[0]]
        times = info.step_times_s
        for s in _starts(0, len(rec), OXFORD_STRIDE):
            t0 = float(rec.start_s) + s / float(rec.fs)
            n = int(
                np.searchsorted(times, t0 + _WIN_S, "left") - np.searchsorted(times, t0, "left")
            )
            out.add(rec, s, float(n), position=info.position)
    pos_counts = {p: out.positions.count(p) for p in sorted(set(out.positions))}
    desc = (
        "Oxford Step Counter data set. Cite: D. Salvi, C. Velardo, J. Brynes, L. Tarassenko, "
        "'An optimised algorithm for accurate steps counting from smart-phone accelerometry', "
        "IEEE EMBC 2018 (GitHub Oxford-step-counter/DataSet). Licence: CC BY 4.0. Sensor: a "
        "SMARTPHONE, NOT A WRIST DEVICE: held in the hand (InHand), swung in the hand "
        "(SwingingArm), on an armband, in a back or front trouser pocket, in a neck pouch, a purse "
        "or a bag; InHand and SwingingArm are closest to wrist motion; report results per "
        "position (the per-window position is stored under the extra key 'positions'). "
        "100-405 Hz irregular by phone (ns since boot), m/s^2 converted to g, resampled to "
        "100 Hz with a polyphase anti-aliasing filter, split at gaps > 0.1 s. Ground truth: "
        "foot-switch 0->1 transitions (optimisation part, 48 recordings) or increments of the "
        "cumulative truth_steps (validation part, 12 recordings). Caveats: only 3 optimisation "
        "people (Jamie, Carmelo, Dario; Jamie on three phones is one person; SOURCE.txt says 4 "
        "people but stats.csv names these 3) and 2 validation "
        "users (oxford_val:user1/2, not linked to the optimisation people, kept as separate "
        "groups): subject-wise splits are coarse, say so next to any number. "
        f"{_WINDOW_NOTE} Windowing: non-overlapping (stride 256) from the start of each gap-free "
        "piece; target = number of step events whose time t satisfies start <= t < start + "
        f"2.56 s. Counts: {_summary(out)}; {_range_summary(out.y, 'steps')}; windows per "
        f"position: {', '.join(f'{k} {v}' for k, v in pos_counts.items())}."
    )
    return out.task("oxford_steps", "regression", desc)


def ipol_window_targets(trial: GaitTrial, start: int, segment: tuple[int, int]) -> dict[str, Any]:
    """Cadence and stride time of one IPOL window, from the annotated heel strikes.

    The window covers the sample indices ``[start, start + 256)`` of the trial's PacketCounter
    axis (100 Hz) and must lie inside the straight-walking ``segment`` (a half-open index
    range from :meth:`GaitTrial.straight_segments`). Heel strikes are the ends of the
    ``[toe_off, heel_strike]`` pairs.

    * **cadence** (steps/min): let ``h_1 < ... < h_n`` be the heel strikes of either foot with
      ``start <= h_i < start + 256``. With at least :data:`IPOL_MIN_INTERVALS` intervals
      (``n >= 3``), cadence ``= 60 / mean(h_{i+1} - h_i) * 100``
      ``= 6000 * (n - 1) / (h_n - h_1)``. ``None`` (window dropped, reason
      ``"too_few_steps"``) with fewer intervals, or (reason ``"non_alternating"``) when two
      consecutive strikes come from the same foot: a missed annotation or a shuffling step,
      which is not a step interval.
    * **stride time** (s): for each foot, the intervals ``g_k - g_{k-1}`` between consecutive
      heel strikes of that foot whose later strike ``g_k`` falls in the window and whose earlier
      strike ``g_{k-1}`` lies in the same straight segment (so no turning stride is used);
      stride time ``= mean over both feet of these intervals / 100``. ``None`` when there are
      fewer than :data:`IPOL_MIN_INTERVALS` such strides (``"too_few_strides"``) or when a
      stride does not contain exactly one heel strike of the other foot
      (``"non_alternating"``).

    Parameters
    ----------
    trial : GaitTrial
        The trial's annotations.
    start : int
        First sample index of the window.
    segment : tuple of int
        The straight segment ``[lo, hi)`` that contains the window.

    Returns
    -------
    dict
        ``cadence`` (float or None), ``cadence_drop`` (reason or None), ``stride_time``
        (float or None), ``stride_drop`` (reason or None).
    """
    fs = float(trial.fs)
    end = start + SEGMENT_LENGTH
    left = trial.heel_strikes("left")
    right = trial.heel_strikes("right")
    both = np.concatenate([left, right])
    foot = np.concatenate([np.zeros(left.size, np.int8), np.ones(right.size, np.int8)])
    order = np.argsort(both, kind="stable")
    both, foot = both[order], foot[order]
    res: dict[str, Any] = {
        "cadence": None,
        "cadence_drop": None,
        "stride_time": None,
        "stride_drop": None,
    }

    inside = (both >= start) & (both < end)
    h, f = both[inside], foot[inside]
    if h.size - 1 < IPOL_MIN_INTERVALS:
        res["cadence_drop"] = "too_few_steps"
    elif np.any(f[1:] == f[:-1]):
        res["cadence_drop"] = "non_alternating"
    else:
        res["cadence"] = 60.0 * fs * (h.size - 1) / float(h[-1] - h[0])

    strides: list[float] = []
    alternating = True
    for own, other in ((left, right), (right, left)):
        for k in range(1, own.size):
            g0, g1 = int(own[k - 1]), int(own[k])
            if not (start <= g1 < end and g0 >= segment[0]):
                continue
            n_other = int(np.sum((other > g0) & (other < g1)))
            alternating &= n_other == 1
            strides.append((g1 - g0) / fs)
    if len(strides) < IPOL_MIN_INTERVALS:
        res["stride_drop"] = "too_few_strides"
    elif not alternating:
        res["stride_drop"] = "non_alternating"
    else:
        res["stride_time"] = float(np.mean(strides))
    return res


def _ipol_windows(root: Path | None, cache: _Cache) -> dict[str, Any]:
    def make() -> dict[str, Any]:
        recs = read_ipol_gait(root)
        trials = read_ipol_gait_events(root)
        cad, stride = _Windows(), _Windows()
        drops: dict[str, dict[str, int]] = {"cadence": {}, "stride": {}}
        n_candidates = 0
        for rec in recs:
            trial = trials[rec.recording.rsplit(":", 1)[0]]
            p0 = round(float(rec.start_s) * trial.fs)
            p1 = p0 + len(rec)
            for seg in trial.straight_segments():
                lo, hi = max(seg[0], p0), min(seg[1], p1)
                for w in _starts(lo, hi, IPOL_STRIDE):
                    n_candidates += 1
                    t = ipol_window_targets(trial, w, seg)
                    if t["cadence"] is not None:
                        cad.add(rec, w - p0, t["cadence"])
                    else:
                        d = drops["cadence"]
                        d[t["cadence_drop"]] = d.get(t["cadence_drop"], 0) + 1
                    if t["stride_time"] is not None:
                        stride.add(rec, w - p0, t["stride_time"])
                    else:
                        d = drops["stride"]
                        d[t["stride_drop"]] = d.get(t["stride_drop"], 0) + 1
        return {"cadence": cad, "stride": stride, "drops": drops, "n_candidates": n_candidates}

    return _cached(cache, "ipol_windows", make)


def _ipol_description(res: dict[str, Any], which: str) -> str:
    out: _Windows = res[which]
    drops = res["drops"][which]
    if which == "cadence":
        target = (
            "target = cadence in steps/min = 60 / mean interval (s) between consecutive heel "
            "strikes of either foot inside the window; at least 2 intervals and alternating "
            "feet required"
        )
        unit = "steps/min"
    else:
        target = (
            "target = stride time in s = mean interval between consecutive heel strikes of the "
            "same foot whose later strike lies inside the window and whose earlier strike lies in "
            "the same straight segment, pooled over both feet; at least 2 strides, each holding "
            "exactly one heel strike of the other foot, required"
        )
        unit = "s"
    drop_txt = ", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"
    return (
        "IPOL 2023 'A Reference Data Set for the Study of Healthy Subject Gait with Inertial "
        "Measurements Units' (C. Voisard et al., Image Processing On Line, 2023, article 497, "
        "https://www.ipol.im/pub/art/2023/497/; GitHub CyrilVoisard/ipol_dataset_1). Licence: "
        "the source repository is AGPL-3.0 with no separate data licence; check the article "
        "page before non-research use. Sensor: XSens MTw on the lower back (L5), NOT the wrist, "
        "100 Hz, m/s^2 converted to g. Protocol: stand, walk 10 m, U-turn, walk back, stop; 19 "
        "healthy subjects aged 25-79, 110 trials. Caveats: ~5% of packets were lost; "
        "the PacketCounter is the time axis, lost packets are linearly interpolated for gaps "
        "<= 0.1 s and trials are split at longer gaps (a window never crosses one); events "
        "inside UTurnBoundaries are turning steps and are excluded; windows at the start of a "
        "segment include gait initiation after standing or turning, and some older subjects "
        "walk slowly, hence a low tail of the targets. Heel strikes are the ends "
        f"of the annotated [toe_off, heel_strike] pairs. {_WINDOW_NOTE} Windowing: stride "
        f"{IPOL_STRIDE} (50% overlap), anchored at the start of each straight-walking segment "
        "(inside TrialBoundaries, before or after UTurnBoundaries) intersected with a gap-free "
        f"piece, each window fully inside it; {target}. Of {res['n_candidates']} candidate "
        f"windows, dropped: {drop_txt}. Counts: {_summary(out)}; {_range_summary(out.y, unit)}."
    )


def _build_ipol_cadence(root: Path | None, cache: _Cache) -> Task:
    res = _ipol_windows(root, cache)
    return res["cadence"].task("ipol_cadence", "regression", _ipol_description(res, "cadence"))


def _build_ipol_stride_time(root: Path | None, cache: _Cache) -> Task:
    res = _ipol_windows(root, cache)
    return res["stride"].task("ipol_stride_time", "regression", _ipol_description(res, "stride"))


_BUILDERS: dict[str, Callable[[Path | None, _Cache], Task]] = {
    "wisdm_har6": _build_wisdm_har6,
    "spsw_har5": _build_spsw_har5,
    "hapt_har6": _build_hapt_har6,
    "hapt_har6_uci": _build_hapt_har6_uci,
    "oxford_steps": _build_oxford_steps,
    "ipol_cadence": _build_ipol_cadence,
    "ipol_stride_time": _build_ipol_stride_time,
}


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def _check_names(names: Iterable[str] | None) -> list[str]:
    if names is None:
        return list(BUILTIN_TASKS)
    if isinstance(names, str):
        names = [names]
    out = list(dict.fromkeys(names))
    unknown = [n for n in out if n not in BUILTIN_TASKS]
    if unknown:
        raise ValueError(f"unknown built-in task(s) {unknown}; available: {list(BUILTIN_TASKS)}")
    return out


def _root(data_root: str | os.PathLike[str] | None) -> Path | None:
    return None if data_root is None else Path(data_root).expanduser()


def _build(name: str, root: Path | None, cache: _Cache) -> Task:
    task = _BUILDERS[name](root, cache)
    logger.info("%s: %d windows, %d subjects", name, len(task), task.n_subjects)
    return task


def build_task(name: str, data_root: str | os.PathLike[str] | None = None) -> Task:
    """Build one built-in task in memory.

    Parameters
    ----------
    name : str
        A key of :data:`BUILTIN_TASKS`.
    data_root : path-like, optional
        Folder holding the data set folders (``wisdm_watch/``, ...);
        :func:`relcon.data.datasets.base.default_data_root` when None.

    Returns
    -------
    Task
        ``X`` ``(N, 256, 3)`` float32 in g at 100 Hz, ``y`` int64 codes or float64 targets,
        ``groups`` subject ids; ``extra`` holds the per-window arrays ``recording`` and
        ``start_s`` (and ``positions`` for ``oxford_steps``) that :func:`build_tasks` stores
        in the file. ``extra`` is not indexed by :meth:`Task.subset`.

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    FileNotFoundError
        If the data set is missing.
    """
    (checked,) = _check_names([name])
    return _build(checked, _root(data_root), {})


def write_task(task: Task, path: str | os.PathLike[str]) -> Path:
    """Write ``task`` with :func:`relcon.data.tasks.save_task`, plus its per-window extra arrays.

    The extra arrays of ``task.extra`` (``recording``, ``start_s``, ``positions`` when present
    and of length N) are appended to the ``.npz`` archive under their own names. The file
    appears atomically at ``path``.

    Parameters
    ----------
    task : Task
        The task.
    path : path-like
        Destination ``.npz`` file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    dest = Path(path)
    n = len(task)
    extras = {
        k: task.extra[k] for k in _EXTRA_KEYS if k in task.extra and np.shape(task.extra[k]) == (n,)
    }
    save_task(dataclasses.replace(task, extra=extras), dest)
    return dest


def build_tasks(
    data_root: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    names: Iterable[str] | None = None,
    overwrite: bool = False,
    *,
    progress: bool = True,
) -> dict[str, Path]:
    """Build built-in tasks and write them as ``<out_dir>/<name>.npz``.

    Each file is written atomically (see :func:`write_task`); data read for one task is reused
    by the others of the same call (``hapt_har6`` / ``hapt_har6_uci`` and the two IPOL tasks
    share their windows).

    Parameters
    ----------
    data_root : path-like or None
        Folder holding the data set folders; :func:`relcon.data.datasets.base.default_data_root`
        when None.
    out_dir : path-like
        Output folder (created if needed).
    names : iterable of str, optional
        Tasks to build; all of :data:`BUILTIN_TASKS` when None.
    overwrite : bool
        Replace existing files. When False and any target exists, nothing is built and
        FileExistsError is raised.
    progress : bool
        Show the progress over the tasks (:func:`relcon.progress.progress_bar`).

    Returns
    -------
    dict of str to pathlib.Path
        Task name -> written file.

    Raises
    ------
    ValueError
        If a name is unknown.
    FileExistsError
        If a target exists and ``overwrite`` is False.
    """
    todo = _check_names(names)
    out = Path(out_dir).expanduser()
    targets = {n: out / f"{n}.npz" for n in todo}
    # claimed for the whole build: a second build into the same folder is refused, not interleaved
    with claim_outputs(targets.values(), overwrite=True):
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"task file(s) already exist: {existing}; pass {spell('overwrite', True)} to "
                "replace them"
            )
        root = _root(data_root)
        cache: _Cache = {}
        written: dict[str, Path] = {}
        for name in progress_bar(todo, enabled=progress, desc="build tasks", unit="task"):
            written[name] = write_task(_build(name, root, cache), targets[name])
    return written
