"""Paired statistics of few-shot runs: per-subject differences at every k, bootstrap, marks."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest

from relcon.eval.fewshot import subject_scores_of
from relcon.eval.metrics import score
from relcon.eval.paired import Pairing, SubjectMismatchError, paired_few_shot
from relcon.eval.report import load_results, lower_is_better, write_report
from relcon.eval.results import write_results

SUBJECTS = [f"u{i}" for i in range(8)]
# two fold seeds of two folds: every subject is tested in two splits
SPLITS = {
    "s0-fold0": SUBJECTS[:4],
    "s0-fold1": SUBJECTS[4:],
    "s1-fold0": SUBJECTS[::2],
    "s1-fold1": SUBJECTS[1::2],
}
KS, SEEDS = (5, 10), (0, 1, 2)


def _value(name: str, split: str, k: int, seed: int, subject: str) -> float:
    """A deterministic, irregular score per (run, split, k, seed, subject)."""
    h = sum(ord(c) * (i + 1) for i, c in enumerate(f"{name}|{split}|{k}|{seed}|{subject}"))
    return 0.4 + (h % 97) / 400 + (0.03 if name == "better" else 0.0) + 0.002 * k


def _result(name: str, *, splits=SPLITS, per_subject=True, protocol="linear") -> dict:
    runs = []
    for split, subjects in splits.items():
        for k in KS:
            for seed in SEEDS:
                subj = {s: _value(name, split, k, seed, s) for s in subjects}
                row = {"name": name, "task": "t", "protocol": protocol, "k": k, "seed": seed,
                       "split": split, "metric": "macro_f1", "value": float(np.mean(list(subj.values())))}  # fmt: skip
                runs.append({**row, "subjects": subj} if per_subject else row)
    folds = [
        {"name": name, "task": "t", "protocol": protocol, "split": split, "fold_seed": None,
         "metric": "macro_f1", "value": 0.6 + (0.05 if name == "better" else 0) + 0.01 * i}
        for i, split in enumerate(splits)
    ]  # fmt: skip
    values = [f["value"] for f in folds]
    few = [
        {"name": name, "task": "t", "protocol": protocol, "k": k, "metric": "macro_f1",
         "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)), "n": len(v), "values": v}
        for k in KS
        for v in [[r["value"] for r in runs if r["k"] == k]]
    ]  # fmt: skip
    return {
        "name": name, "features": "handcrafted", "protocol": protocol,
        "task": {"name": "t", "type": "classification", "splits": [
            {"name": s, "n_train": 40, "n_test": 10 * len(sub), "fold_seed": None,
             "test_subjects": sorted(sub), "predictions": f"{s}/predictions.npz"}
            for s, sub in splits.items()]},
        "rows": [{"name": name, "task": "t", "protocol": protocol, "metric": "macro_f1",
                  "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)),
                  "n": len(values), "values": values}],
        "folds": folds, "few_shot": few, "few_shot_runs": runs,
    }  # fmt: skip


def _files(tmp_path, *results) -> list[dict]:
    paths = []
    for i, res in enumerate(results):
        paths.append(write_results(tmp_path / f"run{i}" / "results.json", res))
    return load_results(paths)


def _brute_subject_means(name: str, k: int) -> dict[str, float]:
    """Hand-computed: a subject's mean over the seeds in each split, then over its splits."""
    out = {}
    for s in SUBJECTS:
        per_split = []
        for split, subjects in SPLITS.items():
            if s in subjects:
                total = 0.0
                for seed in SEEDS:
                    total += _value(name, split, k, seed, s)
                per_split.append(total / len(SEEDS))
        out[s] = sum(per_split) / len(per_split)
    return out


def _loop_bootstrap(diffs: list[float], n_resamples: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_resamples):
        idx = rng.integers(0, len(diffs), len(diffs))
        total = 0.0
        for i in idx:
            total += diffs[i]
        means.append(total / len(diffs))
    means.sort()

    def q(p):  # linear interpolation between order statistics (numpy's default)
        pos = p * (len(means) - 1)
        lo = math.floor(pos)
        return means[lo] + (pos - lo) * (means[min(lo + 1, len(means) - 1)] - means[lo])

    return q(0.025), q(0.975)


# ---- (a) against a brute-force computation ------------------------------------------------------


def test_paired_few_shot_matches_brute_force_subject_means_and_loop_bootstrap(tmp_path):
    results = _files(tmp_path, _result("ref"), _result("better"))
    rows, units, notes = paired_few_shot(
        results,
        {"t": "macro_f1"},
        Pairing(lower_is_better, reference="ref", n_resamples=2000, seed=7),
    )
    assert notes == []
    by = {(r["name"], r["k"]): r for r in rows}
    assert set(by) == {(n, k) for n in ("ref", "better") for k in KS}
    for k in KS:
        assert by[("ref", k)]["mark"] == "ref"
        mine, ref = _brute_subject_means("better", k), _brute_subject_means("ref", k)
        diffs = [mine[s] - ref[s] for s in SUBJECTS]
        row = by[("better", k)]
        assert row["unit"] == "subject" and row["n_units"] == len(SUBJECTS)
        assert row["diff"] == pytest.approx(sum(diffs) / len(diffs), abs=1e-12)
        low, high = _loop_bootstrap(diffs, 2000, 7)
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
        expected = "win" if low > 0 else "loss" if high < 0 else "tie"
        assert row["mark"] == expected
        # per split: the mean over the seeds of each split's value, paired split by split
        fold_diffs = []
        for split, subjects in SPLITS.items():
            a = [np.mean([_value("better", split, k, sd, s) for s in subjects]) for sd in SEEDS]
            b = [np.mean([_value("ref", split, k, sd, s) for s in subjects]) for sd in SEEDS]
            fold_diffs.append(np.mean(a) - np.mean(b))
        assert row["fold_diff"] == pytest.approx(np.mean(fold_diffs), abs=1e-12)
        assert row["folds_better"] == sum(d > 0 for d in fold_diffs) and row["n_folds"] == 4
        got = {u["id"]: u for u in units if u["k"] == k and u["unit"] == "subject"}
        assert {s: got[s]["diff"] for s in SUBJECTS} == pytest.approx(
            dict(zip(SUBJECTS, diffs, strict=True))
        )
    assert by[("better", 5)]["mark"] == "win"  # +0.03 on every subject


