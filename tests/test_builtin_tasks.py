"""Tests for relcon.eval.builtin: synthetic checks and the task files of the real data sets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from relcon.data import datasets
from relcon.data.datasets import HAPT_ACTIVITIES6, SPSW_LABELS, WISDM_HAR6, WISDM_LETTERS, GaitTrial
from relcon.data.datasets.heldout import (
    HELD_OUT_FRACTION,
    HELD_OUT_SEED,
    HELD_OUT_SUBJECTS,
    select_held_out,
)
from relcon.data.recording import Recording
from relcon.data.tasks import Task, load_task
from relcon.eval.builtin import (
    BUILTIN_TASKS,
    SPSW_MIN_LABEL_FRACTION,
    build_task,
    build_tasks,
    ipol_window_targets,
    write_task,
)

# --------------------------------------------------------------------------------------------
# synthetic
# --------------------------------------------------------------------------------------------


def _trial(left: list[list[int]], right: list[list[int]]) -> GaitTrial:
    return GaitTrial(
        key="ipol_gait:1:1",
        user="ipol_gait:1",
        subject=1,
        trial=1,
        fs=100.0,
        trial_bounds=(0, 2000),
        uturn_bounds=(1000, 1200),
        left_events=np.asarray(left, dtype=np.int64).reshape(-1, 2),
        right_events=np.asarray(right, dtype=np.int64).reshape(-1, 2),
        age=30.0,
        gender="F",
        height_cm=170.0,
        weight_kg=60.0,
        source="synthetic",
    )


def test_ipol_window_targets_regular_gait() -> None:
    # Heel strikes every 0.5 s alternating feet: cadence 120 steps/min, stride time 1.0 s.
    left = [[h - 40, h] for h in range(50, 1000, 100)]
    right = [[h - 40, h] for h in range(100, 1000, 100)]
    t = ipol_window_targets(_trial(left, right), 300, (0, 1000))
    assert t["cadence"] == pytest.approx(120.0) and t["stride_time"] == pytest.approx(1.0)
    # Window [301, 557): strikes 350, 400, ..., 550 (5 strikes, 4 intervals).
    t = ipol_window_targets(_trial(left, right), 301, (0, 1000))
    assert t["cadence"] == pytest.approx(120.0)


def test_ipol_window_targets_drops() -> None:
    left = [[h - 40, h] for h in range(50, 1000, 100)]
    right = [[h - 40, h] for h in range(100, 1000, 100) if h != 400]  # a missed step
    t = ipol_window_targets(_trial(left, right), 300, (0, 1000))
    assert t["cadence"] is None and t["cadence_drop"] == "non_alternating"
    assert t["stride_time"] is None and t["stride_drop"] == "non_alternating"
    # Only two strikes in the window: one interval is not enough.
    t = ipol_window_targets(_trial([[0, 10], [200, 260]], [[100, 150], [800, 850]]), 100, (0, 1000))
    assert t["cadence"] is None and t["cadence_drop"] == "too_few_steps"
    # A stride whose earlier strike precedes the straight segment (here the 3 s right stride
    # 1000 -> 1300 across the U-turn) is not used.
    left = [[h - 40, h] for h in range(1250, 2000, 100)]
    right = [[960, 1000]] + [[h - 40, h] for h in range(1300, 2000, 100)]
    t = ipol_window_targets(_trial(left, right), 1201, (1201, 2001))
    assert t["stride_time"] == pytest.approx(1.0)
    assert t["cadence"] == pytest.approx(120.0)


def test_select_held_out_rule() -> None:
    ids = [f"x:{i}" for i in range(1, 20)]
    a = select_held_out(ids)
    assert a == select_held_out(reversed(ids)) and len(a) == 6 and set(a) <= set(ids)
    assert select_held_out(ids, fraction=0.0) == ()
    with pytest.raises(ValueError):
        select_held_out(ids, fraction=1.5)


def test_held_out_subjects_rederived() -> None:
    """The literal lists equal what the documented rule gives for every data set."""
    wisdm = [
        f"wisdm_watch:{i}" for i in [*range(1600, 1629), *range(1630, 1637), *range(1641, 1651)]
    ]
    universe = {
        "wisdm_watch": wisdm,
        "spsw_smartwatch": [f"spsw:s{i:02d}" for i in range(1, 24)],
        "ipol_gait": [f"ipol_gait:{i}" for i in range(1, 20)],
        "oxford_step_count": [
            "oxford_opt:Carmelo",
            "oxford_opt:Dario",
            "oxford_opt:Jamie",
            "oxford_val:user1",
            "oxford_val:user2",
        ],
    }
    assert set(HELD_OUT_SUBJECTS) == {*universe, "hapt"}
    for name, ids in universe.items():
        assert HELD_OUT_SUBJECTS[name] == select_held_out(ids, HELD_OUT_SEED, HELD_OUT_FRACTION)
        assert 0.29 < len(HELD_OUT_SUBJECTS[name]) / len(ids) <= 0.4
    uci_test = (2, 4, 9, 10, 12, 13, 18, 20, 24)
    assert HELD_OUT_SUBJECTS["hapt"] == tuple(f"hapt:{u}" for u in uci_test)


def test_write_task_extras_and_unknown_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    task = Task(
        X=rng.normal(size=(4, 256, 3)).astype(np.float32),
        y=np.array([0.0, 1.0, 2.0, 3.0]),
        groups=np.array(["a", "a", "b", "b"]),
        task_type="regression",
        name="toy",
        extra={
            "recording": np.array(["r0", "r0", "r1", "r1"]),
            "start_s": np.arange(4.0),
            "positions": np.array(["InHand"] * 4),
        },
    )
    path = write_task(task, tmp_path / "toy.npz")
    loaded = load_task(path)  # unknown keys are ignored
    np.testing.assert_array_equal(loaded.y, task.y)
    with np.load(path) as z:
        assert {"recording", "start_s", "positions"} <= set(z.files)
        np.testing.assert_array_equal(z["positions"], task.extra["positions"])
        np.testing.assert_array_equal(z["start_s"], task.extra["start_s"])
    assert [p.name for p in tmp_path.iterdir()] == ["toy.npz"]  # no temporary left behind
    with pytest.raises(ValueError, match="unknown built-in task"):
        build_task("nope")
    with pytest.raises(ValueError, match="unknown built-in task"):
        build_tasks(None, tmp_path, names=["wisdm_har6", "nope"])


# --------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def root(real_data_dir) -> Path:
    """The data root, when it holds all five data sets (else the test is skipped)."""
    for name in ("wisdm_watch", "spsw_smartwatch", "hapt", "ipol_gait", "oxford_step_count"):
        folder = real_data_dir(name)
    return folder.parent


@pytest.fixture(scope="session")
def built(root, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every built-in task, built once per test session."""
    out = tmp_path_factory.mktemp("builtin_tasks")
    return build_tasks(root, out, progress=False)


