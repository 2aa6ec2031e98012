"""``relcon embed | predict | plot | bench`` from the command line, on real (bundled WISDM) data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import relcon
from relcon.apps.embed import embed_recordings
from relcon.cli import main
from relcon.data.datasets import load_demo
from relcon.data.tasks import Task, save_task
from relcon.data.windowing import window_recordings
from relcon.models.distance import MotifDistance
from relcon.models.hub import save_model

G = 9.80665


@pytest.fixture(scope="module")
def demo():
    """Three demo users' recordings (real WISDM watch data, 100 Hz, g)."""
    recs = load_demo()
    users = sorted({r.user for r in recs})[:3]
    return [r for r in recs if r.user in users]


@pytest.fixture(scope="module")
def csvs(demo, tmp_path_factory):
    """One real walking recording written as CSV in m/s^2 (ms time stamps) and in g (seconds)."""
    folder = tmp_path_factory.mktemp("csv")
    rec = next(r for r in demo if r.label_names[int(r.labels[0])] == "walking")
    x = rec.x[: 100 * 60]  # one minute
    t = np.arange(len(x)) / rec.fs
    ms = folder / "walk_ms2.csv"
    pd.DataFrame({"timestamp": (t * 1000).round(3), "x": x[:, 0] * G, "y": x[:, 1] * G, "z": x[:, 2] * G}).to_csv(ms, index=False)  # fmt: skip
    g = folder / "walk_g.csv.gz"
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(g, index=False)
    return {"ms2": ms, "g": g, "x": x}


@pytest.fixture(scope="module")
def task_file(demo, tmp_path_factory):
    segs = window_recordings(demo)
    keep = segs.label >= 0
    labels = np.unique(segs.label[keep])
    y = np.searchsorted(labels, segs.label[keep])
    task = Task(
        X=segs.x[keep], y=y, groups=segs.user[keep], task_type="classification",
        label_names=tuple(segs.label_names[c] for c in labels), name="demo3",
    )  # fmt: skip
    path = tmp_path_factory.mktemp("task") / "demo3.npz"
    save_task(task, path)
    return path


