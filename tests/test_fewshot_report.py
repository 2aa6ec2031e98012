"""Few-shot draws (relcon.eval.fewshot) and the report (relcon.eval.report)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from relcon.eval.fewshot import few_shot_indices, target_bins
from relcon.eval.report import load_results, lower_is_better, write_report
from relcon.eval.results import write_results

# ---- few-shot ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    """Windows of 8 subjects; class 2 is rare (3 windows), class 1 only in 2 subjects."""
    rng = np.random.default_rng(0)
    groups = np.repeat([f"u{i}" for i in range(8)], 25)
    y = rng.choice([0, 3], len(groups))
    y[np.isin(groups, ["u1", "u4"]) & (rng.random(len(groups)) < 0.6)] = 1
    y[[5, 60, 61]] = 2
    return y, groups


def test_draws_exactly_k_per_class_from_the_given_windows(pool):
    y, groups = pool
    idx, info = few_shot_indices(y, groups, k=2, seed=0)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted, unique
    assert idx.min() >= 0 and idx.max() < len(y)
    assert {c: int((y[idx] == c).sum()) for c in (0, 1, 2, 3)} == {0: 2, 1: 2, 2: 2, 3: 2}
    assert info.counts == {0: 2, 1: 2, 2: 2, 3: 2} and info.short == [] and info.total == 8
    # spread over subjects: two windows of a class come from two subjects
    assert all(len(np.unique(groups[idx][y[idx] == c])) == 2 for c in (0, 1, 2, 3))
    # a subset of the windows (e.g. one fold's training windows) is drawn from, and only it
    train = np.flatnonzero(~np.isin(groups, ["u0", "u7"]))
    sub, _ = few_shot_indices(y[train], groups[train], k=3, seed=0)
    assert sub.max() < len(train)
    assert not np.isin(groups[train][sub], ["u0", "u7"]).any()


def test_short_classes_keep_all_they_have_and_are_reported(pool):
    y, groups = pool
    idx, info = few_shot_indices(y, groups, k=5, seed=1)
    assert (y[idx] == 2).sum() == 3 and info.counts[2] == 3 and info.available[2] == 3
    assert info.short == [2] and all(info.counts[c] == 5 for c in (0, 1, 3))
    assert "fewer than 5" in info.message() and "2 (3)" in info.message()
    assert json.loads(json.dumps(info.to_dict()))["short"] == ["2"]
    assert info.n_subjects[1] == 2  # class 1 lives in 2 subjects only


def test_deterministic_per_seed_different_across_seeds_and_nested_over_k(pool):
    y, groups = pool
    a, _ = few_shot_indices(y, groups, k=4, seed=7)
    b, _ = few_shot_indices(y, groups, k=4, seed=7)
    np.testing.assert_array_equal(a, b)
    draws = {tuple(few_shot_indices(y, groups, k=4, seed=s)[0]) for s in range(5)}
    assert len(draws) == 5
    # a class absent from some fold's windows leaves the other classes' draws unchanged
    no3 = np.flatnonzero(y != 3)
    sub, _ = few_shot_indices(y[no3], groups[no3], k=4, seed=7)
    np.testing.assert_array_equal(no3[sub], a[y[a] != 3])
    small, _ = few_shot_indices(y, groups, k=1, seed=3)
    large, _ = few_shot_indices(y, groups, k=10, seed=3)
    assert set(small) <= set(large)


def test_k_none_keeps_everything_and_bad_k_is_an_error(pool):
    y, groups = pool
    idx, info = few_shot_indices(y, groups, k=None, seed=0)
    np.testing.assert_array_equal(idx, np.arange(len(y)))
    assert info.short == [] and info.k is None
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            few_shot_indices(y, groups, k=bad, seed=0)


def test_regression_draws_k_per_target_quantile_bin():
    rng = np.random.default_rng(2)
    y = rng.gamma(2.0, 10.0, 400)
    groups = np.repeat(np.arange(10), 40)
    idx, info = few_shot_indices(y, groups, k=3, seed=0, task_type="regression")
    bins, ranges = target_bins(y)
    assert ranges.shape == (5, 2) and np.all(ranges[1:, 0] > ranges[:-1, 1])
    np.testing.assert_allclose(info.bin_ranges, ranges)
    assert np.bincount(bins[idx], minlength=5).tolist() == [3] * 5
    assert info.counts == {f"q{b}": 3 for b in range(5)} and info.total == 15
    # the draw spans the target's range: one bin per quintile
    assert y[idx].min() < np.quantile(y, 0.2) and y[idx].max() > np.quantile(y, 0.8)
    # tied targets merge bins instead of making empty ones
    tied = np.repeat([1.0, 2.0], 50)
    idx, info = few_shot_indices(tied, np.arange(100) % 5, k=4, task_type="regression")
    assert sorted(info.counts.values()) == [4, 4] and len(idx) == 8


# ---- report ------------------------------------------------------------------------------------


def _rows(name: str, protocol: str, scores: dict[str, float], task: str = "t1") -> list[dict]:
    return [
        {"name": name, "task": task, "protocol": protocol, "metric": m, "mean": v,
         "std": 0.01, "n": 3, "values": [v - 0.01, v, v + 0.01]}
        for m, v in scores.items()
    ]  # fmt: skip


def _few_shot(name: str, protocol: str, first: float, ks: list) -> list[dict]:
    """A few-shot curve of macro-F1 rising by 0.1 per ``k``, from ``first``."""
    return [
        {"name": name, "task": "t1", "protocol": protocol, "k": k, "metric": "macro_f1",
         "mean": first + 0.1 * i, "std": 0.05, "n": 1, "values": [first + 0.1 * i]}
        for i, k in enumerate(ks)
    ]  # fmt: skip


def _results(name: str, protocol: str, **parts) -> dict:
    """A results file's fields (relcon.eval.results) around ``parts`` (rows, few_shot, ...)."""
    return {"name": name, "features": "handcrafted", "protocol": protocol,
            "task": {"name": "t1", "type": "classification"}, **parts}  # fmt: skip


