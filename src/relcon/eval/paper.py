"""Task files for the public benchmarks of the RelCon paper, built from the raw downloads.

The RelCon paper (Xu et al., ICLR 2025, arXiv:2411.18822) compares its foundation model with
two published set-ups on public data sets:

* **SSL benchmark** (paper Table 4, protocol of Haresamudram et al. 2022): HHAR (smartwatch),
  MotionSense (phone in the front trouser pocket) and PAMAP2 (ankle IMU); 2 s windows at
  100 Hz without overlap; subject-wise 5-fold cross-validation.
* **Prior pretrained model** (paper Table 3, protocol of Yuan et al. 2024, the UK Biobank
  model): Opportunity (right-wrist accelerometer) and PAMAP2 (wrist IMU); 10 s windows at
  100 Hz with a 5 s step, clipped to +-3 g; leave-one-subject-out.

:func:`build_paper_task` turns one downloaded data set into a :class:`relcon.data.tasks.Task`;
:func:`build_paper_tasks` builds several and writes them as task files
(``python -m relcon.eval.paper RAW_ROOT OUT_DIR`` does the same from a shell).
:data:`PAPER_BENCHMARKS` describes each benchmark: sensor, classes, windows, protocol,
citation, licence and the folder layout the reader expects.

Every reader follows the same rules, which also avoid the defects of the public reference
implementation (github.com/maxxu05/relcon, ``relcon/data/process``):

* acceleration is converted to g from the unit the data set documents;
* missing samples (NaN values, dropped packets, holes in the time stamps) are bridged by linear
  interpolation only when the hole is at most :data:`MAX_BRIDGE_S` seconds long; a longer hole
  splits the recording, so nothing long is ever filled in;
* irregular time stamps (HHAR) are regularised per recording at the device's native rate;
* every gap-free stretch of one recording is cut into runs of a single activity, and each run
  is resampled on its own from the native rate to 100 Hz with the anti-aliased polyphase filter
  of :func:`relcon.data.signal.resample`;
* windows are cut inside one run only: a window never crosses a recording, a session, a gap
  longer than :data:`MAX_BRIDGE_S`, or a change of activity, and never mixes two labels.

Besides the keys of the task-file format (see :mod:`relcon.data.tasks`), the files written by
:func:`save_paper_task` hold ``protocol`` (``"5fold"`` or ``"loso"``), ``n_folds``, ``fold``
(the test fold of each window's subject), ``recording`` and ``start_s`` (where each window
comes from), ``benchmark``, ``window_s`` and ``stride_s``. :func:`relcon.data.tasks.load_task`
ignores them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relcon.data.signal import TARGET_FS
from relcon.data.tasks import Task, save_task
from relcon.eval.paper_readers import (
    _DOWNLOADS,
    _LAYOUTS,
    _READERS,
    HHAR_ACTIVITIES,
    MAX_BRIDGE_S,
    MOTIONSENSE_ACTIVITIES,
    OPPORTUNITY_LOCOMOTION,
    PAMAP2_ACTIVITIES_8,
    PAMAP2_ACTIVITIES_12,
    PAMAP2_ACTIVITY_NAMES,
    _Run,
    _Spec,
)
from relcon.eval.splits import subject_folds

__all__ = [
    "MAX_BRIDGE_S",
    "PAPER_BENCHMARKS",
    "build_paper_task",
    "build_paper_tasks",
    "main",
    "save_paper_task",
]

logger = logging.getLogger(__name__)

#: Seed of the subject permutation behind the stored folds; the same assignment as
#: ``relcon.eval.splits.subject_folds(groups, k, seed=0)``.
FOLD_SEED = 0

#: Extra keys written by :func:`save_paper_task` (taken from ``Task.extra``).
EXTRA_KEYS = ("benchmark", "protocol", "n_folds", "fold", "recording", "start_s", "window_s",
              "stride_s")  # fmt: skip

_RELCON_CITATION = (
    "Xu, M. A., Narain, J., Darnell, G., Hallgrimsson, H., Jeong, H., Forde, D., Fineman, R., "
    "Raghuram, K. J., Rehg, J. M., Ren, S. RelCon: Relative Contrastive Learning for a Motion "
    "Foundation Model for Wearable Data. ICLR 2025 (arXiv:2411.18822)."
)
_HARESAMUDRAM = (
    "Haresamudram, H., Essa, I., Ploetz, T. Assessing the State of Self-Supervised Human "
    "Activity Recognition Using Wearables. Proc. ACM IMWUT 6(3), 2022."
)
_YUAN = (
    "Yuan, H., Chan, S., Creagh, A. P., Tong, C., Acquah, A., Clifton, D. A., Doherty, A. "
    "Self-supervised learning for human activity recognition using 700,000 person-days of "
    "wearable data. npj Digital Medicine 7, 91 (2024)."
)
_HHAR_CITATION = (
    "Stisen, A., Blunck, H., Bhattacharya, S., Prentow, T. S., Kjaergaard, M. B., Dey, A., "
    "Sonne, T., Jensen, M. M. Smart Devices are Different: Assessing and Mitigating Mobile "
    "Sensing Heterogeneities for Activity Recognition. ACM SenSys 2015."
)
_MOTIONSENSE_CITATION = (
    "Malekzadeh, M., Clegg, R. G., Cavallaro, A., Haddadi, H. Mobile Sensor Data "
    "Anonymization. ACM/IEEE IoTDI 2019."
)
_PAMAP2_CITATION = (
    "Reiss, A., Stricker, D. Introducing a New Benchmarked Dataset for Activity Monitoring. "
    "ISWC 2012."
)
_OPPORTUNITY_CITATION = (
    "Roggen, D. et al. Collecting complex activity datasets in highly rich networked sensor "
    "environments. INSS 2010; Chavarriaga, R. et al. The Opportunity challenge: A benchmark "
    "database for on-body sensor-based activity recognition. Pattern Recognition Letters 34(15), "
    "2013."
)

_UCI_LICENCE = "CC BY 4.0 (UCI Machine Learning Repository)"


def _ssl_2s(name: str, dataset: str, where: str, **kw) -> _Spec:
    """A benchmark of the paper's Table 4: 2 s windows, no overlap, subject-wise 5-fold."""
    return _Spec(
        name=name, dataset=dataset, window_s=2.0, stride_s=2.0, protocol="5fold", clip_g=None,
        paper=f"RelCon paper Table 4 (SSL benchmark), {where}", protocol_citation=_HARESAMUDRAM,
        reference=f"relcon/data/process/comparesslbench/{kw.pop('reference')}", **kw,
    )  # fmt: skip


