"""Tests for the IPOL gait and Oxford step counter readers: synthetic files and the real data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relcon.data.datasets import (
    IPOL_MAX_GAP_S,
    OXFORD_POSITIONS,
    read_ipol_gait,
    read_ipol_gait_events,
    read_oxford_step_count,
    read_oxford_step_events,
)
from relcon.data.recording import ReadReport, Recording
from relcon.data.signal import G

# --------------------------------------------------------------------------------------------
# synthetic IPOL files
# --------------------------------------------------------------------------------------------


def _write_ipol_signal(path: Path, pc: np.ndarray, acc: np.ndarray, rate_line: str) -> None:
    lines = [rate_line, "PacketCounter\tAcc_X\tAcc_Y\tAcc_Z"]
    lines += [
        f"{float(p)}\t{float(a[0])!r}\t{float(a[1])!r}\t{float(a[2])!r}"
        for p, a in zip(pc, acc, strict=True)
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def _ipol_meta(subject: int, trial: int) -> str:
    # The real files contain bare NaN tokens (not strict JSON); keep one here.
    meta = {
        "Subject": subject,
        "Trial": trial,
        "Filename": f"{subject}-{trial}",
        "Age": 30,
        "Gender": "F",
        "Height": float("nan"),
        "Weight": 60.0,
        "TrialBoundaries": [10, 90],
        "UTurnBoundaries": [40, 50],
        "LeftFootEvents": [[10, 20], [55, 62]],
        "RightFootEvents": [[30, 36], [70, 80]],
    }
    text = json.dumps(meta)
    assert "NaN" in text
    return text


@pytest.fixture
def ipol_dir(tmp_path: Path) -> Path:
    """One trial: PacketCounter from 1, one duplicate, a 3-packet step (bridged) and a
    30-packet step (split)."""
    folder = tmp_path / "ipol_gait"
    (folder / "GaitData").mkdir(parents=True)
    pc = np.r_[np.arange(1, 21), 20, np.arange(23, 51), np.arange(80, 121)]
    acc = np.zeros((pc.size, 3))
    acc[:, 0] = G  # 1 g on x
    acc[:, 1] = pc * 0.01  # a ramp to check the interpolation
    acc[20, 1] = 99.0  # the duplicate row: must be ignored
    _write_ipol_signal(
        folder / "GaitData" / "4-2_lb.txt.gz", pc, acc, "Acquisition frequency: 100 Hz"
    )
    (folder / "GaitData" / "4-2.json").write_text(_ipol_meta(4, 2))
    return folder


def test_ipol_synthetic_time_axis(ipol_dir: Path) -> None:
    report = ReadReport()
    recs = read_ipol_gait(ipol_dir, report=report)
    assert [r.recording for r in recs] == ["ipol_gait:4:2:0", "ipol_gait:4:2:1"]
    assert {r.user for r in recs} == {"ipol_gait:4"}
    a, b = recs
    # Time axis = PacketCounter - PacketCounter[0] (first packet is 1).
    assert a.start_s == 0.0 and len(a) == 50  # packets 1..50, 21-22 interpolated
    assert b.start_s == pytest.approx(0.79) and len(b) == 41  # packets 80..120
    assert all(r.fs == 100.0 and r.labels is None and r.x.dtype == np.float32 for r in recs)
    np.testing.assert_allclose(a.x[:, 0], 1.0, rtol=1e-6)  # m/s^2 -> g
    # The ramp is reproduced exactly across the bridged step, the duplicate row is ignored.
    np.testing.assert_allclose(a.x[:, 1], np.arange(1, 51) * 0.01 / G, rtol=1e-5)
    assert report.dropped == {"duplicate_packet_rows": 1}
    assert report.n_gaps_split == 1 and report.n_rows == 90
    (det,) = report.details
    assert det["packet_span"] == 120 and det["n_interpolated"] == 2
    assert det["n_missing_packets"] == 120 - 89


def test_ipol_gap_threshold(ipol_dir: Path) -> None:
    assert IPOL_MAX_GAP_S == 0.1
    # A step of 3 packets (0.03 s) splits when the threshold is smaller.
    assert len(read_ipol_gait(ipol_dir, max_gap_s=0.02)) == 3
    # ... and a threshold above 0.3 s bridges everything.
    assert len(read_ipol_gait(ipol_dir, max_gap_s=0.5)) == 1
    with pytest.raises(ValueError, match="max_gap_s"):
        read_ipol_gait(ipol_dir, max_gap_s=0)


def test_ipol_synthetic_events(ipol_dir: Path) -> None:
    events = read_ipol_gait_events(ipol_dir)
    trial = events["ipol_gait:4:2"]
    assert trial.user == "ipol_gait:4" and (trial.subject, trial.trial) == (4, 2)
    assert np.isnan(trial.height_cm) and trial.weight_kg == 60.0 and trial.gender == "F"
    assert trial.trial_bounds == (10, 90) and trial.uturn_bounds == (40, 50)
    np.testing.assert_array_equal(trial.heel_strikes("left"), [20, 62])
    np.testing.assert_array_equal(trial.heel_strikes("both"), [20, 36, 62, 80])
    assert trial.straight_segments() == [(10, 40), (51, 91)]
    # Recording ids map to the trial key by dropping the piece number.
    recs = read_ipol_gait(ipol_dir, subjects=["ipol_gait:4"])
    assert {r.recording.rsplit(":", 1)[0] for r in recs} == set(events)


def test_ipol_bad_files(ipol_dir: Path) -> None:
    sig = ipol_dir / "GaitData" / "4-2_lb.txt.gz"
    with pytest.raises(FileNotFoundError, match="subject"):
        read_ipol_gait(ipol_dir, subjects=[5])
    _write_ipol_signal(sig, np.array([0, 1, 2]), np.ones((3, 3)), "Acquisition frequency: 50 Hz")
    with pytest.raises(ValueError, match="50 Hz"):
        read_ipol_gait(ipol_dir)
    _write_ipol_signal(sig, np.array([0, 2, 1]), np.ones((3, 3)), "Acquisition frequency: 100 Hz")
    with pytest.raises(ValueError, match="backwards"):
        read_ipol_gait(ipol_dir)
    meta = json.loads((ipol_dir / "GaitData" / "4-2.json").read_text())
    meta["LeftFootEvents"] = [[30, 20]]
    (ipol_dir / "GaitData" / "4-2.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="toe-off"):
        read_ipol_gait_events(ipol_dir)


# --------------------------------------------------------------------------------------------
# synthetic Oxford files
# --------------------------------------------------------------------------------------------


def _gz_csv(path: Path, rows: np.ndarray, fmt: list[str]) -> None:
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(",".join(f % v for f, v in zip(fmt, row, strict=True)) + "\n")


@pytest.fixture
def oxford_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "oxford_step_count"
    opt = folder / "optimisation"
    d = opt / "data" / "Pixel_Ann_Hard_Backpocket_1"
    d.mkdir(parents=True)
    with gzip.open(opt / "stats.csv.gz", "wt") as fh:
        fh.write("614 steps#dir, user, phone, position, surface, duration(s), steps \n")
        fh.write("Pixel_Ann_Hard_Backpocket_1, Ann, Pixel, Backpocket, Hard, 10, 3\n")
    rng = np.random.default_rng(0)
    t0 = 5_000_000_000_000  # ns since boot
    dt = rng.uniform(4.5e-3, 5.5e-3, 2000)  # ~200 Hz, irregular
    t_ns = t0 + np.round(np.cumsum(dt) * 1e9).astype(np.int64)
    ts = (t_ns - t0) * 1e-9
    acc = np.stack([np.full_like(ts, 3.0), np.sin(2 * np.pi * 2 * ts), np.full_like(ts, G)], 1)
    rows = np.column_stack([t_ns, np.full(ts.size, 3), acc])
    _gz_csv(d / "accelerometer.csv.gz", rows, ["%d", "%d", "%.6f", "%.6f", "%.6f"])
    st = t0 + np.arange(0, 10_000_000_000, 100_000_000, dtype=np.int64)  # 10 Hz
    foot1 = np.zeros(st.size, dtype=np.int64)
    foot2 = np.zeros(st.size, dtype=np.int64)
    foot1[[0, 1, 20, 21, 60]] = 1  # starts pressed (no step), steps at rows 20 and 60
    foot2[[40, 41]] = 1  # a step at row 40
    _gz_csv(d / "stepcounter.csv.gz", np.column_stack([st, foot1, foot2]), ["%d"] * 3)

    val = folder / "validation"
    val.mkdir()
    tv = t0 + np.arange(1500, dtype=np.int64) * 10_000_000  # 100 Hz, 15 s
    xyz = np.tile([0.0, 0.0, G], (tv.size, 1))
    xyz[0] = 0.0  # the all-zero first row of user1_hand
    truth = np.zeros(tv.size, dtype=np.int64)
    truth[100:] = 1
    truth[700:] = 3  # an increment of 2 -> two events
    vrows = np.column_stack([tv, xyz, truth * 0, truth, truth * 0])
    _gz_csv(
        val / "user7_hand_1506421989895.csv.gz",
        vrows,
        ["%d", "%.6f", "%.6f", "%.6f", "%d", "%d", "%d"],
    )
    return folder


def test_oxford_synthetic_signal(oxford_dir: Path) -> None:
    report = ReadReport()
    recs = read_oxford_step_count(oxford_dir, report=report)
    ids = [r.recording for r in recs]
    assert ids == [
        "oxford_opt:Ann:Pixel_Ann_Hard_Backpocket_1:0",
        "oxford_val:user7:user7_hand_1506421989895:0",
    ]
    opt, val = recs
    assert opt.user == "oxford_opt:Ann" and val.user == "oxford_val:user7"
    assert all(r.fs == 100.0 and r.labels is None for r in recs)
    assert report.dropped == {"zero_vector_rows": 1}
    # ns since boot -> seconds on the same clock; the zero row was dropped.
    assert val.start_s == pytest.approx(5000.01)
    # Resampled from ~200 Hz to 100 Hz; the accuracy column is not in the signal.
    assert len(opt) == pytest.approx(opt.duration_s * 100) and 990 <= len(opt) <= 1010
    np.testing.assert_allclose(opt.x[50:-50, 0], 3.0 / G, atol=1e-3)
    np.testing.assert_allclose(opt.x[50:-50, 2], 1.0, atol=1e-3)
    t = opt.start_s - 5000.0 + np.arange(len(opt)) / 100.0
    np.testing.assert_allclose(opt.x[50:-50, 1], np.sin(2 * np.pi * 2 * t[50:-50]) / G, atol=5e-3)
    assert read_oxford_step_count(oxford_dir, part="validation")[0].recording == ids[1]
    with pytest.raises(ValueError, match="part"):
        read_oxford_step_count(oxford_dir, part="train")


def test_oxford_synthetic_events(oxford_dir: Path) -> None:
    events = read_oxford_step_events(oxford_dir)
    opt = events["oxford_opt:Ann:Pixel_Ann_Hard_Backpocket_1"]
    assert opt.position == "BackPocket" and opt.phone == "Pixel" and opt.surface == "Hard"
    assert opt.part == "optimisation" and opt.n_steps_reference == 3
    np.testing.assert_allclose(opt.step_times_s, 5000.0 + np.array([2.0, 4.0, 6.0]))
    val = events["oxford_val:user7:user7_hand_1506421989895"]
    assert val.position == "InHand" and val.n_steps_reference == 3
    np.testing.assert_allclose(val.step_times_s, 5000.0 + np.array([1.0, 7.0, 7.0]))
    recs = read_oxford_step_count(oxford_dir)
    assert {r.recording.rsplit(":", 1)[0] for r in recs} == set(events)


def test_oxford_bad_files(oxford_dir: Path) -> None:
    stats = oxford_dir / "optimisation" / "stats.csv.gz"
    with gzip.open(stats, "wt") as fh:
        fh.write("#dir, user, phone, position, surface, duration(s), steps\n")
        fh.write("Pixel_Ann_Hard_Backpocket_1, Ann, Pixel, OnHead, Hard, 10, 3\n")
    with pytest.raises(ValueError, match="position"):
        read_oxford_step_events(oxford_dir, part="optimisation")
    with gzip.open(stats, "wt") as fh:
        fh.write("#dir, user, phone, position, surface, duration(s), steps\n")
        fh.write("Missing_Ann_Hard_InHand_1, Ann, Pixel, InHand, Hard, 10, 3\n")
    with pytest.raises(FileNotFoundError, match="Missing_Ann"):
        read_oxford_step_count(oxford_dir, part="optimisation")


# --------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ipol(real_data_dir) -> tuple[list[Recording], ReadReport, dict]:
    folder = real_data_dir("ipol_gait")
    report = ReadReport()
    recs = read_ipol_gait(folder, report=report)
    return recs, report, read_ipol_gait_events(folder)


@pytest.fixture(scope="module")
def oxford(real_data_dir) -> tuple[list[Recording], ReadReport, dict]:
    folder = real_data_dir("oxford_step_count")
    report = ReadReport()
    recs = read_oxford_step_count(folder, report=report)
    return recs, report, read_oxford_step_events(folder)


def _packet_spans(folder: Path) -> dict[str, int]:
    """Independent reference: PacketCounter span of every trial, read with plain pandas."""
    out = {}
    for p in sorted((folder / "GaitData").glob("*_lb.txt.gz")):
        s, t = p.name.split("_")[0].split("-")
        pc = pd.read_csv(p, sep="\t", skiprows=1)["PacketCounter"].to_numpy()
        out[f"ipol_gait:{s}:{t}"] = int(pc[-1] - pc[0] + 1)
    return out


def test_ipol_real_counts_vs_packet_counter(real_data_dir, ipol) -> None:
    recs, report, events = ipol
    spans = _packet_spans(real_data_dir("ipol_gait"))
    assert len(spans) == 110 and set(events) == set(spans)
    assert len({r.user for r in recs}) == 19
    assert report.n_rows == 320_636  # SOURCE.txt
    assert sum(spans.values()) == 337_358  # expected samples per SOURCE.txt
    assert len(recs) == 110 + report.n_gaps_split
    by_trial: dict[str, list[Recording]] = {}
    for r in recs:
        by_trial.setdefault(r.recording.rsplit(":", 1)[0], []).append(r)
    for key, pieces in by_trial.items():
        # Pieces tile the PacketCounter axis from its first to its last packet; only the
        # packets lost in gaps longer than max_gap_s are missing between them.
        starts = [round(p.start_s * 100) for p in pieces]
        ends = [s + len(p) for s, p in zip(starts, pieces, strict=True)]
        assert starts[0] == 0 and ends[-1] == spans[key], key
        gaps = [b - a for a, b in zip(ends[:-1], starts[1:], strict=True)]
        assert all(g >= 10 for g in gaps), (key, gaps)  # a step > 10 packets leaves >= 10 lost
    lost = sum(d["n_missing_packets"] for d in report.details)
    interp = sum(d["n_interpolated"] for d in report.details)
    assert lost == 337_358 - (320_636 - 1)  # one duplicate packet row
    assert report.n_samples_out == 337_358 - (lost - interp)
    assert interp / lost > 0.97  # almost all losses are short and bridged
    assert report.dropped == {"duplicate_packet_rows": 1}


def test_ipol_real_units_and_events(ipol) -> None:
    recs, _, events = ipol
    assert sum(len(t.left_events) + len(t.right_events) for t in events.values()) == 3866
    first = {r.recording.rsplit(":", 1)[0]: r for r in recs if r.recording.endswith(":0")}
    means = []
    for key, trial in events.items():
        rec = first[key]
        t0 = trial.trial_bounds[0]
        assert rec.start_s == 0.0 and t0 >= 100
        # Standing still in the second before the trial starts: |a| close to 1 g.
        means.append(np.linalg.norm(rec.x[t0 - 100 : t0], axis=1).mean())
    assert 0.97 < min(means) and max(means) < 1.05
    # The bare NaN tokens of subject 10 are read as NaN.
    assert np.isnan(events["ipol_gait:10:1"].height_cm)
    assert events["ipol_gait:10:1"].age == 66


def test_ipol_real_events_within_span(ipol) -> None:
    recs, _, events = ipol
    end = {}
    for r in recs:
        key = r.recording.rsplit(":", 1)[0]
        end[key] = max(end.get(key, 0), round(r.start_s * 100) + len(r))
    for key, trial in events.items():
        hs = trial.heel_strikes()
        assert hs.max() < end[key] and trial.trial_bounds[1] < end[key]


def test_oxford_real_step_counts(real_data_dir, oxford) -> None:
    _, _, events = oxford
    folder = real_data_dir("oxford_step_count")
    # Independent reference: the steps column of stats.csv (stray header prefix skipped).
    stats = pd.read_csv(folder / "optimisation" / "stats.csv.gz", skiprows=1, header=None)
    ref = {
        f"oxford_opt:{u.strip()}:{d.strip()}": int(s)
        for d, u, s in zip(stats[0], stats[1], stats[6], strict=True)
    }
    assert len(ref) == 48
    opt = {k: v for k, v in events.items() if v.part == "optimisation"}
    assert {k: len(v.step_times_s) for k, v in opt.items()} == ref
    val = {k: v for k, v in events.items() if v.part == "validation"}
    assert len(val) == 12
    for info in val.values():
        truth = pd.read_csv(info.source, header=None)[5].to_numpy()
        assert len(info.step_times_s) == truth[-1] - truth[0]
        assert np.all(np.diff(info.step_times_s) >= 0)
    assert {v.user for v in events.values()} == {
        "oxford_opt:Jamie",
        "oxford_opt:Carmelo",
        "oxford_opt:Dario",
        "oxford_val:user1",
        "oxford_val:user2",
    }
    assert {v.position for v in events.values()} == set(OXFORD_POSITIONS)


def test_oxford_real_signal(oxford) -> None:
    recs, report, events = oxford
    assert report.n_files == 60 and len(recs) == 60 + report.n_gaps_split
    assert report.n_gaps_split == 3  # three 0.21-0.22 s holes in two validation files
    assert report.dropped == {"duplicate_timestamp_rows": 3, "zero_vector_rows": 1}
    assert {r.recording.rsplit(":", 1)[0] for r in recs} == set(events)
    for r in recs:
        assert r.fs == 100.0 and r.x.dtype == np.float32 and np.isfinite(r.x).all()
        assert 0.9 < np.median(np.linalg.norm(r.x, axis=1)) < 1.15  # m/s^2 -> g
    # Step times share the recordings' clock: (almost) all steps fall inside a recording.
    cover: dict[str, list[tuple[float, float]]] = {}
    for r in recs:
        cover.setdefault(r.recording.rsplit(":", 1)[0], []).append(
            (r.start_s, r.start_s + r.duration_s)
        )
    for key, info in events.items():
        inside = np.zeros(info.step_times_s.size, dtype=bool)
        for a, b in cover[key]:
            inside |= (info.step_times_s >= a) & (info.step_times_s < b)
        assert inside.mean() > 0.98, key
