"""What ``relcon embed`` / ``relcon predict`` write and say (issue 15): never over an input, an
existing output only with ``overwrite``, atomic writes, ``skip_bad`` with a report, a summary in
words, exact ``start_s``, metadata that traces the model and units, warnings and hints a user can
act on, a progress bar over bytes; the typed configurations and entry points (issue 11).

Synthetic recordings in tmp_path and a tiny random encoder: the file runs in about half a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

import relcon
from conftest import TINY_ENCODER
from relcon.apps.batch import read_metadata, report_path, weights_sha256
from relcon.apps.embed import (
    EmbedConfig,
    embed_array,
    embed_command,
    embed_dataframe,
    embed_recordings,
    load_encoder,
)
from relcon.apps.predict import PredictConfig, predict_command, predict_recordings
from relcon.data.formats import G, UnitsWarning
from relcon.data.stream import WindowSummary, iter_windows, read_recording
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.finetuned import FinetunedModel
from relcon.models.hub import save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")
pq = pytest.importorskip("pyarrow.parquet")


def _motion(n, fs, seed=0):
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    return np.stack(
        [0.3 * np.sin(2 * np.pi * 1.3 * t), 0.2 * np.cos(2 * np.pi * 0.7 * t), 1.0 + 0.1 * t % 1],
        axis=1,
    ) + 0.02 * rng.standard_normal((n, 3))


def _csv(path, seconds=120, fs=100, t0=0.0, scale=1.0, seed=0, **kw):
    x = _motion(int(seconds * fs), fs, seed) * scale
    t = t0 + np.arange(len(x)) / fs
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        path, index=False, **kw
    )
    return path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


_KW = dict(device="cpu", progress=False, drop_nonwear=False)


# ----------------------------------------------------------------------------------------------
# never over an input; an existing output only with overwrite; atomic
# ----------------------------------------------------------------------------------------------


def test_existing_output_is_refused_unless_overwrite(tmp_path, encoder_dir):
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "emb.parquet"
    out.write_bytes(b"an older result")
    with pytest.raises(FileExistsError, match=r"emb\.parquet already exists; pass --overwrite"):
        embed_recordings(rec, encoder_dir, out, **_KW)
    assert out.read_bytes() == b"an older result"
    embed_recordings(rec, encoder_dir, out, overwrite=True, **_KW)
    assert len(pd.read_parquet(out)) == int(120 // 2.56)


def test_an_input_is_never_overwritten(tmp_path, encoder_dir):
    rec = _csv(tmp_path / "rec.csv")
    before = _sha(rec)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"rec\.csv: this is an input recording"):
            embed_recordings(rec, encoder_dir, rec, overwrite=overwrite, **_KW)
    # the same file through a hard link and a symbolic link, and an input found in a folder
    os.link(rec, tmp_path / "hard.csv")
    os.symlink(rec, tmp_path / "soft.csv")
    for name in ("hard.csv", "soft.csv"):
        with pytest.raises(ValueError, match="this is an input recording"):
            embed_recordings(rec, encoder_dir, tmp_path / name, overwrite=True, **_KW)
    with pytest.raises(ValueError, match="this is an input recording"):
        embed_recordings(tmp_path, encoder_dir, rec, overwrite=True, **_KW)
    assert _sha(rec) == before


def test_a_killed_run_leaves_the_old_output_intact(tmp_path, encoder_dir):
    rec = _csv(tmp_path / "rec.csv", seconds=600)
    out = tmp_path / "emb.parquet"
    embed_recordings(rec, encoder_dir, out, **_KW)
    before = _sha(out)
    script = textwrap.dedent(
        f"""
        import os, signal
        from relcon.models.encoder import ResNet1DEncoder
        from relcon.apps.embed import embed_recordings
        calls = []
        real = ResNet1DEncoder.embed
        def embed(self, *a, **k):
            calls.append(1)
            if len(calls) == 2:  # after the first batch went to the temporary file
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *a, **k)
        ResNet1DEncoder.embed = embed
        embed_recordings({str(rec)!r}, {str(encoder_dir)!r}, {str(out)!r}, device="cpu",
                         progress=False, drop_nonwear=False, overwrite=True, batch_size=32)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    assert _sha(out) == before  # the old result, whole
    assert len(pd.read_parquet(out)) == int(600 // 2.56)


# ----------------------------------------------------------------------------------------------
# batch runs: skip_bad, or an error naming the bad file and the files not processed
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _csv(raw / "a_good.csv")
    (raw / "b_empty.csv").write_bytes(b"")
    t = np.arange(6000) / 100
    t[4000] = 1.0  # time goes backwards late in the file: fails after rows were embedded
    x = _motion(6000, 100)
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        raw / "c_late.csv", index=False
    )
    _csv(raw / "d_good.csv", seed=1)
    return raw


