"""Few-shot subsets of the training windows: ``k`` labelled windows per class.

Classification
    ``k`` windows of every class, drawn from the given (training) windows. A class with fewer
    than ``k`` windows keeps all it has and is listed in :attr:`FewShotInfo.short`.

Regression
    The targets are cut into :data:`N_TARGET_BINS` quantile bins (quintiles by default; bins
    that coincide because of tied targets are merged, see :func:`target_bins`) and ``k`` windows are drawn from every
    bin, so ``k`` means "``k`` windows per target quantile bin", about
    ``k * N_TARGET_BINS`` windows in all, spread over the whole range of the target. The bins
    play the role of the classes in everything below.

How windows are drawn
    Within a class the draw is spread over subjects: the class's subjects are put in a seeded
    random order, each subject's windows too, and windows are taken round-robin (one from each
    subject in turn), so ``k`` windows come from ``min(k, subjects with that class)``
    different subjects. This gives the probes' validation-subject split something to work with
    and keeps one prolific subject from filling the quota.

    The order is fixed by ``seed`` alone (each class/bin has its own stream derived from
    ``(seed, class code)``, or ``(seed, bin index)``), so draws are deterministic, differ across seeds, and are
    *nested*: for one seed the ``k = 1`` set is inside the ``k = 5`` set, which is inside the
    ``k = 10`` set. Few-shot curves over ``k`` then vary less than with independent draws.

``k=None`` keeps every window.

Augmented copies of the labelled windows
    :func:`augmented_copies` makes ``copies`` perturbed copies of every labelled window of a
    draw (``relcon evaluate --few-shot-augment``): each copy rotated about a uniformly random
    axis by an angle drawn from N(0, :data:`AUGMENT_DEGREES` degrees), scaled by a factor from
    N(1, :data:`AUGMENT_SCALE`), and shifted in time circularly by a uniform offset. They stand
    for what differs between wearers (how the device sits on the wrist, how hard they move,
    when in the window a movement starts) and are added to the probe's training windows with
    their source's label and subject. With 8 copies, 5 or 10 labels per class and the
    fixed-strength probe, the shipped model's stage-pooled embedding gained on 6 of 8 task/k
    cells of the four activity tasks (+0.02 to +0.06 macro-F1) and lost on one; hand-crafted
    features lost on the two waist sets, whose postures differ by orientation
    (``docs/payoff.md``, section 11).

Scores per test subject
    :func:`subject_scores_of` scores a few-shot run's predictions on each test subject's
    windows: the optional ``subjects`` of a ``few_shot_runs`` row of ``results.json``, on which
    ``relcon report`` pairs two runs subject by subject (:mod:`relcon.eval.paired`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "AUGMENT_DEGREES",
    "AUGMENT_SCALE",
    "N_TARGET_BINS",
    "FewShotInfo",
    "augmented_copies",
    "augmented_labelled",
    "few_shot_indices",
    "subject_scores_of",
    "target_bins",
]

N_TARGET_BINS = 5
AUGMENT_DEGREES = 20.0  # standard deviation of an augmented copy's rotation angle
AUGMENT_SCALE = 0.1  # standard deviation of its amplitude factor around 1


@dataclass
class FewShotInfo:
    """What a few-shot draw took.

    Attributes
    ----------
    k : int or None
        Windows requested per class (or per target bin); ``None`` = all.
    task_type : str
        ``"classification"`` or ``"regression"``.
    counts : dict
        Windows drawn per class (class code) or per target bin (``"q0"``, ``"q1"``, ...).
    available : dict
        Windows available per class or bin.
    short : list
        Classes/bins with fewer than ``k`` windows (they keep all they have).
    n_subjects : dict
        Distinct subjects among the drawn windows, per class or bin.
    bin_ranges : list of [float, float] or None
        Regression only: smallest and largest target of each bin (``q0``, ``q1``, ...).
    """

    k: int | None
    task_type: str
    counts: dict = field(default_factory=dict)
    available: dict = field(default_factory=dict)
    short: list = field(default_factory=list)
    n_subjects: dict = field(default_factory=dict)
    bin_ranges: list[list[float]] | None = None

    @property
    def total(self) -> int:
        """Number of windows drawn."""
        return int(sum(self.counts.values()))

    def message(self) -> str:
        """One line for logs, naming the classes/bins that fell short of ``k``."""
        what = "classes" if self.task_type == "classification" else "target bins"
        k = "all" if self.k is None else self.k
        text = f"few-shot k={k}: {self.total} windows from {len(self.counts)} {what}"
        if self.short:
            have = ", ".join(f"{c} ({self.available[c]})" for c in self.short)
            text += f"; {what} with fewer than {self.k} windows keep all they have: {have}"
        return text

    def to_dict(self) -> dict:
        """JSON-ready copy (keys as str)."""
        return {
            "k": self.k,
            "task_type": self.task_type,
            "counts": {str(c): v for c, v in self.counts.items()},
            "available": {str(c): v for c, v in self.available.items()},
            "short": [str(c) for c in self.short],
            "n_subjects": {str(c): v for c, v in self.n_subjects.items()},
            "bin_ranges": self.bin_ranges,
            "total": self.total,
        }


def target_bins(y: np.ndarray, n_bins: int = N_TARGET_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Quantile bin of every regression target.

    The interior cut points are the ``1/n_bins, 2/n_bins, ...`` quantiles of ``y``; a window
    goes to the bin above every cut point it equals or exceeds. Cut points that coincide
    (tied targets) are merged and empty bins dropped, so tied or discrete targets give fewer,
    never empty, bins.

    Parameters
    ----------
    y : np.ndarray
        ``(N,)`` targets (N >= 1).
    n_bins : int
        Number of quantile bins asked for.

    Returns
    -------
    bins : np.ndarray
        ``(N,)`` int64 bin index, ``0 .. B - 1`` (``B <= n_bins``), increasing with ``y``.
    ranges : np.ndarray
        ``(B, 2)`` smallest and largest target of each bin.
    """
    y = np.asarray(y, dtype=np.float64)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    cuts = np.unique(np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1]))
    raw = np.searchsorted(cuts, y, side="right")
    used, bins = np.unique(raw, return_inverse=True)
    ranges = np.array([[y[bins == b].min(), y[bins == b].max()] for b in range(len(used))])
    return bins.astype(np.int64), ranges


