"""relcon.api (``relcon.embed``, ``relcon.evaluate``, ``relcon.finetune``, ``relcon.predict``):
arrays in, arrays out, with the settings of the commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import relcon
from conftest import TINY_ENCODER
from relcon.config import EvalConfig, FinetuneConfig
from relcon.data.tasks import load_task
from relcon.eval.harness import evaluate
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model
from task_fixtures import sine_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def task_file(tmp_path):
    return sine_task(tmp_path, "syn", n_subjects=6, per=18, seed=0)


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    return save_model(tmp_path / "tiny", ResNet1DEncoder(TINY_ENCODER), "encoder", step=0)


def test_top_level_names_are_the_api():
    import relcon.api

    for name in ("embed", "evaluate", "finetune", "predict"):
        assert getattr(relcon, name) is getattr(relcon.api, name)
    with pytest.raises(AttributeError, match="no attribute 'evaluat'"):
        relcon.evaluat  # noqa: B018


def test_evaluate_arrays_is_relcon_evaluate(tmp_path, task_file, tiny):
    """Keywords are EvalConfig's fields; the scores are those of the file-writing harness."""
    task = load_task(task_file)
    cfg = EvalConfig(task=str(task_file), model=str(tiny), folds=3, few_shot=[2], device="cpu")
    expected = evaluate(cfg, tmp_path / "out", progress=False)
    got = relcon.evaluate(
        task.X, task.y, task.groups, tiny, label_names=task.label_names, folds=3, few_shot=[2],
        device="cpu",
    )  # fmt: skip
    for part in ("rows", "folds", "few_shot", "confusion"):
        assert [dict(r, task="") for r in got[part]] == [
            dict(r, task="") for r in expected[part]
        ], part
    # the same through an options object, with a keyword overriding it; numpy scalars accepted
    options = EvalConfig(folds=2, few_shot=[2], device="cpu")
    again = relcon.evaluate(task.X, task.y, task.groups, tiny, options=options, folds=np.int64(3))
    assert again["few_shot"] == got["few_shot"] and again["config"]["folds"] == 3
    assert options.folds == 2  # not changed


def test_evaluate_settings_are_checked(task_file):
    task = load_task(task_file)
    data = (task.X, task.y, task.groups)
    with pytest.raises(ValueError, match="'checkpoint' was renamed 'model'"):
        relcon.evaluate(*data, checkpoint="default")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['fold'\]"):
        relcon.evaluate(*data, features="handcrafted", fold=3)
    with pytest.raises(ValueError, match="folds=1 must be at least 2"):
        relcon.evaluate(*data, features="handcrafted", folds=1)
    with pytest.raises(ValueError, match="task= is relcon evaluate's source"):
        relcon.evaluate(*data, task="x.npz")
    with pytest.raises(ValueError, match="only measured with features='model'"):
        relcon.evaluate(*data, "default", features="handcrafted")
    with pytest.raises(TypeError, match="options must be a EvalConfig"):
        relcon.evaluate(*data, options=FinetuneConfig())


def test_evaluate_defaults_to_the_shipped_model():
    """model=None is the shipped default (as relcon.load); other features need no model."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.05, (24, 256, 3)).astype(np.float32)
    X[..., 2] += 1
    y, groups = np.arange(24) % 2, np.repeat(["a", "b", "c", "d"], 6)
    res = relcon.evaluate(X, y, groups, folds=2, device="cpu", max_train_windows=12)
    assert res["name"] == "relcon-wrist-full (shipped)" and res["model"] == "default"
    res = relcon.evaluate(X, y, groups, features="random", encoder=TINY_ENCODER, folds=2)
    assert res["name"] == "random" and res["model"] is None


def test_embed_finetune_predict(task_file, tiny):
    task = load_task(task_file)
    z = relcon.embed(task.X, tiny, device="cpu")
    np.testing.assert_array_equal(z, relcon.load(tiny).embed(task.X))
    zs = relcon.embed(task.X, tiny, device="cpu", pooling="stages")  # the last columns: z
    np.testing.assert_array_equal(zs[:, -z.shape[1] :], z)
    model = relcon.finetune(
        task.X, task.y, None, tiny, label_names=["slow", "mid", "fast"], epochs=2,
        batch_size=16, device="cpu",
    )  # fmt: skip
    assert model.classes_.tolist() == [0, 1, 2] and model.info["label_names"][2] == "fast"
    # groups=None: every window its own subject
    assert model.info["n_train_subjects"] + model.info["n_val_subjects"] == len(task.X)
    pred = relcon.predict(task.X, model, device="cpu")
    assert pred.shape == (len(task.X),) and set(pred) <= {0, 1, 2}
    proba = relcon.predict(task.X, model, device="cpu", proba=True)
    assert proba.shape == (len(task.X), 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(model.classes_[proba.argmax(1)], pred)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        relcon.finetune(task.X, task.y, task.groups, tiny, epoch=2)
    regression = relcon.finetune(
        task.X, task.y.astype(float), task.groups, relcon.load(tiny), epochs=1, device="cpu",
        options=FinetuneConfig(batch_size=32),
    )  # fmt: skip
    assert regression.task_type == "regression" and regression.info["config"]["batch_size"] == 32
    assert relcon.predict(task.X[:5], regression, device="cpu").dtype == np.float64


def test_load_puts_the_model_where_device_says(monkeypatch):
    """``relcon.load`` picks the device as every command's ``--device`` does: ``"auto"`` by
    default (CUDA when available), and a named device moves the weights there."""
    meta = relcon.load("relcon-wrist-small", device="meta")
    assert {p.device.type for p in meta.parameters()} == {"meta"}
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert {p.device.type for p in relcon.load("relcon-wrist-small").parameters()} == {auto}
    if auto == "cpu":  # with CUDA said to be there, the default tries it (and fails here)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        with pytest.raises((RuntimeError, AssertionError), match=r"(?i)cuda|nvidia|driver"):
            relcon.load("relcon-wrist-small")
    model = relcon.load("relcon-wrist-small", device="cpu")
    assert relcon.load(model, device="meta") is model  # an object is moved, not copied
    assert next(model.parameters()).device.type == "meta"


def test_evaluate_fixed_c_is_the_linear_fixed_penalty_and_names_the_protocol(task_file):
    task = load_task(task_file)
    args = (task.X, task.y, task.groups)
    kw = dict(features="handcrafted", protocol="linear_fixed", folds=3, few_shot=[2], device="cpu")
    out = relcon.evaluate(*args, fixed_c=0.03, **kw)
    assert out["protocol"] == "linear_fixed-C0.03" and out["config"]["fixed_c"] == 0.03
    assert {r["protocol"] for r in out["rows"] + out["few_shot"]} == {"linear_fixed-C0.03"}
    default = relcon.evaluate(*args, **kw)
    assert default["protocol"] == "linear_fixed" and default["config"]["fixed_c"] is None
    with pytest.raises(ValueError, match=r"fixed_c=0\.03 sets the penalty of protocol"):
        relcon.evaluate(*args, fixed_c=0.03, **dict(kw, protocol="linear"))
    with pytest.raises(ValueError, match="regression task"):
        relcon.evaluate(
            task.X, task.y * 0.5 + 0.1, task.groups, task_type="regression", fixed_c=0.03, **kw
        )
    with pytest.raises(ValueError, match="fixed_c"):
        relcon.evaluate(*args, fixed_c=-1.0, **kw)
