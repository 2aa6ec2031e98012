"""``relcon demo``: the whole method, end to end, on the bundled WISDM watch subset.

1. split the 46 bundled users into pretraining users and held-out users (fixed by the seed);
2. train the motif distance on the pretraining users' windows (labels unused);
3. pretrain the encoder with RelCon on the same windows (labels unused);
4. on the held-out users only, a subject-wise k-fold linear probe (train on k-1 folds of users,
   test on the remaining users) of three representations: the RelCon encoder, the same encoder
   randomly initialised, and hand-crafted features;
5. print the table, write ``demo.json``, ``demo.csv`` and ``demo.png`` (the demo's own record:
   three representations in one file, not the ``results.json`` of :mod:`relcon.eval.results`).

To fit in ten minutes on two CPU cores the demo uses reduced models (see :func:`demo_config`):
a 141k-parameter ResNet (one residual block per stage, 32/64/128 filters) and a motif distance
with 32 channels; ``relcon train-distance`` and ``relcon pretrain`` default to the paper's sizes
(64-channel distance, 3.6M-parameter encoder).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from relcon.config import (
    DataConfig,
    DemoConfig,
    DistanceTrainConfig,
    PretrainConfig,
    save_config,
    to_dict,
)
from relcon.data.datasets import load_segments
from relcon.eval.metrics import summarise
from relcon.eval.probes import probe_folds
from relcon.io import atomic_path, atomic_write_json, environment_info
from relcon.models.distance import MotifDistanceConfig
from relcon.models.encoder import EncoderConfig, ResNet1DEncoder
from relcon.models.handcrafted import handcrafted_features

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["demo_config", "format_table", "plot_results", "results_figure", "run_demo"]

METRICS = ("macro_f1", "kappa")
TASK = "wisdm_har6"


def demo_config(quick: bool = False) -> DemoConfig:
    """The demo's settings; ``quick=True`` is a smoke test that finishes in well under 2 minutes."""
    encoder = EncoderConfig(stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128), stem_filters=32)
    # what both training stages share: the data, the schedule, logging and compiling
    stage = {
        "data": DataConfig(source="demo", block_seconds=3600.0), "lr": 1e-3, "warmup_steps": 20,
        "log_every": 10, "ckpt_every": 100, "compile": True,
    }  # fmt: skip
    distance = DistanceTrainConfig(
        architecture=MotifDistanceConfig(channels=32, bottleneck=4),
        steps=400,
        batch_size=64,
        **stage,
    )
    pre = PretrainConfig(encoder=encoder, steps=600, batch_size=16, within_user=10, **stage)
    cfg = DemoConfig(distance=distance, pretrain=pre, pretrain_users=26, folds=5, seed=0)
    if quick:
        cfg.distance = replace(
            distance, steps=8, batch_size=16, ckpt_every=4, log_every=2, compile=False
        )
        cfg.pretrain = replace(
            pre, steps=4, batch_size=8, within_user=4, ckpt_every=2, log_every=2, compile=False,
            encoder=EncoderConfig(
                stage_blocks=(1, 1), stage_filters=(16, 32), stage_kernels=(3, 4), stem_filters=16
            ),
        )  # fmt: skip
        cfg.folds = 3
        cfg.eval_every = 4
    return cfg


def _stage_done(run_dir: Path) -> bool:
    return (run_dir / "model.safetensors").is_file() and (run_dir / "model.json").is_file()


