"""Tests for relcon.eval.paper on synthetic files in the data sets' original formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from paper_fixtures import (
    Truth,
    write_hhar,
    write_motionsense,
    write_opportunity,
    write_pamap2,
)
from relcon.data.tasks import Task, load_task
from relcon.eval.paper import (
    EXTRA_KEYS,
    MAX_BRIDGE_S,
    PAPER_BENCHMARKS,
    build_paper_task,
    build_paper_tasks,
    main,
)
from relcon.eval.splits import subject_folds

NAMES = ("hhar_2s", "motionsense_2s", "pamap2_2s", "pamap2_10s", "opportunity_10s")


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("raw")
    pamap2 = write_pamap2(root / "pamap2")
    truth = {
        "hhar_2s": write_hhar(root / "hhar"),
        "motionsense_2s": write_motionsense(root / "motionsense"),
        "pamap2_2s": pamap2["ankle"],
        "pamap2_10s": pamap2["hand"],
        "opportunity_10s": write_opportunity(root / "opportunity"),
    }
    return root, truth


@pytest.fixture(scope="module")
def built(raw, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root, _ = raw
    return build_paper_tasks(root, tmp_path_factory.mktemp("tasks"))


def _as_task(path: Path) -> tuple[Task, dict]:
    """Load a written task file as saved (no resampling or cropping) with its extra keys."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    task = Task(
        X=arrays["X"], y=arrays["y"], groups=arrays["groups"], task_type=str(arrays["task_type"]),
        fs=float(arrays["fs"]), label_names=tuple(arrays["label_names"].tolist()),
        name=str(arrays["name"]), description=str(arrays["description"]),
    )  # fmt: skip
    return task, arrays


def _check_windows(
    task: Task, extra: dict, truth: Truth, *, tol_g: float, clip: float | None
) -> None:
    """Every window lies inside one labelled segment of one recording, away from long gaps,
    carries that segment's label and subject, and matches its known signal (in g, on the 100 Hz
    time axis given by ``start_s``) at every sample."""
    n_t = task.X.shape[1]
    worst = 0.0
    for i in range(len(task)):
        rec = str(extra["recording"][i])
        start = float(extra["start_s"][i])
        end = start + (n_t - 1) / 100
        seg = truth.segment_at(rec, start, end, tol=0.011)
        assert seg is not None, f"window {i} ({rec}, {start:.3f}-{end:.3f} s) crosses a boundary"
        assert seg.label == task.label_names[task.y[i]], (rec, start)
        assert str(task.groups[i]) == truth.subject[rec]
        for g0, g1 in truth.long_gaps.get(rec, []):
            assert end < g0 or start > g1, f"window {i} ({rec}, {start:.2f} s) spans a gap"
        expected = seg.act.signal(start + np.arange(n_t) / 100)
        if clip is not None:
            expected = np.clip(expected, -clip, clip)
        worst = max(worst, float(np.abs(task.X[i] - expected).max()))
    assert worst < tol_g, f"max deviation from the known signal {worst:.4f} g"


def test_public_table_is_complete() -> None:
    assert set(PAPER_BENCHMARKS) == set(NAMES)
    for name, info in PAPER_BENCHMARKS.items():
        for key in ("description", "window_s", "protocol", "classes", "citation", "licence",
                    "expected_layout", "download"):  # fmt: skip
            assert info[key], (name, key)
        assert info["protocol"] in ("5fold", "loso")
        assert ("5-fold" in info["description"]) == (info["protocol"] == "5fold")
        assert "RelCon" in info["citation"]
    assert PAPER_BENCHMARKS["pamap2_10s"]["window_s"] == 10.0
    assert PAPER_BENCHMARKS["hhar_2s"]["window_s"] == 2.0
    assert len(PAPER_BENCHMARKS["pamap2_2s"]["classes"]) == 12
    assert len(PAPER_BENCHMARKS["pamap2_10s"]["classes"]) == 8
    assert PAPER_BENCHMARKS["opportunity_10s"]["classes"] == ["stand", "walk", "sit", "lie"]


