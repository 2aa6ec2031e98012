"""The evaluation harness behind ``relcon evaluate``: one kind of features, one protocol, one task.

A run evaluates **features** (where the representation comes from) with a **protocol** (what is
trained on them) on a **task** file, honestly:

* splits are by subject: the task's fixed ``split`` if it has one, else subject-wise k-fold;
  every fold is trained from scratch and writes its own folder (predictions and scores);
* every hyperparameter (regularisation, early stopping) is chosen on validation subjects carved
  out of the fold's training subjects, never on its test subjects;
* which subjects are evaluated is explicit and saved with the results: ``subjects`` (keep only
  these) and ``exclude_users_of`` (leave out every user those models were pretrained on),
  so that runs compared with each other are scored on the same subjects and, since the folds
  depend only on the kept subjects and the seed, on the same folds (``relcon benchmark`` sets
  both for every run). Users the evaluated model itself was pretrained on (its
  ``model.json``) are always left out;
* every split records its test subjects and window counts in ``results.json`` (``task.splits``),
  which ``relcon report`` checks before it puts two runs side by side;
* few-shot: the same protocol trained on ``k`` labelled windows per class drawn from the training
  subjects, for several seeds;
* the summary is the mean and std over folds, with every fold's score kept, in ``results.json``
  (:mod:`relcon.eval.results`, the format).

:func:`evaluate_task` does all of it in memory on a :class:`~relcon.data.tasks.Task` and returns
the results and every split's predictions (what ``relcon.evaluate`` runs on arrays);
:func:`evaluate` (``relcon evaluate``) reads the task, calls it and writes the files.

Features (:data:`FEATURES`): ``model`` (the embeddings of ``model``: a shipped model, or any
encoder run, RelCon or a self-supervised baseline), ``random`` (the encoder architecture
randomly initialised), ``handcrafted``, ``minirocket``, ``supervised`` (the encoder trained from
scratch on the labels). Protocols: ``linear``, ``mlp``, ``rf``, ``ridge_classifier`` on frozen
features; ``finetune`` (encoder and head trained together; with ``model`` it starts from the
model's weights, with ``supervised``/``random`` from scratch).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from relcon.config import EvalConfig, spell, to_dict
from relcon.data.tasks import Task, load_task
from relcon.eval.fewshot import augmented_labelled, few_shot_indices, subject_scores_of
from relcon.eval.fusion import FUSED_PROBES, fit_predict_fused
from relcon.eval.metrics import score, spread, summarise
from relcon.eval.probes import FIXED_PROBES, PROBES, check_fixed_c, fit_predict
from relcon.eval.results import FEATURES, SCHEMA_VERSION, write_results
from relcon.eval.splits import subject_folds
from relcon.eval.subjects import select_subjects
from relcon.io import atomic_write_json, environment_info

__all__ = [
    "FEATURES",
    "PROTOCOLS",
    "Evaluation",
    "Split",
    "SplitPredictions",
    "evaluate",
    "evaluate_task",
    "plan_splits",
    "protocol_label",
    "resolve_features_protocol",
    "task_from_data",
]

PROTOCOLS = (*PROBES, "finetune")
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


def resolve_features_protocol(cfg: EvalConfig, *, model_object: bool = False) -> tuple[str, str]:
    """Fill in ``auto`` features/protocol and check that the pair makes sense.

    ``features="auto"`` is ``"model"`` when a model is given and an error otherwise; a model
    given with other features is an error too (it would not be measured). ``model_object``: a
    model object is given instead of ``cfg.model`` (:func:`evaluate_task`'s ``encoder``).
    """
    features = cfg.features
    given = bool(cfg.model) or model_object
    if cfg.model in FEATURES and not Path(cfg.model).exists():
        raise ValueError(
            f"{spell('model', cfg.model)}: {cfg.model!r} is not a model but features: use "
            f"{spell('features', cfg.model)}"
        )
    if features == "auto":
        if not given:
            raise ValueError(
                f"evaluate: give {spell('model', 'MODEL')} (a shipped model's name, a run "
                f"folder or a model file) or {spell('features', 'FEATURES')} "
                f"({' | '.join(FEATURES)})"
            )
        features = "model"
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; choose from {FEATURES}")
    if features == "model" and not given:
        raise ValueError(
            f"features 'model' needs {spell('model', 'MODEL')} (a shipped model's name, a "
            "RelCon or baseline encoder run, or a model file)"
        )
    if features != "model" and given:
        raise ValueError(
            f"{spell('model', cfg.model or 'MODEL')} is only measured with {spell('features', 'model')}, "
            f"not {features!r}: leave one of them out"
        )
    protocol = cfg.protocol
    if protocol == "auto":
        protocol = {"supervised": "finetune", "minirocket": "ridge_classifier"}.get(
            features, "linear"
        )
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {PROTOCOLS}")
    if features == "supervised" and protocol != "finetune":
        raise ValueError(
            "features 'supervised' trains the encoder on the labels: use "
            f"{spell('protocol', 'finetune')}"
        )
    if protocol == "finetune" and features in ("handcrafted", "minirocket"):
        raise ValueError(f"protocol 'finetune' needs an encoder, not {features!r} features")
    if cfg.pooling != "last" and (features not in ("model", "random") or protocol == "finetune"):
        raise ValueError(
            f"{spell('pooling', cfg.pooling)} pools an encoder's embeddings for a probe: it "
            f"applies to features 'model' or 'random', not {features!r} with protocol "
            f"{protocol!r}"
        )
    if cfg.plus_handcrafted and (
        features not in ("model", "random") or protocol not in FUSED_PROBES
    ):
        raise ValueError(
            f"{spell('plus_handcrafted', True)} fuses a probe of an encoder's embedding with "
            "one of hand-crafted features: it needs features 'model' or 'random' and protocol "
            f"{' or '.join(FUSED_PROBES)}, not {features!r} with {protocol!r}"
        )
    if cfg.fixed_c is not None and protocol != "linear_fixed":
        raise ValueError(
            f"{spell('fixed_c', cfg.fixed_c)} sets the penalty of protocol 'linear_fixed'; "
            f"protocol {protocol!r} does not use it"
        )
    if cfg.handcrafted_fixed_c is not None and not (
        cfg.plus_handcrafted and protocol == "linear_fixed"
    ):
        alone = (
            f"; hand-crafted features alone: {spell('fixed_c')}"
            if features == "handcrafted"
            else ""
        )
        raise ValueError(
            f"{spell('handcrafted_fixed_c', cfg.handcrafted_fixed_c)} sets the penalty of the "
            "hand-crafted features' probe fused with an embedding "
            f"({spell('plus_handcrafted', True)}, protocol 'linear_fixed'); here protocol "
            f"{protocol!r}{'' if cfg.plus_handcrafted else ', not fused'}{alone}"
        )
    if cfg.val_folds != 1 and (protocol == "finetune" or protocol in FIXED_PROBES):
        raise ValueError(
            f"{spell('val_folds', cfg.val_folds)} cross-validates a probe's choice of its "
            f"hyperparameter; protocol {protocol!r} chooses none on validation subjects: leave "
            f"{spell('val_folds')} at 1"
        )
    if cfg.finetune.probe != "none":
        raise ValueError(
            f"finetune.probe={cfg.finetune.probe!r} is relcon finetune's way to keep a probe "
            f"as a model's head; relcon evaluate measures the probe itself: use "
            f"{spell('protocol', cfg.finetune.probe)}"
        )
    for name in ("plus_handcrafted", "handcrafted_fixed_c"):
        value = getattr(cfg.finetune, name)
        if value not in (False, None):
            raise ValueError(
                f"{spell(f'finetune.{name}', value)} is relcon finetune's way to keep a fused "
                f"probe as a model; relcon evaluate measures the fusion itself: use "
                f"{spell(name, value)}"
            )
    if cfg.few_shot_augment and (
        features == "minirocket" or protocol == "finetune" or not any(cfg.few_shot)
    ):
        raise ValueError(
            f"{spell('few_shot_augment', cfg.few_shot_augment)} adds augmented copies of the "
            f"labelled windows of few-shot draws ({spell('few_shot', 'K')}, K >= 1) to a "
            "probe's training windows on frozen features: not with features 'minirocket' or "
            f"protocol 'finetune' (here {features!r} with {protocol!r}, few-shot "
            f"{list(cfg.few_shot) or 'none'})"
        )
    return features, protocol


def protocol_label(protocol: str, cfg: EvalConfig) -> str:
    """The protocol as results and reports name it: ``protocol``, or ``"linear-cv4"`` when the
    probe chose its hyperparameter by cross-validation over 4 inner folds
    (``cfg.val_folds``), so that both choices of one probe can be reported side by side;
    ``"linear_fixed+aug8"`` when few-shot draws add 8 augmented copies of each labelled window
    (``cfg.few_shot_augment``); ``"linear_fixed-C0.03"`` with another penalty than the
    default (``cfg.fixed_c``), ``"linear_fixed-hcC0.01"`` with another for the hand-crafted
    block of a fusion (``cfg.handcrafted_fixed_c``)."""
    label = protocol if cfg.val_folds == 1 else f"{protocol}-cv{cfg.val_folds}"
    if cfg.fixed_c is not None:
        label = f"{label}-C{cfg.fixed_c:g}"
    if cfg.handcrafted_fixed_c is not None:
        label = f"{label}-hcC{cfg.handcrafted_fixed_c:g}"
    return f"{label}+aug{cfg.few_shot_augment}" if cfg.few_shot_augment else label


class Split(NamedTuple):
    """One train/test split: window indices into the task, and the fold seed that made it."""

    name: str
    train: np.ndarray
    test: np.ndarray
    fold_seed: int | None = None  # None: the task's fixed split or predefined folds


def plan_splits(task: Task, cfg: EvalConfig) -> list[Split]:
    """The splits of ``task``: its fixed split, else its predefined folds, else k-fold.

    The task's fixed ``split`` (``cfg.use_fixed_split``), else its predefined ``fold`` numbers
    (``cfg.use_task_folds``; folds left empty by the subject selection are dropped), else
    subject-wise k-fold with ``cfg.folds`` folds, repeated for ``cfg.fold_seeds`` fold seeds
    (``cfg.seed``, ``cfg.seed + 1``, ...). The k-fold assignment depends only on the set of
    subjects and the fold seed, so two runs evaluated on the same subjects get the same folds.
    """
    if task.split is not None and cfg.use_fixed_split:
        train, test = np.flatnonzero(task.split == "train"), np.flatnonzero(task.split == "test")
        if len(train) == 0 or len(test) == 0:
            side = "training" if len(train) == 0 else "test"
            raise ValueError(
                f"task {task.name!r}: its fixed split has no {side} windows left among the "
                "selected subjects"
            )
        return [Split("fixed", train, test)]
    if "fold" in task.extra and cfg.use_task_folds:
        fold = np.asarray(task.extra["fold"])
        out = [
            Split(f"fold{int(f)}", np.flatnonzero(fold != f), np.flatnonzero(fold == f))
            for f in np.unique(fold)
        ]
        if len(out) < 2:
            raise ValueError(
                f"task {task.name!r}: fewer than 2 of its predefined folds hold selected subjects"
            )
        return out
    if cfg.fold_seeds < 1:
        raise ValueError(f"{spell('fold_seeds')} must be at least 1, got {cfg.fold_seeds}")
    if task.n_subjects < cfg.folds:
        raise ValueError(
            f"task {task.name!r} has {task.n_subjects} subjects, fewer than "
            f"{spell('folds', cfg.folds)}; lower {spell('folds')} (at least 2)"
        )
    out = []
    for r in range(cfg.fold_seeds):
        fold_seed = cfg.seed + r
        for k, test_subjects in enumerate(subject_folds(task.groups, cfg.folds, fold_seed)):
            test = np.isin(task.groups, test_subjects)
            name = f"fold{k}" if cfg.fold_seeds == 1 else f"s{fold_seed}-fold{k}"
            out.append(Split(name, np.flatnonzero(~test), np.flatnonzero(test), fold_seed))
    return out


def _frozen_features(features: str, x: np.ndarray, cfg: EvalConfig, encoder, progress: bool):
    """Features of windows ``x``, or None for MiniRocket (fitted on each split's training
    windows)."""
    from relcon.models.handcrafted import handcrafted_features

    if features == "handcrafted":
        return handcrafted_features(x)
    if features == "minirocket":
        return None  # fitted per split in _features_for
    embedding = encoder.embed(
        x, batch_size=cfg.batch_size, progress=progress, allow_longer=True, pooling=cfg.pooling
    )
    if cfg.plus_handcrafted:  # two blocks, one probe each (relcon.eval.fusion)
        return [embedding, handcrafted_features(x)]
    return embedding


def _features_for(features, all_feats, task, train, test, seed):
    """Training and test features of a split; lists of blocks where the features are fused."""
    if features == "minirocket":
        from relcon.eval.minirocket import minirocket_features

        return minirocket_features(task.X[train], task.X[test], seed=seed)
    if isinstance(all_feats, list):
        return [f[train] for f in all_feats], [f[test] for f in all_feats]
    return all_feats[train], all_feats[test]


def _few_shot(y, groups, k, seed, task_type):
    index, _ = few_shot_indices(
        y, groups, None if k == FEW_SHOT_ALL else k, seed, task_type=task_type
    )
    return index


def _make_trainer(
    features: str, protocol: str, task: Task, cfg: EvalConfig, encoder, encoder_cfg, progress
):
    """A function ``(train_idx, test_idx, seed, extra=None) -> (predictions, info)`` for these
    features/protocol; ``extra``: more training windows ``(x, y, groups)`` (augmented copies)."""
    n_classes = int(task.y.max()) + 1 if task.task_type == "classification" else None
    if protocol == "finetune":
        from relcon.eval.finetune import finetune

        def run(train, test, seed, extra=None):
            import copy

            ft_cfg = copy.deepcopy(cfg.finetune)
            ft_cfg.seed = seed
            ft_cfg.device = cfg.device
            start = None if features in ("supervised", "random") else copy.deepcopy(encoder)
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

    all_feats = _frozen_features(features, task.X, cfg, encoder, progress)
    fused = isinstance(all_feats, list)
    fit = fit_predict_fused if fused else fit_predict

    fixed_c = cfg.fixed_c  # fused: one per block, the hand-crafted block's own where set
    if fused and cfg.handcrafted_fixed_c is not None:
        fixed_c = [cfg.fixed_c, cfg.handcrafted_fixed_c]

    def run(train, test, seed, extra=None):
        n_all = len(train)
        if cfg.max_train_windows is not None and n_all > cfg.max_train_windows:
            rng = np.random.default_rng(seed)
            train = np.sort(rng.choice(train, cfg.max_train_windows, replace=False))
        f_train, f_test = _features_for(features, all_feats, task, train, test, seed)
        y_train, groups_train = task.y[train], task.groups[train]
        if extra is not None:  # augmented copies join the training windows
            x_extra, y_extra, groups_extra = extra
            f_extra = _frozen_features(features, x_extra, cfg, encoder, False)
            f_train = (
                [np.concatenate(pair) for pair in zip(f_train, f_extra, strict=True)]
                if fused
                else np.concatenate([f_train, f_extra])
            )
            y_train = np.concatenate([y_train, y_extra])
            groups_train = np.concatenate([groups_train, groups_extra])
        pred, info = fit(
            protocol,
            f_train,
            y_train,
            groups_train,
            f_test,
            task_type=task.task_type,
            seed=seed,
            val_fraction=cfg.val_fraction,
            val_folds=cfg.val_folds,
            fixed_c=fixed_c,
        )
        if len(train) < n_all:
            info["train_subsample"] = (
                f"{len(train)} of {n_all} training windows (random, seed {seed})"
            )
        return pred, info

    return run


def _load_encoder(features: str, cfg: EvalConfig, encoder=None):
    """``(encoder, its architecture, its model.json)`` for these features; ``encoder``: a model
    object given for features ``model`` (moved to ``cfg.device``; no ``model.json``)."""
    import torch

    from relcon.models.encoder import ResNet1DEncoder
    from relcon.models.hub import load, load_model
    from relcon.train.common import pick_device

    device = pick_device(cfg.device)
    if features == "model" and encoder is not None:
        encoder = load(encoder, kind="encoder", device=device)
        return encoder, encoder.config, {}
    if features == "model":
        encoder, meta = load_model(cfg.model, kind="encoder", device=device)
        return encoder, encoder.config, meta
    if features in ("random", "supervised"):
        torch.manual_seed(cfg.seed)
        encoder = ResNet1DEncoder(cfg.encoder).to(device)
        return encoder, cfg.encoder, {}
    return None, None, {}


def _run_name(features: str, meta: dict, cfg: EvalConfig) -> str:
    """The run's name in results and reports: a shipped model by its own name (two shipped
    models are two rows), an encoder from files by its training method and folder, an encoder
    object as ``"model"``, other features by their own name."""
    pooled = "" if cfg.pooling == "last" else f", {cfg.pooling} pooling"
    plus = " + hand-crafted" if cfg.plus_handcrafted else ""
    if features != "model" or not cfg.model:
        return features + (f" ({cfg.pooling} pooling)" if pooled else "") + plus
    from relcon.models.hub import shipped_name

    name = shipped_name(cfg.model)
    if name is not None:
        return f"{name} (shipped{pooled}){plus}"
    trained = meta.get("method", "relcon")
    folder = _model_folder(cfg.model)
    return trained + (f" ({folder}{pooled})" if folder != trained or pooled else "") + plus


def _model_folder(model: str) -> str:
    """The folder that names a model given as a path: the run of a checkpoint
    (``run/step-00000200``), the folder of a model file, else the folder itself."""
    path = Path(model).expanduser().resolve()
    if path.is_file():
        path = path.parent
    if path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.name}"
    return path.name


class SplitPredictions(NamedTuple):
    """One split's test predictions: what ``relcon evaluate`` writes to
    ``<split>/predictions.npz`` (``index``, ``y_true``, ``y_pred``, ``groups``) and to
    ``<split>/scores.json`` (``scores``)."""

    name: str
    index: np.ndarray  # the test windows, indices into the evaluated task
    y_true: np.ndarray
    y_pred: np.ndarray
    groups: np.ndarray  # their subjects, as str
    scores: dict  # metrics, info (what the protocol chose), n_train, n_test, fold_seed, ...


class Evaluation(NamedTuple):
    """What :func:`evaluate_task` returns: the results (the format of
    :mod:`relcon.eval.results`) and every split's predictions, in ``task.splits`` order."""

    results: dict
    splits: list[SplitPredictions]


