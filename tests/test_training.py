"""Training loops: they learn, they log, and a killed run resumes exactly where it stopped."""

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon.train.distance as distance_mod
import relcon.train.relcon as pretrain_mod
from conftest import TINY_DISTANCE, TINY_ENCODER
from relcon.config import DistanceTrainConfig, EncoderConfig, PretrainConfig
from relcon.models.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def segs(demo_segments):
    s = demo_segments
    users = np.unique(s.user)[:6]
    keep = np.flatnonzero(np.isin(s.user, users))[::4]  # a quarter of 6 users' windows
    return s.subset(keep)


def _dist_cfg(steps=6):
    return DistanceTrainConfig(
        model=TINY_DISTANCE, steps=steps, batch_size=8, log_every=1, ckpt_every=3, warmup_steps=2
    )


def _pre_cfg(distance, steps=6):
    return PretrainConfig(
        distance=str(distance), encoder=TINY_ENCODER, steps=steps, batch_size=4, within_user=3,
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


def test_bf16_scoring_keeps_the_ranking_and_the_loss():
    """On a CPU with native bf16, ``amp`` scores candidates in bf16: the distances move by well
    under 1 %, so the loss (which only uses their order) barely changes."""
    from relcon.models.distance import MotifDistance
    from relcon.models.encoder import ResNet1DEncoder

    torch.manual_seed(0)
    b, k = 6, 4
    t = torch.linspace(0, 2.56, 256)
    freq = torch.rand(b + b * k, 1, 1) * 2 + 0.5
    pool = torch.sin(2 * torch.pi * freq * t[None, :, None] + torch.rand(b + b * k, 1, 3) * 6)
    pool = 0.3 * pool + torch.tensor([0.0, 0.0, 1.0])
    cand = pretrain_mod.candidate_index(b, k, b - 1)
    distance = MotifDistance(channels=16, bottleneck=4).eval()
    encoder = ResNet1DEncoder(
        EncoderConfig(
            stage_blocks=(1, 1), stage_filters=(8, 16), stage_kernels=(3, 3), stem_filters=8
        )
    )
    with torch.no_grad():
        d32 = distance.score(pool[:b], pool, cand)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            d16 = distance.score(pool[:b], pool, cand).float()
    assert ((d16 - d32).abs() / d32).max() < 0.02
    loss32 = pretrain_mod.relcon_loss(encoder, distance, pool, cand, 0.1)
    loss16 = pretrain_mod.relcon_loss(encoder, distance, pool, cand, 0.1, None, torch.bfloat16)
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert abs(loss16.item() - loss32.item()) < 0.02 * abs(loss32.item())
    dev = torch.device("cpu")
    assert pretrain_mod.scoring_dtype(dev, amp=False) is None
    expect = torch.bfloat16 if pretrain_mod.cpu_has_bf16() else None
    assert pretrain_mod.scoring_dtype(dev, amp=True) is expect


def test_time_limit_stops_and_saves_and_oracle_teacher_trains(tmp_path, segs):
    dist = distance_mod.train_distance(
        _dist_cfg(steps=2), tmp_path / "d", segments=segs, progress=False
    )
    # max_seconds = 0: the limit is checked before every step, so nothing is trained
    stopped = pretrain_mod.pretrain(
        PretrainConfig(**{**_pre_cfg(dist).__dict__, "max_seconds": 0.0}),
        tmp_path / "stopped", segments=segs, progress=False,
    )  # fmt: skip
    assert json.loads((stopped / "model.json").read_text())["step"] == 0
    oracle = pretrain_mod.pretrain(
        PretrainConfig(**{**_pre_cfg(dist, steps=3).__dict__, "teacher": "oracle"}),
        tmp_path / "oracle", segments=segs, progress=False,
    )  # fmt: skip
    assert json.loads((oracle / "model.json").read_text())["step"] == 3
    unlabelled = segs.subset(np.arange(len(segs)))
    unlabelled.label[:] = -1
    with pytest.raises(ValueError, match="no window is labelled"):
        pretrain_mod.pretrain(
            PretrainConfig(**{**_pre_cfg(dist).__dict__, "teacher": "oracle"}),
            tmp_path / "none", segments=unlabelled, progress=False,
        )  # fmt: skip
    with pytest.raises(ValueError, match="teacher must be one of"):
        pretrain_mod.pretrain(
            PretrainConfig(**{**_pre_cfg(dist).__dict__, "teacher": "labels"}),
            tmp_path / "bad", segments=segs, progress=False,
        )  # fmt: skip
