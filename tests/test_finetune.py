"""Supervised fine-tuning: it learns, splits by subject, round-trips, and respects freezing."""

import copy
import json

import numpy as np
import pytest
import torch

from conftest import TINY_ENCODER
from relcon.config import EncoderConfig, FinetuneConfig, to_dict
from relcon.eval.finetune import finetune
from relcon.eval.splits import split_subjects
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import load, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CODES = np.array([0, 1, 2, 12])  # non-contiguous class codes
FREQS = {0: 1.0, 1: 3.0, 2: 6.0, 12: 12.0}  # Hz: the class sets the frequency


def _windows(rng, freq, amp, n_subjects, per_subject, first_subject=0):
    """Sinusoids of the given frequency/amplitude per window on a random axis mix, with noise;
    every subject has its own gain and orientation."""
    t = np.arange(256) / 100
    x, groups = [], []
    for s in range(n_subjects):
        gain = rng.uniform(0.8, 1.2)
        axis = rng.standard_normal(3)
        axis /= np.linalg.norm(axis)
        sl = slice(s * per_subject, (s + 1) * per_subject)
        phase = rng.uniform(0, 2 * np.pi, (per_subject, 1))
        wave = amp[sl, None] * gain * np.sin(2 * np.pi * freq[sl, None] * t + phase)
        x.append(wave[:, :, None] * axis + 0.05 * rng.standard_normal((per_subject, 256, 3)))
        groups += [f"s{first_subject + s}"] * per_subject
    return np.concatenate(x).astype(np.float32), np.array(groups)


def _classification(rng, n_subjects, per_subject, first_subject=0):
    y = rng.choice(CODES, n_subjects * per_subject)
    freq = np.array([FREQS[c] for c in y])
    x, groups = _windows(rng, freq, np.ones(len(y)), n_subjects, per_subject, first_subject)
    return x, y, groups


@pytest.fixture(scope="module")
def clf_data():
    rng = np.random.default_rng(0)
    train = _classification(rng, n_subjects=8, per_subject=30)
    test = _classification(rng, n_subjects=3, per_subject=30, first_subject=100)
    return train, test


@pytest.fixture(scope="module")
def clf_model(clf_data):
    (x, y, g), _ = clf_data
    cfg = FinetuneConfig(epochs=15, batch_size=32, lr=3e-3, augment=True, device="cpu")
    return finetune(
        x, y, g, task_type="classification", encoder_config=TINY_ENCODER, cfg=cfg, n_classes=None
    )


def test_split_subjects_is_by_subject():
    groups = np.repeat([f"s{i}" for i in range(10)], 7)
    fit, val = split_subjects(groups, 0.2, seed=1)
    assert len(fit) + len(val) == len(groups) and len(np.unique(groups[val])) == 2
    assert not set(groups[fit]) & set(groups[val])
    fit, val = split_subjects(np.repeat(["a"], 5), 0.2)
    assert len(fit) == 5 and len(val) == 0  # one subject: nothing to validate on


def test_classification_from_scratch_with_noncontiguous_codes(clf_data, clf_model):
    (_, _, g), (x_test, y_test, _) = clf_data
    pred = clf_model.predict(x_test)
    assert set(np.unique(pred)) <= set(CODES.tolist())
    assert (pred == y_test).mean() > 0.8  # chance is 0.25, on subjects never seen
    assert clf_model.classes_.tolist() == CODES.tolist()
    proba = clf_model.predict_proba(x_test[:5])
    assert proba.shape == (5, 4) and np.allclose(proba.sum(1), 1, atol=1e-5)
    info = clf_model.info
    assert not set(info["train_subjects"]) & set(info["val_subjects"])
    assert set(info["train_subjects"]) | set(info["val_subjects"]) == set(g)
    hist = [h["val_loss"] for h in info["history"]]
    assert info["best_epoch"] == int(np.argmin(hist))  # the best epoch's weights are kept


def test_save_load_roundtrip(tmp_path, clf_data, clf_model):
    _, (x_test, _, _) = clf_data
    save_model(tmp_path / "m", clf_model)
    meta = json.loads((tmp_path / "m/model.json").read_text())
    assert meta["kind"] == "finetuned" and meta["classes"] == CODES.tolist()
    assert meta["task_type"] == "classification" and meta["config"]["epochs"] == 15
    loaded = load(tmp_path / "m", kind="finetuned")
    np.testing.assert_array_equal(loaded.predict(x_test), clf_model.predict(x_test))
    np.testing.assert_array_equal(loaded.outputs(x_test), clf_model.outputs(x_test))
    assert loaded.predict(x_test).dtype.kind == "i"
    assert not list(tmp_path.glob("m/.*.tmp"))  # atomic writes leave nothing behind


