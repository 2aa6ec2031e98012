"""Supervised training of an encoder and a head on labelled windows.

One function, :func:`finetune`, trains in four ways:

* **supervised from scratch** -- ``encoder=None``: a randomly initialised
  :class:`~relcon.models.encoder.ResNet1DEncoder` and the head are trained together;
* **full fine-tuning** -- ``encoder=`` a pretrained encoder (e.g. ``relcon.load(run,
  kind="encoder")``): both are trained, the encoder with a
  smaller learning rate (``lr / 10`` unless ``encoder_lr`` says otherwise);
* **frozen encoder + head** -- ``freeze_encoder=True``: only the head (linear, or an MLP with
  ``head_hidden > 0``) is trained; the encoder's weights and batch-norm statistics never change;
* **frozen encoder + a probe of relcon evaluate** -- ``probe="linear_fixed"`` (or ``"linear"``,
  ``"nearest_centroid"``): no gradient descent and nothing held out; the probe is fitted on the
  embeddings of every window (and of ``few_shot_augment`` augmented copies of each,
  :func:`relcon.eval.fewshot.augmented_copies`) by :func:`relcon.eval.linear_probe.fit_linear`,
  the fit ``relcon evaluate`` measures, and becomes the linear head. ``plus_handcrafted=True``
  fits a second probe on the windows' hand-crafted features (with its own penalty,
  ``handcrafted_fixed_c``) and keeps it as a second head, fused with the first as ``relcon
  evaluate --plus-handcrafted`` fuses them. The recipe for a handful of labels:
  ``probe="linear_fixed", pooling="stages", plus_handcrafted=True, handcrafted_fixed_c=0.03,
  few_shot_augment=8`` (``docs/payoff.md``, section 15); without hand-crafted features,
  ``probe="linear_fixed", pooling="stages", few_shot_augment=8`` (section 11).

``pooling="stages"`` (every mode) gives the head every stage's time-average
(:meth:`~relcon.models.encoder.ResNet1DEncoder.stage_means`) instead of the last stage's.

Early stopping uses *subjects*: ``val_fraction`` of the training subjects (never single windows of
a subject) are held out, training stops after ``patience`` epochs without a lower validation loss,
and the weights of the best epoch are restored.

Classification uses plain (unweighted) cross-entropy by default, the same objective as the linear
probe of :mod:`relcon.eval.evaluation` (an unweighted logistic regression), so the protocols differ
only in what is trained; ``class_weighted=True`` weights classes by inverse frequency instead.
Class codes may be any integers (e.g. ``{0, 1, 2, 12}``): they are mapped to ``0..K-1`` inside
and back on :meth:`FinetunedModel.predict`. Regression standardises the target with the mean and
standard deviation of the training windows and minimises the mean squared error.

Usage::

    import relcon
    from relcon.eval.finetune import FinetuneConfig, finetune
    encoder = relcon.load("runs/relcon", kind="encoder")
    model = finetune(x, y, subjects, task_type="classification", n_classes=None,
                     encoder=encoder, cfg=FinetuneConfig(epochs=20))
    y_hat = model.predict(x_test)          # class codes, as in y
    model.info["validation"]               # the best epoch's scores on the validation subjects
    relcon.models.hub.save_model("runs/finetuned", model)   # relcon.load("runs/finetuned")

:func:`finetune_task` is ``relcon finetune``: a task file in, a saved model out.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from relcon.config import FinetuneConfig, spell, to_dict
from relcon.data.augmentations import random_augment
from relcon.data.tasks import Task
from relcon.eval.fewshot import augmented_labelled
from relcon.eval.fusion import FUSED_PROBES
from relcon.eval.linear_probe import fit_linear
from relcon.eval.metrics import score
from relcon.eval.probes import FIXED_PROBES, check_fixed_c
from relcon.eval.splits import split_subjects
from relcon.models.encoder import WINDOW, EncoderConfig, ResNet1DEncoder
from relcon.models.finetuned import TASK_TYPES, FinetunedModel
from relcon.models.handcrafted import handcrafted_features
from relcon.progress import progress_bar
from relcon.train.common import pick_device, seed_everything

__all__ = [
    "FINETUNE_AUGMENTATIONS",
    "FinetuneConfig",
    "finetune",
    "finetune_summary",
    "finetune_task",
]

#: Augmentations for ``augment=True``: one of these per training window. They keep the label of a
#: motion; rotations, flips and shuffles are left out because they can change it (posture is
#: read from the direction of gravity, stairs up vs down from the direction of time).
FINETUNE_AUGMENTATIONS = ("noise", "scale", "time_warp")


def _class_codes(y: np.ndarray, n_classes: int | None) -> np.ndarray:
    """The classes the model has outputs for: ``0..n_classes-1`` if all codes fit in it (so a
    class missing from the training data keeps its output), else the codes present."""
    present = np.unique(y)
    if n_classes is None:
        return present
    if (
        np.issubdtype(present.dtype, np.integer)
        and present.min() >= 0
        and present.max() < n_classes
    ):
        return np.arange(n_classes, dtype=present.dtype)
    if len(present) == n_classes:
        return present
    raise ValueError(
        f"n_classes={n_classes} does not fit the {len(present)} class codes {present.tolist()[:20]}"
    )


def finetune(
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    *,
    task_type: str,
    n_classes: int | None = None,
    encoder: ResNet1DEncoder | None = None,
    encoder_config: EncoderConfig | None = None,
    cfg: FinetuneConfig | None = None,
    progress: bool = False,
) -> FinetunedModel:
    """Train an encoder and a head on labelled windows, with early stopping on held-out subjects.

    Args:
        x_train: ``(N, 256, 3)`` windows in g at 100 Hz.
        y_train: ``(N,)`` class codes (any integers) or regression targets.
        groups_train: ``(N,)`` subject of every window (the validation split is by subject).
        task_type: ``"classification"`` or ``"regression"``.
        n_classes: classification only, optional: with codes in ``0..n_classes-1`` the model
            gets an output for every one of them, even classes absent from ``y_train``.
        encoder: a pretrained encoder to start from (copied; the caller's is never changed).
            ``None`` trains from a random initialisation.
        encoder_config: architecture of the random encoder (default: the paper's). With
            ``encoder`` it may be given too, but must then equal ``encoder.config``.
        cfg: hyperparameters (default :class:`FinetuneConfig`).
        progress: show a progress bar over epochs.

    Returns:
        The :class:`FinetunedModel` with the best epoch's weights, in eval mode, on the device
        it was trained on. ``model.info`` records the configuration, per-epoch losses, best
        epoch and the training/validation subjects.
    """
    cfg = cfg or FinetuneConfig()
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if encoder is not None and encoder_config is not None and encoder_config != encoder.config:
        raise ValueError(
            f"encoder_config {encoder_config} does not match the given encoder's {encoder.config}; "
            "give either a pretrained encoder or the architecture of a random one"
        )
    x = np.asarray(x_train, dtype=np.float32)
    y = np.asarray(y_train)
    groups = np.asarray(groups_train).astype(str)
    if x.ndim != 3 or x.shape[1] < WINDOW or x.shape[2] != 3:
        raise ValueError(f"x_train must be (N, T >= {WINDOW}, 3), got {x.shape}")
    if y.shape != (len(x),) or groups.shape != (len(x),):
        raise ValueError(f"y_train {y.shape} and groups_train {groups.shape} must be ({len(x)},)")
    _check_probe_settings(cfg)
    check_fixed_c(cfg.probe, task_type, cfg.fixed_c)  # the probe's own checks, before embedding
    check_fixed_c(cfg.probe, task_type, cfg.handcrafted_fixed_c, "handcrafted_fixed_c")
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    # ---- data: optional cap, subject-wise validation split, targets --------------------
    if cfg.max_train_windows is not None and len(x) > cfg.max_train_windows:
        keep = np.sort(rng.choice(len(x), cfg.max_train_windows, replace=False))
        x, y, groups = x[keep], y[keep], groups[keep]
    if cfg.probe != "none":  # no gradient descent: relcon evaluate's probe, kept as the head
        enc = copy.deepcopy(encoder) if encoder is not None else ResNet1DEncoder(encoder_config)
        enc = enc.to(device).eval()
        return _probe_model(x, y, groups, task_type, enc, encoder is not None, cfg, progress)
    fit, val = split_subjects(groups, cfg.val_fraction, cfg.seed)
    classes, mean, std, class_weight = None, 0.0, 1.0, None
    if task_type == "classification":
        classes = _class_codes(y, n_classes)
        target = torch.from_numpy(np.searchsorted(classes, y).astype(np.int64))
        if cfg.class_weighted:
            counts = np.bincount(target[fit].numpy(), minlength=len(classes)).astype(np.float64)
            w = np.where(counts > 0, counts.sum() / (len(classes) * np.maximum(counts, 1)), 0.0)
            class_weight = torch.tensor(w, dtype=torch.float32, device=device)
    else:
        yf = y.astype(np.float64)
        mean, std = float(yf[fit].mean()), float(yf[fit].std())
        std = std if std > 0 else 1.0
        target = torch.from_numpy(((yf - mean) / std).astype(np.float32))

    def criterion(out: Tensor, t: Tensor) -> Tensor:
        if task_type == "classification":
            return F.cross_entropy(out, t, weight=class_weight)
        return F.mse_loss(out[:, 0], t)

    # ---- model and optimiser ------------------------------------------------------------
    pretrained = encoder is not None
    enc = copy.deepcopy(encoder) if pretrained else ResNet1DEncoder(encoder_config)
    model = FinetunedModel(
        enc, task_type=task_type, classes=classes, target_mean=mean, target_std=std,
        head_hidden=cfg.head_hidden, pooling=cfg.pooling,
    ).to(device)  # fmt: skip
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
        param_groups = [{"params": model.head.parameters(), "lr": cfg.lr}]
    else:
        encoder_lr = cfg.encoder_lr
        if encoder_lr is None:
            encoder_lr = cfg.lr / 10 if pretrained else cfg.lr
        param_groups = [
            {"params": model.encoder.parameters(), "lr": encoder_lr},
            {"params": model.head.parameters(), "lr": cfg.lr},
        ]
    optimizer = torch.optim.AdamW(param_groups, weight_decay=cfg.weight_decay)

    # A frozen encoder without augmentation gives every window the same embedding each epoch:
    # embed once and train the head on the embeddings.
    cached = cfg.freeze_encoder and not cfg.augment
    inputs = x if not cached else model.encoder.embed(x, device=device, pooling=cfg.pooling)
    inputs = torch.from_numpy(inputs)

    def forward(xb: Tensor) -> Tensor:
        if cached:
            return model.head(xb)
        if cfg.freeze_encoder:
            with torch.no_grad():
                h = model.features(xb)
            return model.head(h)
        return model(xb)

    @torch.no_grad()
    def validation_loss() -> float:
        model.eval()
        total = 0.0
        for s in range(0, len(val), 512):
            idx = val[s : s + 512]
            out = forward(inputs[idx].to(device))
            total += criterion(out, target[idx].to(device)).item() * len(idx)
        return total / len(val)

    # ---- epochs with early stopping -----------------------------------------------------
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, waited = float("inf"), -1, None, 0
    bar = progress_bar(range(cfg.epochs), desc="finetune", enabled=progress, unit="epoch")
    for epoch in bar:
        model.train()
        if cfg.freeze_encoder:
            model.encoder.eval()  # keep the batch-norm statistics frozen too
        order = np.random.default_rng([cfg.seed, epoch]).permutation(fit)
        g = torch.Generator(device=device).manual_seed(cfg.seed * 1_000_003 + epoch)
        total, seen = 0.0, 0
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm cannot train on a single window
            xb = inputs[idx].to(device)
            if cfg.augment:
                xb = random_augment(xb, n=1, g=g, names=FINETUNE_AUGMENTATIONS)
            loss = criterion(forward(xb), target[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        row = {"epoch": epoch, "train_loss": total / max(seen, 1)}
        if len(val):
            row["val_loss"] = validation_loss()
        history.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "epoch"})

        current = row.get("val_loss", -float(epoch))  # no validation subjects: keep the last
        if current < best_loss:
            best_loss, best_epoch, waited = current, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if len(val) and waited >= cfg.patience:
                break
    bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    validation = None
    if len(val):  # the best epoch's scores on the validation subjects (never trained on)
        model.eval()
        parts = []
        with torch.no_grad():
            for s in range(0, len(val), 512):
                parts.append(forward(inputs[val[s : s + 512]].to(device)).float().cpu())
        out = torch.cat(parts).numpy().astype(np.float64)
        pred = classes[out.argmax(axis=1)] if classes is not None else mean + std * out[:, 0]
        validation = {"loss": best_loss, **score(task_type, y[val], pred)}
    train_subjects = sorted(set(groups[fit].tolist()))
    val_subjects = sorted(set(groups[val].tolist()))
    model.info = {
        "config": to_dict(cfg),
        "pretrained_encoder": pretrained,
        "best_epoch": best_epoch,
        "history": history,
        "validation": validation,
        # what was trained on (after max_train_windows, without the validation subjects)
        "n_train_windows": len(fit),
        "n_train_subjects": len(train_subjects),
        "n_val_windows": len(val),
        "n_val_subjects": len(val_subjects),
        "train_subjects": train_subjects,
        "val_subjects": val_subjects,
    }
    return model.eval()


#: the settings of gradient descent, which a probe (``probe`` not ``"none"``) does not use
_DESCENT_ONLY = (
    "epochs", "batch_size", "lr", "encoder_lr", "weight_decay", "patience", "head_hidden",
    "augment", "class_weighted",
)  # fmt: skip


def _check_probe_settings(cfg: FinetuneConfig) -> None:
    """Refuse settings the chosen way of training would ignore."""
    if cfg.fixed_c is not None and cfg.probe != "linear_fixed":
        raise ValueError(
            f"{spell('fixed_c', cfg.fixed_c)} is the penalty of {spell('probe', 'linear_fixed')};"
            f" not used with {spell('probe', cfg.probe)}"
        )
    if cfg.plus_handcrafted and cfg.probe not in FUSED_PROBES:
        raise ValueError(
            f"{spell('plus_handcrafted', True)} keeps a probe of the hand-crafted features as a "
            f"second head, fused with a probe of the embedding: give {spell('probe')} "
            f"{' or '.join(FUSED_PROBES)} (not {cfg.probe!r}; their log-probabilities are summed)"
        )
    if cfg.handcrafted_fixed_c is not None and not (
        cfg.plus_handcrafted and cfg.probe == "linear_fixed"
    ):
        raise ValueError(
            f"{spell('handcrafted_fixed_c', cfg.handcrafted_fixed_c)} is the penalty of the "
            f"hand-crafted probe of {spell('plus_handcrafted', True)} with "
            f"{spell('probe', 'linear_fixed')}; here {spell('probe', cfg.probe)}"
            f"{'' if cfg.plus_handcrafted else ', not fused'}"
        )
    if cfg.probe == "none":
        if cfg.few_shot_augment:
            raise ValueError(
                f"{spell('few_shot_augment', cfg.few_shot_augment)} adds augmented copies of "
                f"the labelled windows to a probe's training windows: give "
                f"{spell('probe', 'linear_fixed')} (gradient descent has {spell('augment', True)})"
            )
        return
    default = FinetuneConfig()
    unused = [f for f in _DESCENT_ONLY if getattr(cfg, f) != getattr(default, f)]
    if cfg.probe in FIXED_PROBES and cfg.val_fraction != default.val_fraction:
        unused.append("val_fraction")  # a fixed probe holds no subjects out
    if unused:
        raise ValueError(
            f"{spell('probe', cfg.probe)} fits the probe without gradient descent and keeps "
            f"it as a linear head: {', '.join(spell(f, getattr(cfg, f)) for f in unused)} "
            "would be ignored; leave them out"
        )


def _probe_model(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    task_type: str,
    encoder: ResNet1DEncoder,
    pretrained: bool,
    cfg: FinetuneConfig,
    progress: bool,
) -> FinetunedModel:
    """``cfg.probe``: the frozen ``encoder``'s embeddings (pooled as ``cfg.pooling``) of every
    window, and of ``cfg.few_shot_augment`` augmented copies of each, fit the probe
    (:func:`relcon.eval.linear_probe.fit_linear`: ``relcon evaluate``'s fit), whose map becomes
    the model's linear head; with ``cfg.plus_handcrafted`` the same windows' hand-crafted
    features fit a second probe, the model's hand-crafted head (each block its own probe with
    the same seed, as :func:`relcon.eval.fusion.fit_predict_fused` fits them)."""
    n = len(x)
    if cfg.few_shot_augment:
        extra = augmented_labelled(x, y, groups, cfg.few_shot_augment, seed=cfg.seed)
        x, y, groups = (np.concatenate(pair) for pair in zip((x, y, groups), extra, strict=True))
    z = encoder.embed(x, progress=progress, pooling=cfg.pooling)
    fit = {"task_type": task_type, "seed": cfg.seed, "val_fraction": cfg.val_fraction}
    probes = [fit_linear(cfg.probe, z, y, groups, fixed_c=cfg.fixed_c, **fit)]
    if cfg.plus_handcrafted:
        c = cfg.fixed_c if cfg.handcrafted_fixed_c is None else cfg.handcrafted_fixed_c
        probes.append(fit_linear(cfg.probe, handcrafted_features(x), y, groups, fixed_c=c, **fit))
    model = FinetunedModel(
        encoder, task_type=task_type, classes=probes[0].classes, pooling=cfg.pooling,
        handcrafted=cfg.plus_handcrafted,
    ).to(next(encoder.parameters()).device)  # fmt: skip
    with torch.no_grad():
        heads = [model.head, model.handcrafted_head][: len(probes)]
        for head, probe in zip(heads, probes, strict=True):
            head.weight.copy_(torch.from_numpy(probe.weight))
            head.bias.copy_(torch.from_numpy(probe.bias))
    kept = ("probe", "hyperparameter", "value", "selection")
    subjects = sorted(set(groups[:n].tolist()))
    model.info = {
        "config": to_dict(cfg),
        "pretrained_encoder": pretrained,
        "probe": {k: probes[0].info[k] for k in kept},
        **({"handcrafted_probe": {k: probes[1].info[k] for k in kept}} if len(probes) > 1 else {}),
        "validation": None,
        "n_train_windows": n,
        "n_train_subjects": len(subjects),
        "n_copies": len(x) - n,
        "n_val_windows": 0,
        "n_val_subjects": 0,
        "train_subjects": subjects,
        "val_subjects": probes[0].info["val_subjects"],
    }
    return model.eval()


def finetune_task(
    task: Task | str | Path,
    model: str | Path | ResNet1DEncoder | None = "default",
    cfg: FinetuneConfig | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> FinetunedModel:
    """``relcon finetune``: fine-tune an encoder and a head on a task file and save the model.

    Args:
        task: a :class:`~relcon.data.tasks.Task` or its ``.npz`` file (all of its windows are
            used: the validation subjects for early stopping are drawn from them).
        model: the encoder to start from: anything :func:`relcon.load` reads (``"default"``:
            the shipped model; a run or checkpoint folder), an encoder, or ``"scratch"`` /
            ``None`` for a random encoder of the paper's size.
        cfg: hyperparameters (default :class:`FinetuneConfig`).
        out: folder to save the model in (``model.safetensors`` + ``model.json``); an existing
            model there is an error unless ``overwrite``.
        progress: show a bar over epochs.

    Returns:
        The model; ``model.info`` (saved in ``model.json``) holds the task's name and class
        names, the encoder it started from, the validation score (``validation``), the counts
        trained on (``n_train_windows`` / ``n_train_subjects``), validated on (``n_val_*``) and
        of the whole task (``n_task_windows`` / ``n_task_subjects``).
    """
    from relcon.data.tasks import load_task
    from relcon.models.hub import load, save_model

    if out is not None and (Path(out) / "model.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a model; pass --overwrite to replace it")
    if not isinstance(task, Task):
        task = load_task(task)
    scratch = model is None or (isinstance(model, str) and model == "scratch")
    tuned = finetune(
        task.X, task.y, task.groups, task_type=task.task_type,
        n_classes=int(task.y.max()) + 1 if task.task_type == "classification" else None,
        encoder=None if scratch else load(model, kind="encoder"), cfg=cfg, progress=progress,
    )  # fmt: skip
    tuned.info.update(
        task=task.name, label_names=list(task.label_names) if task.label_names else None,
        encoder_source="scratch" if scratch else str(getattr(model, "config", model)),
        n_task_windows=len(task), n_task_subjects=task.n_subjects,
    )  # fmt: skip
    if out is not None:
        save_model(out, tuned)
    return tuned


def finetune_summary(model: FinetunedModel) -> str:
    """One paragraph on what a fine-tuned model was trained on and its validation score."""
    info = model.info
    trained = (
        f"trained on {info['n_train_windows']:,} windows of {info['n_train_subjects']} subjects"
    )
    if "n_task_windows" in info:
        task = f"{info['n_task_windows']:,} windows / {info['n_task_subjects']} subjects"
        trained += f" (the task has {task})"
    if "probe" in info:  # relcon finetune --probe: fitted on every window, nothing held out

        def value(p: dict) -> str:
            return (
                "" if p["hyperparameter"] is None else f", {p['hyperparameter']} = {p['value']:g}"
            )

        p = info["probe"]
        copies = f" plus {info['n_copies']:,} augmented copies" if info["n_copies"] else ""
        fused = ""
        if "handcrafted_probe" in info:
            h = info["handcrafted_probe"]
            fused = f", fused with probe {h['probe']}{value(h)} on the 62 hand-crafted features"
        return (
            f"probe {p['probe']}{value(p)} on the frozen encoder's embedding (pooling "
            f"{info['config']['pooling']}){fused}, {trained}{copies}; nothing held out, so no "
            "score: measure the recipe on held-out subjects with relcon evaluate --few-shot"
        )
    val = info.get("validation")
    if not val:
        return f"{trained}; no validation subjects, so no validation score (last epoch kept)"
    scores = ", ".join(f"{k} {v:.3f}" for k, v in val.items() if k != "loss")
    epochs = len(info["history"])
    return (
        f"{trained}; validation on {info['n_val_windows']:,} windows of {info['n_val_subjects']} "
        f"other subjects (best epoch {info['best_epoch'] + 1} of {epochs}): {scores}"
    )
