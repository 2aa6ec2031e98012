"""Continued pretraining (``init``): a run starts from a saved model's weights, not random ones.

For the distance (``relcon train-distance --init``) and the encoder (``relcon pretrain --init``,
every method): no steps (or a zero learning rate) give back the saved weights bit for bit; one step
is the step function applied to the saved weights (a loop written out by hand); another
architecture is refused naming both; ``model.json`` records the model started from (and the
SHA-256 of its weights) and the data seen; ``--resume`` continues from the checkpoint, never from
``init`` again; the shipped small model continues on the demo data from the command line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon
import relcon.train.relcon as pretrain_mod
from conftest import TINY_DISTANCE, TINY_ENCODER, kill_after
from relcon.cli import main
from relcon.config import (
    DistanceTrainConfig,
    EncoderConfig,
    MotifDistanceConfig,
    PretrainConfig,
    load_config,
)
from relcon.data.loader import candidate_batches, shuffled_batches
from relcon.data.sampling import CandidateSampler
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import locate, read_description, save_model
from relcon.train.checkpoint import save_checkpoint
from relcon.train.common import StepContext, cosine_lr, seed_everything, set_lr
from relcon.train.distance import train_distance
from relcon.train.methods import METHODS
from relcon.train.steps import CandidatePool, EncoderWithHead, distance_step

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def segs(demo_segments):
    users = np.unique(demo_segments.user)[:4]
    keep = np.flatnonzero(np.isin(demo_segments.user, users))[::6]
    return demo_segments.subset(keep)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny encoder and a tiny distance with fixed weights, saved as a training run would."""
    folder = tmp_path_factory.mktemp("saved")
    torch.manual_seed(1)
    save_model(folder / "encoder", ResNet1DEncoder(TINY_ENCODER), "encoder", step=7)
    save_model(folder / "distance", MotifDistance.from_config(TINY_DISTANCE), "distance", step=5)
    return folder


def _pre_cfg(init, distance, method="relcon", **kw):
    """An encoder left at its default: the run takes the saved model's (``init``)."""
    settings = dict(
        steps=1, batch_size=4, within_user=3, warmup_steps=0, log_every=1, compile=False,
        precision="fp32",
    )  # fmt: skip
    return PretrainConfig(init=str(init), distance=str(distance), method=method, **settings | kw)


def _dist_cfg(init, **kw):
    settings = dict(
        steps=1, batch_size=8, warmup_steps=0, log_every=1, compile=False, precision="fp32"
    )
    return DistanceTrainConfig(init=str(init), **settings | kw)


