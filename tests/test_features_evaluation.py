"""Hand-crafted features and the subject-wise linear probe (relcon.eval.probes.probe_folds)."""

import warnings

import numpy as np
import pytest
from scipy import stats

from relcon.eval.metrics import classification_metrics, summarise
from relcon.eval.probes import fit_predict, probe_folds
from relcon.eval.splits import subject_folds
from relcon.models.handcrafted import feature_names, handcrafted_features


def test_features_match_a_per_window_loop():
    rng = np.random.default_rng(0)
    t = np.arange(256) / 100
    x = rng.normal(size=(5, 256, 3)) * 0.1
    x[:, :, 2] += 1.0  # gravity on z
    x[1, :, 2] += 0.5 * np.sin(2 * np.pi * 2.0 * t)  # 2 Hz along gravity in window 1
    f = handcrafted_features(x)
    names = feature_names()
    assert f.shape == (5, len(names))
    col = {n: i for i, n in enumerate(names)}
    for i, w in enumerate(x):
        mag = np.linalg.norm(w, axis=1)
        for s, sig in zip("xyz", w.T, strict=True):
            assert f[i, col[f"{s}_mean"]] == pytest.approx(sig.mean(), abs=1e-5)
            assert f[i, col[f"{s}_std"]] == pytest.approx(sig.std(), abs=1e-5)
            assert f[i, col[f"{s}_p75"]] == pytest.approx(np.percentile(sig, 75), abs=1e-5)
            assert f[i, col[f"{s}_skew"]] == pytest.approx(stats.skew(sig), abs=1e-4)
            assert f[i, col[f"{s}_kurt"]] == pytest.approx(stats.kurtosis(sig), abs=1e-4)
        assert f[i, col["mag_max"]] == pytest.approx(mag.max(), abs=1e-5)
        assert f[i, col["corr_xz"]] == pytest.approx(np.corrcoef(w[:, 0], w[:, 2])[0, 1], abs=1e-4)
    # the 2 Hz oscillation shows up as the magnitude's dominant frequency (bins are 100/256 Hz)
    assert abs(f[1, col["mag_dom_freq"]] - 2.0) < 0.4
    bands = [c for n, c in col.items() if n.startswith("mag_band_")]
    assert f[1, bands].sum() <= 1 + 1e-5


def test_features_reject_bad_shapes():
    with pytest.raises(ValueError, match="N, T, 3"):
        handcrafted_features(np.zeros((2, 256)))


def test_subject_folds_partition_subjects():
    groups = np.repeat([f"u{i}" for i in range(11)], 3)
    folds = subject_folds(groups, 4, seed=1)
    allsub = np.concatenate(folds)
    assert sorted(allsub) == sorted(set(groups)) and len(allsub) == 11
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    with pytest.raises(ValueError, match="subjects"):
        subject_folds(groups, 12)


def test_metrics_against_hand_computed_values():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    m = classification_metrics(y, p)
    # per-class F1: class0 P=1/2 R=1/2 -> .5; class1 P=2/3 R=1 -> .8; class2 P=1 R=1/2 -> 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    po, pe = 4 / 6, (2 * 2 + 2 * 3 + 2 * 1) / 36
    assert m["kappa"] == pytest.approx((po - pe) / (1 - pe))


def test_metrics_predicted_class_absent_from_truth_is_an_error_without_a_warning():
    # one subject's windows: classes 0 and 1 only, and the model also predicts class 2
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 2, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics(y, p)
    # recall over the true classes: class0 1/2, class1 1 -> balanced accuracy 3/4
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1) / 2)
    # F1 over the true classes: class0 P=1 R=1/2 -> 2/3; class1 P=1 R=1 -> 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)


def _toy(n_subjects=8, per=40, shift=6.0, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), per)
    y = rng.integers(0, 3, size=len(groups))
    x = rng.normal(size=(len(groups), 5))
    x[:, 0] += shift * y
    return x, y, groups


def test_linear_probe_learns_separable_data_and_never_sees_test_subjects():
    x, y, g = _toy()
    rows = probe_folds(x, y, g, method="m", task="t", folds=4)
    summary = {r["metric"]: r for r in summarise(rows)}
    assert summary["macro_f1"]["mean"] > 0.9 and summary["macro_f1"]["n"] == 4
    # pure noise features give chance-level scores
    noise = np.random.default_rng(1).normal(size=x.shape)
    rows = probe_folds(noise, y, g, method="m", task="t", folds=4)
    assert {r["metric"]: r for r in summarise(rows)}["kappa"]["mean"] < 0.2
    tests = [set(r["test_subjects"]) for r in rows if r["metric"] == "kappa"]
    assert set().union(*tests) == {str(i) for i in range(8)}
    assert all(not (a & b) for i, a in enumerate(tests) for b in tests[i + 1 :])


def test_probe_folds_is_fit_predict_on_each_subject_fold():
    # the demo's folds and the harness's probe are one path: fold k is fit_predict(seed + k)
    x, y, g = _toy()
    rows = probe_folds(x, y, g, method="m", task="t", folds=4, seed=2)
    assert len(rows) == 4 * 3
    for k, test_subjects in enumerate(subject_folds(g, 4, 2)):
        test = np.isin(g, test_subjects)
        pred, info = fit_predict(
            "linear", x[~test], y[~test], g[~test], x[test], task_type="classification", seed=2 + k
        )
        fold = {r["metric"]: r for r in rows if r["fold"] == k}
        assert fold["macro_f1"]["value"] == classification_metrics(y[test], pred)["macro_f1"]
        assert fold["kappa"]["hyperparameter"] == "C" and fold["kappa"]["chosen"] == info["value"]
        assert fold["kappa"]["selection"] == "validation_subjects"
    with pytest.raises(ValueError, match="length mismatch"):
        probe_folds(x[:-1], y, g, method="m", task="t")
    with pytest.raises(ValueError, match="NaN"):
        probe_folds(np.where(x > 2.5, np.nan, x), y, g, method="m", task="t", folds=4)
