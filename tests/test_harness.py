"""The evaluation harness end to end on small synthetic tasks."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import TINY_ENCODER
from relcon.config import EvalConfig, FinetuneConfig
from relcon.eval.harness import evaluate
from relcon.eval.report import load_results, write_report
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model
from task_fixtures import sine_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sine_task(tmp_path, n_subjects=6, per=24, regression=False, split=False, name="syn"):
    return sine_task(
        tmp_path, name, n_subjects=n_subjects, per=per, seed=0, regression=regression, split=split
    )


def test_handcrafted_linear_kfold_with_few_shot(tmp_path):
    path = _sine_task(tmp_path)
    cfg = EvalConfig(
        task=str(path), features="handcrafted", folds=3, few_shot=[1, 5, 0], few_shot_seeds=2
    )
    res = evaluate(cfg, tmp_path / "out", progress=False)
    rows = {r["metric"]: r for r in res["rows"]}
    assert rows["macro_f1"]["mean"] > 0.9 and rows["macro_f1"]["n"] == 3  # frequency is easy
    assert res["protocol"] == "linear"
    ks = {r["k"] for r in res["few_shot"]}
    assert ks == {1, 5, "all"}
    f1 = {r["k"]: r["mean"] for r in res["few_shot"] if r["metric"] == "macro_f1"}
    assert f1["all"] >= f1[1] - 0.05
    for k in range(3):  # one folder per fold, each with its predictions and scores
        pred = np.load(tmp_path / f"out/fold{k}/predictions.npz")
        scores = json.loads((tmp_path / f"out/fold{k}/scores.json").read_text())
        assert len(pred["y_pred"]) == scores["n_test"]
    test_subjects = [
        set(np.load(tmp_path / f"out/fold{k}/predictions.npz")["groups"]) for k in range(3)
    ]
    assert not (test_subjects[0] & test_subjects[1]) and len(set().union(*test_subjects)) == 6
    assert res["confusion"][0]["labels"] == ["1Hz", "3Hz", "5Hz"]
    with pytest.raises(FileExistsError):
        evaluate(cfg, tmp_path / "out", progress=False)


def test_fixed_split_regression_and_encoder_checkpoint_leaves_out_seen_users(tmp_path):
    path = _sine_task(tmp_path, regression=True, split=True, name="amp")
    torch.manual_seed(0)
    run = tmp_path / "enc"
    save_model(
        run,
        ResNet1DEncoder(TINY_ENCODER),
        "encoder",
        step=0,
        extra={"train_users": ["s5"], "method": "simclr"},
    )
    cfg = EvalConfig(task=str(path), model=str(run), protocol="linear")
    res = evaluate(cfg, tmp_path / "r.json", progress=False)
    (split,) = res["task"]["splits"]  # s5 left out
    assert (split["name"], split["n_train"], split["n_test"]) == ("fixed", 72, 48)
    assert split["test_subjects"] == ["s0", "s1"] and split["n_train_subjects"] == 3
    assert split["predictions"] == "r/fixed/predictions.npz" and split["fold_seed"] is None
    assert res["task"]["left_out_subjects"] == ["s5"]
    assert any("seen in pretraining" in n for n in res["notes"])
    assert res["name"].startswith("simclr") and res["features"] == "model"
    assert res["model"] == str(run)
    metrics = {r["metric"] for r in res["rows"]}
    assert metrics == {"mae", "rmse", "pearson", "spearman"}
    assert (tmp_path / "r" / "fixed" / "predictions.npz").is_file()


def test_supervised_finetune_and_report(tmp_path):
    path = _sine_task(tmp_path, n_subjects=6)
    cfg = EvalConfig(
        task=str(path), features="supervised", encoder=TINY_ENCODER, folds=2,
        finetune=FinetuneConfig(epochs=20, batch_size=16, lr=3e-3, patience=6),
    )  # fmt: skip
    res = evaluate(cfg, tmp_path / "sup", progress=False)
    assert res["protocol"] == "finetune"
    assert {r["metric"]: r["mean"] for r in res["rows"]}["macro_f1"] > 0.5  # chance is 1/3
    hand = evaluate(
        EvalConfig(task=str(path), features="handcrafted", protocol="rf", folds=2),
        tmp_path / "rf",
        progress=False,
    )
    files = write_report(load_results([tmp_path / "sup", tmp_path / "rf"]), tmp_path / "report")
    md = (
        files["report.md"].read_text()
        if "report.md" in files
        else (tmp_path / "report/report.md").read_text()
    )
    assert "supervised" in md and "handcrafted" in md and "**" in md
    assert hand["rows"]


def test_val_folds_cross_validates_the_choice_and_names_the_protocol(tmp_path, capsys):
    """``val_folds``: the probe's choice cross-validated over inner folds of each fold's
    training subjects; results and reports call the protocol ``linear-cv3``, so both choices
    of one probe are reported side by side; a probe that chooses nothing refuses it."""
    from relcon.cli import main

    path = _sine_task(tmp_path)
    evaluate(EvalConfig(task=str(path), features="handcrafted", folds=3),
             tmp_path / "one", progress=False)  # fmt: skip
    cfg = EvalConfig(task=str(path), features="handcrafted", folds=3, val_folds=3, few_shot=[0])
    res = evaluate(cfg, tmp_path / "cv", progress=False)
    assert res["protocol"] == "linear-cv3" and res["config"]["val_folds"] == 3
    assert {r["protocol"] for r in [*res["rows"], *res["few_shot"]]} == {"linear-cv3"}
    for k in range(3):  # each fold's 4 training subjects, each validated once
        scores = json.loads((tmp_path / f"cv/fold{k}/scores.json").read_text())
        inner = scores["info"]["inner_folds"]
        assert sorted(s for f in inner for s in f) == sorted(
            set(res["task"]["subjects"]) - set(scores["test_subjects"])
        )
        assert scores["info"]["val_folds"] == len(inner) == 3
    loaded = load_results([tmp_path / "one", tmp_path / "cv"])
    write_report(loaded, tmp_path / "report", reference="handcrafted:linear")
    with open(tmp_path / "report/paired.csv") as f:
        paired = {(r["protocol"], r["k"]): r["mark"] for r in csv.DictReader(f)}
    assert paired[("linear", "all")] == "ref" and paired[("linear-cv3", "all")] != "ref"
    for protocol in ("nearest_centroid", "finetune"):
        bad = replace(
            cfg, protocol=protocol, features="random" if protocol == "finetune" else "handcrafted"
        )
        with pytest.raises(ValueError, match=r"val_folds=3 .*protocol '" + protocol):
            evaluate(bad, tmp_path / "x", progress=False)
    rc = main(["evaluate", "--task", str(path), "--features", "handcrafted", "--val-folds", "0",
               "--out", str(tmp_path / "y")])  # fmt: skip
    assert rc != 0
    assert "--val-folds 0 must be at least 1" in capsys.readouterr().err


def test_bad_pairs_and_too_few_subjects(tmp_path):
    path = _sine_task(tmp_path, n_subjects=3)
    with pytest.raises(ValueError, match="finetune"):
        evaluate(
            EvalConfig(task=str(path), features="supervised", protocol="linear"),
            tmp_path / "a",
            progress=False,
        )
    with pytest.raises(ValueError, match="fewer than folds"):
        evaluate(
            EvalConfig(task=str(path), features="handcrafted", folds=5),
            tmp_path / "b",
            progress=False,
        )
    with pytest.raises(ValueError, match="features 'model' needs model"):
        evaluate(EvalConfig(task=str(path), features="model"), tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="give model"):
        evaluate(EvalConfig(task=str(path)), tmp_path / "c", progress=False)
    # 'random' is features, not a model; a model given with other features is not measured
    with pytest.raises(ValueError, match="'random' is not a model but features"):
        evaluate(EvalConfig(task=str(path), model="random"), tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="only measured with features='model'"):
        evaluate(
            EvalConfig(task=str(path), model="default", features="handcrafted"),
            tmp_path / "c",
            progress=False,
        )


def test_max_train_windows_subsamples_each_split(tmp_path):
    path = _sine_task(tmp_path)
    cfg = EvalConfig(task=str(path), features="handcrafted", folds=3, max_train_windows=40)
    res = evaluate(cfg, tmp_path / "sub", progress=False)
    for k in range(3):
        scores = json.loads((tmp_path / f"sub/fold{k}/scores.json").read_text())
        info = scores["info"]
        assert scores["n_train"] == 96  # 4 training subjects x 24 windows
        assert info["n_fit"] + info["n_val"] == 40
        assert info["train_subsample"].startswith("40 of 96")
    assert {r["metric"]: r for r in res["rows"]}["macro_f1"]["mean"] > 0.8


def test_evaluate_task_in_memory_is_what_evaluate_writes(tmp_path):
    """The core (no files) and the command's wrapper give the same results and predictions."""
    from relcon.data.tasks import load_task
    from relcon.eval.harness import evaluate_task
    from relcon.eval.results import read_results

    path = _sine_task(tmp_path)
    cfg = EvalConfig(
        task=str(path), features="handcrafted", folds=3, few_shot=[1], few_shot_seeds=2
    )
    written = evaluate(cfg, tmp_path / "out.json", progress=False)
    results, splits = evaluate_task(load_task(path), cfg, progress=False)
    assert not (tmp_path / "fold0").exists()  # the core wrote nothing
    on_disk = read_results(tmp_path / "out.json")
    for part in ("rows", "folds", "few_shot", "few_shot_runs", "confusion", "per_class_f1"):
        assert results[part] == written[part] == on_disk[part], part
    assert [s["predictions"] for s in results["task"]["splits"]] == [
        f"fold{k}/predictions.npz" for k in range(3)
    ]  # relative to a results folder; the wrapper put them beside out.json
    assert [s["predictions"] for s in on_disk["task"]["splits"]] == [
        f"out/fold{k}/predictions.npz" for k in range(3)
    ]
    for split in splits:
        saved = np.load(tmp_path / "out" / split.name / "predictions.npz")
        for key in ("index", "y_true", "y_pred", "groups"):
            np.testing.assert_array_equal(saved[key], getattr(split, key))
        scores = json.loads((tmp_path / "out" / split.name / "scores.json").read_text())
        assert scores == json.loads(json.dumps(split.scores))