def _class_order(idx: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``idx`` in draw order: seeded subject order, then round-robin over the subjects."""
    subj = groups[idx]
    subjects = rng.permutation(np.unique(subj))
    queues = [rng.permutation(idx[subj == s]) for s in subjects]
    longest = max(len(q) for q in queues)
    # round r takes the r-th window of every subject that still has one
    order = [q[r] for r in range(longest) for q in queues if r < len(q)]
    return np.asarray(order, dtype=np.int64)


def few_shot_indices(
    y: np.ndarray,
    groups: np.ndarray,
    k: int | None,
    seed: int = 0,
    *,
    task_type: str = "classification",
    n_bins: int = N_TARGET_BINS,
) -> tuple[np.ndarray, FewShotInfo]:
    """Indices of ``k`` windows per class (or per target quantile bin) of the given windows.

    Parameters
    ----------
    y : np.ndarray
        ``(N,)`` labels (classification) or targets (regression) of the windows to draw from
        (the training windows of a fold: never pass test windows).
    groups : np.ndarray
        ``(N,)`` subject id of every window (draws are spread over subjects).
    k : int or None
        Windows per class/bin; ``None`` keeps every window.
    seed : int
        Seed of the draw (see the module docstring: deterministic, nested over ``k``).
    task_type : str
        ``"classification"`` or ``"regression"`` (``k`` per quantile bin of the target).
    n_bins : int
        Regression only: number of quantile bins of the target.

    Returns
    -------
    indices : np.ndarray
        Sorted int64 indices into ``y``.
    info : FewShotInfo
        Per-class (or per-bin) counts drawn and available, and the classes/bins that had
        fewer than ``k`` windows.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 1, 1, 2])
    >>> idx, info = few_shot_indices(y, np.array(list("aabbcc")), k=2, seed=0)
    >>> np.bincount(y[idx]).tolist(), info.short
    ([2, 2, 1], [2])
    """
    y = np.asarray(y)
    groups = np.asarray(groups)
    if y.ndim != 1 or groups.shape != y.shape:
        raise ValueError(f"y and groups must be 1-D of equal length, got {y.shape}, {groups.shape}")
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise ValueError(f"k must be a positive integer or None, got {k!r}")
    if task_type not in ("classification", "regression"):
        raise ValueError(f"task_type must be 'classification' or 'regression', got {task_type!r}")
    info = FewShotInfo(k=None if k is None else int(k), task_type=task_type)
    if len(y) == 0:
        return np.zeros(0, dtype=np.int64), info
    if task_type == "classification":
        strata, names = np.unique(y, return_inverse=True)[1], [c.item() for c in np.unique(y)]
    else:
        if not np.isfinite(y.astype(np.float64)).all():
            raise ValueError("regression targets contain NaN or infinite values")
        strata, ranges = target_bins(y, n_bins)
        names = [f"q{b}" for b in range(len(ranges))]
        info.bin_ranges = ranges.tolist()
    chosen = []
    for s, name in enumerate(names):
        idx = np.flatnonzero(strata == s)
        if len(idx) == 0:
            continue
        # a class's stream depends on its own code (not its rank), so a class missing from
        # one fold's windows does not change the draws of the others
        key = name if isinstance(name, int) and not isinstance(name, bool) and name >= 0 else s
        rng = np.random.default_rng([int(seed), key])
        take = idx if k is None else _class_order(idx, groups, rng)[:k]
        chosen.append(take)
        info.counts[name] = len(take)
        info.available[name] = len(idx)
        info.n_subjects[name] = len(np.unique(groups[take]))
        if k is not None and len(idx) < k:
            info.short.append(name)
    return np.sort(np.concatenate(chosen)).astype(np.int64), info


def subject_scores_of(
    task_type: str, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
) -> dict[str, dict[str, float]]:
    """``metric -> {subject: value}``: every metric of :func:`relcon.eval.metrics.score` on each
    subject's windows (``groups`` as str); what a ``few_shot_runs`` row keeps as ``subjects``.

    >>> out = subject_scores_of("classification", np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]),
    ...                         np.array(["a", "a", "b", "b"]))
    >>> out["macro_f1"]["a"], round(out["macro_f1"]["b"], 3)
    (1.0, 0.333)
    """
    from relcon.eval.metrics import score

    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups).astype(str)
    out: dict[str, dict[str, float]] = {}
    for g in np.unique(groups):
        m = groups == g
        for metric, value in score(task_type, y_true[m], y_pred[m]).items():
            out.setdefault(metric, {})[str(g)] = float(value)
    return out


def augmented_copies(
    x: np.ndarray,
    copies: int,
    seed: int | Sequence[int] = 0,
    *,
    degrees: float = AUGMENT_DEGREES,
    scale: float = AUGMENT_SCALE,
) -> np.ndarray:
    """``copies`` randomly rotated, scaled and time-shifted copies of every window.

    Parameters
    ----------
    x : np.ndarray
        ``(N, T, 3)`` windows of three-axis acceleration (time, then axes).
    copies : int
        Copies per window (>= 1).
    seed : int or sequence of int
        Seed of :func:`numpy.random.default_rng`: the copies are a function of ``x`` and it.
    degrees : float
        Standard deviation of the rotation angle, in degrees; the axis is uniform on the
        sphere, and one rotation applies to the whole window.
    scale : float
        Standard deviation of the amplitude factor (drawn from N(1, ``scale``) per copy).

    Returns
    -------
    np.ndarray
        ``(copies * N, T, 3)``, ``x.dtype``: copy ``c`` of window ``i`` at row ``c * N + i``
        (so labels and subjects repeat with ``np.tile(y, copies)``).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(4, 256, 3))
    >>> augmented_copies(x, 2, seed=1).shape
    (8, 256, 3)
    """
    from scipy.spatial.transform import Rotation

    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(
            f"augmented copies rotate three-axis windows shaped (windows, time, 3); got {x.shape}"
        )
    if isinstance(copies, bool) or int(copies) != copies or copies < 1:
        raise ValueError(f"copies must be a positive integer, got {copies!r}")
    rng = np.random.default_rng(seed)
    n, t = x.shape[0] * int(copies), x.shape[1]
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.deg2rad(rng.normal(0.0, degrees, size=(n, 1)))
    rotation = Rotation.from_rotvec(axis * angle).as_matrix()  # (n, 3, 3)
    factor = rng.normal(1.0, scale, size=(n, 1, 1))
    shift = rng.integers(0, t, size=n)
    source = np.tile(x, (int(copies), 1, 1)).astype(np.float64)
    out = np.einsum("nij,ntj->nti", rotation, source) * factor
    rows = (np.arange(t)[None, :] - shift[:, None]) % t  # out[:, j] = rotated[:, j - shift]
    out = np.take_along_axis(out, rows[:, :, None], axis=1)
    return out.astype(x.dtype)


def augmented_labelled(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, copies: int, seed: int | Sequence[int] = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`augmented_copies` of labelled windows, each with its source's label and subject:
    ``(windows, labels, subjects)`` of ``copies * N`` rows, to add to a probe's training
    windows (``relcon evaluate`` and ``relcon finetune --few-shot-augment``).

    >>> x = np.random.default_rng(0).normal(size=(3, 64, 3))
    >>> xc, yc, gc = augmented_labelled(x, np.array([0, 1, 1]), np.array(["a", "a", "b"]), 2)
    >>> xc.shape, yc.tolist(), gc.tolist()
    ((6, 64, 3), [0, 1, 1, 0, 1, 1], ['a', 'a', 'b', 'a', 'a', 'b'])
    """
    y, groups = np.asarray(y), np.asarray(groups)
    if not len(x) == len(y) == len(groups):
        raise ValueError(
            f"windows, labels and subjects differ in length: {len(x)}, {len(y)}, {len(groups)}"
        )
    return augmented_copies(x, copies, seed=seed), np.tile(y, copies), np.tile(groups, copies)