@pytest.mark.parametrize(
    ("name", "tol_g", "clip"),
    [
        ("pamap2_2s", 1e-4, None),  # native 100 Hz: exact (short gaps lie in static parts)
        ("pamap2_10s", 1e-4, 3.0),
        ("opportunity_10s", 0.02, 3.0),  # 30 -> 100 Hz, milli g rounded to integers
        ("motionsense_2s", 0.04, None),  # 50 -> 100 Hz (worst at the ends of a trial)
        ("hhar_2s", 0.01, None),  # jittered ~100 / ~200 Hz -> 100 Hz
    ],
)
def test_windows_match_known_signals(raw, built, name, tol_g, clip) -> None:
    _, truth = raw
    task, extra = _as_task(built[name])
    assert task.fs == 100.0
    assert task.X.shape[1:] == (round(PAPER_BENCHMARKS[name]["window_s"] * 100), 3)
    assert task.X.dtype == np.float32 and np.isfinite(task.X).all()
    assert list(task.label_names) == PAPER_BENCHMARKS[name]["classes"]
    _check_windows(task, extra, truth[name], tol_g=tol_g, clip=clip)


def test_units_are_g_for_static_windows(raw, built) -> None:
    static = {"pamap2_2s": "lying", "pamap2_10s": "lying", "opportunity_10s": "stand",
              "motionsense_2s": "standing", "hhar_2s": "stand"}  # fmt: skip
    for name, label in static.items():
        task, _ = _as_task(built[name])
        sel = task.y == task.label_names.index(label)
        assert sel.any(), name
        mag = np.linalg.norm(task.X[sel], axis=2)
        assert np.abs(np.median(mag, axis=1) - 1.0).max() < 5e-3, name


def test_sinusoid_frequency_survives_resampling(raw, built) -> None:
    # Opportunity walk: 1.2 Hz at 30 Hz; MotionSense jogging 3 Hz at 50 Hz; HHAR walk 2 Hz.
    for name, label, freq in (("opportunity_10s", "walk", 1.2), ("motionsense_2s", "jogging", 3.0),
                              ("hhar_2s", "walk", 2.0)):  # fmt: skip
        task, _ = _as_task(built[name])
        x = task.X[task.y == task.label_names.index(label), :, 0]
        assert len(x), name
        spec = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), n=2000, axis=1))
        peak = np.fft.rfftfreq(2000, 1 / 100)[spec.argmax(axis=1)]
        np.testing.assert_allclose(peak, freq, atol=0.06, err_msg=name)


def test_right_sensor_and_classes(raw, built) -> None:
    # PAMAP2 2 s uses the ankle IMU and the 12 activities; 10 s the hand IMU and 8 activities.
    ankle, _ = _as_task(built["pamap2_2s"])
    hand, _ = _as_task(built["pamap2_10s"])
    assert {"rope jumping", "running"} <= {ankle.label_names[c] for c in np.unique(ankle.y)}
    assert "rope jumping" not in hand.label_names
    lying_ankle = ankle.X[ankle.y == ankle.label_names.index("lying")].mean(axis=(0, 1))
    lying_hand = hand.X[hand.y == hand.label_names.index("lying")].mean(axis=(0, 1))
    np.testing.assert_allclose(lying_ankle, [0, 1, 0], atol=1e-4)
    np.testing.assert_allclose(lying_hand, [0, 0, 1], atol=1e-4)
    # hand walking peaks at 1 + 2.5 g on x: clipped to 3 g in the Yuan et al. set-up
    walk = hand.X[hand.y == hand.label_names.index("walking")]
    assert np.isclose(walk[..., 0].max(), 3.0)


