"""``results.json``: the one file format of an evaluation (``relcon evaluate``), read by ``relcon
report``, the paired statistics and ``relcon benchmark``. This module is its only writer
(:func:`write_results`) and reader (:func:`read_results`); both check the format below.

Format (schema version 1)
-------------------------
A JSON object; one file is one run: one ``features`` (with one model), one ``protocol``, one
task. Numbers may be ``NaN`` (written as the bare JSON extension ``NaN``); ``null`` where a
score is missing reads as NaN. Fields marked *optional* may be absent and read as the value
given; every other field is required, and a file with a missing or unknown ``schema_version``
is refused, naming the file and the version.

``schema_version`` (int)
    :data:`SCHEMA_VERSION`. Raised whenever a field changes meaning; no older version is read.
``name`` (str)
    The run's name in tables and figures: for features ``"model"`` the model's own name (a
    shipped model as ``"relcon-wrist-full (shipped)"``; a model from files as its training
    method and folder, ``"simclr (run-3)"``), else the features (``"handcrafted"``, ...).
``features`` (str)
    What was measured, one of :data:`FEATURES`: ``model`` (the ``model``'s embeddings),
    ``random`` (the encoder architecture with random weights), ``handcrafted``, ``minirocket``,
    ``supervised`` (an encoder trained on the task's labels).
``model`` (str or null, optional, default null)
    The model evaluated as it was given (a shipped name, a run folder, a file) for features
    ``"model"``; null otherwise.
``protocol`` (str)
    What was trained on the features: ``linear``, ``mlp``, ``rf``, ``ridge_classifier``,
    ``finetune``.
``task`` (object)
    ``name`` (str), ``type`` (``"classification"`` or ``"regression"``); optional:
    ``n_windows`` (int), ``n_subjects`` (int), ``label_names`` (list of str or null),
    ``subjects`` (list of str: the subjects evaluated), ``left_out_subjects`` (list of str),
    ``description`` (str) and ``splits`` (list, default empty: the subjects are then
    "unchecked" in a report), one object per train/test split: ``name`` (str, also the folder
    of its predictions), ``n_train`` (int), ``n_test`` (int), ``fold_seed`` (int or null: the
    task's own split or folds), ``n_train_subjects`` (int), ``test_subjects`` (list of str,
    sorted) and ``predictions`` (str: the split's ``predictions.npz``, relative to the folder
    of the results file; arrays ``index``, ``y_true``, ``y_pred``, ``groups``); optional:
    ``adapt`` (object: what the split's continued pretraining saw, below).
``rows`` (list)
    One per metric, aggregated over the splits: ``name``, ``task`` (its name), ``protocol``,
    ``metric`` (str: ``macro_f1``, ``kappa``, ``balanced_accuracy``, ``mae``, ``rmse``,
    ``pearson``, ``spearman``, ...), ``mean`` (float), ``std`` (float: sample std over the
    splits, ddof 1; 0 for one split), ``n`` (int: splits), ``values`` (list of float, per
    split, in ``task.splits`` order).
``folds`` (list, optional)
    One per (split, metric): ``name``, ``task``, ``protocol``, ``split`` (str),
    ``fold_seed`` (int or null), ``metric``, ``value`` (float).
``few_shot`` (list, optional)
    One per (k, metric), over splits and seeds: ``name``, ``task``, ``protocol``, ``k`` (int:
    labelled windows per class, per target bin for regression; ``"all"`` or null: every
    training window; read as ``None``), ``metric``, ``mean``, ``std``, ``n``, ``values``.
``few_shot_runs`` (list, optional)
    One per (split, k, seed, metric): ``name``, ``task``, ``protocol``, ``k``, ``seed`` (int),
    ``split``, ``metric``, ``value``; optional: ``subjects`` (object, test subject -> the
    metric on that subject's test windows: what ``relcon report`` pairs per subject; without
    it, few-shot runs are paired per split).
``per_class_f1`` (list, optional; classification)
    One per class: ``name``, ``task``, ``protocol``, ``label`` (str: the class), ``mean``,
    ``std``, ``n``.
``confusion`` (list, optional; classification)
    ``name``, ``task``, ``protocol``, ``labels`` (list of str: the classes in matrix order),
    ``matrix`` (list of lists of numbers: counts summed over splits, rows = true class,
    columns = predicted class).
``notes``, ``task_notes`` (lists of str, optional)
    What the run left out or assumed (subjects, classes absent from a split); what was assumed
    where the task file was ambiguous.
``adapt`` (object, optional; absent when not adapted)
    Continued pretraining within each split on its training subjects' windows
    (:mod:`relcon.eval.adapt`): ``steps``, ``lr``, ``method``, ``distance``, ``init``,
    ``warmup_steps``, ``data``; each split's ``adapt`` holds ``windows``, ``users``,
    ``steps``, ``init_sha256``, ``loss_first``, ``loss_last``, ``seconds``.
``config`` (object, optional)
    The :class:`relcon.config.EvalConfig` of the run, as a dict.
``environment`` (object, optional), ``seconds`` (float, optional)
    :func:`relcon.io.environment_info` and the wall-clock time of the run.

:func:`read_results` returns the object with every row checked and the optional fields filled
in, plus ``"source"``: the file it was read from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from relcon.io import atomic_write_json

__all__ = [
    "FEATURES",
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "check_results",
    "read_results",
    "write_results",
]

#: the version of the format written and the only one read
SCHEMA_VERSION = 1
#: the name ``relcon evaluate`` gives the file in its output folder
RESULTS_FILE = "results.json"
#: what ``relcon evaluate`` measures (the ``features`` setting and field)
FEATURES = ("model", "random", "handcrafted", "minirocket", "supervised")

#: (field, required keys) of every list of rows
_PARTS: dict[str, tuple[str, ...]] = {
    "rows": ("metric", "mean", "std", "n", "values"),
    "folds": ("split", "fold_seed", "metric", "value"),
    "few_shot": ("k", "metric", "mean", "std", "n", "values"),
    "few_shot_runs": ("k", "seed", "split", "metric", "value"),
    "per_class_f1": ("label", "mean", "std", "n"),
    "confusion": ("labels", "matrix"),
}
_SPLIT_KEYS = ("name", "n_train", "n_test", "fold_seed", "test_subjects", "predictions")


def _float(v: Any, where: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        raise ValueError(f"{where}: expected a number, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number, got {v!r}") from None


def _int(v: Any, where: str, *, none: bool = False) -> int | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
        raise ValueError(f"{where}: expected an integer, got {v!r}")
    return int(v)


def _str_list(v: Any, where: str) -> list[str]:
    if not isinstance(v, list):
        raise ValueError(f"{where}: expected a list, got {type(v).__name__}")
    return [str(s) for s in v]


def _k(v: Any, where: str) -> int | None:
    if v is None or (isinstance(v, str) and v.lower() == "all"):
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 1:
        raise ValueError(f"{where}: expected a positive integer, null or 'all', got {v!r}")
    return int(v)


def _row(part: str, row: Any, where: str) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
    missing = [k for k in ("name", "task", "protocol", *_PARTS[part]) if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    out = dict(row)
    for k in ("name", "task", "protocol", "metric", "label", "split"):
        if k in out:
            out[k] = str(out[k])
    for k in ("mean", "std", "value"):
        if k in out:
            out[k] = _float(out[k], f"{where}.{k}")
    if "values" in out:
        out["values"] = [_float(v, f"{where}.values") for v in _list(out["values"], where)]
    if "n" in out:
        out["n"] = _int(out["n"], f"{where}.n")
    if "k" in out:
        out["k"] = _k(out["k"], f"{where}.k")
    if "seed" in out:
        out["seed"] = _int(out["seed"], f"{where}.seed")
    if "fold_seed" in out:
        out["fold_seed"] = _int(out["fold_seed"], f"{where}.fold_seed", none=True)
    if part == "few_shot_runs" and out.get("subjects") is not None:
        if not isinstance(out["subjects"], dict):
            raise ValueError(f"{where}.subjects: expected an object (subject -> value)")
        out["subjects"] = {
            str(g): _float(v, f"{where}.subjects[{g!r}]") for g, v in out["subjects"].items()
        }
    if part == "confusion":
        labels = _str_list(out["labels"], f"{where}.labels")
        try:
            matrix = np.asarray(out["matrix"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.matrix: not a numeric matrix") from None
        if matrix.shape != (len(labels), len(labels)):
            raise ValueError(
                f"{where}: matrix of shape {matrix.shape} does not fit {len(labels)} labels"
            )
        out["labels"], out["matrix"] = labels, matrix.tolist()
    return out


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise ValueError(f"{where}: expected a list, got {type(v).__name__}")
    return v


def _task(task: Any, source: str) -> dict:
    where = f"{source}: task"
    if not isinstance(task, dict):
        raise ValueError(f"{where}: expected an object, got {type(task).__name__}")
    missing = [k for k in ("name", "type") if k not in task]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    if task["type"] not in ("classification", "regression"):
        raise ValueError(
            f"{where}.type: expected classification or regression, got {task['type']!r}"
        )
    out = {**task, "name": str(task["name"])}
    splits = []
    for i, s in enumerate(_list(task.get("splits", []), f"{where}.splits")):
        at = f"{where}.splits[{i}]"
        if not isinstance(s, dict):
            raise ValueError(f"{at}: expected an object, got {type(s).__name__}")
        missing = [k for k in _SPLIT_KEYS if k not in s]
        if missing:
            raise ValueError(f"{at}: missing field(s) {missing}")
        splits.append(
            {**s, "name": str(s["name"]), "n_train": _int(s["n_train"], f"{at}.n_train"),
             "n_test": _int(s["n_test"], f"{at}.n_test"),
             "fold_seed": _int(s["fold_seed"], f"{at}.fold_seed", none=True),
             "test_subjects": sorted(_str_list(s["test_subjects"], f"{at}.test_subjects")),
             "predictions": str(s["predictions"])}
        )  # fmt: skip
    out["splits"] = splits
    return out


def check_results(data: Any, source: str) -> dict:
    """``data`` checked against the format (module docstring), optional fields filled in, and
    ``"source"`` set to ``source``; a ``ValueError`` naming ``source`` and the field otherwise."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object at the top level")
    if "schema_version" not in data:
        raise ValueError(
            f"{source}: no schema_version; not a results file of this relcon (which writes "
            f"schema_version {SCHEMA_VERSION}): evaluate again"
        )
    version = data["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(
            f"{source}: results schema_version {version!r} is not the one this relcon reads "
            f"({SCHEMA_VERSION}): evaluate again with this version"
        )
    missing = [k for k in ("name", "features", "protocol", "task", "rows") if k not in data]
    if missing:
        raise ValueError(f"{source}: missing field(s) {missing}")
    if data["features"] not in FEATURES:
        raise ValueError(f"{source}: features {data['features']!r} is not one of {FEATURES}")
    out = {**data, "name": str(data["name"]), "protocol": str(data["protocol"])}
    out["model"] = None if data.get("model") is None else str(data["model"])
    out["task"] = _task(data["task"], source)
    for part in _PARTS:
        rows = _list(data.get(part, []), f"{source}: {part}")
        out[part] = [_row(part, r, f"{source}: {part}[{i}]") for i, r in enumerate(rows)]
    for key in ("notes", "task_notes"):
        out[key] = _str_list(data.get(key, []), f"{source}: {key}")
    for key in ("config", "environment"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"{source}: {key}: expected an object")
    out["source"] = str(source)
    return out


def write_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` (the fields of the format, without ``schema_version``) to ``path``,
    atomically, with ``schema_version`` first; checked before anything is written."""
    path = Path(path)
    data = {"schema_version": SCHEMA_VERSION, **results}
    data.pop("source", None)
    check_results(data, str(path))
    atomic_write_json(path, data)
    return path


def read_results(path: str | Path) -> dict:
    """The results file at ``path``, checked (:func:`check_results`); errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON file ({e})") from None
    return check_results(data, str(path))