def test_bad_file_stops_the_run_naming_the_others(folder, tmp_path, encoder_dir):
    out = tmp_path / "emb.parquet"
    with pytest.raises(ValueError) as err:
        embed_recordings(folder, encoder_dir, out, **_KW)
    msg = str(err.value)
    assert "b_empty.csv: file is empty" in msg
    assert "not processed:" in msg and "c_late.csv" in msg and "d_good.csv" in msg
    assert "nothing was written" in msg and "--skip-bad" in msg
    assert not out.exists() and not list(tmp_path.glob(".emb.parquet*"))


def test_skip_bad_writes_the_good_files_and_reports_the_bad(folder, tmp_path, encoder_dir, capsys):
    out = tmp_path / "emb.parquet"
    cfg = EmbedConfig(recordings=[str(folder)], out=str(out), model=str(encoder_dir),
                      device="cpu", keep_nonwear=True, no_progress=True, skip_bad=True,
                      chunk_s=10.0)  # fmt: skip
    assert embed_command(cfg) == 0
    printed = capsys.readouterr().out
    df = pd.read_parquet(out)
    assert sorted(set(df.recording)) == ["a_good", "d_good"]  # no rows of c_late, which failed late
    assert len(df) == 2 * int(120 // 2.56)
    assert "skipped" in printed and "b_empty.csv: file is empty" in printed
    assert "c_late.csv: timestamps go backwards" in printed
    report = json.loads(report_path(out).read_text())
    assert report_path(out).name == "emb.report.json"
    assert {f["path"].rsplit("/", 1)[1] for f in report["failed"]} == {"b_empty.csv", "c_late.csv"}
    assert [r["recording"] for r in report["recordings"]] == ["a_good", "d_good"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no part files left


# ----------------------------------------------------------------------------------------------
# output that tells the truth
# ----------------------------------------------------------------------------------------------


def test_summary_in_words(tmp_path):
    x = _motion(100 * 300, 100)
    t = np.arange(len(x)) / 100.0
    t[t >= 100] += 45.0  # one 45 s gap after 100 s
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        tmp_path / "walk.csv", index=False
    )
    it = iter_windows(tmp_path / "walk.csv", drop_nonwear=False)
    list(it)
    s = it.summary
    text = str(s)
    assert "{" not in text and "0.00 h" not in text
    assert f"kept {s.windows_kept} windows from 5.0 min of data (100 Hz, g, detected)" in text
    assert "1 gap (45.0 s in all)" in text and "cut by a gap" in text
    assert s.gap_s == pytest.approx(45.01) and s.data_s == pytest.approx(300.0, abs=0.02)
    # windows wholly in the gap are not "dropped"
    assert s.windows_empty >= 16 and s.dropped["gap"] <= 2
    assert s.windows_grid == s.windows_kept + s.windows_empty + sum(s.dropped.values())
    assert "24.00 h" in str(WindowSummary(data_s=86400.0)) and "12.0 s" in str(
        WindowSummary(data_s=12.0)
    )


@pytest.mark.parametrize("t0", [1_700_000_000.01, 0.03, 1234.5])
def test_start_s_is_an_exact_multiple_of_the_stride(tmp_path, t0):
    path = _csv(tmp_path / "r.csv", seconds=300, t0=t0, float_format="%.4f")
    batches = list(iter_windows(path, drop_nonwear=False))
    s = np.concatenate([b.start_s for b in batches])
    k = np.concatenate([b.window for b in batches])

    def norm(text):
        return text.rstrip("0").rstrip(".") if "." in text else text

    # the shortest decimal that reads back as each start_s is the exact one: T0 + k * 2.56
    exact = [norm(f"{t0 + kk * 2.56:.2f}") for kk in k.tolist()]
    assert [norm(repr(float(v))) for v in s] == exact
    if t0 > 1e9:
        ns = np.concatenate([b.start_ns for b in batches])
        assert (ns == 1_700_000_000_010_000_000 + k * 2_560_000_000).all()


def test_parquet_metadata_traces_model_units_and_version(tmp_path, encoder_dir):
    rec = _csv(tmp_path / "ms2.csv", scale=G)
    out = embed_recordings(rec, encoder_dir, tmp_path / "e.parquet", **_KW)
    meta = read_metadata(out)
    enc = load_encoder(encoder_dir, "cpu")
    assert meta["relcon_version"] == relcon.__version__ and meta["command"] == "embed"
    assert meta["model"]["weights_sha256"] == weights_sha256(enc)
    assert meta["model"]["source"] == str(encoder_dir.resolve())
    assert meta["model"]["class"] == "ResNet1DEncoder"
    (r,) = meta["recordings"]
    assert (r["recording"], r["units"], r["units_detected"]) == ("ms2", "m/s^2", True)
    torch.manual_seed(5)
    other = ResNet1DEncoder(TINY_ENCODER)
    assert weights_sha256(other) != meta["model"]["weights_sha256"]


def test_gravity_removed_with_units_g_warns(tmp_path, encoder_dir, capsys):
    rng = np.random.default_rng(2)
    x = 0.05 * rng.standard_normal((100 * 60, 3))
    t = np.arange(len(x)) / 100
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        tmp_path / "linear.csv", index=False
    )
    with pytest.warns(UnitsWarning, match=r"linear\.csv: .*far from the 1 g.*gravity removed"):
        cfg = EmbedConfig(recordings=[str(tmp_path / "linear.csv")], units="g",
                          out=str(tmp_path / "e.parquet"), model=str(encoder_dir), device="cpu",
                          keep_nonwear=True, no_progress=True)  # fmt: skip
        embed_command(cfg)
    printed = capsys.readouterr().out
    assert "WARNING" in printed and "gravity removed" in printed
    meta = read_metadata(tmp_path / "e.parquet")
    assert "gravity removed" in meta["recordings"][0]["warnings"][0]


