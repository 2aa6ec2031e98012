"""Heads fitted on frozen features: the one probe path of ``relcon evaluate`` and ``relcon demo``.

:func:`fit_predict` fits a linear (logistic / ridge), ridge-classifier, MLP or random-forest
probe; :func:`probe_folds` runs it over subject-wise folds and scores each fold. Every probe
chooses its one hyperparameter on *validation subjects* carved out of the training subjects
(never on the test fold), then refits on all training subjects with the chosen value and
predicts the test windows. Everything is seeded, so a call is deterministic given ``seed``.

========================= =================================== ===================================
probe                     classification                      regression
========================= =================================== ===================================
``"linear"``              multinomial logistic regression on  ridge regression on standardised
                          standardised features, ``C`` from   features, ``alpha`` from
                          :data:`LOGISTIC_CS` (incl. no       :data:`REGRESSION_ALPHAS` (incl.
                          penalty), along a warm-started path ~0), chosen by validation MSE
``"ridge_classifier"``    ±1 one-vs-rest ridge on             not defined (use ``"linear"``)
                          standardised features (MiniRocket's
                          head), ``alpha`` from
                          :data:`RIDGE_CLASSIFIER_ALPHAS`
``"mlp"``                 one hidden layer (torch), early     same, on standardised targets
                          stopping on the validation
                          subjects' loss
                          (:mod:`relcon.eval.probe_mlp`)
``"rf"``                  random forest, ``min_samples_leaf`` same (regression forest), chosen
                          from :data:`RF_MIN_SAMPLES_LEAF`    by validation MSE
``"linear_fixed"``        logistic regression as ``"linear"``  ridge regression as ``"linear"``,
                          with the fixed :data:`FIXED_C`      with the fixed :data:`FIXED_ALPHA`
``"nearest_centroid"``    nearest class mean (Euclidean) on   not defined (use ``"linear_fixed"``)
                          standardised features
========================= =================================== ===================================

Few labels
    ``"linear_fixed"`` and ``"nearest_centroid"`` choose nothing on validation subjects
    (``info["selection"] == "fixed"``): they are the protocols for few-shot runs, where the
    validation subjects of a fold hold one or two windows per class, so a macro-F1 over them
    ties across most of the grid (ties keep the strongest penalty) and changes with every draw.
    :data:`FIXED_C` was chosen once and is the same for every kind of features, task and fold:
    on ``wisdm_har6`` (the 14 subjects ``relcon-wrist-full`` was not pretrained on, 40 windows
    each, 5 folds x 3 seeds) C = 1 had the best macro-F1 averaged over handcrafted, shipped and
    random-weight features at k = 5 and 10 (0.546 and 0.587; C = 0.1: 0.536, 0.578; C = 0.01:
    0.504, 0.560), while the validation choice of ``"linear"`` spread over the whole grid
    (0.001 to no penalty in 15 fits of one kind of features). Out of sample (the smartwatch set,
    HAPT and HAPT-UCI, C from 0.01 to 100, ``docs/payoff.md``, section 13) C = 1 stays within
    0.007 macro-F1 of the best C for the stage-pooled embedding with augmented copies, and no
    C beats it for random weights; hand-crafted features do better with a stronger penalty
    (C = 0.01 to 0.3, by up to 0.06), so one C for every kind of features favours the
    embeddings a little. :data:`FIXED_ALPHA` is the ``"linear"`` default, not measured.

Fusion
    :func:`relcon.eval.fusion.fit_predict_fused` fits ``"linear"`` or ``"linear_fixed"`` once
    per block of features (an embedding; hand-crafted features) and sums the probes'
    log-probabilities (``relcon evaluate --plus-handcrafted``).

Validation split
    :func:`relcon.eval.splits.validation_split` draws ``round(val_fraction * n_subjects)`` (at
    least one) training subjects with ``numpy.random.default_rng(seed)``. For classification the
    split is usable only if every training class occurs both in the fitting subjects and in the
    validation subjects; otherwise up to :data:`relcon.eval.splits.MAX_SPLIT_DRAWS` - 1 further
    seeded draws are tried. If none is usable (e.g. a class is held by a single subject, as in
    1-shot data) the probe uses its **default** hyperparameter (:data:`DEFAULTS`), fitted on all
    training windows, and says so in ``info["selection"] == "default"`` and ``info["fallback"]``
    (the reason). A regression split only needs at least two fitting windows.

    With ``val_folds >= 2`` (``relcon evaluate --val-folds``) the choice is cross-validated
    instead (:func:`relcon.eval.splits.validation_folds`): the training subjects are split into
    that many inner folds, each fold's windows are predicted by the probe fitted (and
    standardised) on the other folds' subjects, and each hyperparameter is scored on all these
    predictions pooled. One split of a quarter of the subjects is a noisy judge: between
    validation draws of one fold, the full-label macro-F1 of one kind of features moved by up
    to 0.08 on WISDM and 0.17 on the smartwatch set (``docs/payoff.md``, section 9, which also
    measures what the cross-validated choice changes). A usable split needs every class among
    every inner fold's fitting subjects. The MLP trains with early stopping on each inner fold
    and is then refitted for the mean of their best epochs.

Scores used for the choice
    classification: macro-F1 on the validation windows (ties: the more regularised value;
    for ``C`` the first in :data:`LOGISTIC_CS`); ridge classifier ties are broken by the
    validation squared error of the ±1 scores; regression: mean squared error; MLP: the
    validation loss per epoch (cross-entropy, or MSE of the standardised target), the chosen
    hyperparameter being the number of epochs.

Logistic regression
    scikit-learn's L-BFGS. The validation path runs from the strongest to the weakest penalty,
    each fit warm-started from the previous solution with at most 300 iterations; the final fit
    on all training windows starts from the chosen ``C``'s validation solution, with at most
    :data:`LOGISTIC_MAX_ITER` iterations. Convergence warnings are silenced (the warm start
    makes up for the caps).

All BLAS/OpenMP pools are limited to one thread while fitting: on small shared machines,
several pools (NumPy's, SciPy's, torch's) competing for the cores made each L-BFGS iteration
about six times slower.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from relcon.config import spell
from relcon.eval.metrics import classification_metrics, score
from relcon.eval.probe_mlp import mlp_probe
from relcon.eval.splits import subject_folds, validation_folds

__all__ = [
    "CLASSIFICATION_PROBES",
    "DEFAULTS",
    "FIXED_ALPHA",
    "FIXED_C",
    "FIXED_PROBES",
    "LOGISTIC_CS",
    "LOGISTIC_MAX_ITER",
    "PROBES",
    "REGRESSION_ALPHAS",
    "RF_MIN_SAMPLES_LEAF",
    "RF_N_ESTIMATORS",
    "RF_SELECTION_ESTIMATORS",
    "RIDGE_CLASSIFIER_ALPHAS",
    "check_fixed_c",
    "fit_predict",
    "probe_folds",
    "ridge_path",
]

PROBES: tuple[str, ...] = (
    "linear", "mlp", "rf", "ridge_classifier", "linear_fixed", "nearest_centroid",
)  # fmt: skip
#: probes that choose nothing on validation subjects (for few labels; see "Few labels")
FIXED_PROBES: tuple[str, ...] = ("linear_fixed", "nearest_centroid")
#: classification-only probes
CLASSIFICATION_PROBES: tuple[str, ...] = ("ridge_classifier", "nearest_centroid")
#: the inverse penalty of ``"linear_fixed"`` (classification) on standardised features
FIXED_C = 1.0
#: the ridge penalty of ``"linear_fixed"`` (regression) on standardised features
FIXED_ALPHA = 1.0

#: inverse penalties tried by the logistic ``"linear"`` probe (``inf``: no penalty)
LOGISTIC_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, float("inf"))
#: L-BFGS iterations of the final logistic fit (the validation path uses at most 300 per C)
LOGISTIC_MAX_ITER = 1000

#: ridge-regression penalties tried by the ``"linear"`` regression probe (1e-6 is "~0")
REGRESSION_ALPHAS: tuple[float, ...] = (1e-6, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
#: ridge-classifier penalties: MiniRocket's RidgeClassifierCV grid, ``np.logspace(-3, 3, 10)``
RIDGE_CLASSIFIER_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 10))
#: trees of the final forest, and of the forests that score each ``min_samples_leaf``
RF_N_ESTIMATORS = 300
RF_SELECTION_ESTIMATORS = 100
RF_MIN_SAMPLES_LEAF: tuple[int, ...] = (1, 2, 5, 10)
#: hyperparameter used when no usable validation split exists, per (probe, task type)
DEFAULTS: dict[tuple[str, str], tuple[str, float]] = {
    ("linear", "classification"): ("C", 1.0),
    ("linear", "regression"): ("alpha", 1.0),
    ("ridge_classifier", "classification"): ("alpha", 1.0),
    ("mlp", "classification"): ("epochs", 50),
    ("mlp", "regression"): ("epochs", 50),
    ("rf", "classification"): ("min_samples_leaf", 1),
    ("rf", "regression"): ("min_samples_leaf", 1),
}


# --------------------------------------------------------------------------------------------
# ridge
# --------------------------------------------------------------------------------------------


def ridge_path(
    x: np.ndarray, y: np.ndarray, alphas: Sequence[float]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ridge solutions with an unpenalised intercept for every penalty in ``alphas``.

    Minimises ``||y - x w - b||^2 + alpha ||w||^2`` (what ``sklearn.linear_model.Ridge`` with
    ``fit_intercept=True`` does) for all ``alphas`` from one eigendecomposition of the smaller
    Gram matrix of the centred data.

    Parameters
    ----------
    x : np.ndarray
        ``(N, F)`` features.
    y : np.ndarray
        ``(N,)`` or ``(N, K)`` targets.
    alphas : sequence of float
        Non-negative penalties.

    Returns
    -------
    list of (w, b)
        ``w`` is ``(F, K)`` and ``b`` is ``(K,)`` (``K = 1`` for 1-D ``y``); predictions are
        ``x @ w + b``.
    """
    x = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64)
    y2 = y2[:, None] if y2.ndim == 1 else y2
    x_mean, y_mean = x.mean(axis=0), y2.mean(axis=0)
    xc, yc = x - x_mean, y2 - y_mean
    n, f = xc.shape
    out = []
    with threadpool_limits(limits=1):
        if n <= f:  # dual: w = xc^T (xc xc^T + a I)^-1 yc
            lam, q = np.linalg.eigh(xc @ xc.T)
            lam = np.clip(lam, 0.0, None)
            qty = q.T @ yc
            for a in alphas:
                w = xc.T @ (q @ (qty / (lam + a)[:, None]))
                out.append((w, y_mean - x_mean @ w))
        else:  # primal: w = (xc^T xc + a I)^-1 xc^T yc
            lam, v = np.linalg.eigh(xc.T @ xc)
            lam = np.clip(lam, 0.0, None)
            vtxy = v.T @ (xc.T @ yc)
            for a in alphas:
                w = v @ (vtxy / (lam + a)[:, None])
                out.append((w, y_mean - x_mean @ w))
    return out


