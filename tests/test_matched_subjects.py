"""Like-for-like comparisons: matched subjects and folds, the report's subject check, paired stats."""

import csv
import json

import numpy as np
import pytest
import torch

from conftest import TINY_ENCODER
from relcon.cli import main
from relcon.config import EvalConfig, PretrainConfig
from relcon.data.tasks import load_task
from relcon.eval.harness import evaluate, plan_splits
from relcon.eval.paired import SubjectMismatchError, bootstrap_ci, paired_mark
from relcon.eval.report import load_results, write_report
from relcon.eval.results import write_results
from relcon.eval.subjects import pretrained_users, read_subjects_file
from relcon.eval.suite import BenchmarkConfig, evaluate_tasks
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import save_model
from task_fixtures import sine_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _task(tmp_path, name, *, n_subjects=8, per=12, regression=False, fold=None):
    return sine_task(
        tmp_path, name, n_subjects=n_subjects, per=per, seed=len(name), regression=regression,
        fold=fold,
    )  # fmt: skip


def _encoder_run(path, train_users, method="relcon"):
    torch.manual_seed(0)
    save_model(
        path, ResNet1DEncoder(TINY_ENCODER), "encoder", step=0,
        extra={"train_users": train_users, "method": method},
    )  # fmt: skip
    return path


def _splits(result_file):
    res = json.loads(result_file.read_text())
    return [(s["name"], s["test_subjects"], s["n_test"]) for s in res["task"]["splits"]]


# ---- (a) the benchmark scores every method on the same subjects and folds -----------------------


def test_benchmark_evaluates_every_method_on_identical_subjects_and_folds(tmp_path, capsys):
    tasks = {
        "clf": _task(tmp_path, "clf"),
        "reg": _task(tmp_path, "reg", regression=True),
    }
    # two "pretrained" encoders that saw different users (one of them not even in the tasks)
    runs = {
        "relcon": _encoder_run(tmp_path / "pre/relcon", ["s5", "x9"]),
        "simclr": _encoder_run(tmp_path / "pre/simclr", ["s2"], method="simclr"),
    }
    evals = [
        ("relcon-linear", {"features": "model", "model": str(runs["relcon"]), "protocol": "linear"}),
        ("simclr-linear", {"features": "model", "model": str(runs["simclr"]), "protocol": "linear"}),
        ("random-linear", {"features": "random", "protocol": "linear"}),
        ("handcrafted-linear", {"features": "handcrafted", "protocol": "linear"}),
        ("handcrafted-rf", {"features": "handcrafted", "protocol": "rf"}),
    ]  # fmt: skip
    cfg = BenchmarkConfig(folds=3, few_shot=[], pretrain=PretrainConfig(encoder=TINY_ENCODER))
    files = evaluate_tasks(cfg, tasks, runs, tmp_path / "eval", evaluations=evals)
    assert len(files) == 10
    for name in tasks:
        per_method = {f.parent.name: _splits(f) for f in files if f.parent.parent.name == name}
        first = per_method["relcon-linear"]
        assert [n for n, _, _ in first] == ["fold0", "fold1", "fold2"]
        for method, splits in per_method.items():
            assert splits == first, f"{name}: {method} was scored on other subjects or folds"
        tested = sorted(s for _, subjects, _ in first for s in subjects)
        assert tested == ["s0", "s1", "s3", "s4", "s6", "s7"]  # s2 and s5 left out for all
        saved = json.loads((tmp_path / "eval" / name / "subjects.json").read_text())
        assert saved["subjects"] == tested and saved["pretrained_on"][str(runs["relcon"])] == ["s5"]
        assert read_subjects_file(tmp_path / "eval" / name / "subjects.json") == tested
        for f in (f for f in files if f.parent.parent.name == name):  # saved with every result
            assert json.loads(f.read_text())["config"]["subjects"] == tested

    # the report accepts them, and pairs every method with the RelCon probe per test subject
    out = write_report(load_results(files), tmp_path / "report")
    md = out["report.md"].read_text()
    assert "## Paired summary" in md and "(ref)" in md and "Not like for like" not in md
    with out["paired.csv"].open(newline="") as f:
        paired = list(csv.DictReader(f))
    assert {r["task"] for r in paired} == {"clf", "reg"}
    others = [r for r in paired if r["mark"] != "ref"]
    assert len(others) == 8 and all(r["reference"] == "relcon (linear)" for r in paired)
    assert all(r["unit"] == "subject" and r["n_units"] == "6" for r in others)
    assert {r["mark"] for r in others} <= {"win", "tie", "loss"}

    # a rerun reuses everything: the results were scored on the matched subjects
    capsys.readouterr()
    evaluate_tasks(cfg, tasks, runs, tmp_path / "eval", evaluations=evals)
    assert "== " not in capsys.readouterr().out


