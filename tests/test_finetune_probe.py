"""A probe kept as a model's head (``relcon finetune --probe``): the fitted map against
independent references (scikit-learn, brute force, the ridge normal equations), and the saved
model against a probe fitted by hand on the encoder's embeddings."""

import json
import re

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from conftest import TINY_ENCODER
from relcon.config import EvalConfig, FinetuneConfig
from relcon.eval.fewshot import augmented_copies
from relcon.eval.finetune import finetune, finetune_summary
from relcon.eval.fusion import fit_predict_fused
from relcon.eval.harness import resolve_features_protocol
from relcon.eval.linear_probe import fit_linear
from relcon.eval.probes import FIXED_ALPHA, FIXED_C, fit_predict
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.handcrafted import handcrafted_features
from relcon.models.hub import load, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _features(seed, n=90, f=6):
    """Features on very different scales and offsets (the folded scaler must undo them)."""
    rng = np.random.default_rng(seed)
    scale, offset = rng.uniform(0.01, 100.0, f), rng.uniform(-50.0, 50.0, f)
    z = rng.standard_normal((n, f))
    return rng, z * scale + offset, z, np.arange(n) % 5


def _standardised(x, *others):
    """By hand: mean and population standard deviation of ``x``."""
    m, s = x.mean(axis=0), x.std(axis=0)
    return [(a - m) / s for a in (x, *others)]


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_fixed_is_the_logistic_regression_on_standardised_features(n_classes):
    rng, x, z, groups = _features(1)
    y = np.argmax(z[:, :n_classes] + 0.5 * rng.standard_normal((len(z), n_classes)), axis=1) * 7
    x_new = x[:30] + rng.standard_normal((30, x.shape[1])) * x.std(axis=0)
    probe = fit_linear("linear_fixed", x, y, groups, task_type="classification")
    xs, xs_new = _standardised(x, x_new)
    ref = LogisticRegression(C=FIXED_C, max_iter=1000).fit(xs, y)
    d = ref.decision_function(xs_new)
    scores = probe.scores(x_new)
    if n_classes == 2:  # one decision value: the second class's score minus the first's
        got = scores[:, 1] - scores[:, 0]
    else:  # softmax is unchanged by a per-window constant: compare centred scores
        got, d = scores - scores.mean(axis=1, keepdims=True), d - d.mean(axis=1, keepdims=True)
    # both solve the same smooth, strictly convex problem to L-BFGS's tolerance (1e-4 on the
    # gradient): the scores agree to about that relative to their spread
    np.testing.assert_allclose(got, d, atol=1e-3 * np.abs(d).max())
    assert probe.classes.tolist() == (np.arange(n_classes) * 7).tolist()
    assert (probe.predict(x_new) == ref.predict(xs_new)).mean() >= 0.95


def test_nearest_centroid_is_the_nearest_class_mean_by_brute_force():
    rng, x, _, groups = _features(2)
    y = rng.choice([3, 5, 9], len(x))
    x_new = x[:40] * 1.1
    probe = fit_linear("nearest_centroid", x, y, groups, task_type="classification")
    xs, xs_new = _standardised(x, x_new)
    expected = []
    for row in xs_new:
        dists = {c: float(np.sum((row - xs[y == c].mean(axis=0)) ** 2)) for c in (3, 5, 9)}
        expected.append(min(dists, key=dists.get))
    assert probe.predict(x_new).tolist() == expected
    # the scores are minus the squared distances, up to a per-window constant
    d = np.stack([((xs_new - xs[y == c].mean(axis=0)) ** 2).sum(axis=1) for c in (3, 5, 9)], 1)
    s = probe.scores(x_new)
    np.testing.assert_allclose(s - s[:, :1], -(d - d[:, :1]), atol=1e-8 * d.max())


