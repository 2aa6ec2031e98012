"""The one results format (relcon.eval.results): its writer, its reader and what they refuse."""

from __future__ import annotations

import json
import math

import pytest

from relcon.eval.results import SCHEMA_VERSION, read_results, write_results


def _results() -> dict:
    run = {"name": "relcon-wrist-full (shipped)", "task": "syn", "protocol": "linear"}
    return {
        "name": run["name"], "features": "model", "model": "relcon-wrist-full",
        "protocol": "linear",
        "task": {"name": "syn", "type": "classification", "n_windows": 40, "n_subjects": 4,
                 "label_names": ["a", "b"], "subjects": ["s0", "s1", "s2", "s3"],
                 "left_out_subjects": [], "description": "",
                 "splits": [{"name": "fold0", "n_train": 20, "n_test": 20, "fold_seed": 0,
                             "n_train_subjects": 2, "test_subjects": ["s0", "s1"],
                             "predictions": "fold0/predictions.npz"}]},
        "rows": [{**run, "metric": "macro_f1", "mean": 0.8, "std": 0.0, "n": 1,
                  "values": [0.8]}],
        "folds": [{**run, "split": "fold0", "fold_seed": 0, "metric": "macro_f1", "value": 0.8}],
        "few_shot": [{**run, "k": "all", "metric": "macro_f1", "mean": 0.7, "std": float("nan"),
                      "n": 1, "values": [0.7]}],
        "few_shot_runs": [{**run, "k": "all", "seed": 0, "split": "fold0",
                           "metric": "macro_f1", "value": 0.7}],
        "per_class_f1": [{**run, "label": "a", "mean": 0.9, "std": 0.0, "n": 1}],
        "confusion": [{**run, "labels": ["a", "b"], "matrix": [[9, 1], [3, 7]]}],
        "notes": [], "task_notes": [], "config": {"folds": 2}, "environment": {},
        "seconds": 1.5,
    }  # fmt: skip


def test_round_trip(tmp_path):
    path = write_results(tmp_path / "results.json", _results())
    back = read_results(path)
    assert back["source"] == str(path) and back["schema_version"] == SCHEMA_VERSION
    assert back["name"] == "relcon-wrist-full (shipped)" and back["features"] == "model"
    assert back["rows"] == _results()["rows"] and back["task"] == _results()["task"]
    assert back["few_shot"][0]["k"] is None and math.isnan(back["few_shot"][0]["std"])
    assert back["confusion"][0]["matrix"] == [[9.0, 1.0], [3.0, 7.0]]
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary file left


def test_plain_json_has_the_documented_fields(tmp_path):
    write_results(tmp_path / "results.json", _results())
    data = json.loads((tmp_path / "results.json").read_text())
    assert next(iter(data)) == "schema_version" and data["schema_version"] == SCHEMA_VERSION
    for key in ("name", "features", "model", "protocol", "task", "rows", "folds", "few_shot",
                "few_shot_runs", "per_class_f1", "confusion", "notes", "task_notes", "config",
                "environment", "seconds"):  # fmt: skip
        assert key in data, key
    assert set(data["rows"][0]) == {"name", "task", "protocol", "metric", "mean", "std", "n",
                                    "values"}  # fmt: skip
    assert set(data["task"]["splits"][0]) == {"name", "n_train", "n_test", "fold_seed",
                                              "n_train_subjects", "test_subjects", "predictions"}  # fmt: skip


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_a_missing_or_unknown_version_is_refused_naming_the_file(tmp_path, version):
    data = {"schema_version": version, **_results()}
    if version is None:
        del data["schema_version"]
    path = tmp_path / "old_results.json"
    path.write_text(json.dumps(data))
    shown = "no schema_version" if version is None else f"schema_version {version!r}"
    with pytest.raises(ValueError, match=rf"old_results\.json: .*{shown}"):
        read_results(path)


@pytest.mark.parametrize(
    "drop,where",
    [("features", "missing field"), ("rows", "missing field"), ("task.type", r"task: missing"),
     ("rows.0.mean", r"rows\[0\]: missing field\(s\) \['mean'\]"),
     ("task.splits.0.test_subjects", r"splits\[0\]: missing")],
)  # fmt: skip
def test_a_missing_field_is_refused(tmp_path, drop, where):
    data = {"schema_version": SCHEMA_VERSION, **_results()}
    *parents, last = drop.split(".")
    inner = data
    for key in parents:
        inner = inner[int(key)] if key.isdigit() else inner[key]
    del inner[last]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"results\.json.*{where}"):
        read_results(path)


def test_the_writer_refuses_what_the_reader_would(tmp_path):
    bad = {**_results(), "features": "encoder"}  # the old name of features "model"
    with pytest.raises(ValueError, match="features 'encoder' is not one of"):
        write_results(tmp_path / "results.json", bad)
    assert not (tmp_path / "results.json").exists()
