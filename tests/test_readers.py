"""Tests for relcon.data.datasets: synthetic files, bad files, and the real data sets."""

from __future__ import annotations

import gzip
import importlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relcon.data.datasets import (
    DATA_ROOT_ENV,
    HAPT_ACTIVITIES6,
    HAPT_ACTIVITY_NAMES,
    SPSW_LABELS,
    WISDM_ACTIVITIES,
    WISDM_HAR6,
    WISDM_LETTERS,
    default_data_root,
    read_accel_csv,
    read_hapt,
    read_hapt_subject_split,
    read_spsw_smartwatch,
    read_wisdm_watch,
)
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import G, resample_labels
from relcon.data.windowing import window_recordings

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _magnitude(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)


def _dominant_frequency(x: np.ndarray, fs: float, lo: float = 0.3, hi: float = 5.0) -> float:
    m = _magnitude(x)
    m = m - m.mean()
    f = np.fft.rfftfreq(m.size, 1.0 / fs)
    power = np.abs(np.fft.rfft(m)) ** 2
    band = (f > lo) & (f < hi)
    return float(f[band][np.argmax(power[band])])


def _gravity_motion(t: np.ndarray) -> np.ndarray:
    """Acceleration in g: gravity on z plus a 2 Hz swing on x."""
    return np.stack([0.3 * np.sin(2 * np.pi * 2.0 * t), 0.1 * np.ones_like(t), np.ones_like(t)], 1)


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


def _good_frame(n: int = 1000, fs: float = 50.0, t0: float = 1000.0) -> pd.DataFrame:
    t = t0 + np.arange(n) / fs
    x = _gravity_motion(t - t0)
    return pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]})


# --------------------------------------------------------------------------------------------
# default_data_root
# --------------------------------------------------------------------------------------------


def test_default_data_root_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert (
        default_data_root() is None
    )  # no search of the file system: an explicit root or $RELCON_DATA


def test_readers_need_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=DATA_ROOT_ENV):
        read_wisdm_watch()


def test_missing_folders_raise_with_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        read_wisdm_watch(tmp_path / "does_not_exist")
    with pytest.raises(FileNotFoundError, match=r"raw/watch/accel"):
        read_wisdm_watch(tmp_path)
    with pytest.raises(FileNotFoundError, match="DATA"):
        read_spsw_smartwatch(tmp_path)
    with pytest.raises(FileNotFoundError, match="RawData"):
        read_hapt(tmp_path)
    (tmp_path / "RawData").mkdir()
    with pytest.raises(FileNotFoundError, match="acc_expXX_userYY"):
        read_hapt(tmp_path)


# --------------------------------------------------------------------------------------------
# generic CSV reader
# --------------------------------------------------------------------------------------------


def test_read_accel_csv_seconds_g(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "mine.csv", _good_frame())
    report = ReadReport()
    recs = read_accel_csv(path, report=report)
    assert len(recs) == 1
    r = recs[0]
    assert isinstance(r, Recording)
    assert r.fs == 100.0 and r.x.dtype == np.float32 and r.x.shape[1] == 3
    assert r.start_s == pytest.approx(1000.0)
    assert len(r) == 2000  # 1000 samples at 50 Hz -> 2000 at 100 Hz
    assert r.user == "csv:mine" and r.recording == "csv:mine:0" and r.source == str(path)
    t = np.arange(len(r)) / 100.0
    np.testing.assert_allclose(r.x[100:-100], _gravity_motion(t)[100:-100], atol=0.01)
    assert report.n_rows == 1000 and report.n_recordings == 1
    assert any("time unit: s" in n and "units: g" in n for n in report.notes)


