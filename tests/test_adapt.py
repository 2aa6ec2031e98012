"""Continued pretraining inside an evaluation (``relcon evaluate --adapt-steps N``, issue 24).

Within each split the model continues pretraining on the windows of the split's training
subjects only, then is probed exactly as without adaptation: (a) the windows pretrained on are
exactly the training subjects' windows of each split, unlabelled, and the temporary run folders
are removed; (b) ``adapt_steps=0`` is the unadapted evaluation, bit for bit; (c) with steps, the
probe's features come from weights that differ from the model's and the results say "adapted";
(d) through the command line, and ``relcon report`` pairs the adapted run with the unadapted one.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import relcon.eval.adapt as adapt_mod
import relcon.eval.harness as harness
from conftest import TINY_DISTANCE, TINY_ENCODER
from relcon.cli import main
from relcon.config import EvalConfig, check_settings
from relcon.data.tasks import load_task
from relcon.eval.harness import evaluate_task, plan_splits
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model
from task_fixtures import sine_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the tiny model's own pretraining recipe (read from its model.json by the adaptation)
RECIPE = {"batch_size": 4, "within_user": 3}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A model folder as shipped: ``encoder/`` (with its run's recipe) and ``distance/``."""
    folder = tmp_path_factory.mktemp("bundle") / "m"
    torch.manual_seed(3)
    save_model(folder / "encoder", ResNet1DEncoder(TINY_ENCODER), "encoder", run_config=RECIPE)
    save_model(folder / "distance", MotifDistance.from_config(TINY_DISTANCE), "distance")
    return folder


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    return sine_task(tmp_path_factory.mktemp("task"), "sines", n_subjects=6, per=24, seed=0)


def _cfg(bundle, **kw) -> EvalConfig:
    settings = dict(model=str(bundle), folds=3, few_shot=[2], few_shot_seeds=1, device="cpu")
    return check_settings(EvalConfig(**settings | kw))


def _comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in ("seconds", "environment", "config")}


def _record_pretraining(monkeypatch) -> list[tuple]:
    """Wrap the adaptation's pretraining; each call's (segments, settings, run folder) is kept."""
    seen = []
    real = adapt_mod.pretrain

    def recording(cfg, out, *, segments, **kw):
        seen.append((segments, cfg, Path(out)))
        return real(cfg, out, segments=segments, **kw)

    monkeypatch.setattr(adapt_mod, "pretrain", recording)
    return seen


# ---- (a) the pretraining windows: the training subjects' of each split, never a test subject --
def test_pretrains_on_exactly_the_training_subjects_windows(bundle, task_file, monkeypatch):
    seen = _record_pretraining(monkeypatch)
    task, cfg = load_task(task_file), _cfg(bundle, adapt_steps=2)
    results = evaluate_task(task, cfg, progress=False).results

    splits = plan_splits(task, cfg)
    assert len(seen) == len(splits) == 3  # one adaptation per split, in split order
    for (segs, pre, out), split, info in zip(seen, splits, results["task"]["splits"], strict=True):
        train_subjects = set(task.groups[split.train])
        assert set(segs.user) == train_subjects
        assert not train_subjects & set(info["test_subjects"])
        np.testing.assert_array_equal(segs.x, task.X[split.train])  # every window, task order
        np.testing.assert_array_equal(segs.user, task.groups[split.train])
        assert (segs.label == -1).all()  # unlabelled: the labels never reach pretraining
        for user in train_subjects:  # consecutive windows of a subject, 2.56 s apart
            np.testing.assert_allclose(segs.start_s[segs.user == user], np.arange(24) * 2.56)
        assert (pre.steps, pre.init, pre.distance) == (2, str(bundle), str(bundle))
        assert (pre.batch_size, pre.within_user) == (4, 3)  # the model's own recipe
        assert info["adapt"]["windows"] == len(split.train) == info["n_train"]
        assert info["adapt"]["users"] == 4 and info["adapt"]["steps"] == 2
        assert not out.parent.exists()  # the temporary run folder is removed


# ---- (b) no steps: the unadapted evaluation, exactly ----------------------------------------
def test_zero_steps_is_the_unadapted_evaluation(bundle, task_file, monkeypatch):
    task = load_task(task_file)
    plain = evaluate_task(task, _cfg(bundle), progress=False)

    def never(*a, **k):
        raise AssertionError("pretrain called with adapt_steps=0")

    monkeypatch.setattr(adapt_mod, "pretrain", never)
    zero = evaluate_task(
        task, _cfg(bundle, adapt_steps=0, adapt_lr=0.5, adapt_method="simclr"), progress=False
    )
    assert _comparable(zero.results) == _comparable(plain.results)
    assert "adapt" not in zero.results and zero.results["name"] == "relcon (m)"
    for a, b in zip(zero.splits, plain.splits, strict=True):
        np.testing.assert_array_equal(a.y_pred, b.y_pred)
        np.testing.assert_array_equal(a.index, b.index)