@pytest.fixture(scope="session")
def tasks(built: dict[str, Path]) -> dict[str, Task]:
    return {name: load_task(path) for name, path in built.items()}


def _extras(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in ("recording", "start_s", "positions") if k in z.files}


def _window_index(rec: Recording, start_s: np.ndarray) -> np.ndarray:
    return np.round((start_s - rec.start_s) * rec.fs).astype(np.int64)


def _windows(
    extras: dict[str, np.ndarray], recs: list[Recording]
) -> Iterator[tuple[int, Recording, int]]:
    """``(window, its recording, the window's first sample in it)`` for every window of a task."""
    by_id = {r.recording: r for r in recs}
    for i, (rid, start_s) in enumerate(zip(extras["recording"], extras["start_s"], strict=True)):
        rec = by_id[str(rid)]
        yield i, rec, int(_window_index(rec, np.asarray([start_s]))[0])


def _check_windows_inside(
    task: Task, extras: dict[str, np.ndarray], recs: list[Recording], labels: bool
) -> None:
    """Every window is a verbatim slice of one gap-free recording (so crosses no gap) and,
    with ``labels``, all of its samples carry the window's class code."""
    by_id = {r.recording: r for r in recs}
    for rid in np.unique(extras["recording"]):
        rec = by_id[str(rid)]
        sel = np.flatnonzero(extras["recording"] == rid)
        idx = _window_index(rec, extras["start_s"][sel])
        assert idx.min() >= 0 and idx.max() + 256 <= len(rec), rid
        for i, s in zip(sel, idx, strict=True):
            np.testing.assert_array_equal(task.X[i], rec.x[s : s + 256])
            if labels:
                assert rec.labels is not None
                assert np.unique(rec.labels[s : s + 256]).size == 1