def _run_weights(run):
    return load_file(str(run / "model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].dtype)) for k in a)


def _params(model) -> set[str]:
    return {k for k, _ in model.named_parameters()}


# ---- (a) no step: the saved weights come out unchanged, bit for bit ---------------------------
# (steps and lr must be positive, so "no step" is a run out of time before its first step; the
# settings' rules refuse steps=0 and lr=0)
NO_STEP = {"max_seconds": 1e-9}


@pytest.mark.parametrize("method", list(METHODS))
def test_no_step_gives_back_the_saved_encoder(tmp_path, segs, saved, method):
    cfg = _pre_cfg(saved / "encoder", saved / "distance", method, **NO_STEP)
    run = pretrain_mod.pretrain(cfg, tmp_path / "e", segments=segs, progress=False)
    assert json.loads((run / "model.json").read_text())["step"] == 0
    assert _same(_run_weights(run), load_file(str(saved / "encoder/model.safetensors")))


def test_no_step_gives_back_the_saved_distance(tmp_path, segs, saved):
    run = train_distance(_dist_cfg(saved / "distance", **NO_STEP), tmp_path / "d", segments=segs)
    assert _same(_run_weights(run), load_file(str(saved / "distance/model.safetensors")))


# ---- (b) a step moves the weights from the saved ones: the step function, called by hand -------
def _by_hand_encoder(cfg: PretrainConfig, segs, init: str | None) -> dict:
    """The loop's first step written out: seed, build, start from ``init`` (None: random), step."""
    seed_everything(cfg.seed)
    spec = METHODS[cfg.method]
    sampler = CandidateSampler(
        segs.user, segs.time_block(cfg.data.block_seconds), batch_size=cfg.batch_size,
        within_user=cfg.within_user, seed=cfg.seed,
    )  # fmt: skip
    pool = CandidatePool(cfg.batch_size, cfg.within_user, cfg.between_user, torch.device("cpu"))
    distance = relcon.load(cfg.distance, kind="distance") if spec.needs_distance else None
    encoder = ResNet1DEncoder(cfg.encoder)
    head = None if spec.head is None else spec.head(encoder.embed_dim, cfg.projection_dim)
    trained = encoder if head is None else EncoderWithHead(encoder, head)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if init is not None:
        encoder.load_state_dict(relcon.load(init, kind="encoder").state_dict())
    ctx = StepContext(trained, list(trained.parameters()), optimizer, grad_clip=cfg.grad_clip)
    batches = candidate_batches(segs.x, sampler, 0, 0)
    trained.train()
    set_lr(optimizer, cosine_lr(0, cfg.steps, cfg.lr, cfg.warmup_steps))
    spec.step(ctx, batches, **spec.arguments({
        "pool": pool, "distance": distance, "window_labels": None, "seed": cfg.seed,
        "tau": cfg.tau, "n_augment": cfg.n_augment, "chunk_pairs": None, "score_dtype": None,
    }))  # fmt: skip
    return {k: v.detach().clone() for k, v in encoder.state_dict().items()}


def _close(a: dict, b: dict) -> bool:
    return all(torch.allclose(a[k].float(), b[k].float(), rtol=1e-5, atol=1e-7) for k in a)


@pytest.mark.parametrize("method", list(METHODS))
def test_one_step_moves_the_saved_encoder(tmp_path, segs, saved, method):
    cfg = _pre_cfg(saved / "encoder", saved / "distance", method, lr=1e-2)
    run = _run_weights(pretrain_mod.pretrain(cfg, tmp_path / "e", segments=segs, progress=False))
    cfg.encoder = TINY_ENCODER  # what the run took from the saved model
    from_init = _by_hand_encoder(cfg, segs, str(saved / "encoder"))
    from_random = _by_hand_encoder(cfg, segs, None)
    params = _params(relcon.load(saved / "encoder"))
    before = load_file(str(saved / "encoder/model.safetensors"))
    assert _close(run, from_init)  # the step function applied to the saved weights ...
    assert not _close({k: run[k] for k in params}, {k: from_random[k] for k in params})
    assert any(not torch.equal(run[k], before[k]) for k in params)  # ... which moved


def test_one_step_moves_the_saved_distance(tmp_path, segs, saved):
    cfg = _dist_cfg(saved / "distance", lr=1e-2)
    run = _run_weights(train_distance(cfg, tmp_path / "d", segments=segs, progress=False))
    seed_everything(cfg.seed)  # the loop written out: build, start from the saved weights, step
    model = MotifDistance.from_config(TINY_DISTANCE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model.load_state_dict(relcon.load(saved / "distance", kind="distance").state_dict())
    ctx = StepContext(model, list(model.parameters()), optimizer, grad_clip=cfg.grad_clip)
    model.train()
    set_lr(optimizer, cosine_lr(0, cfg.steps, cfg.lr, cfg.warmup_steps))
    distance_step(
        ctx, shuffled_batches(segs.x, cfg.batch_size, cfg.seed), seed=cfg.seed,
        n_augment=cfg.n_augment,
    )  # fmt: skip
    assert _close(run, model.state_dict())
    assert not _same(run, load_file(str(saved / "distance/model.safetensors")))


# ---- (c) another architecture is refused, naming both; the default one is the saved one --------
def test_another_architecture_is_refused_naming_both(tmp_path, segs, saved):
    other = EncoderConfig(
        stage_blocks=(1, 1), stage_filters=(8, 32), stage_kernels=(3, 3), stem_filters=8
    )
    cfg = _pre_cfg(saved / "encoder", saved / "distance", encoder=other)
    with pytest.raises(ValueError, match=r"stage_filters \(8, 16\) there, \(8, 32\) here"):
        pretrain_mod.pretrain(cfg, tmp_path / "e", segments=segs, progress=False)
    assert not (tmp_path / "e").exists()  # refused before anything is written
    cfg = _dist_cfg(saved / "distance", architecture=MotifDistanceConfig(channels=8, n_layers=1))
    with pytest.raises(ValueError, match=r"channels 16 there, 8 here"):
        train_distance(cfg, tmp_path / "d", segments=segs, progress=False)
    with pytest.raises(ValueError, match="expected 'encoder'"):  # a distance is no encoder
        pretrain_mod.pretrain(
            _pre_cfg(saved / "distance", saved / "distance"), tmp_path / "x", segments=segs
        )
    run = pretrain_mod.pretrain(  # the encoder left at its default: the saved one's
        _pre_cfg(saved / "encoder", saved / "distance", **NO_STEP), tmp_path / "ok",
        segments=segs, progress=False,
    )  # fmt: skip
    written = load_config(run / "config.toml", PretrainConfig)
    assert written.encoder == TINY_ENCODER and written.init == str(saved / "encoder")
    with pytest.raises(ValueError, match="inside the run folder"):  # --overwrite would delete it
        pretrain_mod.pretrain(
            _pre_cfg(run, saved / "distance"), run, overwrite=True, segments=segs, progress=False
        )


# ---- (d) the run records the model it started from and the data it saw; --resume ---------------
def test_the_run_records_its_init_and_resumes_from_its_checkpoint(
    tmp_path, segs, saved, monkeypatch
):
    import shutil

    init = tmp_path / "init"
    shutil.copytree(saved / "encoder", init)
    checksum = read_description(init)["safetensors_sha256"]
    cfg = _pre_cfg(init, saved / "distance", steps=4, ckpt_every=2)
    straight = pretrain_mod.pretrain(cfg, tmp_path / "a", segments=segs, progress=False)
    meta = json.loads((straight / "model.json").read_text())
    assert meta["init"] == {
        "model": str(init),
        "weights": str(locate(init)[0].resolve()),
        "step": 7,
        "safetensors_sha256": checksum,
    }
    assert meta["data"] == {
        "source": "segments given in Python",
        "windows": len(segs),
        "users": len(np.unique(segs.user)),
    }
    assert meta["config"]["init"] == str(init)

    kill_after(monkeypatch, pretrain_mod, 2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(cfg, tmp_path / "b", segments=segs, progress=False)
    monkeypatch.setattr(pretrain_mod, "save_checkpoint", save_checkpoint)
    torch.manual_seed(2)  # the saved model changes: a resumed run never reads it again
    save_model(init, ResNet1DEncoder(TINY_ENCODER), "encoder", step=9)
    resumed = pretrain_mod.pretrain(cfg, tmp_path / "b", resume=True, segments=segs, progress=False)
    a, b = _run_weights(straight), _run_weights(resumed)
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)
    assert json.loads((resumed / "model.json").read_text())["init"] == meta["init"]


def test_the_distance_run_records_its_init(tmp_path, segs):
    cfg = _dist_cfg("relcon-wrist-small", **NO_STEP)
    run = train_distance(cfg, tmp_path / "d", segments=segs, progress=False)
    meta = json.loads((run / "model.json").read_text())
    shipped = read_description("relcon-wrist-small", "distance")
    assert meta["init"]["model"] == "relcon-wrist-small"
    assert meta["init"]["safetensors_sha256"] == shipped["safetensors_sha256"]
    assert shipped["architecture"].items() <= meta["architecture"].items()  # the shipped one's
    assert _same(_run_weights(run), relcon.load("relcon-wrist-small", kind="distance").state_dict())


# ---- (e) the shipped model continues on the demo data, from the command line ------------------
def test_the_shipped_model_continues_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "adapted"
    rc = main([
        "pretrain", "--init", "relcon-wrist-small", "--distance", "relcon-wrist-small",
        "--data", "demo", "--steps", "2", "--batch-size", "4", "--within-user", "3",
        "--no-compile", "--precision", "fp32", "--out", str(out), "--no-progress",
    ])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    meta = json.loads((out / "model.json").read_text())
    shipped = read_description("relcon-wrist-small", "encoder")
    assert meta["init"]["model"] == "relcon-wrist-small" and meta["step"] == 2
    assert meta["init"]["safetensors_sha256"] == shipped["safetensors_sha256"]
    assert shipped["architecture"].items() <= meta["architecture"].items()
    assert meta["data"]["source"] == "demo" and meta["data"]["users"] > 1
    adapted = relcon.load(out)
    start = relcon.load("relcon-wrist-small")
    moved = [
        not torch.equal(adapted.state_dict()[k], start.state_dict()[k]) for k in _params(start)
    ]
    assert any(moved)
