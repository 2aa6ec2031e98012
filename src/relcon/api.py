"""Arrays in, arrays out: what a user needs in a notebook, without touching disk.

Four functions, also at the top level (``relcon.embed``, ``relcon.evaluate``,
``relcon.finetune``, ``relcon.predict``; imported on first use, so ``import relcon`` stays
light). They share one argument order -- the data first (``X``, then ``y`` and ``groups``), then
the model -- and one meaning of ``model``: anything :func:`relcon.load` reads (a shipped name
such as ``"relcon-wrist-small"``, a run folder, a model file) or a model object; ``None`` is the
shipped default model, as for :func:`relcon.load`.

=================================== ===========================================================
function                            computes
=================================== ===========================================================
``embed(X, model)``                 ``(N, D)`` embeddings of windows ``X`` ``(N, 256, 3)``
``evaluate(X, y, groups, model)``   the scores of ``relcon evaluate`` on these windows: the same
                                    protocols, splits and numbers, as a results dict
                                    (:mod:`relcon.eval.results`)
``finetune(X, y, groups, model)``   an encoder and a head trained on the labels (``relcon
                                    finetune``): a :class:`~relcon.models.FinetunedModel`
``predict(X, model)``               ``(N,)`` class codes or values of a fine-tuned model
=================================== ===========================================================

Windows ``X`` are ``(N, 256, 3)`` acceleration in g at 100 Hz, channels last (a continuous
recording ``(T, 3)`` at any rate is windowed and embedded by
:func:`relcon.apps.embed.embed_array`, predicted by :func:`relcon.apps.predict.predict_array`).
``y`` holds ``(N,)`` integer class codes (classification) or float targets (regression),
``groups`` ``(N,)`` the subject of every window: every split is by subject.

The settings of :func:`evaluate` and :func:`finetune` are those of the commands, with the same
names: keywords that are fields of :class:`~relcon.config.EvalConfig` (``features``,
``protocol``, ``folds``, ``few_shot``, ``seed``, ``device``, ...) or of
:class:`~relcon.config.FinetuneConfig` (``epochs``, ``lr``, ``freeze_encoder``, ...), or one
such object as ``options`` (keywords override it), checked as the command line checks them.
See ``docs/notebook.py`` for a session from end to end.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from relcon.config import EvalConfig, FinetuneConfig, check_settings, from_dict, to_dict

if TYPE_CHECKING:
    from torch import nn

    from relcon.models.finetuned import FinetunedModel

__all__ = ["embed", "evaluate", "finetune", "predict"]

T = TypeVar("T")


def _options(cls: type[T], options: T | None, settings: dict[str, Any], where: str) -> T:
    """``options`` (default ``cls()``) with ``settings`` (field -> value) set, checked as the
    command line checks its settings (names, old spellings, types, ranges)."""
    base = cls() if options is None else options
    if not isinstance(base, cls):
        raise TypeError(f"{where}: options must be a {cls.__name__}, got {type(base).__name__}")
    data = {}
    for k, v in settings.items():  # as a config file would hold them
        data[k] = to_dict(v) if dataclasses.is_dataclass(v) else v
        if isinstance(v, np.generic):
            data[k] = v.item()
    return check_settings(from_dict(cls, data, where=where, base=base))


def _device(device: str):
    from relcon.models.encoder import pick_device

    return pick_device(device)


def embed(
    X: np.ndarray,
    model: nn.Module | str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 512,
    device: str = "auto",
    precision: str = "fp32",
    pooling: str = "last",
    progress: bool = False,
) -> np.ndarray:
    """Embed windows of acceleration with an encoder.

    Args:
        X: ``(N, 256, 3)`` windows in g at 100 Hz.
        model: the encoder: anything :func:`relcon.load` reads, or an encoder; ``None``: the
            shipped default model.
        batch_size: windows per forward pass.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:1"``, ...; the model and
            the data move there together.
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"`` (:meth:`ResNet1DEncoder.embed`).
        pooling: ``"last"`` (the paper's embedding) or ``"stages"`` (every stage's
            time-average side by side: 448 values for the default model;
            :meth:`ResNet1DEncoder.embed`).
        progress: show a progress bar.

    Returns:
        ``(N, D)`` float32 embeddings, ``D`` the encoder's ``embed_dim`` (128 for
        ``relcon-wrist-small``, 256 for the default) with ``pooling="last"``. The same numbers as
        ``relcon.load(model).embed(X)``.

    Example:
        >>> import numpy as np, relcon
        >>> X = np.zeros((4, 256, 3), "float32"); X[..., 2] = 1   # 4 windows at rest, in g
        >>> relcon.embed(X, "relcon-wrist-small", device="cpu").shape
        (4, 128)
    """
    from relcon.models.hub import load

    encoder = load(model, kind="encoder", device=_device(device))
    return encoder.embed(
        X, batch_size=batch_size, progress=progress, precision=precision, pooling=pooling
    )


def evaluate(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    model: nn.Module | str | os.PathLike[str] | None = None,
    *,
    task_type: str | None = None,
    label_names: list[str] | None = None,
    split: np.ndarray | None = None,
    options: EvalConfig | None = None,
    progress: bool = False,
    **settings: Any,
) -> dict:
    """Evaluate a model (or other features) on labelled windows, as ``relcon evaluate`` does.

    The windows become a task exactly as ``relcon evaluate --task`` reads a task file holding
    them (:func:`relcon.data.tasks.task_from_arrays`), and the evaluation is the command's own
    (:func:`relcon.eval.harness.evaluate_task`): the same subject-wise splits, validation
    subjects, probes and scores, so the same arrays saved with
    :func:`relcon.data.tasks.save_task` and evaluated from the command line give the same
    numbers. Nothing is written.

    Args:
        X: ``(N, 256, 3)`` windows in g at 100 Hz (other lengths are cut or tiled to 256
            samples, as a task file's are).
        y: ``(N,)`` class codes (integers) or regression targets (floats).
        groups: ``(N,)`` subject of every window; at least 2 subjects (``folds`` of them for
            k-fold).
        model: the model whose embeddings are measured (features ``"model"``): anything
            :func:`relcon.load` reads, or an encoder object (the users it was pretrained on are
            then unknown and not left out; a name or path leaves them out, as the command
            does). ``None``: ``options.model`` if set, else the shipped default model --
            unless ``features`` names other features.
        task_type: ``"classification"`` or ``"regression"``; None: classification for integer
            ``y``.
        label_names: class names, code -> name (tables and the confusion matrix).
        split: optional ``(N,)`` ``"train"`` / ``"test"``: a fixed split used instead of folds.
        options: an :class:`~relcon.config.EvalConfig` (e.g. read from a config file with
            :func:`relcon.config.load_config`); ``task``, ``data`` and ``labels`` are not read.
        progress: show progress bars.
        **settings: fields of :class:`~relcon.config.EvalConfig`, as ``relcon evaluate``'s
            flags: ``features`` (``model``, ``random``, ``handcrafted``, ``minirocket``,
            ``supervised``), ``protocol`` (``linear``, ``mlp``, ``rf``, ``ridge_classifier``,
            ``finetune``), ``folds``, ``few_shot``, ``subjects``, ``seed``, ``device``, ...

    Returns:
        The results (the format of :mod:`relcon.eval.results`, what ``results.json`` holds):
        ``rows`` (per metric: ``mean``, ``std`` over splits and every split's ``values``),
        ``folds``, ``few_shot``, ``confusion``, ``per_class_f1``, ``task`` (with every split's
        test subjects), ``notes``, ``config``.

    Example:
        >>> import numpy as np, relcon
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(0, 0.05, (48, 256, 3)).astype("float32"); X[..., 2] += 1
        >>> y = np.arange(48) % 2                           # class 1: a 2 Hz motion on x
        >>> X[y == 1, :, 0] += np.sin(2 * np.pi * 2 * np.arange(256) / 100)
        >>> groups = np.repeat(["s0", "s1", "s2", "s3"], 12)
        >>> res = relcon.evaluate(X, y, groups, features="handcrafted", folds=2)
        >>> f1 = next(r for r in res["rows"] if r["metric"] == "macro_f1")
        >>> f1["mean"], f1["n"]                              # the mean over 2 folds
        (1.0, 2)
    """
    from relcon.data.tasks import task_from_arrays
    from relcon.eval.harness import evaluate_task

    for key in ("task", "data", "labels"):
        if key in settings:
            raise ValueError(
                f"relcon.evaluate: {key}= is relcon evaluate's source of windows; here the "
                "windows are X, y and groups"
            )
    cfg = _options(EvalConfig, options, settings, "relcon.evaluate")
    encoder = None
    if model is not None and not isinstance(model, str | os.PathLike):
        encoder, cfg = model, dataclasses.replace(cfg, model="")
    elif model is not None:
        cfg = dataclasses.replace(cfg, model=str(model))
    elif not cfg.model and cfg.features in ("auto", "model"):
        cfg = dataclasses.replace(cfg, model="default")
    task = task_from_arrays(X, y, groups, task_type=task_type, label_names=label_names, split=split)
    return evaluate_task(task, cfg, encoder=encoder, progress=progress).results


def finetune(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None = None,
    model: nn.Module | str | os.PathLike[str] | None = None,
    *,
    task_type: str | None = None,
    label_names: list[str] | None = None,
    options: FinetuneConfig | None = None,
    progress: bool = False,
    **settings: Any,
) -> FinetunedModel:
    """Fine-tune an encoder and a head on labelled windows, as ``relcon finetune`` does.

    Early stopping holds out ``val_fraction`` of the subjects in ``groups``
    (:func:`relcon.eval.finetune.finetune`, called through
    :func:`relcon.eval.finetune.finetune_task`, the command's own function). With a handful of
    labels, ``probe="linear_fixed", pooling="stages", few_shot_augment=8`` fits ``relcon
    evaluate``'s fixed-strength probe on the frozen encoder's embedding instead and keeps it
    as the head (nothing is held out); ``plus_handcrafted=True, handcrafted_fixed_c=0.03``
    adds a probe of the windows' hand-crafted features as a second head, fused with the
    first as ``relcon evaluate --plus-handcrafted`` fuses them.

    Args:
        X: ``(N, 256, 3)`` windows in g at 100 Hz.
        y: ``(N,)`` class codes (integers) or regression targets (floats).
        groups: ``(N,)`` subject of every window. None: every window is its own subject, so
            the validation windows may come from the training subjects (give the subjects when
            you have them).
        model: the encoder to start from: anything :func:`relcon.load` reads, an encoder
            object (copied, never changed), or ``"scratch"`` for a random encoder of the
            paper's size. ``None``: the shipped default model.
        task_type: ``"classification"`` or ``"regression"``; None: classification for integer
            ``y``.
        label_names: class names, code -> name (saved with the model; ``relcon predict`` names
            its classes with them).
        options: a :class:`~relcon.config.FinetuneConfig`.
        progress: show a progress bar over epochs.
        **settings: fields of :class:`~relcon.config.FinetuneConfig`, as ``relcon
            finetune``'s flags: ``epochs``, ``batch_size``, ``lr``, ``freeze_encoder``,
            ``head_hidden``, ``patience``, ``seed``, ``device``, ...

    Returns:
        The :class:`~relcon.models.FinetunedModel` (``predict``, ``predict_proba``;
        ``model.info["validation"]``: its scores on the validation subjects). Save it with
        :func:`relcon.models.hub.save_model`; :func:`relcon.load` reads it back.

    Example:
        >>> import numpy as np, relcon
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(0, 0.05, (24, 256, 3)).astype("float32"); X[..., 2] += 1
        >>> y = np.arange(24) % 2
        >>> m = relcon.finetune(X, y, np.repeat(["a", "b", "c"], 8), "relcon-wrist-small",
        ...                     epochs=2, freeze_encoder=True, device="cpu")   # the head only
        >>> m.classes_.tolist(), relcon.predict(X[:3], m).shape
        ([0, 1], (3,))
    """
    from relcon.data.tasks import task_from_arrays
    from relcon.eval.finetune import finetune_task

    cfg = _options(FinetuneConfig, options, settings, "relcon.finetune")
    if groups is None:
        groups = np.arange(len(y)).astype(str)
    task = task_from_arrays(
        X, y, groups, task_type=task_type, label_names=label_names, min_subjects=1
    )
    return finetune_task(task, "default" if model is None else model, cfg, progress=progress)


def predict(
    X: np.ndarray,
    model: FinetunedModel | str | os.PathLike[str],
    *,
    batch_size: int = 512,
    device: str = "auto",
    precision: str = "fp32",
    proba: bool = False,
) -> np.ndarray:
    """Predict windows with a fine-tuned model.

    Args:
        X: ``(N, 256, 3)`` windows in g at 100 Hz.
        model: a :class:`~relcon.models.FinetunedModel` (:func:`finetune`) or its folder
            (``relcon finetune --out``).
        batch_size: windows per forward pass.
        device: as in :func:`embed` (the model moves there).
        precision: as in :func:`embed`.
        proba: return the class probabilities instead (classification).

    Returns:
        ``(N,)`` class codes (as in the ``y`` it was trained on) or values in the target's
        units; with ``proba``, ``(N, K)`` probabilities, columns in the order of
        ``model.classes_``.

    Example: see :func:`finetune`.
    """
    from relcon.models.hub import load

    m = load(model, kind="finetuned", device=_device(device))
    if proba:
        return m.predict_proba(X, batch_size, precision)
    return m.predict(X, batch_size, precision)
