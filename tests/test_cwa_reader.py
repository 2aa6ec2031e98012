"""The native streaming ``.cwa`` reader (:mod:`relcon.data.stream.cwa`) against actipy.

The files are written by ``tests/device_writers.py`` from known signals; actipy (and Java) read
the same files for reference, as in ``tests/test_device_files.py``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from device_writers import CWA_BLOCK, cwa_blocks, seal_cwa_block, write_cwa
from relcon.cli import main
from relcon.data.stream.cwa import CwaReader
from relcon.data.stream.sources import read_device_file

FS = 100.0
START = "2024-03-05 10:00:00"
NEEDS_ACTIPY = pytest.mark.skipif(
    importlib.util.find_spec("actipy") is None or shutil.which("java") is None,
    reason="the reference decoder (actipy and Java) is not installed",
)


def _signal(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            0.6 * np.sin(2 * np.pi * 1.7 * t),
            0.4 * np.cos(2 * np.pi * 0.9 * t) + 0.05 * rng.normal(size=n),
            1.0 + 0.3 * np.sin(2 * np.pi * 2.3 * t + 1.0),
        ],
        axis=1,
    )


def _miscalibrated(seed: int = 1) -> np.ndarray:
    """Still 30-s stretches in many orientations between movement, with offsets and gains off:
    enough for the gravity calibration to fit and apply."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(80):
        g = rng.normal(size=3)
        parts += [np.tile(g / np.linalg.norm(g), (3000, 1)) + 0.003 * rng.normal(size=(3000, 3))]
        parts += [_signal(1000, k)]
    return np.concatenate(parts) * [1.02, 0.98, 1.01] + [0.03, -0.02, 0.04]


def _read(path: Path, rows: int = 5000) -> tuple[np.ndarray, np.ndarray, CwaReader]:
    r = CwaReader(path)
    parts = list(r.chunks(rows))
    return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]), r


@NEEDS_ACTIPY
@pytest.mark.parametrize(
    ("x", "packed", "start", "calibrated"),
    [
        (_signal(15_000), False, START, False),
        (_signal(15_000) * 3, True, START, False),  # packed, exponents 1..3
        (_signal(15_037), False, "2024-03-05 10:00:00.37", False),  # blocks off whole seconds
        (_miscalibrated(), False, START, True),  # gravity calibration applied
    ],
    ids=["unpacked", "packed", "offset", "calibrated"],
)
def test_samples_and_times_as_actipy(x, packed, start, calibrated, tmp_path):
    path = write_cwa(tmp_path / "a.cwa", x, FS, start, packed=packed)
    data, fs = read_device_file(path, None)
    ns, xyz, reader = _read(path)
    assert reader.fs == fs == FS
    assert reader.samples == len(ns) == len(data)
    ref_ns = pd.DatetimeIndex(data.index).as_unit("ns").asi8
    assert np.abs(ns - ref_ns).max() <= 1_000_000  # actipy truncates to the millisecond
    np.testing.assert_allclose(xyz, data[["x", "y", "z"]].to_numpy(np.float64), atol=1e-6)
    assert (reader.calibration is not None) == calibrated
    with pytest.raises(ValueError, match=r"a\.cwa: device files are read in g"):
        CwaReader(path, units="m/s2")