def _yuan_10s(name: str, dataset: str, where: str, **kw) -> _Spec:
    """A benchmark of the paper's Table 3: 10 s windows, 5 s step, clipped to 3 g, LOSO."""
    return _Spec(
        name=name, dataset=dataset, window_s=10.0, stride_s=5.0, protocol="loso", clip_g=3.0,
        paper=f"RelCon paper Table 3 (vs. Yuan et al. UK Biobank model), {where}",
        protocol_citation=_YUAN,
        reference=f"relcon/data/process/comparepriorpt/{kw.pop('reference')}", **kw,
    )  # fmt: skip


_SPECS: dict[str, _Spec] = {
    s.name: s
    for s in (
        _ssl_2s(
            "hhar_2s", "hhar", "HHAR Wrist->Wrist", classes=HHAR_ACTIVITIES,
            sensor="smartwatch accelerometer (Watch_accelerometer.csv: 2 Samsung Galaxy Gear, "
            "~100 Hz, and 2 LG G Watch, ~200 Hz), columns x, y, z in m/s^2; one recording per "
            "user and device, regularised on its Creation_Time clock at its own native rate",
            data_citation=_HHAR_CITATION, licence=_UCI_LICENCE, reference="hhar.py",
        ),
        _ssl_2s(
            "motionsense_2s", "motionsense", "MotionSense Wrist->Waist",
            classes=MOTIONSENSE_ACTIVITIES, data_citation=_MOTIONSENSE_CITATION,
            sensor="iPhone 6s in the front trouser pocket (the paper's 'Waist'), raw "
            "accelerometer of B_Accelerometer_data (x, y, z in g, gravity included), 50 Hz; one "
            "recording per trial folder and subject",
            licence="MIT (LICENSE file of github.com/mmalekzadeh/motion-sense; check the "
            "repository)",
            reference="motionsense.py",
        ),
        _ssl_2s(
            "pamap2_2s", "pamap2", "PAMAP2 Wrist->Leg", reference="pamap.py",
            classes=tuple(PAMAP2_ACTIVITY_NAMES[i] for i in PAMAP2_ACTIVITIES_12),
            sensor="ankle IMU (the paper's 'Leg'), +-16 g accelerometer (1-based columns 39-41), "
            "m/s^2, 100 Hz; Protocol and Optional sessions",
            data_citation=_PAMAP2_CITATION, licence=_UCI_LICENCE,
        ),
        _yuan_10s(
            "pamap2_10s", "pamap2", "PAMAP2 Wrist->Wrist", licence=_UCI_LICENCE,
            classes=tuple(PAMAP2_ACTIVITY_NAMES[i] for i in PAMAP2_ACTIVITIES_8),
            sensor="hand IMU (over the wrist of the dominant arm), +-16 g accelerometer (1-based "
            "columns 5-7), m/s^2, 100 Hz; Protocol and Optional sessions",
            data_citation=_PAMAP2_CITATION, reference="pamap.py",
        ),
        _yuan_10s(
            "opportunity_10s", "opportunity", "Opportunity Wrist->Wrist",
            classes=tuple(OPPORTUNITY_LOCOMOTION.values()), data_citation=_OPPORTUNITY_CITATION,
            sensor="right-wrist body-worn accelerometer RWR (1-based columns 23-25), milli g, "
            "30 Hz, locomotion labels (column 244); all ADL and Drill runs",
            licence=_UCI_LICENCE, reference="oppo.py",
        ),
    )
}  # fmt: skip

