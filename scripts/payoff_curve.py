"""The pay-off curve: anchors seen in pretraining against matched-subject linear-probe macro-F1.

Gathers two sets of runs into one table and one figure (``docs/payoff/curve.csv``, ``.png``):

* the reduced encoder (141k parameters, 16 anchors per step) trained on two CPU cores by
  ``scripts/budget_curve.py`` (its ``curve.csv``);
* the paper's full-size encoder (3.6M parameters, 256 anchors per step, 20 within-user and 63
  between-user candidates) trained on one H200 by ``benchmarks/gpu_session.sh``, with its
  intermediate checkpoints, evaluated on CPU with ``relcon evaluate --exclude-users-of default``
  (one folder ``<task>_<run>`` per evaluation, as ``runs/eval/run_gpu_evals.sh`` writes them).

Every point is scored on the same subjects and folds of its task (the subjects no compared
model was pretrained on). Random weights of each architecture are the floor (drawn as lines).

    python scripts/payoff_curve.py --cpu runs/curve/curve.csv --gpu-evals runs/eval --out docs/payoff
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from relcon.eval.results import read_results

TASKS = ("wisdm_har6", "spsw_har5", "hapt_har6", "hapt_har6_uci")
#: full-size runs: evaluation folder suffix -> (method, anchors seen)
GPU_RUNS = {
    "relcon_step-00000100": ("relcon", 100 * 256),
    "relcon": ("relcon", 151 * 256),
    "relcon_long_step-00000200": ("relcon", 200 * 256),
    "relcon_long_step-00000400": ("relcon", 400 * 256),
    "relcon_long": ("relcon", 600 * 256),
    "relcon_canonical": ("relcon_canonical", 151 * 256),
    "oracle": ("oracle", 151 * 256),
    "simclr": ("simclr", 151 * 256),
    "simclr_long": ("simclr", 600 * 256),
    "random": ("random", 0),
}
COLOURS = {"relcon": "C0", "relcon_canonical": "C2", "oracle": "C3", "simclr": "C1", "random": "k"}


def _gpu_rows(folder: Path) -> list[dict]:
    rows = []
    for task in TASKS:
        for run, (method, anchors) in GPU_RUNS.items():
            path = folder / f"{task}_{run}" / "results.json"
            if not path.exists():
                continue
            res = read_results(path)
            row = next(
                r for r in res["rows"] if r["metric"] == "macro_f1" and r["protocol"] == "linear"
            )
            rows.append({
                "encoder": "full (3.6M, GPU)", "method": method, "anchors": anchors, "task": task,
                "macro_f1": row["mean"], "std": row["std"], "n_folds": row["n"],
                "folds": json.dumps(row["values"]), "run": run,
            })  # fmt: skip
    return rows


def _cpu_rows(path: Path, anchors_per_step: int = 16) -> list[dict]:
    """The classification rows of ``budget_curve.py``'s ``curve.csv`` (a compute-budget table:
    anchors = steps x 16; an older anchors table is read as it is)."""
    rows = []
    with path.open() as f:
        for r in csv.DictReader(f):
            if r.get("metric", "macro_f1") != "macro_f1" or r["task"] not in TASKS:
                continue
            anchors = r.get("anchors") or str(int(r["steps"] or 0) * anchors_per_step)
            score = r.get("macro_f1") or r["value"]
            rows.append({**r, "anchors": anchors, "macro_f1": score,
                         "encoder": "small (141k, CPU)", "run": f"{r['method']}-{anchors}"})  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu", default="runs/curve/curve.csv", help="budget_curve.py's curve.csv")
    p.add_argument("--gpu-evals", default="runs/eval", help="folder of <task>_<run> evaluations")
    p.add_argument("--out", default="docs/payoff")
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _cpu_rows(Path(args.cpu)) + _gpu_rows(Path(args.gpu_evals))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fields = ["encoder", "method", "anchors", "task", "macro_f1", "std", "n_folds", "run", "folds"]
    with (out / "curve.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in fields})

    fig, axes = plt.subplots(1, len(TASKS), figsize=(4.2 * len(TASKS), 4.0), sharex=True)
    for ax, task in zip(axes, TASKS, strict=True):
        for enc, style, marker in (("small (141k, CPU)", ":", "o"), ("full (3.6M, GPU)", "-", "s")):
            sel = [r for r in rows if r["task"] == task and r["encoder"] == enc]
            for method, colour in COLOURS.items():
                pts = sorted(
                    (int(r["anchors"]), float(r["macro_f1"])) for r in sel if r["method"] == method
                )
                if not pts:
                    continue
                if method == "random":
                    ax.axhline(pts[0][1], color=colour, ls=style, lw=1,
                               label=f"random weights, {enc.split(' (')[0]}")  # fmt: skip
                    continue
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, ls=style, marker=marker, color=colour,
                        label=f"{method}, {enc.split(' (')[0]}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("anchors seen in pretraining")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("linear-probe macro-F1 (matched subjects)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(
        "Pay-off of pretraining: small encoder on CPU (dotted) and full-size encoder on one H200 "
        "(solid); 5 subject-wise folds (hapt_har6_uci: its fixed split)", fontsize=10,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    fig.savefig(out / "curve.png", dpi=110)
    print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'} ({len(rows)} points)")


if __name__ == "__main__":
    main()
