"""The pretrained model shipped inside the package: loading, its manifest, bad files, embedding."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import relcon
from relcon.cli import main
from relcon.data.datasets import load_demo
from relcon.data.datasets.heldout import HELD_OUT_SUBJECTS
from relcon.data.windowing import window_recordings
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import load_model, shipped_path

MODEL = shipped_path("default", "encoder").parent


def test_default_model_loads_in_eval_mode():
    enc = relcon.load()
    assert isinstance(enc, ResNet1DEncoder) and not enc.training
    assert all(p.dtype == torch.float32 for p in enc.parameters())
    dist = relcon.load(kind="distance")
    assert isinstance(dist, MotifDistance) and not dist.training
    same = relcon.load("default")
    for a, b in zip(enc.state_dict().values(), same.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="kind must be"):
        relcon.load(kind="head")


def test_manifest_and_held_out_subjects():
    manifest = json.loads((MODEL / "manifest.json").read_text())
    meta = json.loads((MODEL / "encoder" / "model.json").read_text())
    held_out = {s for subjects in HELD_OUT_SUBJECTS.values() for s in subjects}
    train_users = set(meta["train_users"])
    assert train_users and not (train_users & held_out)
    assert manifest["relcon_version"] and manifest["training_command"]
    rows = manifest["pretraining_data"]
    assert sum(r["users"] for r in rows) == len(train_users)
    assert all(r["segments"] > 0 and r["licence"] for r in rows)
    n = sum(t.numel() for t in relcon.load().parameters())
    assert manifest["encoder_parameters"] == n
    # float16 on disk: two bytes per parameter plus buffers and the header
    size = (MODEL / "encoder" / "model.safetensors").stat().st_size
    assert manifest["weights_dtype"] == "float16" and size < 2.2 * n + 64_000


def test_default_model_embeds_real_windows_sensibly():
    """Windows of one activity sit closer together than windows of different activities."""
    segs = window_recordings([r for r in load_demo() if r.user.endswith(("1600", "1605"))])
    enc = relcon.load()
    keep = segs.label >= 0
    z = enc.embed(segs.x[keep])
    y = segs.label[keep]
    assert z.shape == (int(keep.sum()), enc.config.stage_filters[-1]) and np.isfinite(z).all()
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = zn @ zn.T
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    assert sim[same & off].mean() > sim[~same].mean() + 0.05


def test_wrong_architecture_and_corrupt_weights(tmp_path):
    bad = tmp_path / "wrong"
    shutil.copytree(MODEL / "encoder", bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["architecture"]["stage_filters"] = [16, 32, 64]
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not fit the encoder architecture"):
        relcon.load(bad)

    corrupt = tmp_path / "corrupt"
    shutil.copytree(MODEL / "encoder", corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or unreadable"):
        relcon.load(corrupt)
    with pytest.raises(ValueError, match="holds a 'distance' model"):
        load_model(MODEL / "distance", kind="encoder")


def test_embed_cli_uses_shipped_model(tmp_path):
    recs = [r for r in load_demo() if r.user.endswith("1600")][:1]
    x = recs[0].x[:3000]
    csv = tmp_path / "rec.csv"
    t = 1_700_000_000 + np.arange(len(x)) / 100.0
    pd.DataFrame({"time": t, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2]}).to_csv(csv, index=False)
    out = tmp_path / "emb.parquet"
    assert main(["embed", str(csv), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    df = pd.read_parquet(out)
    emb = df.filter(regex=r"^e\d+$").to_numpy()
    assert len(df) == 3000 // 256 and df.start_time.notna().all()
    np.testing.assert_allclose(emb[0], relcon.load().embed(x[None, :256])[0], rtol=1e-4, atol=1e-5)