def test_gaps_short_bridged_long_split(raw, built) -> None:
    _, truth = raw
    for name in ("pamap2_2s", "pamap2_10s", "opportunity_10s"):
        task, extra = _as_task(built[name])
        n_t = task.X.shape[1]
        for rec, gaps in truth[name].short_gaps.items():
            for g0, g1 in gaps:
                assert g1 - g0 < MAX_BRIDGE_S
                starts = extra["start_s"][extra["recording"] == rec]
                covered = (starts <= g0) & (starts + (n_t - 1) / 100 >= g1)
                assert covered.any(), f"{name}: no window bridges the short gap in {rec}"


def test_groups_protocol_and_folds(raw, built) -> None:
    expected_subjects = {"hhar_2s": 5, "motionsense_2s": 24, "pamap2_2s": 9, "pamap2_10s": 9,
                         "opportunity_10s": 4}  # fmt: skip
    for name in NAMES:
        task, extra = _as_task(built[name])
        for key in EXTRA_KEYS:
            assert key in extra, (name, key)
        assert str(extra["protocol"]) == PAPER_BENCHMARKS[name]["protocol"]
        assert task.n_subjects == expected_subjects[name], name
        k = int(extra["n_folds"])
        assert k == (5 if extra["protocol"] == "5fold" else task.n_subjects)
        # the stored folds are the evaluation harness's subject folds with seed 0
        for f, test_subjects in enumerate(subject_folds(task.groups, k, 0)):
            in_fold = np.isin(task.groups, test_subjects)
            assert (extra["fold"][in_fold] == f).all() and (extra["fold"][~in_fold] != f).all()
        assert PAPER_BENCHMARKS[name]["protocol"] in str(extra["protocol"])


def test_pamap2_optional_session_joins_its_subject(raw, built) -> None:
    task, extra = _as_task(built["pamap2_2s"])
    opt = np.char.startswith(extra["recording"].astype(str), "pamap2:Optional/")
    assert opt.any()
    assert set(task.groups[opt]) == {"pamap2:105"}
    assert "pamap2:105" in set(task.groups[~opt])


def test_hhar_sessions_and_rates(raw, built) -> None:
    _, extra = _as_task(built["hhar_2s"])
    recs = set(extra["recording"].astype(str))
    assert "hhar:a:gear_1:session1" in recs  # clock reset -> its own recording
    assert any(r.endswith("lgwatch_1:session0") for r in recs)  # 200 Hz device included


def test_task_files_load(built) -> None:
    for name in NAMES:
        task = load_task(built[name])
        # 2 s windows are tiled to the encoder's 2.56 s; 10 s windows are kept whole
        expected = 1000 if name.endswith("_10s") else 256
        assert task.X.shape[1:] == (expected, 3)
        assert task.task_type == "classification" and task.name == name
        assert "Xu" in task.description


def test_build_paper_task_returns_task(raw) -> None:
    root, _ = raw
    task = build_paper_task("opportunity_10s", root / "opportunity")
    assert isinstance(task, Task) and task.extra["protocol"] == "loso"
    assert task.X.shape[1:] == (1000, 3)
    assert "leave-one-subject-out" in task.description


def test_build_paper_tasks_overwrite_and_names(raw, tmp_path) -> None:
    root, _ = raw
    out = tmp_path / "out"
    paths = build_paper_tasks(root, out, names=["opportunity_10s"])
    assert list(paths) == ["opportunity_10s"]
    mtime = paths["opportunity_10s"].stat().st_mtime_ns
    build_paper_tasks(root, out, names=["opportunity_10s"])
    assert paths["opportunity_10s"].stat().st_mtime_ns == mtime  # kept
    build_paper_tasks(root, out, names=["opportunity_10s"], overwrite=True)
    assert paths["opportunity_10s"].stat().st_mtime_ns != mtime
    with pytest.raises(ValueError, match="unknown paper benchmark"):
        build_paper_tasks(root, out, names=["wisdm_2s"])
    with pytest.raises(FileNotFoundError, match="no data set folder"):
        build_paper_tasks(tmp_path / "empty", out)