def test_units_hint_is_a_command_line_flag(tmp_path):
    path = _csv(tmp_path / "g.csv")
    with pytest.raises(ValueError) as err:
        iter_windows(path, units="m/s^2")
    assert "pass --units g" in str(err.value) and "units='" not in str(err.value)


def test_semicolon_csv_with_decimal_commas(tmp_path):
    comma = _csv(tmp_path / "comma.csv")
    semi = _csv(tmp_path / "semi.csv", sep=";", decimal=",")
    assert ";" in semi.read_text().splitlines()[1] and "," in semi.read_text().splitlines()[1]
    xa = np.concatenate([b.x for b in iter_windows(comma, drop_nonwear=False)])
    xb = np.concatenate([b.x for b in iter_windows(semi, drop_nonwear=False)])
    np.testing.assert_array_equal(xa, xb)
    tab = _csv(tmp_path / "tab.csv.gz", sep="\t")
    assert len(np.concatenate([b.x for b in iter_windows(tab, drop_nonwear=False)])) == len(xa)


def test_progress_counts_bytes_of_the_files(tmp_path, encoder_dir, capsys):
    rec = _csv(tmp_path / "rec.csv.gz", seconds=600)
    it = iter_windows(rec, drop_nonwear=False, chunk_s=30)
    seen = []
    for _ in it:
        seen.append(it.progress())
    assert seen[-1] == (rec.stat().st_size, rec.stat().st_size)
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))
    embed_recordings(rec, encoder_dir, tmp_path / "e.parquet", device="cpu", progress=True,
                     drop_nonwear=False)  # fmt: skip
    err = capsys.readouterr().err
    total = f"{rec.stat().st_size / 2**20:.2f}M"  # bytes of the file, with a rate and a time left
    assert "100%" in err and f"{total}/{total}" in err and "B/s" in err and "windows" in err