def test_benchmark_reruns_results_scored_on_other_subjects_or_of_another_format(tmp_path, capsys):
    tasks = {"clf": _task(tmp_path, "clf")}
    runs = {"relcon": _encoder_run(tmp_path / "pre/relcon", ["s5"])}
    evals = [("handcrafted-linear", {"features": "handcrafted", "protocol": "linear"})]
    cfg = BenchmarkConfig(folds=3, few_shot=[])
    path = tmp_path / "eval/clf/handcrafted-linear"
    # a result scored on every subject (not the matched ones): rerun
    evaluate(
        EvalConfig(task=str(tasks["clf"]), features="handcrafted", folds=3), path, progress=False
    )
    (f,) = evaluate_tasks(cfg, tasks, runs, tmp_path / "eval", evaluations=evals)
    assert "was not scored on the matched subjects; rerun" in capsys.readouterr().out
    assert "s5" not in {s for _, subjects, _ in _splits(f) for s in subjects}
    # a result on the matched subjects: kept as it is
    before = f.read_text()
    evaluate_tasks(cfg, tasks, runs, tmp_path / "eval", evaluations=evals)
    assert "== " not in capsys.readouterr().out and f.read_text() == before
    # the same result in a format this relcon does not read (no schema_version): rerun, never
    # upgraded
    res = json.loads(before)
    del res["schema_version"]
    f.write_text(json.dumps(res))
    evaluate_tasks(cfg, tasks, runs, tmp_path / "eval", evaluations=evals)
    assert "was not scored on the matched subjects; rerun" in capsys.readouterr().out
    assert json.loads(f.read_text())["schema_version"] == 1


# ---- relcon evaluate: explicit subject options, fold seeds, predefined folds ----------------------


def test_evaluate_options_match_two_methods_by_hand(tmp_path, capsys):
    task = _task(tmp_path, "clf")
    run = _encoder_run(tmp_path / "enc", ["s1", "s6"])
    keep = tmp_path / "keep.txt"
    keep.write_text("# the subjects to keep\ns0, s1 s2\ns3\ns4\ns5\ns6\nnobody\n")
    common = ["--task", str(task), "--folds", "2", "--fold-seeds", "2", "--no-progress",
              "--exclude-users-of", str(run), "--subjects", str(keep)]  # fmt: skip
    for method, protocol in (("handcrafted", "linear"), ("random", "linear")):
        out = tmp_path / method
        assert main(["evaluate", "--features", method, "--protocol", protocol,
                     "--set", "encoder.stem_filters=8", "--set", "encoder.stage_blocks=[1, 1]",
                     "--set", "encoder.stage_filters=[8, 16]", "--set", "encoder.stage_kernels=[3, 3]",
                     "--out", str(out), *common]) == 0  # fmt: skip
    a = json.loads((tmp_path / "handcrafted/results.json").read_text())
    assert a["config"]["exclude_users_of"] == [str(run)] and a["config"]["fold_seeds"] == 2
    assert "nobody" in a["config"]["subjects"]
    assert _splits(tmp_path / "handcrafted/results.json") == _splits(
        tmp_path / "random/results.json"
    )
    names = [s["name"] for s in a["task"]["splits"]]
    assert names == ["s0-fold0", "s0-fold1", "s1-fold0", "s1-fold1"]
    assert [s["fold_seed"] for s in a["task"]["splits"]] == [0, 0, 1, 1]
    assert a["task"]["subjects"] == ["s0", "s2", "s3", "s4", "s5"]  # s7 not listed, s1/s6 seen
    assert a["task"]["left_out_subjects"] == ["s1", "s6", "s7"]
    assert any("not in the task: nobody" in n for n in a["notes"])
    assert {r["split"] for r in a["folds"]} == set(names)
    # repeated fold seeds: each subject tested once per seed; the report averages them per subject
    files = write_report(
        load_results([tmp_path / "handcrafted", tmp_path / "random"]), tmp_path / "r"
    )
    with files["paired_units.csv"].open(newline="") as f:
        units = [r for r in csv.DictReader(f) if r["unit"] == "subject"]
    assert sorted(r["id"] for r in units) == a["task"]["subjects"]
    # the shipped model's pretraining users are found through "default"
    shipped = pretrained_users(["default"])["default"]
    assert len(shipped) > 10 and all(":" in u for u in shipped)


