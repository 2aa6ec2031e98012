"""RelCon at a lower cost per anchor (issue 24, item 4): the momentum (EMA) candidate encoder,
the anchor's augmented copy as its closest candidate, and the compute every step logs."""

import copy
import csv

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon.train.relcon as pretrain_mod
import relcon.train.steps as steps_mod
from conftest import TINY_DISTANCE, TINY_ENCODER, kill_after
from relcon.config import PretrainConfig
from relcon.data.augmentations import AUGMENTATIONS
from relcon.losses import relative_contrastive_loss
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model
from relcon.train.checkpoint import load_trainer_state, save_checkpoint
from relcon.train.steps import (
    CandidatePool,
    CountingEncoder,
    anchor_copies,
    ema_update,
    relcon_batch_loss,
    score_candidates,
)

B, K, M, T = 4, 3, 2, 256  # anchors, within-user candidates, between-user candidates, samples


@pytest.fixture(scope="module")
def segs(demo_segments):
    s = demo_segments
    users = np.unique(s.user)[:6]
    return s.subset(np.flatnonzero(np.isin(s.user, users))[::4])


@pytest.fixture(scope="module")
def distance_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("distance")
    save_model(folder, MotifDistance.from_config(TINY_DISTANCE), "distance", step=0)
    return folder


def _cfg(distance_dir, **kw):
    base = dict(
        distance=str(distance_dir), encoder=TINY_ENCODER, steps=4, batch_size=B, within_user=K,
        between_user=M, log_every=1, ckpt_every=1, keep_checkpoints=10, warmup_steps=2,
        compile=False, ema_decay=0.9,
    )  # fmt: skip
    return PretrainConfig(**{**base, **kw})


def _passes(run):
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [(int(r["step"]), float(r["passes_grad"]), float(r["passes_nograd"])) for r in rows]


def _pool(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B * (1 + K), T, 3, generator=g)


# --------------------------------------------------------------------------------------------
# the momentum copy
# --------------------------------------------------------------------------------------------
def test_ema_update_equals_a_plain_loop():
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    ema = copy.deepcopy(enc).requires_grad_(False)
    ref = {k: v.clone() for k, v in enc.state_dict().items()}
    opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    names = {n for n, _ in enc.named_parameters()}
    d = 0.9
    for step in range(4):
        opt.zero_grad()
        enc(torch.randn(6, T, 3)).pow(2).mean().backward()
        opt.step()
        ema_update(ema, enc, d)
        theta = enc.state_dict()
        for k in ref:  # theta_ema = d * theta_ema + (1 - d) * theta; buffers follow the encoder
            ref[k] = d * ref[k] + (1 - d) * theta[k] if k in names else theta[k].clone()
        for k, v in ema.state_dict().items():
            torch.testing.assert_close(v, ref[k], rtol=1e-6, atol=1e-7, msg=f"step {step}: {k}")
    assert all(not p.requires_grad for p in ema.parameters())


def test_ema_candidates_carry_no_gradient_only_the_anchors_do():
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    ema = ResNet1DEncoder(TINY_ENCODER).requires_grad_(False)  # other weights than the encoder
    distance = MotifDistance.from_config(TINY_DISTANCE).eval().requires_grad_(False)
    pool, index = _pool(), CandidatePool(B, K, M).index
    passes = [0, 0]
    loss = relcon_batch_loss(
        CountingEncoder(enc, passes), distance, pool, index, 0.1,
        candidate_encoder=CountingEncoder(ema, passes),
    )  # fmt: skip
    loss.backward()
    got = {n: p.grad.clone() for n, p in enc.named_parameters()}
    assert passes == [B, B * (1 + K)]  # anchors with gradient, the whole pool without
    assert all(p.grad is None for p in ema.parameters())

    # the hand-built reference: candidates' embeddings are constants
    enc.zero_grad(set_to_none=True)
    dist = score_candidates(distance, pool, index).float()
    z_cand = ema(pool).detach()[index]
    ref = relative_contrastive_loss(enc(pool[:B]), z_cand, dist, tau=0.1)
    ref.backward()
    torch.testing.assert_close(loss, ref)
    for n, p in enc.named_parameters():
        torch.testing.assert_close(got[n], p.grad, msg=n)
    # and it differs from the paper's loss, where candidates carry gradient
    enc.zero_grad(set_to_none=True)
    relcon_batch_loss(enc, distance, pool, index, 0.1).backward()
    assert not all(torch.allclose(got[n], p.grad) for n, p in enc.named_parameters())


# --------------------------------------------------------------------------------------------
# the anchor's augmented copy
# --------------------------------------------------------------------------------------------
def test_anchor_copy_is_one_of_the_eight_augmentations():
    x = torch.randn(64, T, 3, generator=torch.Generator().manual_seed(1))
    copies, which = anchor_copies(x, torch.Generator().manual_seed(5))
    assert which.shape == (64,) and set(which.tolist()) <= set(range(len(AUGMENTATIONS)))
    assert len(set(which.tolist())) > 4  # drawn, not fixed
    # replayed with the augmentations of the table, one per anchor
    g = torch.Generator().manual_seed(5)
    again = torch.randint(len(AUGMENTATIONS), (64,), generator=g)
    assert torch.equal(again, which)
    expected = x.clone()
    for k, fn in enumerate(AUGMENTATIONS.values()):
        rows = torch.nonzero(which == k).flatten()
        if rows.numel():
            expected[rows] = fn(x[rows], g)
    torch.testing.assert_close(copies, expected)
    names = list(AUGMENTATIONS)
    for i, k in enumerate(which.tolist()):  # those without randomness, checked directly
        if names[k] == "negate":
            assert torch.equal(copies[i], -x[i])
        if names[k] == "time_flip":
            assert torch.equal(copies[i], x[i].flip(0))