def test_without_per_subject_scores_runs_are_paired_per_split_and_seeds_must_be_shared(tmp_path):
    ref = _result("ref", per_subject=False)
    other = _result("better", per_subject=False)
    other["few_shot_runs"] = [r for r in other["few_shot_runs"] if r["seed"] != 2]
    results = _files(tmp_path, ref, other)
    rows, _, notes = paired_few_shot(
        results, {"t": "macro_f1"}, Pairing(lower_is_better, reference="ref", n_resamples=500)
    )
    row = next(r for r in rows if r["name"] == "better" and r["k"] == 5)
    assert row["unit"] == "fold" and row["n_units"] == 4
    expected = np.mean(
        [np.mean([_value(n, split, 5, sd, s) for s in sub]) * (1 if n == "better" else -1)
         for split, sub in SPLITS.items() for sd in (0, 1) for n in ("better", "ref")]
    ) * 2  # fmt: skip
    assert row["diff"] == pytest.approx(expected, abs=1e-12)  # seed 2 left out on both sides
    assert any("share 8 of 12 (split, seed)" in n for n in notes)


def test_subject_scores_of_scores_each_subject_alone():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    g = np.repeat(["a", "b", "c"], 20)
    out = subject_scores_of("classification", y, p, g)
    for s in "abc":
        m = g == s
        for metric, value in score("classification", y[m], p[m]).items():
            assert out[metric][s] == value


# ---- (b) mismatched subjects refused --------------------------------------------------------------


def test_mismatched_subjects_are_refused(tmp_path):
    moved = dict(SPLITS, **{"s0-fold0": ["u0", "u1", "u2", "u9"]})
    results = _files(tmp_path, _result("ref"), _result("better", splits=moved))
    pairing = Pairing(lower_is_better, reference="ref", n_resamples=100)
    with pytest.raises(SubjectMismatchError, match="u9"):
        paired_few_shot(results, {"t": "macro_f1"}, pairing)
    with pytest.raises(SubjectMismatchError):
        write_report(results, tmp_path / "report")
    rows, _, _ = paired_few_shot(
        results, {"t": "macro_f1"}, dataclasses.replace(pairing, allow_mismatch=True)
    )
    assert next(r for r in rows if r["name"] == "better")["n_units"] == 8  # u9 unshared

    # the same splits, but one run's per-subject few-shot scores name another subject
    other = _result("better")
    for r in other["few_shot_runs"]:
        if r["split"] == "s0-fold1" and r["k"] == 10:
            r["subjects"] = {("u99" if s == "u7" else s): v for s, v in r["subjects"].items()}
    results = _files(tmp_path / "b", _result("ref"), other)
    with pytest.raises(SubjectMismatchError, match=r"k=10(.|\n)*u99"):
        paired_few_shot(results, {"t": "macro_f1"}, pairing)


# ---- (d) the report and paired.csv ------------------------------------------------------------------


def test_report_and_paired_csv_hold_the_few_shot_rows_with_k(tmp_path):
    runs = [_result("ref"), _result("better"), _result("ref", protocol="nearest_centroid"),
            _result("better", protocol="nearest_centroid")]  # fmt: skip
    results = _files(tmp_path, *runs)
    written = write_report(results, tmp_path / "report", reference="ref", n_resamples=500)
    md = written["report.md"].read_text()
    for k in KS:
        section = md.split(f"#### Paired differences, k={k}")[1].split("####")[0]
        assert "Paired with **ref (linear)**" in section
        assert "Paired with **ref (nearest_centroid)**" in section
        assert "| better | nearest_centroid |" in section and "8 subjects" in section
    with written["paired.csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["name"], r["protocol"], r["k"]) for r in rows} == {
        (n, p, k) for n in ("ref", "better") for p in ("linear", "nearest_centroid")
        for k in ("all", "5", "10")
    }  # fmt: skip
    few = {(r["protocol"], r["k"]): r for r in rows if r["name"] == "better" and r["k"] != "all"}
    assert few[("nearest_centroid", "5")]["reference"] == "ref (nearest_centroid)"
    assert few[("linear", "5")]["mark"] == "win" and few[("linear", "5")]["unit"] == "subject"
    full = [r for r in rows if r["k"] == "all" and r["name"] == "better"]
    assert full and all(r["unit"] == "fold" for r in full)  # no predictions: per split
    with written["paired_units.csv"].open() as f:
        units = list(csv.DictReader(f))
    assert {u["k"] for u in units} == {"all", "5", "10"}