def test_predefined_folds_are_used_and_emptied_ones_dropped(tmp_path):
    path = _task(tmp_path, "loso", n_subjects=4, fold=lambda s: s)  # leave one subject out
    task = load_task(path)
    splits = plan_splits(task, EvalConfig(folds=5))
    assert [s.name for s in splits] == ["fold0", "fold1", "fold2", "fold3"]
    assert all(set(task.groups[s.test]) == {f"s{i}"} for i, s in enumerate(splits))
    res = evaluate(
        EvalConfig(task=str(path), features="handcrafted", subjects=["s0", "s2", "s3"]),
        tmp_path / "out",
        progress=False,
    )
    assert [s["name"] for s in res["task"]["splits"]] == ["fold0", "fold2", "fold3"]


# ---- (b) the report refuses runs scored on different subjects ----------------------------------


def test_report_refuses_mismatched_subjects_unless_allowed(tmp_path, capsys):
    task = _task(tmp_path, "clf")
    run = _encoder_run(tmp_path / "enc", ["s3"])
    a, b = tmp_path / "all", tmp_path / "matched"
    evaluate(EvalConfig(task=str(task), features="handcrafted", folds=2), a, progress=False)
    evaluate(
        EvalConfig(task=str(task), features="handcrafted", protocol="rf", folds=2,
                   exclude_users_of=[str(run)]),
        b, progress=False,
    )  # fmt: skip
    with pytest.raises(SubjectMismatchError) as e:
        write_report(load_results([a, b]), tmp_path / "report")
    msg = str(e.value)
    assert "not scored on the same test subjects" in msg and "allow_mismatch=True" in msg
    assert str(a / "results.json") in msg and str(b / "results.json") in msg
    assert "only in the first [" in msg and "s3" in msg.split("only in the first")[1]

    rc = main(["report", str(a), str(b), "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert rc == 2 and "not scored on the same test subjects" in err and str(a) in err
    assert "--allow-mismatch" in err and "allow_mismatch=True" not in err  # the flag, in the CLI
    assert not (tmp_path / "report" / "report.md").exists()

    assert (
        main(["report", str(a), str(b), "--out", str(tmp_path / "report"), "--allow-mismatch"]) == 0
    )
    md = (tmp_path / "report" / "report.md").read_text()
    assert "† Not like for like (`--allow-mismatch`)" in md and "**Not like for like**" in md
    with (tmp_path / "report" / "paired.csv").open(newline="") as f:
        (rf,) = [r for r in csv.DictReader(f) if r["protocol"] == "rf"]
    assert rf["n_folds"] == "0"  # folds with other test subjects are not paired
    assert rf["n_units"] == "7"  # the subjects both runs tested (s3 only in the first)


# ---- (c) the bootstrap interval of a paired difference -----------------------------------------


def test_bootstrap_interval_covers_a_known_shift_and_zero_when_there_is_none():
    rng = np.random.default_rng(1)
    noise = rng.normal(scale=0.02, size=30)
    shifted = bootstrap_ci(0.05 + noise, seed=0)
    assert shifted.n == 30 and shifted.low < 0.05 < shifted.high and shifted.low > 0
    assert paired_mark(shifted, lower_is_better=False) == "win"
    assert paired_mark(shifted, lower_is_better=True) == "loss"  # e.g. an MAE 0.05 higher
    null = bootstrap_ci(noise - noise.mean(), seed=0)
    assert null.low < 0 < null.high and paired_mark(null, lower_is_better=False) == "tie"
    assert bootstrap_ci(0.05 + noise, seed=0) == shifted  # seeded: reproducible
    assert 0.005 < shifted.high - shifted.low < 0.03  # ~ 4 standard errors (0.02 / sqrt(30))


def test_report_pairs_per_subject_and_reads_lower_is_better(tmp_path):
    """Two fake runs on a regression task: B's error is A's + 0.05 on every subject (+ noise)."""
    rng = np.random.default_rng(0)
    subjects = [f"p{i:02d}" for i in range(30)]
    truth = {s: rng.normal(size=20) for s in subjects}
    extra = dict(zip(subjects, 0.05 + rng.normal(scale=0.01, size=30), strict=True))
    folds = [subjects[i::3] for i in range(3)]
    for name, shift in (("A", {s: 0.0 for s in subjects}), ("B", extra)):
        d = tmp_path / name
        splits, fold_rows = [], []
        for k, fold in enumerate(folds):
            y = np.concatenate([truth[s] for s in fold])
            err = np.concatenate([np.full(20, 0.1 + shift[s]) for s in fold])
            groups = np.repeat(fold, 20)
            (d / f"fold{k}").mkdir(parents=True)
            np.savez(d / f"fold{k}/predictions.npz", y_true=y, y_pred=y + err, groups=groups)
            splits.append({"name": f"fold{k}", "n_train": 0, "n_test": len(y), "fold_seed": 0,
                           "test_subjects": sorted(fold),
                           "predictions": f"fold{k}/predictions.npz"})  # fmt: skip
            fold_rows.append({"name": name, "task": "gait", "protocol": "linear",
                              "split": f"fold{k}", "fold_seed": 0, "metric": "mae",
                              "value": float(err.mean())})  # fmt: skip
        values = [r["value"] for r in fold_rows]
        res = {
            "name": name, "features": "handcrafted", "protocol": "linear", "folds": fold_rows,
            "task": {"name": "gait", "type": "regression", "splits": splits},
            "rows": [{"name": name, "task": "gait", "protocol": "linear", "metric": "mae",
                      "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)),
                      "n": 3, "values": values}],
        }  # fmt: skip
        write_results(d / "results.json", res)
    files = write_report(load_results([tmp_path / "A", tmp_path / "B"]), tmp_path / "rep")
    with files["paired.csv"].open(newline="") as f:
        (b,) = [r for r in csv.DictReader(f) if r["name"] == "B"]
    assert b["reference"] == "A (linear)" and b["unit"] == "subject" and b["n_units"] == "30"
    assert float(b["ci_low"]) < float(np.mean(list(extra.values()))) < float(b["ci_high"])
    assert float(b["ci_low"]) > 0 and b["mark"] == "loss"  # a higher MAE loses
    assert b["folds_better"] == "0" and b["n_folds"] == "3"
    md = files["report.md"].read_text()
    assert "| B | linear |" in md and "**loss**" in md
    files = write_report(load_results([tmp_path / "A", tmp_path / "B"]), tmp_path / "rep2",
                         reference="B")  # fmt: skip
    with files["paired.csv"].open(newline="") as f:
        (a,) = [r for r in csv.DictReader(f) if r["name"] == "A"]
    assert a["mark"] == "win" and float(a["diff"]) < 0