def _standardise(x_fit: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    scaler = StandardScaler().fit(x_fit)
    return [scaler.transform(x_fit), *(scaler.transform(o) for o in others)]


def _pick(keys: Sequence[tuple], order: Sequence[int]) -> int:
    """Index of the best entry: largest ``keys[i]``; ties go to the earliest in ``order``."""
    best = order[0]
    for i in order[1:]:
        if keys[i] > keys[best]:
            best = i
    return best


@dataclass(frozen=True)
class _Problem:
    """What every probe is given: training and test windows and the validation mask."""

    x_train: np.ndarray
    y_train: np.ndarray
    #: validation fold of each training window (-1: never validated;
    #: :func:`~relcon.eval.splits.validation_folds`); None: no usable split, use the default
    val_fold: np.ndarray | None
    x_test: np.ndarray
    task_type: str
    seed: int
    #: classification: return the test windows' log-probabilities per class (the columns in
    #: ``np.unique(y_train)`` order) instead of the predicted classes (for
    #: :func:`relcon.eval.fusion.fit_predict_fused`)
    log_proba: bool = False
    #: a dict that receives a linear probe's final fit (:func:`relcon.eval.linear_probe.fit_linear`):
    #: ``scaler``, and ``weight`` ``(K, F)`` / ``bias`` ``(K,)`` in standardised units
    fitted: dict | None = None
    #: ``"linear_fixed"``'s inverse penalty (classification); None: :data:`FIXED_C`
    fixed_c: float | None = None

    @property
    def classify(self) -> bool:
        return self.task_type == "classification"

    def default(self, probe: str) -> float:
        return DEFAULTS[(probe, self.task_type)][1]

    def val_masks(self) -> list[np.ndarray]:
        """The validation windows of each inner fold (one mask for a single split)."""
        assert self.val_fold is not None
        return [self.val_fold == f for f in range(int(self.val_fold.max()) + 1)]

    def fit_val(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per validation fold: standardised fitting and validation features (the scaler fitted
        on the fitting windows), and their targets. A probe scores a hyperparameter on the
        validation predictions of every fold concatenated, in this order (:attr:`y_val`)."""
        for is_val in self.val_masks():
            xa, xv = _standardise(self.x_train[~is_val], self.x_train[is_val])
            yield xa, xv, self.y_train[~is_val], self.y_train[is_val]

    @property
    def y_val(self) -> np.ndarray:
        """The targets of the validation windows, fold after fold (as :meth:`fit_val`)."""
        return np.concatenate([self.y_train[m] for m in self.val_masks()])

    def train_test(self) -> tuple[np.ndarray, np.ndarray]:
        """Standardised training and test features (the scaler fitted on training windows)."""
        scaler = StandardScaler().fit(self.x_train)
        if self.fitted is not None:
            self.fitted["scaler"] = scaler
        return scaler.transform(self.x_train), scaler.transform(self.x_test)

    def keep(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Record the final fit's scores ``x_std @ weight.T + bias`` (see :attr:`fitted`)."""
        if self.fitted is not None:
            self.fitted.update(weight=np.atleast_2d(weight), bias=np.atleast_1d(bias))


def _ridge_regression(p: _Problem) -> tuple[np.ndarray, dict]:
    alphas = REGRESSION_ALPHAS
    info: dict = {"hyperparameter": "alpha", "grid": list(alphas), "val_metric": "mse"}
    alpha = p.default("linear")
    if p.val_fold is not None:
        preds: list[list[np.ndarray]] = [[] for _ in alphas]
        for xa, xv, ya, _ in p.fit_val():
            for i, (w, b) in enumerate(ridge_path(xa, ya, alphas)):
                preds[i].append((xv @ w + b)[:, 0])
        mse = [float(np.mean((np.concatenate(pr) - p.y_val) ** 2)) for pr in preds]
        # most regularised first, so that ties keep the larger alpha
        i = _pick([(-m,) for m in mse], np.argsort(alphas)[::-1].tolist())
        alpha, info["val_scores"] = alphas[i], mse
    xt, xs = p.train_test()
    ((w, b),) = ridge_path(xt, p.y_train, [alpha])
    p.keep(w.T, b)
    info["value"] = alpha
    return (xs @ w + b)[:, 0], info


def _ridge_classifier(p: _Problem) -> tuple[np.ndarray, dict]:
    alphas = RIDGE_CLASSIFIER_ALPHAS
    classes = np.unique(p.y_train)
    info: dict = {"hyperparameter": "alpha", "grid": list(alphas), "val_metric": "macro_f1"}

    def targets(y: np.ndarray) -> np.ndarray:
        return np.where(y[:, None] == classes[None, :], 1.0, -1.0)

    alpha = p.default("ridge_classifier")
    if p.val_fold is not None:
        outs: list[list[np.ndarray]] = [[] for _ in alphas]
        for xa, xv, ya, _ in p.fit_val():
            for i, (w, b) in enumerate(ridge_path(xa, targets(ya), alphas)):
                outs[i].append(xv @ w + b)
        keys, f1s = [], []
        for out in outs:
            scores = np.concatenate(out)
            f1 = classification_metrics(p.y_val, classes[np.argmax(scores, axis=1)])["macro_f1"]
            keys.append((f1, -float(np.mean((scores - targets(p.y_val)) ** 2))))
            f1s.append(f1)
        i = _pick(keys, np.argsort(alphas)[::-1].tolist())
        alpha, info["val_scores"] = alphas[i], f1s
    xt, xs = p.train_test()
    ((w, b),) = ridge_path(xt, targets(p.y_train), [alpha])
    p.keep(w.T, b)
    info["value"] = alpha
    return classes[np.argmax(xs @ w + b, axis=1)], info


# --------------------------------------------------------------------------------------------
# logistic regression
# --------------------------------------------------------------------------------------------

# scikit-learn < 1.8 spells "no penalty" penalty=None; newer versions use C=inf
_NO_PENALTY_NEEDS_NONE = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 8)


def _fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    seed: int,
    max_iter: int,
    init: LogisticRegression | None = None,
) -> LogisticRegression:
    """Fit a logistic regression, warm-started from ``init``'s solution when it has the same classes."""
    kw = {"max_iter": max_iter, "random_state": seed, "warm_start": True}
    if np.isinf(c) and _NO_PENALTY_NEEDS_NONE:
        model = LogisticRegression(penalty=None, **kw)
    else:
        model = LogisticRegression(C=c, **kw)
    if init is not None and np.array_equal(getattr(init, "classes_", None), np.unique(y)):
        model.coef_, model.intercept_ = init.coef_.copy(), init.intercept_.copy()
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _classes_or_log_proba(model: LogisticRegression, xs: np.ndarray, p: _Problem) -> np.ndarray:
    w, b = model.coef_, model.intercept_
    if len(w) == 1:  # two classes: p(second) = sigmoid(d) = softmax([0, d]), d the decision
        w, b = np.concatenate([np.zeros_like(w), w]), np.concatenate([np.zeros_like(b), b])
    p.keep(w, b)
    if not p.log_proba:
        return model.predict(xs)
    # the log-softmax of the decision function: finite where predict_log_proba's log(0) is not
    d = xs @ w.T + b
    return d - scipy.special.logsumexp(d, axis=1, keepdims=True)


