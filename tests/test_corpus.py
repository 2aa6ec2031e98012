"""The sharded on-disk corpus: preparation, quality rules, resume/append, reading, training."""

import hashlib
import json
import mmap
import pickle
import re
import subprocess
import sys
import textwrap
import tracemalloc
import types

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import relcon.data.corpus.prepare as corpus_mod  # noqa: E402
from relcon.config import DataConfig, DistanceTrainConfig, EncoderConfig, PretrainConfig  # noqa: E402
from relcon.data.corpus import (  # noqa: E402
    INT16_SCALE,
    Corpus,
    QualityRules,
    is_corpus,
    prepare_corpus,
    user_names,
)
from relcon.data.datasets import load_segments  # noqa: E402
from relcon.data.sampling import CandidateSampler  # noqa: E402
from relcon.data.signal import G, resample, to_g  # noqa: E402
from relcon.data.stream import iter_windows  # noqa: E402
from relcon.data.windowing import Segments  # noqa: E402
from relcon.models.distance import MotifDistanceConfig  # noqa: E402

STEP = INT16_SCALE
TOL = 0.5 * STEP + 1e-5  # int16 rounding plus float noise


def _activity(rng, n, fs, amp=0.25):
    """Gravity in a random direction + oscillations on all axes + noise, in g."""
    t = np.arange(n) / fs
    g = rng.normal(size=3)
    g /= np.linalg.norm(g)
    osc = np.sin(2 * np.pi * 1.7 * t[:, None] + rng.uniform(0, 6, 3)) * rng.uniform(0.5, 1, 3)
    return (g + amp * osc + 0.02 * rng.standard_normal((n, 3))).astype(np.float32)


