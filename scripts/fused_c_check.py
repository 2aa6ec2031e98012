"""The fusion with each block at its own C, paired against its alternatives (docs/payoff.md, 14).

Section 13 found the fixed probe's C = 1 too weak a penalty for hand-crafted features (their
best on WISDM: C = 0.03, or 0.01 with 8 augmented copies). Section 10's fusion (the shipped
model's stage-pooled embedding and hand-crafted features, one ``linear_fixed`` probe each, their
log-probabilities summed) gave both blocks C = 1. ``relcon evaluate --handcrafted-fixed-c``
gives the hand-crafted block its own. This script reads the runs that ``PRECISE=1 bash
scripts/fewshot_campaign.sh`` writes under ``runs/e24p`` (10 draws per k, section 12's subjects
and folds) and pairs, per test subject, the fusion at its own C (``fused_linear_fixed_hcC0.01_aug8``)
with:

* hand-crafted features alone at their WISDM C, with copies (C = 0.01) and without (C = 0.03);
* hand-crafted features alone at their best C on the test subjects (section 13's sweep, read
  from ``runs/fixed_c``, and C = 0.001 and 0.003 below it from ``runs/fixed_c_low``; with or
  without copies, whichever mean is higher: in their favour);
* the recipe alone (the stage-pooled embedding, C = 1, 8 copies), the same fusion at C = 1 for
  both blocks, and random weights fused as it is;
* the same fusion with the hand-crafted block at the other Cs of 0.003, 0.01 and 0.03 (section
  15), where run.

``--hc-c 0.03`` pairs the fusion at 0.03 instead (section 15), against random weights fused at
0.03, and writes ``fused_c_hcC0.03.csv``.

It first checks that the hand-crafted runs made through ``relcon evaluate --fixed-c`` reproduce
section 13's scores at the same C, subject by subject.

    python scripts/fixed_c_check.py --cs 0.001 0.003 --out runs/fixed_c_low \
        --only handcrafted_linear_fixed handcrafted_linear_fixed_aug8
    python scripts/fused_c_check.py --runs runs/e24p --grid runs/fixed_c runs/fixed_c_low \
        --out runs/fused_c

Writes ``fused_c.csv`` under ``--out``: task, k, the compared run, both means, the paired
difference (fusion minus it), its bootstrap interval and the mark.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from fixed_c_check import CS, METRIC, TASKS, mean_score, paired, same_scores

#: the fusion with its hand-crafted block at C (--hc-c; section 14: 0.01, section 15: 0.03)
FUSED = "fused_linear_fixed_hcC{c:g}_aug8"
#: the runs (folders under --runs) it is paired with; random weights fused at the same C
AGAINST = (
    "handcrafted_linear_fixed_C0.01_aug8",
    "handcrafted_linear_fixed_C0.03",
    "stages_linear_fixed_aug8",
    "fused_linear_fixed_aug8",
    "random_fused_linear_fixed_hcC{c:g}_aug8",
)
#: the hand-crafted Cs of the fusion compared with each other where they were run (section 15;
#: the campaign's HC_C and FUSED_CS)
SWEEP = (0.003, 0.01, 0.03)
#: section 13's sweep files these runs must reproduce
REPRODUCES = {
    "handcrafted_linear_fixed_C0.01_aug8": "handcrafted_linear_fixed_aug8_C0.01.json",
    "handcrafted_linear_fixed_C0.03": "handcrafted_linear_fixed_C0.03.json",
}


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def best_handcrafted(grids: list[Path], task: str, k: int) -> tuple[str, dict]:
    """Hand-crafted features at their best C on the test subjects, with or without copies,
    among every C of section 13's sweep (``grids``: its folders, e.g. the grid and the values
    below it)."""
    results = {}
    for run in ("handcrafted_linear_fixed", "handcrafted_linear_fixed_aug8"):
        for grid in grids:
            for path in (grid / task).glob(f"{run}_C*.json"):
                c = float(path.stem.removeprefix(f"{run}_C"))
                results[f"{run} C={c:g} (best on the test subjects)"] = read(path)
    missing = [c for c in CS if not any(f"C={c:g} " in name for name in results)]
    if missing:
        raise FileNotFoundError(f"section 13's grid lacks C = {missing} under {grids} for {task}")
    name = max(results, key=lambda n: mean_score(results[n], k))
    return name, results[name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/e24p"))
    ap.add_argument("--grid", type=Path, nargs="+",
                    default=[Path("runs/fixed_c"), Path("runs/fixed_c_low")],
                    help="section 13's sweep (and its values below the grid)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("runs/fused_c"))
    ap.add_argument("--hc-c", type=float, default=0.01,
                    help="the fusion's hand-crafted C: section 14's 0.01 or section 15's 0.03")  # fmt: skip
    args = ap.parse_args()
    fused_run = FUSED.format(c=args.hc_c)
    runs = [run.format(c=args.hc_c) for run in AGAINST]
    runs += [FUSED.format(c=c) for c in SWEEP if c != args.hc_c]
    rows, checks = [], []
    for task in TASKS:
        fused = read(args.runs / task / fused_run / "results.json")
        for run, sweep in REPRODUCES.items():
            gap = max(
                same_scores(read(args.runs / task / run / "results.json"),
                            read(args.grid[0] / task / sweep), k)
                for k in (5, 10)
            )  # fmt: skip
            checks.append(f"{task} {run} against section 13's {sweep}: max |diff| {gap:.1e}")
        for k in (5, 10):
            paths = [(run, args.runs / task / run / "results.json") for run in runs]
            against = [(run, read(path)) for run, path in paths if path.exists()]
            against.append(best_handcrafted(args.grid, task, k))
            for name, other in against:
                rows.append({"task": task, "k": k, "b": name, "mean_fused": mean_score(fused, k),
                             "mean_b": mean_score(other, k), **paired(fused, other, k)})  # fmt: skip
    print("\n".join(checks))
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / ("fused_c.csv" if args.hc_c == 0.01 else f"fused_c_hcC{args.hc_c:g}.csv")
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "k", "b", f"mean_{METRIC}_fused", f"mean_{METRIC}_b",
                    "diff_fused_minus_b", "low", "high", "n_subjects", "mark_fused_vs_b"])  # fmt: skip
        for r in rows:
            w.writerow([r["task"], r["k"], r["b"], f"{r['mean_fused']:.4f}", f"{r['mean_b']:.4f}",
                        f"{r['diff']:.4f}", f"{r['low']:.4f}", f"{r['high']:.4f}", r["n"],
                        r["mark"]])  # fmt: skip
    print(f"\n{fused_run} (fused) against each run, per test subject (fused minus it):")
    for r in rows:
        print(f"{r['task']:14} k={r['k']:<2} {r['mean_fused']:.3f} vs {r['mean_b']:.3f} "
              f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] {r['mark']:4} {r['b']}")  # fmt: skip
    missing = sorted({run for run in runs for task in TASKS
                      if not (args.runs / task / run / "results.json").exists()})  # fmt: skip
    if missing:
        print(f"\nnot run (left out of the pairs): {', '.join(missing)}")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