def test_nan_rule_of_each_command(tmp_path):
    """embed / predict: rows with a missing value are removed and counted; prepare and
    read_accel_csv (read_recording's default): refused, naming the row."""
    x = _motion(6000, 100)
    x[1000:1003, 1] = np.nan
    t = np.arange(6000) / 100
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(
        tmp_path / "holes.csv", index=False
    )
    it = iter_windows(tmp_path / "holes.csv", drop_nonwear=False)
    list(it)
    assert (it.summary.nan_rows, it.summary.nan_runs) == (3, 1)
    assert "removed 3 rows with a missing value (1 run)" in str(it.summary)
    with pytest.raises(ValueError, match=r"holes\.csv: data row 1001 \(file line 1002\) has a"):
        read_recording(tmp_path / "holes.csv")
    pieces, info = read_recording(tmp_path / "holes.csv", nan_policy="drop")
    assert info.nan_rows == 3 and len(pieces) == 1


# ----------------------------------------------------------------------------------------------
# typed configurations and entry points
# ----------------------------------------------------------------------------------------------


def _subparser(name: str) -> argparse.ArgumentParser:
    from relcon.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize(("name", "cfg_type"), [("embed", EmbedConfig), ("predict", PredictConfig)])
def test_config_has_a_field_per_cli_option(name, cfg_type):
    generic = ("help", "config", "set", "print_config")  # flags every command may share
    dests = {a.dest.removeprefix("cfg:") for a in _subparser(name)._actions} - set(generic)
    fields = {f.name for f in dataclasses.fields(cfg_type)}
    assert dests <= fields, dests - fields
    assert {"overwrite", "skip_bad"} <= fields


def test_predict_command(tmp_path, capsys):
    torch.manual_seed(1)
    model = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="classification",
                           classes=[0, 1], info={"label_names": ["sit", "walk"]})  # fmt: skip
    folder = save_model(tmp_path / "model", model)
    rec = _csv(tmp_path / "rec.csv")
    out = tmp_path / "p.parquet"
    cfg = PredictConfig(model=str(folder), recordings=[str(rec)], out=str(out), device="cpu",
                        keep_nonwear=True, no_progress=True)  # fmt: skip
    assert predict_command(cfg) == 0
    assert "predictions written to" in capsys.readouterr().out
    meta = read_metadata(out)
    assert meta["command"] == "predict" and meta["model"]["classes"] == [0, 1]
    with pytest.raises(FileExistsError):
        predict_command(cfg)
    predict_recordings(rec, folder, out, overwrite=True, progress=False, drop_nonwear=False)
    assert len(pd.read_parquet(out)) == int(120 // 2.56)


def test_bf16_precision_is_opt_in_close_to_fp32_and_recorded(tmp_path, encoder_dir):
    """Issue 13: ``--precision bf16|auto`` for embed and predict. bf16 keeps 8 significant bits,
    so one rounding is at most 2^-8 relative; through a few convolutions and batch norms the
    embeddings of a small random encoder stay within a few percent of fp32 (cosine > 0.99), and
    they must differ from fp32 at all (else bf16 was not used). fp32 stays the default."""
    rec = _csv(tmp_path / "rec.csv")
    outs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.parquet"
        cfg = EmbedConfig(recordings=[str(rec)], out=str(out), model=str(encoder_dir),
                          device="cpu", precision=precision, no_progress=True)  # fmt: skip
        assert embed_command(cfg) == 0
        assert read_metadata(out)["model"]["precision"] == precision
        outs[precision] = pd.read_parquet(out).filter(regex=r"^e\d+$").to_numpy()
    a, b = outs["fp32"], outs["bf16"]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.99 and not np.array_equal(a, b)
    assert EmbedConfig().precision == "fp32"

    torch.manual_seed(1)
    model = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="classification",
                           classes=[0, 1], info={"label_names": ["sit", "walk"]})  # fmt: skip
    folder = save_model(tmp_path / "model", model)
    x = np.random.default_rng(0).normal(size=(4, 256, 3)).astype(np.float32)
    l32 = model.outputs(x, precision="fp32")
    l16 = model.outputs(x, precision="bf16")
    assert np.abs(l16 - l32).max() <= 0.05 * np.abs(l32).max() and not np.array_equal(l16, l32)
    out = tmp_path / "p.parquet"
    cfg = PredictConfig(model=str(folder), recordings=[str(rec)], out=str(out), device="cpu",
                        precision="bf16", keep_nonwear=True, no_progress=True)  # fmt: skip
    assert predict_command(cfg) == 0
    assert read_metadata(out)["model"]["precision"] == "bf16"


