"""Budget curve: compute spent against matched-subject linear-probe macro-F1.

Compute is counted in encoder window-passes (``metrics.csv``: ``passes_grad`` with gradient,
``passes_nograd`` without; one window through the encoder is one pass) and summarised as
gradient-pass equivalents, ``passes_grad + passes_nograd / 3`` (a pass without gradient is a
forward alone, about a third of a forward and its backward); the second x-axis is the measured
seconds of training on the named device (``curve.csv``'s ``device``), which checks that rule.
A budget (``--budgets``) is in gradient-pass equivalents: a RelCon step of the paper's recipe
costs ``B + B*K`` = 176 of them, a SimCLR step ``2B`` = 32, so at one budget every method has
spent the same compute, not seen the same anchors.

For every method and budget it pretrains the reduced encoder of ``relcon benchmark`` (141k
parameters; ``configs/wrist_pretrain.toml``: 16 anchors per step, 10 within-user candidates, the
15 other anchors as between-user candidates) on the CC BY wrist data minus the held-out subjects,
for as many steps as the budget buys, then fits a linear probe on each classification task,
scored on the task's subjects that no run saw (the same subjects and folds for every method):

* ``relcon``: RelCon ranked by the paper's motif distance (``configs/wrist_distance.toml``);
* ``relcon_canonical``: ranked by the orientation-free distance (the same recipe with
  ``architecture.orientation = "canonical"``);
* ``oracle``: ranked by the label oracle (same-label candidates first, motif order within): what
  a perfect teacher would buy; a diagnostic, never shipped;
* ``simclr``: SimCLR with the same encoder, data and anchors per step;
* the cheaper RelCon variants (``relcon pretrain`` options; the paper's recipe is ``relcon``):
  ``relcon_ema`` (candidates embedded without gradient by a momentum copy), ``relcon_copy`` (an
  augmented copy of each anchor as its closest candidate), ``relcon_k5`` (5 within-user
  candidates instead of 10);
* ``relcon_all``: the paper's recipe on every motion recording the shared data holds that the
  built-in tasks do not hold out (``configs/all_positions_*.toml``: the wrist data plus HAPT's
  waist, IPOL's lower back and the Oxford step counter's phone), with its own distance trained
  on the same data: what the non-wrist sets add or cost at the same compute. Its users are left
  out of every evaluation like any run's, so with it the non-wrist tasks keep only their
  held-out subjects (HAPT-UCI's fixed split then has no training subjects: leave it out).

A randomly initialised encoder of the same architecture is the floor. Results land in
``--out`` (runs, evaluations, ``curve.csv``, ``curve.png``); rerunning resumes.

    python scripts/budget_curve.py --data-root ../shared/data --tasks-dir tasks --out runs/curve \\
        --budgets 110000 330000 --few-shot 5 10
    relcon report runs/curve/eval/wisdm_har6/*/ --reference "relcon (relcon-c110000):linear" \\
        --out runs/curve/report
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pack_recordings import pack_recordings, unpack_recordings

from relcon.config import (
    DataConfig,
    DistanceTrainConfig,
    EvalConfig,
    PretrainConfig,
    load_config,
)
from relcon.data.windowing import window_recordings
from relcon.eval.harness import evaluate
from relcon.eval.results import read_results
from relcon.train.baselines import pretrain_baseline
from relcon.train.distance import train_distance
from relcon.train.relcon import pretrain

ROOT = Path(__file__).resolve().parents[1]
METHODS = (
    "relcon",
    "relcon_canonical",
    "oracle",
    "simclr",
    "relcon_ema",
    "relcon_copy",
    "relcon_k5",
    "relcon_all",
)
#: the pretraining data of each method (``relcon_all``: every position; the rest: wrist)
DATA = {
    "wrist": ("wisdm_watch+spsw_smartwatch", "wrist"),
    "all": ("wisdm_watch+spsw_smartwatch+hapt+ipol_gait+oxford_step_count", "all_positions"),
}
#: the settings of each RelCon variant (the paper's recipe: none)
VARIANTS = {
    "relcon_ema": {"candidate_encoder": "ema"},
    "relcon_copy": {"anchor_copy": True},
    "relcon_k5": {"within_user": 5},
}
TASKS = ("wisdm_har6", "spsw_har5", "hapt_har6", "hapt_har6_uci")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root")
    p.add_argument("--tasks-dir", help="folder of built-in task files")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--plot", metavar="CURVE_CSV",
        help="only draw a curve.csv written before (the --tasks that it holds) into --out, "
        "as a PNG of the same name; nothing is trained or evaluated",
    )  # fmt: skip
    p.add_argument(
        "--budgets", type=int, nargs="+", default=[110000, 330000],
        help="compute per run, in gradient-pass equivalents (passes_grad + passes_nograd / 3)",
    )  # fmt: skip
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--tasks", nargs="+", default=list(TASKS))
    p.add_argument(
        "--few-shot", type=int, nargs="+", default=[],
        help="also probe the classification tasks with this many labelled windows per class "
        "(0 = all), 3 draws each (regressions: all labels only); the curve plots all labels, "
        "`relcon report` over eval/TASK pairs every k",
    )  # fmt: skip
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.plot:
        path = out / (Path(a.plot).stem + ".png")
        _plot(_read_curve(Path(a.plot)), a.tasks, path)
        print(f"wrote {path}")
        return
    if not (a.data_root and a.tasks_dir):
        p.error("--data-root and --tasks-dir are needed (unless --plot)")

    # ---- data: the pooled recordings with their labels kept (for the oracle) ---------------
    segments = {}
    for data in sorted({data_of(m) for m in a.methods}):
        source, _ = DATA[data]
        packed = out / f"{data}.npz"
        if not packed.is_file():
            cfg = DataConfig(source=source, root=a.data_root, exclude_held_out=True)
            print(pack_recordings(cfg, packed), flush=True)
        recs, _ = unpack_recordings(packed)
        segments[data] = window_recordings(recs)
        segs = segments[data]
        print(f"{data}: {len(segs)} windows of {len(set(segs.user))} users", flush=True)

    # ---- the distances (the shipped recipe, paper and orientation-free; per data) ------------
    distances = {}
    for method in a.methods:
        name, data = distance_of(method), data_of(method)
        run = out / name
        if name not in distances and not (run / "model.safetensors").is_file():
            dist_cfg = load_config(
                ROOT / "configs" / f"{DATA[data][1]}_distance.toml", DistanceTrainConfig
            )
            orientation = "canonical" if "canonical" in method else "none"
            cfg = dataclasses.replace(
                dist_cfg,
                architecture=dataclasses.replace(dist_cfg.architecture, orientation=orientation),
            )
            train_distance(cfg, run, overwrite=True, segments=segments[data])
        distances[name] = run

    # ---- pretraining runs -------------------------------------------------------------------
    runs: dict[tuple[str, int], Path] = {}
    for budget in a.budgets:
        for method in a.methods:
            run = out / f"{method}-c{budget}"
            runs[(method, budget)] = run
            if (run / "model.safetensors").is_file():
                continue
            data = data_of(method)
            segs = segments[data]
            pre_cfg = load_config(
                ROOT / "configs" / f"{DATA[data][1]}_pretrain.toml", PretrainConfig
            )
            variant = dataclasses.replace(pre_cfg, **VARIANTS.get(method, {}))
            steps = max(1, round(budget / step_compute(variant, method)))
            cfg = dataclasses.replace(
                variant,
                steps=steps,
                warmup_steps=max(1, steps // 30),
                ckpt_every=max(50, steps // 5),
                distance=str(distances[distance_of(method)]),
                teacher="oracle" if method == "oracle" else "distance",
            )
            resume = (run / "checkpoints" / "LATEST").is_file()
            if method == "simclr":
                pretrain_baseline("simclr", cfg, run, resume=resume, overwrite=not resume,
                                  segments=segs)  # fmt: skip
            else:
                pretrain(cfg, run, resume=resume, overwrite=not resume, segments=segs)

    # ---- matched-subject linear probes ------------------------------------------------------
    pre_cfg = load_config(ROOT / "configs" / "wrist_pretrain.toml", PretrainConfig)  # random's
    subjects: dict[str, tuple[Path, list]] = {}  # per task: the first evaluation's subjects
    every_run = [str(r) for r in runs.values()]
    rows = []
    evaluations = [(m, n, str(r)) for (m, n), r in runs.items()] + [("random", 0, "")]
    device = device_name()
    for method, budget, run in evaluations:
        spent = compute_spent(Path(run)) if run else {}
        for task in a.tasks:
            res_dir = out / "eval" / task / f"{method}-c{budget}"
            res_path = res_dir / "results.json"
            if not res_path.is_file():
                task_file = Path(a.tasks_dir) / f"{task}.npz"
                with np.load(task_file) as z:  # few labels per class: classification only
                    few_shot = a.few_shot if str(z["task_type"]) == "classification" else []
                cfg = EvalConfig(
                    task=str(task_file),
                    model=run,
                    features="model" if run else "random",
                    protocol="linear",
                    encoder=pre_cfg.encoder,
                    exclude_users_of=every_run,
                    few_shot=sorted(set(few_shot) | {0}) if few_shot else [],
                )
                evaluate(cfg, res_dir, overwrite=True, progress=False)
            result = read_results(res_path)
            _check_same_subjects(result, res_path, subjects)
            have = {r["metric"] for r in result["rows"]}
            metric = "macro_f1" if "macro_f1" in have else "mae"  # a regression task: its MAE
            row = next(
                r for r in result["rows"] if r["metric"] == metric and r.get("k") in (None, 0)
            )
            rows.append({
                "method": method, "budget": budget, **spent, "device": device, "task": task,
                "metric": metric, "value": row["mean"],
                "std": row["std"], "n_folds": row["n"],
                "folds": json.dumps(row.get("values", [])),
            })  # fmt: skip
    with open(out / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot(rows, a.tasks, out / "curve.png")
    print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'}")


def _read_curve(path: Path) -> list[dict]:
    """The rows of a ``curve.csv`` with their numbers as numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key in ("budget", "compute", "seconds", "value", "std"):
            r[key] = float(r[key]) if r.get(key) not in (None, "") else 0.0
    return rows


