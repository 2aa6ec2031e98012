"""Is the fixed-strength probe's C sound off the task it was chosen on? (docs/payoff.md, 13)

``relcon.eval.probes.FIXED_C`` (the inverse penalty of the ``linear_fixed`` probe, the one every
few-label comparison in docs/payoff.md uses) was chosen once on ``wisdm_har6`` among 0.01, 0.1
and 1. This script re-runs section 12's few-label runs with other values of C, everything else
equal, and reports, per task, feature set and k, the mean macro-F1 at each C and the paired
per-subject difference of each C against C = 1 (bootstrap interval and mark, as
``relcon report``). WISDM is the task C was chosen on; the other three are out of sample.

Each run is the evaluation of ``relcon evaluate`` itself (:func:`relcon.eval.harness.evaluate_task`
with the settings read from section 12's ``results.json``, so the subjects, folds, draws and
copies are the same), with ``--fixed-c`` set for the run (``EvalConfig.fixed_c``). The encoder's embeddings of a window
set are computed once and reused across the values of C (they do not depend on C), which is
what makes the sweep affordable on a CPU. At C = 1 every run must reproduce section 12's
per-subject scores: the script checks it and says so.

    python scripts/fixed_c_check.py --runs runs/e24p --out runs/fixed_c
    # two processes on two cores: --tasks wisdm_har6 spsw_har5 / --tasks hapt_har6_uci hapt_har6,
    # then the command above again to summarise (every run is read back from runs/fixed_c)
    # below the grid, hand-crafted features only (docs/payoff.md, section 14):
    python scripts/fixed_c_check.py --cs 0.001 0.003 --out runs/fixed_c_low \
        --only handcrafted_linear_fixed handcrafted_linear_fixed_aug8

Writes ``summary.json``, ``fixed_c.csv`` (each C against C = 1) and ``fixed_c_controls.csv``
(the copies against C = 9 without them; the recipe against hand-crafted features at their best
C on the test subjects) under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from relcon.config import EvalConfig, from_dict
from relcon.data.tasks import load_task
from relcon.eval import probes
from relcon.eval.harness import evaluate_task
from relcon.eval.paired import bootstrap_ci, few_shot_scores, paired_mark
from relcon.io import atomic_write_json
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import load

TASKS = ("wisdm_har6", "spsw_har5", "hapt_har6", "hapt_har6_uci")
#: section 12's runs whose probe is linear_fixed (nearest centroid has no C)
RUNS = (
    "handcrafted_linear_fixed",
    "handcrafted_linear_fixed_aug8",
    "stages_linear_fixed",
    "stages_linear_fixed_aug8",
    "random_stages_linear_fixed_aug8",
)
CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 9.0, 30.0, 100.0)
METRIC = "macro_f1"


def memoised(encoder: torch.nn.Module) -> torch.nn.Module:
    """``encoder`` whose ``embed`` returns the stored result for windows it has embedded."""
    embed, store = encoder.embed, {}

    def cached(x, **kw):
        key = (
            hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest(),
            x.shape,
            kw.get("pooling"),
        )
        if key not in store:
            store[key] = embed(x, **kw)
        return store[key]

    encoder.embed = cached
    return encoder


def encoder_for(cfg: EvalConfig) -> torch.nn.Module | None:
    """The encoder object the run's features come from (None for hand-crafted features)."""
    if cfg.features == "handcrafted":
        return None
    if cfg.features == "random":  # as relcon.eval.harness._load_encoder builds it
        torch.manual_seed(cfg.seed)
        return memoised(ResNet1DEncoder(cfg.encoder))
    return memoised(load(cfg.model, kind="encoder", device="cpu"))