_PROTOCOL_TEXT = {
    "5fold": "subject-wise 5-fold cross-validation (every subject is tested in exactly one fold)",
    "loso": "leave-one-subject-out cross-validation (one fold per subject)",
}


def _description(spec: _Spec) -> str:
    win = round(spec.window_s * TARGET_FS)
    step = (
        "no overlap"
        if spec.stride_s == spec.window_s
        else f"a {spec.stride_s:g} s step ({round(spec.stride_s / spec.window_s * 100)}% overlap)"
    )
    clip = f" Values are clipped to +-{spec.clip_g:g} g as in that protocol." if spec.clip_g else ""
    classes = ", ".join(f"{i}={c}" for i, c in enumerate(spec.classes))
    return (
        f"{spec.paper}. Sensor: {spec.sensor}; converted to g and resampled to 100 Hz with the "
        f"anti-aliased polyphase filter.{clip} Classes ({len(spec.classes)}): {classes}; all "
        f"other samples are dropped. Windows: {spec.window_s:g} s ({win} samples at 100 Hz) "
        f"with {step}, cut only inside a gap-free stretch of one recording with a single "
        f"activity, so no window crosses a recording, a gap or a change of activity. Missing "
        f"samples are bridged by linear interpolation when the hole is at most "
        f"{MAX_BRIDGE_S:g} s; longer holes split the recording. Protocol: "
        f"{_PROTOCOL_TEXT[spec.protocol]}; the 'fold' key of the task file holds the test fold "
        f"of each window. Data: {spec.data_citation} Evaluation protocol: "
        f"{spec.protocol_citation} RelCon: {_RELCON_CITATION}"
    )


#: Public description of every benchmark built by :func:`build_paper_task`.
PAPER_BENCHMARKS: dict[str, dict[str, Any]] = {
    name: {
        "description": _description(spec),
        "dataset": spec.dataset,
        "window_s": spec.window_s,
        "stride_s": spec.stride_s,
        "protocol": spec.protocol,
        "classes": list(spec.classes),
        "sensor": spec.sensor,
        "clip_g": spec.clip_g,
        "paper": spec.paper,
        "citation": f"{spec.data_citation} {spec.protocol_citation} {_RELCON_CITATION}",
        "licence": spec.licence,
        "download": _DOWNLOADS[spec.dataset],
        "expected_layout": _LAYOUTS[spec.dataset],
        "reference": f"github.com/maxxu05/relcon {spec.reference}",
    }
    for name, spec in _SPECS.items()
}


# ----------------------------------------------------------------------------------------------
# windows, folds, tasks
# ----------------------------------------------------------------------------------------------


