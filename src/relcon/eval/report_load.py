"""Reading ``results.json`` files for :mod:`relcon.eval.report` (the schema is in its docstring):
every row checked and normalised, the file named in any error."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = ["load_results"]

_DEFAULT_PROTOCOL = "linear"


def _float(v, where: str) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a number, got {v!r}") from None


def _common(row: dict, where: str, required: Sequence[str]) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
    missing = [k for k in required if k not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    out = dict(row)
    for k in ("method", "task", "metric", "label"):
        if k in out:
            out[k] = str(out[k])
    out["protocol"] = str(row.get("protocol") or _DEFAULT_PROTOCOL)
    return out


def _scored(row: dict, where: str) -> dict:
    row["mean"] = _float(row["mean"], f"{where}.mean")
    row["std"] = _float(row.get("std"), f"{where}.std")
    values = row.get("values") or []
    if not isinstance(values, list):
        raise ValueError(f"{where}.values: expected a list, got {type(values).__name__}")
    row["values"] = [_float(v, f"{where}.values") for v in values]
    n = row.get("n")
    row["n"] = int(n) if n is not None else (len(row["values"]) or None)
    return row


def _k(v, where: str) -> int | None:
    if v is None or (isinstance(v, str) and v.lower() == "all"):
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 1:
        raise ValueError(f"{where}.k: expected a positive integer, null or 'all', got {v!r}")
    return int(v)


def _normalise(data: dict, source: str) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object at the top level")
    if not isinstance(data.get("rows"), list):
        raise ValueError(f"{source}: no 'rows' list; is this a relcon results.json?")
    out = dict(data)
    out["source"] = source

    def scored(key: str, required: tuple[str, ...]) -> Iterator[tuple[dict, dict, str]]:
        """``(raw, checked, where)`` for every row of ``data[key]``."""
        for i, r in enumerate(data.get(key) or []):
            where = f"{source}: {key}[{i}]"
            yield r, _scored(_common(r, where, ("method", "task", *required)), where), where

    out["rows"] = [row for _, row, _ in scored("rows", ("metric", "mean"))]
    few = []
    for r, row, where in scored("few_shot", ("metric", "k", "mean")):
        row["k"] = _k(r["k"], where)
        few.append(row)
    out["few_shot"] = few
    out["per_class_f1"] = [row for _, row, _ in scored("per_class_f1", ("label", "mean"))]
    conf = []
    for i, c in enumerate(data.get("confusion") or []):
        where = f"{source}: confusion[{i}]"
        entry = _common(c, where, ("method", "task", "labels", "matrix"))
        labels = [str(s) for s in entry["labels"]]
        try:
            matrix = np.asarray(entry["matrix"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.matrix: not a numeric matrix") from None
        if matrix.shape != (len(labels), len(labels)):
            raise ValueError(
                f"{where}: matrix of shape {matrix.shape} does not fit {len(labels)} labels"
            )
        entry["labels"], entry["matrix"] = labels, matrix.tolist()
        conf.append(entry)
    out["confusion"] = conf
    return out


def load_results(paths: Iterable[str | Path]) -> list[dict]:
    """Read ``results.json`` files, or every ``results.json`` under folders (recursively).

    Parameters
    ----------
    paths : iterable of str or Path
        Files (any name) or folders.

    Returns
    -------
    list of dict
        One per file, in the order given (folders: sorted paths), each file read once. The
        rows are checked and normalised (``protocol`` defaults to ``"linear"``; ``std``
        defaults to NaN; ``k`` "all" becomes ``None``) and each dict gets ``"source"``.

    Raises
    ------
    FileNotFoundError
        A path does not exist, or a folder holds no ``results.json``.
    ValueError
        A file is not JSON or does not follow the schema (the message names it).
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(p.rglob("results.json"))
            if not found:
                raise FileNotFoundError(f"no results.json under {p}")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"results not found: {p}")
    seen: set[Path] = set()
    results = []
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{f}: not a readable JSON file ({e})") from None
        results.append(_normalise(data, str(f)))
    return results