@pytest.mark.parametrize("candidate_encoder", ["online", "ema"])
def test_anchor_copy_ranks_first_for_every_anchor(monkeypatch, candidate_encoder):
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    cand = ResNet1DEncoder(TINY_ENCODER).eval() if candidate_encoder == "ema" else None
    distance = MotifDistance.from_config(TINY_DISTANCE).eval().requires_grad_(False)
    pool, index = _pool(), CandidatePool(B, K, M).index
    copies, _ = anchor_copies(pool[:B], torch.Generator().manual_seed(3))
    seen = {}

    def spy(anchors, candidates, distances, tau):
        seen.update(candidates=candidates, distances=distances)
        return relative_contrastive_loss(anchors, candidates, distances, tau)

    monkeypatch.setattr(steps_mod, "relative_contrastive_loss", spy)
    relcon_batch_loss(enc, distance, pool, index, 0.1, candidate_encoder=cand, copies=copies)
    d = seen["distances"]
    assert d.shape == (B, 1 + M + K)
    order = torch.argsort(d, dim=1, stable=True)
    assert (order[:, 0] == 0).all() and (d[:, :1] < d[:, 1:]).all()  # strictly closest
    torch.testing.assert_close(d[:, 1:], score_candidates(distance, pool, index).float())
    if cand is not None:  # candidate 0 is the copy's embedding
        with torch.no_grad():
            torch.testing.assert_close(seen["candidates"][:, 0], cand(copies))


def test_options_of_relcon_only(tmp_path, segs, distance_dir):
    for kw in ({"candidate_encoder": "ema"}, {"anchor_copy": True}):
        with pytest.raises(ValueError, match="option of RelCon"):
            pretrain_mod.pretrain(
                _cfg(distance_dir, method="simclr", **kw), tmp_path / "x", segments=segs,
                progress=False,
            )  # fmt: skip


# --------------------------------------------------------------------------------------------
# the loop: compute log, EMA updates, checkpoints and --resume
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, per_step",
    [
        ({}, (B + B * K, 0)),  # the paper: every window with gradient
        ({"candidate_encoder": "ema"}, (B, B + B * K)),
        ({"anchor_copy": True, "accumulate": 2}, (2 * (B + B * K + B), 0)),
        ({"within_user": 1}, (B + B * 1, 0)),  # fewer within-user candidates
        ({"method": "simclr", "between_user": None}, (2 * B, 0)),
    ],
)
def test_logged_passes_equal_a_hand_count(tmp_path, segs, distance_dir, options, per_step):
    run = pretrain_mod.pretrain(
        _cfg(distance_dir, steps=2, **options), tmp_path / "r", segments=segs, progress=False
    )
    assert _passes(run) == [(s, s * per_step[0], s * per_step[1]) for s in (1, 2)]


def test_ema_run_updates_after_every_step_and_resumes_bit_for_bit(
    tmp_path, segs, distance_dir, monkeypatch
):
    cfg = _cfg(distance_dir, candidate_encoder="ema", anchor_copy=True)
    straight = pretrain_mod.pretrain(cfg, tmp_path / "a", segments=segs, progress=False)
    ckpts = [straight / f"checkpoints/step-{s:08d}" for s in range(1, 5)]
    theta = [load_file(str(c / "model.safetensors")) for c in ckpts]
    ema = [load_trainer_state(c)["ema"] for c in ckpts]
    params = {n for n, _ in ResNet1DEncoder(TINY_ENCODER).named_parameters()}
    for s in range(1, 4):  # theta_ema(s+1) = d * theta_ema(s) + (1 - d) * theta(s+1)
        for n in params:
            want = 0.9 * ema[s - 1][n] + 0.1 * theta[s][n]
            torch.testing.assert_close(ema[s][n], want, rtol=1e-6, atol=1e-7)
    # the saved model is the encoder alone
    assert set(load_file(str(straight / "model.safetensors"))) == set(theta[0])
    assert not any(k.startswith("ema") for k in theta[0])

    kill_after(monkeypatch, pretrain_mod, 2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(cfg, tmp_path / "b", segments=segs, progress=False)
    monkeypatch.setattr(pretrain_mod, "save_checkpoint", save_checkpoint)
    resumed = pretrain_mod.pretrain(cfg, tmp_path / "b", resume=True, segments=segs, progress=False)
    wa, wb = (
        load_file(str(straight / "model.safetensors")),
        load_file(str(resumed / "model.safetensors")),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ea = load_trainer_state(straight / "checkpoints/step-00000004")["ema"]
    eb = load_trainer_state(resumed / "checkpoints/step-00000004")["ema"]
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    per_step = (B, B + B * K + B)  # anchors with gradient; pool and copies without
    assert _passes(resumed) == _passes(straight)
    assert _passes(resumed) == [(s, s * per_step[0], s * per_step[1]) for s in range(1, 5)]