def _subject_folds(groups: np.ndarray, k: int) -> np.ndarray:
    """Test fold of every window: :func:`relcon.eval.splits.subject_folds` with :data:`FOLD_SEED`."""
    parts = subject_folds(groups, k, FOLD_SEED)
    fold_of = {str(s): f for f, part in enumerate(parts) for s in part}
    return np.array([fold_of[str(g)] for g in groups], dtype=np.int64)


def _window_runs(runs: Sequence[_Run], spec: _Spec) -> dict[str, np.ndarray]:
    length = round(spec.window_s * TARGET_FS)
    stride = round(spec.stride_s * TARGET_FS)
    xs, ys, users, recs, starts = [], [], [], [], []
    for r in runs:
        n = r.x.shape[0]
        if n < length:
            continue
        first = np.arange(0, n - length + 1, stride)
        xs.append(np.stack([r.x[s : s + length] for s in first]))
        ys.append(np.full(first.size, r.code, dtype=np.int64))
        users += [r.user] * first.size
        recs += [r.recording] * first.size
        starts.append(r.t0_s + first / TARGET_FS)
    if not xs:
        return {}
    x = np.concatenate(xs).astype(np.float32)
    if spec.clip_g is not None:
        np.clip(x, -spec.clip_g, spec.clip_g, out=x)
    return {
        "X": x,
        "y": np.concatenate(ys),
        "groups": np.asarray(users, dtype=str),
        "recording": np.asarray(recs, dtype=str),
        "start_s": np.concatenate(starts).astype(np.float64),
    }


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"unknown paper benchmark {name!r}; choose from {sorted(_SPECS)}")
    return _SPECS[name]


def _build(name: str, raw_dir: str | Path, cache: dict | None) -> Task:
    spec = _spec(name)
    raw = Path(raw_dir).expanduser()
    runs = _READERS[spec.dataset](raw, spec, cache)
    win = _window_runs(runs, spec)
    if not win:
        raise ValueError(
            f"{name}: no {spec.window_s:g} s window of a single activity in {raw}; is the data "
            "set complete?"
        )
    groups = win["groups"]
    n_subjects = len(np.unique(groups))
    k = 5 if spec.protocol == "5fold" else n_subjects
    if n_subjects < max(k, 2):
        raise ValueError(
            f"{name}: windows from only {n_subjects} subject(s) in {raw}; the {spec.protocol} "
            f"protocol needs at least {max(k, 2)}"
        )
    fold = _subject_folds(groups, k)
    counts = np.bincount(win["y"], minlength=len(spec.classes))
    logger.info(
        "%s: %d windows, %d subjects, %d runs; windows per class %s",
        name, len(groups), n_subjects, len(runs), dict(zip(spec.classes, counts.tolist(), strict=True)),
    )  # fmt: skip
    return Task(
        X=win["X"],
        y=win["y"],
        groups=groups,
        task_type="classification",
        fs=TARGET_FS,
        split=None,
        label_names=spec.classes,
        name=name,
        description=_description(spec),
        extra={
            "benchmark": name,
            "protocol": spec.protocol,
            "n_folds": k,
            "fold": fold,
            "recording": win["recording"],
            "start_s": win["start_s"],
            "window_s": spec.window_s,
            "stride_s": spec.stride_s,
            "source": str(raw),
        },
    )


def build_paper_task(name: str, raw_dir: str | Path) -> Task:
    """Build one benchmark of the RelCon paper from a downloaded data set.

    Parameters
    ----------
    name : str
        A key of :data:`PAPER_BENCHMARKS`: ``"hhar_2s"``, ``"motionsense_2s"``,
        ``"pamap2_2s"``, ``"pamap2_10s"`` or ``"opportunity_10s"``.
    raw_dir : str or pathlib.Path
        Folder of the extracted data set, laid out as
        ``PAPER_BENCHMARKS[name]["expected_layout"]`` says.

    Returns
    -------
    relcon.data.tasks.Task
        Windows ``X`` ``(N, T, 3)`` float32 in g at 100 Hz (``T`` = 200 for the 2 s and 1000
        for the 10 s benchmarks), class codes ``y``, subject ids ``groups`` (e.g.
        ``"pamap2:101"``), ``label_names``, and a ``description`` that states sensor,
        classes, window rule, protocol and citations. ``extra`` holds ``protocol``
        (``"5fold"`` or ``"loso"``), ``n_folds``, ``fold`` (test fold of each window, the same
        assignment as ``relcon.eval.splits.subject_folds(groups, n_folds, seed=0)``),
        ``recording`` and ``start_s`` (source recording and start time in seconds on its
        clock), ``benchmark``, ``window_s``, ``stride_s`` and ``source``.

    Raises
    ------
    ValueError
        For an unknown name, a file with the wrong number of columns, unparsable values,
        unknown activity codes, time stamps that go backwards, or too few subjects.
    FileNotFoundError
        When the folder or a file of the expected layout is missing; the message names the
        missing path and the expected layout.
    """
    return _build(name, raw_dir, None)


