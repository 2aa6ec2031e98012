"""Probes on frozen features (relcon.eval.probes) and MiniRocket features (relcon.eval.minirocket)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.preprocessing import StandardScaler

from relcon.eval import probe_mlp, probes
from relcon.eval.metrics import classification_metrics, regression_metrics
from relcon.eval.probes import DEFAULTS, FIXED_PROBES, PROBES, fit_predict, ridge_path
from relcon.eval.splits import validation_folds, validation_split

N_SUBJECTS, PER_SUBJECT, N_FEATURES = 12, 30, 8
#: the probes that choose their hyperparameter on validation subjects
TUNED = [p for p in PROBES if p not in FIXED_PROBES]
TEST_SUBJECTS = ("s00", "s01", "s02", "s03")


def _groups() -> np.ndarray:
    return np.repeat([f"s{i:02d}" for i in range(N_SUBJECTS)], PER_SUBJECT)


def _split(x, y, groups):
    test = np.isin(groups, TEST_SUBJECTS)
    return x[~test], y[~test], groups[~test], x[test], y[test]


@pytest.fixture(scope="module")
def separable():
    rng = np.random.default_rng(0)
    groups = _groups()
    y = rng.integers(0, 3, len(groups))
    x = 4.0 * rng.normal(size=(3, N_FEATURES))[y] + rng.normal(size=(len(y), N_FEATURES))
    return x, y, groups


@pytest.fixture(scope="module")
def noise():
    rng = np.random.default_rng(1)
    groups = _groups()
    return rng.normal(size=(len(groups), N_FEATURES)), rng.integers(0, 3, len(groups)), groups


@pytest.fixture(scope="module")
def linear_targets():
    rng = np.random.default_rng(2)
    groups = _groups()
    x = rng.normal(size=(len(groups), N_FEATURES))
    y = x @ rng.normal(size=N_FEATURES) * 3 + 10 + rng.normal(0, 0.5, len(groups))
    return x, y, groups


@pytest.fixture(autouse=True)
def _short_mlp(monkeypatch):
    # the probes' logic does not depend on the epoch cap; keep the MLP tests fast
    monkeypatch.setattr(probe_mlp, "MLP_MAX_EPOCHS", 60)
    monkeypatch.setattr(probe_mlp, "MLP_PATIENCE", 8)


# ---- quality -----------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", PROBES)
def test_classification_separable_scores_high_and_noise_near_chance(probe, separable, noise):
    xa, ya, ga, xt, yt = _split(*separable)
    pred, info = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=0)
    assert pred.shape == yt.shape and set(np.unique(pred)) <= set(np.unique(ya))
    assert classification_metrics(yt, pred)["macro_f1"] > 0.95
    chose = "fixed" if probe in FIXED_PROBES else "validation_subjects"
    assert info["selection"] == chose and info["fallback"] is None

    xa, ya, ga, xt, yt = _split(*noise)
    pred, _ = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=0)
    m = classification_metrics(yt, pred)
    assert m["macro_f1"] < 0.5  # chance is 1/3
    assert abs(m["kappa"]) < 0.2


@pytest.mark.parametrize("probe", ["linear", "mlp", "rf"])
def test_regression_signal_scores_high_and_noise_near_zero(probe, linear_targets, noise):
    xa, ya, ga, xt, yt = _split(*linear_targets)
    pred, info = fit_predict(probe, xa, ya, ga, xt, task_type="regression", seed=0)
    assert info["selection"] == "validation_subjects"
    assert pred.dtype.kind == "f" and pred.shape == yt.shape
    assert regression_metrics(yt, pred)["pearson"] > (0.9 if probe == "rf" else 0.98)

    x, _, groups = noise
    y = np.random.default_rng(5).normal(size=len(groups))
    xa, ya, ga, xt, yt = _split(x, y, groups)
    pred, _ = fit_predict(probe, xa, ya, ga, xt, task_type="regression", seed=0)
    assert abs(regression_metrics(yt, pred)["pearson"]) < 0.3
    # no better than predicting the training mean, give or take
    assert np.mean((pred - yt) ** 2) > 0.8 * np.mean((ya.mean() - yt) ** 2)


# ---- hyperparameter choice ---------------------------------------------------------------------


def _val_mask(info, groups):
    return np.isin(groups, info["val_subjects"])


def test_ridge_alpha_matches_brute_force_over_the_grid():
    rng = np.random.default_rng(3)
    groups = np.repeat([f"s{i:02d}" for i in range(10)], 8)
    x = rng.normal(size=(len(groups), 30))  # few windows per feature: the penalty matters
    y = x[:, :5] @ rng.normal(size=5) + rng.normal(0, 1.0, len(groups))
    x_test = rng.normal(size=(20, 30))
    pred, info = fit_predict("linear", x, y, groups, x_test, task_type="regression", seed=4)
    assert info["hyperparameter"] == "alpha" and info["grid"] == list(probes.REGRESSION_ALPHAS)
    is_val = _val_mask(info, groups)
    scaler = StandardScaler().fit(x[~is_val])
    brute = []
    for alpha in probes.REGRESSION_ALPHAS:
        model = Ridge(alpha=alpha).fit(scaler.transform(x[~is_val]), y[~is_val])
        brute.append(np.mean((model.predict(scaler.transform(x[is_val])) - y[is_val]) ** 2))
    np.testing.assert_allclose(info["val_scores"], brute, rtol=1e-6)
    assert info["value"] == probes.REGRESSION_ALPHAS[int(np.argmin(brute))]
    assert 1e-6 < info["value"] < 1e5  # an interior choice, so the test means something
    scaler = StandardScaler().fit(x)
    final = Ridge(alpha=info["value"]).fit(scaler.transform(x), y)
    np.testing.assert_allclose(pred, final.predict(scaler.transform(x_test)), rtol=1e-6)


def test_ridge_classifier_matches_sklearn(separable):
    x, y, groups = separable
    rng = np.random.default_rng(6)
    x = x + rng.normal(0, 4.0, x.shape)  # overlap the classes so that alphas differ
    y = np.array([2, 5, 9])[y]  # non-contiguous codes come back unchanged
    xa, ya, ga, xt, _ = _split(x, y, groups)
    pred, info = fit_predict("ridge_classifier", xa, ya, ga, xt, task_type="classification")
    is_val = _val_mask(info, ga)
    scaler = StandardScaler().fit(xa[~is_val])
    brute = []
    for alpha in probes.RIDGE_CLASSIFIER_ALPHAS:
        model = RidgeClassifier(alpha=alpha).fit(scaler.transform(xa[~is_val]), ya[~is_val])
        p = model.predict(scaler.transform(xa[is_val]))
        brute.append(classification_metrics(ya[is_val], p)["macro_f1"])
    np.testing.assert_allclose(info["val_scores"], brute, atol=1e-12)
    assert brute[probes.RIDGE_CLASSIFIER_ALPHAS.index(info["value"])] == max(brute)
    scaler = StandardScaler().fit(xa)
    final = RidgeClassifier(alpha=info["value"]).fit(scaler.transform(xa), ya)
    np.testing.assert_array_equal(pred, final.predict(scaler.transform(xt)))


def test_logistic_c_is_chosen_on_validation_subjects_and_refit(separable):
    x, y, groups = separable
    x = x + np.random.default_rng(8).normal(0, 4.0, x.shape)  # overlapping classes
    xa, ya, ga, xt, _ = _split(x, y, groups)
    pred, info = fit_predict("linear", xa, ya, ga, xt, task_type="classification", seed=1)
    assert info["hyperparameter"] == "C" and info["grid"] == list(probes.LOGISTIC_CS)
    scores = info["val_scores"]  # the logistic probe reports its path like the others
    assert len(scores) == len(probes.LOGISTIC_CS) and info["selection"] == "validation_subjects"
    assert info["value"] == probes.LOGISTIC_CS[int(np.argmax(scores))]  # ties: the first C
    is_val = _val_mask(info, ga)
    scaler = StandardScaler().fit(xa[~is_val])
    c = 1e-3  # the most penalised fit on the path starts cold: sklearn's own answer
    ref = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(xa[~is_val]), ya[~is_val])
    f1 = classification_metrics(ya[is_val], ref.predict(scaler.transform(xa[is_val])))
    assert scores[0] == pytest.approx(f1["macro_f1"], abs=1e-9)
    scaler = StandardScaler().fit(xa)
    ref = LogisticRegression(C=info["value"], max_iter=5000).fit(scaler.transform(xa), ya)
    assert (pred == ref.predict(scaler.transform(xt))).mean() > 0.98


def test_ridge_path_primal_and_dual_agree_with_sklearn():
    rng = np.random.default_rng(7)
    for n, f in ((40, 10), (10, 40)):  # primal (n > f) and dual (n <= f) solutions
        x, y = rng.normal(size=(n, f)) + 3.0, rng.normal(size=(n, 2))
        for alpha, (w, b) in zip((0.1, 10.0), ridge_path(x, y, (0.1, 10.0)), strict=True):
            ref = Ridge(alpha=alpha).fit(x, y)
            np.testing.assert_allclose(x @ w + b, ref.predict(x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("probe", TUNED)
def test_validation_subjects_come_from_training_subjects_only(probe, separable):
    xa, ya, ga, xt, _ = _split(*separable)
    _, info = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=3)
    val = set(info["val_subjects"])
    assert val and val <= set(ga)
    assert not val & set(TEST_SUBJECTS)
    assert len(val) == round(0.25 * len(np.unique(ga)))
    assert info["n_val"] == _val_mask(info, ga).sum() and info["n_fit"] + info["n_val"] == len(ya)
    json.dumps(info)  # the runner stores it
    # the choice does not depend on the test windows at all
    _, info2 = fit_predict(probe, xa, ya, ga, xt[:7] * 100, task_type="classification", seed=3)
    assert info2["value"] == info["value"] and info2["val_subjects"] == info["val_subjects"]


def test_validation_draw_is_a_seeded_choice_of_training_subjects(separable):
    _, ya, ga, _, _ = _split(*separable)
    is_val, split_seed, problem = validation_split(ya, ga, task_type="classification", seed=11)
    assert problem is None
    subjects = np.unique(ga)
    expected = np.random.default_rng(split_seed).choice(subjects, size=2, replace=False)
    assert set(np.unique(ga[is_val])) == set(expected)


# ---- the choice cross-validated over inner folds of the training subjects (val_folds) ------------


def _inner_reference(x, y, groups, inner_folds, fit_score):
    """Per inner fold (its validation subjects as given): standardise on the other subjects, fit
    there, predict the fold; returns the fold-after-fold predictions and targets for
    ``fit_score(x_fit, y_fit, x_val) -> predictions``."""
    preds, targets = [], []
    for val_subjects in inner_folds:
        is_val = np.isin(groups.astype(str), val_subjects)
        scaler = StandardScaler().fit(x[~is_val])
        preds.append(
            fit_score(scaler.transform(x[~is_val]), y[~is_val], scaler.transform(x[is_val]))
        )
        targets.append(y[is_val])
    return np.concatenate(preds), np.concatenate(targets)


def _check_inner_folds(info, groups, k):
    """Every training subject validated exactly once, in ``k`` folds of near-equal size."""
    subjects = [s for fold in info["inner_folds"] for s in fold]
    assert sorted(subjects) == sorted(set(subjects)) == sorted(np.unique(groups.astype(str)))
    sizes = [len(f) for f in info["inner_folds"]]
    assert info["val_folds"] == len(sizes) == k and max(sizes) - min(sizes) <= 1
    assert info["n_val"] == len(groups) and info["val_subjects"] == sorted(subjects)


def test_cross_validated_ridge_alpha_matches_brute_force():
    rng = np.random.default_rng(3)
    groups = np.repeat([f"s{i:02d}" for i in range(10)], 8)
    x = rng.normal(size=(len(groups), 30))
    y = x[:, :5] @ rng.normal(size=5) + rng.normal(0, 1.0, len(groups))
    x_test = rng.normal(size=(20, 30))
    pred, info = fit_predict(
        "linear", x, y, groups, x_test, task_type="regression", seed=4, val_folds=3
    )
    _check_inner_folds(info, groups, 3)
    brute = []
    for alpha in probes.REGRESSION_ALPHAS:
        p, t = _inner_reference(
            x, y, groups, info["inner_folds"],
            lambda xf, yf, xv, a=alpha: Ridge(alpha=a).fit(xf, yf).predict(xv),
        )  # fmt: skip
        brute.append(np.mean((p - t) ** 2))  # pooled over every training window
    np.testing.assert_allclose(info["val_scores"], brute, rtol=1e-6)
    assert info["value"] == probes.REGRESSION_ALPHAS[int(np.argmin(brute))]
    assert 1e-6 < info["value"] < 1e5
    scaler = StandardScaler().fit(x)
    final = Ridge(alpha=info["value"]).fit(scaler.transform(x), y)
    np.testing.assert_allclose(pred, final.predict(scaler.transform(x_test)), rtol=1e-6)


def test_cross_validated_logistic_and_ridge_classifier_pool_their_folds(separable):
    x, y, groups = separable
    x = x + np.random.default_rng(8).normal(0, 4.0, x.shape)  # overlapping classes
    xa, ya, ga, xt, _ = _split(x, y, groups)
    _, info = fit_predict("linear", xa, ya, ga, xt, task_type="classification", seed=1,
                          val_folds=4)  # fmt: skip
    _check_inner_folds(info, ga, 4)
    # the most penalised fit of each fold's path starts cold: sklearn's own answer
    p, t = _inner_reference(
        xa, ya, ga, info["inner_folds"],
        lambda xf, yf, xv: LogisticRegression(C=1e-3, max_iter=5000).fit(xf, yf).predict(xv),
    )  # fmt: skip
    assert info["val_scores"][0] == pytest.approx(
        classification_metrics(t, p)["macro_f1"], abs=1e-9
    )
    assert info["value"] == probes.LOGISTIC_CS[int(np.argmax(info["val_scores"]))]

    _, info = fit_predict("ridge_classifier", xa, ya, ga, xt, task_type="classification",
                          val_folds=4)  # fmt: skip
    brute = []
    for alpha in probes.RIDGE_CLASSIFIER_ALPHAS:
        p, t = _inner_reference(
            xa, ya, ga, info["inner_folds"],
            lambda xf, yf, xv, a=alpha: RidgeClassifier(alpha=a).fit(xf, yf).predict(xv),
        )  # fmt: skip
        brute.append(classification_metrics(t, p)["macro_f1"])
    np.testing.assert_allclose(info["val_scores"], brute, atol=1e-12)


@pytest.mark.parametrize("probe", ["mlp", "rf"])
def test_cross_validated_choice_of_the_other_probes(probe, separable):
    xa, ya, ga, xt, yt = _split(*separable)
    pred, info = fit_predict(probe, xa, ya, ga, xt, task_type="classification", val_folds=3)
    _check_inner_folds(info, ga, 3)
    assert classification_metrics(yt, pred)["macro_f1"] > 0.95
    if probe == "mlp":  # refitted for the mean of the folds' best epochs
        best = [int(np.argmin(c)) + 1 for c in info["val_scores"]]
        assert len(best) == 3 and info["value"] == max(1, round(float(np.mean(best))))
    json.dumps(info)


def test_more_inner_folds_than_subjects_is_leave_one_subject_out(separable):
    xa, ya, ga, xt, _ = _split(*separable)
    _, info = fit_predict("linear", xa, ya, ga, xt, task_type="classification", val_folds=50)
    assert sorted(info["inner_folds"]) == [[str(s)] for s in np.unique(ga)]


def test_cross_validation_needs_every_class_in_every_fitting_part(separable):
    xa, ya, ga, xt, _ = _split(*separable)
    ya = ya.copy()
    ya[ga == "s05"] = 3  # class 3 in one subject: the fold validating it has none to fit
    _, info = fit_predict("linear", xa, ya, ga, xt, task_type="classification", val_folds=3)
    assert (
        info["selection"] == "default" and "missing from the fitting subjects" in info["fallback"]
    )
    ya[ga == "s06"] = 3  # in two subjects: a draw that puts them in different folds is usable
    _, info = fit_predict("linear", xa, ya, ga, xt, task_type="classification", val_folds=3)
    assert info["selection"] == "validation_subjects"
    assert not any({"s05", "s06"} <= set(f) for f in info["inner_folds"])


def test_one_validation_fold_is_the_single_split(separable):
    _, ya, ga, _, _ = _split(*separable)
    fold, seed1, _ = validation_folds(ya, ga, task_type="classification", folds=1, seed=7)
    is_val, seed2, _ = validation_split(ya, ga, task_type="classification", seed=7)
    np.testing.assert_array_equal(fold, np.where(is_val, 0, -1))
    assert seed1 == seed2
    with pytest.raises(ValueError, match="folds must be a positive integer"):
        validation_folds(ya, ga, task_type="classification", folds=0)


# ---- probes for few labels: nothing chosen on validation subjects -------------------------------


def _few_labels(separable, k=5, seed=0):
    """``k`` training windows per class, each from another subject (as a few-shot draw)."""
    xa, ya, ga, xt, yt = _split(*separable)
    rng = np.random.default_rng(seed)
    take = np.concatenate(
        [rng.choice(np.flatnonzero(ya == c), k, replace=False) for c in (0, 1, 2)]
    )
    return xa[take], ya[take], ga[take], xt, yt


def test_nearest_centroid_matches_sklearn_on_standardised_features(separable, noise):
    from sklearn.neighbors import NearestCentroid

    for data in (_few_labels(separable), _few_labels(noise, seed=1), _split(*noise)):
        xa, ya, ga, xt, _ = data
        pred, info = fit_predict("nearest_centroid", xa, ya, ga, xt, task_type="classification")
        scaler = StandardScaler().fit(xa)
        ref = NearestCentroid().fit(scaler.transform(xa), ya).predict(scaler.transform(xt))
        np.testing.assert_array_equal(pred, ref)
        assert info["selection"] == "fixed" and info["val_subjects"] == [] and info["n_val"] == 0
        assert info["n_fit"] == len(ya)
        json.dumps(info)


def test_linear_fixed_matches_sklearn_with_the_fixed_strength(separable, linear_targets):
    xa, ya, ga, xt, _ = _few_labels(separable)
    pred, info = fit_predict("linear_fixed", xa, ya, ga, xt, task_type="classification", seed=2)
    scaler = StandardScaler().fit(xa)
    ref = LogisticRegression(C=probes.FIXED_C, max_iter=5000, tol=1e-10).fit(
        scaler.transform(xa), ya
    )
    np.testing.assert_array_equal(pred, ref.predict(scaler.transform(xt)))
    assert (info["hyperparameter"], info["value"]) == ("C", probes.FIXED_C)
    assert info["selection"] == "fixed"

    xa, ya, ga, xt, _ = _split(*linear_targets)
    pred, info = fit_predict("linear_fixed", xa, ya, ga, xt, task_type="regression")
    scaler = StandardScaler().fit(xa)
    ref = Ridge(alpha=probes.FIXED_ALPHA).fit(scaler.transform(xa), ya)
    np.testing.assert_allclose(pred, ref.predict(scaler.transform(xt)), rtol=1e-8, atol=1e-8)
    assert (info["hyperparameter"], info["value"]) == ("alpha", probes.FIXED_ALPHA)


def test_linear_fixed_with_another_penalty_matches_sklearn_at_that_penalty(noise):
    # noise: the penalty decides the predictions, so a C that is not passed on would show
    xa, ya, ga, xt, _ = _few_labels(noise, k=8)
    scaler = StandardScaler().fit(xa)
    preds = {}
    for c in (0.03, 100.0):
        pred, info = fit_predict(
            "linear_fixed", xa, ya, ga, xt, task_type="classification", fixed_c=c
        )
        ref = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(scaler.transform(xa), ya)
        np.testing.assert_array_equal(pred, ref.predict(scaler.transform(xt)))
        assert (info["hyperparameter"], info["value"]) == ("C", c)
        preds[c] = pred
    assert (preds[0.03] != preds[100.0]).any()
    for probe, task_type, c, match in (
        ("linear", "classification", 0.1, "not used by probe 'linear'"),
        ("linear_fixed", "regression", 0.1, "regression task"),
        ("linear_fixed", "classification", 0.0, "positive finite"),
        ("linear_fixed", "classification", float("nan"), "positive finite"),
    ):
        y = ya * 1.0 if task_type == "regression" else ya
        with pytest.raises(ValueError, match=match):
            fit_predict(probe, xa, y, ga, xt, task_type=task_type, fixed_c=c)


def test_fixed_probes_need_no_validation_subjects(separable):
    # one subject per class: the tuned probes fall back to their default, the fixed ones do not
    xa, ya, ga, xt, yt = _few_labels(separable)
    ga = np.array([f"s{c}" for c in ya])
    for probe in FIXED_PROBES:
        pred, info = fit_predict(probe, xa, ya, ga, xt, task_type="classification")
        assert info["selection"] == "fixed" and info["fallback"] is None
        assert classification_metrics(yt, pred)["macro_f1"] > 0.9
    with pytest.raises(ValueError, match="linear_fixed"):
        fit_predict("nearest_centroid", xa, ya * 1.0, ga, xt, task_type="regression")


# ---- fallbacks and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("probe", TUNED)
def test_fallback_to_default_when_a_class_is_in_one_subject(probe, separable):
    xa, ya, ga, xt, _ = _split(*separable)
    ya = ya.copy()
    ya[ga == "s05"] = 3  # class 3 exists in one subject: no split has it on both sides
    pred, info = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=0)
    assert info["selection"] == "default"
    assert info["value"] == DEFAULTS[(probe, "classification")][1]
    assert "default" in info["fallback"] and "[3]" in info["fallback"]
    assert info["val_subjects"] == [] and "val_scores" not in info
    assert pred.shape == (len(xt),) and set(np.unique(pred)) <= {0, 1, 2, 3}


def test_single_class_validation_split_is_reported():
    # two subjects, one of them holds only class 0: whichever is held out, a class is missing
    y = np.array([0, 1, 0, 1, 0, 0, 0, 0])
    groups = np.array(["a"] * 4 + ["b"] * 4)
    _, _, problem = validation_split(y, groups, task_type="classification", seed=0)
    assert problem is not None and "class(es) [1] missing" in problem
    assert "no usable split in" in problem
    # regression needs no class on both sides
    assert validation_split(y * 1.0, groups, task_type="regression", seed=0)[2] is None


def test_split_is_redrawn_before_falling_back(separable):
    _, y, groups = separable
    y = y.copy()
    y[np.isin(groups, ["s06", "s07"])] = 3  # class 3 in two subjects: some draws work
    is_val, _, problem = validation_split(y, groups, task_type="classification", seed=0)
    assert problem is None
    assert 3 in y[is_val] and 3 in y[~is_val]


def test_input_errors(separable):
    xa, ya, ga, xt, _ = _split(*separable)
    with pytest.raises(ValueError, match="unknown probe"):
        fit_predict("svm", xa, ya, ga, xt, task_type="classification")
    with pytest.raises(ValueError, match="ridge_classifier"):
        fit_predict("ridge_classifier", xa, ya * 1.0, ga, xt, task_type="regression")
    with pytest.raises(ValueError, match="single class"):
        fit_predict("rf", xa, np.zeros_like(ya), ga, xt, task_type="classification")
    with pytest.raises(ValueError, match="at least 2 training subjects"):
        fit_predict("linear", xa, ya, np.full(len(ya), "s"), xt, task_type="classification")
    with pytest.raises(ValueError, match="NaN"):
        bad = xa.copy()
        bad[0, 0] = np.nan
        fit_predict("linear", bad, ya, ga, xt, task_type="classification")
    with pytest.raises(ValueError, match="width"):
        fit_predict("linear", xa, ya, ga, xt[:, :3], task_type="classification")


@pytest.mark.parametrize("probe", ["mlp", "rf"])
def test_seeded_probes_are_deterministic(probe, noise):
    xa, ya, ga, xt, _ = _split(*noise)
    p1, i1 = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=5)
    p2, i2 = fit_predict(probe, xa, ya, ga, xt, task_type="classification", seed=5)
    np.testing.assert_array_equal(p1, p2)
    assert i1 == i2


# ---- MiniRocket ----------------------------------------------------------------------------------


def test_minirocket_missing_aeon_says_how_to_install(monkeypatch):
    from relcon.eval.minirocket import minirocket_features

    monkeypatch.setitem(sys.modules, "aeon", None)  # makes `import aeon...` fail
    x = np.zeros((4, 32, 3), dtype=np.float32)
    with pytest.raises(ImportError, match=r"relcon\[baselines\]"):
        minirocket_features(x, x)


def _waves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sines (class 0) vs square waves (class 1) of random frequency and phase, 3 axes."""
    t = np.arange(128) / 100.0
    y = rng.integers(0, 2, n)
    freq = rng.uniform(1.5, 3.0, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 3))
    s = np.sin(2 * np.pi * freq * t[None, :, None] + phase)
    x = np.where(y[:, None, None] == 1, np.sign(s), s) + rng.normal(0, 0.1, s.shape)
    return x.astype(np.float32), y


def test_minirocket_features_fit_on_training_windows_only():
    pytest.importorskip("aeon")
    from relcon.eval.minirocket import minirocket_features

    rng = np.random.default_rng(0)
    xa, ya = _waves(60, rng)
    xt, yt = _waves(40, rng)
    fa, ft = minirocket_features(xa, xt, seed=0, n_kernels=168)
    assert fa.shape == (60, 168) and ft.shape == (40, 168) and fa.dtype == np.float32
    # the transform depends on the training windows and the seed only, not on the test windows
    fa2, ft2 = minirocket_features(xa, xt[:5], seed=0, n_kernels=168)
    np.testing.assert_array_equal(fa, fa2)
    np.testing.assert_array_equal(ft[:5], ft2)
    fa3, _ = minirocket_features(xa, xt[:5], seed=1, n_kernels=168)
    assert not np.array_equal(fa, fa3)
    groups = np.repeat(np.arange(6), 10)
    pred, _ = fit_predict("ridge_classifier", fa, ya, groups, ft, task_type="classification")
    assert classification_metrics(yt, pred)["macro_f1"] > 0.9
    with pytest.raises(ValueError, match="differ in shape"):
        minirocket_features(xa, xt[:, :64])
