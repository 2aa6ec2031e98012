"""Augmented copies of few-shot labelled windows (relcon.eval.fewshot.augmented_copies;
``relcon evaluate --few-shot-augment``)."""

from dataclasses import replace

import numpy as np
import pytest

from relcon.config import EvalConfig
from relcon.data.tasks import load_task
from relcon.eval import harness
from relcon.eval.fewshot import augmented_copies, augmented_labelled
from relcon.models.handcrafted import handcrafted_features
from task_fixtures import sine_task


def _windows(n=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 256, 3)).astype(np.float32)


def test_without_rotation_or_scaling_a_copy_is_a_circular_shift_of_its_own_window():
    """Row ``c * N + i`` is copy ``c`` of window ``i``: with angle and scale spreads of zero it
    equals that window rolled in time by some offset (found by trying all 256)."""
    x = _windows()
    out = augmented_copies(x, 3, seed=1, degrees=0.0, scale=0.0)
    assert out.shape == (15, 256, 3) and out.dtype == x.dtype
    shifts = set()
    for c in range(3):
        for i in range(5):
            found = [s for s in range(256) if np.allclose(np.roll(x[i], s, axis=0), out[c * 5 + i])]
            assert len(found) == 1, (c, i)
            shifts.add(found[0])
    assert len(shifts) > 1  # the offsets are drawn, not one fixed shift


def test_every_labelled_copy_carries_its_own_windows_label_and_subject():
    """``augmented_labelled``: each copy is matched to its source by a fingerprint that
    rotation, scaling and shifting leave unchanged (the sorted sample norms over their
    largest), independently of the row order; its label and subject must be that window's."""
    x = _windows(n=6, seed=3)
    y, groups = np.array([2, 0, 1, 1, 0, 2]), np.array(["a", "b", "c", "d", "e", "f"])
    xc, yc, gc = augmented_labelled(x, y, groups, 4, seed=[7, 1])
    assert len(xc) == len(yc) == len(gc) == 24

    def fingerprint(w):
        norms = np.sort(np.linalg.norm(w.astype(np.float64), axis=1))
        return norms / norms[-1]

    sources = np.stack([fingerprint(w) for w in x])
    for row in range(24):
        source = np.argmin(np.abs(sources - fingerprint(xc[row])).sum(axis=1))
        assert (yc[row], gc[row]) == (y[source], groups[source]), row
    with pytest.raises(ValueError, match="differ in length: 6, 5, 6"):
        augmented_labelled(x, y[:5], groups, 2)


def test_a_copy_keeps_every_sample_norm_up_to_one_factor_per_copy():
    """A rotation keeps each sample's vector length, a shift only reorders the samples, so the
    sorted sample norms of a copy are those of its window times one factor; the factors spread
    around 1 by ``scale``."""
    x = _windows(n=50)
    out = augmented_copies(x, 4, seed=2)
    source = np.sort(np.linalg.norm(np.tile(x, (4, 1, 1)), axis=2), axis=1).astype(np.float64)
    copy = np.sort(np.linalg.norm(out, axis=2), axis=1).astype(np.float64)
    ratio = copy / source
    # float32 rounding of the rotated samples: relative error a few 1e-7
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(256, axis=1), rtol=1e-5)
    factors = ratio[:, 0]
    assert abs(factors.mean() - 1.0) < 0.05  # 200 draws of N(1, 0.1): s.e. 0.007
    assert 0.07 < factors.std() < 0.13


def test_the_rotation_angle_matches_its_stated_spread():
    """A constant window (gravity on z) turned about a uniform axis by an angle theta from
    N(0, 20 degrees) leans by phi with cos(phi) = cos(theta) + (1 - cos(theta)) cos^2(psi),
    psi the angle between axis and z; for small theta, E[phi] = E|theta| E[sin psi] =
    20 * sqrt(2 / pi) * pi / 4 = 12.5 degrees (phi's spread is about 9 degrees: with 4000
    copies the mean is within 0.3 degrees)."""
    x = np.zeros((1, 256, 3))
    x[..., 2] = 1.0
    out = augmented_copies(x, 4000, seed=3, scale=0.0)
    assert np.allclose(out, out[:, :1, :])  # still constant: the shift changes nothing
    lean = np.degrees(np.arccos(np.clip(out[:, 0, 2], -1, 1)))
    expected = 20 * np.sqrt(2 / np.pi) * np.pi / 4
    # second-order terms of the small-angle expansion lower the mean by under 1 degree here
    assert expected - 1.5 < lean.mean() < expected + 0.5
    assert np.percentile(lean, 99) < 60