def save_paper_task(task: Task, path: str | Path) -> Path:
    """Write a task file with :func:`relcon.data.tasks.save_task` plus the keys in ``EXTRA_KEYS``.

    Parameters
    ----------
    task : relcon.data.tasks.Task
        A task from :func:`build_paper_task` (other tasks are written without the extras
        they lack).
    path : str or pathlib.Path
        Destination ``.npz`` file, written atomically.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    extras = {k: task.extra[k] for k in EXTRA_KEYS if k in task.extra}
    save_task(dataclasses.replace(task, extra=extras), path)
    return path


def build_paper_tasks(
    raw_root: str | Path,
    out_dir: str | Path,
    names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Build several paper benchmarks and write them as ``<out_dir>/<name>.npz``.

    Parameters
    ----------
    raw_root : str or pathlib.Path
        Folder that holds one sub-folder per data set: ``hhar/``, ``motionsense/``,
        ``pamap2/``, ``opportunity/`` (each laid out as ``expected_layout`` says).
    out_dir : str or pathlib.Path
        Where the task files go (created if needed).
    names : sequence of str, optional
        Benchmarks to build. None builds every benchmark whose data set folder exists and
        logs the ones skipped; an error if there is none.
    overwrite : bool
        Rebuild a task file that already exists; otherwise it is kept and returned as is.

    Returns
    -------
    dict
        Benchmark name -> path of its task file.

    Raises
    ------
    ValueError
        For unknown names (and whatever :func:`build_paper_task` raises).
    FileNotFoundError
        When ``names`` is None and no data set folder exists, or a named data set is missing.
    """
    root = Path(raw_root).expanduser()
    out = Path(out_dir).expanduser()
    if names is None:
        chosen = [n for n, s in _SPECS.items() if (root / s.dataset).is_dir()]
        skipped = [n for n in _SPECS if n not in chosen]
        if not chosen:
            expected = ", ".join(sorted({str(root / s.dataset) for s in _SPECS.values()}))
            raise FileNotFoundError(
                f"{root}: no data set folder found; expected one or more of {expected}"
            )
        if skipped:
            logger.info("skipping %s: no data set folder under %s", skipped, root)
    else:
        chosen = list(names)
        for n in chosen:
            _spec(n)
    cache: dict = {}
    written: dict[str, Path] = {}
    for name in chosen:
        spec = _SPECS[name]
        dest = out / f"{name}.npz"
        if dest.exists() and not overwrite:
            logger.info("%s exists, kept (pass overwrite=True to rebuild)", dest)
            written[name] = dest
            continue
        task = _build(name, root / spec.dataset, cache)
        written[name] = save_paper_task(task, dest)
        # drop cached tables no later benchmark of the same data set needs
        if not any(_SPECS[m].dataset == spec.dataset for m in chosen[chosen.index(name) + 1 :]):
            cache.clear()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m relcon.eval.paper RAW_ROOT OUT_DIR [--names ...]``."""
    p = argparse.ArgumentParser(
        prog="python -m relcon.eval.paper",
        description="Build the RelCon paper's benchmark task files from the raw public data "
        "sets. RAW_ROOT holds hhar/, motionsense/, pamap2/ and/or opportunity/.",
    )
    p.add_argument("raw_root", help="folder with one sub-folder per downloaded data set")
    p.add_argument("out_dir", help="folder for the task files (<name>.npz)")
    p.add_argument("--names", nargs="+", choices=sorted(_SPECS), help="benchmarks to build")
    p.add_argument("--overwrite", action="store_true", help="rebuild existing task files")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        paths = build_paper_tasks(args.raw_root, args.out_dir, args.names, args.overwrite)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
