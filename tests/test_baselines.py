"""Self-supervised baselines: losses against plain loops, runs in RelCon's format, exact resume."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import relcon.train.relcon as loop_mod  # the one pretraining loop (RelCon and baselines)
from conftest import TINY_DISTANCE, TINY_ENCODER, kill_after
from relcon.config import DistanceTrainConfig, PretrainConfig
from relcon.data.augmentations import AUGMENTATIONS
from relcon.data.windowing import Segments
from relcon.losses import augmentation_prediction_loss, nt_xent_loss, rebar_loss
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import load_model
from relcon.train.baselines import pretrain_baseline
from relcon.train.checkpoint import save_checkpoint
from relcon.train.distance import train_distance
from relcon.train.methods import BASELINES
from relcon.train.steps import apply_augmentation_subset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------------------------
# losses vs loops (float64, values and gradients)
# --------------------------------------------------------------------------------------------
def nt_xent_loop(z1, z2, tau):
    """SimCLR's Eq. 1 literally: 2B views, each against its partner and all other views."""
    z = torch.cat([z1, z2])
    n, b = len(z), len(z1)
    total = 0.0
    for i in range(n):
        partner = (i + b) % n
        num = torch.exp(F.cosine_similarity(z[i], z[partner], dim=0) / tau)
        den = 0.0
        for k in range(n):
            if k != i:
                den = den + torch.exp(F.cosine_similarity(z[i], z[k], dim=0) / tau)
        total = total - torch.log(num / den)
    return total / n


def rebar_loop(anchors, candidates, distances, tau):
    total = 0.0
    b, c, _ = candidates.shape
    for i in range(b):
        best = min(range(c), key=lambda j: (distances[i, j].item(), j))
        sims = [F.cosine_similarity(anchors[i], candidates[i, j], dim=0) / tau for j in range(c)]
        den = sum(torch.exp(s) for s in sims)
        total = total - torch.log(torch.exp(sims[best]) / den)
    return total / b


def bce_loop(logits, applied):
    total = 0.0
    b, a = logits.shape
    for i in range(b):
        for k in range(a):
            p = 1 / (1 + torch.exp(-logits[i, k]))
            y = float(applied[i, k])
            total = total - (y * torch.log(p) + (1 - y) * torch.log(1 - p))
    return total / (b * a)


def _check_grads(fast, ref, inputs):
    assert torch.allclose(fast, ref, rtol=1e-10, atol=1e-10)
    for gf, gr in zip(
        torch.autograd.grad(fast, inputs), torch.autograd.grad(ref, inputs), strict=True
    ):
        assert torch.allclose(gf, gr, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("b", "d", "tau"), [(1, 3, 0.1), (2, 4, 0.5), (5, 16, 0.1), (7, 8, 1.0)])
def test_nt_xent_matches_loop(b, d, tau):
    g = torch.Generator().manual_seed(b * 10 + d)
    z1 = torch.randn(b, d, dtype=torch.float64, generator=g, requires_grad=True)
    z2 = torch.randn(b, d, dtype=torch.float64, generator=g, requires_grad=True)
    _check_grads(nt_xent_loss(z1, z2, tau), nt_xent_loop(z1, z2, tau), (z1, z2))


