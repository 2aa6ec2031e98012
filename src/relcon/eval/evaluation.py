"""Evaluation of frozen representations: subject-wise splits, a linear probe, metrics.

Every number here is computed on subjects that the probe never saw: folds split *subjects*, not
windows, and the probe's regularisation is chosen on validation subjects carved out of the
training subjects, never on the test fold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from relcon.eval.metrics import classification_metrics
from relcon.eval.splits import subject_folds

__all__ = [
    "DEFAULT_CS",
    "ProbeResult",
    "classification_metrics",
    "linear_probe",
    "probe_folds",
    "summarise",
]

# scikit-learn < 1.8 spells "no penalty" penalty=None; newer versions use C=inf
_NO_PENALTY_NEEDS_NONE = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8)

DEFAULT_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, float("inf"))  # inf = no penalty


def _logistic(c: float, seed: int, max_iter: int) -> LogisticRegression:
    kw = {"max_iter": max_iter, "random_state": seed, "warm_start": True}
    if np.isinf(c) and _NO_PENALTY_NEEDS_NONE:
        return LogisticRegression(penalty=None, **kw)
    return LogisticRegression(C=c, **kw)


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    seed: int,
    max_iter: int,
    init: LogisticRegression | None = None,
) -> LogisticRegression:
    """Fit a logistic regression, warm-started from ``init``'s solution when it has the same classes."""
    model = _logistic(c, seed, max_iter)
    if init is not None and np.array_equal(getattr(init, "classes_", None), np.unique(y)):
        model.coef_, model.intercept_ = init.coef_.copy(), init.intercept_.copy()
    # One BLAS thread: these problems are small, and several BLAS/OpenMP pools (NumPy's, SciPy's,
    # torch's) competing for the cores made each L-BFGS iteration ~6x slower on 2 cores.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _validation_path(
    xa: np.ndarray, ya: np.ndarray, xv: np.ndarray, yv: np.ndarray, cs: tuple[float, ...], seed: int
) -> tuple[list[float], dict[float, LogisticRegression]]:
    """Macro-F1 on (xv, yv) of a probe fitted on (xa, ya), for each C along a warm-started path.

    The path runs from the strongest to the weakest penalty, each fit starting from the previous
    solution, with at most 100 L-BFGS iterations per C (the warm start makes up for the cap).
    """
    scores = [0.0] * len(cs)
    models: dict[float, LogisticRegression] = {}
    prev = None
    for i in np.argsort(cs):
        prev = _fit(xa, ya, cs[i], seed, max_iter=300, init=prev)
        models[cs[i]] = prev
        scores[i] = classification_metrics(yv, prev.predict(xv))["macro_f1"]
    return scores, models


@dataclass
class ProbeResult:
    metrics: dict[str, float]
    c: float  # chosen inverse regularisation strength (inf: no penalty)
    y_pred: np.ndarray


def linear_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    cs: tuple[float, ...] = DEFAULT_CS,
    val_fraction: float = 0.25,
    seed: int = 0,
    max_iter: int = 1000,
) -> ProbeResult:
    """Standardised features + multinomial logistic regression, ``C`` chosen on held-out subjects.

    ``val_fraction`` of the training subjects (at least one) form a validation set; each ``C`` in
    ``cs`` is fitted on the rest and scored by macro-F1 there; the best ``C`` is then refitted on
    all training subjects (warm-started, at most ``max_iter`` L-BFGS iterations) and applied to
    the test set. The scaler is fitted on training data only.
    """
    for name, arr in (("x_train", x_train), ("x_test", x_test)):
        if not np.isfinite(arr).all():
            raise ValueError(f"linear_probe: {name} contains NaN or infinite values")
    subjects = np.unique(groups_train)
    if len(subjects) < 2:
        raise ValueError(
            "linear_probe: need at least 2 training subjects to choose C on held-out ones"
        )
    if len(np.unique(y_train)) < 2:
        raise ValueError("linear_probe: the training data hold a single class")
    rng = np.random.default_rng(seed)
    n_val = max(1, round(val_fraction * len(subjects)))
    val_subjects = rng.choice(subjects, size=n_val, replace=False)
    is_val = np.isin(groups_train, val_subjects)
    best_c, best_score, init = cs[0], -np.inf, None
    if len(cs) > 1 and len(np.unique(y_train[~is_val])) >= 2:
        scaler = StandardScaler().fit(x_train[~is_val])
        xa, xv = scaler.transform(x_train[~is_val]), scaler.transform(x_train[is_val])
        scores, models = _validation_path(xa, y_train[~is_val], xv, y_train[is_val], cs, seed)
        for c, score in zip(cs, scores, strict=True):
            if score > best_score + 1e-12:  # ties keep the earlier (listed first) C
                best_c, best_score = c, score
        init = models[best_c]
    scaler = StandardScaler().fit(x_train)
    model = _fit(scaler.transform(x_train), y_train, best_c, seed, max_iter=max_iter, init=init)
    y_pred = model.predict(scaler.transform(x_test))
    return ProbeResult(classification_metrics(y_test, y_pred), best_c, y_pred)


def summarise(rows: list[dict]) -> list[dict]:
    """Fold-level rows ``{method, task, metric, value}`` -> ``{method, task, metric, mean, std, n, values}``."""
    out: dict[tuple, list[float]] = {}
    for r in rows:
        out.setdefault((r["method"], r["task"], r["metric"]), []).append(float(r["value"]))
    return [
        {
            "method": m,
            "task": t,
            "metric": k,
            "mean": float(np.mean(v)),
            "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
            "n": len(v),
            "values": v,
        }
        for (m, t, k), v in out.items()
    ]


def probe_folds(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    method: str,
    task: str,
    folds: int = 5,
    seed: int = 0,
    val_fraction: float = 0.25,
) -> list[dict]:
    """Subject-wise k-fold linear probe; one row per (fold, metric).

    Each fold's test subjects are never used to fit the scaler, choose ``C`` or fit the probe.
    Rows: ``{method, task, fold, metric, value, c, test_subjects}``.
    """
    features = np.asarray(features)
    if len(features) != len(y) or len(y) != len(groups):
        raise ValueError(
            f"length mismatch: features {len(features)}, y {len(y)}, groups {len(groups)}"
        )
    rows = []
    for k, test_subjects in enumerate(subject_folds(groups, folds, seed)):
        test = np.isin(groups, test_subjects)
        res = linear_probe(
            features[~test], y[~test], groups[~test], features[test], y[test],
            val_fraction=val_fraction, seed=seed + k,
        )  # fmt: skip
        for metric, value in res.metrics.items():
            rows.append(
                {"method": method, "task": task, "fold": k, "metric": metric, "value": value,
                 "c": res.c, "test_subjects": [str(s) for s in test_subjects]}
            )  # fmt: skip
    return rows