# ----------------------------------------------------------------------------------------------
# pooling: every stage's time-average, for embed only
# ----------------------------------------------------------------------------------------------

SMALL = "relcon-wrist-small"


def _ecols(df):
    return df.filter(regex=r"^e\d+$")


def test_embed_pooling_stages_is_the_api_embedding_with_last_at_the_end(tmp_path):
    """``pooling="stages"``: ``sum(stage_filters)`` columns, the numbers of ``relcon.embed`` on
    the same windows (an independent path), the last ``embed_dim`` of them the default table's;
    the metadata says which pooling, so a 224-column table is told from a 128-column one."""
    rec = _csv(tmp_path / "rec.csv", seconds=60)
    last = embed_recordings(rec, SMALL, tmp_path / "last.parquet", **_KW)
    stages = embed_recordings(rec, SMALL, tmp_path / "stages.parquet", pooling="stages", **_KW)
    enc = relcon.load(SMALL, device="cpu")
    dim = sum(enc.config.stage_filters)
    assert dim == enc.pooled_dim("stages") == 224 and enc.embed_dim == 128
    ds, dl = pd.read_parquet(stages), pd.read_parquet(last)
    assert list(_ecols(ds).columns) == [f"e{i:03d}" for i in range(dim)]
    assert list(_ecols(dl).columns) == [f"e{i:03d}" for i in range(enc.embed_dim)]
    assert all(ds[c].dtype == np.float32 for c in _ecols(ds).columns)
    x = np.concatenate([b.x for b in iter_windows(rec, drop_nonwear=False)])
    assert len(ds) == len(dl) == len(x) == int(60 // 2.56)
    np.testing.assert_array_equal(ds.window_index.to_numpy(), dl.window_index.to_numpy())
    want = relcon.embed(x, SMALL, device="cpu", pooling="stages")
    np.testing.assert_allclose(_ecols(ds).to_numpy(), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        _ecols(ds).to_numpy()[:, -enc.embed_dim :], _ecols(dl).to_numpy(), rtol=1e-4, atol=1e-5
    )
    ms, ml = read_metadata(stages)["model"], read_metadata(last)["model"]
    assert (ms["pooling"], ms["embedding_dim"]) == ("stages", 224)
    assert (ml["pooling"], ml["embedding_dim"]) == ("last", 128)
    # the DataFrame functions pool the same way
    raw = pd.read_csv(rec)
    xyz = raw[["x", "y", "z"]].to_numpy()
    da = embed_array(xyz, 100.0, model=SMALL, device="cpu", drop_nonwear=False, pooling="stages")
    dd = embed_dataframe(raw, model=SMALL, device="cpu", drop_nonwear=False, pooling="stages")
    for df in (da, dd):
        np.testing.assert_allclose(_ecols(df).to_numpy(), want, rtol=1e-4, atol=1e-5)
    assert EmbedConfig().pooling == "last"


def test_embed_cli_pooling_writes_the_same_table(tmp_path):
    from relcon.cli import main

    rec = _csv(tmp_path / "rec.csv", seconds=60)
    want = pd.read_parquet(
        embed_recordings(rec, SMALL, tmp_path / "py.parquet", pooling="stages", **_KW)
    )
    out = tmp_path / "cli.parquet"
    argv = ["embed", str(rec), "--out", str(out), "--model", SMALL, "--device", "cpu",
            "--keep-nonwear", "--no-progress", "--pooling", "stages"]  # fmt: skip
    assert main(argv) == 0
    got = pd.read_parquet(out)
    assert _ecols(got).shape[1] == 224
    pd.testing.assert_frame_equal(got, want, rtol=1e-5, atol=1e-6)
    assert read_metadata(out)["model"]["pooling"] == "stages"


def test_predict_takes_no_pooling(tmp_path, capsys):
    """A fine-tuned model's head was trained on one embedding: ``relcon predict --pooling`` is
    an unknown flag and the ``predict_*`` functions refuse ``pooling`` (any value), naming it."""
    from relcon.apps.predict import predict_array, predict_dataframe
    from relcon.cli import main

    torch.manual_seed(1)
    model = FinetunedModel(ResNet1DEncoder(TINY_ENCODER), task_type="classification",
                           classes=[0, 1], info={"label_names": ["sit", "walk"]})  # fmt: skip
    folder = save_model(tmp_path / "model", model)
    rec = _csv(tmp_path / "rec.csv", seconds=30)
    out = tmp_path / "p.parquet"
    with pytest.raises(SystemExit) as e:
        main(["predict", str(folder), str(rec), "--out", str(out), "--pooling", "stages"])
    assert e.value.code == 2 and "--pooling" in capsys.readouterr().err
    assert "pooling" not in {f.name for f in dataclasses.fields(PredictConfig)}
    for pooling in ("stages", "last"):
        with pytest.raises(TypeError, match=r"predict_recordings\(\).*\['pooling'\].*head"):
            predict_recordings(rec, folder, out, pooling=pooling, progress=False)
    assert not out.exists()
    raw = pd.read_csv(rec)
    with pytest.raises(TypeError, match=r"predict_array\(\).*\['pooling'\]"):
        predict_array(raw[["x", "y", "z"]].to_numpy(), 100.0, folder, pooling="stages")
    with pytest.raises(TypeError, match=r"predict_dataframe\(\).*\['pooling'\]"):
        predict_dataframe(raw, folder, pooling="stages")
    with pytest.raises(TypeError, match=r"predict_array\(\).*\['bogus'\]"):  # as before
        predict_array(raw[["x", "y", "z"]].to_numpy(), 100.0, folder, bogus=1)


def test_a_bad_pooling_is_a_clear_error(tmp_path, capsys):
    from relcon.apps.batch import WindowFunction
    from relcon.cli import main

    rec = _csv(tmp_path / "rec.csv", seconds=30)
    out = tmp_path / "e.parquet"
    with pytest.raises(ValueError, match=r"pooling='max'.*last, stages"):
        embed_recordings(rec, SMALL, out, pooling="max", **_KW)
    with pytest.raises(ValueError, match=r"pooling='mean'.*last, stages"):
        embed_array(np.zeros((3000, 3)), 100.0, model=SMALL, pooling="mean")
    # every embed function checks its settings before it loads the model (none exists here)
    missing = tmp_path / "no_such_model"
    frame = pd.DataFrame({"t": np.arange(3000) / 100.0, "x": 0.0, "y": 0.0, "z": 1.0})
    with pytest.raises(ValueError, match=r"pooling='max'.*last, stages"):
        embed_dataframe(frame, model=missing, pooling="max")
    with pytest.raises(ValueError, match=r"stride_s must be .*got 0"):
        embed_array(np.zeros((3000, 3)), 100.0, model=missing, stride_s=0)
    cfg = EmbedConfig(recordings=[str(rec)], out=str(out), model=SMALL, pooling="max",
                      device="cpu", no_progress=True)  # fmt: skip
    with pytest.raises(ValueError, match="pooling"):
        embed_command(cfg)
    assert not out.exists()
    with pytest.raises(SystemExit):  # argparse's choices
        main(["embed", str(rec), "--out", str(out), "--pooling", "max"])
    assert "--pooling" in capsys.readouterr().err
    fn = WindowFunction(lambda x: {"n": np.zeros(len(x))}, "embed", {})
    with pytest.raises(ValueError, match=r"pooling='stages'.*WindowFunction"):
        embed_recordings(rec, fn, out, pooling="stages", **_KW)
    assert not out.exists()
