"""Training loops: they learn, they log, and a killed run resumes exactly where it stopped."""

import csv

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon.pretrain as pretrain_mod
import relcon.train_distance as distance_mod
from relcon.checkpoint import save_checkpoint
from relcon.config import DataConfig, DistanceTrainConfig, EncoderConfig, PretrainConfig
from relcon.data.datasets import load_segments
from relcon.models.distance import MotifDistanceConfig

TINY_DIST = MotifDistanceConfig(channels=16, bottleneck=4, n_layers=1)
TINY_ENC = EncoderConfig(
    stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
)


@pytest.fixture(scope="module")
def segs():
    s = load_segments(DataConfig(source="demo"))
    users = np.unique(s.user)[:6]
    keep = np.flatnonzero(np.isin(s.user, users))[::4]  # a quarter of 6 users' windows
    return s.subset(keep)


def _dist_cfg(steps=6):
    return DistanceTrainConfig(
        model=TINY_DIST, steps=steps, batch_size=8, log_every=1, ckpt_every=3, warmup_steps=2
    )


def _pre_cfg(distance, steps=6):
    return PretrainConfig(
        distance=str(distance), encoder=TINY_ENC, steps=steps, batch_size=4, within_user=3,
        log_every=1, ckpt_every=3, warmup_steps=2,
    )  # fmt: skip


def _kill_after(monkeypatch, module, at_step):
    real = module.save_checkpoint

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        if kwargs["step"] == at_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_checkpoint", save_then_die)


def _weights(run):
    return load_file(str(run / "model.safetensors"))


def test_distance_training_resumes_exactly(tmp_path, segs, monkeypatch):
    straight = distance_mod.train_distance(
        _dist_cfg(), tmp_path / "a", segments=segs, progress=False
    )
    _kill_after(monkeypatch, distance_mod, 3)
    with pytest.raises(KeyboardInterrupt):
        distance_mod.train_distance(_dist_cfg(), tmp_path / "b", segments=segs, progress=False)
    assert not (tmp_path / "b/model.safetensors").exists()
    monkeypatch.setattr(distance_mod, "save_checkpoint", save_checkpoint)
    with pytest.raises(FileExistsError, match="--resume"):
        distance_mod.train_distance(_dist_cfg(), tmp_path / "b", segments=segs, progress=False)
    resumed = distance_mod.train_distance(
        _dist_cfg(), tmp_path / "b", resume=True, segments=segs, progress=False
    )
    wa, wb = _weights(straight), _weights(resumed)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    with (tmp_path / "b/metrics.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [1, 2, 3, 4, 5, 6]  # no step logged twice after the resume


def test_pretraining_resumes_exactly_and_records_users(tmp_path, segs, monkeypatch):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    straight = pretrain_mod.pretrain(_pre_cfg(dist), tmp_path / "a", segments=segs, progress=False)
    _kill_after(monkeypatch, pretrain_mod, 3)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(_pre_cfg(dist), tmp_path / "b", segments=segs, progress=False)
    monkeypatch.setattr(pretrain_mod, "save_checkpoint", save_checkpoint)
    resumed = pretrain_mod.pretrain(
        _pre_cfg(dist), tmp_path / "b", resume=True, segments=segs, progress=False
    )
    wa, wb = _weights(straight), _weights(resumed)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    import json

    meta = json.loads((resumed / "model.json").read_text())
    assert meta["train_users"] == sorted(set(segs.user))
    assert meta["config"]["steps"] == 6 and meta["kind"] == "encoder"
    assert (resumed / "config.toml").is_file() and any((resumed / "tb").iterdir())


def test_pretraining_loss_goes_down(tmp_path, segs):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    cfg = _pre_cfg(dist, steps=30)
    cfg.lr, cfg.ckpt_every = 3e-3, 100
    run = pretrain_mod.pretrain(cfg, tmp_path / "p", segments=segs, progress=False)
    with (run / "metrics.csv").open() as f:
        loss = np.array([float(r["loss"]) for r in csv.DictReader(f)])
    assert loss[-10:].mean() < loss[:5].mean()
