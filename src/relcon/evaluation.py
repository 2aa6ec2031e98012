"""Evaluation of frozen representations: subject-wise splits, a linear probe, metrics.

Every number here is computed on subjects that the probe never saw: folds split *subjects*, not
windows, and the probe's regularisation is chosen on validation subjects carved out of the
training subjects, never on the test fold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

__all__ = [
    "DEFAULT_CS",
    "ProbeResult",
    "classification_metrics",
    "evaluate",
    "linear_probe",
    "probe_folds",
    "subject_folds",
    "summarise",
]

# scikit-learn < 1.8 spells "no penalty" penalty=None; newer versions use C=inf
_NO_PENALTY_NEEDS_NONE = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8)

DEFAULT_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, float("inf"))  # inf = no penalty


def subject_folds(groups: np.ndarray, k: int, seed: int = 0) -> list[np.ndarray]:
    """Split the unique subjects of ``groups`` into ``k`` folds of near-equal size.

    Returns a list of ``k`` arrays of subject ids (the test subjects of each fold).
    """
    subjects = np.unique(np.asarray(groups))
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    if len(subjects) < k:
        raise ValueError(f"only {len(subjects)} subjects, cannot make {k} subject-wise folds")
    shuffled = np.random.default_rng(seed).permutation(subjects)
    return [np.sort(part) for part in np.array_split(shuffled, k)]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Macro-F1 (over the classes present in ``y_true``), Cohen's kappa, balanced accuracy."""
    labels = np.unique(y_true)
    return {
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "kappa": float(cohen_kappa_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
    }


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


def evaluate(cfg, out: str | Path, *, overwrite: bool = False, progress: bool = True) -> dict:
    """``relcon evaluate``: subject-wise k-fold linear probe of one representation.

    ``cfg.checkpoint`` is an encoder run folder/checkpoint, ``"random"`` (a randomly initialised
    default encoder) or ``"handcrafted"``. Users the checkpoint was pretrained on (recorded in its
    ``model.json``) are left out, so every score is on unseen users. Writes ``results.json``.
    """
    import torch

    from relcon.checkpoint import load_model
    from relcon.data.datasets import load_segments
    from relcon.features import handcrafted_features
    from relcon.io import atomic_write_json, environment_info
    from relcon.models.encoder import ResNet1DEncoder
    from relcon.runs import pick_device

    out = Path(out)
    result_path = out / "results.json" if out.suffix != ".json" else out
    if result_path.exists() and not overwrite:
        raise FileExistsError(f"{result_path} exists; pass --overwrite to replace it")
    if not cfg.checkpoint:
        raise ValueError("evaluate: give --checkpoint (an encoder run, 'random' or 'handcrafted')")
    segs = load_segments(cfg.data)
    keep = segs.label >= 0
    if cfg.labels is not None:
        wanted = [segs.label_names.index(n) if n in segs.label_names else None for n in cfg.labels]
        unknown = [n for n, w in zip(cfg.labels, wanted, strict=True) if w is None]
        if unknown:
            raise ValueError(f"unknown labels {unknown}; the data have {list(segs.label_names)}")
        keep &= np.isin(segs.label, wanted)
    meta: dict = {}
    device = pick_device(cfg.device)
    if cfg.checkpoint == "handcrafted":
        method, model = "Hand-crafted", None
    elif cfg.checkpoint == "random":
        torch.manual_seed(cfg.seed)
        method, model = "Random init", ResNet1DEncoder().to(device)
    else:
        model, meta = load_model(cfg.checkpoint, kind="encoder", device=device)
        method = f"RelCon ({Path(cfg.checkpoint).name})"
    seen = set(meta.get("train_users", []))
    overlap = np.isin(segs.user, list(seen))
    if overlap[keep].any():
        print(f"leaving out {len(set(segs.user[keep & overlap]))} users seen in pretraining")
        keep &= ~overlap
    segs = segs.subset(keep)
    if len(segs) == 0:
        raise ValueError("evaluate: no labelled windows left to evaluate on")
    feats = (
        handcrafted_features(segs.x)
        if model is None
        else model.embed(segs.x, batch_size=cfg.batch_size, device=device, progress=progress)
    )
    task = f"{cfg.data.source}:{'+'.join(cfg.labels) if cfg.labels else 'all'}"
    fold_rows = probe_folds(
        feats, segs.label.astype(np.int64), segs.user, method=method, task=task, folds=cfg.folds,
        seed=cfg.seed, val_fraction=cfg.val_fraction,
    )  # fmt: skip
    rows = [
        {k: r[k] for k in ("method", "task", "metric", "mean", "std", "n")}
        for r in summarise(fold_rows)
    ]
    from relcon.config import to_dict

    results = {
        "rows": rows,
        "folds": fold_rows,
        "n_windows": len(segs),
        "n_users": len(np.unique(segs.user)),
        "classes": [segs.label_names[c] for c in np.unique(segs.label)],
        "config": to_dict(cfg),
        "environment": environment_info(),
    }
    atomic_write_json(result_path, results)
    for r in rows:
        print(f"{r['method']:<24} {r['metric']:<18} {r['mean']:.3f} +- {r['std']:.3f} (n={r['n']})")
    print(f"results written to {result_path}")
    return results