def _logistic(p: _Problem) -> tuple[np.ndarray, dict]:
    cs = LOGISTIC_CS
    info: dict = {"hyperparameter": "C", "grid": list(cs), "val_metric": "macro_f1"}
    c, init = p.default("linear"), None
    if p.val_fold is not None:
        preds: list[list[np.ndarray]] = [[] for _ in cs]
        models: dict = {}
        for xa, xv, ya, _ in p.fit_val():
            init = None
            for i in np.argsort(cs):  # strongest penalty first, each fit starting from the last
                init = _fit_logistic(xa, ya, cs[i], p.seed, max_iter=300, init=init)
                models[cs[i]] = init  # the last fold's: where the final fit starts
                preds[i].append(init.predict(xv))
        scores = [classification_metrics(p.y_val, np.concatenate(pr))["macro_f1"] for pr in preds]
        best = -np.inf
        for cand, f1 in zip(cs, scores, strict=True):
            if f1 > best + 1e-12:  # ties keep the earlier (listed first) C
                c, best = cand, f1
        init, info["val_scores"] = models[c], scores
    xt, xs = p.train_test()
    model = _fit_logistic(xt, p.y_train, c, p.seed, max_iter=LOGISTIC_MAX_ITER, init=init)
    info["value"] = c
    return _classes_or_log_proba(model, xs, p), info