def test_command_line(raw, tmp_path, capsys) -> None:
    root, _ = raw
    assert main([str(root), str(tmp_path), "--names", "opportunity_10s"]) == 0
    assert (tmp_path / "opportunity_10s.npz").is_file()
    assert main([str(tmp_path / "nowhere"), str(tmp_path), "--names", "hhar_2s"]) == 2
    assert "Expected layout" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------


def test_missing_file_is_named(raw, tmp_path) -> None:
    root, _ = raw
    pamap = tmp_path / "pamap2"
    shutil.copytree(root / "pamap2", pamap)
    (pamap / "PAMAP2_Dataset" / "Optional" / "subject109.dat").unlink()
    with pytest.raises(FileNotFoundError, match=r"subject109\.dat.*Expected layout"):
        build_paper_task("pamap2_10s", pamap)
    ms = tmp_path / "motionsense"
    shutil.copytree(root / "motionsense", ms)
    (ms / "B_Accelerometer_data" / "B_Accelerometer_data" / "wlk_7" / "sub_24.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"wlk_7.sub_24\.csv"):
        build_paper_task("motionsense_2s", ms)
    with pytest.raises(FileNotFoundError, match=r"Watch_accelerometer\.csv"):
        build_paper_task("hhar_2s", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_paper_task("opportunity_10s", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown paper benchmark"):
        build_paper_task("pamap2", pamap)


def _drop_last_field(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.rsplit(" ", 1)[0] for line in lines) + "\n")


def test_wrong_column_count(raw, tmp_path) -> None:
    root, _ = raw
    pamap = tmp_path / "pamap2"
    shutil.copytree(root / "pamap2", pamap)
    _drop_last_field(pamap / "PAMAP2_Dataset" / "Protocol" / "subject101.dat")
    with pytest.raises(ValueError, match=r"subject101\.dat: expected 54 .*found 53"):
        build_paper_task("pamap2_2s", pamap)
    opp = tmp_path / "opp"
    shutil.copytree(root / "opportunity", opp)
    _drop_last_field(opp / "OpportunityUCIDataset" / "dataset" / "S1-ADL1.dat")
    with pytest.raises(ValueError, match=r"S1-ADL1\.dat: expected 250 .*found 249"):
        build_paper_task("opportunity_10s", opp)
    write_hhar(tmp_path / "hhar", users="ab", drop_column="Model")
    with pytest.raises(ValueError, match=r"Watch_accelerometer\.csv: expected the 10 columns"):
        build_paper_task("hhar_2s", tmp_path / "hhar")


def test_bad_values(raw, tmp_path) -> None:
    root, _ = raw
    ms = tmp_path / "motionsense"
    shutil.copytree(root / "motionsense", ms)
    f = ms / "B_Accelerometer_data" / "B_Accelerometer_data" / "jog_9" / "sub_3.csv"
    f.write_text(",x,y\n0,1,2\n")
    with pytest.raises(ValueError, match=r"sub_3\.csv: expected 4 columns"):
        build_paper_task("motionsense_2s", ms)
    opp = tmp_path / "opp"
    shutil.copytree(root / "opportunity", opp)
    f = opp / "OpportunityUCIDataset" / "dataset" / "S2-ADL1.dat"
    lines = f.read_text().splitlines()
    cells = lines[3].split(" ")
    cells[243] = "3"  # not a Locomotion code
    lines[3] = " ".join(cells)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"S2-ADL1\.dat: unknown Locomotion label 3 on line 4"):
        build_paper_task("opportunity_10s", opp)


def test_too_few_subjects(tmp_path) -> None:
    write_hhar(tmp_path / "hhar", users="abc")
    with pytest.raises(ValueError, match="5fold protocol needs at least 5"):
        build_paper_task("hhar_2s", tmp_path / "hhar")