def test_linear_fixed_regression_solves_the_ridge_normal_equations():
    rng, x, z, groups = _features(3)
    y = 2.0 * z[:, 0] - z[:, 3] + 0.1 * rng.standard_normal(len(z)) + 4.0
    probe = fit_linear("linear_fixed", x, y, groups, task_type="regression")
    xs, xs_new = _standardised(x, x[:20] * 0.9)
    yc = y - y.mean()
    w = np.linalg.solve(xs.T @ xs + FIXED_ALPHA * np.eye(xs.shape[1]), xs.T @ yc)
    np.testing.assert_allclose(probe.predict(x[:20] * 0.9), xs_new @ w + y.mean(), rtol=1e-9)
    assert probe.classes is None and probe.weight.shape == (1, x.shape[1])


def test_every_linear_probe_predicts_as_fit_predict_does():
    rng, x, z, groups = _features(4, n=120)
    y = np.argmax(z[:, :3] + rng.standard_normal((len(z), 3)), axis=1)
    x_new = rng.standard_normal((50, x.shape[1])) * x.std(axis=0) + x.mean(axis=0)
    for name in ("linear", "linear_fixed", "nearest_centroid", "ridge_classifier"):
        probe = fit_linear(name, x, y, groups, task_type="classification", seed=3)
        pred, info = fit_predict(name, x, y, groups, x_new, task_type="classification", seed=3)
        assert probe.predict(x_new).tolist() == pred.tolist(), name
        assert probe.info["value"] == info["value"], name
    with pytest.raises(ValueError, match="not linear"):
        fit_linear("mlp", x, y, groups, task_type="classification")


def _windows(seed, n_subjects=6, per_subject=8):
    """Sinusoids whose frequency is the class (3 classes), on each subject's own axis."""
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 100
    y = rng.integers(0, 3, n_subjects * per_subject)
    axes = rng.standard_normal((n_subjects, 3))
    wave = np.sin(2 * np.pi * np.array([1.0, 3.0, 6.0])[y][:, None] * t)
    x = wave[:, :, None] * np.repeat(axes, per_subject, axis=0)[:, None, :]
    x = x + 0.05 * rng.standard_normal(x.shape)
    return x.astype(np.float32), y, np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return ResNet1DEncoder(TINY_ENCODER).eval()


def test_probe_model_is_the_probe_fitted_by_hand_on_the_stage_means(encoder, tmp_path):
    x, y, groups = _windows(5)
    x_new, _, _ = _windows(6, n_subjects=2)
    cfg = FinetuneConfig(probe="linear_fixed", pooling="stages", few_shot_augment=2, device="cpu")
    model = finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)
    # by hand: the windows and their copies through the encoder's stages, then scikit-learn
    x_all = np.concatenate([x, augmented_copies(x, 2, seed=cfg.seed)])
    with torch.no_grad():
        z = encoder.stage_means(torch.from_numpy(x_all)).numpy().astype(np.float64)
        z_new = encoder.stage_means(torch.from_numpy(x_new)).numpy().astype(np.float64)
    assert z.shape[1] == sum(TINY_ENCODER.stage_filters)
    zs, zs_new = _standardised(z, z_new)
    ref = LogisticRegression(C=FIXED_C, max_iter=1000).fit(zs, np.tile(y, 3))
    d = ref.decision_function(zs_new)
    out = model.outputs(x_new)
    # float32 head against a float64 reference, both to L-BFGS's tolerance: 1e-3 of the spread
    np.testing.assert_allclose(
        out - out.mean(axis=1, keepdims=True), d - d.mean(axis=1, keepdims=True),
        atol=1e-3 * np.abs(d).max(),
    )  # fmt: skip
    assert model.info["n_train_windows"] == len(x) and model.info["n_copies"] == 2 * len(x)
    summary = finetune_summary(model)
    assert "C = 1" in summary and f"plus {2 * len(x)} augmented copies" in summary
    # the encoder was not changed, and the saved model reads the same stages
    save_model(tmp_path / "m", model)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["architecture"]["pooling"] == "stages"
    assert meta["probe"] == {"probe": "linear_fixed", "hyperparameter": "C", "value": 1.0,
                             "selection": "fixed"}  # fmt: skip
    loaded = load(tmp_path / "m")
    np.testing.assert_allclose(loaded.outputs(x_new), out, rtol=1e-5, atol=1e-5)
    assert loaded.predict(x_new).tolist() == model.predict(x_new).tolist()