# --------------------------------------------------------------------------------------------
# random forest
# --------------------------------------------------------------------------------------------


def _forest(task_type: str, leaf: int, n_estimators: int, seed: int):
    cls = RandomForestClassifier if task_type == "classification" else RandomForestRegressor
    return cls(n_estimators=n_estimators, min_samples_leaf=leaf, random_state=seed, n_jobs=1)


def _rf(p: _Problem) -> tuple[np.ndarray, dict]:
    info: dict = {
        "hyperparameter": "min_samples_leaf",
        "grid": list(RF_MIN_SAMPLES_LEAF),
        "val_metric": "macro_f1" if p.classify else "mse",
        "n_estimators": RF_N_ESTIMATORS,
    }
    leaf = int(p.default("rf"))
    x_train, y_train = p.x_train, p.y_train
    with threadpool_limits(limits=1):
        if p.val_fold is not None:
            keys, scores = [], []
            for m in RF_MIN_SAMPLES_LEAF:
                pred = np.concatenate([
                    _forest(p.task_type, m, RF_SELECTION_ESTIMATORS, p.seed)
                    .fit(x_train[~is_val], y_train[~is_val]).predict(x_train[is_val])
                    for is_val in p.val_masks()
                ])  # fmt: skip
                if p.classify:
                    s = classification_metrics(p.y_val, pred)["macro_f1"]
                    keys.append((s,))
                else:
                    s = float(np.mean((pred - p.y_val) ** 2))
                    keys.append((-s,))
                scores.append(s)
            # larger leaves are the more regularised forests: they win ties
            order = np.argsort(RF_MIN_SAMPLES_LEAF)[::-1].tolist()
            leaf = RF_MIN_SAMPLES_LEAF[_pick(keys, order)]
            info["val_scores"] = scores
        model = _forest(p.task_type, leaf, RF_N_ESTIMATORS, p.seed).fit(x_train, y_train)
        pred = model.predict(p.x_test)
    info["value"] = leaf
    return pred, info