def test_all_tasks_built_and_loadable(built: dict[str, Path], tasks: dict[str, Task]) -> None:
    assert set(built) == set(BUILTIN_TASKS)
    for name, task in tasks.items():
        assert built[name].name == f"{name}.npz"
        assert task.name == name and task.X.shape[1:] == (256, 3) and task.fs == 100.0
        assert len(task.description) > 500 and "Licence" in task.description
        assert np.isfinite(task.X).all()
        ex = _extras(built[name])
        assert ex["recording"].shape == ex["start_s"].shape == (len(task),)
        # groups are dataset-qualified subject ids, consistent with the recording ids
        assert all(
            str(r).startswith(f"{g}:") for r, g in zip(ex["recording"], task.groups, strict=True)
        )
    expected_subjects = {
        "wisdm_har6": 46,
        "spsw_har5": 23,
        "hapt_har6": 30,
        "hapt_har6_uci": 30,
        "oxford_steps": 5,
        "ipol_cadence": 19,
        "ipol_stride_time": 19,
    }
    assert {n: t.n_subjects for n, t in tasks.items()} == expected_subjects


@pytest.mark.parametrize(
    ("name", "n_classes"), [("wisdm_har6", 6), ("spsw_har5", 5), ("hapt_har6", 6)]
)
def test_classification_counts_documented(
    tasks: dict[str, Task], name: str, n_classes: int
) -> None:
    task = tasks[name]
    assert task.task_type == "classification"
    assert task.label_names is not None and len(task.label_names) == n_classes
    counts = np.bincount(task.y, minlength=n_classes)
    assert counts.min() >= 50
    documented = ", ".join(f"{n} {c}" for n, c in zip(task.label_names, counts, strict=True))
    assert documented in task.description
    assert f"{len(task)} windows from {task.n_subjects} subjects" in task.description


def test_wisdm_windows(root, built: dict[str, Path], tasks: dict[str, Task]) -> None:
    task = tasks["wisdm_har6"]
    assert task.label_names == ("walking", "jogging", "stairs", "sitting", "standing", "kicking")
    subjects = [1600, 1616, 1649]  # a normal one, one without jogging, the duplicated one
    recs = datasets.read_wisdm_watch(root, subjects=subjects, activities=WISDM_HAR6)
    ex = _extras(built["wisdm_har6"])
    sel = np.isin(task.groups, [f"wisdm_watch:{s}" for s in subjects])
    sub = task.subset(np.flatnonzero(sel))
    sub_ex = {k: v[sel] for k, v in ex.items()}
    _check_windows_inside(sub, sub_ex, recs, labels=True)
    for i in range(len(sub)):
        letter = str(sub_ex["recording"][i]).split(":")[2]
        assert WISDM_HAR6[sub.y[i]] == letter
    assert not np.any(sub.y[sub.groups == "wisdm_watch:1616"] == 1)  # no jogging
    # Non-overlapping: consecutive windows of a recording are 2.56 s apart.
    for rid in np.unique(sub_ex["recording"]):
        st = np.sort(sub_ex["start_s"][sub_ex["recording"] == rid])
        np.testing.assert_allclose(np.diff(st), 2.56, atol=1e-6)
    assert WISDM_LETTERS.index("M") == 12


def test_spsw_windows(root, built: dict[str, Path], tasks: dict[str, Task]) -> None:
    task = tasks["spsw_har5"]
    assert task.label_names == SPSW_LABELS
    recs = datasets.read_spsw_smartwatch(root)
    ex = _extras(built["spsw_har5"])
    _check_windows_inside(task, ex, recs, labels=False)
    for i, rec, s in _windows(ex, recs):
        counts = np.bincount(rec.labels[s : s + 256], minlength=5)
        assert counts.argmax() == task.y[i]
        assert counts.max() >= np.ceil(SPSW_MIN_LABEL_FRACTION * 256)
    # The transitions keep enough windows.
    counts = np.bincount(task.y, minlength=5)
    assert counts[SPSW_LABELS.index("STANDING_UP")] >= 150
    assert counts[SPSW_LABELS.index("SITTING_DOWN")] >= 150


def test_hapt_windows_and_uci_split(root, built: dict[str, Path], tasks: dict[str, Task]) -> None:
    task, uci = tasks["hapt_har6"], tasks["hapt_har6_uci"]
    recs = datasets.read_hapt(root)
    ex = _extras(built["hapt_har6"])
    _check_windows_inside(task, ex, recs, labels=True)
    for i, rec, s in _windows(ex, recs):
        # fully inside one labelled interval of a basic activity: never unlabelled
        assert rec.labels[s] == HAPT_ACTIVITIES6[task.y[i]]
    assert task.split is None
    np.testing.assert_array_equal(uci.X, task.X)
    np.testing.assert_array_equal(uci.y, task.y)
    assert uci.split is not None
    test_users = {f"hapt:{u}" for u in (2, 4, 9, 10, 12, 13, 18, 20, 24)}
    assert set(uci.groups[uci.split == "test"]) == test_users
    assert set(uci.groups[uci.split == "train"]) == {f"hapt:{u}" for u in range(1, 31)} - test_users
    assert set(HELD_OUT_SUBJECTS["hapt"]) == test_users