def test_probe_regression_and_settings_that_do_not_fit(encoder):
    x, y, groups = _windows(7)
    amp = np.linspace(0.5, 2.0, len(x))
    cfg = FinetuneConfig(probe="linear_fixed", device="cpu")
    model = finetune(x * amp[:, None, None], amp, groups, task_type="regression",
                     encoder=encoder, cfg=cfg)  # fmt: skip
    z = encoder.embed(x * amp[:, None, None]).astype(np.float64)
    zs = _standardised(z)[0]
    w = np.linalg.solve(zs.T @ zs + FIXED_ALPHA * np.eye(zs.shape[1]), zs.T @ (amp - amp.mean()))
    np.testing.assert_allclose(
        model.predict(x * amp[:, None, None]), zs @ w + amp.mean(), atol=1e-4 * amp.max()
    )
    with pytest.raises(ValueError, match=r"few_shot_augment=2 .* give probe='linear_fixed'"):
        finetune(x, y, groups, task_type="classification", encoder=encoder,
                 cfg=FinetuneConfig(few_shot_augment=2, epochs=1, device="cpu"))  # fmt: skip
    # settings of gradient descent that a probe would ignore are refused, by name
    unused = {"head_hidden": 8, "epochs": 3, "augment": True, "val_fraction": 0.5}
    named = re.escape("epochs=3, head_hidden=8, augment=True, val_fraction=0.5")
    with pytest.raises(ValueError, match=named):
        finetune(x, y, groups, task_type="classification", encoder=encoder,
                 cfg=FinetuneConfig(probe="linear_fixed", device="cpu", **unused))  # fmt: skip
    # the validation-chosen probe draws its validation subjects with val_fraction
    model = finetune(x, y, groups, task_type="classification", encoder=encoder,
                     cfg=FinetuneConfig(probe="linear", val_fraction=0.5, device="cpu"))  # fmt: skip
    assert len(model.info["val_subjects"]) == 3 and model.info["probe"]["probe"] == "linear"
    with pytest.raises(ValueError, match="for classification"):
        finetune(x, amp, groups, task_type="regression", encoder=encoder,
                 cfg=FinetuneConfig(probe="nearest_centroid", device="cpu"))  # fmt: skip
    with pytest.raises(ValueError, match="protocol='linear_fixed'"):
        resolve_features_protocol(
            EvalConfig(model="default", finetune=FinetuneConfig(probe="linear_fixed"))
        )


def test_a_model_saved_before_stage_pooling_and_fusion_loads_as_last_unfused(encoder, tmp_path):
    x, y, groups = _windows(8)
    cfg = FinetuneConfig(probe="nearest_centroid", device="cpu")
    model = finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)
    save_model(tmp_path / "m", model)
    meta_file = tmp_path / "m" / "model.json"
    meta = json.loads(meta_file.read_text())
    del meta["architecture"]["pooling"], meta["architecture"]["handcrafted"]
    meta_file.write_text(json.dumps(meta))
    loaded = load(tmp_path / "m")
    assert loaded.pooling == "last" and loaded.handcrafted_head is None
    assert loaded.predict(x).tolist() == model.predict(x).tolist()