# --------------------------------------------------------------------------------------------
# fixed probes (few labels)
# --------------------------------------------------------------------------------------------


def _linear_fixed(p: _Problem) -> tuple[np.ndarray, dict]:
    xt, xs = p.train_test()
    if not p.classify:
        ((w, b),) = ridge_path(xt, p.y_train, [FIXED_ALPHA])
        p.keep(w.T, b)
        return (xs @ w + b)[:, 0], {"hyperparameter": "alpha", "value": FIXED_ALPHA}
    c = FIXED_C if p.fixed_c is None else p.fixed_c
    model = _fit_logistic(xt, p.y_train, c, p.seed, max_iter=LOGISTIC_MAX_ITER)
    return _classes_or_log_proba(model, xs, p), {"hyperparameter": "C", "value": c}


def _nearest_centroid(p: _Problem) -> tuple[np.ndarray, dict]:
    xt, xs = p.train_test()
    classes, codes = np.unique(p.y_train, return_inverse=True)
    centroids = np.stack([xt[codes == c].mean(axis=0) for c in range(len(classes))])
    # squared distances without the |x|^2 term shared by every class
    d = (centroids**2).sum(axis=1)[None, :] - 2.0 * xs @ centroids.T
    p.keep(2.0 * centroids, -(centroids**2).sum(axis=1))  # scores: -d
    return classes[np.argmin(d, axis=1)], {"hyperparameter": None, "value": None}


