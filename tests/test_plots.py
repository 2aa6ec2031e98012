"""Tests of relcon.apps.plots: the pictures are written, not blank, and bad inputs fail clearly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from relcon.apps import plots
from relcon.apps.plots import common
from relcon.apps.plots.trace import _BlockStore
from relcon.data.recording import Recording
from relcon.models.distance import MotifDistance
from relcon.models.encoder import EncoderConfig, ResNet1DEncoder
from relcon.models.finetuned import FinetunedModel
from relcon.models.hub import save_model

NAMES = ("walking", "sitting")


def _recording(seconds: float = 60.0, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    n = int(seconds * 100)
    t = np.arange(n) / 100
    x = np.stack([np.sin(2 * np.pi * 1.8 * t), 0.3 * np.cos(t), np.ones(n)], axis=1)
    x[n // 2 :, :2] *= 0.05  # "sitting": little movement
    x += 0.05 * rng.standard_normal(x.shape)
    labels = np.zeros(n, dtype=np.int16)
    labels[n // 2 :] = 1
    return Recording(
        user="test:1", recording="test:1:0", x=x.astype(np.float32), fs=100.0, start_s=0.0,
        labels=labels, label_names=NAMES, source="synthetic",
    )  # fmt: skip


def _check_png(path: Path, min_w: int = 600, min_h: int = 300) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file() and path.suffix == ".png"
    assert 5_000 < path.stat().st_size < 300_000
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] >= min_h and img.shape[1] >= min_w
    rgb = img[..., :3].astype(np.float64)
    assert rgb.std() > 0.05, "picture is blank"
    assert (rgb.mean(axis=2) < 0.9).mean() > 0.005, "almost nothing drawn"
    # colour, not only black text: the traces / points are drawn
    assert (rgb.max(axis=2) - rgb.min(axis=2) > 0.3).mean() > 0.002
    assert not list(path.parent.glob(".*.tmp")), "temporary file left behind"
    return img


def _spec(path: Path) -> dict:
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # works offline
    m = re.search(r'<script type="application/json" id="relcon-data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


# A minimal DOM for node: runs the viewer and fires its event handlers.
_SHIM = r"""
const fs=require("fs");const page=fs.readFileSync(process.argv[2],"utf8");
const data=page.match(/<script type="application\/json" id="relcon-data">([\s\S]*?)<\/script>/)[1];
const code=page.match(/<script>([\s\S]*?)<\/script>\s*<\/body>/)[1];
const counts={},bad=[],all=[];
class El{constructor(t){this.tagName=t;this.attrs={};this.listeners={};this.style={};
 this.classList={toggle(){}};counts[t]=(counts[t]||0)+1;all.push(this);}
 setAttribute(k,v){const s=String(v);if(/NaN|undefined|Infinity/.test(s))bad.push(this.tagName+"."+k+"="+s.slice(0,50));this.attrs[k]=s;}
 getAttribute(k){return k in this.attrs?this.attrs[k]:null;}
 appendChild(c){return c;} addEventListener(t,f){(this.listeners[t]=this.listeners[t]||[]).push(f);}
 set innerHTML(h){if(/NaN|undefined/.test(h))bad.push(h.slice(0,60));}
 set textContent(t){if(/NaN|undefined/.test(String(t)))bad.push(String(t));}
 getBoundingClientRect(){return{width:100,height:20};}
 createSVGPoint(){return{x:0,y:0,matrixTransform(){return{x:this.x,y:this.y};}};}
 getScreenCTM(){return{inverse(){return null;}};}}
const winL={};const root=new El("div");
global.window={addEventListener(t,f){(winL[t]=winL[t]||[]).push(f);},scrollX:0,innerWidth:1200};
global.document={getElementById(id){return id==="relcon-data"?{textContent:data}:root;},
 createElement(t){return new El(t);},createElementNS(n,t){return new El(t);},body:new El("body")};
const errors=[];try{eval(code);}catch(e){errors.push(String(e.stack));}
const ev=o=>Object.assign({clientX:300,clientY:60,pageX:300,pageY:60,deltaY:-100,preventDefault(){}},o);
try{for(const el of all.slice())for(const t of Object.keys(el.listeners))for(const f of el.listeners[t]){
 f(ev({target:all.find(e=>e.tagName==="circle")||el}));
 if(t==="mousedown"){for(const g of winL.mousemove||[])g(ev({clientX:350}));for(const g of winL.mouseup||[])g(ev({}));}}}