def test_oxford_steps_targets(root, built: dict[str, Path], tasks: dict[str, Task]) -> None:
    task = tasks["oxford_steps"]
    assert task.task_type == "regression"
    assert "not a wrist" in task.description.lower() or "NOT A WRIST" in task.description
    ex = _extras(built["oxford_steps"])
    recs = datasets.read_oxford_step_count(root)
    events = datasets.read_oxford_step_events(root)
    _check_windows_inside(task, ex, recs, labels=False)
    assert np.all(task.y == np.round(task.y)) and task.y.min() >= 0
    keys = np.array([str(r).rsplit(":", 1)[0] for r in ex["recording"]])
    for key, info in events.items():
        sel = keys == key
        assert sel.any(), key
        # non-overlapping windows: per-window counts never add up to more than the total
        assert task.y[sel].sum() <= len(info.step_times_s)
        assert task.y[sel].sum() >= 0.85 * len(info.step_times_s), key
        assert set(ex["positions"][sel]) == {info.position}
        # independent recount for the windows of this recording
        t0 = ex["start_s"][sel]
        n = (
            (info.step_times_s[None, :] >= t0[:, None])
            & (info.step_times_s[None, :] < t0[:, None] + 2.56)
        ).sum(1)
        np.testing.assert_array_equal(task.y[sel], n)
    assert set(np.unique(ex["positions"])) >= {"InHand", "SwingingArm", "BackPocket"}
    # Walking at ~100-130 steps/min: 4-6 steps in most windows.
    assert 4 <= np.median(task.y) <= 6


def test_ipol_targets_plausible(built: dict[str, Path], tasks: dict[str, Task]) -> None:
    cad, stride = tasks["ipol_cadence"], tasks["ipol_stride_time"]
    for task, lo, hi in ((cad, 90.0, 130.0), (stride, 0.9, 1.35)):
        p5, p50, p95 = np.percentile(task.y, [5, 50, 95])
        assert lo - 1 <= p5 and p95 <= hi and lo < p50 < hi, (task.name, p5, p50, p95)
    assert 50 < cad.y.min() and cad.y.max() < 150
    assert 0.7 < stride.y.min() and stride.y.max() < 2.2
    # Both targets describe the same gait: cadence ~ 120 / stride time.
    ecad, estr = _extras(built["ipol_cadence"]), _extras(built["ipol_stride_time"])
    key_c = {
        (str(r), round(float(s), 2)): y
        for r, s, y in zip(ecad["recording"], ecad["start_s"], cad.y, strict=True)
    }
    ratio = [
        key_c[(str(r), round(float(s), 2))] * y / 120.0
        for r, s, y in zip(estr["recording"], estr["start_s"], stride.y, strict=True)
        if (str(r), round(float(s), 2)) in key_c
    ]
    assert len(ratio) > 1000 and 0.95 < np.median(ratio) < 1.05
    m = re.search(r"dropped: ([^.]*)\.", cad.description)
    assert m is not None and "too_few_steps" in m.group(1)


def test_ipol_windows_straight_and_gap_free(
    root, built: dict[str, Path], tasks: dict[str, Task]
) -> None:
    recs = datasets.read_ipol_gait(root)
    trials = datasets.read_ipol_gait_events(root)
    for name in ("ipol_cadence", "ipol_stride_time"):
        task, ex = tasks[name], _extras(built[name])
        _check_windows_inside(task, ex, recs, labels=False)
        for rid, s in zip(ex["recording"], ex["start_s"], strict=True):
            trial = trials[str(rid).rsplit(":", 1)[0]]
            w0 = round(float(s) * 100)
            w1 = w0 + 255  # last sample of the window
            (t0, t1), (u0, u1) = trial.trial_bounds, trial.uturn_bounds
            assert t0 <= w0 and w1 <= t1  # inside the trial
            assert w1 < u0 or w0 > u1  # outside the U-turn


def test_build_tasks_refuses_overwrite(root, built: dict[str, Path]) -> None:
    out = built["ipol_cadence"].parent
    before = built["ipol_cadence"].stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="overwrite"):
        build_tasks(root, out, names=["ipol_cadence"], progress=False)
    assert built["ipol_cadence"].stat().st_mtime_ns == before
    fresh = out / "again"
    paths = build_tasks(root, fresh, names=["ipol_stride_time"], progress=False)
    again = build_tasks(root, fresh, names=["ipol_stride_time"], overwrite=True, progress=False)
    assert paths == again and sorted(p.name for p in fresh.iterdir()) == ["ipol_stride_time.npz"]