def test_copies_are_a_function_of_the_seed_and_bad_input_is_refused():
    x = _windows()
    np.testing.assert_array_equal(
        augmented_copies(x, 2, seed=[4, 1]), augmented_copies(x, 2, seed=[4, 1])
    )
    assert not np.allclose(augmented_copies(x, 2, seed=4), augmented_copies(x, 2, seed=5))
    with pytest.raises(ValueError, match="three-axis windows"):
        augmented_copies(x[..., :2], 2)
    with pytest.raises(ValueError, match="copies must be a positive integer"):
        augmented_copies(x, 0)


def test_evaluate_adds_the_copies_to_few_shot_draws_only(tmp_path, monkeypatch):
    """With ``few_shot_augment=3`` each k = 2 probe is fitted on the drawn windows followed by
    the hand-crafted features of their copies (labels and subjects repeated); the all-label fit
    and its scores are those of the run without copies."""
    path = sine_task(tmp_path, "syn", n_subjects=6, per=12, seed=0)
    task = load_task(path)
    feats = handcrafted_features(task.X)
    cfg = EvalConfig(
        features="handcrafted", protocol="linear_fixed", folds=3, few_shot=[2, 0],
        few_shot_seeds=2, few_shot_augment=3,
    )  # fmt: skip
    calls = []
    real = harness.fit_predict

    def spy(probe, x_train, y_train, groups_train, x_test, **kw):
        calls.append((np.asarray(x_train), np.asarray(y_train), np.asarray(groups_train)))
        return real(probe, x_train, y_train, groups_train, x_test, **kw)

    monkeypatch.setattr(harness, "fit_predict", spy)
    results, _ = harness.evaluate_task(task, cfg, progress=False)
    assert results["protocol"] == "linear_fixed+aug3"
    assert any("3 augmented copies" in n for n in results["notes"])
    splits = harness.plan_splits(task, cfg)
    # per split: the full fit, then per seed the k = 2 draw and the all-label fit
    assert len(calls) == len(splits) * (1 + 2 * 2)
    augmented = [c for c in calls if len(c[1]) < len(task.y) // 2]
    assert len(augmented) == len(splits) * 2
    for i, (x_train, y_train, g_train) in enumerate(augmented):
        n = len(y_train) // 4
        assert n == 2 * 3  # 2 windows of each of 3 classes, then 3 copies of each
        rows = [int(np.flatnonzero((feats == r).all(axis=1))[0]) for r in x_train[:n]]
        split, draw = i // 2, i % 2
        copies = handcrafted_features(augmented_copies(task.X[rows], 3, seed=[0, draw, split]))
        np.testing.assert_allclose(x_train[n:], copies, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(y_train, np.tile(task.y[rows], 4))
        np.testing.assert_array_equal(g_train, np.tile(task.groups[rows], 4))
    monkeypatch.setattr(harness, "fit_predict", real)
    plain, _ = harness.evaluate_task(task, replace(cfg, few_shot_augment=0), progress=False)

    def all_labels(res):
        return [(r["metric"], r["values"]) for r in res["few_shot"] if r["k"] == "all"]

    assert all_labels(results) == all_labels(plain) and all_labels(plain)


@pytest.mark.parametrize(
    "change",
    [
        {"features": "minirocket", "protocol": "auto"},
        {"features": "random", "protocol": "finetune"},
        {"few_shot": [0]},
        {"few_shot": []},
    ],
)
def test_augmenting_where_it_cannot_apply_is_an_error_that_names_the_setting(tmp_path, change):
    path = sine_task(tmp_path, "syn", n_subjects=4, per=6, seed=0)
    cfg = EvalConfig(
        task=str(path), features="handcrafted", protocol="linear_fixed", few_shot=[2],
        few_shot_augment=2,
    )  # fmt: skip
    with pytest.raises(ValueError, match="few_shot_augment=2 adds augmented copies"):
        harness.evaluate(replace(cfg, **change), tmp_path / "out", progress=False)