def run_demo(
    out: str | Path = "relcon-demo",
    *,
    quick: bool = False,
    config: DemoConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Run the demo; returns the ``demo.json`` content."""
    from relcon.train.distance import train_distance
    from relcon.train.relcon import pretrain

    cfg = config if config is not None else demo_config(quick)
    out = Path(out)
    if (out / "demo.json").exists() and not (resume or overwrite):
        raise FileExistsError(f"{out} already holds demo results; pass --resume or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "demo_config.toml")
    t0 = time.perf_counter()
    timing: dict[str, float] = {}

    # ---- 1. data and the user split -------------------------------------------------------
    segs = load_segments(DataConfig(source="demo"))
    users = np.unique(segs.user)
    if not 2 <= cfg.pretrain_users < len(users) - cfg.folds + 1:
        raise ValueError(
            f"pretrain_users must leave at least {cfg.folds} of {len(users)} users for the probe"
        )
    shuffled = np.random.default_rng(cfg.seed).permutation(users)
    pre_users, eval_users = (
        np.sort(shuffled[: cfg.pretrain_users]),
        np.sort(shuffled[cfg.pretrain_users :]),
    )
    pre = segs.subset(np.isin(segs.user, pre_users))
    held = segs.subset(
        np.flatnonzero(np.isin(segs.user, eval_users) & (segs.label >= 0))[:: cfg.eval_every]
    )
    print(
        f"demo data: {len(segs)} windows of 2.56 s from {len(users)} users; pretraining on "
        f"{len(pre_users)} users ({len(pre)} windows, labels unused), probing on the other "
        f"{len(eval_users)} users ({len(held)} windows) in {cfg.folds} subject-wise folds"
    )
    timing["data_s"] = time.perf_counter() - t0

    # ---- 2. motif distance ----------------------------------------------------------------
    t = time.perf_counter()
    dist_dir = out / "distance"
    if not (resume and _stage_done(dist_dir)):
        train_distance(
            cfg.distance,
            dist_dir,
            resume=resume,
            overwrite=overwrite,
            segments=pre,
            progress=progress,
        )
    timing["train_distance_s"] = time.perf_counter() - t

    # ---- 3. RelCon pretraining ------------------------------------------------------------
    t = time.perf_counter()
    relcon_dir = out / "relcon"
    pre_cfg = replace(cfg.pretrain, distance=str(dist_dir))
    if not (resume and _stage_done(relcon_dir)):
        pretrain(
            pre_cfg, relcon_dir, resume=resume, overwrite=overwrite, segments=pre, progress=progress
        )
    timing["pretrain_s"] = time.perf_counter() - t

    # ---- 4. linear probes on held-out users -----------------------------------------------
    t = time.perf_counter()
    from relcon.models.hub import load_model

    encoder, _ = load_model(relcon_dir, kind="encoder")
    torch.manual_seed(cfg.seed)
    random_encoder = ResNet1DEncoder(cfg.pretrain.encoder).eval()
    names = held.label_names
    y = held.label.astype(np.int64)
    # fp32 embeddings: the probe's features must not depend on whether this CPU computes bf16
    representations = {
        "RelCon": encoder.embed(held.x, progress=progress, precision="fp32"),
        "Random init": random_encoder.embed(held.x, progress=progress, precision="fp32"),
        "Hand-crafted": handcrafted_features(held.x),
    }
    fold_rows = []
    for method, feats in representations.items():
        fold_rows += probe_folds(
            feats, y, held.user, method=method, task=TASK, folds=cfg.folds, seed=cfg.seed
        )
    rows = [
        {k: r[k] for k in ("method", "task", "metric", "mean", "std", "n")}
        for r in summarise(fold_rows)
        if r["metric"] in METRICS
    ]
    timing["evaluate_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t0

    results = {
        "rows": rows,
        "folds": fold_rows,
        "task": {
            "name": TASK,
            "classes": [names[c] for c in np.unique(y)],
            "n_windows": len(held),
            "pretrain_users": [str(u) for u in pre_users],
            "eval_users": [str(u) for u in eval_users],
        },
        "config": to_dict(cfg),
        "quick": quick,
        "timing": timing,
        "environment": environment_info(),
    }
    atomic_write_json(out / "demo.json", results)
    _write_csv(out / "demo.csv", rows)
    plot_results(rows, out / "demo.png", held_out_users=len(eval_users))
    print(format_table(rows))
    print(f"results in {out}/ (demo.json, demo.csv, demo.png); {timing['total_s']:.0f} s")
    return results


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["method", "task", "metric", "mean", "std", "n"])
        w.writeheader()
        w.writerows(rows)


def format_table(rows: list[dict]) -> str:
    """Markdown table: one row per method, mean ± std per metric."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    cell = {(r["method"], r["metric"]): f"{r['mean']:.3f} ± {r['std']:.3f}" for r in rows}
    lines = ["| method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(cell.get((m, k), "") for k in metrics) + " |")
    return "\n".join(lines)


def plot_results(rows: list[dict], path: str | Path, *, held_out_users: int | None = None) -> None:
    """:func:`results_figure` written atomically to ``path`` (PNG)."""
    fig = results_figure(rows, held_out_users=held_out_users)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def results_figure(rows: list[dict], *, held_out_users: int | None = None) -> Figure:
    """Bar chart of mean ± std per method and metric.

    The title says over how many subject-wise folds (``n`` of the rows) and, with
    ``held_out_users``, on how many users never seen in pretraining; the legend sits beside the
    axes, off the bars; each bar's mean is written inside it.
    """
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(r["method"] for r in rows))
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    lookup = {(r["method"], r["metric"]): r for r in rows}
    fig = Figure(figsize=(7.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        means = [lookup[(m, k)]["mean"] for k in metrics]
        stds = [lookup[(m, k)]["std"] for k in metrics]
        pos = np.arange(len(metrics)) + (i - (len(methods) - 1) / 2) * width
        bars = ax.bar(pos, means, width, yerr=stds, capsize=3, label=m)
        ax.bar_label(
            bars, labels=[f"{v:.2f}" for v in means], label_type="center", fontsize=8, color="white"
        )
    ax.set_xticks(np.arange(len(metrics)), [k.replace("_", " ") for k in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on held-out users")
    task = rows[0]["task"] if rows else ""
    folds = max((int(r["n"]) for r in rows), default=0)
    users = f" of {held_out_users} held-out users" if held_out_users else ""
    ax.set_title(
        f"Linear probe, {task}: mean ± std over {folds} subject-wise folds{users}\n"
        "(each fold tests on users the probe never saw; none of them was seen in pretraining)",
        fontsize=9,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def load_results(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
