"""Scores for classification and regression, computed the same way for every method, and their
mean and spread over folds (:func:`summarise`)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score

__all__ = ["classification_metrics", "regression_metrics", "score", "spread", "summarise"]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Macro-F1 and balanced accuracy (both over the classes present in ``y_true``), Cohen's
    kappa.

    A prediction of a class absent from ``y_true`` (common when one test subject's windows are
    scored on their own) counts as an error of its true class; scikit-learn's warning about it
    is expected here and not shown.
    """
    labels = np.unique(y_true)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "kappa": float(cohen_kappa_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Pearson's r and Spearman's rho (r and rho are NaN for constant inputs)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    err = y_pred - y_true
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "pearson": float("nan") if constant else float(stats.pearsonr(y_true, y_pred)[0]),
        "spearman": float("nan") if constant else float(stats.spearmanr(y_true, y_pred)[0]),
    }


def score(task_type: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics of ``task_type`` ("classification" or "regression")."""
    if task_type == "classification":
        return classification_metrics(y_true, y_pred)
    if task_type == "regression":
        return regression_metrics(y_true, y_pred)
    raise ValueError(f"unknown task type {task_type!r}")


def spread(values: list[float]) -> dict:
    """``{mean, std, n, values}`` of scores: ``std`` is the sample standard deviation
    (``ddof=1``; 0 for a single value).

    >>> spread([0.5, 0.7])["mean"], spread([0.5])["std"]
    (0.6, 0.0)
    """
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


def summarise(rows: list[dict], key: str = "method") -> list[dict]:
    """Fold-level rows ``{KEY, task, metric, value}`` -> ``{KEY, task, metric, mean, std, n, values}``.

    ``key`` names what was scored (``relcon evaluate``'s results: ``"name"``; the demo's
    representations: ``"method"``). ``std`` is the sample standard deviation over the folds
    (``ddof=1``; 0 for a single fold).
    """
    out: dict[tuple, list[float]] = {}
    for r in rows:
        out.setdefault((r[key], r["task"], r["metric"]), []).append(float(r["value"]))
    return [{key: m, "task": t, "metric": k, **spread(v)} for (m, t, k), v in out.items()]
