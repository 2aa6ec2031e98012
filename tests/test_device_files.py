"""Real device files through the real actipy (and Java): never skipped, never a fake.

The tests write small format-valid files themselves (Axivity ``.cwa``, packed and unpacked, and
GENEActiv ``.bin``; see ``device_writers.py``) from a known signal, read them through
``relcon embed`` and ``relcon prepare`` (:func:`relcon.cli.main`) and check the samples, the
time stamps and the sampling rate against the signal within the formats' quantisation
(1/256 g; the Axivity decoder truncates times to the millisecond). Then damaged files (truncated,
a bad checksum, a clock going backwards) are refused with the file and the place named, and
``--skip-bad`` still writes the others. The test extra installs actipy and CI has Java: a
missing one is a failure with the reason, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from device_writers import (
    CWA_BLOCK,
    CWA_HEADER,
    cwa_blocks,
    packed_quantise,
    quantise,
    seal_cwa_block,
    write_cwa,
    write_genea_bin,
)
from relcon.cli import main
from relcon.data.corpus import Corpus
from relcon.data.stream.sources import read_device_file

FS = 100.0
N = int(FS * 150)  # 2.5 minutes: 58 windows, 188 CWA blocks, 50 GENEActiv pages
START = "2024-03-05 10:00:00"
T0 = pd.Timestamp(START, tz="UTC").timestamp()


@pytest.fixture(scope="module", autouse=True)
def real_actipy_and_java():
    """The real decoder and Java, or a failure that says what to install."""
    if importlib.util.find_spec("actipy") is None:
        pytest.fail(
            'the device-file tests need actipy: pip install ".[test]" (or "relcon[devices]")'
        )
    if shutil.which("java") is None:
        pytest.fail("the device-file tests need Java: e.g. apt install default-jre-headless")


def _signal(seed: int = 0) -> np.ndarray:
    """Wrist-like motion in g: gravity on z, a few tones and noise, within +-2 g."""
    t = np.arange(N) / FS
    rng = np.random.default_rng(seed)
    x = np.stack(
        [
            0.6 * np.sin(2 * np.pi * 1.7 * t),
            0.4 * np.cos(2 * np.pi * 0.9 * t) + 0.05 * rng.normal(size=N),
            1.0 + 0.3 * np.sin(2 * np.pi * 2.3 * t + 1.0),
        ],
        axis=1,
    )
    return x


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("devices")
    x = _signal()
    write_cwa(folder / "ax3.cwa", x, FS, START)
    write_genea_bin(folder / "genea.bin", x, FS, START)
    pd.DataFrame(
        {"time": T0 + np.arange(N) / FS, **dict(zip("xyz", quantise(x).T, strict=True))}
    ).to_csv(folder / "ref.csv", index=False)
    return folder, x


def test_written_files_read_back_by_actipy(files, tmp_path):
    """Samples, times and rate of each format as actipy decodes them, against the signal."""
    folder, x = files
    big = x.copy()
    big[1000:1100, 0] = np.linspace(-7.5, 7.5, 100)  # packed samples with exponents 1..3
    write_cwa(tmp_path / "packed.cwa", big, FS, START, packed=True)
    cases = [(folder / "ax3.cwa", quantise(x)), (folder / "genea.bin", quantise(x))]
    cases.append((tmp_path / "packed.cwa", packed_quantise(big)))
    expected_ns = pd.Timestamp(START).value + np.arange(N) * 10_000_000
    for path, want in cases:
        data, fs = read_device_file(path, None)
        assert fs == FS, path
        np.testing.assert_array_equal(data[["x", "y", "z"]].to_numpy(np.float64), want)
        dt = pd.DatetimeIndex(data.index).as_unit("ns").asi8 - expected_ns
        assert dt.max() <= 0 and dt.min() >= -1_000_000, path  # within the decoder's 1 ms


def test_embed_device_files_through_the_cli(files, encoder_dir, tmp_path, capsys):
    """``relcon embed`` on a .cwa and a .bin gives the windows of the signal itself."""
    folder, _ = files
    out = tmp_path / "e.parquet"
    rc = main(["embed", str(folder), "--out", str(out), "--model", str(encoder_dir),
               "--device", "cpu", "--no-progress", "--keep-nonwear"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    df = pd.read_parquet(out)
    emb = {r: g.filter(regex=r"^e\d+$").to_numpy() for r, g in df.groupby("recording")}
    starts = {r: g.start_s.to_numpy() for r, g in df.groupby("recording")}
    assert sorted(emb) == ["ax3", "genea", "ref"]
    n_win = int(N / FS // 2.56)
    for rid in ("ax3", "genea"):
        assert emb[rid].shape == emb["ref"].shape == (n_win, 16)
        np.testing.assert_allclose(starts[rid], T0 + np.arange(n_win) * 2.56, atol=2e-3)
        np.testing.assert_allclose(emb[rid], emb["ref"], rtol=1e-3, atol=1e-3)


def test_prepare_device_files_through_the_cli(files, tmp_path, capsys):
    """``relcon prepare`` stores the signal's own samples (1/2048 g steps hold 1/256 g exactly)."""
    folder, x = files
    out = tmp_path / "corpus"
    rc = main(["prepare", str(folder / "ax3.cwa"), str(folder / "genea.bin"), "--out", str(out),
               "--no-drop-nonwear", "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    c = Corpus.open(out)
    n_win = int(N // 256)
    q = quantise(x)
    want = q[: n_win * 256].reshape(n_win, 256, 3)
    # The Axivity decoder stamps a sample up to 1 ms early and prepare puts it back on the
    # 100 Hz grid by interpolation: it moves by at most a tenth of the step to a neighbour
    # (and half a 1/2048 g step of int16 storage).
    step = np.abs(np.diff(q, axis=0, prepend=q[:1], append=q[-1:]))
    slack = 0.1 * np.maximum(step[:-1], step[1:])[: n_win * 256].reshape(want.shape) + 1 / 4096
    for name in ("ax3", "genea"):
        rows = np.flatnonzero(c.user == c.user_names.index(name))
        assert len(rows) == n_win, name
        rows = rows[np.argsort(c.start_s[rows])]
        np.testing.assert_allclose(c.start_s[rows], T0 + np.arange(n_win) * 2.56, atol=2e-3)
        err = np.abs(c.x[rows] - want)
        assert (err <= (slack if name == "ax3" else 1e-6)).all(), (name, err.max())


# ----------------------------------------------------------------------------------------------
# damaged files
# ----------------------------------------------------------------------------------------------


def _damaged(tmp_path: Path, how: str) -> Path:
    header, blocks = cwa_blocks(_signal(1), FS, START)
    if how == "checksum":
        blocks[40][100] ^= 0x10  # one flipped bit in block 42 (the header is blocks 0 and 1)
    elif how == "backwards":
        for b in blocks[60:]:  # from block 62 on, the clock is an hour behind
            stamp = struct.unpack_from("<I", b, 14)[0]
            struct.pack_into("<I", b, 14, stamp - (1 << 12))
            seal_cwa_block(b)
    raw = header + b"".join(blocks)
    if how == "truncated":
        raw = raw[: CWA_HEADER + 100 * CWA_BLOCK + 300]
    path = tmp_path / "in" / f"{how}.cwa"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("how", "where"),
    [
        ("truncated", r"truncated: it ends 300 bytes into block 102 \(byte offset 52224\)"),
        ("checksum", r"block 42 \(byte offset 21504\) fails its checksum"),
        ("backwards", r"clock jumps backwards at block 62 \(byte offset 31744\): it starts at "
                      r"2024-03-05 09:00:48\.000, before block 61 \(2024-03-05 10:00:47\.200\)"),
    ],
    ids=["truncated", "checksum", "backwards"],
)  # fmt: skip
def test_damaged_cwa_refused_and_skip_bad_writes_the_rest(
    how, where, files, encoder_dir, tmp_path, capsys
):
    bad = _damaged(tmp_path, how)
    shutil.copy(files[0] / "ax3.cwa", bad.parent / "good.cwa")
    out = tmp_path / "e.parquet"
    args = ["embed", str(bad.parent), "--out", str(out), "--model", str(encoder_dir),
            "--device", "cpu", "--no-progress", "--keep-nonwear"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{bad}: " in err and re.search(where, err), err
    assert not out.exists()
    assert main([*args, "--skip-bad"]) == 0
    capsys.readouterr()
    assert set(pd.read_parquet(out).recording) == {"good"}
    report = json.loads(out.with_name("e.report.json").read_text())
    assert [f["path"] for f in report["failed"]] == [str(bad)]


def test_damaged_genea_bin_refused(tmp_path):
    x = _signal(2)
    path = write_genea_bin(tmp_path / "g.bin", x, FS, START)
    lines = path.read_bytes().decode().split("\r\n")
    cut = "\r\n".join(lines[: 59 + 10 * 7 + 9]) + "\r\n" + lines[59 + 10 * 7 + 9][:500]
    path.write_bytes(cut.encode())
    with pytest.raises(ValueError, match=r"g\.bin: the file is truncated: page 8 \(line 130\)"):
        read_device_file(path, None)
    back = lines[:]
    back[59 + 10 * 20 + 3] = "Page Time:2024-03-05 09:00:00:000"
    path.write_bytes("\r\n".join(back).encode())
    with pytest.raises(ValueError, match=r"clock jumps backwards at page 21 \(line 260\)"):
        read_device_file(path, None)


def test_missing_java_and_read_errors_of_actipy(files, tmp_path, monkeypatch):
    cwa = files[0] / "ax3.cwa"
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError, match=r"ax3\.cwa: .*needs Java.*apt install default-jre-headless"):
        read_device_file(cwa, None)
    monkeypatch.undo()
    data = pd.DataFrame({"x": [0.0], "y": [0.0], "z": [1.0]}, index=pd.DatetimeIndex([START]))
    fake = types.SimpleNamespace(read_device=lambda p, **kw: (data, {"ReadErrors": 3}))
    monkeypatch.setitem(sys.modules, "actipy", fake)
    with pytest.raises(ValueError, match=r"ax3\.cwa: actipy counted 3 read error\(s\)"):
        read_device_file(cwa, None)