def _check_same_subjects(result: dict, path: Path, seen: dict[str, tuple[Path, list]]) -> None:
    """Every evaluation of a task kept the same subjects (an evaluation left from a run with
    other methods, whose users were left out too, is not comparable: rerun it)."""
    task = result["task"]
    mine = sorted(task["subjects"])
    first = seen.setdefault(task["name"], (path, mine))
    if first[1] != mine:
        raise SystemExit(
            f"{path} was scored on other subjects than {first[0]} ({len(mine)} against "
            f"{len(first[1])}): it was made with another set of runs; delete it and rerun"
        )


def data_of(method: str) -> str:
    """The pretraining data (a key of :data:`DATA`) of ``method``."""
    return "all" if method == "relcon_all" else "wrist"


def distance_of(method: str) -> str:
    """The distance run (a folder name under ``--out``) that ranks ``method``'s candidates."""
    if method == "relcon_all":
        return "distance_all"
    return "distance_canonical" if "canonical" in method else "distance"


def step_compute(cfg: PretrainConfig, method: str) -> float:
    """Gradient-pass equivalents of one step (what ``relcon pretrain`` logs, per step)."""
    b, k = cfg.batch_size * cfg.accumulate, cfg.within_user
    if method == "simclr":
        return 2.0 * b
    pool = b * (1 + k) + (b if cfg.anchor_copy else 0)
    return b + pool / 3 if cfg.candidate_encoder == "ema" else float(pool)