def test_nt_xent_stable_and_symmetric():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(16, 32, generator=g, requires_grad=True)
    z2 = (z1.detach() * 5).requires_grad_()  # identical views: logits of 100 at tau = 0.01
    loss = nt_xent_loss(z1, z2, tau=0.01)
    assert torch.isfinite(loss)
    assert all(torch.isfinite(gr).all() for gr in torch.autograd.grad(loss, (z1, z2)))
    a, b = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    assert torch.allclose(nt_xent_loss(a, b), nt_xent_loss(b, a), atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(a, b[:5])


@pytest.mark.parametrize(("b", "c", "d", "tau"), [(1, 1, 3, 0.1), (4, 7, 16, 0.1), (3, 12, 5, 0.5)])
def test_rebar_loss_matches_loop(b, c, d, tau):
    g = torch.Generator().manual_seed(b * 100 + c)
    a = torch.randn(b, d, dtype=torch.float64, generator=g, requires_grad=True)
    cand = torch.randn(b, c, d, dtype=torch.float64, generator=g, requires_grad=True)
    dist = torch.rand(b, c, dtype=torch.float64, generator=g)
    _check_grads(rebar_loss(a, cand, dist, tau), rebar_loop(a, cand, dist, tau), (a, cand))


def test_rebar_loss_positive_is_the_closest_candidate():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 8, generator=g)
    cand = torch.randn(2, 5, 8, generator=g)
    dist = torch.rand(2, 5, generator=g)
    cand_aligned = cand.clone()
    cand_aligned[torch.arange(2), dist.argmin(1)] = a  # the closest candidate = the anchor
    assert rebar_loss(a, cand_aligned, dist) < rebar_loss(a, cand, dist)
    dist_ties = torch.tensor([[0.1, 0.1, 0.5, 0.7, 0.9]] * 2)  # tie: the first one is positive
    torch.testing.assert_close(
        rebar_loss(a, cand, dist_ties), F.cross_entropy(
            torch.einsum("bd,bcd->bc", F.normalize(a, dim=-1), F.normalize(cand, dim=-1)) / 0.1,
            torch.zeros(2, dtype=torch.long),
        ),
    )  # fmt: skip


def test_augmentation_prediction_loss_matches_loop():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(5, 8, dtype=torch.float64, generator=g, requires_grad=True)
    applied = torch.rand(5, 8, generator=g) < 0.5
    _check_grads(
        augmentation_prediction_loss(logits, applied), bce_loop(logits, applied), (logits,)
    )


def test_apply_augmentation_subset():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 256, 3, generator=g)
    names = list(AUGMENTATIONS)
    applied = torch.zeros(4, len(names), dtype=torch.bool)
    applied[1, names.index("negate")] = True
    applied[2, names.index("time_flip")] = True
    applied[3, names.index("negate")] = applied[3, names.index("time_flip")] = True
    out = apply_augmentation_subset(x, applied, g)
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1], -x[1])
    torch.testing.assert_close(out[2], x[2].flip(0))
    torch.testing.assert_close(out[3], -x[3].flip(0))
    with pytest.raises(ValueError, match="applied"):
        apply_augmentation_subset(x, applied[:, :3], g)


# --------------------------------------------------------------------------------------------
# tiny end-to-end runs on synthetic windows
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def segs():
    """4 users x 24 windows; each user moves at its own frequency, with noise."""
    rng = np.random.default_rng(0)
    n_users, per_user = 4, 24
    t = np.arange(256) / 100
    x, users = [], []
    for u in range(n_users):
        freq = 1.0 + u
        phase = rng.uniform(0, 2 * np.pi, (per_user, 1, 3))
        w = np.sin(2 * np.pi * freq * t[None, :, None] + phase)
        x.append(w + 0.1 * rng.standard_normal(w.shape))
        users += [f"u{u}"] * per_user
    n = n_users * per_user
    return Segments(
        x=np.concatenate(x).astype(np.float32),
        user=np.array(users),
        recording=np.array(users),
        start_s=np.tile(np.arange(per_user) * 2.56, n_users),
        label=np.full(n, -1),
        label_names=(),
    )


@pytest.fixture(scope="module")
def distance_run(tmp_path_factory, segs):
    cfg = DistanceTrainConfig(architecture=TINY_DISTANCE, steps=2, batch_size=4, warmup_steps=1)
    return train_distance(cfg, tmp_path_factory.mktemp("dist") / "d", segments=segs, progress=False)


def _cfg(distance, steps=4):
    return PretrainConfig(
        distance=str(distance), encoder=TINY_ENCODER, steps=steps, batch_size=4, within_user=3,
        log_every=1, ckpt_every=2, warmup_steps=1,
    )  # fmt: skip


@pytest.mark.parametrize("method", BASELINES)
def test_baseline_writes_a_loadable_encoder_run(tmp_path, segs, distance_run, method):
    steps = 4
    cfg = _cfg(distance_run, steps=steps)
    run = pretrain_baseline(method, cfg, tmp_path / method, segments=segs, progress=False)
    encoder, meta = load_model(run, kind="encoder")
    assert isinstance(encoder, ResNet1DEncoder)
    assert meta["method"] == method and meta["kind"] == "encoder" and meta["step"] == steps
    assert meta["train_users"] == sorted(set(segs.user))
    assert set(load_file(str(run / "model.safetensors"))) == set(
        ResNet1DEncoder(TINY_ENCODER).state_dict()
    )  # a plain encoder: no head in the saved weights
    assert encoder.embed(segs.x[:5]).shape == (5, TINY_ENCODER.embed_dim)
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    assert all(np.isfinite(float(r["loss"])) and 0 <= float(r["acc"]) <= 1 for r in rows)