def _prep(inputs, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("commit_every_s", 0.0)
    return prepare_corpus(inputs, out, **kw)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def raw4(tmp_path_factory):
    """Four users in four formats; the signals they hold, in g, for independent checks."""
    root = tmp_path_factory.mktemp("raw4")
    rng = np.random.default_rng(0)
    sig = {}
    # alice: uniform 50 Hz .npz in g
    xa = _activity(rng, 50 * 150, 50.0)
    np.savez(root / "alice.npz", x=xa, fs=50.0, start_s=1000.0)
    sig["alice"] = (xa, 1000.0)
    # bob: irregular time stamps with a 2 s gap, m/s^2 declared in the file
    t = np.concatenate([np.arange(0, 70, 0.01), 72 + np.arange(0, 45, 0.01)]) + 5e4
    xb = _activity(rng, t.size, 100.0) * G
    np.savez(root / "bob.npz", xyz=xb, t=t, units="m/s^2")
    sig["bob"] = (to_g(xb, "m/s^2"), t)
    # carol: CSV in mg at 50 Hz
    xc = _activity(rng, 50 * 90, 50.0)
    tc = 20.0 + np.arange(xc.shape[0]) / 50.0
    pd.DataFrame(
        {"time": tc, "x": xc[:, 0] * 1e3, "y": xc[:, 1] * 1e3, "z": xc[:, 2] * 1e3}
    ).to_csv(root / "carol.csv", index=False)
    # dave: Parquet with a timestamp column, 100 Hz, in g
    xd = _activity(rng, 100 * 60, 100.0)
    ts = 1.7e9 + np.arange(xd.shape[0]) / 100.0
    ns = (np.round(ts * 1e9)).astype("datetime64[ns]")
    pq.write_table(
        pa.table({"timestamp": ns, "x": xd[:, 0], "y": xd[:, 1], "z": xd[:, 2]}),
        root / "dave.parquet",
    )
    sig["dave"] = (xd, ts[0])
    return root, sig


@pytest.fixture(scope="module")
def corpus4(raw4, tmp_path_factory):
    out = tmp_path_factory.mktemp("c4") / "corpus"
    summary = _prep([raw4[0]], out, shard_segments=16)
    return out, summary


def _stream_windows(path, nan_policy="error", **settings):
    """What :func:`iter_windows` yields for ``path``: its windows int16-quantized here (round to
    the nearest 1/2048 g, saturate at +-16 g), their start times, and its summary."""
    with iter_windows(path, nan_policy=nan_policy, **settings) as it:
        batches = list(it)
    x = np.concatenate([b.x for b in batches]).astype(np.float64)
    q = (np.clip(np.rint(x / STEP), -32768, 32767) * STEP).astype(np.float32)
    return q, np.concatenate([b.start_s for b in batches]), it.summary


def test_segments_are_the_streams_windows_quantized(raw4, corpus4):
    """Each recording's segments, in corpus order, are the windows ``iter_windows`` yields for
    its file with the same settings, quantized; start times and counts are the stream's."""
    root, _ = raw4
    out, summary = corpus4
    c = Corpus.open(out)
    assert is_corpus(out) and not is_corpus(root)
    assert c.user_names == ("alice", "bob", "carol", "dave") and summary.users == 4
    entries = {e["recording"]: e for e in c.manifest["inputs"]}
    total = 0
    for code, name in enumerate(c.user_names):
        (path,) = root.glob(f"{name}.*")
        want_x, want_s, ref = _stream_windows(path)
        rows = np.flatnonzero(c.user == code)
        assert rows.size == len(want_x) == ref.windows_kept > 0
        assert np.array_equal(rows, np.arange(rows[0], rows[0] + rows.size))  # contiguous
        np.testing.assert_array_equal(c.start_s[rows], want_s)
        np.testing.assert_array_equal(c.x[rows], want_x)
        e = entries[name]
        assert e["segments"] == rows.size and e["first_segment"] == rows[0]
        assert e["dropped"] == {"clipped": 0, "flat": 0, **ref.dropped}
        for k in ("rows", "duplicate_rows", "nan_rows", "gaps", "pieces", "short_pieces",
                  "windows_grid", "windows_empty", "units"):  # fmt: skip
            assert e[k] == getattr(ref, k), (name, k)
        assert e["hours"] == ref.data_s / 3600
        assert e["windows_grid"] == e["segments"] + sum(e["dropped"].values()) + e["windows_empty"]
        total += rows.size
    assert summary.segments == len(c) == total
    assert summary.rows == sum(e["rows"] for e in entries.values())
    assert summary.gaps == 1 and summary.dropped["gap"] == entries["bob"]["dropped"]["gap"] == 2
    units = {e["user"]: e["units"] for e in entries.values()}
    assert units == {"alice": "g", "bob": "m/s^2", "carol": "mg", "dave": "g"}


def test_segments_hold_the_recorded_signal_on_the_recordings_grid(raw4, corpus4):
    """Independent of the stream: windows every 2.56 s from the first time stamp, the samples
    themselves where no resampling is needed, none across bob's gap."""
    _, sig = raw4
    c = Corpus.open(corpus4[0])

    def rows(name):
        return np.flatnonzero(c.user == c.user_names.index(name))

    # dave: 100 Hz in g, so window k is samples 256k .. 256k + 255
    xd, t0 = sig["dave"]
    r = rows("dave")
    k = np.arange(len(xd) // 256)
    assert r.size == k.size
    np.testing.assert_allclose(c.start_s[r], t0 + 2.56 * k, rtol=0, atol=1e-6)
    assert np.abs(c.x[r] - xd[: k.size * 256].reshape(-1, 256, 3)).max() <= TOL
    # alice: 50 Hz; away from the ends the stream's chunked filter is the whole-signal one
    xa, t0 = sig["alice"]
    y = resample(xa, 50.0, 100.0)
    r = rows("alice")
    k = np.arange(len(y) // 256)
    assert r.size == k.size
    np.testing.assert_allclose(c.start_s[r], t0 + 2.56 * k, rtol=0, atol=1e-9)
    inner = y[256 : (k.size - 1) * 256].reshape(-1, 256, 3)
    assert np.abs(c.x[r[1:-1]] - inner).max() <= TOL
    # bob: 100 Hz stretches [5e4, 5e4 + 70) and [5e4 + 72, 5e4 + 117); a plain loop over the
    # grid keeps the windows that lie inside one stretch
    xb, t = sig["bob"]
    j = np.rint((t - t[0]) * 100).astype(int)  # sample numbers on the 100 Hz grid
    cuts = np.flatnonzero(np.diff(j) > 50) + 1  # more than max_gap_s = 0.5 s apart
    stretches = [(int(a[0]), int(a[-1]) + 1) for a in np.split(j, cuts)]
    kept = [k for k in range(j[-1] // 256 + 1)
            if any(a <= 256 * k and 256 * k + 256 <= b for a, b in stretches)]  # fmt: skip
    r = rows("bob")
    assert len(stretches) == 2 and r.size == len(kept) == 43
    np.testing.assert_allclose(c.start_s[r], t[0] + 2.56 * np.array(kept), rtol=0, atol=1e-6)
    inside = np.concatenate([np.arange(a, b) for a, b in stretches])
    for i, k in zip(r[::7], kept[::7], strict=True):  # the samples, where they are the file's
        at = np.searchsorted(j, 256 * k + np.arange(256))
        assert np.isin(256 * k + np.arange(256), inside).all()
        assert np.abs(c.x[i] - xb[at]).max() <= TOL


def test_index_matches_shards_and_blocks(corpus4):
    out, _ = corpus4
    c = Corpus.open(out)
    m = c.manifest
    assert m["block_seconds"] == 3600.0 and m["scale"] == STEP
    tables = [pq.read_table(out / p["file"]) for p in m["parts"]]
    schema = tables[0].schema
    assert [schema.field(k).type for k in ("block", "start_s", "shard", "offset")] == [
        pa.int64(),
        pa.float64(),
        pa.int32(),
        pa.int32(),
    ]
    assert len(m["shards"]) == -(-len(c) // 16)
    decoded = []
    for i, (s, t) in enumerate(zip(m["shards"], tables, strict=True)):
        arr = np.load(out / s["file"])
        assert arr.dtype == np.int16 and arr.shape == (s["segments"], 256, 3)
        assert (out / s["file"]).stat().st_size == s["bytes"]
        assert (t.column("shard").to_numpy() == i).all()
        assert np.array_equal(t.column("offset").to_numpy(), np.arange(s["segments"]))
        decoded.append(arr.astype(np.float32) * STEP)
    idx = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
    assert list(idx["user"]) == [c.user_names[u] for u in c.user]
    assert list(idx["recording"]) == [c.recording_names[r] for r in c.recording]
    np.testing.assert_array_equal(idx["start_s"].to_numpy(), c.start_s)
    np.testing.assert_array_equal(idx["block"].to_numpy(), np.floor(c.start_s / 3600.0))
    np.testing.assert_array_equal(np.concatenate(decoded), c.x[np.arange(len(c))])
    # time blocks: same codes as Segments.time_block on the same windows, from the index only
    segs = c.to_segments()
    for bs in (60.0, 3600.0, 0.0):
        np.testing.assert_array_equal(c.time_block(bs), segs.time_block(bs))
    sub = c.subset(c.user != 0)
    np.testing.assert_array_equal(
        sub.time_block(60.0), segs.subset(segs.user != "alice").time_block(60.0)
    )


def test_prepare_shows_files_and_bytes_read(raw4, tmp_path, capsys):
    """With progress on (a log, not a terminal) the file bar and the bytes bar both end at their
    totals: the four inputs, and the sum of their sizes on disk."""
    root = raw4[0]
    total = sum(p.stat().st_size for p in root.iterdir())
    _prep([root], tmp_path / "c", progress=True)
    lines = capsys.readouterr().err.splitlines()
    files = [ln for ln in lines if ln.startswith("prepare:")]
    read = [ln for ln in lines if ln.startswith("read:")]
    assert files and files[-1].startswith("prepare: 100%") and "4/4" in files[-1]
    assert read and read[-1].startswith("read: 100%")
    from tqdm import tqdm

    size = tqdm.format_sizeof(total, divisor=1024)  # how tqdm writes the sum of the sizes
    assert f"| {size}/{size} [" in read[-1], read[-1]


def test_gather_random_indices_across_shards(corpus4):
    out, _ = corpus4
    c = Corpus.open(out, max_open_shards=2, release_bytes=10_000)  # forces eviction and release
    full = np.concatenate(
        [np.load(out / s["file"]).astype(np.float32) * STEP for s in c.manifest["shards"]]
    )
    rng = np.random.default_rng(1)
    for _ in range(5):
        idx = rng.integers(-len(c), len(c), size=57)
        np.testing.assert_array_equal(c.x[idx], full[idx])
    np.testing.assert_array_equal(c.x[7], full[7])
    np.testing.assert_array_equal(c.x[3:40:5], full[3:40:5])
    np.testing.assert_array_equal(c.x[np.array([[1, 2], [30, 31]])], full[[[1, 2], [30, 31]]])
    assert c.x[np.array([], dtype=int)].shape == (0, 256, 3) and c.x.shape == full.shape
    view = c.subset(np.arange(len(c))[::3]).subset(np.array([4, 0, 9]))
    np.testing.assert_array_equal(view.x[np.array([0, 1, 2])], full[[12, 0, 27]])
    assert view.user.tolist() == c.user[[12, 0, 27]].tolist()
    assert view.label.tolist() == [-1, -1, -1] and view.label_names == ()
    with pytest.raises(IndexError):
        c.x[np.array([len(c)])]
    # what DataLoader workers started with "spawn" receive: no open maps, reopened lazily
    x2 = pickle.loads(pickle.dumps(view.x))
    assert not x2._store.maps
    np.testing.assert_array_equal(x2[np.array([2, 0])], full[[27, 12]])


def test_corpus_is_memory_mapped(corpus4):
    out, _ = corpus4
    c = Corpus.open(out)
    arr = c.shard_array(0)
    assert not arr.flags.owndata and not arr.flags.writeable
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    assert isinstance(base, mmap.mmap)  # a view of the file, not a copy
    assert isinstance(c.user, np.memmap) and isinstance(c.start_s, np.memmap)


def test_open_and_gather_keep_resident_memory_small(tmp_path):
    rng = np.random.default_rng(2)
    raw = tmp_path / "raw"
    raw.mkdir()
    for u in range(8):  # 8 x 1800 segments = 14,400 segments: one 22 MB shard
        np.savez(raw / f"u{u}.npz", x=_activity(rng, 25 * 4608, 25.0).astype(np.float16), fs=25.0)
    _prep([raw], tmp_path / "c")
    shard = tmp_path / "c/shards/shard-000000.npy"
    assert shard.stat().st_size > 20e6
    code = textwrap.dedent(
        f"""
        import re, numpy as np
        from relcon.data.corpus import Corpus
        def rss():
            s = open("/proc/self/status").read()
            return {{k: int(re.search(k + r":\\s+(\\d+)", s).group(1)) // 1024 for k in ("RssFile", "RssAnon")}}
        before = rss()
        c = Corpus.open({str(tmp_path / "c")!r}, release_bytes=2 << 20)
        opened = rss()
        for i in range(0, len(c), 1000):
            c.x[np.arange(i, min(i + 1000, len(c)))]
        after = rss()
        print(before["RssFile"], opened["RssFile"], after["RssFile"])
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, opened, after = map(int, res.stdout.split())
    assert opened - before < 4  # MiB: opening reads no shard
    assert after - before < 10  # every segment read once, pages dropped as it goes


def test_prepare_memory_does_not_grow_with_the_recording(tmp_path):
    """Peak memory (numpy and Python allocations, tracemalloc) of preparing a 2-hour and an
    8-hour recording: the stream reads an hour at a time (its buffers are full from the second
    hour on), the segments wait in a spool file, so the extra 6 hours may only add their start
    times (8 bytes per segment)."""
    rng = np.random.default_rng(11)
    fs, hours = 100, (2, 8)
    for h in hours:
        np.savez(tmp_path / f"rec{h}h.npz", x=_activity(rng, fs * 3600 * h, fs), fs=float(fs))
    # 10-min non-wear windows: the rule's look-back (2.5 windows) stays well under an hour
    rules = QualityRules(nonwear_window_s=600, nonwear_step_s=150)
    peaks = {}
    for h in hours:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            s = _prep([tmp_path / f"rec{h}h.npz"], tmp_path / f"c{h}", shard_segments=512,
                      rules=rules)  # fmt: skip
            peaks[h] = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert s.segments == fs * 3600 * h // 256
    extra_segments = fs * 3600 * (hours[1] - hours[0]) // 256
    # holding the extra segments in any form would take at least their int16 bytes (1.5 KiB
    # each, 13 MB here; as float32 pieces, as before, 4x that): allow a quarter of it
    bound = extra_segments * 256 * 3 * 2 // 4
    assert peaks[8] - peaks[2] < bound, (peaks, bound)
    assert not list((tmp_path / "c8/shards").glob(".*"))  # the spool is gone


def test_append_keeps_existing_shards_byte_identical(raw4, tmp_path):
    root, _ = raw4
    out = tmp_path / "c"
    first = _prep([root / "alice.npz", root / "bob.npz"], out, shard_segments=16)
    hashes = {p.name: _sha(p) for p in (out / "shards").iterdir()}
    parts = {p.name: _sha(p) for p in (out / "index").glob("part-*")}
    second = _prep([root], out, shard_segments=16)
    assert sorted(second.skipped_existing) == [str(root / "alice.npz"), str(root / "bob.npz")]
    assert len(second.processed) == 2 and second.segments == first.segments + second.segments_added
    for name, h in hashes.items():
        assert _sha(out / "shards" / name) == h
    for name, h in parts.items():
        assert _sha(out / "index" / name) == h
    assert second.shards == first.shards + second.shards_added
    c = Corpus.open(out)
    assert c.present_users() == ["alice", "bob", "carol", "dave"]
    assert set(c.user_names[u] for u in c.user[: first.segments]) == {"alice", "bob"}
    # nothing new: nothing written
    third = _prep([root], out, shard_segments=16)
    assert third.segments_added == 0 and len(third.skipped_existing) == 4


def _corpus_state(out):
    m = json.loads((out / "corpus.json").read_text())
    m.pop("generation")
    shards = {p.name: _sha(p) for p in sorted((out / "shards").iterdir())}
    parts = [pq.read_table(out / p["file"]).to_pydict() for p in m["parts"]]
    return m, shards, parts


@pytest.mark.parametrize("where", ["mid_file", "after_first_input"])
def test_killed_prepare_resumes_to_identical_corpus(raw4, tmp_path, monkeypatch, where):
    root, _ = raw4
    straight = tmp_path / "straight"
    _prep([root], straight, shard_segments=16)
    out = tmp_path / "killed"
    calls = {"n": 0}
    if where == "mid_file":  # the 3rd shard write dies: alice is half written
        real = corpus_mod._write_shard

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(corpus_mod, "_write_shard", dying)
    else:  # reading the second input dies
        real = corpus_mod._process_input

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(corpus_mod, "_process_input", dying)
    with pytest.raises(KeyboardInterrupt):
        _prep([root], out, shard_segments=16)
    m = json.loads((out / "corpus.json").read_text())
    if where == "mid_file":
        assert m["pending"]["recording"] == "alice" and m["pending"]["committed_segments"] == 32
        (out / "shards/.shard-000002.npy.junk.tmp").write_bytes(b"half a shard")
    monkeypatch.undo()
    resumed = _prep([root], out, shard_segments=16)
    assert not list((out / "shards").glob(".*"))
    assert _corpus_state(out) == _corpus_state(straight)
    assert resumed.segments == len(Corpus.open(out)) == len(Corpus.open(straight))


def _one_file_error(tmp_path, name, writer, match):
    raw = tmp_path / name.replace(".", "_")
    raw.mkdir()
    writer(raw / name)
    with pytest.raises(ValueError, match=match) as err:
        _prep([raw], tmp_path / f"out_{name}")
    assert name in str(err.value)
    return raw / name


def test_bad_inputs_raise_errors_naming_the_file(tmp_path):
    rng = np.random.default_rng(3)
    x = _activity(rng, 3000, 100.0)
    nan = x.copy()
    nan[37, 1] = np.nan
    _one_file_error(tmp_path, "nan.npz", lambda p: np.savez(p, x=nan, fs=100.0), r"row 37")

    def nan_csv(p):
        df = pd.DataFrame({"t": np.arange(3000) / 100, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]})
        df.loc[41, "y"] = np.nan
        df.to_csv(p, index=False)

    _one_file_error(tmp_path, "nan.csv", nan_csv, r"row 42")
    _one_file_error(tmp_path, "empty.csv", lambda p: p.write_bytes(b""), "empty")
    _one_file_error(tmp_path, "empty.npz", lambda p: p.write_bytes(b""), "empty")
    _one_file_error(
        tmp_path, "nosamples.npz", lambda p: np.savez(p, x=np.zeros((0, 3)), fs=100.0), "no samples"
    )
    no_gravity = x - x.mean(axis=0)
    _one_file_error(
        tmp_path,
        "nogravity.npz",
        lambda p: np.savez(p, x=no_gravity, fs=100.0),
        "cannot detect acceleration units",
    )
    t = np.arange(3000) / 100.0
    t[100] = t[98]
    _one_file_error(
        tmp_path, "back.npz", lambda p: np.savez(p, x=x, t=t), "timestamps go backwards at row 100"
    )
    _one_file_error(
        tmp_path, "badunit.npz", lambda p: np.savez(p, x=x, fs=100.0, units="furlongs"), "unknown"
    )


def test_bad_inputs_can_be_skipped_and_counted(tmp_path):
    rng = np.random.default_rng(4)
    raw = tmp_path / "raw"
    raw.mkdir()
    x = _activity(rng, 3000, 100.0)
    np.savez(raw / "good.npz", x=x, fs=100.0)
    np.savez(raw / "one.npz", x=x[:300], fs=100.0)  # a single segment
    bad = x.copy()
    bad[5] = np.inf
    np.savez(raw / "bad.npz", x=bad, fs=100.0)
    (raw / "empty.csv").write_bytes(b"")
    s = _prep([raw], tmp_path / "c", on_error="skip")
    assert sorted(p.rsplit("/", 1)[1] for p, _ in s.failed) == ["bad.npz", "empty.csv"]
    assert s.users == 2 and s.users_single_segment == 1
    m = json.loads((tmp_path / "c/corpus.json").read_text())
    assert m["summary"]["inputs_failed"] == 2 and m["summary"]["users_single_segment"] == 1
    assert {f["path"].rsplit("/", 1)[1] for f in m["failed_inputs"]} == {"bad.npz", "empty.csv"}
    c = Corpus.open(tmp_path / "c")
    assert (c.user == c.user_names.index("one")).sum() == 1
    # fixed later: retried and removed from the failed list
    np.savez(raw / "bad.npz", x=x, fs=100.0)
    (raw / "empty.csv").unlink()
    s2 = _prep([raw], tmp_path / "c", on_error="skip")
    assert s2.processed == [str(raw / "bad.npz")] and not s2.failed
    assert json.loads((tmp_path / "c/corpus.json").read_text())["failed_inputs"] == []


def test_a_file_failing_late_leaves_nothing_behind(tmp_path, monkeypatch):
    """A CSV whose time goes backwards after windows of it were already spooled: with
    on_error="skip" the corpus holds nothing of it, and no spool file is left."""
    rng = np.random.default_rng(12)
    raw = tmp_path / "raw"
    raw.mkdir()
    n, back = 110_000, 100_000  # the rows read first to settle rate and units end before
    x = _activity(rng, n, 100.0)
    t = np.arange(n) / 100.0
    t[back:] -= 1.0
    pd.DataFrame({"t": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        raw / "late.csv", index=False, float_format="%.4f"
    )
    np.savez(raw / "good.npz", x=x[:3000], fs=100.0)
    spools, quantized = [], []
    real_spool, real_quantize = corpus_mod._new_spool, corpus_mod._quantize

    def spool(out):
        path, fh = real_spool(out)
        spools.append(path)
        return path, fh

    def quantize(w, storage):
        quantized.append((len(spools), len(w)))
        return real_quantize(w, storage)

    monkeypatch.setattr(corpus_mod, "_new_spool", spool)
    monkeypatch.setattr(corpus_mod, "_quantize", quantize)
    out = tmp_path / "c"
    s = _prep([raw], out, on_error="skip", drop_nonwear=False)
    assert [(p.rsplit("/", 1)[1], "row 100001" in e) for p, e in s.failed] == [("late.csv", True)]
    assert spools[0].parent == out / "shards" and len(spools) == 2  # good.npz, then late.csv
    assert sum(k for i, k in quantized if i == 2) >= 65_536 // 256  # late.csv was spooled...
    assert not any(p.exists() for p in spools) and not list((out / "shards").glob(".*"))
    m = json.loads((out / "corpus.json").read_text())
    assert [e["recording"] for e in m["inputs"]] == ["good"] and m["pending"] is None
    assert s.segments == 3000 // 256 == len(Corpus.open(out))  # ... and nothing of it is kept
    assert Corpus.open(out).recording_names == ("good",)


def test_quality_rules_drop_and_count_by_reason(tmp_path):
    rng = np.random.default_rng(5)
    fs = 100
    act = lambda s: _activity(rng, int(s * fs), fs)  # noqa: E731
    still = np.array([0.0, 0.6, 0.8], np.float32) + 0.001 * rng.standard_normal((90 * fs, 3))
    flat = np.tile(np.array([[0.0, 0.0, 1.0]], np.float32), (10 * fs, 1))
    clip = 12 * np.sin(2 * np.pi * 3 * np.arange(10 * fs) / fs)[:, None] * np.ones(3)
    clip = np.clip(clip, -8, 8).astype(np.float32)
    spiky = act(30)
    spiky[1500, 0] = 3.0  # one 3 g sample: not clipping
    x = np.concatenate([act(120), still, act(30), flat, act(30), clip, spiky]).astype(np.float32)
    raw = tmp_path / "raw"
    raw.mkdir()
    np.savez(raw / "q.npz", x=x, fs=float(fs))
    rules = QualityRules(nonwear_window_s=60, nonwear_step_s=15)
    s = _prep([raw], tmp_path / "c", rules=rules, drop_clipped=True)  # clipped is opt-in

    # independent: straightforward per-window loops over the same 100 Hz signal
    n_win = (len(x) - 256) // 256 + 1
    starts = np.arange(n_win) * 256
    win, step = 6000, 1500
    w_starts = sorted(set(range(0, len(x) - win + 1, step)) | {len(x) - win})
    nonwear = np.zeros(n_win, bool)
    for ws in w_starts:
        w = x[ws : ws + win].astype(np.float64)
        still_axes = (w.std(axis=0) < 0.013) & (np.ptp(w, axis=0) < 0.05)
        if still_axes.sum() >= 2:
            nonwear |= (starts < ws + win) & (starts + 256 > ws)
    reason = np.where(nonwear, "nonwear", "")
    for j, a in enumerate(starts):
        w = x[a : a + 256]
        if reason[j]:
            continue
        if (np.ptp(w, axis=0) <= 1e-6).all():
            reason[j] = "flat"
        elif np.abs(w).max() >= 2 and (np.abs(w) >= np.abs(w).max() - 0.05).sum() >= 8:
            reason[j] = "clipped"
    for r in ("nonwear", "flat", "clipped"):
        assert s.dropped[r] == (reason == r).sum() > 0
    assert s.dropped["gap"] == 0 and s.segments == (reason == "").sum()
    assert (reason == "nonwear").sum() >= 90 / 2.56 - 1
    c = Corpus.open(tmp_path / "c")
    np.testing.assert_allclose(c.start_s, starts[reason == ""] / fs, atol=1e-9)
    spike_seg = (len(x) - 30 * fs + 1500) // 256
    assert reason[spike_seg] == "" and np.isclose(c.start_s, spike_seg * 2.56).any()
    # switched off: nothing dropped
    s_off = _prep(
        [raw], tmp_path / "c_off", drop_nonwear=False, drop_flat=False, drop_clipped=False
    )
    assert s_off.segments == n_win
    assert all(s_off.dropped[r] == 0 for r in ("nonwear", "flat", "clipped"))


def test_default_nonwear_rule_needs_an_hour_of_stillness(tmp_path):
    rng = np.random.default_rng(6)
    fs = 25  # stored at 25 Hz, resampled to 100 Hz
    still = np.array([0.0, 0.0, 1.0]) + 0.002 * rng.standard_normal((fs * 4500, 3))
    short = np.array([0.0, 0.0, 1.0]) + 0.002 * rng.standard_normal((fs * 3000, 3))
    parts = [_activity(rng, fs * 600, fs), still, _activity(rng, fs * 600, fs), short]
    raw = tmp_path / "raw"
    raw.mkdir()
    np.savez(raw / "nw.npz", x=np.concatenate(parts).astype(np.float32), fs=float(fs))
    s = _prep([raw], tmp_path / "c")
    # still from 600 s to 5100 s: the 60-min windows starting every 15 min that lie inside it
    # cover [900, 4500); the 50 min of stillness at the end never fill a 60-min window.
    assert s.dropped["nonwear"] == int(np.ceil(4500 / 2.56)) - int(900 // 2.56)
    c = Corpus.open(tmp_path / "c")
    assert not ((c.start_s + 2.56 > 900) & (c.start_s < 4500)).any()
    assert (c.start_s > 5700).sum() == 3000 // 2.56


def test_int16_saturation_is_counted(tmp_path):
    rng = np.random.default_rng(7)
    x = _activity(rng, 1000, 100.0)
    x[10:20, 0] = 20.0
    raw = tmp_path / "raw"
    raw.mkdir()
    np.savez(raw / "hi.npz", x=x, fs=100.0)
    s = _prep([raw], tmp_path / "c", drop_clipped=False)
    assert s.saturated_values == 10
    c = Corpus.open(tmp_path / "c")
    assert c.x[0][10:20, 0].tolist() == [32767 * STEP] * 10
    s16 = _prep([raw], tmp_path / "c16", drop_clipped=False, storage="float16")
    assert s16.saturated_values == 0
    c16 = Corpus.open(tmp_path / "c16")
    assert c16.shard_array(0).dtype == np.float16
    assert np.abs(c16.x[0] - x[:256]).max() <= 20 * 2**-10


def test_truncated_shard_is_detected(corpus4, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(corpus4[0], out)
    shard = out / "shards/shard-000001.npy"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"shard-000001\.npy.*truncated"):
        Corpus.open(out)
    with pytest.raises(ValueError, match=r"shard-000001\.npy.*truncated"):
        _prep([], out, shard_segments=16)
    (out / "shards/shard-000002.npy").unlink()
    shard.write_bytes(b"")
    with pytest.raises((ValueError, FileNotFoundError), match=r"shard-00000[12]\.npy"):
        Corpus.open(out)


def test_changed_inputs_settings_and_duplicates_are_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(8)
    np.savez(raw / "u1.npz", x=_activity(rng, 3000, 100.0), fs=100.0)
    _prep([raw], tmp_path / "c")
    np.savez(raw / "u1.npz", x=_activity(rng, 4000, 100.0), fs=100.0)
    with pytest.raises(ValueError, match=r"u1\.npz.*already in the corpus.*changed.*overwrite"):
        _prep([raw], tmp_path / "c")
    with pytest.raises(ValueError, match=r"stride_s=2\.56.*stride_s=1\.28"):
        _prep([raw], tmp_path / "c", stride_s=1.28)
    s = _prep([raw], tmp_path / "c", overwrite=True)
    assert s.segments == 4000 // 256
    # a corpus whose windows lay on another grid (an older relcon's, per gap-free piece) is
    # never extended: mixing the two would make a resumed recording half one, half the other
    m = json.loads((tmp_path / "c/corpus.json").read_text())
    del m["window_grid"]
    (tmp_path / "c/corpus.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match=r"window_grid=None; this call asks for window_grid="):
        _prep([raw], tmp_path / "c")
    _prep([raw], tmp_path / "c", overwrite=True)
    (raw / "sub").mkdir()
    np.savez(raw / "sub/u1.npz", x=_activity(rng, 3000, 100.0), fs=100.0)
    with pytest.raises(ValueError, match="two inputs give the recording id 'u1'"):
        _prep([raw], tmp_path / "c2")
    s = _prep([raw], tmp_path / "c3", user_from="parent")
    assert Corpus.open(tmp_path / "c3").user_names == ("raw", "sub")
    (tmp_path / "notacorpus").mkdir()
    (tmp_path / "notacorpus/precious.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty"):
        _prep([raw / "u1.npz"], tmp_path / "notacorpus", overwrite=True)
    with pytest.raises(ValueError, match="unsupported input type"):
        _prep([tmp_path / "notacorpus/precious.txt"], tmp_path / "c4")


def test_index_cache_fallback(corpus4, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(corpus4[0], out)
    ref = Corpus.open(corpus4[0])
    (out / "index/cache/meta.json").unlink()
    c = Corpus.open(out)
    assert not isinstance(c.user, np.memmap)
    np.testing.assert_array_equal(c.user, ref.user)
    np.testing.assert_array_equal(c.start_s, ref.start_s)
    _prep([], out, shard_segments=16)  # a prepare run rebuilds the cache
    assert isinstance(Corpus.open(out).user, np.memmap)


def test_device_files_through_actipy(tmp_path, monkeypatch):
    fs = 50
    n = fs * 120
    x = _activity(np.random.default_rng(9), n, fs)
    x[3000:3010] = np.nan  # invalid rows: removed and counted; the 0.22 s hole is bridged
    index = pd.DatetimeIndex(pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) / fs, "s"))
    data = pd.DataFrame(x, columns=["x", "y", "z"], index=index)
    seen = {}

    def read_device(path, **kw):
        seen.update(kw)
        return data, {"SampleRate": fs}

    monkeypatch.setitem(sys.modules, "actipy", types.SimpleNamespace(read_device=read_device))
    monkeypatch.setenv("RELCON_CWA_READER", "actipy")  # the actipy path, not relcon's own reader
    raw = tmp_path / "raw"
    raw.mkdir()
    from device_writers import write_cwa  # a valid file: the damage check reads it first

    write_cwa(raw / "w1.cwa", np.zeros((80, 3)), 100.0, "2024-01-01")
    s = _prep([raw], tmp_path / "c")
    assert seen["resample_hz"] is None and seen["detect_nonwear"] is False
    assert s.nan_rows == 10 and s.gaps == 0 and s.segments == 12000 // 256
    c = Corpus.open(tmp_path / "c")
    np.testing.assert_allclose(c.start_s[0], pd.Timestamp("2024-01-01", tz="UTC").timestamp())
    monkeypatch.setitem(sys.modules, "actipy", None)
    with pytest.raises(ImportError, match=re.escape('pip install "relcon[devices]"')):
        _prep([raw], tmp_path / "c2")


def test_real_actipy_has_the_api_we_call():
    import inspect

    import actipy  # the test extra installs it: never skipped

    params = inspect.signature(actipy.read_device).parameters
    for name in ("lowpass_hz", "calibrate_gravity", "detect_nonwear", "resample_hz", "verbose"):
        assert name in params


def test_load_segments_sampler_and_training_from_a_corpus(corpus4, tmp_path):
    from relcon.train.distance import train_distance
    from relcon.train.relcon import pretrain

    out, _ = corpus4
    corpus = load_segments(DataConfig(source=str(out)))
    assert isinstance(corpus, Corpus) and len(corpus) == len(Corpus.open(out))
    assert user_names(corpus) == ["alice", "bob", "carol", "dave"]
    two = load_segments(DataConfig(source=str(out), users=["bob", "dave"]))
    assert user_names(two) == ["bob", "dave"] and len(two) < len(corpus)
    three = load_segments(DataConfig(source=str(out), exclude_users=["carol"]))
    assert user_names(three) == ["alice", "bob", "dave"]
    with pytest.raises(ValueError, match="zed"):
        load_segments(DataConfig(source=str(out), users=["zed"]))
    segs = corpus.to_segments()
    assert user_names(segs) == user_names(corpus)
    assert isinstance(segs, Segments)

    sampler = CandidateSampler(
        corpus.user, corpus.time_block(60.0), batch_size=4, within_user=3, seed=0
    )
    b = sampler.batch(0, 0)
    assert len(set(corpus.user[b.anchors].tolist())) == 4
    assert (corpus.user[b.within] == corpus.user[b.anchors][:, None]).all()
    assert corpus.x[b.within.reshape(-1)].shape == (12, 256, 3)

    tiny_dist = MotifDistanceConfig(channels=16, bottleneck=4, n_layers=1)
    tiny_enc = EncoderConfig(
        stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
    )
    dist = train_distance(
        DistanceTrainConfig(
            architecture=tiny_dist, steps=2, batch_size=8, warmup_steps=1, device="cpu"
        ),
        tmp_path / "dist",
        segments=corpus,
        progress=False,
    )
    run = pretrain(
        PretrainConfig(
            distance=str(dist), encoder=tiny_enc, steps=2, batch_size=4, within_user=3,
            warmup_steps=1, device="cpu", num_workers=2,
        ),
        tmp_path / "pre",
        segments=corpus,
        progress=False,
    )  # fmt: skip
    assert (run / "model.safetensors").is_file()


def test_corpus_inside_the_input_folder_is_not_read_as_input(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    np.savez(raw / "u.npz", x=_activity(np.random.default_rng(10), 3000, 100.0), fs=100.0)
    first = _prep([raw], raw / "corpus")  # its index parts are .parquet files under raw/
    again = _prep([raw], raw / "corpus")
    assert first.processed == [str(raw / "u.npz")] and again.processed == []
    assert again.skipped_existing == [str(raw / "u.npz")] and again.segments == first.segments
