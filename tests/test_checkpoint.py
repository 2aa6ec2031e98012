"""Checkpoints: atomic layout, loading, and clear errors on the wrong file."""

import json
import re

import numpy as np
import pytest
import torch

from conftest import TINY_ENCODER
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import latest_checkpoint, load_model, save_model
from relcon.train.checkpoint import (
    load_trainer_state,
    restore_run,
    save_checkpoint,
    trainer_state,
)


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


class _Payload:
    """Unpickling this object writes a marker file: code that runs on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run_with_checkpoint(tmp_path):
    enc = ResNet1DEncoder(TINY_ENCODER)
    opt = torch.optim.AdamW(enc.parameters())
    enc(torch.randn(2, 256, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "run", enc, "encoder", step=4,
                    trainer_state=trainer_state(opt, epoch=1, next_batch=2))  # fmt: skip
    return tmp_path / "run", enc, opt


def test_trainer_state_loads_without_unpickling_objects(tmp_path):
    """What relcon writes in trainer.pt loads with weights_only=True, and resuming restores it."""
    run, _, opt = _run_with_checkpoint(tmp_path)
    ckpt = latest_checkpoint(run)
    state = torch.load(ckpt / "trainer.pt", weights_only=True)  # no pickled objects inside
    assert state["step"] == 4 and state["torch_rng"].dtype == torch.uint8
    fresh = ResNet1DEncoder(TINY_ENCODER)
    fresh_opt = torch.optim.AdamW(fresh.parameters())
    assert restore_run(run, fresh, fresh_opt, "encoder") == (4, 1, 2)
    assert fresh_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_pickled_trainer_state_is_refused_and_never_run(tmp_path):
    """A trainer.pt from someone else cannot run code on --resume: refused, naming the file."""
    run, _, opt = _run_with_checkpoint(tmp_path)
    marker = tmp_path / "code-ran"
    bad = latest_checkpoint(run) / "trainer.pt"
    torch.save({"step": 4, "optimizer": opt.state_dict(), "x": _Payload(marker)}, bad)
    with pytest.raises(ValueError, match=r"trainer\.pt: refused to load.*pickled Python objects"):
        load_trainer_state(bad.parent)
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        restore_run(run, ResNet1DEncoder(TINY_ENCODER), opt, "encoder")
    assert not marker.exists()
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        load_trainer_state(bad.parent)


def test_weights_and_task_files_never_unpickle(tmp_path):
    """Weights are safetensors and task files are read with allow_pickle=False: a pickled
    payload in either is an error, and its code never runs."""
    import relcon
    from relcon.data.tasks import load_task

    marker = tmp_path / "code-ran"
    save_model(tmp_path / "m", ResNet1DEncoder(TINY_ENCODER), "encoder", step=0)
    torch.save({"w": _Payload(marker)}, tmp_path / "m" / "model.safetensors")
    with pytest.raises(ValueError, match="corrupt or unreadable safetensors"):
        relcon.load(tmp_path / "m")
    task = tmp_path / "task.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.savez(task, X=payload, y=np.zeros(1), groups=np.array(["a"]), fs=100.0)
    with pytest.raises(ValueError, match=r"allow_pickle=False|pickle"):
        load_task(task)
    assert not marker.exists()