def run_all(
    runs: Path,
    tasks_dir: Path | None,
    out: Path,
    cs: tuple[float, ...],
    tasks: list[str],
    only: list[str],
) -> list[dict]:
    rows = []
    for task_name in tasks:
        encoders: dict = {}
        for run in only:
            saved = json.loads((runs / task_name / run / "results.json").read_text())
            cfg = from_dict(EvalConfig, saved["config"], where=f"{run} config")
            task_file = Path(cfg.task) if tasks_dir is None else tasks_dir / Path(cfg.task).name
            task = load_task(task_file)
            kind = (cfg.features, cfg.model)  # runs of one task share an encoder's embeddings
            if kind not in encoders:
                encoders[kind] = encoder_for(cfg)
            encoder = encoders[kind]
            if cfg.features == "random":  # an encoder object: the harness's "model" features
                cfg.features, cfg.model = "auto", ""
            for c in cs:
                target = out / task_name / f"{run}_C{c:g}.json"
                if target.exists():
                    result = json.loads(target.read_text())
                else:
                    t0 = time.perf_counter()
                    cfg.fixed_c = None if c == probes.FIXED_C else c  # relcon evaluate --fixed-c
                    result = evaluate_task(task, cfg, encoder=encoder, progress=False).results
                    result["fixed_c"] = c
                    atomic_write_json(target, result)
                    gap = max(same_scores(result, saved, k) for k in (5, 10)) if c == 1 else 0
                    print(
                        f"{task_name} {run} C={c:g}: {time.perf_counter() - t0:.0f} s"
                        + (f"; against section 12, max |diff| {gap:.1e}" if c == 1 else ""),
                        flush=True,
                    )
                rows.append(
                    {"task": task_name, "run": run, "C": c, "result": result, "saved": saved}
                )
    return rows


def same_scores(a: dict, b: dict, k: int) -> float:
    """Largest absolute difference between two results' per-subject few-shot scores at k."""
    _, sa = few_shot_scores(a, METRIC, k)
    _, sb = few_shot_scores(b, METRIC, k)
    if sa is None or sb is None or set(sa) != set(sb):
        return float("inf")
    return max(abs(sa[g] - sb[g]) for g in sa)


#: the few-label recipe of docs/payoff.md, section 12
RECIPE = ("stages_linear_fixed_aug8", 1.0)
#: (with copies at C = 1, without at C = 9): 8 copies multiply the logistic loss's data term
#: by 9 against the same penalty, as C = 9 does without them; is their gain only that?
CONTROLS = (
    (RECIPE, ("stages_linear_fixed", 9.0)),
    (("handcrafted_linear_fixed_aug8", 1.0), ("handcrafted_linear_fixed", 9.0)),
)


def mean_score(result: dict, k: int) -> float:
    """Macro-F1 at k averaged over the splits' mean over draws (section 12's table's mean)."""
    return float(np.mean(list(few_shot_scores(result, METRIC, k)[0].values())))


def paired(a: dict, b: dict, k: int) -> dict:
    """Mean per-subject difference a - b at k, its bootstrap interval and mark."""
    _, sa = few_shot_scores(a, METRIC, k)
    _, sb = few_shot_scores(b, METRIC, k)
    ci = bootstrap_ci([sa[g] - sb[g] for g in sorted(sb)])
    return {"diff": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n,
            "mark": paired_mark(ci, lower_is_better=False)}  # fmt: skip


def summarise(rows: list[dict], cs: tuple[float, ...]) -> tuple[list[dict], list[str], list[dict]]:
    table, checks = [], []
    by = {(r["task"], r["run"], r["C"]): r for r in rows}
    controls = [
        {"task": t, "k": k, "a": f"{a[0]} C={a[1]:g}", "b": f"{b[0]} C={b[1]:g}",
         **paired(by[(t, *a)]["result"], by[(t, *b)]["result"], k)}
        for t in TASKS for a, b in CONTROLS for k in (5, 10)
        if (t, *a) in by and (t, *b) in by
    ]  # fmt: skip
    for t in TASKS:  # against hand-crafted features at their best C on the test subjects
        for hc in ("handcrafted_linear_fixed", "handcrafted_linear_fixed_aug8"):
            for k in (5, 10):
                if not all((t, hc, c) in by for c in cs) or (t, *RECIPE) not in by:
                    continue
                means = {c: mean_score(by[(t, hc, c)]["result"], k) for c in cs}
                best = max(cs, key=lambda c: (means[c], -c))
                b = by[(t, hc, best)]["result"]
                controls.append({"task": t, "k": k, "a": f"{RECIPE[0]} C=1",
                                 "b": f"{hc} C={best:g} (best on the test subjects)",
                                 **paired(by[(t, *RECIPE)]["result"], b, k)})  # fmt: skip
    for task_name in TASKS:
        for run in RUNS:
            if not all((task_name, run, c) in by for c in cs):
                continue
            ref = by.get((task_name, run, 1.0))
            for k in (5, 10):
                if ref is not None:
                    gap = same_scores(ref["result"], ref["saved"], k)
                    checks.append(
                        f"{task_name} {run} k={k}: C=1 vs section 12, max |diff| {gap:.2e}"
                    )
                for c in cs:
                    r = by[(task_name, run, c)]
                    row = {"task": task_name, "run": run, "k": k, "C": c,
                           "mean": mean_score(r["result"], k)}  # fmt: skip
                    if ref is not None and c != 1.0:
                        row.update(paired(r["result"], ref["result"], k))
                    table.append(row)
    return table, checks, controls