def test_embed_cli_csv_units_and_api(csvs, encoder_dir, tmp_path, capsys):
    out = tmp_path / "emb.parquet"
    rc = main(["embed", str(csvs["ms2"]), "--out", str(out), "--model", str(encoder_dir),
               "--device", "cpu", "--no-progress", "--keep-nonwear"])  # fmt: skip
    assert rc == 0
    assert "embeddings written to" in capsys.readouterr().out
    df = pd.read_parquet(out)
    assert len(df) == int(60 // 2.56)  # one minute of gap-free 100 Hz data
    assert (df.recording == "walk_ms2").all()
    np.testing.assert_allclose(df.start_s.to_numpy(), np.arange(len(df)) * 2.56, atol=1e-9)
    emb = df.filter(regex=r"^e\d+$").to_numpy()
    assert emb.shape == (len(df), 16) and np.isfinite(emb).all()

    # the same motion given in g with second time stamps embeds the same (units detected)
    api = pd.read_parquet(
        embed_recordings(
            csvs["g"],
            encoder_dir,
            tmp_path / "api.parquet",
            device="cpu",
            progress=False,
            drop_nonwear=False,
        )
    )
    np.testing.assert_allclose(api.filter(regex=r"^e\d+$").to_numpy(), emb, rtol=1e-4, atol=1e-5)
    # ... and equals the encoder on the first window cut by hand (100 Hz in, nothing resampled)
    enc = relcon.load(encoder_dir)
    by_hand = enc.embed(csvs["x"][None, :256].astype(np.float32))
    np.testing.assert_allclose(emb[:1], by_hand, rtol=1e-4, atol=1e-5)


def test_embed_cli_bad_input_names_file(csvs, encoder_dir, tmp_path, capsys):
    short = tmp_path / "short.csv"
    pd.DataFrame({"time": np.arange(100) / 100, "x": 0.0, "y": 0.0, "z": 1.0}).to_csv(short, index=False)  # fmt: skip
    rc = main(["embed", str(short), "--out", str(tmp_path / "e.parquet"), "--model",
               str(encoder_dir), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "short.csv" in err
    assert not (tmp_path / "e.parquet").exists()
    rc = main(["embed", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "e.parquet"),
               "--model", str(encoder_dir), "--no-progress"])  # fmt: skip
    assert rc == 2 and "missing.csv" in capsys.readouterr().err
    g_as_ms2 = ["embed", str(csvs["g"]), "--units", "m/s^2", "--out", str(tmp_path / "e.parquet"),
                "--model", str(encoder_dir), "--no-progress"]  # fmt: skip
    assert main(g_as_ms2) == 2
    assert "walk_g.csv.gz" in capsys.readouterr().err


def test_finetune_then_predict_cli(task_file, csvs, encoder_dir, tmp_path, capsys):
    model = tmp_path / "ft"
    rc = main(["finetune", "--task", str(task_file), "--model", str(encoder_dir), "--out",
               str(model), "--epochs", "2", "--device", "cpu", "--no-progress"])  # fmt: skip
    assert rc == 0 and (model / "model.json").exists()
    out = tmp_path / "pred.csv"
    rc = main(["predict", str(model), str(csvs["ms2"]), "--out", str(out), "--device", "cpu",
               "--no-progress", "--keep-nonwear"])  # fmt: skip
    assert rc == 0
    df = pd.read_csv(out)
    names = json.loads((model / "model.json").read_text())["label_names"]
    assert len(df) == int(60 // 2.56)
    assert set(df.prediction) <= set(names)
    probs = df.filter(regex=r"^prob_").to_numpy()
    assert probs.shape[1] == len(names)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (df.prediction.to_numpy() == np.array(names)[probs.argmax(axis=1)]).all()


@pytest.mark.parametrize("fused", [False, True])
def test_few_label_probe_then_predict_cli(task_file, csvs, encoder_dir, tmp_path, capsys, fused):
    """relcon finetune --probe: the few-label recipe kept as a model (fused with a probe of
    hand-crafted features, or not); relcon predict applies it."""
    model = tmp_path / "probe"
    hc = ["--plus-handcrafted", "--handcrafted-fixed-c", "0.03"] if fused else []
    rc = main(["finetune", "--task", str(task_file), "--model", str(encoder_dir), "--out",
               str(model), "--probe", "linear_fixed", "--pooling", "stages",
               "--few-shot-augment", "2", "--device", "cpu", "--no-progress", *hc])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0 and "probe linear_fixed, C = 1" in printed
    assert ("fused with probe linear_fixed, C = 0.03" in printed) == fused
    meta = json.loads((model / "model.json").read_text())
    assert meta["architecture"]["pooling"] == "stages" and meta["config"]["few_shot_augment"] == 2
    assert meta["architecture"]["handcrafted"] == fused and ("handcrafted_probe" in meta) == fused
    out = tmp_path / "pred.csv"
    rc = main(["predict", str(model), str(csvs["ms2"]), "--out", str(out), "--device", "cpu",
               "--no-progress", "--keep-nonwear"])  # fmt: skip
    assert rc == 0
    df = pd.read_csv(out)
    assert len(df) == int(60 // 2.56) and set(df.prediction) <= set(meta["label_names"])
    probs = df.filter(regex=r"^prob_").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    codes = np.array(meta["classes"])[probs.argmax(axis=1)]  # columns in the order of classes
    assert (df.prediction.to_numpy() == np.array(meta["label_names"])[codes]).all()


def test_plot_cli(task_file, csvs, encoder_dir, tmp_path):
    from PIL import Image

    rec = tmp_path / "trace.png"
    assert main(["plot", "recording", str(csvs["ms2"]), "--out", str(rec)]) == 0
    mp = tmp_path / "map.png"
    assert main(["plot", "map", str(task_file), "--out", str(mp), "--model", str(encoder_dir),
                 "--projection", "pca", "--no-progress"]) == 0  # fmt: skip
    torch.manual_seed(0)
    dist = tmp_path / "dist"
    save_model(dist, MotifDistance(channels=8, bottleneck=2), "distance", step=0)
    rk = tmp_path / "rank.html"
    assert main(["plot", "distance", str(task_file), "--out", str(rk), "--model", str(dist),
                 "--anchor-label", "walking", "--html"]) == 0  # fmt: skip
    for png in (rec, mp):
        with Image.open(png) as im:
            assert im.size[0] >= 400 and im.size[1] >= 300
    assert "relcon-data" in rk.read_text()
    assert main(["plot", "distance", str(task_file), "--out", str(rk), "--model", str(dist),
                 "--anchor-label", "flying"]) == 2  # fmt: skip


def test_bench_cli_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--device", "cpu", "--encoder", "small", "--only", "scoring", "loader",
               "--batch-size", "4", "--within-user", "2", "--between-user", "2", "--steps", "1",
               "--warmup", "0", "--quiet", "--json", str(out)])  # fmt: skip
    assert rc == 0
    results = json.loads(out.read_text())
    assert set(results["measurements"]) == {"scoring", "loader"}
    assert "(c)" in capsys.readouterr().out
