"""Streaming windows, embeddings and predictions of raw recordings (relcon.apps.embed, relcon.apps.predict).

Every test uses synthetic recordings written to tmp_path and a tiny random encoder; the whole
file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.signal import resample_poly

from conftest import TINY_ENCODER
from relcon.apps.embed import embed_array, embed_dataframe, embed_recordings, load_encoder
from relcon.apps.predict import class_names, predict_array, predict_recordings
from relcon.data.corpus import QualityRules
from relcon.data.corpus.quality import nonwear_segments
from relcon.data.formats import UnitsWarning
from relcon.data.signal import G
from relcon.data.stream import PROBE_ROWS, WindowSummary, iter_windows
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.finetuned import FinetunedModel
from relcon.models.hub import load, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

pq = pytest.importorskip("pyarrow.parquet")

#: Non-wear rule scaled down (60 s windows every 15 s) so that short recordings exercise it.
SMALL_RULES = QualityRules(nonwear_window_s=60.0, nonwear_step_s=15.0)
UNIX0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def encoder(encoder_dir):
    return load_encoder(encoder_dir, "cpu")


# ----------------------------------------------------------------------------------------------
# synthetic recordings
# ----------------------------------------------------------------------------------------------


def _motion(t, rng, still=()):
    """Movement around gravity (in g) at times ``t``; ``still`` (a, b) intervals are motionless."""
    x = np.stack(
        [
            0.3 * np.sin(2 * np.pi * 1.3 * t),
            0.2 * np.cos(2 * np.pi * 0.7 * t),
            1.0 + 0.2 * np.sin(2 * np.pi * 3.1 * t),
        ],
        axis=1,
    ) + 0.03 * rng.standard_normal((t.size, 3))
    for a, b in still:
        m = (t >= a) & (t < b)
        x[m] = [0.0, 0.0, 1.0] + 0.001 * rng.standard_normal((int(m.sum()), 3))
    return x


def _times(rng, fs, dur, gaps=(), jitter=0.1):
    """Jittered time stamps at ``fs`` over ``dur`` seconds, shifted by ``(at, length)`` gaps."""
    n = int(dur * fs)
    t = np.sort(np.arange(n) / fs + rng.uniform(-jitter, jitter, n) / fs)
    t -= t[0]
    for at, length in gaps:
        t[t > at] += length
    return t


def _reference(t_rel, xg, fs, *, max_gap_s=0.5, stride=256, rules=None):
    """Whole-recording reference, written independently of relcon.apps.embed: interpolation onto the
    grid ``k / fs`` aligned to the resampling factor, polyphase resampling with edge padding,
    windows ``k`` on the global 100 Hz grid inside each gap-free piece, and the corpus non-wear
    rule on each whole piece. Returns ``({k: (256, 3) window}, {k: nonwear}, end, touched)``,
    ``touched`` the grid windows that overlap some piece's samples."""
    fr = Fraction(100.0 / fs).limit_denominator(1000)
    up, down = fr.numerator, fr.denominator
    cuts = np.flatnonzero(np.diff(t_rel) > max_gap_s) + 1
    bounds = [0, *cuts.tolist(), len(t_rel)]
    wins, flags, end, touched = {}, {}, 0, set()
    for a, b in itertools.pairwise(bounds):
        tp, xp = t_rel[a:b], xg[a:b]
        k0 = math.ceil(tp[0] * fs - 1e-6)
        k0 = -(-k0 // down) * down
        k1 = math.floor(tp[-1] * fs + 1e-6)
        if k1 < k0:
            continue
        g = np.arange(k0, k1 + 1) / fs
        v = np.stack([np.interp(g, tp, xp[:, c]) for c in range(3)], axis=1)
        y = v if up == down == 1 else resample_poly(v, up, down, axis=0, padtype="edge")
        y = y.astype(np.float32)
        j0 = k0 * up // down
        end = max(end, j0 + len(y))
        touched.update(range(max(0, (j0 - 256) // stride + 1), (j0 + len(y) - 1) // stride + 1))
        ks = np.arange(-(-j0 // stride), (j0 + len(y) - 256) // stride + 1)
        if ks.size == 0:
            continue
        nw = np.zeros(ks.size, dtype=bool)
        if rules is not None:
            nw = nonwear_segments(np.ascontiguousarray(y.T), ks * stride - j0, rules)
        for k, f in zip(ks.tolist(), nw.tolist(), strict=True):
            wins[k] = y[k * stride - j0 : k * stride - j0 + 256]
            flags[k] = f
    return wins, flags, end, touched


def _collect(it):
    batches = list(it)
    x = np.concatenate([b.x for b in batches])
    k = np.concatenate([b.window for b in batches])
    s = np.concatenate([b.start_s for b in batches])
    ns = [b.start_ns for b in batches]
    return x, k, s, (None if ns[0] is None else np.concatenate(ns))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Five recordings in four formats, with what the reference needs for each."""
    root = tmp_path_factory.mktemp("recs")
    rng = np.random.default_rng(0)
    out = {}

    # (a) CSV, numeric Unix seconds, 50 Hz jittered, m/s^2, a 2 s gap, 3 duplicate time
    # stamps, a short NaN run (bridged) and a 1 s NaN run (a gap), a still stretch.
    t = _times(rng, 50, 900, gaps=[(200, 2.0)])
    x = _motion(t, rng, still=[(400, 600)]) * G
    dup_at = [1000, 5000, 9000]
    t = np.insert(t, dup_at, t[dup_at])
    x = np.insert(x, dup_at, x[dup_at] + 5.0, axis=0)  # the copies differ: the first is kept
    x[20000:20003] = np.nan  # 3 rows, < 0.5 s: interpolated
    x[30000:30050] = np.nan  # 1 s: a gap
    df = pd.DataFrame({"time": t + UNIX0, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]})
    df.loc[20000:20002, "x"] = np.nan
    df.to_csv(root / "alpha.csv", index=False)
    out["csv"] = dict(path=root / "alpha.csv", fs=50, units="m/s^2", absolute=True, dups=3,
                      nan_rows=53, nan_runs=2)  # fmt: skip

    # (b) CSV.gz, ISO 8601 datetimes, 100 Hz, g, one gap
    t = np.round(_times(rng, 100, 600, gaps=[(100, 5.0)], jitter=0.2), 6)
    x = _motion(t, rng, still=[(300, 450)])
    stamps = pd.to_datetime(UNIX0 + t, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pd.DataFrame(
        {"timestamp": stamps, "acc_x": x[:, 0], "acc_y": x[:, 1], "acc_z": x[:, 2]}
    ).to_csv(root / "beta.csv.gz", index=False)
    out["csv.gz"] = dict(path=root / "beta.csv.gz", fs=100, units="g", absolute=True, dups=0,
                         nan_rows=0, nan_runs=0)  # fmt: skip

    # (c) Parquet, timestamp column, 30 Hz, mg
    t = _times(rng, 30, 900, gaps=[(500, 1.5)])
    x = _motion(t, rng, still=[(100, 250)]) * 1000
    ts = pd.to_datetime(np.round((UNIX0 + t) * 1e6).astype(np.int64), unit="us", utc=True)
    pd.DataFrame({"Time": ts, "X": x[:, 0], "Y": x[:, 1], "Z": x[:, 2]}).to_parquet(
        root / "gamma.parquet", row_group_size=5000
    )
    out["parquet"] = dict(path=root / "gamma.parquet", fs=30, units="mg", absolute=True, dups=0,
                          nan_rows=0, nan_runs=0)  # fmt: skip

    # (d) NPZ, uniform 25 Hz from start_s, g, a 1 s NaN run (a gap)
    n = 25 * 900
    x = _motion(np.arange(n) / 25, rng, still=[(600, 800)]).astype(np.float32)
    x[10000:10025] = np.nan
    np.savez(root / "delta.npz", x=x, fs=25.0, start_s=50.0)
    out["npz"] = dict(path=root / "delta.npz", fs=25, units="g", absolute=False, dups=0,
                      nan_rows=25, nan_runs=1)  # fmt: skip

    # (e) NPZ with irregular time stamps in seconds (device clock), 100 Hz, gaps, compressed
    t = _times(rng, 100, 600, gaps=[(50, 0.8), (51.5, 3.0)], jitter=0.3)
    x = _motion(t, rng, still=[(200, 300)])
    t += 1234.5
    np.savez_compressed(root / "epsilon.npz", xyz=x, t=t, units="g")
    out["npz-t"] = dict(path=root / "epsilon.npz", fs=100, units="g", absolute=False, dups=0,
                        nan_rows=0, nan_runs=0)  # fmt: skip
    return out


def _reference_for(rec, rules):
    """Read the whole file independently (pandas / numpy) and run the reference on it."""
    path = rec["path"]
    name = path.name
    if name.endswith(".npz"):
        z = np.load(path)
        x = np.asarray(z["x"] if "x" in z else z["xyz"], dtype=np.float64)
        t = z["t"] if "t" in z else np.arange(len(x)) / float(z["fs"])
        t0 = float(z["start_s"]) if "start_s" in z else (float(t[0]) if "t" in z else 0.0)
        t_rel = t - t[0]
    else:
        df = (
            pd.read_parquet(path)
            if name.endswith(".parquet")
            else pd.read_csv(path, float_precision="round_trip")  # exact, as pyarrow reads
        )
        tcol, xyz = df.columns[0], df.columns[1:4]
        if name.endswith(".csv"):
            t = df[tcol].to_numpy(np.float64)
            t_rel = t - t[0]
            t0 = float(t[0])
        else:
            ns = pd.to_datetime(df[tcol], utc=True).dt.as_unit("ns").array.asi8
            t_rel = (ns - ns[0]) * 1e-9
            t0 = ns[0] * 1e-9
        x = df[list(xyz)].to_numpy(np.float64)
    keep = np.ones(len(t_rel), dtype=bool)
    keep[1:] = np.diff(t_rel) != 0
    keep &= np.isfinite(x).all(axis=1)
    scale = {"g": 1.0, "m/s^2": 1 / G, "mg": 1e-3}[rec["units"]]
    wins, flags, end, touched = _reference(t_rel[keep], x[keep] * scale, rec["fs"], rules=rules)
    return wins, flags, end, t0, touched


# ----------------------------------------------------------------------------------------------
# windows: chunked == whole file == independent reference
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "npz", "npz-t"])
def test_chunked_equals_whole_file_and_reference(recordings, fmt):
    rec = recordings[fmt]
    wins, flags, end, t0, touched = _reference_for(rec, SMALL_RULES)
    kept = [k for k in sorted(wins) if not flags[k]]
    assert len(kept) > 100 and sum(flags.values()) > 20  # the still stretch is non-wear
    results = []
    for chunk_s in (1e9, 11.0):  # whole file in one chunk, and 1024-row chunks
        it = iter_windows(rec["path"], chunk_s=chunk_s, rules=SMALL_RULES)
        x, k, s, ns = _collect(it)
        results.append((x, k))
        summ = it.summary
        assert k.tolist() == kept
        np.testing.assert_allclose(x, np.stack([wins[i] for i in kept]), rtol=0, atol=1e-6)
        # start times on the global grid, one row per window
        np.testing.assert_allclose(s, t0 + k * 2.56, rtol=0, atol=1e-6)
        assert (ns is not None) == rec["absolute"] == summ.absolute_time
        if ns is not None:
            np.testing.assert_allclose(ns * 1e-9, s, rtol=0, atol=1e-6)
        # counts
        assert summ.units == rec["units"]
        assert summ.units_detected == (fmt != "npz-t")  # epsilon.npz states its units
        assert summ.fs_native == rec["fs"]
        assert summ.windows_kept == len(kept)
        assert summ.dropped["nonwear"] == sum(flags.values())
        assert summ.windows_grid == (end - 256) // 256 + 1
        # windows cut by a gap hold some data; windows wholly inside a gap are not "dropped"
        in_grid = {k for k in touched if k < summ.windows_grid}
        assert summ.dropped["gap"] == len(in_grid) - len(wins) > 0
        assert summ.windows_empty == summ.windows_grid - len(in_grid)
        assert (summ.duplicate_rows, summ.nan_rows, summ.nan_runs) == (
            rec["dups"],
            rec["nan_rows"],
            rec["nan_runs"],
        )
    (xa, ka), (xb, kb) = results
    np.testing.assert_array_equal(ka, kb)
    np.testing.assert_allclose(xa, xb, rtol=0, atol=1e-6)


def test_default_nonwear_rule_and_stride(tmp_path):
    """The default 60-min rule drops a 90-min still stretch; overlapping windows (stride 1 s)."""
    rng = np.random.default_rng(3)
    t = np.arange(100 * 3 * 3600) / 100  # 3 h at 100 Hz
    x = _motion(t, rng, still=[(3600, 9000)]).astype(np.float32)
    np.savez(tmp_path / "day.npz", x=x, fs=100.0)
    wins, flags, _, _ = _reference(t, x.astype(np.float64), 100, stride=100, rules=QualityRules())
    kept = [k for k in sorted(wins) if not flags[k]]
    it = iter_windows(tmp_path / "day.npz", stride_s=1.0, chunk_s=600)
    xs, k, s, _ = _collect(it)
    assert k.tolist() == kept
    assert it.summary.dropped["nonwear"] == sum(flags.values()) > 5000
    np.testing.assert_allclose(s, k * 1.0)
    np.testing.assert_array_equal(xs[::97], np.stack([wins[i] for i in kept[::97]]))
    kept_all = iter_windows(tmp_path / "day.npz", stride_s=1.0, drop_nonwear=False)
    assert sum(len(b) for b in kept_all) == len(wins)


def test_npz_layouts_are_streamed_alike(tmp_path):
    """np.savez, np.savez_compressed and Fortran-order arrays give the same windows."""
    rng = np.random.default_rng(4)
    x = _motion(np.arange(4000) / 40, rng) * G
    np.savez(tmp_path / "plain.npz", x=x, fs=40.0)
    np.savez_compressed(tmp_path / "packed.npz", x=x, fs=40.0)
    np.savez(tmp_path / "fortran.npz", x=np.asfortranarray(x), fs=40.0)
    ref = _collect(iter_windows(tmp_path / "plain.npz", chunk_s=30))
    assert len(ref[1]) == 39
    for name in ("packed.npz", "fortran.npz"):
        got = _collect(iter_windows(tmp_path / name, chunk_s=30))
        np.testing.assert_array_equal(got[0], ref[0])


def test_units_given_detected_and_wrong(recordings, tmp_path):
    path = recordings["csv"]["path"]
    x_det = _collect(iter_windows(path, drop_nonwear=False))[0]
    x_given = _collect(iter_windows(path, units="m/s^2", drop_nonwear=False))[0]
    np.testing.assert_array_equal(x_det, x_given)
    with pytest.raises(ValueError, match=r"alpha\.csv: wrong units\?.*pass --units m/s\^2"):
        iter_windows(path, units="g")
    with pytest.raises(ValueError, match=r"alpha\.csv: unknown acceleration unit 'furlongs'"):
        iter_windows(path, units="furlongs")
    with pytest.raises(ValueError, match=r"epsilon\.npz: the file says units 'g'"):
        iter_windows(recordings["npz-t"]["path"], units="mg")
    # gravity removed: the median magnitude matches no unit
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "linear.npz", x=0.05 * rng.standard_normal((3000, 3)), fs=50.0)
    with pytest.raises(ValueError, match=r"linear\.npz: cannot detect acceleration units"):
        iter_windows(tmp_path / "linear.npz")
    with pytest.warns(UnitsWarning, match="gravity removed"):  # used as given, with a warning
        assert iter_windows(tmp_path / "linear.npz", units="g").summary.units == "g"


# ----------------------------------------------------------------------------------------------
# bad inputs: clear errors naming the file
# ----------------------------------------------------------------------------------------------


def _csv(path, t, x=None, tcol="time"):
    if x is None:  # some movement around 1 g
        i = np.arange(len(t))
        x = np.stack([0.1 * np.sin(i / 7), 0.1 * np.cos(i / 5), np.ones(len(t))], axis=1)
    pd.DataFrame({tcol: t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(path, index=False)
    return path


def test_bad_inputs_name_the_file(tmp_path):
    t = np.arange(2000) / 100
    # time stamps going backwards: the first bad row
    tb = t.copy()
    tb[1500], tb[1501] = tb[1501], tb[1500]
    with pytest.raises(ValueError, match=r"back\.csv: timestamps go backwards at data row 1502"):
        list(iter_windows(_csv(tmp_path / "back.csv", tb), chunk_s=3))  # in a later chunk
    tb = t.copy()
    tb[10] = 0.01
    with pytest.raises(ValueError, match=r"back2\.csv: timestamps go backwards at data row 11 "):
        iter_windows(_csv(tmp_path / "back2.csv", tb))
    # a single time stamp, a single row
    with pytest.raises(ValueError, match=r"same\.csv: cannot infer the sampling rate"):
        iter_windows(_csv(tmp_path / "same.csv", np.full(500, 5.0)))
    with pytest.raises(ValueError, match=r"one\.csv: cannot infer the sampling rate"):
        iter_windows(_csv(tmp_path / "one.csv", np.array([1.0])))
    # irregular, no dominant interval
    rng = np.random.default_rng(6)
    ti = np.cumsum(rng.exponential(0.02, 3000))
    with pytest.raises(ValueError, match=r"poisson\.csv: .*no dominant interval.*pass fs"):
        iter_windows(_csv(tmp_path / "poisson.csv", ti))
    assert iter_windows(tmp_path / "poisson.csv", fs=50).summary.fs_native == 50  # fs given
    # shorter than one window; gaps that leave no room for one
    with pytest.raises(ValueError, match=r"short\.csv: recording too short: 2\.000 s"):
        iter_windows(_csv(tmp_path / "short.csv", np.arange(200) / 100))
    tg = np.concatenate([np.arange(200) / 100 + 3 * i for i in range(10)])
    it = iter_windows(_csv(tmp_path / "gappy.csv", tg))
    with pytest.raises(ValueError, match=r"gappy\.csv: no 2\.56 s window fits .* 9 gaps"):
        list(it)
    # missing or non-numeric time, non-numeric acceleration, missing columns
    df = pd.DataFrame({"time": t, "x": 0.0, "y": 0.0, "z": 1.0})
    df.loc[700, "time"] = np.nan
    df.to_csv(tmp_path / "notime.csv", index=False)
    with pytest.raises(ValueError, match=r"notime\.csv: data row 701 \(file line 702\)"):
        list(iter_windows(tmp_path / "notime.csv", chunk_s=3))
    df = pd.DataFrame({"time": t, "x": "0.0", "y": 0.0, "z": 1.0})
    df.loc[1200, "x"] = "oops"
    df.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match=r"text\.csv: data row 1201 .*'oops' in column 'x'"):
        list(iter_windows(tmp_path / "text.csv", chunk_s=3))
    pd.DataFrame({"time": t, "a": 0.0, "b": 0.0}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(ValueError, match=r"cols\.csv: missing acceleration columns.*'a', 'b'"):
        iter_windows(tmp_path / "cols.csv")
    # empty, unsupported, missing, undecodable
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: file is empty"):
        iter_windows(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("time,x,y,z\n")
    with pytest.raises(ValueError, match=r"head\.csv: .*no data rows"):
        iter_windows(tmp_path / "head.csv")
    (tmp_path / "data.txt").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"data\.txt: unsupported input type"):
        iter_windows(tmp_path / "data.txt")
    with pytest.raises(FileNotFoundError, match=r"nothere\.csv"):
        iter_windows(tmp_path / "nothere.csv")
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"bad\.npz: cannot read as \.npz"):
        iter_windows(tmp_path / "bad.npz")
    np.savez(tmp_path / "not3.npz", x=np.zeros((100, 2)), fs=50.0)
    with pytest.raises(ValueError, match=r"not3\.npz: 'x' must be a numeric \(T, 3\) array"):
        iter_windows(tmp_path / "not3.npz")
    # argument errors
    with pytest.raises(ValueError, match=r"stride_s must be a positive multiple of 0\.01 s"):
        iter_windows(tmp_path / "poisson.csv", fs=50, stride_s=0.005)
    with pytest.raises(ValueError, match="max_gap_s must be a positive number"):
        iter_windows(tmp_path / "poisson.csv", fs=50, max_gap_s=0)


def test_device_file_without_actipy(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "actipy", None)  # as if not installed
    # .gt3x: read only through actipy (.cwa has relcon's own reader, relcon.data.stream.cwa)
    (tmp_path / "watch.gt3x").write_bytes(b"\0" * 64)
    with pytest.raises(ImportError, match=r"watch\.gt3x: .*actipy.*relcon\[devices\]"):
        iter_windows(tmp_path / "watch.gt3x")


def test_device_file_through_fake_actipy(tmp_path, monkeypatch):
    """The device path: actipy's frame in g at the device rate, resampled to 100 Hz windows."""
    import sys
    import types

    fs, n = 50, 50 * 60
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.2, (n, 3)) + np.array([0.0, 0.0, 1.0])
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) / fs, "s"))
    data = pd.DataFrame(x, columns=["x", "y", "z"], index=index)
    fake = types.SimpleNamespace(read_device=lambda path, **kw: (data, {"SampleRate": fs}))
    monkeypatch.setitem(sys.modules, "actipy", fake)
    monkeypatch.setenv("RELCON_CWA_READER", "actipy")  # the actipy path, not relcon's own reader
    from device_writers import write_cwa  # a valid file: the damage check reads it first

    write_cwa(tmp_path / "watch.cwa", np.zeros((80, 3)), 100.0, "2024-01-01")
    it = iter_windows(tmp_path / "watch.cwa", drop_nonwear=False)
    xw, k, start_s, _ = _collect(it)
    assert it.summary.fs_native == fs and len(k) == int(60 // 2.56)
    np.testing.assert_allclose(start_s[0], pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    np.testing.assert_allclose(xw.mean(axis=(0, 1)), [0.0, 0.0, 1.0], atol=0.02)
    with pytest.raises(ValueError, match="device files are read in g"):
        iter_windows(tmp_path / "watch.cwa", units="m/s^2")
    (tmp_path / "empty.cwa").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.cwa: file is empty"):
        iter_windows(tmp_path / "empty.cwa")


def test_duplicates_and_nan_runs_counted(tmp_path):
    t = np.arange(3000) / 100
    x = np.tile([0.1, 0.2, 1.0], (3000, 1)) + 0.05 * np.sin(t)[:, None]
    t = np.insert(t, [101, 101, 2001], [t[100], t[100], t[2000]])  # 3 repeated time stamps
    x = np.insert(x, [101, 101, 2001], [[9, 9, 9], [9, 9, 9], [9, 9, 9]], axis=0)
    x[500:510] = np.nan  # 0.1 s: bridged
    x[1500:1600] = np.nan  # 1 s: a gap
    x[2999:3001] = np.nan  # run across the chunk border of 3000 rows (chunk_s=30)
    it = iter_windows(_csv(tmp_path / "holes.csv", t, x), chunk_s=30, drop_nonwear=False)
    xs = _collect(it)[0]
    s = it.summary
    assert (s.duplicate_rows, s.nan_rows, s.nan_runs, s.gaps) == (3, 112, 3, 1)
    assert np.abs(xs).max() < 2  # the duplicates' values (9 g) were dropped
    assert s.dropped["gap"] >= 1 and s.windows_kept == len(xs)


# ----------------------------------------------------------------------------------------------
# embeddings
# ----------------------------------------------------------------------------------------------


def test_embed_recordings_parquet_and_csv(recordings, encoder_dir, encoder, tmp_path):
    paths = [recordings["csv"]["path"], recordings["npz"]["path"]]
    summaries: list[WindowSummary] = []
    out = embed_recordings(
        paths, encoder_dir, tmp_path / "emb.parquet", device="cpu", batch_size=64,
        chunk_s=20, progress=False, summaries=summaries,
    )  # fmt: skip
    df = pd.read_parquet(out)
    assert not list(tmp_path.glob(".emb.parquet*"))  # no temporary left
    ecols = [f"e{i:03d}" for i in range(16)]
    assert list(df.columns) == ["recording", "window_index", "start_s", "start_time", *ecols]
    assert all(df[c].dtype == np.float32 for c in ecols)
    assert [s.recording for s in summaries] == ["alpha", "delta"]
    for rec, summ in zip(("csv", "npz"), summaries, strict=True):
        x, k, s, ns = _collect(iter_windows(recordings[rec]["path"]))
        part = df[df.recording == summ.recording]
        assert len(part) == len(k) == summ.windows_kept  # one row per window
        np.testing.assert_array_equal(part.window_index.to_numpy(), k)
        np.testing.assert_allclose(part.start_s.to_numpy(), s)
        np.testing.assert_allclose(part[ecols].to_numpy(), encoder.embed(x), rtol=1e-5, atol=1e-6)
        if ns is None:
            assert part.start_time.isna().all()
        else:
            assert (part.start_time.dt.as_unit("ns").array.asi8 == ns).all()
            assert str(part.start_time.dt.tz) == "UTC"
    out_csv = embed_recordings(
        paths, encoder, tmp_path / "emb.csv", device="cpu", chunk_s=20, progress=False
    )
    dc = pd.read_csv(out_csv)
    assert list(dc.columns) == list(df.columns) and len(dc) == len(df)
    np.testing.assert_allclose(dc[ecols].to_numpy(), df[ecols].to_numpy(), rtol=1e-6, atol=1e-7)
    # a bad recording: nothing is written
    with pytest.raises(ValueError, match="wrong units"):
        embed_recordings(paths, encoder, tmp_path / "bad.parquet", units="g", progress=False)
    assert not list(tmp_path.glob("*bad.parquet*"))


def test_embed_all_nonwear_writes_empty_table(tmp_path, encoder):
    x = np.tile([0.0, 0.0, 1.0], (100 * 200, 1))
    np.savez(tmp_path / "desk.npz", x=x, fs=100.0)
    out = embed_recordings(tmp_path / "desk.npz", encoder, tmp_path / "e.parquet",
                           rules=SMALL_RULES, progress=False)  # fmt: skip
    df = pd.read_parquet(out)
    assert len(df) == 0 and list(df.columns)[:4] == [
        "recording",
        "window_index",
        "start_s",
        "start_time",
    ]
    assert len(df.columns) == 4 + 16


def test_embed_array_and_dataframe(encoder, recordings):
    rng = np.random.default_rng(7)
    x = _motion(np.arange(50 * 120) / 50, rng) * G
    summ = WindowSummary()
    df = embed_array(x, 50.0, units="m/s^2", start_s=10.0, model=encoder, summary=summ)
    assert list(df.columns) == ["window_index", "start_s", *[f"e{i:03d}" for i in range(16)]]
    assert len(df) == 46 == summ.windows_kept
    np.testing.assert_allclose(df.start_s.to_numpy(), 10.0 + np.arange(46) * 2.56)
    # the same samples as a DataFrame with a DatetimeIndex
    frame = pd.DataFrame(x / G, columns=["x", "y", "z"])
    frame.index = pd.to_datetime(UNIX0 + 10.0 + np.arange(len(x)) / 50, unit="s")
    dd = embed_dataframe(frame, model=encoder)
    assert "start_time" in dd.columns and len(dd) == 46
    ecols = [c for c in df.columns if c.startswith("e")]
    np.testing.assert_allclose(dd[ecols].to_numpy(), df[ecols].to_numpy(), rtol=1e-5, atol=1e-5)
    assert dd.start_time.iloc[1] - dd.start_time.iloc[0] == pd.Timedelta(seconds=2.56)
    # a DataFrame read from a file: same rows as the file itself
    path = recordings["csv.gz"]["path"]
    de = embed_dataframe(pd.read_csv(path), model=encoder)
    xw, k, _, _ = _collect(iter_windows(path))
    np.testing.assert_array_equal(de.window_index.to_numpy(), k)
    np.testing.assert_allclose(de[ecols].to_numpy(), encoder.embed(xw), rtol=1e-5, atol=1e-6)


def test_default_model(encoder):
    import relcon

    try:
        enc = load_encoder(None, "cpu")
    except ValueError as exc:  # this installation ships no model yet
        assert "--model" in str(exc)
    else:
        assert isinstance(enc, ResNet1DEncoder)
    assert load_encoder(encoder, "cpu") is encoder
    with pytest.raises((FileNotFoundError, ValueError)):
        load_encoder("/nonexistent/run", "cpu")
    assert callable(relcon.load)


def _status():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def test_memory_stays_bounded(tmp_path, encoder):
    """An 8-hour 100 Hz recording (35 MB in float32, 69 MB as float64) embeds with a peak of
    traced numpy/Python allocations, and a peak RSS growth, well below its size."""
    hours = 8
    n = int(hours * 3600 * 100)
    rng = np.random.default_rng(8)
    x = np.empty((n, 3), dtype=np.float32)
    for a in range(0, n, 1 << 20):
        m = min(1 << 20, n - a)
        x[a : a + m] = rng.standard_normal((m, 3), dtype=np.float32) * 0.1 + np.float32([0, 0, 1])
    np.savez(tmp_path / "long.npz", x=x, fs=100.0)
    size = x.nbytes
    del x
    kw = dict(device="cpu", chunk_s=60, batch_size=256, progress=False, drop_nonwear=False)
    tracemalloc.start()
    try:
        embed_recordings(tmp_path / "long.npz", encoder, tmp_path / "a.parquet", **kw)
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pq.ParquetFile(tmp_path / "a.parquet").metadata.to_dict()["row_groups"]) >= 1
    assert pq.ParquetFile(tmp_path / "a.parquet").metadata.num_rows == n // 256
    assert traced_peak < 0.3 * size, (traced_peak, size)
    # RSS: after the run above (same code paths, libraries loaded), the peak resident set of a
    # second run grows by far less than the recording
    if _reset_peak():
        base = _status()["VmRSS"]
        embed_recordings(tmp_path / "long.npz", encoder, tmp_path / "b.parquet", **kw)
        growth = _status()["VmHWM"] - base
        assert growth < 0.3 * size, (growth, size)


def test_nonwear_lookahead_does_not_grow_with_length(tmp_path):
    """The non-wear rule holds a fixed span of samples (set by the rule), not the recording."""
    rules = QualityRules(nonwear_window_s=120.0, nonwear_step_s=30.0)
    rng = np.random.default_rng(9)
    peaks = []
    for minutes in (15, 60):
        n = minutes * 60 * 100
        x = rng.standard_normal((n, 3), dtype=np.float32) * 0.1 + np.float32([0, 0, 1])
        np.savez(tmp_path / f"r{minutes}.npz", x=x, fs=100.0)
        tracemalloc.start()
        try:
            for _ in iter_windows(tmp_path / f"r{minutes}.npz", chunk_s=30, rules=rules):
                pass
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.25 + (1 << 20), peaks  # 4x the data, about the same peak
    assert PROBE_ROWS * 3 * 8 < peaks[0] < 12 * 2**20


# ----------------------------------------------------------------------------------------------
# predictions
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory):
    torch.manual_seed(1)
    model = FinetunedModel(
        ResNet1DEncoder(TINY_ENCODER),
        task_type="classification",
        classes=[0, 3, 7],
        info={"label_names": ["sit", "a", "b", "walk", "c", "d", "e", "run"]},
    )
    return save_model(tmp_path_factory.mktemp("ft") / "model", model)


def test_predict_recordings(recordings, finetuned_dir, tmp_path):
    model = load(finetuned_dir, kind="finetuned")
    assert class_names(model) == ["sit", "walk", "run"]
    paths = [recordings["parquet"]["path"], recordings["npz-t"]["path"]]
    out = predict_recordings(paths, finetuned_dir, tmp_path / "pred.parquet", device="cpu",
                             progress=False)  # fmt: skip
    df = pd.read_parquet(out)
    assert list(df.columns) == [
        "recording", "window_index", "start_s", "start_time", "prediction", "prediction_code",
        "prob_sit", "prob_walk", "prob_run",
    ]  # fmt: skip
    for path, rid in zip(paths, ("gamma", "epsilon"), strict=True):
        x, k, _, _ = _collect(iter_windows(path))
        part = df[df.recording == rid]
        assert len(part) == len(k)
        np.testing.assert_array_equal(part.window_index.to_numpy(), k)
        assert set(part.prediction) <= {"sit", "walk", "run"}
        np.testing.assert_array_equal(part.prediction_code.to_numpy(), model.predict(x))
        probs = part[["prob_sit", "prob_walk", "prob_run"]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(probs, model.predict_proba(x), atol=1e-5)
    out = predict_recordings(paths[0], finetuned_dir, tmp_path / "pred.csv", progress=False,
                             class_names={0: "S", 3: "W", 7: "R"})  # fmt: skip
    dc = pd.read_csv(out)
    assert set(dc.prediction) <= {"S", "W", "R"} and len(dc) == (df.recording == "gamma").sum()
    with pytest.raises(ValueError, match="2 names but the model has 3 classes"):
        predict_recordings(paths[0], finetuned_dir, tmp_path / "x.csv", class_names=["a", "b"])


def test_predict_array_regression(tmp_path):
    torch.manual_seed(2)
    reg = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="regression", target_mean=5.0,
                         target_std=2.0)  # fmt: skip
    rng = np.random.default_rng(10)
    x = _motion(np.arange(100 * 60) / 100, rng)
    df = predict_array(x, 100.0, reg, device="cpu")
    assert list(df.columns) == ["window_index", "start_s", "prediction"] and len(df) == 23
    np.savez(tmp_path / "same.npz", x=x, fs=100.0)
    xw = _collect(iter_windows(tmp_path / "same.npz"))[0]
    np.testing.assert_allclose(df.prediction.to_numpy(), reg.predict(xw), rtol=1e-5)
    # the embed function's own arguments pass through predict as they are
    summary = WindowSummary()
    shifted = predict_array(x, 100.0, reg, device="cpu", start_s=1000.0, summary=summary)
    np.testing.assert_allclose(shifted.start_s, df.start_s + 1000.0)
    np.testing.assert_allclose(shifted.prediction, df.prediction, rtol=1e-6)
    assert summary.windows_kept == len(df) == 23