# ---- (c) with steps: the probe sees adapted weights, and the results say so ---------------
def test_probe_features_come_from_adapted_weights(bundle, task_file, monkeypatch):
    original = load_file(str(bundle / "encoder" / "model.safetensors"))
    probed = []
    real = harness._make_trainer

    def recording(features, protocol, task, cfg, encoder, *args):
        probed.append({k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()})
        return real(features, protocol, task, cfg, encoder, *args)

    monkeypatch.setattr(harness, "_make_trainer", recording)
    results = evaluate_task(load_task(task_file), _cfg(bundle, adapt_steps=2), progress=False)[0]
    assert len(probed) == 3  # one encoder per split, built before that split's probes
    for state in probed:
        assert state.keys() == original.keys()
        assert any(not torch.equal(state[k], original[k].to(state[k].dtype)) for k in original)
    assert results["name"] == "relcon (m, adapted 2 steps)"
    assert all(r["name"] == results["name"] for r in results["rows"] + results["few_shot_runs"])
    assert results["adapt"]["method"] == "relcon" and results["adapt"]["steps"] == 2
    assert results["adapt"]["batch_size"] == 4  # the recipe used is recorded
    assert results["config"]["adapt_steps"] == 2
    sha = json.loads((bundle / "encoder" / "model.json").read_text())["safetensors_sha256"]
    assert all(s["adapt"]["init_sha256"] == sha for s in results["task"]["splits"])


def test_adapted_names_and_refusals(bundle, task_file):
    plan = adapt_mod.AdaptPlan("relcon", "d", "relcon-wrist-small", "relcon", {})
    cfg = EvalConfig(adapt_steps=200)
    name = adapt_mod.adapted_name("relcon-wrist-small (shipped)", cfg, plan)
    assert name == "relcon-wrist-small (shipped, adapted 200 steps)"
    assert adapt_mod.adapted_name("model", cfg, plan) == "model (adapted 200 steps)"
    other = plan._replace(method="simclr")
    assert (
        adapt_mod.adapted_name("relcon (r)", cfg, other) == "relcon (r, adapted 200 simclr steps)"
    )
    task = load_task(task_file)
    with pytest.raises(ValueError, match=r"features.{1,3}model"):
        evaluate_task(task, EvalConfig(features="handcrafted", adapt_steps=2), progress=False)
    encoder = ResNet1DEncoder(TINY_ENCODER)  # an object names no distance of its own
    with pytest.raises(ValueError, match=r"adapt.distance"):
        evaluate_task(task, dataclasses.replace(_cfg(""), adapt_steps=2), encoder=encoder)


def test_adapt_batch_size_sets_the_anchors_per_step_and_caps_the_candidates(
    bundle, task_file, monkeypatch
):
    meta = {"method": "relcon", "config": {"batch_size": 256, "between_user": 63, "tau": 0.1}}
    cfg = EvalConfig(model=str(bundle), adapt_steps=200, adapt_batch_size=16)
    plan = adapt_mod.plan_adapt(cfg, "model", meta)
    assert plan.recipe == {"batch_size": 16, "between_user": 15, "tau": 0.1}
    small = adapt_mod.plan_adapt(dataclasses.replace(cfg, adapt_batch_size=100), "model", meta)
    assert small.recipe["between_user"] == 63  # already below the cap: the model's own
    own = adapt_mod.plan_adapt(dataclasses.replace(cfg, adapt_batch_size=0), "model", meta)
    assert own.recipe == meta["config"]
    assert adapt_mod.adapted_name("relcon-wrist-full (shipped)", cfg, plan) == (
        "relcon-wrist-full (shipped, adapted 200 steps of 16 anchors)"
    )
    with pytest.raises(ValueError, match=r"adapt.batch.size"):
        check_settings(EvalConfig(adapt_batch_size=-1))
    seen = _record_pretraining(monkeypatch)
    task = load_task(task_file)
    results = evaluate_task(task, _cfg(bundle, adapt_steps=1, adapt_batch_size=2), progress=False)
    assert [(pre.batch_size, pre.within_user) for _, pre, _ in seen] == [(2, 3)] * 3
    assert results.results["adapt"]["batch_size"] == 2
    assert results.results["name"] == "relcon (m, adapted 1 step of 2 anchors)"


# ---- (d) the command line, and the report's paired row ----------------------------------
def test_cli_adapted_run_is_paired_with_the_unadapted_one(bundle, task_file, tmp_path):
    common = ["evaluate", "--task", str(task_file), "--model", str(bundle), "--folds", "3",
              "--few-shot", "2", "--few-shot-seeds", "1", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--adapt-steps", "2", "--out", str(tmp_path / "adapted")]) == 0
    adapted = json.loads((tmp_path / "adapted" / "results.json").read_text())
    assert adapted["name"] == "relcon (m, adapted 2 steps)"
    assert adapted["config"]["adapt_steps"] == 2
    rc = main(["report", str(tmp_path / "plain"), str(tmp_path / "adapted"), "--out",
               str(tmp_path / "report"), "--reference", "relcon (m)", "--resamples", "200"])  # fmt: skip
    assert rc == 0
    with (tmp_path / "report" / "paired.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["name"] == adapted["name"]]
    assert {r["k"] for r in rows} == {"all", "2"}  # full labels and the few-shot k
    assert all(
        r["reference"] == "relcon (m) (linear)" and r["mark"] in ("win", "tie", "loss")
        for r in rows
    )
    assert all(int(r["n_units"]) == 6 for r in rows)  # paired on the same six subjects
