"""Checkpoints: atomic layout, loading, and clear errors on the wrong file."""

import json

import numpy as np
import pytest
import torch

from conftest import TINY_ENCODER
from relcon.models.checkpoint import latest_checkpoint, load_model, save_checkpoint, save_model
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    save_model(tmp_path, enc, "encoder", step=3, extra={"train_users": ["a"]})
    loaded, meta = load_model(tmp_path, kind="encoder")
    assert meta["step"] == 3 and meta["train_users"] == ["a"] and "torch" in meta["environment"]
    x = np.random.default_rng(0).normal(size=(4, 256, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.embed(x), enc.embed(x), rtol=1e-6)


def test_checkpoint_rotation_and_latest(tmp_path):
    enc = ResNet1DEncoder(TINY_ENCODER)
    opt = torch.optim.AdamW(enc.parameters())
    for step in (1, 2, 3):
        save_checkpoint(
            tmp_path,
            enc,
            "encoder",
            step=step,
            trainer_state={"optimizer": opt.state_dict()},
            keep=2,
        )
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))
    assert names == ["step-00000002", "step-00000003"]
    assert latest_checkpoint(tmp_path).name == "step-00000003"
    assert load_model(tmp_path, kind="encoder")[1]["step"] == 3  # no final model yet: uses LATEST


def test_wrong_kind_wrong_architecture_and_corrupt_files(tmp_path):
    save_model(tmp_path / "d", MotifDistance(channels=16, bottleneck=4), "distance", step=0)
    with pytest.raises(ValueError, match="expected 'encoder'"):
        load_model(tmp_path / "d", kind="encoder")
    save_model(tmp_path / "e", ResNet1DEncoder(TINY_ENCODER), "encoder", step=0)
    meta = json.loads((tmp_path / "e/model.json").read_text())
    meta["architecture"]["stage_filters"] = [8, 32]
    (tmp_path / "e/model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not fit"):
        load_model(tmp_path / "e")
    weights = tmp_path / "e/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "e")
    with pytest.raises(FileNotFoundError, match="run folder"):
        load_model(tmp_path)