@pytest.fixture
def runs(tmp_path):
    """Two run folders: A has the best macro_f1, B the lowest (best) mae; C is nested deeper."""
    labels = ["walk", "sit", "stand"]
    a = _results(
        "A", "linear",
        rows=_rows("A", "linear", {"macro_f1": 0.9, "kappa": 0.70})
        + _rows("A", "linear", {"mae": 5.0, "pearson": 0.80}, task="hr"),
        few_shot=_few_shot("A", "linear", 0.3, [1, 5, None]),
        per_class_f1=[
            {"name": "A", "task": "t1", "protocol": "linear", "label": c, "mean": f, "std": 0.1,
             "n": 3}
            for c, f in zip(labels, [0.9, 0.5, 0.7], strict=True)
        ],
        confusion=[
            {"name": "A", "task": "t1", "protocol": "linear", "labels": labels,
             "matrix": [[50, 2, 3], [4, 30, 10], [1, 8, 40]]}
        ],
    )  # fmt: skip
    b = _results(
        "B", "rf",
        rows=_rows("B", "rf", {"macro_f1": 0.8, "kappa": 0.75})
        + _rows("B", "rf", {"mae": 4.0, "pearson": 0.70}, task="hr"),
        few_shot=_few_shot("B", "rf", 0.2, [1, 5, "all"]),
    )  # fmt: skip
    c = _results("C", "mlp", rows=_rows("C", "mlp", {"macro_f1": 0.85, "val_mae": 1.0}))
    for name, data in (("run_a", a), ("run_b", b), ("nested/deeper/run_c", c)):
        write_results(tmp_path / "runs" / name / "results.json", data)
    return tmp_path / "runs"


def _table(md: str, task: str) -> dict[str, dict[str, str]]:
    """The score table of ``task`` in report.md: method -> column -> cell text."""
    lines = md.splitlines()
    start = lines.index(f"## {task}") + 2
    header = [h.strip() for h in lines[start].strip("|").split("|")]
    table = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header, cells, strict=True))
    return table


def test_report_bolds_the_best_cell_by_direction(runs, tmp_path):
    files = write_report(load_results([runs]), tmp_path / "out")
    md = files["report.md"].read_text()
    t1 = _table(md, "t1")
    assert set(t1) == {"A", "B", "C"}
    assert t1["A"]["macro_f1 ↑"].startswith("**0.900 ± 0.010")  # higher is better
    assert not t1["B"]["macro_f1 ↑"].startswith("**") and not t1["C"]["macro_f1 ↑"].startswith("**")
    assert t1["B"]["kappa ↑"].startswith("**") and not t1["A"]["kappa ↑"].startswith("**")
    assert t1["C"]["val_mae ↓"] == "1.000 ± 0.010"  # a lone value is not "best"
    hr = _table(md, "hr")
    assert hr["B"]["mae ↓"] == "**4.000 ± 0.010**"  # lower is better
    assert hr["A"]["mae ↓"] == "5.000 ± 0.010"
    assert hr["A"]["pearson ↑"].startswith("**")
    assert t1["A"]["protocol"] == "linear" and t1["B"]["protocol"] == "rf" and t1["A"]["n"] == "3"
    assert lower_is_better("rmse") and lower_is_better("val_loss") and not lower_is_better("kappa")
    summary = _table(md, "Summary")  # one headline score per task: macro-F1 / MAE
    assert summary["A"]["t1"] == "**0.900 ± 0.010**" and summary["B"]["t1"] == "0.800 ± 0.010"
    assert summary["B"]["hr"] == "**4.000 ± 0.010**" and summary["A"]["hr"] == "5.000 ± 0.010"
    assert summary["C"]["hr"] == ""


