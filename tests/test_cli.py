"""The command line, as a user would call it."""

import json
import statistics
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from relcon.cli import main

COMMANDS = ["demo", "train-distance", "pretrain", "evaluate"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--out" in out
    # only the commands that can continue a run offer --resume (evaluate's used to do nothing)
    assert ("--resume" in out) == (cmd != "evaluate")


def test_console_script_and_module_entry_points():
    r = subprocess.run(
        [sys.executable, "-m", "relcon", "--version"], capture_output=True, text=True, check=True
    )
    assert r.stdout.startswith("relcon ")


def test_print_config_layers_file_flags_and_set(tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("steps: 11\nbatch_size: 9\nencoder:\n  stem_filters: 16\n")
    rc = main(["pretrain", "--out", str(tmp_path / "o"), "--config", str(cfg), "--batch-size", "5",
               "--set", "encoder.stage_blocks=[2, 2, 2]", "--set", "data.block_seconds=60", "--print-config"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "steps = 11" in out and "batch_size = 5" in out and "stem_filters = 16" in out
    assert "stage_blocks = [\n    2,\n    2,\n    2,\n]" in out or "stage_blocks = [2, 2, 2]" in out
    assert "block_seconds = 60.0" in out


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "p.toml"
    cfg.write_text("no_such_setting = 1\n")
    assert main(["pretrain", "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "no_such_setting" in err and "p.toml" in err


def test_demo_quick_end_to_end(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "demo.json").read_text())
    rows = res["rows"]
    assert {r["method"] for r in rows} == {"RelCon", "Random init", "Hand-crafted"}
    assert {r["metric"] for r in rows} == {"macro_f1", "kappa"}
    for r in rows:  # each summary is the mean and sample std of its folds' scores
        folds = [f["value"] for f in res["folds"] if (f["method"], f["metric"]) == (r["method"], r["metric"])]  # fmt: skip
        assert r["n"] == len(folds) == 3
        assert r["mean"] == pytest.approx(statistics.fmean(folds))
        assert r["std"] == pytest.approx(statistics.stdev(folds))
    # handcrafted features separate six activities far above chance (1/6) even in the quick run
    hand = next(r for r in rows if r["method"] == "Hand-crafted" and r["metric"] == "macro_f1")
    assert hand["mean"] > 0.5
    assert not set(res["task"]["pretrain_users"]) & set(res["task"]["eval_users"])
    assert (out / "demo.png").stat().st_size > 5000 and (out / "demo.csv").is_file()
    assert not (out / "results.json").exists()  # that name is relcon.eval.results' format
    assert (out / "relcon/model.safetensors").is_file() and (out / "distance/metrics.csv").is_file()
    # a second run refuses to overwrite; evaluate the demo's encoder through the CLI on held-out users
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 2
    users = res["task"]["eval_users"][:8]
    rc = main(["evaluate", "--model", str(out / "relcon"), "--data", "demo", "--users", *users,
               "--folds", "2", "--out", str(tmp_path / "ev.json"), "--no-progress"])  # fmt: skip
    assert rc == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["task"]["n_subjects"] == 8
    # every fold's scores are sklearn's on the predictions it wrote; the folds' test subjects
    # partition the eight users
    seen: list[str] = []
    for split in ev["task"]["splits"]:
        with np.load(tmp_path / split["predictions"]) as p:
            y_true, y_pred, groups = p["y_true"], p["y_pred"], p["groups"]
        assert len(y_true) == split["n_test"] and sorted(set(groups)) == split["test_subjects"]
        seen += split["test_subjects"]
        got = {f["metric"]: f["value"] for f in ev["folds"] if f["split"] == split["name"]}
        assert got["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
        assert got["kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred))
    assert sorted(seen) == sorted(users)
    f1_row = next(r for r in ev["rows"] if r["metric"] == "macro_f1")
    folds_f1 = [f["value"] for f in ev["folds"] if f["metric"] == "macro_f1"]
    assert f1_row["mean"] == pytest.approx(statistics.fmean(folds_f1))
