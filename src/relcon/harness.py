"""The evaluation harness behind ``relcon evaluate``: one method, one protocol, one task.

A run evaluates a **method** (where the features come from) with a **protocol** (what is trained
on them) on a **task** file, honestly:

* splits are by subject: the task's fixed ``split`` if it has one, else subject-wise k-fold;
  every fold is trained from scratch and writes its own folder (predictions and scores);
* every hyperparameter (regularisation, early stopping) is chosen on validation subjects carved
  out of the fold's training subjects, never on its test subjects;
* users an encoder was pretrained on (recorded in its ``model.json``) are left out of the task;
* few-shot: the same protocol trained on ``k`` labelled windows per class drawn from the training
  subjects, for several seeds;
* the summary is the mean and std over folds, with every fold's score kept.

Methods: ``encoder`` (any encoder run: RelCon or a self-supervised baseline), ``random`` (the same
architecture randomly initialised), ``handcrafted``, ``minirocket``, ``supervised`` (the encoder
trained from scratch on the labels). Protocols: ``linear``, ``mlp``, ``rf``,
``ridge_classifier`` on frozen features; ``finetune`` (encoder and head trained together; with
``encoder`` it starts from the checkpoint, with ``supervised``/``random`` from scratch).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from relcon.config import EvalConfig, to_dict
from relcon.evaluation import subject_folds, summarise
from relcon.io import atomic_write_json, environment_info
from relcon.metrics import score
from relcon.tasks import Task, load_task

__all__ = ["METHODS", "PROTOCOLS", "evaluate", "resolve_method_protocol", "task_from_data"]

METHODS = ("encoder", "random", "handcrafted", "minirocket", "supervised")
PROTOCOLS = ("linear", "mlp", "rf", "ridge_classifier", "finetune")
FEW_SHOT_ALL = 0  # k = 0 in a few-shot list means "all labelled windows"


def task_from_data(cfg: EvalConfig) -> Task:
    """A classification task from a data source: its labelled windows, grouped by user."""
    from relcon.data.datasets import load_segments

    segs = load_segments(cfg.data)
    keep = segs.label >= 0
    if cfg.labels is not None:
        unknown = [n for n in cfg.labels if n not in segs.label_names]
        if unknown:
            raise ValueError(f"unknown labels {unknown}; the data have {list(segs.label_names)}")
        keep &= np.isin(segs.label, [segs.label_names.index(n) for n in cfg.labels])
    segs = segs.subset(keep)
    if len(segs) == 0:
        raise ValueError(f"data source {cfg.data.source!r}: no labelled windows to evaluate on")
    labels = "+".join(cfg.labels) if cfg.labels else "all"
    return Task(
        X=segs.x,
        y=segs.label.astype(np.int64),
        groups=segs.user,
        task_type="classification",
        label_names=segs.label_names,
        name=f"{cfg.data.source}:{labels}",
        description=f"labelled windows of data source {cfg.data.source!r}",
    )


def resolve_method_protocol(cfg: EvalConfig) -> tuple[str, str]:
    """Fill in ``auto`` method/protocol and check that the pair makes sense."""
    method = cfg.method
    if method == "auto":
        method = (
            "encoder"
            if cfg.checkpoint not in ("", "random", "handcrafted")
            else (cfg.checkpoint or "")
        )
        if not method:
            raise ValueError("evaluate: give --checkpoint (an encoder run) or --method")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    if method == "encoder" and not cfg.checkpoint:
        raise ValueError("method 'encoder' needs --checkpoint (a RelCon or baseline encoder run)")
    protocol = cfg.protocol
    if protocol == "auto":
        protocol = {"supervised": "finetune", "minirocket": "ridge_classifier"}.get(
            method, "linear"
        )
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    if method == "supervised" and protocol != "finetune":
        raise ValueError(
            "method 'supervised' trains the encoder on the labels: use protocol 'finetune'"
        )
    if protocol == "finetune" and method in ("handcrafted", "minirocket"):
        raise ValueError(f"protocol 'finetune' needs an encoder, not {method!r} features")
    return method, protocol


def _splits(task: Task, cfg: EvalConfig) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, train_index, test_index)`` per split.

    The task's fixed split if it has one, else its predefined folds (``fold`` key), else
    subject-wise k-fold with ``cfg.folds`` folds.
    """
    if task.split is not None and cfg.use_fixed_split:
        return [
            ("fixed", np.flatnonzero(task.split == "train"), np.flatnonzero(task.split == "test"))
        ]
    if task.n_subjects < cfg.folds:
        raise ValueError(
            f"task {task.name!r} has {task.n_subjects} subjects, fewer than folds={cfg.folds}; "
            "lower --folds (at least 2)"
        )
    out = []
    for k, test_subjects in enumerate(subject_folds(task.groups, cfg.folds, cfg.seed)):
        test = np.isin(task.groups, test_subjects)
        out.append((f"fold{k}", np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def _frozen_features(method: str, task: Task, cfg: EvalConfig, encoder, progress: bool):
    """Features for every window, or a per-split fitter (MiniRocket is fitted on training windows)."""
    if method == "handcrafted":
        from relcon.features import handcrafted_features

        return handcrafted_features(task.X)
    if method == "minirocket":
        return None  # fitted per split in _features_for
    return encoder.embed(task.X, batch_size=cfg.batch_size, progress=progress, allow_longer=True)


def _features_for(method, all_feats, task, train, test, seed):
    if method == "minirocket":
        from relcon.minirocket import minirocket_features

        return minirocket_features(task.X[train], task.X[test], seed=seed)
    return all_feats[train], all_feats[test]


def _few_shot(y, groups, k, seed, task_type):
    from relcon.fewshot import few_shot_indices

    index, _ = few_shot_indices(
        y, groups, None if k == FEW_SHOT_ALL else k, seed, task_type=task_type
    )
    return index


def _make_trainer(
    method: str, protocol: str, task: Task, cfg: EvalConfig, encoder, encoder_cfg, progress
):
    """A function ``(train_idx, test_idx, seed) -> (predictions, info)`` for this method/protocol."""
    n_classes = int(task.y.max()) + 1 if task.task_type == "classification" else None
    if protocol == "finetune":
        from relcon.finetune import finetune

        def run(train, test, seed):
            import copy

            ft_cfg = copy.deepcopy(cfg.finetune)
            ft_cfg.seed = seed
            ft_cfg.device = cfg.device
            start = None if method in ("supervised", "random") else copy.deepcopy(encoder)
            model = finetune(
                task.X[train],
                task.y[train],
                task.groups[train],
                task_type=task.task_type,
                n_classes=n_classes,
                encoder=start,
                encoder_config=encoder_cfg,
                cfg=ft_cfg,
                progress=progress,
            )
            return model.predict(task.X[test]), {"finetune": to_dict(ft_cfg), **model.info}

        return run

    from relcon.probes import fit_predict

    all_feats = _frozen_features(method, task, cfg, encoder, progress)

    def run(train, test, seed):
        n_all = len(train)
        if cfg.max_train_windows is not None and n_all > cfg.max_train_windows:
            rng = np.random.default_rng(seed)
            train = np.sort(rng.choice(train, cfg.max_train_windows, replace=False))
        f_train, f_test = _features_for(method, all_feats, task, train, test, seed)
        pred, info = fit_predict(
            protocol,
            f_train,
            task.y[train],
            task.groups[train],
            f_test,
            task_type=task.task_type,
            seed=seed,
            val_fraction=cfg.val_fraction,
        )
        if len(train) < n_all:
            info["train_subsample"] = (
                f"{len(train)} of {n_all} training windows (random, seed {seed})"
            )
        return pred, info

    return run


def _load_encoder(method: str, cfg: EvalConfig):
    import torch

    from relcon.checkpoint import load_model
    from relcon.models.encoder import ResNet1DEncoder
    from relcon.runs import pick_device

    device = pick_device(cfg.device)
    if method == "encoder":
        encoder, meta = load_model(_checkpoint_path(cfg.checkpoint), kind="encoder", device=device)
        return encoder, encoder.config, meta
    if method in ("random", "supervised"):
        torch.manual_seed(cfg.seed)
        encoder = ResNet1DEncoder(cfg.encoder).to(device)
        return encoder, cfg.encoder, {}
    return None, None, {}


def _checkpoint_path(checkpoint: str) -> str | Path:
    """``default`` names the model shipped with the package; anything else is a path."""
    if checkpoint == "default":
        import relcon

        return relcon.default_model_path("encoder")
    return checkpoint


def _method_label(method: str, meta: dict, cfg: EvalConfig) -> str:
    if method == "encoder":
        trained = meta.get("method", "relcon")
        if cfg.checkpoint == "default":
            return f"{trained} (shipped)"
        folder = Path(cfg.checkpoint).resolve().name
        return trained if folder == trained else f"{trained} ({folder})"
    return method


def evaluate(
    cfg: EvalConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True
) -> dict:
    """Run one method/protocol on one task; write ``out/results.json`` and one folder per split."""
    out = Path(out)
    if out.suffix == ".json":  # a results file was named: keep the per-split folders beside it
        result_path, folder = out, out.with_suffix("")
    else:
        result_path, folder = out / "results.json", out
    if result_path.exists() and not overwrite:
        raise FileExistsError(f"{result_path} exists; pass --overwrite to replace it")
    method, protocol = resolve_method_protocol(cfg)
    t0 = time.perf_counter()

    task = load_task(cfg.task) if cfg.task else task_from_data(cfg)
    encoder, encoder_cfg, meta = _load_encoder(method, cfg)
    notes: list[str] = []
    seen = set(meta.get("train_users", []))
    if seen:
        overlap = np.isin(task.groups, list(seen))
        if overlap.any():
            notes.append(f"left out {len(set(task.groups[overlap]))} subjects seen in pretraining")
            task = task.subset(np.flatnonzero(~overlap))
            if task.n_subjects < 2:
                raise ValueError(
                    "every subject of the task was seen in pretraining: nothing left to test on"
                )
    label = _method_label(method, meta, cfg)
    trainer = _make_trainer(method, protocol, task, cfg, encoder, encoder_cfg, progress)
    splits = _splits(task, cfg)

    fold_rows, few_rows, confusion = [], [], None
    per_class: dict[int, list[float]] = {}
    for split_name, train, test in splits:
        if task.task_type == "classification":
            absent = sorted(set(task.y[test]) - set(task.y[train]))
            if absent:
                names = [task.label_names[c] if task.label_names else str(c) for c in absent]
                notes.append(
                    f"{split_name}: classes {names} are in the test subjects but not the training subjects"
                )
        pred, info = trainer(train, test, cfg.seed)
        metrics = score(task.task_type, task.y[test], pred)
        split_dir = folder / split_name
        np.savez_compressed(
            split_dir.mkdir(parents=True, exist_ok=True) or split_dir / "predictions.npz",
            index=test,
            y_true=task.y[test],
            y_pred=pred,
            groups=task.groups[test],
        )
        atomic_write_json(
            split_dir / "scores.json",
            {"metrics": metrics, "info": info, "n_train": len(train), "n_test": len(test)},
        )
        for metric, value in metrics.items():
            fold_rows.append(
                {
                    "method": label,
                    "task": task.name,
                    "protocol": protocol,
                    "split": split_name,
                    "metric": metric,
                    "value": value,
                }
            )
        if task.task_type == "classification":
            from sklearn.metrics import confusion_matrix, f1_score

            labels = np.arange(int(task.y.max()) + 1)
            cm = confusion_matrix(task.y[test], pred, labels=labels)
            confusion = cm if confusion is None else confusion + cm
            f1 = f1_score(task.y[test], pred, labels=labels, average=None, zero_division=0)
            for c in np.unique(task.y[test]):
                per_class.setdefault(int(c), []).append(float(f1[c]))
        for k in cfg.few_shot:
            for s in range(cfg.few_shot_seeds):
                sub = train[
                    _few_shot(
                        task.y[train], task.groups[train], k, cfg.seed + 1000 * s, task.task_type
                    )
                ]
                pred_k, _ = trainer(sub, test, cfg.seed + s)
                for metric, value in score(task.task_type, task.y[test], pred_k).items():
                    few_rows.append(
                        {
                            "method": label,
                            "task": task.name,
                            "protocol": protocol,
                            "k": k,
                            "seed": s,
                            "split": split_name,
                            "metric": metric,
                            "value": value,
                        }
                    )

    rows = [
        dict(r, protocol=protocol) for r in summarise([{**r, "method": label} for r in fold_rows])
    ]
    few_summary = _summarise_few_shot(few_rows)
    results = {
        "rows": rows,
        "folds": fold_rows,
        "few_shot": few_summary,
        "few_shot_runs": few_rows,
        "task": {
            "name": task.name,
            "type": task.task_type,
            "n_windows": len(task),
            "n_subjects": task.n_subjects,
            "label_names": list(task.label_names) if task.label_names else None,
            "splits": [{"name": n, "n_train": len(tr), "n_test": len(te)} for n, tr, te in splits],
            "description": task.description,
        },
        "method": label,
        "protocol": protocol,
        "notes": notes,
        "config": to_dict(cfg),
        "environment": environment_info(),
        "seconds": time.perf_counter() - t0,
    }
    if confusion is not None:
        names = _names(task)
        results["confusion"] = [
            {
                "method": label,
                "task": task.name,
                "protocol": protocol,
                "labels": names,
                "matrix": confusion.tolist(),
            }
        ]
        results["per_class_f1"] = [
            {
                "method": label,
                "task": task.name,
                "protocol": protocol,
                "label": names[c],
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "n": len(v),
            }
            for c, v in sorted(per_class.items())
        ]
    atomic_write_json(result_path, results)
    _print_summary(results, notes)
    print(f"results written to {result_path}")
    return results


def _names(task: Task) -> list[str]:
    n = int(task.y.max()) + 1
    return list(task.label_names[:n]) if task.label_names else [str(i) for i in range(n)]


def _summarise_few_shot(runs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault((r["method"], r["task"], r["protocol"], r["k"], r["metric"]), []).append(
            r["value"]
        )
    return [
        {
            "method": m,
            "task": t,
            "protocol": p,
            "k": "all" if k == FEW_SHOT_ALL else k,
            "metric": metric,
            "mean": float(np.mean(v)),
            "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
            "n": len(v),
            "values": v,
        }
        for (m, t, p, k, metric), v in groups.items()
    ]


def _print_summary(results: dict, notes: list[str]) -> None:
    for r in results["rows"]:
        print(
            f"{r['method']:<28} {r['protocol']:<10} {r['metric']:<18} {r['mean']:.3f} +- {r['std']:.3f} (n={r['n']})"
        )
    for n in notes:
        print(f"note: {n}")