def test_report_csv_is_parseable_and_complete(runs, tmp_path):
    files = write_report(load_results([runs]), tmp_path / "out")
    with files["report.csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    a = next(r for r in rows if r["name"] == "A" and r["metric"] == "macro_f1")
    assert float(a["mean"]) == 0.9 and float(a["std"]) == 0.01 and int(a["n"]) == 3
    assert json.loads(a["values"]) == pytest.approx([0.89, 0.9, 0.91])
    assert a["source"].endswith("results.json")
    with files["fewshot.csv"].open(newline="") as f:
        few = list(csv.DictReader(f))
    assert sorted((r["name"], r["k"]) for r in few) == sorted(
        [("A", "1"), ("A", "5"), ("A", "all"), ("B", "1"), ("B", "5"), ("B", "all")]
    )
    md = files["report.md"].read_text()
    assert "| A | linear | 1 | **0.300 ± 0.050** | **0.400 ± 0.050** | **0.500 ± 0.050** |" in md
    assert "| B | rf | 1 | 0.200 ± 0.050 | 0.300 ± 0.050 | 0.400 ± 0.050 |" in md


def test_report_plots_are_real_pngs(runs, tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "out"
    files = write_report(load_results([runs]), out)
    pngs = {"fewshot_t1.png", "per_class_f1_t1.png", "confusion_t1_A.png"}
    assert pngs <= set(files)
    for name in pngs:
        path = files[name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
        img = mpimg.imread(path)
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05  # not a blank canvas
        assert f"]({name})" in files["report.md"].read_text()
    assert not list(out.glob(".*.tmp"))  # atomic writes left nothing behind


def test_load_results_files_folders_duplicates_and_errors(runs, tmp_path):
    res = load_results([runs, runs / "run_a" / "results.json"])  # run_a reached twice
    assert [r["source"].split("/")[-2] for r in res] == ["run_c", "run_a", "run_b"]
    b = next(r for r in res if r["source"].endswith("run_b/results.json"))
    assert [r["k"] for r in b["few_shot"]] == [1, 5, None]  # "all" -> None
    nan_std = tmp_path / "nan.json"  # a std of NaN (one fold's spread) reads back as NaN
    write_results(nan_std, _results("A", "linear", rows=[
        {"name": "A", "task": "t9", "protocol": "linear", "metric": "kappa", "mean": 0.5,
         "std": float("nan"), "n": 1, "values": [0.5]}]))  # fmt: skip
    (row,) = load_results([nan_std])[0]["rows"]
    assert math.isnan(row["std"]) and row["values"] == [0.5]

    clash = tmp_path / "clash" / "results.json"
    write_results(clash, _results("A", "linear", rows=_rows("A", "linear", {"macro_f1": 0.1})))
    # the same label in two files: both kept, told apart by their folders (never one dropped)
    write_report(load_results([runs, clash]), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    t1 = _table(md, "t1")
    assert t1["A [run_a]"]["macro_f1 ↑"].startswith("**0.900") and "A" not in t1
    assert t1["A [clash]"]["macro_f1 ↑"] == "0.100 ± 0.010"
    assert "A [run_a]" in _table(md, "hr") and "kept apart as 'A [run_a]'" in md
    twice = tmp_path / "twice.json"  # one file giving one row twice: an error naming it
    write_results(twice, _results("A", "linear", rows=_rows("A", "linear", {"macro_f1": 0.1})
                                  + _rows("A", "linear", {"macro_f1": 0.2})))  # fmt: skip
    with pytest.raises(ValueError, match=r"given twice, in .*twice\.json"):
        write_report(load_results([twice]), tmp_path / "out2")

    with pytest.raises(FileNotFoundError):
        load_results([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no results\.json"):
        load_results([tmp_path / "empty"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_results([bad])
    row = {"name": "A", "task": "t", "protocol": "linear"}
    bad.write_text(json.dumps({"schema_version": 1, **_results("A", "linear", rows=[row])}))
    with pytest.raises(ValueError, match=r"bad\.json: rows\[0\].*metric"):
        load_results([bad])
    bad.write_text(json.dumps({"schema_version": 1, **_results("A", "linear", rows=[], confusion=[
        {**row, "labels": ["a", "b"], "matrix": [[1, 2, 3]]}])}))  # fmt: skip
    with pytest.raises(ValueError, match="does not fit 2 labels"):
        load_results([bad])