def test_regression_recovers_amplitude(tmp_path):
    rng = np.random.default_rng(1)
    n_subjects, per = 10, 30
    amp = rng.uniform(0.2, 2.0, n_subjects * per)
    freq = rng.uniform(1.0, 4.0, n_subjects * per)
    x, g = _windows(rng, freq, amp, n_subjects, per)
    train, test = g != "s9", g == "s9"
    cfg = FinetuneConfig(epochs=10, batch_size=32, lr=3e-3, head_hidden=16, device="cpu")
    model = finetune(
        x[train], amp[train] * 10, g[train], task_type="regression", encoder_config=TINY_ENCODER,
        cfg=cfg,
    )  # fmt: skip
    pred = model.predict(x[test])
    assert pred.dtype == np.float64 and pred.shape == (test.sum(),)
    assert np.corrcoef(pred, amp[test] * 10)[0, 1] > 0.8
    assert abs(model.target_mean - (amp[train] * 10).mean()) < 2  # mean of the fit subjects
    save_model(tmp_path / "r", model)
    np.testing.assert_allclose(load(tmp_path / "r").predict(x[test]), pred)


def test_frozen_encoder_is_unchanged_and_caller_encoder_untouched(clf_data):
    (x, y, g), _ = clf_data
    torch.manual_seed(0)
    pretrained = ResNet1DEncoder(TINY_ENCODER)
    pretrained.train()
    pretrained(torch.randn(16, 256, 3))  # non-trivial batch-norm statistics
    before = copy.deepcopy(pretrained.state_dict())
    keep = np.isin(y, [0, 2])
    for augment in (False, True):  # cached embeddings, and encoder passes with augmentation
        cfg = FinetuneConfig(epochs=2, freeze_encoder=True, augment=augment, device="cpu")
        model = finetune(
            x[keep], y[keep], g[keep], task_type="classification", n_classes=3,
            encoder=pretrained, encoder_config=TINY_ENCODER, cfg=cfg,
        )  # fmt: skip
        assert model.classes_.tolist() == [0, 1, 2]  # n_classes reserves the absent class 1
        for k, v in before.items():
            torch.testing.assert_close(model.encoder.state_dict()[k], v, rtol=0, atol=0)
    # full fine-tuning changes the copy, never the caller's encoder
    cfg = FinetuneConfig(epochs=1, device="cpu")
    model = finetune(x, y, g, task_type="classification", encoder=pretrained, cfg=cfg)
    assert any(not torch.equal(model.encoder.state_dict()[k], v) for k, v in before.items())
    for k, v in before.items():
        torch.testing.assert_close(pretrained.state_dict()[k], v, rtol=0, atol=0)


def test_argument_errors(clf_data):
    (x, y, g), _ = clf_data
    cfg = FinetuneConfig(epochs=1, device="cpu")
    with pytest.raises(ValueError, match="n_classes"):
        finetune(x, y, g, task_type="classification", n_classes=2, cfg=cfg)
    with pytest.raises(ValueError, match="task_type"):
        finetune(x, y, g, task_type="ranking", cfg=cfg)
    with pytest.raises(ValueError, match="does not match"):
        finetune(
            x, y, g, task_type="classification", encoder=ResNet1DEncoder(TINY_ENCODER),
            encoder_config=EncoderConfig(), cfg=cfg,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"\(N, T >= 256, 3\)"):
        finetune(x[:, :100], y, g, task_type="classification", cfg=cfg)
    assert json.dumps(to_dict(FinetuneConfig()))  # JSON-serialisable config


def test_finetune_cli_reports_validation_and_counts_what_it_trained_on(tmp_path, capsys):
    """``relcon finetune`` prints the validation score; model.json counts the windows and
    subjects trained on (not the whole task) beside those validated on."""
    from relcon.cli import main
    from relcon.data.tasks import Task, save_task
    from relcon.models.hub import save_model

    rng = np.random.default_rng(2)
    x, y, g = _classification(rng, n_subjects=10, per_subject=12)
    save_task(Task(X=x, y=np.searchsorted(CODES, y), groups=g, task_type="classification",
                   label_names=("a", "b", "c", "d"), name="synthetic"), tmp_path / "t.npz")  # fmt: skip
    save_model(tmp_path / "enc", ResNet1DEncoder(TINY_ENCODER), "encoder", step=0)
    rc = main(["finetune", "--task", str(tmp_path / "t.npz"), "--model", str(tmp_path / "enc"),
               "--out", str(tmp_path / "ft"), "--epochs", "2", "--device", "cpu", "--no-progress"])  # fmt: skip
    assert rc == 0
    meta = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert meta["n_task_windows"] == 120 and meta["n_task_subjects"] == 10
    assert meta["n_train_subjects"] == len(meta["train_subjects"]) == 8
    assert meta["n_val_subjects"] == len(meta["val_subjects"]) == 2
    assert meta["n_train_windows"] == 96 and meta["n_val_windows"] == 24
    val = meta["validation"]
    assert set(val) >= {"loss", "macro_f1", "kappa", "balanced_accuracy"}
    printed = capsys.readouterr().out
    assert "validation on 24 windows of 2 other subjects" in printed
    assert f"macro_f1 {val['macro_f1']:.3f}" in printed
    assert "trained on 96 windows of 8 subjects" in printed
