"""``relcon benchmark``: the whole comparison, on CPU, in one command.

1. build the built-in task files from the shared data sets (:mod:`relcon.builtin_tasks`);
2. pretrain, on the same unlabelled windows and with the same encoder and budget (steps x
   anchors per step): the motif distance, RelCon, and the self-supervised baselines (SimCLR,
   augmentation prediction, REBAR); the pretraining users exclude every data set's documented
   held-out subjects. The models are the demo's reduced sizes, so the suite runs on two CPU cores;
3. evaluate every method on every task with the harness (:mod:`relcon.harness`): linear probes of
   RelCon, the baselines and a random encoder; hand-crafted features with logistic regression and
   a random forest; MiniRocket with a ridge classifier/regressor; the encoder trained from scratch
   (supervised; at most 2,000 training windows and 15 epochs per fold, see ``finetune``) and
   RelCon fine-tuned end to end with the same budget; few-shot curves for the classification
   tasks. Users seen in pretraining are left out of every task automatically;
4. write the report (markdown table, CSV, plots).

Every stage is skipped when its output exists, so an interrupted benchmark resumes with the same
command.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from relcon.config import (
    DataConfig,
    DistanceTrainConfig,
    EncoderConfig,
    EvalConfig,
    FinetuneConfig,
    PretrainConfig,
    save_config,
)
from relcon.io import atomic_write_json, environment_info
from relcon.models.distance import MotifDistanceConfig

__all__ = ["BenchmarkConfig", "run_benchmark"]

DEFAULT_TASKS = [
    "wisdm_har6", "spsw_har5", "hapt_har6", "hapt_har6_uci", "oxford_steps", "ipol_cadence", "ipol_stride_time",
]  # fmt: skip


def _small_encoder() -> EncoderConfig:
    return EncoderConfig(stage_blocks=(1, 1, 1), stage_filters=(32, 64, 128), stem_filters=32)


@dataclass
class BenchmarkConfig:
    """Settings of ``relcon benchmark`` (defaults sized for two CPU cores)."""

    data_root: str | None = None  # folder holding the shared data sets (default: $RELCON_DATA)
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    pretrain_source: str = "wisdm_watch+spsw_smartwatch"  # unlabelled pretraining data (wrist)
    distance: DistanceTrainConfig = field(
        default_factory=lambda: DistanceTrainConfig(
            model=MotifDistanceConfig(channels=32, bottleneck=4),
            steps=400,
            warmup_steps=20,
            compile=True,
        )
    )
    pretrain: PretrainConfig = field(
        default_factory=lambda: PretrainConfig(
            encoder=_small_encoder(),
            steps=600,
            batch_size=16,
            within_user=10,
            warmup_steps=20,
            compile=True,
        )
    )
    baselines: list[str] = field(default_factory=lambda: ["simclr", "augpred", "rebar"])
    # fine-tuning (supervised from scratch, RelCon end to end): capped to fit 2 CPU cores
    finetune: FinetuneConfig = field(
        default_factory=lambda: FinetuneConfig(epochs=15, patience=5, max_train_windows=2000)
    )
    folds: int = 5
    few_shot: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 0])
    few_shot_seeds: int = 3
    seed: int = 0


def _evaluations(cfg: BenchmarkConfig, runs: dict[str, Path]) -> list[tuple[str, dict]]:
    """``(folder name, EvalConfig overrides)`` for every method/protocol pair."""
    evals: list[tuple[str, dict]] = []
    for name, run in runs.items():
        evals.append(
            (f"{name}-linear", {"method": "encoder", "checkpoint": str(run), "protocol": "linear"})
        )
    evals += [
        ("random-linear", {"method": "random", "protocol": "linear"}),
        ("handcrafted-linear", {"method": "handcrafted", "protocol": "linear"}),
        ("handcrafted-rf", {"method": "handcrafted", "protocol": "rf"}),
        # MiniRocket's ridge head on 10k features is the CPU bottleneck (an N x N Gram matrix and
        # its eigendecomposition per fold): fitted on at most 2,000 training windows per fold
        (
            "minirocket-ridge",
            {"method": "minirocket", "protocol": "ridge_classifier", "max_train_windows": 2000},
        ),
        ("supervised-finetune", {"method": "supervised", "protocol": "finetune"}),
        # RelCon fine-tuned end to end with the same budget as the supervised baseline
        (
            "relcon-finetune",
            {"method": "encoder", "checkpoint": str(runs["relcon"]), "protocol": "finetune"},
        ),
    ]
    return evals


def run_benchmark(cfg: BenchmarkConfig, out: str | Path, *, progress: bool = True) -> Path:
    """Run (or resume) the benchmark; returns the report folder."""
    from relcon.baselines import pretrain_baseline
    from relcon.builtin_tasks import HELD_OUT_SUBJECTS, build_tasks
    from relcon.harness import evaluate
    from relcon.pretrain import pretrain
    from relcon.report import load_results, write_report
    from relcon.tasks import load_task
    from relcon.train_distance import train_distance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "benchmark_config.toml")
    timing: dict[str, float] = {}

    t = time.perf_counter()
    task_paths = {name: out / "tasks" / f"{name}.npz" for name in cfg.tasks}
    if not all(path.exists() for path in task_paths.values()):
        task_paths = build_tasks(cfg.data_root, out / "tasks", names=cfg.tasks, overwrite=True)
    timing["tasks_s"] = time.perf_counter() - t

    held_out = sorted({s for subjects in HELD_OUT_SUBJECTS.values() for s in subjects})
    data = DataConfig(source=cfg.pretrain_source, root=cfg.data_root, exclude_users=held_out)
    pre = out / "pretrain"
    t = time.perf_counter()
    dist_run = pre / "distance"
    if not (dist_run / "model.safetensors").exists():
        train_distance(
            replace(cfg.distance, data=data, seed=cfg.seed),
            dist_run,
            resume=True,
            progress=progress,
        )
    pcfg = replace(cfg.pretrain, data=data, distance=str(dist_run), seed=cfg.seed)
    runs = {"relcon": pre / "relcon"}
    if not (runs["relcon"] / "model.safetensors").exists():
        pretrain(pcfg, runs["relcon"], resume=True, progress=progress)
    for name in cfg.baselines:
        runs[name] = pre / name
        if not (runs[name] / "model.safetensors").exists():
            pretrain_baseline(name, pcfg, runs[name], resume=True, progress=progress)
    timing["pretrain_s"] = time.perf_counter() - t

    t = time.perf_counter()
    result_files = []
    for task_name, path in task_paths.items():
        task = load_task(path)
        for folder, overrides in _evaluations(cfg, runs):
            if task.task_type == "regression" and overrides["protocol"] == "ridge_classifier":
                overrides = {**overrides, "protocol": "linear"}  # ridge regression on MiniRocket
            res_path = out / "eval" / task_name / folder / "results.json"
            result_files.append(res_path)
            if res_path.exists():
                continue
            # few-shot curves for the linear probes of classification tasks only: the forest,
            # MiniRocket and end-to-end training are scored on all labels, to keep CPU time sane
            linear = overrides["protocol"] == "linear"
            few = cfg.few_shot if task.task_type == "classification" and linear else []
            ecfg = EvalConfig(
                task=str(path), folds=cfg.folds, few_shot=few, few_shot_seeds=cfg.few_shot_seeds, seed=cfg.seed,
                encoder=cfg.pretrain.encoder, finetune=cfg.finetune, **overrides,
            )  # fmt: skip
            print(f"== {task_name}: {folder}")
            evaluate(ecfg, res_path.parent, overwrite=True, progress=False)
    timing["evaluate_s"] = time.perf_counter() - t

    report_dir = out / "report"
    write_report(load_results(result_files), report_dir)
    # wall time of every run of this command so far (an interrupted benchmark resumes)
    record = out / "benchmark.json"
    runs_timing = json.loads(record.read_text())["runs"] if record.exists() else []
    runs_timing.append(timing)
    total = sum(sum(run.values()) for run in runs_timing)
    atomic_write_json(
        record, {"runs": runs_timing, "total_s": total, "environment": environment_info()}
    )
    print(
        f"benchmark report in {report_dir}/ ({sum(timing.values()) / 60:.0f} min this run, "
        f"{total / 60:.0f} min over {len(runs_timing)} run(s))"
    )
    return report_dir