@pytest.mark.parametrize(
    ("scale", "unit_name", "acc_scale", "acc_units"),
    [(1e3, "ms", G, "m/s^2"), (1e9, "ns", 1000.0, "mg"), (1e6, "us", 1.0, "g")],
)
def test_read_accel_csv_time_and_unit_detection(
    tmp_path: Path, scale: float, unit_name: str, acc_scale: float, acc_units: str
) -> None:
    df = _good_frame(t0=0.0)
    df["time"] = np.round(df["time"] * scale).astype(np.int64) + int(1.7e9 * scale)
    df[["x", "y", "z"]] *= acc_scale
    path = _write_csv(tmp_path / f"{unit_name}.csv.gz", df)
    report = ReadReport()
    (r,) = read_accel_csv(path, report=report)
    assert f"time unit: {unit_name}" in report.notes[0]
    assert f"units: {acc_units}" in report.notes[0]
    assert r.start_s == pytest.approx(1.7e9)
    assert np.median(_magnitude(r.x)) == pytest.approx(1.0, abs=0.05)


def test_read_accel_csv_iso_datetime_and_labels(tmp_path: Path) -> None:
    df = _good_frame(t0=0.0)
    stamps = pd.Timestamp("2024-03-01T12:00:00Z") + pd.to_timedelta(df["time"], unit="s")
    df["time"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    df["activity"] = ["walk"] * 500 + [""] * 100 + ["sit"] * 400
    path = _write_csv(tmp_path / "iso.csv", df)
    (r,) = read_accel_csv(path, label_column="activity", user="me")
    assert r.start_s == pytest.approx(pd.Timestamp("2024-03-01T12:00:00Z").timestamp())
    assert r.label_names == ("sit", "walk")
    assert r.labels is not None and r.labels.dtype == np.int16
    assert r.labels[0] == 1 and r.labels[-1] == 0 and (r.labels == -1).sum() > 150
    assert r.user == "me"


def test_read_accel_csv_explicit_columns_and_units(tmp_path: Path) -> None:
    df = _good_frame().rename(columns={"time": "T_sec", "x": "AX", "y": "AY", "z": "AZ"})
    df[["AX", "AY", "AZ"]] *= 1000.0
    path = _write_csv(tmp_path / "cols.csv", df)
    (r,) = read_accel_csv(
        path, units="mg", time_column="t_sec", x_column="ax", y_column="ay", z_column="az"
    )
    assert np.median(_magnitude(r.x)) == pytest.approx(1.0, abs=0.05)


def test_read_accel_csv_bad_files(tmp_path: Path) -> None:
    good = _good_frame()

    nan = good.copy()
    nan.loc[7, "y"] = np.nan
    p = _write_csv(tmp_path / "nan_rows.csv", nan)
    with pytest.raises(ValueError, match=r"nan_rows\.csv.*data row 8 \(file line 9\)"):
        read_accel_csv(p)

    p = _write_csv(tmp_path / "no_z.csv", good.drop(columns="z").rename(columns={"y": "yy"}))
    with pytest.raises(ValueError, match=r"no_z\.csv.*columns found: \['time', 'x', 'yy'\]"):
        read_accel_csv(p)

    p = _write_csv(tmp_path / "no_time.csv", good.drop(columns="time"))
    with pytest.raises(ValueError, match=r"no_time\.csv.*missing time column.*columns found"):
        read_accel_csv(p)

    p = _write_csv(tmp_path / "units.csv", good)
    with pytest.raises(ValueError, match=r"units\.csv.*'furlong'"):
        read_accel_csv(p, units="furlong")

    nograv = good.copy()
    nograv["z"] = 0.02 * np.sin(np.arange(len(good)))
    nograv["x"] *= 0.1
    nograv["y"] = 0.0
    p = _write_csv(tmp_path / "ambiguous.csv", nograv)
    with pytest.raises(ValueError, match=r"ambiguous\.csv.*median vector magnitude"):
        read_accel_csv(p)

    p = _write_csv(tmp_path / "short.csv", _good_frame(n=100))  # 2 s at 50 Hz
    with pytest.raises(ValueError, match=r"short\.csv.*too short.*200 samples.*256"):
        read_accel_csv(p)

    back = good.copy()
    back.loc[20, "time"] = back.loc[10, "time"]
    p = _write_csv(tmp_path / "backwards.csv", back)
    with pytest.raises(
        ValueError, match=r"backwards\.csv.*backwards at data row 21 \(file line 22\)"
    ):
        read_accel_csv(p)

    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv.*empty"):
        read_accel_csv(p)

    p = tmp_path / "header_only.csv"
    p.write_text("time,x,y,z\n")
    with pytest.raises(ValueError, match=r"header_only\.csv.*no data rows"):
        read_accel_csv(p)

    slow = good.copy()
    slow["time"] = np.arange(len(good)) * 0.5  # 2 Hz in s, or 2 kHz in ms: undecidable
    p = _write_csv(tmp_path / "slow.csv", slow)
    with pytest.raises(ValueError, match=r"slow\.csv.*time unit.*0\.5"):
        read_accel_csv(p)

    bad_time = good.copy().astype({"time": object})
    bad_time.loc[5, "time"] = "yesterday"
    p = _write_csv(tmp_path / "bad_time.csv", bad_time)
    with pytest.raises(ValueError, match=r"bad_time\.csv.*data row 6"):
        read_accel_csv(p)

    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        read_accel_csv(tmp_path / "missing.csv")


def test_read_accel_csv_gap_split_and_short_piece_counted(tmp_path: Path) -> None:
    a = _good_frame(n=1000)
    b = _good_frame(n=60, t0=float(a["time"].iloc[-1]) + 10.0)  # 1.2 s piece after a 10 s gap
    path = _write_csv(tmp_path / "gappy.csv", pd.concat([a, b], ignore_index=True))
    report = ReadReport()
    recs = read_accel_csv(path, report=report)
    assert len(recs) == 1
    assert report.n_gaps_split == 1
    assert report.dropped["too_short_pieces"] == 1
    assert report.dropped["too_short_piece_samples"] == 120


# --------------------------------------------------------------------------------------------
# synthetic WISDM / HAPT folders
# --------------------------------------------------------------------------------------------


def _wisdm_lines(sid: int, letter: str, t_ns: np.ndarray, xyz: np.ndarray) -> list[str]:
    return [
        f"{sid},{letter},{int(t)},{v[0]:.6f},{v[1]:.6f},{v[2]:.6f};"
        for t, v in zip(t_ns, xyz, strict=True)
    ]


def _make_wisdm(root: Path) -> Path:
    accel = root / "wisdm_watch" / "raw" / "watch" / "accel"
    accel.mkdir(parents=True)
    key = "\n".join(f"{name} = {letter}" for letter, name in WISDM_ACTIVITIES.items())
    (root / "wisdm_watch" / "activity_key.txt").write_text(key + "\n\n")
    rng = np.random.default_rng(0)
    step = 50_000_000  # 20 Hz in ns

    def block(t0_ns: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = t0_ns + np.arange(n, dtype=np.int64) * step
        xyz = np.tile([0.0, 0.0, G], (n, 1)) + 0.1 * rng.standard_normal((n, 3))
        return t, xyz

    lines: list[str] = []
    # A: 30 s with a 2 s gap after 15 s
    ta, xa = block(10**12, 600)
    ta[300:] += 2 * 10**9
    lines += _wisdm_lines(1700, "A", ta, xa)
    # B: 20 s with one exact duplicate row (the 1629-style caveat)
    tb, xb = block(2 * 10**12, 400)
    tb = np.insert(tb, 100, tb[100])
    xb = np.insert(xb, 100, xb[100], axis=0)
    lines += _wisdm_lines(1700, "B", tb, xb)
    # M and O: the last 100 rows of M reappear as the first 100 rows of O (1649 caveat)
    tm, xm = block(3 * 10**12, 400)
    to, xo = block(int(tm[300]), 400)
    to[:100], xo[:100] = tm[300:], xm[300:]
    lines += _wisdm_lines(1700, "M", tm, xm) + _wisdm_lines(1700, "O", to, xo)
    (accel / "data_1700_accel_watch.txt").write_text("\n".join(lines) + "\n")
    t2, x2 = block(5 * 10**12, 300)
    with gzip.open(accel / "data_1701_accel_watch.txt.gz", "wt") as fh:
        fh.write("\n".join(_wisdm_lines(1701, "D", t2, x2)) + "\n")
    return root


def test_read_wisdm_synthetic_caveats(tmp_path: Path) -> None:
    root = _make_wisdm(tmp_path)
    report = ReadReport()
    recs = read_wisdm_watch(root, report=report)  # the data root holding wisdm_watch/
    by_id = {r.recording: r for r in recs}
    assert set(by_id) == {
        "wisdm_watch:1700:A:0",
        "wisdm_watch:1700:A:1",
        "wisdm_watch:1700:B:0",
        "wisdm_watch:1700:M:0",
        "wisdm_watch:1700:O:0",
        "wisdm_watch:1701:D:0",
    }
    assert report.n_files == 2 and report.n_gaps_split == 1
    assert report.dropped["cross_activity_duplicate_rows"] == 200
    assert report.dropped["duplicate_timestamp_rows"] == 1
    m, o = by_id["wisdm_watch:1700:M:0"], by_id["wisdm_watch:1700:O:0"]
    assert m.start_s + m.duration_s <= o.start_s  # both copies of the overlap are gone
    assert m.duration_s == pytest.approx(300 / 20, abs=0.05)
    assert o.duration_s == pytest.approx(300 / 20, abs=0.05)
    for r in recs:
        letter = r.recording.split(":")[2]
        assert r.fs == 100.0 and r.x.shape[1] == 3 and r.x.dtype == np.float32
        assert r.labels is not None and (r.labels == WISDM_LETTERS.index(letter)).all()
        assert r.label_names[WISDM_LETTERS.index(letter)] == WISDM_ACTIVITIES[letter]
        assert np.mean(_magnitude(r.x)) == pytest.approx(1.0, abs=0.02)  # m/s^2 -> g
    only = read_wisdm_watch(root / "wisdm_watch", subjects=["1700"], activities=["a", "M"])
    assert {r.recording.split(":")[2] for r in only} == {"A", "M"}
    with pytest.raises(FileNotFoundError, match=r"subject\(s\) \[1629\]"):
        read_wisdm_watch(root, subjects=[1629])
    with pytest.raises(ValueError, match=r"letter\(s\) \['N'\]"):
        read_wisdm_watch(root, activities=["N"])


def test_read_wisdm_malformed_file(tmp_path: Path) -> None:
    root = _make_wisdm(tmp_path)
    bad = root / "wisdm_watch" / "raw" / "watch" / "accel" / "data_1702_accel_watch.txt"
    for text, problem in [
        ("1702,A,100,1.0,2.0,3.0;\n1702,A,200,1.0,2.0;\n", "row 2"),
        ("1702,A,100,1.0,2.0,3.0;\n1703,A,200,1.0,2.0,3.0;\n", "row 2 has subject 1703"),
        ("1702,N,100,1.0,2.0,3.0;\n", "unknown activity"),
        ("", "no data rows"),
    ]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"data_1702_accel_watch\.txt.*" + problem):
            read_wisdm_watch(root, subjects=[1702])


def _make_hapt(root: Path, labels: str) -> Path:
    raw = root / "RawData"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    x = np.tile([1.0, 0.0, 0.0], (200, 1)) + 0.01 * rng.standard_normal((200, 3))
    np.savetxt(raw / "acc_exp01_user01.txt", x)
    (raw / "labels.txt").write_text(labels)
    names = "\n".join(f"{i + 1} {n}" for i, n in enumerate(HAPT_ACTIVITY_NAMES))
    (root / "activity_labels.txt").write_text(names + "\n")
    (root / "subject_split.csv").write_text("subject,split\n1,train\n2,test\n")
    return root


def test_read_hapt_synthetic_index_base(tmp_path: Path) -> None:
    root = _make_hapt(tmp_path / "hapt", "1 1 5 11 60\n1 1 7 61 70\n")
    (r,) = read_hapt(tmp_path)  # the data root holding hapt/
    # 1-based inclusive: rows 10..59 (0-based) are STANDING, rows 60..69 STAND_TO_SIT
    lab50 = np.full(200, -1, dtype=np.int16)
    lab50[10:60] = 4
    lab50[60:70] = 6
    assert len(r) == 400 and r.fs == 100.0 and r.start_s == 0.0
    np.testing.assert_array_equal(r.labels, resample_labels(lab50, 200, 50.0, 100.0, 400))
    assert r.user == "hapt:1" and r.recording == "hapt:1:exp01"
    assert r.label_names == HAPT_ACTIVITY_NAMES
    assert np.mean(_magnitude(r.x)) == pytest.approx(1.0, abs=0.01)
    assert read_hapt_subject_split(root) == {"train": (1,), "test": (2,)}
    assert read_hapt_subject_split(root, qualified=True)["test"] == ("hapt:2",)
    for bad, msg in [
        ("1 1 5 150 201\n", "outside the 200 samples"),
        ("1 1 5 0 20\n", "outside the 200 samples"),
        ("1 1 5 11 60\n1 1 7 60 70\n", "overlaps"),
        ("1 2 5 11 60\n", "user disagrees"),
        ("2 2 5 11 60\n", r"experiment\(s\) \[2\]"),
    ]:
        (root / "RawData" / "labels.txt").write_text(bad)
        with pytest.raises((ValueError, FileNotFoundError), match=msg):
            read_hapt(root)


# --------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wisdm(real_data_dir) -> tuple[list[Recording], ReadReport]:
    folder = real_data_dir("wisdm_watch")
    report = ReadReport()
    recs = read_wisdm_watch(folder, activities=(*WISDM_HAR6, "O"), report=report)
    return recs, report


@pytest.fixture(scope="module")
def spsw(real_data_dir) -> tuple[list[Recording], ReadReport]:
    folder = real_data_dir("spsw_smartwatch")
    report = ReadReport()
    return read_spsw_smartwatch(folder, report=report), report


@pytest.fixture(scope="module")
def hapt(real_data_dir) -> tuple[list[Recording], ReadReport]:
    folder = real_data_dir("hapt")
    report = ReadReport()
    return read_hapt(folder, report=report), report


def test_wisdm_subjects_and_format(real_data_dir, wisdm) -> None:
    recs, report = wisdm
    users = {r.user for r in recs}
    assert len(users) == 46 and report.n_files == 46
    assert "wisdm_watch:1629" not in users
    assert report.n_rows > 1_100_000  # 7 of 18 activities of about 3 million rows
    for r in recs:
        assert r.fs == 100.0 and r.x.ndim == 2 and r.x.shape[1] == 3 and r.x.dtype == np.float32
        assert np.isfinite(r.x).all()
        code = WISDM_LETTERS.index(r.recording.split(":")[2])
        assert r.labels is not None and (r.labels == code).all()
    with pytest.raises(FileNotFoundError, match="1629"):
        read_wisdm_watch(real_data_dir("wisdm_watch"), subjects=[1629])


def test_wisdm_1649_duplicates_dropped(wisdm) -> None:
    recs, report = wisdm
    assert report.dropped.get("cross_activity_duplicate_rows") == 2 * 1160
    r1649 = sorted((r for r in recs if r.user == "wisdm_watch:1649"), key=lambda r: r.start_s)
    assert {r.recording.split(":")[2] for r in r1649} >= {"M", "O"}
    for a, b in itertools.pairwise(r1649):
        assert a.start_s + a.duration_s <= b.start_s + 1e-6, (a.recording, b.recording)


def test_wisdm_block_durations_and_rates(wisdm) -> None:
    _, report = wisdm
    details = pd.DataFrame(report.details)
    assert len(details) == 46 * 7 - 3  # 1616 has no B, 1618 no O, 1642 no C
    assert details["duration_s"].median() == pytest.approx(180.0, abs=1.0)
    assert (details["duration_s"].between(170, 190)).mean() > 0.98
    assert set(details["fs_native"]) == {20.0, 100.0}
    assert (details["fs_native"] == 20.0).mean() > 0.95


def test_wisdm_static_magnitude_and_walking_frequency(wisdm) -> None:
    recs, _ = wisdm
    static = {WISDM_LETTERS.index("D"), WISDM_LETTERS.index("E")}
    per_user: dict[str, list[np.ndarray]] = {}
    for r in recs:
        if int(r.labels[0]) in static:
            per_user.setdefault(r.user, []).append(_magnitude(r.x))
    assert len(per_user) == 46
    for user, mags in per_user.items():
        assert 0.9 <= float(np.mean(np.concatenate(mags))) <= 1.1, user
    walking = [r for r in recs if r.recording.split(":")[2] == "A" and r.duration_s > 20]
    freqs = np.array([_dominant_frequency(r.x, r.fs) for r in walking])
    assert len(walking) >= 46
    assert 1.5 <= float(np.median(freqs)) <= 2.3  # step frequency of |a|
    assert ((freqs >= 0.7) & (freqs <= 2.5)).all()  # step or arm-swing band


def test_wisdm_windowing(wisdm) -> None:
    recs, _ = wisdm
    seg = window_recordings([r for r in recs if r.user == "wisdm_watch:1600"])
    assert seg.x.shape[1:] == (256, 3)
    assert 6 * 65 <= len(seg) <= 7 * 71  # 7 blocks of ~180 s, 70 windows each
    assert set(seg.label.tolist()) == {WISDM_LETTERS.index(a) for a in (*WISDM_HAR6, "O")}


def test_spsw_real(real_data_dir, spsw) -> None:
    recs, report = spsw
    assert len({r.user for r in recs}) == 23
    executions = {r.recording.rsplit(":", 1)[0] for r in recs}
    assert len(executions) == 223 and report.n_files == 223
    assert report.n_rows == 262_553
    assert report.dropped.get("duplicate_timestamp_rows") == 1362
    assert {d["fs_native"] for d in report.details} == {100.0}
    labels = np.concatenate([r.labels for r in recs])
    assert set(labels.tolist()) == set(range(len(SPSW_LABELS)))
    for r in recs:
        assert r.label_names == SPSW_LABELS and r.fs == 100.0 and r.x.shape[1] == 3
        assert 1.5e9 < r.start_s < 2.0e9  # Unix seconds
        assert 8.0 <= r.duration_s <= 16.0
    x = np.concatenate([r.x for r in recs])
    seated = labels == SPSW_LABELS.index("SEATED")
    assert 0.9 <= float(np.mean(_magnitude(x[seated]))) <= 1.1
    assert read_spsw_smartwatch(real_data_dir("spsw_smartwatch"), subjects=[1, "s02"])[0].user == (
        "spsw:s01"
    )


def test_hapt_real(hapt) -> None:
    recs, report = hapt
    assert len({r.user for r in recs}) == 30
    assert len(recs) == 61
    assert report.n_rows == 1_122_772
    assert sum(len(r) for r in recs) == 2 * 1_122_772  # 50 Hz -> 100 Hz
    labels = np.concatenate([r.labels for r in recs])
    assert 0.25 <= float(np.mean(labels == -1)) <= 0.30
    assert set(labels.tolist()) == set(range(-1, 12))
    assert recs[0].label_names == HAPT_ACTIVITY_NAMES
    x = np.concatenate([r.x for r in recs])
    static = np.isin(labels, [3, 4, 5])  # SITTING, STANDING, LAYING: units are g
    assert 0.95 <= float(np.mean(_magnitude(x[static]))) <= 1.1
    assert set(HAPT_ACTIVITIES6) == {HAPT_ACTIVITY_NAMES.index(n) for n in HAPT_ACTIVITY_NAMES[:6]}
    walking = [
        _dominant_frequency(r.x[r.labels == 0], 100.0) for r in recs if (r.labels == 0).sum() > 2000
    ]
    assert 1.5 <= float(np.median(walking)) <= 2.2


def test_hapt_split_real(real_data_dir) -> None:
    folder = real_data_dir("hapt")
    split = read_hapt_subject_split(folder)
    assert split["test"] == (2, 4, 9, 10, 12, 13, 18, 20, 24)
    assert len(split["train"]) == 21 and not set(split["train"]) & set(split["test"])
    one = read_hapt(folder, users=[2])
    assert [r.recording for r in one] == ["hapt:2:exp03", "hapt:2:exp04"]


def test_readers_module_exports() -> None:
    for suffix in ("", ".base", ".csv", ".hapt", ".heldout", ".ipol", ".oxford", ".spsw", ".wisdm"):
        module = importlib.import_module("relcon.data.datasets" + suffix)
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


# --------------------------------------------------------------------------------------------
# one recording stream (issue 11): one copy of the tables and helpers, one reader for everyone
# --------------------------------------------------------------------------------------------


def test_one_copy_of_the_formats_tables_and_helpers() -> None:
    import relcon.data.datasets.base as base
    import relcon.data.signal as signal
    from relcon.data import formats

    assert signal.detect_units is formats.detect_units and signal.to_g is formats.to_g
    assert signal.normalize_units is formats.normalize_units and signal.G == formats.G
    assert base._first_true is formats.first_true
    assert formats.first_true(np.array([False, False, True, True])) == 2
    assert formats.format_of("Day1.CSV.GZ") == ("csv", "Day1")
    assert formats.format_of("w.cwa.gz") == ("device", "w") and formats.format_of("x.txt") is None
    assert formats.infer_time_unit(np.arange(10) * 10, "f") == "ms"
    # every module that held a copy now reads these tables (no table of names left elsewhere)
    src = Path(formats.__file__).parent
    for path in src.rglob("*.py"):
        if path.name != "formats.py":
            text = path.read_text()
            assert '("accel_x", "accel_y", "accel_z")' not in text, path
            assert '("ns", 1e-9, 1e6, 2e8)' not in text, path


def test_no_private_name_is_imported_from_another_package() -> None:
    """``_names`` may be shared inside a package, never imported across packages."""
    import ast

    import relcon

    root = Path(relcon.__file__).parent
    bad = []
    for path in sorted(root.rglob("*.py")):
        mod = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        pkg = (
            mod.removesuffix(".__init__") if path.name == "__init__.py" else mod.rpartition(".")[0]
        )
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("relcon")):
                continue
            target = node.module or ""
            is_pkg = (root.parent / target.replace(".", "/")).is_dir()
            tpkg = target if is_pkg else target.rpartition(".")[0]
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and tpkg != pkg:
                    bad.append(f"{mod} imports {target}.{alias.name}")
    assert not bad, bad


