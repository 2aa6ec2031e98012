"""Per-window predictions of a fine-tuned model on raw recordings, streamed with bounded memory.

A model saved by :mod:`relcon.eval.finetune` (``relcon finetune --out MODEL``) is applied to every
2.56 s window of recording files exactly as :mod:`relcon.apps.embed` embeds them: the same readers,
resampling, window grid, gap, missing-value and non-wear rules (see
:mod:`relcon.data.stream`), the same streaming into a Parquet or CSV file and the same output
rules (:mod:`relcon.apps.batch`: never over an input, ``overwrite``, ``skip_bad``, atomic writes,
metadata). ``relcon predict`` is :func:`predict_command` with a :class:`PredictConfig`.

Output columns, one row per kept window: ``recording``, ``window``, ``start_s``, ``start_time``
(as for embeddings), then

* classification: ``prediction`` (the class name), ``prediction_code`` (the class code the
  model was trained with) and one float32 probability column ``prob_<name>`` per class, in the
  order of the model's classes (they sum to 1);
* regression: ``prediction`` (float64, in the target's units).

Class names come from ``class_names`` when given, else from the ``label_names`` the model was
saved with (``relcon finetune`` records the task's), else the codes as text.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from relcon.apps.batch import (
    BadRecording,
    frame_windows,
    model_record,
    run_recordings,
    summary_text,
)
from relcon.apps.embed import window_options
from relcon.data.corpus.quality import QualityRules
from relcon.data.stream import ArraySource, FrameSource, WindowSummary
from relcon.models.finetuned import FinetunedModel

__all__ = [
    "PredictConfig",
    "class_names",
    "load_finetuned",
    "predict_array",
    "predict_command",
    "predict_dataframe",
    "predict_recordings",
]

ModelLike = FinetunedModel | str | os.PathLike[str]
NamesLike = Sequence[str] | Mapping[Any, str] | None


@dataclass
class PredictConfig:
    """``relcon predict``: apply a model saved by ``relcon finetune`` to every 2.56 s window of
    raw recordings, one row per window.

    ``model`` and ``recordings`` are the command's positional arguments (in that order); ``out``
    is required.
    """

    model: str = ""  # folder written by relcon finetune
    #: recording files or folders (csv[.gz], parquet, npz, cwa, gt3x, bin)
    recordings: list[str] = field(default_factory=list)
    out: str = ""  # output table: .parquet or .csv[.gz]
    device: str = "auto"  # auto (default), cpu, cuda, cuda:1, ...
    batch_size: int = 512  # windows per forward pass
    stride_s: float = 2.56  # seconds between windows (2.56: no overlap)
    units: str | None = None  # acceleration units: g, m/s^2 or mg (default: detected)
    max_gap_s: float = 0.5  # longer gaps split a recording
    keep_nonwear: bool = False  # do not drop non-wear windows
    no_progress: bool = False  # no progress bar
    overwrite: bool = False  # replace an existing --out (an input file is never overwritten)
    #: leave out files that cannot be read (listed in the summary and in OUT.report.json)
    #: instead of stopping
    skip_bad: bool = False
    chunk_s: float = 3600.0  # seconds of input read at a time (memory, not results)


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
    """Names of the model's outputs, in the order of ``model.classes``.

    Parameters
    ----------
    model : FinetunedModel
        A classification model.
    names : sequence or mapping, optional
        Names in the order of ``model.classes`` (a sequence of the same length), or a mapping
        from class code to name. When None: ``model.info["label_names"]`` indexed by the
        (integer) class code, else the codes as text.

    Raises
    ------
    ValueError
        For a regression model, names of the wrong length, a code without a name, or duplicate
        names.
    """
    if model.classes is None:
        raise ValueError("class names only apply to a classification model")
    codes = model.classes.tolist()
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
    model: FinetunedModel, batch_size: int, names: NamesLike
) -> Callable[[np.ndarray], dict[str, Any]]:
    if model.classes is None:

        def regress(x: np.ndarray) -> dict[str, Any]:
            out = model.outputs(x, batch_size)
            return {
                "prediction": model.target_mean + model.target_std * out[:, 0].astype(np.float64)
            }

        return regress
    labels = np.asarray(class_names(model, names), dtype=object)
    codes = model.classes
    prob_cols = [f"prob_{n}" for n in labels]

    def classify(x: np.ndarray) -> dict[str, Any]:
        logits = model.outputs(x, batch_size)
        probs = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy().astype(np.float32)
        best = logits.argmax(axis=1)
        cols: dict[str, Any] = {"prediction": labels[best], "prediction_code": codes[best]}
        cols.update(zip(prob_cols, probs.T, strict=True))
        return cols

    return classify


def predict_recordings(
    model_dir: ModelLike,
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] = "predictions.parquet",
    *,
    batch_size: int = 512,
    device: str = "auto",
    stride_s: float = 2.56,
    units: str | None = None,
    max_gap_s: float = 0.5,
    chunk_s: float = 3600.0,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    class_names: NamesLike = None,
    progress: bool = True,
    overwrite: bool = False,
    skip_bad: bool = False,
    summaries: list[WindowSummary] | None = None,
    failed: list[BadRecording] | None = None,
) -> Path:
    """Predict every 2.56 s window of recording files with a fine-tuned model.

    Parameters
    ----------
    model_dir : FinetunedModel or path-like
        The model, or the folder written by :meth:`FinetunedModel.save`.
    paths : path-like or sequence of path-likes
        Recording files or folders, as in :func:`relcon.apps.embed.embed_recordings`.
    out : path-like
        ``*.parquet`` (or ``*.pq``), ``*.csv`` or ``*.csv.gz``.
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` ...
    stride_s, units, max_gap_s, chunk_s, drop_nonwear, rules
        As in :func:`relcon.data.stream.iter_windows`.
    class_names : sequence or mapping, optional
        See :func:`class_names`.
    progress : bool
        Show a progress bar (bytes of the input files read, with an estimate of the time left).
    overwrite, skip_bad, failed
        As in :func:`relcon.apps.embed.embed_recordings`.
    summaries : list, optional
        Receives one :class:`~relcon.data.stream.WindowSummary` per recording written.

    Returns
    -------
    pathlib.Path
        ``out`` (columns in the module docstring; a Parquet file's metadata records the model's
        path and weights hash, its classes, the units of each recording and the relcon version).
    """
    model = load_finetuned(model_dir, device)
    fn = _predict_fn(model, batch_size, class_names)
    kw = window_options(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=chunk_s,
        drop_nonwear=drop_nonwear, rules=rules,
    )  # fmt: skip
    record = model_record(model_dir, model)
    record["task_type"] = model.task_type
    if model.classes is not None:
        record["classes"] = model.classes.tolist()
    meta = {"command": "predict", "model": record}
    return run_recordings(
        paths, out, fn, batch_size=batch_size, window_kw=kw, desc="predict", progress=progress,
        overwrite=overwrite, skip_bad=skip_bad, summaries=summaries, failed=failed,
        metadata=meta,
    )  # fmt: skip


def predict_command(cfg: PredictConfig) -> int:
    """``relcon predict``: everything the command does, from its configuration.

    Predicts every window of ``cfg.recordings`` with the model in ``cfg.model`` into
    ``cfg.out`` (:func:`predict_recordings`) and prints the per-recording summaries, the files
    skipped and the total. Returns the exit status (0).
    """
    if not cfg.model:
        raise ValueError("relcon predict: give the model folder written by relcon finetune")
    if not cfg.recordings:
        raise ValueError("relcon predict: give at least one recording file or folder")
    if not cfg.out:
        raise ValueError("relcon predict: --out is required (a .parquet or .csv file)")
    summaries: list[WindowSummary] = []
    failed: list[BadRecording] = []
    out = predict_recordings(
        cfg.model, cfg.recordings, cfg.out, batch_size=cfg.batch_size, device=cfg.device,
        stride_s=cfg.stride_s, units=cfg.units, max_gap_s=cfg.max_gap_s, chunk_s=cfg.chunk_s,
        drop_nonwear=not cfg.keep_nonwear, progress=not cfg.no_progress,
        overwrite=cfg.overwrite, skip_bad=cfg.skip_bad, summaries=summaries, failed=failed,
    )  # fmt: skip
    print(summary_text(summaries, failed, out, "predictions"))
    return 0


def predict_array(
    model: ModelLike,
    x: np.ndarray,
    fs: float,
    *,
    units: str | None = "g",
    start_s: float = 0.0,
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    class_names: NamesLike = None,
    batch_size: int = 512,
    device: str = "auto",
    summary: WindowSummary | None = None,
) -> pd.DataFrame:
    """Predict the windows of a uniformly sampled recording held in memory.

    Parameters
    ----------
    model : FinetunedModel or path-like
        The model or its folder.
    x : numpy.ndarray
        ``(T, 3)`` acceleration at ``fs``; sample ``i`` at ``start_s + i / fs``.
    fs : float
        Sampling rate in Hz.
    units : str or None
        ``"g"`` (default), ``"m/s^2"``, ``"mg"``, or None to detect.
    start_s : float
        Time of the first sample in seconds.
    stride_s, max_gap_s, drop_nonwear, rules
        As in :func:`relcon.data.stream.iter_windows`.
    class_names : sequence or mapping, optional
        See :func:`class_names`.
    batch_size : int
        Windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` ...
    summary : WindowSummary, optional
        Filled with the counts.

    Returns
    -------
    pandas.DataFrame
        ``N`` rows: ``window``, ``start_s``, ``start_time`` (with absolute time), then the
        prediction columns of the module docstring.
    """
    m = load_finetuned(model, device)
    kw = window_options(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=3600.0,
        drop_nonwear=drop_nonwear, rules=rules,
    )  # fmt: skip
    fn = _predict_fn(m, batch_size, class_names)
    return frame_windows(ArraySource(x, fs, start_s), fn, batch_size, kw, summary)


def predict_dataframe(
    model: ModelLike,
    df: pd.DataFrame,
    *,
    time_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    z_column: str | None = None,
    units: str | None = None,
    time_unit: str = "auto",
    fs: float | None = None,
    stride_s: float = 2.56,
    max_gap_s: float = 0.5,
    drop_nonwear: bool = True,
    rules: QualityRules | None = None,
    class_names: NamesLike = None,
    batch_size: int = 512,
    device: str = "auto",
    summary: WindowSummary | None = None,
) -> pd.DataFrame:
    """Predict the windows of a recording held in a DataFrame.

    The frame is read as by :func:`relcon.apps.embed.embed_dataframe` (time column or
    ``DatetimeIndex``, x, y, z columns); the other parameters and the result are those of
    :func:`predict_array`.
    """
    m = load_finetuned(model, device)
    source = FrameSource(df, time_column, (x_column, y_column, z_column))
    kw = window_options(
        units=units, stride_s=stride_s, max_gap_s=max_gap_s, chunk_s=3600.0,
        drop_nonwear=drop_nonwear, rules=rules, fs=fs, time_unit=time_unit,
    )  # fmt: skip
    return frame_windows(source, _predict_fn(m, batch_size, class_names), batch_size, kw, summary)
