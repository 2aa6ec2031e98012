"""docs/notebook.py runs top to bottom, and its array API gives exactly the scores of ``relcon
evaluate`` on the same arrays saved as a task file (issue 21: "a notebook-style script in docs/,
run by the tests ... gets the same numbers as relcon evaluate on the same task file")."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from relcon.cli import main
from relcon.data.tasks import Task, save_task

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebook.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def test_the_notebook_gets_the_numbers_of_relcon_evaluate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RELCON_NOTEBOOK_DIR", str(tmp_path / "notebook"))
    ns = runpy.run_path(str(NOTEBOOK), run_name="__main__")
    capsys.readouterr()
    X, y, groups, api = ns["X"], ns["y"], ns["groups"], ns["results"]
    assert X.shape[1:] == (256, 3) and ns["Z"].shape == (len(X), ns["encoder"].embed_dim)

    # the same arrays as a task file, evaluated by the command (independently of the notebook)
    path = tmp_path / "T.npz"
    save_task(Task(X=X, y=y, groups=groups, task_type="classification", name="T"), path)
    out = tmp_path / "R"
    argv = ["evaluate", "--task", str(path), "--model", ns["MODEL"], "--folds", str(ns["FOLDS"])]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    cli = json.loads((out / "results.json").read_text())

    assert cli["name"] == api["name"] == "relcon-wrist-small (shipped)"
    assert (cli["features"], cli["protocol"]) == (api["features"], api["protocol"])
    rows_cli, rows_api = _by(cli["rows"], "metric"), _by(api["rows"], "metric")
    assert set(rows_cli) == set(rows_api) == {("macro_f1",), ("kappa",), ("balanced_accuracy",)}
    for key, row in rows_cli.items():
        for field in ("mean", "std", "n", "values"):
            assert row[field] == rows_api[key][field], (key, field)  # exactly, not approximately
    folds_cli, folds_api = (
        _by(cli["folds"], "split", "metric"),
        _by(api["folds"], "split", "metric"),
    )
    assert {k: r["value"] for k, r in folds_cli.items()} == {
        k: r["value"] for k, r in folds_api.items()
    }
    assert cli["confusion"][0]["matrix"] == api["confusion"][0]["matrix"]
    assert [r["mean"] for r in cli["per_class_f1"]] == [r["mean"] for r in api["per_class_f1"]]
    for a, b in zip(cli["task"]["splits"], api["task"]["splits"], strict=True):
        assert (a["name"], a["test_subjects"], a["n_train"]) == (
            b["name"], b["test_subjects"], b["n_train"],
        )  # fmt: skip
    # the comparison means something: the scores are neither perfect nor at chance, and differ
    # between folds
    f1 = rows_api[("macro_f1",)]
    assert 0.45 < f1["mean"] < 0.95 and len(set(f1["values"])) > 1

    # the notebook's own command-line run wrote the same scores
    from_notebook = json.loads((tmp_path / "notebook" / "cli" / "results.json").read_text())
    assert [(r["metric"], r["values"]) for r in from_notebook["rows"]] == [
        (r["metric"], r["values"]) for r in cli["rows"]
    ]
    # and the fine-tuned model predicts class codes of the task
    assert set(np.unique(ns["y_hat"])) <= {0, 1, 2} and len(ns["y_hat"]) == ns["test"].sum()