def test_read_recording_returns_pieces_and_info(tmp_path: Path) -> None:
    from relcon.data.stream import read_recording

    df = _good_frame(n=3000, t0=1.7e9)
    df.loc[1000:1499, "time"] += 5.0  # a 5 s gap
    df.loc[1500:, "time"] += 5.0
    path = _write_csv(tmp_path / "mine.csv", df)
    pieces, info = read_recording(path)
    assert [len(p) for p in pieces] == [2000, 4000]
    assert pieces[0].t0_s == pytest.approx(1.7e9) and pieces[1].t0_s == pytest.approx(1.7e9 + 25)
    assert (info.units, info.units_detected, info.time_unit, info.fs_native) == ("g", True, "s", 50)
    assert (info.rows, info.gaps, info.pieces) == (3000, 1, 2)
    assert info.gap_s == pytest.approx(5.02) and info.data_s == pytest.approx(60.0)
    recs = read_accel_csv(path)  # the same reader underneath
    for p, r in zip(pieces, recs, strict=True):
        np.testing.assert_array_equal(p.x, r.x)


def test_read_accel_csv_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    df = _good_frame()
    comma = _write_csv(tmp_path / "comma.csv", df)
    semi = tmp_path / "semi.csv"
    df.to_csv(semi, index=False, sep=";", decimal=",")
    (a,), (b,) = read_accel_csv(comma), read_accel_csv(semi)
    np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-6)
    bad = tmp_path / "mixed.csv"
    bad.write_text("time;x;y;z\n" + "\n".join(f"{i / 50},0.1,0.1,1.0" for i in range(600)))
    with pytest.raises(
        ValueError, match=r"mixed\.csv: missing time column.*separated by semicolons"
    ):
        read_accel_csv(bad)
