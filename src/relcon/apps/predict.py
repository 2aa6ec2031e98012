"""Per-window predictions of a fine-tuned model on raw recordings, streamed with bounded memory.

A model saved by :mod:`relcon.eval.finetune` (``relcon finetune --out MODEL``) is applied to every
2.56 s window of recording files exactly as :mod:`relcon.apps.embed` embeds them: the same readers,
resampling, window grid, gap, missing-value and non-wear rules (see
:mod:`relcon.data.stream`), the same streaming into a Parquet or CSV file and the same output
rules (:mod:`relcon.apps.batch`: never over an input, ``overwrite``, ``skip_bad``, atomic writes,
metadata). ``relcon predict`` is :func:`predict_command` with a :class:`PredictConfig`.

Output columns, one row per kept window: ``recording``, ``window_index``, ``start_s``,
``start_time`` (as for embeddings), then

* classification: ``prediction`` (the class name), ``prediction_code`` (the class code the
  model was trained with) and one float32 probability column ``prob_<name>`` per class, in the
  order of the model's classes (they sum to 1);
* regression: ``prediction`` (float64, in the target's units).

Class names come from ``class_names`` when given, else from the ``label_names`` the model was
saved with (``relcon finetune`` records the task's), else the codes as text.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from relcon.apps.batch import (
    InferenceOptions,
    WindowFunction,
    WindowRunConfig,
    claimed_output,
    model_record,
    run_command,
)
from relcon.apps.embed import (
    ARRAY_OPTIONS,
    EMBED_ONLY,
    FRAME_OPTIONS,
    RECORDING_OPTIONS,
    embed_array,
    embed_dataframe,
    embed_recordings,
)
from relcon.models.encoder import resolve_precision
from relcon.models.finetuned import FinetunedModel

__all__ = [
    "PredictConfig",
    "class_names",
    "load_finetuned",
    "predict_array",
    "predict_command",
    "predict_dataframe",
    "predict_recordings",
    "predictor",
]

ModelLike = FinetunedModel | str | os.PathLike[str]
NamesLike = Sequence[str] | Mapping[Any, str] | None


@dataclass
class PredictConfig(WindowRunConfig):
    """``relcon predict``: apply a model saved by ``relcon finetune`` to every 2.56 s window of
    raw recordings, one row per window.

    ``model`` and ``recordings`` are the command's positional arguments (in that order); ``out``
    is required.
    """

    model: str = ""  # folder written by relcon finetune


def load_finetuned(model: ModelLike, device: str = "auto") -> FinetunedModel:
    """A :class:`~relcon.models.finetuned.FinetunedModel` in eval mode on ``device``.

    Parameters
    ----------
    model : FinetunedModel or path-like
        A model, or the folder :meth:`FinetunedModel.save` wrote (``model.json`` +
        ``model.safetensors``): ``relcon.load(model, kind="finetuned")``.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` ...
    """
    from relcon.models.hub import load
    from relcon.train.common import pick_device

    return load(model, kind="finetuned", device=pick_device(device))


def class_names(model: FinetunedModel, names: NamesLike = None) -> list[str]:
    """Names of the model's outputs, in the order of ``model.classes_``.

    Parameters
    ----------
    model : FinetunedModel
        A classification model.
    names : sequence or mapping, optional
        Names in the order of ``model.classes_`` (a sequence of the same length), or a mapping
        from class code to name. When None: ``model.info["label_names"]`` indexed by the
        (integer) class code, else the codes as text.

    Raises
    ------
    ValueError
        For a regression model, names of the wrong length, a code without a name, or duplicate
        names.
    """
    if model.classes_ is None:
        raise ValueError("class names only apply to a classification model")
    codes = model.classes_.tolist()
    if names is None:
        label_names = model.info.get("label_names")
        if label_names and all(isinstance(c, int) and 0 <= c < len(label_names) for c in codes):
            out = [str(label_names[c]) for c in codes]
        else:
            out = [str(c) for c in codes]
    elif isinstance(names, Mapping):
        missing = [c for c in codes if c not in names]
        if missing:
            raise ValueError(f"class_names has no name for class codes {missing}")
        out = [str(names[c]) for c in codes]
    else:
        out = [str(n) for n in names]
        if len(out) != len(codes):
            raise ValueError(
                f"class_names has {len(out)} names but the model has {len(codes)} classes {codes}"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"class names must be unique, got {out}")
    return out


def _predict_fn(
    model: FinetunedModel, batch_size: int, names: NamesLike, precision: str = "fp32"
) -> Callable[[np.ndarray], dict[str, Any]]:
    if model.classes_ is None:

        def regress(x: np.ndarray) -> dict[str, Any]:
            out = model.outputs(x, batch_size, precision)
            return {
                "prediction": model.target_mean + model.target_std * out[:, 0].astype(np.float64)
            }

        return regress
    labels = np.asarray(class_names(model, names), dtype=object)
    codes = model.classes_
    prob_cols = [f"prob_{n}" for n in labels]

    def classify(x: np.ndarray) -> dict[str, Any]:
        logits = model.outputs(x, batch_size, precision)
        probs = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy().astype(np.float32)
        best = logits.argmax(axis=1)
        cols: dict[str, Any] = {"prediction": labels[best], "prediction_code": codes[best]}
        cols.update(zip(prob_cols, probs.T, strict=True))
        return cols

    return classify


def predictor(
    model: ModelLike,
    device: str = "auto",
    batch_size: int = 256,
    class_names: NamesLike = None,
    precision: str = "fp32",
) -> WindowFunction:
    """A fine-tuned model as the :class:`~relcon.apps.batch.WindowFunction` that the
    ``embed_*`` functions stream windows through (prediction columns of the module docstring;
    the metadata record names the model's path, weights hash, task type and classes)."""
    m = load_finetuned(model, device)
    record = model_record(model, m)
    record["task_type"] = m.task_type
    record["precision"] = resolve_precision(precision, next(m.parameters()).device)
    if m.classes_ is not None:
        record["classes"] = m.classes_.tolist()
    return WindowFunction(_predict_fn(m, batch_size, class_names, precision), "predict", record)


#: Each ``predict_*`` function: the options it takes (those of its ``embed_*`` function less
#: :data:`relcon.apps.embed.EMBED_ONLY`: ``pooling``, as the model's head was trained on the
#: encoder's default embedding) and the ``embed_*`` function it passes every option on to
#: (whose named arguments, ``progress``, ``summary`` ..., it passes on as they are).
_OPTIONS = {
    "predict_recordings": (
        tuple(n for n in RECORDING_OPTIONS if n not in EMBED_ONLY), embed_recordings,
    ),
    "predict_array": (tuple(n for n in ARRAY_OPTIONS if n not in EMBED_ONLY), embed_array),
    "predict_dataframe": (
        tuple(n for n in FRAME_OPTIONS if n not in EMBED_ONLY), embed_dataframe,
    ),
}  # fmt: skip


def _options(options: Mapping[str, Any], function: str) -> InferenceOptions:
    """The ``options`` of the ``predict_*`` function ``function`` (defaults where not given);
    an option it does not take (``pooling`` among them) is a :class:`TypeError` naming it."""
    takes, embed_function = _OPTIONS[function]
    params = inspect.signature(embed_function).parameters.values()
    named = {p.name for p in params if p.kind is not p.VAR_KEYWORD}
    given = {k: v for k, v in options.items() if k not in named}
    try:
        o = InferenceOptions.of(given, function, takes)
    except TypeError as exc:
        if not any(k in options for k in EMBED_ONLY):
            raise
        raise TypeError(
            f"{exc}; not pooling: the model's head was trained on the encoder's default "
            "embedding (pooling 'last'); other poolings are for embeddings "
            "(relcon.apps.embed.embed_recordings, relcon embed --pooling)"
        ) from None
    return o


def _predictor(model: ModelLike, names: NamesLike, o: InferenceOptions) -> WindowFunction:
    """:func:`predictor` with the ``batch_size``, ``device`` and ``precision`` of ``o``."""
    return predictor(model, o.device, o.batch_size, names, o.precision)


def predict_recordings(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    model: ModelLike,
    out: str | os.PathLike[str] = "predictions.parquet",
    *,
    class_names: NamesLike = None,
    **options: Any,
) -> Path:
    """Predict every 2.56 s window of recording files with a fine-tuned model.

    Parameters
    ----------
    paths, out
        As in :func:`relcon.apps.embed.embed_recordings` (``*.parquet``, ``*.csv[.gz]``).
    model : FinetunedModel or path-like
        The model, or the folder written by :meth:`FinetunedModel.save` (the argument order of
        :func:`relcon.apps.embed.embed_recordings`: the data, the model, the output).
    class_names : sequence or mapping, optional
        See :func:`class_names`.
    **options
        Every option of :func:`relcon.apps.embed.embed_recordings` (``batch_size``, ``device``,
        ``precision``, ``stride_s``, ``units``, ``max_gap_s``, ``chunk_s``, ``drop_nonwear``,
        ``rules``, ``progress``, ``overwrite``, ``skip_bad``, ``summaries``, ``failed``), with
        the same meaning and defaults. Not ``pooling``: the model's head was trained on the
        encoder's default embedding, so ``pooling``, like any option not listed, is a
        :class:`TypeError`.

    Returns
    -------
    pathlib.Path
        ``out`` (columns in the module docstring; a Parquet file's metadata records the model's
        path and weights hash, its classes, the settings, the units of each recording and the
        relcon version).
    """
    opts = _options(options, "predict_recordings")  # before any file is looked at
    claim = claimed_output(
        paths, out, options.get("overwrite", False), options.get("skip_bad", False)
    )
    with claim:  # before the model is loaded
        fn = _predictor(model, class_names, opts)
        return embed_recordings(paths, fn, out, **options)


def predict_command(cfg: PredictConfig) -> int:
    """``relcon predict``: predicts every window of ``cfg.recordings`` with the model in
    ``cfg.model`` into ``cfg.out`` (:func:`predict_recordings`) and prints the per-recording
    summaries (:func:`relcon.apps.batch.run_command`)."""
    if not cfg.model:
        raise ValueError("relcon predict: give the model folder written by relcon finetune")
    return run_command(cfg, "predict", "predictions", predict_recordings)


def predict_array(
    x: np.ndarray, fs: float, model: ModelLike, *, class_names: NamesLike = None, **options: Any
) -> pd.DataFrame:
    """Predict the windows of a uniformly sampled recording held in memory.

    ``x`` ``(T, 3)`` at ``fs`` Hz and ``**options`` (``units``, ``start_s``, ``stride_s``,
    ``max_gap_s``, ``drop_nonwear``, ``rules``, ``batch_size``, ``device``, ``precision``,
    ``summary``) as in :func:`relcon.apps.embed.embed_array`; ``class_names`` as in
    :func:`class_names`. Returns ``N`` rows: ``window_index``, ``start_s``, ``start_time`` (with
    absolute time), then the prediction columns of the module docstring.
    """
    fn = _predictor(model, class_names, _options(options, "predict_array"))
    return embed_array(x, fs, model=fn, **options)


def predict_dataframe(
    df: pd.DataFrame, model: ModelLike, *, class_names: NamesLike = None, **options: Any
) -> pd.DataFrame:
    """Predict the windows of a recording held in a DataFrame.

    The frame and ``**options`` (``time_column``, ``x_column`` ..., ``units``, ``time_unit``,
    ``fs``, ``stride_s``, ``max_gap_s``, ``drop_nonwear``, ``rules``, ``batch_size``,
    ``device``, ``precision``, ``summary``) are read as by
    :func:`relcon.apps.embed.embed_dataframe`; the result is that of :func:`predict_array`.
    """
    fn = _predictor(model, class_names, _options(options, "predict_dataframe"))
    return embed_dataframe(df, model=fn, **options)