catch(e){errors.push(String(e.stack));}
console.log(JSON.stringify({counts,bad:bad.slice(0,5),errors}));
"""


def _run_viewer(path: Path, tmp_path: Path) -> dict:
    """Execute the page's JavaScript under node with a stub DOM (skipped without node)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    shim = tmp_path / "shim.js"
    shim.write_text(_SHIM)
    res = subprocess.run([node, str(shim), str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["errors"] == [] and out["bad"] == [], out
    return out["counts"]


# ----------------------------------------------------------------------------------------------
# envelope and the trace
# ----------------------------------------------------------------------------------------------


def test_envelope_keeps_every_extreme():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1003, 2))
    x[517, 1] = 25.0
    start, lo, hi = plots.envelope(x, 10)
    assert len(start) == 101 and lo.shape == hi.shape == (101, 2)
    for b, s in enumerate(start):
        seg = x[s : s + 10]
        assert np.array_equal(lo[b], seg.min(axis=0)) and np.array_equal(hi[b], seg.max(axis=0))
    assert hi.max() == 25.0
    with pytest.raises(ValueError, match="per_bin"):
        plots.envelope(x, 0)
    with pytest.raises(ValueError, match="empty"):
        plots.envelope(x[:0], 3)


def test_plot_recording_png_with_labels(tmp_path):
    out = plots.plot_recording(_recording(), tmp_path / "rec.png")
    assert out == tmp_path / "rec.png"
    img = _check_png(out, min_w=1100)
    assert img.shape[1] == 1200  # 12 inches at 100 dpi


def _classifier(tmp_path: Path) -> tuple[FinetunedModel, Path]:
    """A tiny (untrained) walking / sitting classifier and the folder it is saved in."""
    torch.manual_seed(0)
    enc = ResNet1DEncoder(
        EncoderConfig(stage_blocks=(1,), stage_filters=(8,), stage_kernels=(3,), stem_filters=8)
    )
    model = FinetunedModel(enc, task_type="classification", classes=[0, 1])
    model.info["label_names"] = list(NAMES)
    return model, save_model(tmp_path / "ft", model)


def _figure(monkeypatch) -> dict:
    """Keep the matplotlib figure that the next picture function saves (``["fig"]``)."""
    kept: dict = {}
    save = common._save_figure

    def keep(fig, path, dpi):
        kept["fig"] = fig
        return save(fig, path, dpi)

    monkeypatch.setattr(common, "_save_figure", keep)
    return kept