@NEEDS_ACTIPY
def test_embed_native_gives_the_windows_of_actipy(encoder_dir, tmp_path, monkeypatch, capsys):
    """``relcon embed`` on a .cwa: the native reader (the default) and actipy agree."""
    (tmp_path / "in").mkdir()
    write_cwa(tmp_path / "in" / "ax3.cwa", _signal(30_000), FS, "2024-03-05 10:00:00.25")
    out = {}
    for how in ("native", "actipy"):
        monkeypatch.setenv("RELCON_CWA_READER", how)
        out[how] = tmp_path / f"{how}.parquet"
        rc = main(["embed", str(tmp_path / "in"), "--out", str(out[how]), "--model",
                   str(encoder_dir), "--device", "cpu", "--no-progress", "--keep-nonwear"])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
    a, b = pd.read_parquet(out["native"]), pd.read_parquet(out["actipy"])
    assert len(a) == len(b) == int(300 // 2.56)
    np.testing.assert_allclose(a.start_s, b.start_s, atol=1e-3)
    e = a.filter(regex=r"^e\d+$").to_numpy()
    np.testing.assert_allclose(e, b.filter(regex=r"^e\d+$").to_numpy(), rtol=1e-4, atol=1e-5)


def test_damaged_blocks_refused_with_the_scan_messages(tmp_path):
    header, blocks = cwa_blocks(_signal(8000), FS, START)
    blocks[40][100] ^= 0x10
    (tmp_path / "bad.cwa").write_bytes(header + b"".join(blocks))
    with pytest.raises(ValueError, match=r"bad\.cwa: block 42 \(byte offset 21504\) fails its"):
        _read(tmp_path / "bad.cwa")
    header, blocks = cwa_blocks(_signal(8000), FS, START)
    struct.pack_into("<H", blocks[7], 28, 200)  # more samples than the payload holds
    seal_cwa_block(blocks[7])
    (tmp_path / "count.cwa").write_bytes(header + b"".join(blocks))
    with pytest.raises(ValueError, match=r"count\.cwa: block 9 says it holds 200 samples"):
        _read(tmp_path / "count.cwa")
    (tmp_path / "empty.cwa").write_bytes(header)
    with pytest.raises(ValueError, match=r"empty\.cwa: the device file holds no samples"):
        _read(tmp_path / "empty.cwa")


def _hours_file(path: Path, hours: int) -> int:
    """An ``hours``-long .cwa made of one hour's blocks, stamped an hour later each time."""
    header, blocks = cwa_blocks(_signal(360_000), FS, START)
    with open(path, "wb") as fh:
        fh.write(header)
        for h in range(hours):
            for b in blocks:
                c = bytearray(b)
                stamp = struct.unpack_from("<I", c, 14)[0]
                struct.pack_into("<I", c, 14, stamp + (h << 12))  # + h hours (same day)
                seal_cwa_block(c)
                fh.write(c)
    return 360_000 * hours


def test_memory_stays_bounded_on_hours(tmp_path):
    """Twelve hours (4.3 M samples, 138 MB decoded as int64 times and float64 x, y, z): the peak
    resident memory of a fresh process reading it (after a short file, which loads the code
    paths) grows by a small fraction of that."""
    n = _hours_file(tmp_path / "long.cwa", 12)
    write_cwa(tmp_path / "warm.cwa", _miscalibrated()[:120_000], FS, START)
    assert (tmp_path / "long.cwa").stat().st_size == 1024 + n // 80 * CWA_BLOCK
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from relcon.data.stream.cwa import CwaReader

        def status():
            out = {{}}
            for line in open("/proc/self/status"):
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(rest.split()[0]) * 1024
            return out

        for _ in CwaReader({str(tmp_path / "warm.cwa")!r}).chunks(50_000):
            pass  # the code paths used once, before the baseline
        base = status()["VmRSS"]
        r = CwaReader({str(tmp_path / "long.cwa")!r})
        n, last = 0, 0
        for row0, ns, xyz in r.chunks(50_000):
            assert row0 == n and (ns.size == 0 or ns[0] > last)
            n, last = n + ns.size, ns[-1]
        print(json.dumps({{"n": n, "growth": status()["VmHWM"] - base, "pos": r.position}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    decoded = n * (8 + 3 * 8)
    assert got["n"] == n and got["pos"] == (tmp_path / "long.cwa").stat().st_size
    assert got["growth"] < decoded / 6, (got, decoded)  # about 15 MB, whatever the length


# ----------------------------------------------------------------------------------------------
# progress over the calibration pass (the bar must not stand still while it runs)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def cwa_180k(tmp_path: Path) -> Path:
    """30 minutes at 100 Hz in its own folder: 2250 blocks, three chunks of the calibration
    pass (1024 blocks each)."""
    (tmp_path / "in").mkdir()
    return write_cwa(tmp_path / "in" / "ax3.cwa", _signal(180_000), FS, START)


def test_calibration_pass_reports_its_bytes_before_any_window(cwa_180k, tmp_path, monkeypatch):
    """iter_windows (the reader of embed, predict and prepare): ``on_bytes`` follows the
    calibration pass up to the file's size on disk before the iterator exists, and progress()
    then counts the reading pass on top of it, ending at twice the size: its total."""
    from relcon.data.corpus.inputs import collect_inputs
    from relcon.data.stream import iter_windows
    from relcon.data.stream.sources import bytes_to_read

    size = cwa_180k.stat().st_size
    seen: list[int] = []
    it = iter_windows(cwa_180k, drop_nonwear=False, chunk_s=300, on_bytes=seen.append)
    assert len(seen) == 3 and 0 < seen[0] < seen[1] < seen[2] == size  # no window yet
    assert bytes_to_read(cwa_180k) == 2 * size
    assert collect_inputs([cwa_180k], tmp_path / "out")[0].bytes_to_read == 2 * size
    progress = [it.progress()]
    for _ in it:
        progress.append(it.progress())
    assert size <= progress[0][0] < 2 * size  # the calibration pass done, the reading begun
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    assert progress[-1] == (2 * size, 2 * size)
    assert seen[-1] == size  # told nothing more during the reading pass
    # without calibration (CwaReader's option): no whole-file pass on opening, none counted
    told: list[int] = []
    r = CwaReader(cwa_180k, calibrate=False, on_bytes=told.append)
    assert told == [] and r.calibration_bytes == 0 and r.calibration is None and r.fs == FS
    assert r.position == 0
    assert sum(ns.size for _, ns, _ in r.chunks(50_000)) == r.samples == 180_000
    assert r.position == size
    # read by actipy (RELCON_CWA_READER=actipy), or any other format: the file counts once
    monkeypatch.setenv("RELCON_CWA_READER", "actipy")
    assert bytes_to_read(cwa_180k) == size
    csv = tmp_path / "rec.csv"
    pd.DataFrame({"time": np.arange(600) / FS, "x": 0.0, "y": 0.0, "z": 1.0}).to_csv(csv)
    assert bytes_to_read(csv) == csv.stat().st_size


def test_prepare_read_bar_moves_over_the_calibration_pass(cwa_180k, tmp_path, monkeypatch, capsys):
    """relcon prepare on a .cwa: the bytes bar moves up to the file's size before the first
    window is looked at, and ends at its total, twice the size on disk."""
    import relcon.data.corpus.prepare as prepare_mod
    from relcon.data.corpus import prepare_corpus
    from relcon.progress import BytesBar

    size = cwa_180k.stat().st_size
    events: list[tuple[str, int]] = []
    at, flag = BytesBar.at, prepare_mod.flag_windows

    def spy_at(self, pos):
        events.append(("at", self.done + pos))
        at(self, pos)

    def spy_flag(x, *args):
        events.append(("windows", len(x)))
        return flag(x, *args)

    monkeypatch.setattr(BytesBar, "at", spy_at)
    monkeypatch.setattr(prepare_mod, "flag_windows", spy_flag)
    prepare_corpus([cwa_180k.parent], tmp_path / "corpus", progress=True)
    first = events.index(next(e for e in events if e[0] == "windows"))
    before = [n for kind, n in events[:first] if kind == "at"]
    assert len(set(before)) >= 3 and size in before  # moved, up to the size, then windows
    read = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("read:")]
    from tqdm import tqdm

    total = tqdm.format_sizeof(2 * size, divisor=1024)
    assert read[-1].startswith("read: 100%") and f"| {total}/{total} [" in read[-1], read[-1]


def test_embed_bar_says_calibrating_and_ends_at_its_total(cwa_180k, encoder_dir, monkeypatch):
    """relcon embed on a .cwa: the bar moves over the calibration pass saying so, before any
    window, then over the reading; it ends at its total, twice the size on disk."""
    import relcon.apps.batch as batch
    from relcon.apps.embed import embed_recordings

    size = cwa_180k.stat().st_size
    calib: list[tuple[int, str, int]] = []  # the bar after each call of the pass's on_bytes
    ends: list[tuple[int, int, str]] = []
    calibrating, close = batch._Progress.calibrating, batch._Progress.close

    def spy_calibrating(self, i, rid):
        on_bytes = calibrating(self, i, rid)

        def spy(pos):
            on_bytes(pos)
            calib.append((self.bar.n, self.bar.postfix, self.windows))

        return spy

    def spy_close(self):
        ends.append((self.bar.n, self.bar.total, self.bar.postfix))
        close(self)

    monkeypatch.setattr(batch._Progress, "calibrating", spy_calibrating)
    monkeypatch.setattr(batch._Progress, "close", spy_close)
    out = cwa_180k.parent.parent / "e.parquet"
    embed_recordings(cwa_180k, encoder_dir, out, device="cpu", progress=True, chunk_s=300,
                     drop_nonwear=False)  # fmt: skip
    assert [n for n, _, _ in calib] == sorted({n for n, _, _ in calib})
    assert len(calib) == 3 and calib[-1][0] == size
    assert all(note == "1/1 ax3: calibrating, 0 windows" and w == 0 for _, note, w in calib)
    windows = len(pd.read_parquet(out))
    assert ends == [(2 * size, 2 * size, f"1/1 ax3, {windows:,} windows")]