def compute_spent(run: Path) -> dict:
    """The compute a run logged at its last step: passes, their gradient-pass equivalents,
    seconds of training, anchors."""
    with open(run / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    grad, nograd = float(last["passes_grad"]), float(last["passes_nograd"])
    return {
        "passes_grad": grad, "passes_nograd": nograd, "compute": grad + nograd / 3,
        "seconds": float(last["seconds"]), "steps": int(last["step"]),
    }  # fmt: skip


def device_name() -> str:
    """The device the runs were timed on (runs resumed from elsewhere mix devices: rerun them)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def _plot(rows: list[dict], tasks: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xlabels = {
        "compute": "encoder window-passes (gradient-pass equivalents)",
        "seconds": "seconds of training (device above)",
    }
    fig, axes = plt.subplots(2, len(tasks), figsize=(4 * len(tasks), 7.2), squeeze=False)
    for axis_row, (key, xlabel) in zip(axes, xlabels.items(), strict=True):
        for ax, task in zip(axis_row, tasks, strict=True):
            sub = [r for r in rows if r["task"] == task]
            for method in [*METHODS, "random"]:
                pts = sorted(
                    (r.get(key, 0), r["value"], r["std"]) for r in sub if r["method"] == method
                )
                if not pts:
                    continue
                if method == "random":
                    ax.axhline(pts[0][1], color="grey", ls="--", label="random weights")
                    continue
                x, y, s = map(np.array, zip(*pts, strict=True))
                ax.errorbar(x, y, yerr=s, marker="o", capsize=3, label=method)
            ax.set_xscale("log")
            ax.set_title(task)
            ax.set_xlabel(xlabel, fontsize=8)
            metric = "MAE" if sub and sub[0]["metric"] == "mae" else "macro-F1"
            ax.set_ylabel(f"linear-probe {metric} (mean ± std over folds)", fontsize=8)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"trained on {rows[0]['device']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