def write_csvs(out: Path, table: list[dict], controls: list[dict]) -> None:
    """``fixed_c.csv`` (every task, run, k and C against C = 1) and ``fixed_c_controls.csv``."""
    with open(out / "fixed_c.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "run", "k", "C", "mean_macro_f1", "diff_vs_C1", "low", "high",
                    "n_subjects", "mark_vs_C1"])  # fmt: skip
        for r in table:
            paired_part = (
                [f"{r['diff']:.4f}", f"{r['low']:.4f}", f"{r['high']:.4f}", r["n"], r["mark"]]
                if "mark" in r
                else ["", "", "", "", "ref"]
            )
            w.writerow(
                [r["task"], r["run"], r["k"], f"{r['C']:g}", f"{r['mean']:.4f}", *paired_part]
            )
    with open(out / "fixed_c_controls.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "k", "a", "b", "diff_a_minus_b", "low", "high", "n_subjects",
                    "mark_a_vs_b"])  # fmt: skip
        for r in controls:
            w.writerow([r["task"], r["k"], r["a"], r["b"], f"{r['diff']:.4f}", f"{r['low']:.4f}",
                        f"{r['high']:.4f}", r["n"], r["mark"]])  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/e24p"), help="section 12's runs")
    ap.add_argument("--tasks-dir", type=Path, default=None,
                    help="where the task files are (default: the path each run recorded)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("runs/fixed_c"))
    ap.add_argument("--cs", type=float, nargs="+", default=list(CS))
    ap.add_argument("--only", nargs="+", default=list(RUNS), choices=RUNS,
                    help="these runs only (section 14: the hand-crafted ones below the grid)")  # fmt: skip
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS,
                    help="run these tasks only (e.g. two processes on two cores)")  # fmt: skip
    args = ap.parse_args()
    cs = tuple(sorted(set(args.cs) | {1.0}))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = run_all(args.runs, args.tasks_dir, args.out, cs, args.tasks, args.only)
    table, checks, controls = summarise(rows, cs)
    print("\n".join(checks))
    atomic_write_json(
        args.out / "summary.json", {"rows": table, "controls": controls, "checks": checks, "cs": cs}
    )
    write_csvs(args.out, table, controls)
    print("\ncontrols (a - b per subject): the copies against C = 9 without them; the recipe")
    print("against hand-crafted features at their best C on the test subjects")
    for r in controls:
        print(f"{r['task']:14} k={r['k']:<2} {r['a']} - {r['b']}: {r['diff']:+.3f} "
              f"[{r['low']:+.3f}, {r['high']:+.3f}] {r['mark']}")  # fmt: skip
    print(f"\n{'task':14} {'run':32} k  " + "  ".join(f"C={c:<14g}" for c in cs))
    for task_name in TASKS:
        for run in RUNS:
            for k in (5, 10):
                cells = []
                if not any((t["task"], t["run"]) == (task_name, run) for t in table):
                    continue
                for c in cs:
                    r = next(
                        t
                        for t in table
                        if (t["task"], t["run"], t["k"], t["C"]) == (task_name, run, k, c)
                    )
                    mark = "" if "mark" not in r else f" {r['mark'][0]}{r['diff']:+.3f}"
                    cells.append(f"{r['mean']:.3f}{mark:<10}")
                print(f"{task_name:14} {run:32} {k:<2} " + "  ".join(f"{x:<16}" for x in cells))
    print(f"\nwritten: {args.out / 'summary.json'}, fixed_c.csv, fixed_c_controls.csv")


if __name__ == "__main__":
    main()