def test_evaluate_task_with_an_encoder_object(tmp_path):
    """An encoder given as an object scores as the same encoder loaded from its folder; its
    pretraining users are unknown (a note says so) and it is named 'model'."""
    from relcon.data.tasks import load_task
    from relcon.eval.harness import evaluate_task

    path = _sine_task(tmp_path)
    torch.manual_seed(0)
    encoder = ResNet1DEncoder(TINY_ENCODER)
    save_model(tmp_path / "enc", encoder, "encoder", step=0)
    cfg = EvalConfig(folds=3, device="cpu")
    task = load_task(path)
    from_files = evaluate_task(task, replace(cfg, model=str(tmp_path / "enc")), progress=False)
    from_object = evaluate_task(task, cfg, encoder=encoder, progress=False)
    assert from_object.results["rows"] == [
        dict(r, name="model") for r in from_files.results["rows"]
    ]
    assert from_object.results["name"] == "model" and from_object.results["model"] is None
    assert any("given as an object" in n for n in from_object.results["notes"])
    with pytest.raises(ValueError, match="only measured with features='model'"):
        evaluate_task(task, replace(cfg, features="handcrafted"), encoder=encoder)


def test_stage_pooling_is_every_stages_time_average(tmp_path):
    """``pooling="stages"``: the time-averages of each stage's last block output (taken here
    with forward hooks, independently of the encoder's own loop), first stage first; its last
    ``embed_dim`` columns are the plain embedding. An evaluation with it probes those columns,
    is named for it, and a pooling that cannot apply is an error naming the setting."""
    torch.manual_seed(0)
    enc = ResNet1DEncoder(TINY_ENCODER).eval()
    x = np.random.default_rng(0).normal(size=(9, 256, 3)).astype(np.float32)
    ends = np.cumsum(TINY_ENCODER.stage_blocks) - 1  # index of each stage's last block
    seen: list[torch.Tensor] = []
    hooks = [enc.blocks[int(i)].register_forward_hook(lambda m, i, o: seen.append(o)) for i in ends]
    with torch.no_grad():
        enc(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    reference = torch.cat([o.mean(dim=-1) for o in seen], dim=1).numpy()
    stages = enc.embed(x, pooling="stages")
    assert stages.shape == (9, sum(TINY_ENCODER.stage_filters)) == (9, enc.pooled_dim("stages"))
    np.testing.assert_allclose(stages, reference, rtol=1e-5, atol=1e-6)  # float32, one pass
    np.testing.assert_array_equal(stages[:, -enc.embed_dim :], enc.embed(x))
    assert not enc.training  # left in the mode it was in (eval), as embed() leaves it
    enc.train()
    enc.embed(x, pooling="stages")
    assert enc.training
    enc.eval()
    with pytest.raises(ValueError, match=r"unknown pooling=.mean.: choose one of last, stages"):
        enc.embed(x, pooling="mean")

    path = _sine_task(tmp_path)
    run = tmp_path / "enc"
    save_model(run, enc, "encoder", step=0, extra={"train_users": [], "method": "relcon"})
    cfg = EvalConfig(task=str(path), model=str(run), folds=3, pooling="stages")
    res = evaluate(cfg, tmp_path / "out", progress=False)
    assert res["name"] == "relcon (enc, stages pooling)" and res["config"]["pooling"] == "stages"
    with pytest.raises(ValueError, match="pooling='stages' pools an encoder's embeddings"):
        evaluate(
            EvalConfig(task=str(path), features="handcrafted", folds=3, pooling="stages"),
            tmp_path / "h",
            progress=False,
        )