def test_baseline_argument_errors(tmp_path, segs, distance_run):
    with pytest.raises(ValueError, match="unknown baseline"):
        pretrain_baseline("byol", _cfg(distance_run), tmp_path / "x", segments=segs)
    cfg = _cfg(distance_run)
    cfg.distance = ""
    with pytest.raises(ValueError, match="distance"):
        pretrain_baseline("rebar", cfg, tmp_path / "y", segments=segs)


def test_simclr_resumes_exactly_with_its_projection_head(tmp_path, segs, distance_run, monkeypatch):
    cfg = _cfg(distance_run)
    straight = pretrain_baseline("simclr", cfg, tmp_path / "a", segments=segs, progress=False)
    kill_after(monkeypatch, loop_mod, 2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_baseline("simclr", cfg, tmp_path / "b", segments=segs, progress=False)
    monkeypatch.setattr(loop_mod, "save_checkpoint", save_checkpoint)
    for other in ("augpred", "rebar"):  # the saved settings name the method; resume checks them
        with pytest.raises(ValueError, match=r"differ from the run's.*method="):
            pretrain_baseline(other, cfg, tmp_path / "b", resume=True, segments=segs)
    resumed = pretrain_baseline(
        "simclr", cfg, tmp_path / "b", resume=True, segments=segs, progress=False
    )
    wa = load_file(str(straight / "model.safetensors"))
    wb = load_file(str(resumed / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    state_a = torch.load(straight / "checkpoints/step-00000004/trainer.pt", weights_only=False)
    state_b = torch.load(resumed / "checkpoints/step-00000004/trainer.pt", weights_only=False)
    for k, v in state_a["head"].items():
        torch.testing.assert_close(v, state_b["head"][k], rtol=1e-5, atol=1e-6)
    with (resumed / "metrics.csv").open() as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    meta = json.loads((resumed / "model.json").read_text())
    assert meta["method"] == "simclr" and meta["config"]["steps"] == 4


def test_baselines_honour_precision_and_compile_like_relcon(
    tmp_path, segs, distance_run, monkeypatch
):
    """``precision`` (bf16 encoder with "bf16", and with "auto" on a CPU with native bf16), ``compile`` (the distance's
    sparsemax) and ``compile_encoder`` reach the baselines' steps as they reach RelCon's."""
    import relcon.models.distance as distance_mod
    from relcon.models.encoder import cpu_has_bf16

    dtypes: list[torch.dtype] = []

    def record(module, args, output):
        if isinstance(module, ResNet1DEncoder):
            dtypes.append(output.dtype)

    backends: list[str] = []
    real_backend = distance_mod.set_sparsemax_backend
    monkeypatch.setattr(
        distance_mod,
        "set_sparsemax_backend",
        lambda mode: backends.append(mode) or real_backend("eager"),
    )
    compiled: list[object] = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(model) or model)
    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        for precision in ("fp32", "bf16", "auto"):
            dtypes.clear()
            cfg = _cfg(distance_run, steps=1)
            cfg.precision, cfg.compile, cfg.compile_encoder = precision, True, True
            pretrain_baseline("rebar", cfg, tmp_path / precision, segments=segs, progress=False)
            bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
            assert set(dtypes) == {torch.bfloat16 if bf16 else torch.float32}, precision
    finally:
        handle.remove()
    assert backends == ["compiled"] * 3 and len(compiled) == 3


def test_baselines_refuse_relcon_only_settings(tmp_path, segs, distance_run):
    cfg = _cfg(distance_run)
    cfg.teacher = "oracle"
    with pytest.raises(ValueError, match="'distance' for the baselines"):
        pretrain_baseline("simclr", cfg, tmp_path / "o", segments=segs)
    cfg = _cfg(distance_run)
    cfg.between_user = 9
    with pytest.raises(ValueError, match="between_user must be in"):
        pretrain_baseline("rebar", cfg, tmp_path / "m", segments=segs)
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()