def test_gradient_descent_on_the_stage_means(encoder):
    """pooling applies to every way of training: a frozen encoder's head reads the stages."""
    x, y, groups = _windows(9)
    cfg = FinetuneConfig(freeze_encoder=True, pooling="stages", epochs=2, device="cpu")
    model = finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)
    assert model.head.in_features == sum(TINY_ENCODER.stage_filters)
    with torch.no_grad():
        expected = model.head(encoder.stage_means(torch.from_numpy(x[:5])))
    np.testing.assert_allclose(model.outputs(x[:5]), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_probe_with_another_penalty_is_that_logistic_regression(encoder):
    x, y, groups = _windows(8)
    x_new, _, _ = _windows(9, n_subjects=2)
    cfg = FinetuneConfig(probe="linear_fixed", fixed_c=0.05, device="cpu")
    model = finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)
    z, z_new = (encoder.embed(a).astype(np.float64) for a in (x, x_new))
    zs, zs_new = _standardised(z, z_new)
    d = LogisticRegression(C=0.05, max_iter=1000).fit(zs, y).decision_function(zs_new)
    out = model.outputs(x_new)
    # float32 head against a float64 reference, both to L-BFGS's tolerance: 1e-3 of the spread
    np.testing.assert_allclose(
        out - out.mean(axis=1, keepdims=True), d - d.mean(axis=1, keepdims=True),
        atol=1e-3 * np.abs(d).max(),
    )  # fmt: skip
    assert model.info["probe"]["value"] == 0.05 and "C = 0.05" in finetune_summary(model)
    with pytest.raises(ValueError, match=r"fixed_c=0\.05 is the penalty of probe='linear_fixed'"):
        finetune(x, y, groups, task_type="classification", encoder=encoder,
                 cfg=FinetuneConfig(probe="linear", fixed_c=0.05, device="cpu"))  # fmt: skip
    with pytest.raises(ValueError, match="regression task"):
        finetune(x, np.linspace(0, 1, len(x)), groups, task_type="regression", encoder=encoder,
                 cfg=cfg)  # fmt: skip


# ---- a fused probe kept as a model (relcon finetune --plus-handcrafted) ----------------------


def _fused(encoder, x, y, groups, **settings):
    cfg = FinetuneConfig(probe="linear_fixed", plus_handcrafted=True, device="cpu", **settings)
    return finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)


def test_fused_model_sums_the_log_probabilities_of_two_logistic_regressions(encoder, tmp_path):
    x, y, groups = _windows(10)
    x_new, _, _ = _windows(11, n_subjects=2)
    model = _fused(encoder, x, y, groups, pooling="stages", handcrafted_fixed_c=0.01)
    # by hand: scikit-learn on each block standardised on its own, C = 1 and C = 0.01
    with torch.no_grad():
        z, z_new = (encoder.stage_means(torch.from_numpy(a)).numpy().astype(np.float64)
                    for a in (x, x_new))  # fmt: skip
    h, h_new = (handcrafted_features(a).astype(np.float64) for a in (x, x_new))
    logp, spread = 0.0, 0.0
    for (a, a_new), c in (((z, z_new), FIXED_C), ((h, h_new), 0.01)):
        s, s_new = _standardised(a, a_new)
        ref = LogisticRegression(C=c, max_iter=1000).fit(s, y)
        logp = logp + ref.predict_log_proba(s_new)
        spread += np.abs(ref.decision_function(s_new)).max()
    out = model.outputs(x_new)
    # each block's scores agree to L-BFGS's tolerance, 1e-3 of their spread; a log-softmax
    # moves by at most twice its scores' largest error; the fused output is their sum
    np.testing.assert_allclose(out, logp, atol=2e-3 * spread)
    proba = model.predict_proba(x_new)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert model.info["handcrafted_probe"]["value"] == 0.01
    summary = finetune_summary(model)
    assert "fused with probe linear_fixed, C = 0.01 on the 62 hand-crafted features" in summary
    # saved and loaded: the second head, and the same outputs
    save_model(tmp_path / "m", model)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["architecture"]["handcrafted"] is True
    loaded = load(tmp_path / "m")
    assert loaded.handcrafted_head is not None
    np.testing.assert_allclose(loaded.outputs(x_new), out, rtol=1e-5, atol=1e-5)


