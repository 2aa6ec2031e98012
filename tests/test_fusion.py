"""Late fusion of probes (relcon.eval.fusion; ``relcon evaluate --plus-handcrafted``)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from conftest import TINY_ENCODER
from relcon.config import EvalConfig
from relcon.data.tasks import load_task
from relcon.eval.fusion import fit_predict_fused
from relcon.eval.harness import evaluate, evaluate_task
from relcon.eval.probes import fit_predict
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.handcrafted import handcrafted_features
from relcon.models.hub import save_model
from task_fixtures import sine_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blocks(seed=0, n=240, classes=4):
    """Two blocks that each see half of the class signal, 8 subjects."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    groups = np.arange(n) % 8
    a = rng.normal(size=(n, 5)) * 2.0
    b = rng.normal(size=(n, 3)) * 0.5 + 7.0
    a[:, 0] += 4.0 * (y % 2)  # block a: the parity of the class
    b[:, 0] += 1.0 * (y // 2)  # block b: its half
    return a, b, y, groups


@pytest.mark.parametrize("fixed_c", [None, (2.0, 0.05), np.array([0.3, 4.0])])
def test_fixed_probe_fusion_is_the_product_of_two_independent_logistic_fits(fixed_c):
    """Against scikit-learn fitted from scratch on each standardised block (C = 1, or each
    block's own C): the class with the largest summed log-probability. L-BFGS stops at a
    gradient tolerance of 1e-4, so the two fits' log-probabilities may differ by about 1e-3;
    the comparison is made where the reference's top two classes are more than 0.05 apart (a
    difference over ten times the sum of both blocks' errors), which is most windows."""
    a, b, y, groups = _blocks()
    train, test = np.arange(200), np.arange(200, 240)
    pred, info = fit_predict_fused(
        "linear_fixed", [a[train], b[train]], y[train], groups[train], [a[test], b[test]],
        task_type="classification", fixed_c=fixed_c,
    )  # fmt: skip
    cs = (1.0, 1.0) if fixed_c is None else tuple(fixed_c)
    assert info["value"] == list(cs)
    total = 0.0
    for x, c in zip((a, b), cs, strict=True):
        scaler = StandardScaler().fit(x[train])
        ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(
            scaler.transform(x[train]), y[train]
        )
        total = total + np.log(ref.predict_proba(scaler.transform(x[test])))
    top2 = np.sort(total, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.05
    assert clear.sum() >= 30
    np.testing.assert_array_equal(pred[clear], np.argmax(total, axis=1)[clear])
    assert info["fusion"] == "sum of log-probabilities" and len(info["blocks"]) == 2
    assert info["hyperparameter"] == ["C", "C"] and info["selection"] == ["fixed", "fixed"]
    # neither block alone carries the four classes; together they do
    alone = [
        fit_predict("linear_fixed", x[train], y[train], groups[train], x[test],
                    task_type="classification")[0]
        for x in (a, b)
    ]  # fmt: skip
    fused_acc = np.mean(pred == y[test])
    assert all(fused_acc > np.mean(p == y[test]) + 0.1 for p in alone)


def test_a_block_fused_with_itself_is_that_block_alone():
    """Two copies of one block double every log-probability: the same argmax as one probe
    (and, with the validated probe, the same validation subjects and choice of C)."""
    a, _, y, groups = _blocks(seed=1)
    train, test = np.arange(200), np.arange(200, 240)
    for probe in ("linear", "linear_fixed"):
        one, info1 = fit_predict(
            probe, a[train], y[train], groups[train], a[test], task_type="classification"
        )
        two, info2 = fit_predict_fused(
            probe, [a[train], a[train]], y[train], groups[train], [a[test], a[test]],
            task_type="classification",
        )  # fmt: skip
        np.testing.assert_array_equal(one, two)
        assert info2["value"] == [info1["value"]] * 2


def test_regression_fusion_is_the_mean_of_two_ridge_fits():
    """Ridge with alpha = 1 on standardised features, solved here by the normal equations."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(60, 2)) * 3 + 1
    target = a @ [1.0, -2.0, 0.5, 0.0] + b @ [0.3, 0.2] + rng.normal(size=60) * 0.1
    groups = np.arange(60) % 6
    pred, info = fit_predict_fused(
        "linear_fixed", [a[:50], b[:50]], target[:50], groups[:50], [a[50:], b[50:]],
        task_type="regression",
    )  # fmt: skip
    refs = []
    for x in (a, b):
        mu, sd = x[:50].mean(axis=0), x[:50].std(axis=0)
        z, zs = (x[:50] - mu) / sd, (x[50:] - mu) / sd
        zc, yc = z - z.mean(axis=0), target[:50] - target[:50].mean()
        w = np.linalg.solve(zc.T @ zc + np.eye(x.shape[1]), zc.T @ yc)
        refs.append((zs - z.mean(axis=0)) @ w + target[:50].mean())
    np.testing.assert_allclose(pred, np.mean(refs, axis=0), rtol=1e-8, atol=1e-8)
    assert info["fusion"] == "mean of predictions"


def test_fusion_refuses_probes_without_probabilities_and_mismatched_blocks():
    a, b, y, groups = _blocks()
    with pytest.raises(ValueError, match="probe 'nearest_centroid' cannot be fused"):
        fit_predict_fused("nearest_centroid", [a, b], y, groups, [a, b],
                          task_type="classification")  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 blocks"):
        fit_predict_fused("linear", [a], y, groups, [a], task_type="classification")
    with pytest.raises(ValueError, match="fixed_c gives 3 values for 2 blocks"):
        fit_predict_fused("linear_fixed", [a, b], y, groups, [a, b], task_type="classification",
                          fixed_c=[1.0, 0.1, 0.1])  # fmt: skip
    with pytest.raises(ValueError, match="fixed_c must be a positive"):
        fit_predict_fused("linear_fixed", [a, b], y, groups, [a, b], task_type="classification",
                          fixed_c=[1.0, -0.1])  # fmt: skip
    with pytest.raises(ValueError, match="same test windows"):
        fit_predict_fused("linear", [a, b], y, groups, [a[:5], b[:6]],
                          task_type="classification")  # fmt: skip


def test_evaluate_plus_handcrafted_fuses_the_embedding_with_handcrafted_features(tmp_path):
    """``plus_handcrafted``: each split's predictions are fit_predict_fused's on the encoder's
    embedding and the hand-crafted features of the same windows; the run is named for it, and
    a setting it cannot apply to is an error that names it."""
    path = sine_task(tmp_path, "syn", n_subjects=6, per=24, seed=0)
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    run = tmp_path / "enc"
    save_model(run, enc, "encoder", step=0, extra={"train_users": [], "method": "relcon"})
    cfg = EvalConfig(model=str(run), folds=3, pooling="stages", plus_handcrafted=True)
    task = load_task(path)
    results, splits = evaluate_task(task, cfg, progress=False)
    assert results["name"] == "relcon (enc, stages pooling) + hand-crafted"
    blocks = [enc.embed(task.X, pooling="stages"), handcrafted_features(task.X)]
    for split in splits:
        test = np.isin(np.arange(len(task.y)), split.index)
        expected, _ = fit_predict_fused(
            "linear", [x[~test] for x in blocks], task.y[~test], task.groups[~test],
            [x[test] for x in blocks], task_type="classification", seed=0,
        )  # fmt: skip
        np.testing.assert_array_equal(split.y_pred, expected)
        assert split.scores["info"]["fusion"] == "sum of log-probabilities"
    for bad in (
        replace(cfg, model="", features="handcrafted", pooling="last"),
        replace(cfg, protocol="nearest_centroid"),
        replace(cfg, protocol="mlp"),
    ):
        with pytest.raises(ValueError, match="plus_handcrafted=True fuses a probe"):
            evaluate(replace(bad, task=str(path)), tmp_path / "bad", progress=False)


def test_handcrafted_fixed_c_is_the_hand_crafted_blocks_own_penalty(tmp_path):
    """``handcrafted_fixed_c``: the fused fixed probe fits the embedding at ``fixed_c`` (here
    its default) and the hand-crafted features at their own C; the run is named for it, and it
    is refused where there is no hand-crafted block of a fixed probe to apply it to."""
    path = sine_task(tmp_path, "syn", n_subjects=6, per=24, seed=0)
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER)
    run = tmp_path / "enc"
    save_model(run, enc, "encoder", step=0, extra={"train_users": [], "method": "relcon"})
    cfg = EvalConfig(model=str(run), folds=3, protocol="linear_fixed", plus_handcrafted=True,
                     handcrafted_fixed_c=0.02)  # fmt: skip
    task = load_task(path)
    results, splits = evaluate_task(task, cfg, progress=False)
    assert results["protocol"] == "linear_fixed-hcC0.02"
    blocks = [enc.embed(task.X), handcrafted_features(task.X)]
    for split in splits:
        test = np.isin(np.arange(len(task.y)), split.index)
        fit = [[x[~test] for x in blocks], task.y[~test], task.groups[~test]]
        own, _ = fit_predict_fused("linear_fixed", *fit, [x[test] for x in blocks],
                                   task_type="classification", fixed_c=[1.0, 0.02])  # fmt: skip
        np.testing.assert_array_equal(split.y_pred, own)
        assert split.scores["info"]["value"] == [1.0, 0.02]
    for bad, names in (
        (replace(cfg, plus_handcrafted=False), "protocol 'linear_fixed', not fused"),
        (replace(cfg, protocol="linear"), "protocol 'linear'"),
        (replace(cfg, model="", features="handcrafted", plus_handcrafted=False),
         "hand-crafted features alone: fixed_c"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=r"handcrafted_fixed_c=0\.02 sets the penalty") as e:
            evaluate(replace(bad, task=str(path)), tmp_path / "bad", progress=False)
        assert names in str(e.value)
    regression = sine_task(tmp_path, "reg", n_subjects=6, per=24, seed=0, regression=True)
    with pytest.raises(ValueError, match=r"handcrafted_fixed_c=0\.02 is the logistic penalty"):
        evaluate(replace(cfg, task=str(regression)), tmp_path / "reg_out", progress=False)