def _fixed(probe: str, p: _Problem) -> tuple[np.ndarray, dict]:
    fit = _linear_fixed if probe == "linear_fixed" else _nearest_centroid
    with threadpool_limits(limits=1):
        pred, info = fit(p)
    info.update(
        probe=probe, task_type=p.task_type, seed=p.seed, grid=[], selection="fixed",
        fallback=None, val_subjects=[], split_seed=None, val_folds=0, inner_folds=[],
        n_fit=len(p.y_train), n_val=0,
    )  # fmt: skip
    return np.asarray(pred), info


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def _check_inputs(
    probe: str,
    task_type: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    x_test: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check a probe's inputs; returns ``(x_train, y_train, groups_train, x_test)`` as arrays,
    regression targets as float64."""
    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    y_train, groups_train = np.asarray(y_train), np.asarray(groups_train)
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; choose one of {PROBES}")
    if task_type not in ("classification", "regression"):
        raise ValueError(f"task_type must be 'classification' or 'regression', got {task_type!r}")
    if probe in CLASSIFICATION_PROBES and task_type == "regression":
        use = "linear_fixed" if probe in FIXED_PROBES else "linear"
        raise ValueError(
            f"probe {probe!r} is for classification; for a regression task use "
            f"probe={use!r} (ridge regression)"
        )
    if x_train.ndim != 2 or x_test.ndim != 2:
        raise ValueError(
            f"features must be 2-D (windows, features), got {x_train.shape} and {x_test.shape}"
        )
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"train and test features differ in width: {x_train.shape[1]} vs {x_test.shape[1]}"
        )
    if not len(x_train) == len(y_train) == len(groups_train):
        raise ValueError(
            f"length mismatch: x_train {len(x_train)}, y_train {len(y_train)}, "
            f"groups_train {len(groups_train)}"
        )
    if len(x_test) == 0:
        raise ValueError("x_test holds no windows")
    for name, arr in (("x_train", x_train), ("x_test", x_test), ("y_train", y_train)):
        if np.issubdtype(arr.dtype, np.number) and not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if task_type == "classification" and len(np.unique(y_train)) < 2:
        raise ValueError("the training windows hold a single class; nothing to classify")
    if task_type == "regression":
        y_train = y_train.astype(np.float64)
    return x_train, y_train, groups_train, x_test


def fit_predict(
    probe: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    x_test: np.ndarray,
    *,
    task_type: str,
    seed: int = 0,
    val_fraction: float = 0.25,
    val_folds: int = 1,
    fixed_c: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Fit ``probe`` on the training windows, choosing its hyperparameter on validation subjects.

    Parameters
    ----------
    probe : str
        One of :data:`PROBES` (see the module docstring).
    x_train : np.ndarray
        ``(N, F)`` frozen features of the training windows.
    y_train : np.ndarray
        ``(N,)`` class codes (classification) or targets (regression).
    groups_train : np.ndarray
        ``(N,)`` subject id of every training window; validation subjects are drawn from these.
    x_test : np.ndarray
        ``(M, F)`` features of the test windows (used only for the returned predictions).
    task_type : str
        ``"classification"`` or ``"regression"``.
    seed : int
        Seed of the validation draw and of the probe's own randomness.
    val_fraction : float
        Fraction of the training subjects held out to choose the hyperparameter (one split).
    val_folds : int
        1: one split of ``val_fraction`` of the subjects. ``>= 2``: cross-validation over the
        training subjects in that many inner folds (every subject validated once; the scores of
        the pooled predictions choose; see "Validation split" in the module docstring).
    fixed_c : float or None
        The inverse penalty of ``"linear_fixed"`` for classification; None: :data:`FIXED_C`
        (``relcon evaluate --fixed-c``). Hand-crafted features do better with a stronger
        penalty than the embeddings (``docs/payoff.md``, section 13). An error with any other
        probe or task type.

    Returns
    -------
    y_pred : np.ndarray
        ``(M,)`` predicted classes (same dtype/values as ``y_train``) or targets (float).
    info : dict
        ``probe``, ``task_type``, ``seed``; ``hyperparameter`` (its name) and ``value`` (the
        chosen value); ``grid`` (values tried; for the MLP the epoch range); ``selection``
        (``"validation_subjects"``, ``"default"``, or ``"fixed"`` for :data:`FIXED_PROBES`:
        nothing chosen, no validation subjects, ``hyperparameter`` None for the nearest
        centroid); ``fallback`` (``None`` or the reason the
        default was used); ``val_metric`` and ``val_scores`` (per grid value, or per epoch for
        the MLP; absent when the default was used);
        ``val_subjects`` (sorted, as str), ``split_seed``, ``val_folds`` (inner folds used),
        ``inner_folds`` (the validation subjects of each, as str),
        ``n_fit`` (windows fitting a validation model: the fewest over the inner folds),
        ``n_val`` (windows validated).

    Raises
    ------
    ValueError
        Unknown probe or task type, mismatched or non-finite inputs, a single training class,
        or fewer than 2 training subjects (probes that choose on validation subjects).
    """
    checked = _check_inputs(probe, task_type, x_train, y_train, groups_train, x_test)
    kw = {"seed": seed, "val_fraction": val_fraction, "val_folds": val_folds, "fixed_c": fixed_c}
    return _fit_one(probe, *checked, task_type, **kw)


def check_fixed_c(
    probe: str, task_type: str, fixed_c: float | None, name: str = "fixed_c", task: str = ""
) -> None:
    """Refuse a ``fixed_c`` that would not be used, or is not a positive finite number: the one
    check of every C a user sets (``name``: the setting that gave it, ``fixed_c`` or
    ``handcrafted_fixed_c``, spelled as the user wrote it; ``task``: the task's name, for the
    message)."""
    if fixed_c is None:
        return
    given = spell(name, fixed_c)
    if task_type != "classification":
        raise ValueError(
            f"{given} is the logistic penalty of 'linear_fixed' for classification; "
            f"{f'task {task!r}' if task else 'this'} is a {task_type} task (its ridge penalty "
            "is fixed: relcon.eval.probes.FIXED_ALPHA)"
        )
    if probe != "linear_fixed":
        raise ValueError(
            f"{given} is the inverse penalty of the 'linear_fixed' probe; it is not used by "
            f"probe {probe!r}"
        )
    if isinstance(fixed_c, bool) or not (np.isfinite(fixed_c) and fixed_c > 0):
        raise ValueError(f"{spell(name)} must be a positive finite number, got {fixed_c!r}")


def _fit_one(
    probe: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    x_test: np.ndarray,
    task_type: str,
    *,
    seed: int,
    val_fraction: float,
    val_folds: int,
    log_proba: bool = False,
    fitted: dict | None = None,
    fixed_c: float | None = None,
) -> tuple[np.ndarray, dict]:
    """:func:`fit_predict` on checked inputs (``log_proba``, ``fitted``, ``fixed_c``: see
    :class:`_Problem`); the one place ``fixed_c`` is checked for every caller."""
    check_fixed_c(probe, task_type, fixed_c)
    if probe in FIXED_PROBES:  # nothing to choose: every training window fits the probe
        problem = _Problem(
            x_train, y_train, None, x_test, task_type, seed, log_proba, fitted, fixed_c
        )
        return _fixed(probe, problem)
    fold, split_seed, problem = validation_folds(
        y_train, groups_train, task_type=task_type, folds=val_folds, val_fraction=val_fraction,
        seed=seed,
    )  # fmt: skip
    usable = problem is None
    val = fold if usable else None
    p = _Problem(x_train, y_train, val, x_test, task_type, seed, log_proba, fitted)
    if probe == "linear":
        pred, info = _logistic(p) if p.classify else _ridge_regression(p)
    else:
        pred, info = {"ridge_classifier": _ridge_classifier, "mlp": mlp_probe, "rf": _rf}[probe](p)
    masks = p.val_masks() if usable else []
    info.update(
        probe=probe,
        task_type=task_type,
        seed=seed,
        selection="validation_subjects" if usable else "default",
        fallback=None if usable else f"default {info['hyperparameter']} used: {problem}",
        val_subjects=[str(s) for s in np.unique(groups_train[fold >= 0])] if usable else [],
        split_seed=split_seed if usable else None,
        val_folds=len(masks),
        inner_folds=[[str(s) for s in np.unique(groups_train[m])] for m in masks],
        n_fit=min(int((~m).sum()) for m in masks) if usable else len(y_train),
        n_val=int((fold >= 0).sum()) if usable else 0,
    )
    if not usable:
        info.pop("val_scores", None)
    return np.asarray(pred), info


def probe_folds(
    features: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    *,
    method: str,
    task: str,
    probe: str = "linear",
    task_type: str = "classification",
    folds: int = 5,
    seed: int = 0,
    val_fraction: float = 0.25,
    val_folds: int = 1,
) -> list[dict]:
    """Subject-wise k-fold evaluation of a probe (:func:`fit_predict`); one row per (fold, metric).

    The test subjects of fold ``k`` are :func:`relcon.eval.splits.subject_folds`\\ ``(groups,
    folds, seed)[k]``; they are never used to fit the scaler, choose the hyperparameter or fit
    the probe, which is called with seed ``seed + k``.

    Returns
    -------
    list of dict
        ``{method, task, fold, metric, value, probe, hyperparameter, chosen, selection,
        test_subjects}``: ``chosen`` is the hyperparameter's value in that fold.
    """
    features, y, groups = np.asarray(features), np.asarray(y), np.asarray(groups)
    if len(features) != len(y) or len(y) != len(groups):
        raise ValueError(
            f"length mismatch: features {len(features)}, y {len(y)}, groups {len(groups)}"
        )
    rows = []
    for k, test_subjects in enumerate(subject_folds(groups, folds, seed)):
        test = np.isin(groups, test_subjects)
        pred, info = fit_predict(
            probe, features[~test], y[~test], groups[~test], features[test],
            task_type=task_type, seed=seed + k, val_fraction=val_fraction, val_folds=val_folds,
        )  # fmt: skip
        fold = {
            "probe": probe, "hyperparameter": info["hyperparameter"], "chosen": info["value"],
            "selection": info["selection"], "test_subjects": [str(s) for s in test_subjects],
        }  # fmt: skip
        for metric, value in score(task_type, y[test], pred).items():
            rows.append(
                {"method": method, "task": task, "fold": k, "metric": metric, "value": value,
                 **fold}
            )  # fmt: skip
    return rows