def _texts(fig) -> list[str]:
    """Every text of a figure: title, axis labels, tick labels, legend entries, annotations."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def _watch_csv(path: Path, fs: float = 20.0, gap_h: float = 2.0) -> Path:
    """A 20 Hz watch CSV with a label column: 3 min, a ``gap_h`` gap, 3 min; the class changes
    every minute (walking, sitting, ...)."""
    rng = np.random.default_rng(4)
    n = int(180 * fs)
    t = np.concatenate([np.arange(n) / fs, 180 + gap_h * 3600 + np.arange(n) / fs])
    walking = (t // 60) % 2 == 0
    xyz = 0.05 * rng.standard_normal((len(t), 3)) + [0, 0, 1]
    xyz[:, 0] += np.where(walking, 0.6 * np.sin(2 * np.pi * 1.8 * t), 0.0)
    lab = np.where(walking, "walking", "sitting")
    rows = [
        f"{a:.3f},{b:.4f},{c:.4f},{d:.4f},{e}" for a, (b, c, d), e in zip(t, xyz, lab, strict=True)
    ]
    path.write_text("time,x,y,z,activity\n" + "\n".join(rows) + "\n")
    return path


def test_plot_recording_cuts_long_gaps_and_reads_true_labels(tmp_path, monkeypatch):
    # issue 15: the data filled 5% of the width, the title said "at 100 Hz" of 20 Hz input,
    # "coloured by predicted" missed a word, the dotted lines were unexplained and the file's
    # labels were ignored
    _, folder = _classifier(tmp_path)
    csv = _watch_csv(tmp_path / "watch.csv")
    kept = _figure(monkeypatch)
    plots.plot_recording(csv, tmp_path / "watch.png", model=folder)
    fig = kept["fig"]
    title = fig._suptitle.get_text()
    assert "recorded at 20 Hz" in title and "resampled to 100 Hz" in title
    assert "coloured by predicted class (upper band) and true label (lower band)" in title
    assert "predicted = true label in" in title
    axes = fig.axes
    assert [a.get_ylabel() for a in axes[4:]] == ["predicted", "true label"]
    unit = axes[-1].get_xlabel()
    assert unit == "time since start (min)"
    # the axis is 6 min of data plus a narrow cut, not 2 h 6 min
    assert axes[0].get_xlim()[1] < 1.05 * 6
    cuts = [p for p in axes[0].patches if p.get_hatch() == "////"]
    assert len(cuts) == 1 and "2.00 h" in [t.get_text() for t in axes[0].texts]
    ticks = [float(t.get_text()) for t in axes[-1].get_xticklabels() if t.get_text()]
    assert min(ticks) == 0 and max(ticks) > 120  # true time after the cut
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"walking", "sitting", "change of true label", "long gap cut out (length above)"} <= set(
        legend
    )
    # the true-label band follows the file's minutes: walking, sitting, walking | sitting, ...
    assert len(axes[5].collections) == 2  # one per class
    assert sum(len(c.get_paths()) for c in axes[5].collections) == 6
    html = plots.plot_recording(csv, tmp_path / "watch.html", model=folder)
    spec = _spec(html)
    assert len(spec["cuts"]) == 1 and spec["span_s"] < 400
    assert spec["axis"]["t"][-1] > 7200 and [b["name"] for b in spec["bands"]][1] == "true label"
    _run_viewer(html, tmp_path)
    with pytest.raises(ValueError, match="no label column 'truth'"):
        plots.plot_recording(csv, tmp_path / "x.png", label_column="truth")
    # without cutting, the data shrink to slivers again (the old picture)
    plots.plot_recording(csv, tmp_path / "uncut.png", cut_gaps=False)
    assert kept["fig"].axes[0].get_xlim()[1] > 120


def test_plot_recording_model_html_and_long_recording(tmp_path):
    model, folder = _classifier(tmp_path)
    # two hours, one 7 g spike: the envelope must keep it
    rec = _recording(2 * 3600.0)
    rec.x[123_457, 2] = 7.0
    out = plots.plot_recording(rec, tmp_path / "long", model=folder, html=True)
    assert out == tmp_path / "long.html"
    spec = _spec(out)
    assert spec["kind"] == "series" and spec["time_unit"] == "min"
    assert [ln["name"] for ln in spec["lanes"]] == ["x (g)", "y (g)", "z (g)", "|a| (g)"]
    assert len(spec["t"]) <= 5100 and len(spec["lanes"][2]["hi"]) == len(spec["t"])
    assert max(v for v in spec["lanes"][2]["hi"] if v is not None) == pytest.approx(7.0)
    assert [b["name"] for b in spec["bands"]] == ["predicted", "true label"]
    assert {c["name"] for c in spec["classes"]} <= {"walking", "sitting", "unlabelled / mixed"}
    n_windows = (len(rec) - 256) // 256 + 1
    for band in spec["bands"]:  # the runs cover every window once
        covered = sum(round((e - s) / 2.56) for s, e, _ in band["runs"])
        assert covered == n_windows
    assert "predicted = true label in" in spec["subtitle"]
    _run_viewer(out, tmp_path)
    png = plots.plot_recording(rec, tmp_path / "long.png", model=model)
    _check_png(png)


def test_plot_recording_from_csv_with_gap(tmp_path):
    t = np.concatenate([np.arange(0, 30, 0.01), np.arange(40, 70, 0.01)])
    rng = np.random.default_rng(2)
    xyz = 0.3 * rng.standard_normal((len(t), 3)) + [0, 0, 1]
    csv = tmp_path / "watch.csv"
    lines = ["time,x,y,z"] + [
        f"{a:.2f},{b:.4f},{c:.4f},{d:.4f}" for a, (b, c, d) in zip(t, xyz, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    out = plots.plot_recording(csv, tmp_path / "watch.html")
    spec = _spec(out)
    assert len(spec["gaps"]) == 1 and spec["gaps"][0][1] - spec["gaps"][0][0] > 9
    assert spec["bands"] == [] and "1 gap (grey)" in spec["subtitle"]
    _check_png(plots.plot_recording(str(csv), tmp_path / "watch.png"))


def test_block_store_bounded_and_exact():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 256, 3)).astype(np.float32)
    x[17, 100, 0] = 9.0
    store = _BlockStore(cap=1000)
    for i in range(0, 40, 8):  # batches of 8 windows, contiguous in time
        store.add(np.arange(i, i + 8) * 2.56, x[i : i + 8])
    t, lo, hi = store.arrays()
    assert len(t) <= 1000 and store.sub == 16  # 40 * 256 / 16 = 640 blocks
    flat = x.reshape(-1, 3)
    assert np.array_equal(hi[:, :3], flat.reshape(-1, 16, 3).max(axis=1))
    assert np.array_equal(lo[:, :3], flat.reshape(-1, 16, 3).min(axis=1))
    assert hi[:, 0].max() == 9.0 and np.allclose(t[1] - t[0], 0.16)


def test_plot_recording_bad_inputs(tmp_path):
    rec = _recording(10)
    with pytest.raises(FileNotFoundError):
        plots.plot_recording(tmp_path / "missing.csv", tmp_path / "a.png")
    with pytest.raises(TypeError, match="Recording"):
        plots.plot_recording(np.zeros((100, 3)), tmp_path / "a.png")
    bad = Recording(**{**rec.__dict__, "x": rec.x[:, :2]})
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        plots.plot_recording(bad, tmp_path / "a.png")
    nan = Recording(**{**rec.__dict__, "x": rec.x.copy()})
    nan.x[5, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        plots.plot_recording(nan, tmp_path / "a.png")
    with pytest.raises(ValueError, match="unsupported picture format"):
        plots.plot_recording(rec, tmp_path / "a.jpg")
    with pytest.raises(TypeError, match="FinetunedModel"):
        plots.plot_recording(rec, tmp_path / "a.png", model=123)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# embedding map
# ----------------------------------------------------------------------------------------------


def _embeddings(n: int = 90, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.standard_normal((3, d)) * 4
    emb = centres[labels] + rng.standard_normal((n, d))
    users = np.array([f"wisdm_watch:{1600 + i % 5}" for i in range(n)])
    return emb.astype(np.float32), labels, users


def test_plot_embedding_map_tsne_png(tmp_path):
    emb, labels, users = _embeddings(60)
    out = plots.plot_embedding_map(
        emb, labels, users, out=tmp_path / "map.png", label_names=("walk", "sit", "run")
    )
    _check_png(out)


def test_plot_embedding_map_html_subsample_and_groups(tmp_path):
    emb, labels, users = _embeddings(300)
    kw = dict(out=tmp_path / "map.html", projection="pca", color_by="user", max_points=50, seed=3)
    spec = _spec(plots.plot_embedding_map(emb, labels, users, **kw))
    assert spec["kind"] == "scatter" and len(spec["points"]["x"]) == 50
    assert "50 of 300 windows" in spec["subtitle"] and "seed 3" in spec["subtitle"]
    assert [g["name"] for g in spec["groups"]] == ["1600", "1601", "1602", "1603", "1604"]
    assert sum(g["count"] for g in spec["groups"]) == 50
    idx = np.array(spec["points"]["index"])
    assert len(set(idx.tolist())) == 50 and idx.max() < 300
    tip = spec["points"]["tip"][0]
    assert f"label: {labels[idx[0]]}" in tip and "user: 16" in tip
    # the same seed picks the same windows
    again = _spec(plots.plot_embedding_map(emb, labels, users, **kw))
    assert sorted(again["points"]["index"]) == sorted(idx.tolist())
    _run_viewer(tmp_path / "map.html", tmp_path)
    # many users: the largest keep a colour, the rest are "other"
    many = (np.arange(300) % 25).astype(str)
    spec = _spec(
        plots.plot_embedding_map(
            emb, many, many, out=tmp_path / "m2.html", projection="pca", max_groups=5
        )
    )
    names = [g["name"] for g in spec["groups"]]
    assert len(names) == 5 and names[-1] == "other (21 classes)"
    assert spec["groups"][-1]["color"] == plots.UNLABELLED_COLOR


def _lab_distance(colors: list[str]) -> float:
    """Smallest CIELAB distance between two of ``colors``."""
    from matplotlib.colors import to_rgb

    from relcon.apps.plots.common import _lab

    lab = _lab(np.array([to_rgb(c) for c in colors]))
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2)
    return float(d[np.triu_indices(len(colors), 1)].min())


def test_plot_embedding_map_many_equal_users(tmp_path, monkeypatch):
    # issue 15: 46 users of 60 windows each got 19 colours and 27 "smallest" users in grey, with
    # a 20-entry legend
    rng = np.random.default_rng(5)
    users = np.repeat([f"wisdm_watch:{1600 + u}" for u in range(46)], 6)
    emb = rng.standard_normal((len(users), 8)) + np.repeat(rng.standard_normal((46, 8)) * 3, 6, 0)
    kept = _figure(monkeypatch)
    plots.plot_embedding_map(
        emb, None, users, out=tmp_path / "u.png", projection="pca", color_by="user"
    )
    fig = kept["fig"]
    colors = {tuple(c) for c in fig.axes[0].collections[0].get_facecolors().round(4)}
    assert len(colors) == 46  # one colour each, no grey "other"
    assert fig.axes[0].get_legend() is None
    assert "46 users, one colour each" in fig._suptitle.get_text()
    assert _lab_distance(plots.class_palette(46)) > 15  # perceptually apart
    assert plots.class_palette(46)[:9] == plots.class_palette(9)
    # few groups keep their legend
    plots.plot_embedding_map(
        emb[:60], None, users[:60], out=tmp_path / "f.png", projection="pca", color_by="user"
    )
    legend = kept["fig"].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [f"{1600 + u} (6)" for u in range(10)]


def test_tsne_shows_progress(tmp_path, capsys):
    emb, labels, _ = _embeddings(60)
    plots.plot_embedding_map(emb, labels, out=tmp_path / "t.png", progress=True)
    err = capsys.readouterr()
    assert ("t-SNE" in err.err and "it/s" in err.err) or "s/it" in err.err
    assert "[t-SNE]" not in err.out  # scikit-learn's log is turned into the bar


def _embed_table(path: Path, n: int = 60, labels: bool = False) -> Path:
    """A table like the one ``relcon embed`` writes (Parquet or CSV, from the suffix)."""
    import pandas as pd

    emb, lab, _ = _embeddings(n)
    df = pd.DataFrame({"recording": np.where(np.arange(n) < n // 2, "wrist_a", "wrist_b"),
                       "window": np.arange(n), "start_s": np.arange(n) * 2.56})  # fmt: skip
    for j in range(emb.shape[1]):
        df[f"e{j:03d}"] = emb[:, j]
    if labels:
        df["label"] = np.array(["walk", "sit", "run"])[lab]
    if path.suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, index=False)
    return path


def test_plot_command_map_reads_embed_output_and_explains_other_files(tmp_path, monkeypatch):
    # issue 15: `plot map` took only a task .npz and gave numpy's pickle error for a CSV
    kept = _figure(monkeypatch)
    table = _embed_table(tmp_path / "emb.parquet")
    cfg = plots.PlotConfig(what="map", input=str(table), out=str(tmp_path / "m.png"),
                           projection="pca", no_progress=True)  # fmt: skip
    assert plots.plot_command(cfg) == tmp_path / "m.png"
    fig = kept["fig"]
    assert "coloured by recording" in fig._suptitle.get_text()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "wrist_a (30)",
        "wrist_b (30)",
    ]
    csv = _embed_table(tmp_path / "emb.csv", labels=True)
    cfg.input, cfg.html = str(csv), True
    spec = _spec(plots.plot_command(cfg))
    assert {g["name"] for g in spec["groups"]} == {"walk", "sit", "run"}
    assert "recording: wrist_a" in " ".join(spec["points"]["tip"])
    raw = tmp_path / "raw.csv"
    raw.write_text("time,x,y,z\n0,0,0,1\n0.01,0,0,1\n")
    cfg.input = str(raw)
    with pytest.raises(ValueError, match=r"raw recording: run `relcon embed .*raw.csv"):
        plots.plot_command(cfg)
    renamed = tmp_path / "raw.npz"
    renamed.write_text(raw.read_text())
    cfg.input = str(renamed)
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        plots.plot_command(cfg)
    cfg.input = str(tmp_path / "notes.txt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"task file .* or the embeddings written by"):
        plots.plot_command(cfg)
    cfg.what, cfg.input = "distance", str(table)
    with pytest.raises(ValueError, match="needs the windows themselves"):
        plots.plot_command(cfg)


def test_plot_config_has_one_field_per_plot_option():
    import argparse

    from relcon.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    plot = sub.choices["plot"]
    generic = {"help", "config", "set", "print_config"}  # flags every command may share
    options = {a.dest.removeprefix("cfg:") for a in plot._actions} - generic
    options = {o for o in options if not o.startswith("renamed:")}  # old spellings, refused
    assert options == set(plots.PlotConfig.__dataclass_fields__)


def test_demo_figure_caption_legend_and_sign():
    from relcon.apps.demo import results_figure

    rows = [
        {"method": m, "task": "wisdm_har6", "metric": k, "mean": v, "std": 0.05, "n": 5}
        for m, v in (("RelCon", 0.74), ("Random init", 0.73), ("Hand-crafted", 0.78))
        for k in ("macro_f1", "kappa")
    ]
    fig = results_figure(rows, held_out_users=20)
    ax = fig.axes[0]
    title = ax.get_title()
    assert "±" in title and "+-" not in title
    assert "5 subject-wise folds" in title and "20 held-out users" in title
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the axes, off the bars
    assert sorted(t.get_text() for t in ax.texts) == ["0.73"] * 2 + ["0.74"] * 2 + ["0.78"] * 2


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((10, 4, 2)),), {}, "2-D"),
        ((np.zeros((2, 4)),), {}, "at least 3 rows"),
        ((np.ones((10, 4)), np.zeros(9, int)), {}, r"labels must be .* \(10\)"),
        ((np.ones((10, 4)), np.zeros(10, int), ["u"] * 11), {}, r"users must be .* \(10\)"),
        ((np.ones((10, 4)),), {}, "needs labels"),
        ((np.ones((10, 4)), np.zeros(10, int)), {"color_by": "user"}, "needs users"),
        ((np.ones((10, 4)), np.zeros(10, int)), {"projection": "mds"}, "unknown projection 'mds'"),
        ((np.ones((10, 4)), np.zeros(10, int)), {"color_by": "age"}, "unknown color_by 'age'"),
        ((np.full((10, 4), np.nan), np.zeros(10, int)), {}, "non-finite"),
        ((np.ones((10, 4)), np.full(10, 5)), {"label_names": ["a", "b"]}, "code 5 has no name"),
    ],
)
def test_plot_embedding_map_bad_inputs(tmp_path, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_embedding_map(*args, out=tmp_path / "m.png", **kwargs)
    assert not (tmp_path / "m.png").exists()


def test_plot_embedding_map_umap_missing(tmp_path):
    pytest.importorskip("sklearn")
    try:
        import umap  # noqa: F401
    except ImportError:
        emb, labels, _ = _embeddings(20)
        with pytest.raises(ImportError, match="umap-learn"):
            plots.plot_embedding_map(emb, labels, out=tmp_path / "u.png", projection="umap")
    else:
        pytest.skip("umap-learn is installed")


# ----------------------------------------------------------------------------------------------
# distance ranking
# ----------------------------------------------------------------------------------------------


def _windows(c: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 100
    base = np.stack([np.sin(2 * np.pi * 1.7 * t), np.cos(2 * np.pi * 1.7 * t), np.ones(256)], 1)
    anchor = base + 0.05 * rng.standard_normal((256, 3))
    noise = np.linspace(0.02, 1.5, c)[:, None, None] * rng.standard_normal((c, 256, 3))
    return anchor.astype(np.float32), (base[None] + noise).astype(np.float32)


def test_plot_distance_ranking_png_and_html(tmp_path):
    torch.manual_seed(0)
    dist = MotifDistance(channels=8, bottleneck=2, kernel_size=5).train()
    anchor, cands = _windows(12)
    labels = ["walking"] * 6 + ["sitting"] * 6
    out = plots.plot_distance_ranking(
        dist, anchor, cands, tmp_path / "rank.png", top=4, farthest=2, labels=labels,
        anchor_label="walking", note="random-init distance",
    )  # fmt: skip
    _check_png(out, min_w=1200)
    assert dist.training  # the mode is restored
    spec = _spec(
        plots.plot_distance_ranking(
            dist, anchor, cands, tmp_path / "rank.png", top=4, farthest=2, labels=labels,
            anchor_label="walking", html=True,
        )
    )  # fmt: skip
    d = plots.ranked_distances(dist, anchor, cands)
    ranking = spec["ranking"]
    assert [r["index"] for r in ranking] == np.argsort(d, kind="stable").tolist()
    assert [r["rank"] for r in ranking] == list(range(1, 13))
    assert np.allclose([r["distance"] for r in ranking], np.sort(d), rtol=1e-5)
    panels = spec["panels"]
    assert len(panels) == 1 + 4 + 2 and panels[0]["anchor"]
    assert [p["rank"] for p in panels[1:]] == [1, 2, 3, 4, 11, 12]
    assert all(len(ln["y"]) == 256 for p in panels for ln in p["lines"])
    assert panels[1]["label"] == labels[ranking[0]["index"]]
    # issue 15: the HTML said neither which colour is which axis nor the units
    assert [(a["name"], a["color"]) for a in spec["legend"]] == [
        (k, plots.AXIS_COLORS[k]) for k in ("x", "y", "z")
    ]
    assert "g" in spec["units"].split() and "s" in spec["units"].split()
    page = (tmp_path / "rank.html").read_text()
    assert "S.legend" in page and "S.units" in page  # the viewer draws them
    _run_viewer(tmp_path / "rank.html", tmp_path)


@pytest.mark.parametrize(
    ("anchor", "cands", "kwargs", "match"),
    [
        (np.zeros(256), np.zeros((3, 256, 3)), {}, r"anchor must be a \(T, 3\)"),
        (np.zeros((256, 3)), np.zeros((3, 256, 2)), {}, r"candidates must be \(C, 256, 3\)"),
        (np.zeros((256, 3)), np.zeros((3, 128, 3)), {}, r"candidates must be \(C, 256, 3\)"),
        (np.zeros((256, 3)), np.zeros((256, 3)), {}, "candidates must be"),
        (np.zeros((256, 3)), np.zeros((3, 256, 3)), {"labels": ["a", "b"]}, "one entry per"),
        (np.zeros((256, 3)), np.zeros((3, 256, 3)), {"top": 0}, "top must be"),
        (np.zeros((256, 3)), np.zeros((3, 256, 3)), {"farthest": -1}, "farthest must be"),
        (np.full((256, 3), np.inf), np.zeros((3, 256, 3)), {}, "non-finite"),
    ],
)
def test_plot_distance_ranking_bad_inputs(tmp_path, anchor, cands, kwargs, match):
    dist = MotifDistance(channels=8, bottleneck=2, kernel_size=5)
    with pytest.raises(ValueError, match=match):
        plots.plot_distance_ranking(dist, anchor, cands, tmp_path / "r.png", **kwargs)


def test_plot_distance_ranking_wrong_distance_type(tmp_path):
    anchor, cands = _windows(3)
    with pytest.raises(TypeError, match="MotifDistance"):
        plots.plot_distance_ranking(object(), anchor, cands, tmp_path / "r.png")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        plots.plot_distance_ranking(tmp_path / "nowhere", anchor, cands, tmp_path / "r.png")


# ----------------------------------------------------------------------------------------------
# helpers used by the CLI and the gallery
# ----------------------------------------------------------------------------------------------


def test_sample_indices_rule():
    assert np.array_equal(plots.sample_indices(7, 10), np.arange(7))
    idx = plots.sample_indices(1000, 50, seed=4)
    assert len(idx) == 50 and len(set(idx.tolist())) == 50 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, plots.sample_indices(1000, 50, seed=4))
    assert not np.array_equal(idx, plots.sample_indices(1000, 50, seed=5))


def test_ranking_windows_same_user_and_classes():
    labels = np.array([0, 1, 2] * 20 + [0, 1] * 10)
    users = np.array(["d:1"] * 60 + ["d:2"] * 20)
    anchor, cand = plots.ranking_windows(labels, users, user="1", anchor_label=2, per_label=4)
    assert labels[anchor] == 2 and users[anchor] == "d:1" and anchor not in cand
    assert np.all(users[cand] == "d:1") and np.bincount(labels[cand]).tolist() == [4, 4, 4]
    again = plots.ranking_windows(labels, users, user="1", anchor_label=2, per_label=4)
    assert again[0] == anchor and np.array_equal(again[1], cand)
    a2, c2 = plots.ranking_windows(np.full(80, -1), users, per_label=2)
    assert len(c2) == 12 and np.all(users[c2] == users[a2])
    with pytest.raises(ValueError, match="not found"):
        plots.ranking_windows(labels, users, user="9")
    with pytest.raises(ValueError, match="class 2 of user"):
        plots.ranking_windows(labels, users, user="2", anchor_label=2)
