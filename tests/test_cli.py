"""The command line, as a user would call it."""

import json
import subprocess
import sys

import pytest

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
    res = json.loads((out / "results.json").read_text())
    rows = res["rows"]
    assert {r["method"] for r in rows} == {"RelCon", "Random init", "Hand-crafted"}
    assert {r["metric"] for r in rows} == {"macro_f1", "kappa"}
    for r in rows:
        assert set(r) >= {"method", "task", "metric", "mean", "std"}
        assert -1 <= r["mean"] <= 1 and r["std"] >= 0
    # handcrafted features separate six activities far above chance (1/6) even in the quick run
    hand = next(r for r in rows if r["method"] == "Hand-crafted" and r["metric"] == "macro_f1")
    assert hand["mean"] > 0.5
    assert not set(res["task"]["pretrain_users"]) & set(res["task"]["eval_users"])
    assert (out / "results.png").stat().st_size > 5000 and (out / "results.csv").is_file()
    assert (out / "relcon/model.safetensors").is_file() and (out / "distance/metrics.csv").is_file()
    # a second run refuses to overwrite; evaluate the demo's encoder through the CLI on held-out users
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 2
    users = res["task"]["eval_users"][:8]
    rc = main(["evaluate", "--checkpoint", str(out / "relcon"), "--data", "demo", "--users", *users,
               "--folds", "2", "--out", str(tmp_path / "ev.json"), "--no-progress"])  # fmt: skip
    assert rc == 0
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["task"]["n_subjects"] == 8 and {r["metric"] for r in ev["rows"]} >= {
        "macro_f1",
        "kappa",
    }
