"""``relcon benchmark``: the whole comparison, on CPU, in one command.

1. build the built-in task files from the shared data sets (:mod:`relcon.eval.builtin`);
2. pretrain, on the same unlabelled windows and with the same encoder and budget (steps x
   anchors per step): the motif distance, RelCon, and the self-supervised baselines (SimCLR,
   augmentation prediction, REBAR); the pretraining users exclude every data set's documented
   held-out subjects. The models are the demo's reduced sizes, so the suite runs on two CPU cores;
3. evaluate every method on every task with the harness (:mod:`relcon.eval.harness`): linear probes of
   RelCon, the baselines and a random encoder; hand-crafted features with logistic regression and
   a random forest; MiniRocket with a ridge classifier/regressor; the encoder trained from scratch
   (supervised; at most 2,000 training windows and 15 epochs per fold, see ``finetune``) and
   RelCon fine-tuned end to end with the same budget; few-shot curves for the classification
   tasks. Every method, baselines included, is fitted and scored on the same subjects of a task
   in the same folds: the task's subjects minus every subject that any compared encoder was
   pretrained on (:func:`matched_subjects`, decided once per task and written to
   ``eval/<task>/subjects.json``);
4. write the report (markdown table, CSV, plots).

Every stage is skipped when its output exists, so an interrupted benchmark resumes with the same
command. An evaluation is reused only if it was scored on the task's matched subjects (results
written before the subjects were recorded are checked split by split against their saved
predictions, and rerun when they differ).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

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
from relcon.train.methods import BASELINES

__all__ = ["BenchmarkConfig", "evaluate_tasks", "matched_subjects", "run_benchmark"]

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
            architecture=MotifDistanceConfig(channels=32, bottleneck=4),
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
    #: self-supervised baselines pretrained and compared with RelCon (relcon.train.methods)
    baselines: list[str] = field(
        default_factory=lambda: list(BASELINES), metadata={"choices": BASELINES}
    )
    #: encoders trained elsewhere to compare as well (registry names such as "relcon-wrist-full",
    #: or run folders); their pretraining subjects are left out of every method's scoring too
    compare: list[str] = field(default_factory=list)
    #: fine-tuning (supervised from scratch, RelCon end to end): capped to fit 2 CPU cores
    finetune: FinetuneConfig = field(
        default_factory=lambda: FinetuneConfig(epochs=15, patience=5, max_train_windows=2000)
    )
    folds: int = 5
    fold_seeds: int = 1  # repeat subject-wise k-fold with this many fold seeds
    few_shot: list[int] = field(default_factory=lambda: [1, 2, 5, 10, 0])
    few_shot_seeds: int = 3
    seed: int = 0


def _evaluations(cfg: BenchmarkConfig, runs: dict[str, Path]) -> list[tuple[str, dict]]:
    """``(folder name, EvalConfig overrides)`` for every features/protocol pair."""
    evals: list[tuple[str, dict]] = []
    for name, run in runs.items():
        evals.append(
            (f"{name}-linear", {"features": "model", "model": str(run), "protocol": "linear"})
        )
    evals += [
        ("random-linear", {"features": "random", "protocol": "linear"}),
        ("handcrafted-linear", {"features": "handcrafted", "protocol": "linear"}),
        ("handcrafted-rf", {"features": "handcrafted", "protocol": "rf"}),
        # MiniRocket's ridge head on 10k features is the CPU bottleneck (an N x N Gram matrix and
        # its eigendecomposition per fold): fitted on at most 2,000 training windows per fold
        (
            "minirocket-ridge",
            {"features": "minirocket", "protocol": "ridge_classifier", "max_train_windows": 2000},
        ),
        ("supervised-finetune", {"features": "supervised", "protocol": "finetune"}),
        # RelCon fine-tuned end to end with the same budget as the supervised baseline
        (
            "relcon-finetune",
            {"features": "model", "model": str(runs["relcon"]), "protocol": "finetune"},
        ),
    ]
    return evals


def matched_subjects(task, runs: dict[str, Path]) -> tuple[list[str], dict[str, list[str]]]:
    """The subjects every method is scored on: the task's minus those any encoder run saw.

    Returns ``(kept subjects, {run: its pretraining users found in the task})``, both sorted.
    """
    from relcon.eval.subjects import pretrained_users

    subjects = set(np.unique(task.groups.astype(str)).tolist())
    seen = {
        run: sorted(subjects & set(users))
        for run, users in pretrained_users([str(r) for r in runs.values()]).items()
    }
    left_out = set().union(*seen.values()) if seen else set()
    return sorted(subjects - left_out), seen


def _reusable(res_path: Path, ecfg: EvalConfig) -> bool:
    """Whether the results at ``res_path`` were scored on the subjects and splits ``ecfg`` plans:
    a readable results file (:func:`relcon.eval.results.read_results`) of the same subject list,
    folds, fold seeds and seed."""
    from relcon.eval.results import read_results

    try:
        old_cfg = read_results(res_path).get("config") or {}
    except ValueError:
        return False
    return (
        old_cfg.get("folds") == ecfg.folds
        and old_cfg.get("seed") == ecfg.seed
        and old_cfg.get("fold_seeds") == ecfg.fold_seeds
        and old_cfg.get("subjects") is not None
        and sorted(map(str, old_cfg["subjects"])) == sorted(ecfg.subjects or [])
    )


def evaluate_tasks(
    cfg: BenchmarkConfig,
    task_paths: dict[str, Path],
    runs: dict[str, Path],
    out: str | Path,
    *,
    evaluations: list[tuple[str, dict]] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Evaluate every method on every task, all on the task's matched subjects and folds.

    ``runs`` are the compared encoder runs (name -> folder, or a shipped model's name); for each task the subjects any of
    them was pretrained on are left out for every method (:func:`matched_subjects`), and the
    kept list goes to each evaluation's ``EvalConfig.subjects``. ``evaluations`` are
    ``(folder name, EvalConfig overrides)`` pairs (default: the benchmark's methods). Results go
    to ``out/<task>/<folder>/results.json`` (existing ones are reused when they were scored on
    the same subjects) and the subject list to ``out/<task>/subjects.json``. Returns the
    results files.
    """
    from relcon.data.tasks import load_task
    from relcon.eval.harness import evaluate

    out = Path(out)
    evals = _evaluations(cfg, runs) if evaluations is None else evaluations
    result_files = []
    for task_name, path in task_paths.items():
        task = load_task(path)
        kept, seen = matched_subjects(task, runs)
        atomic_write_json(
            out / task_name / "subjects.json",
            {"task": task_name, "subjects": kept, "pretrained_on": seen,
             "runs": {name: str(run) for name, run in runs.items()}},
        )  # fmt: skip
        for folder, overrides in evals:
            if task.task_type == "regression" and overrides["protocol"] == "ridge_classifier":
                overrides = {**overrides, "protocol": "linear"}  # ridge regression on MiniRocket
            res_path = out / task_name / folder / "results.json"
            result_files.append(res_path)
            # few-shot curves for the linear probes of classification tasks only: the forest,
            # MiniRocket and end-to-end training are scored on all labels, to keep CPU time sane
            linear = overrides["protocol"] == "linear"
            few = cfg.few_shot if task.task_type == "classification" and linear else []
            ecfg = EvalConfig(
                task=str(path), folds=cfg.folds, fold_seeds=cfg.fold_seeds, subjects=kept,
                few_shot=few, few_shot_seeds=cfg.few_shot_seeds, seed=cfg.seed,
                encoder=cfg.pretrain.encoder, finetune=cfg.finetune, **overrides,
            )  # fmt: skip
            if res_path.exists():
                if _reusable(res_path, ecfg):
                    continue
                print(f"== {task_name}: {folder} was not scored on the matched subjects; rerun")
            print(f"== {task_name}: {folder}")
            evaluate(ecfg, res_path.parent, overwrite=True, progress=progress)
    return result_files


def run_benchmark(cfg: BenchmarkConfig, out: str | Path, *, progress: bool = True) -> Path:
    """Run (or resume) the benchmark; returns the report folder."""
    from relcon.data.datasets.heldout import HELD_OUT_SUBJECTS
    from relcon.eval.builtin import build_tasks
    from relcon.eval.report import load_results, write_report
    from relcon.train.baselines import pretrain_baseline
    from relcon.train.distance import train_distance
    from relcon.train.relcon import pretrain

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
    for name in cfg.compare:
        if name in runs:
            raise ValueError(f"compare: {name!r} collides with a benchmark run's name")
        runs[name] = Path(name)
    timing["pretrain_s"] = time.perf_counter() - t

    t = time.perf_counter()
    result_files = evaluate_tasks(cfg, task_paths, runs, out / "eval", progress=False)
    timing["evaluate_s"] = time.perf_counter() - t

    report_dir = out / "report"
    write_report(load_results(result_files), report_dir, overwrite=True)  # the earlier run's
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