def evaluate_task(
    task: Task, cfg: EvalConfig, *, encoder=None, progress: bool = True
) -> Evaluation:
    """Run one features/protocol pair on ``task`` in memory: the core of ``relcon evaluate``.

    ``cfg.task`` and ``cfg.data`` are not read (the task is given). ``encoder``: a
    :class:`~relcon.models.encoder.ResNet1DEncoder` to measure (features ``model``) instead of
    loading ``cfg.model``; it has no ``model.json``, so the users it was pretrained on are not
    known and not left out (``cfg.exclude_users_of`` can name them). Writes nothing: the
    results' ``task.splits[i].predictions`` names the file ``relcon evaluate`` writes for that
    split, relative to its results file (:func:`evaluate`).
    """
    t0 = time.perf_counter()
    features, protocol = resolve_features_protocol(cfg, model_object=encoder is not None)
    shown = protocol_label(protocol, cfg)  # the name results and reports use
    # what was assumed where the task file was ambiguous (relcon.data.tasks), said once
    task_notes = [str(n) for n in dict.fromkeys(getattr(task, "notes", ()) or ())]
    encoder, encoder_cfg, meta = _load_encoder(features, cfg, encoder)
    adapt = None  # continued pretraining per split on its training subjects (relcon.eval.adapt)
    if cfg.adapt_steps:
        from relcon.eval import adapt

        plan = adapt.plan_adapt(cfg, features, meta)
    for name in ("fixed_c", "handcrafted_fixed_c"):  # the protocol was checked above
        check_fixed_c("linear_fixed", task.task_type, getattr(cfg, name), name, task.name)
    task, notes, left_out = select_subjects(task, cfg, meta)
    if features == "model" and not cfg.model:
        notes.append(
            "the model was given as an object, without its model.json: the users it was "
            f"pretrained on are not known and were not left out ({spell('exclude_users_of')} "
            "can name its run)"
        )
    label = _run_name(features, meta, cfg)
    if adapt is not None:
        label = adapt.adapted_name(label, cfg, plan)
    splits = plan_splits(task, cfg)
    if cfg.fold_seeds > 1 and splits[0].fold_seed is None:
        notes.append(
            f"{spell('fold_seeds')} ignored: the task has a fixed split or predefined folds"
        )
    if adapt is None:
        trainer = _make_trainer(features, protocol, task, cfg, encoder, encoder_cfg, progress)

    fold_rows, few_rows, confusion = [], [], None
    per_class: dict[int, list[float]] = {}
    split_info, predictions = [], []
    if cfg.few_shot_augment:
        notes.append(
            f"few-shot draws: every labelled window plus {cfg.few_shot_augment} augmented "
            "copies (rotated, scaled, shifted in time; relcon.eval.fewshot.augmented_copies); "
            "the all-label fits (k = 0) are not augmented"
        )
    for i_split, (split_name, train, test, fold_seed) in enumerate(splits):
        if task.task_type == "classification":
            absent = sorted(set(task.y[test]) - set(task.y[train]))
            if absent:
                names = [task.label_names[c] if task.label_names else str(c) for c in absent]
                notes.append(
                    f"{split_name}: classes {names} are in the test subjects but not the training subjects"
                )
        if adapt is not None:  # the split's own encoder, from its training subjects' windows
            segments = adapt.fold_segments(task, train)
            adapted, record = adapt.adapt_encoder(encoder, segments, cfg, plan, progress=progress)
            trainer = _make_trainer(features, protocol, task, cfg, adapted, encoder_cfg, progress)
        pred, info = trainer(train, test, cfg.seed)
        metrics = score(task.task_type, task.y[test], pred)
        test_subjects = sorted(np.unique(task.groups[test].astype(str)).tolist())
        split_info.append(
            {
                "name": split_name,
                "n_train": len(train),
                "n_test": len(test),
                "fold_seed": fold_seed,
                "n_train_subjects": len(np.unique(task.groups[train])),
                "test_subjects": test_subjects,
                "predictions": f"{split_name}/predictions.npz",
                **({"adapt": record} if adapt is not None else {}),
            }
        )
        predictions.append(
            SplitPredictions(
                split_name, test, task.y[test], pred, task.groups[test].astype(str),
                {"metrics": metrics, "info": info, "n_train": len(train), "n_test": len(test),
                 "fold_seed": fold_seed, "test_subjects": test_subjects},
            )
        )  # fmt: skip
        for metric, value in metrics.items():
            fold_rows.append(
                {
                    "name": label,
                    "task": task.name,
                    "protocol": shown,
                    "split": split_name,
                    "fold_seed": fold_seed,
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
                extra = None
                if cfg.few_shot_augment and k != FEW_SHOT_ALL:  # seeded by draw and split
                    extra = augmented_labelled(
                        task.X[sub],
                        task.y[sub],
                        task.groups[sub],
                        cfg.few_shot_augment,
                        seed=[cfg.seed, s, i_split],
                    )
                pred_k, _ = trainer(sub, test, cfg.seed + s, extra)
                per_subject = subject_scores_of(
                    task.task_type, task.y[test], pred_k, task.groups[test]
                )
                for metric, value in score(task.task_type, task.y[test], pred_k).items():
                    few_rows.append(
                        {
                            "name": label,
                            "task": task.name,
                            "protocol": shown,
                            "k": "all" if k == FEW_SHOT_ALL else k,
                            "seed": s,
                            "split": split_name,
                            "metric": metric,
                            "value": value,
                            "subjects": per_subject[metric],
                        }
                    )

    rows = [dict(r, protocol=shown) for r in summarise(fold_rows, key="name")]
    few_summary = _summarise_few_shot(few_rows)
    results = {
        "schema_version": SCHEMA_VERSION,
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
            "subjects": sorted(np.unique(task.groups.astype(str)).tolist()),
            "left_out_subjects": left_out,
            "splits": split_info,
            "description": task.description,
        },
        "name": label,
        "features": features,
        "model": (cfg.model or None) if features == "model" else None,
        "protocol": shown,
        "notes": notes,
        "task_notes": task_notes,
        **({"adapt": plan.record(cfg)} if adapt is not None else {}),
        "config": to_dict(cfg),
        "environment": environment_info(),
        "seconds": time.perf_counter() - t0,
        "confusion": [],
        "per_class_f1": [],
    }
    if confusion is not None:
        names = _names(task)
        results["confusion"] = [
            {
                "name": label,
                "task": task.name,
                "protocol": shown,
                "labels": names,
                "matrix": confusion.tolist(),
            }
        ]
        results["per_class_f1"] = [
            {
                "name": label,
                "task": task.name,
                "protocol": shown,
                "label": names[c],
                "mean": float(np.mean(v)),
                "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                "n": len(v),
            }
            for c, v in sorted(per_class.items())
        ]
    return Evaluation(results, predictions)


def evaluate(
    cfg: EvalConfig, out: str | Path, *, overwrite: bool = False, progress: bool = True
) -> dict:
    """``relcon evaluate``: run one features/protocol pair on one task (``cfg.task``, else the
    labelled windows of ``cfg.data``) with :func:`evaluate_task`; write ``out/results.json``
    (:mod:`relcon.eval.results`) and one folder per split (``predictions.npz``,
    ``scores.json``), print the summary and return the results."""
    out = Path(out)
    if out.suffix == ".json":  # a results file was named: keep the per-split folders beside it
        result_path, folder = out, out.with_suffix("")
        rel = Path(folder.name)  # the split folders, relative to the results file's folder
    else:
        result_path, folder, rel = out / "results.json", out, Path()
    if result_path.exists() and not overwrite:
        raise FileExistsError(
            f"{result_path} exists; pass {spell('overwrite', True)} to replace it"
        )
    resolve_features_protocol(cfg)  # a bad pair is an error before the task is read
    t0 = time.perf_counter()
    task = load_task(cfg.task) if cfg.task else task_from_data(cfg)
    results, splits = evaluate_task(task, cfg, progress=progress)
    for info, split in zip(results["task"]["splits"], splits, strict=True):
        split_dir = folder / split.name
        info["predictions"] = (rel / split.name / "predictions.npz").as_posix()
        np.savez_compressed(
            split_dir.mkdir(parents=True, exist_ok=True) or split_dir / "predictions.npz",
            index=split.index,
            y_true=split.y_true,
            y_pred=split.y_pred,
            groups=split.groups,
        )
        atomic_write_json(split_dir / "scores.json", split.scores)
    results["seconds"] = time.perf_counter() - t0  # reading the task included
    write_results(result_path, results)
    _print_summary(results, results["notes"], results["task_notes"])
    print(f"results written to {result_path}")
    return results


def _names(task: Task) -> list[str]:
    n = int(task.y.max()) + 1
    return list(task.label_names[:n]) if task.label_names else [str(i) for i in range(n)]


def _summarise_few_shot(runs: list[dict]) -> list[dict]:
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault((r["name"], r["task"], r["protocol"], r["k"], r["metric"]), []).append(
            r["value"]
        )
    return [
        {"name": m, "task": t, "protocol": p, "k": k, "metric": metric, **spread(v)}
        for (m, t, p, k, metric), v in groups.items()
    ]


def _print_summary(results: dict, notes: list[str], task_notes: list[str] | None = None) -> None:
    for r in results["rows"]:
        print(
            f"{r['name']:<28} {r['protocol']:<10} {r['metric']:<18} {r['mean']:.3f} +- {r['std']:.3f} (n={r['n']})"
        )
    for n in task_notes or []:
        print(f"task note: {n}")
    for n in notes:
        print(f"note: {n}")