def test_fused_model_predicts_as_relcon_evaluate_fuses(encoder):
    """The validation-chosen probe too: the same seed, validation subjects and choice of C."""
    x, y, groups = _windows(12, n_subjects=8)
    x_new, _, _ = _windows(13, n_subjects=3)
    z, z_new = (encoder.embed(a).astype(np.float64) for a in (x, x_new))
    h, h_new = (handcrafted_features(a) for a in (x, x_new))
    for probe in ("linear_fixed", "linear"):
        cfg = FinetuneConfig(probe=probe, plus_handcrafted=True, device="cpu", seed=4)
        model = finetune(x, y, groups, task_type="classification", encoder=encoder, cfg=cfg)
        pred, info = fit_predict_fused(
            probe, [z, h], y, groups, [z_new, h_new], task_type="classification", seed=4
        )
        out = model.outputs(x_new)
        top2 = np.sort(out, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-3 * np.abs(out).max()  # not a float32 near-tie
        assert clear.mean() > 0.8
        assert model.predict(x_new)[clear].tolist() == pred[clear].tolist(), probe
        got = [model.info["probe"]["value"], model.info["handcrafted_probe"]["value"]]
        assert got == info["value"], probe


def test_fused_regression_is_the_mean_of_two_ridge_regressions(encoder):
    x, _, groups = _windows(14)
    amp = np.linspace(0.5, 2.0, len(x))
    xa = x * amp[:, None, None]
    cfg = FinetuneConfig(probe="linear_fixed", plus_handcrafted=True, device="cpu")
    model = finetune(xa, amp, groups, task_type="regression", encoder=encoder, cfg=cfg)
    preds = []
    for a in (encoder.embed(xa).astype(np.float64), handcrafted_features(xa).astype(np.float64)):
        s = _standardised(a)[0]
        w = np.linalg.solve(s.T @ s + FIXED_ALPHA * np.eye(s.shape[1]), s.T @ (amp - amp.mean()))
        preds.append(s @ w + amp.mean())
    np.testing.assert_allclose(model.predict(xa), np.mean(preds, axis=0), atol=1e-4 * amp.max())


def test_the_handcrafted_head_runs_in_float64_whatever_the_precision(encoder):
    """Folded standardisation on features whose raw scales differ by orders of magnitude: in
    bf16 (8 bits of mantissa) the head would be off by whole units; it is kept out of it."""
    x, y, groups = _windows(15)
    model = _fused(encoder, x, y, groups)
    with torch.no_grad():  # the embedding's head silenced: only the hand-crafted one speaks
        model.head.weight.zero_()
        model.head.bias.zero_()
    fp32, bf16 = model.outputs(x, precision="fp32"), model.outputs(x, precision="bf16")
    np.testing.assert_allclose(bf16, fp32, rtol=0, atol=1e-5)
    expected = torch.log_softmax(model.handcrafted_outputs(torch.from_numpy(x)), dim=1)
    np.testing.assert_allclose(fp32, expected.numpy() - np.log(3), rtol=0, atol=1e-5)


def test_fused_settings_that_do_not_fit(encoder):
    x, y, groups = _windows(16)

    def refused(match, task_type="classification", target=y, **settings):
        with pytest.raises(ValueError, match=match):
            finetune(x, target, groups, task_type=task_type, encoder=encoder,
                     cfg=FinetuneConfig(device="cpu", **settings))  # fmt: skip

    refused(r"plus_handcrafted=True .* give probe linear or linear_fixed",
            plus_handcrafted=True)  # fmt: skip
    refused(r"not 'nearest_centroid'", plus_handcrafted=True, probe="nearest_centroid")
    refused(r"handcrafted_fixed_c=0\.01 .*, not fused", probe="linear_fixed",
            handcrafted_fixed_c=0.01)  # fmt: skip
    refused(r"here probe='linear'$", probe="linear", plus_handcrafted=True,
            handcrafted_fixed_c=0.01)  # fmt: skip
    refused("regression task", task_type="regression", target=np.linspace(0, 1, len(x)),
            probe="linear_fixed", plus_handcrafted=True, handcrafted_fixed_c=0.01)  # fmt: skip
    for name, value in (("plus_handcrafted", True), ("handcrafted_fixed_c", 0.01)):
        cfg = EvalConfig(model="default", finetune=FinetuneConfig(**{name: value}))
        with pytest.raises(ValueError, match=f"finetune.{name}=.* use {name}="):
            resolve_features_protocol(cfg)
