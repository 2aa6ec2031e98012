"""How windows are split by subject: evaluation folds, validation subjects, early-stopping subjects.

Every subject draw of the evaluation layer is made here, and every split assigns whole subjects,
never single windows of a subject, so that a score is always measured on subjects the model
never saw:

* :func:`subject_folds` -- the test subjects of each of ``k`` subject-wise folds;
* :func:`validation_split` -- validation subjects carved out of a fold's training subjects to
  choose a probe's hyperparameter (redrawn until every class is on both sides);
* :func:`validation_folds` -- the same choice made by cross-validation: the training subjects
  split into inner folds, each validated by a model fitted on the others;
* :func:`split_subjects` -- the validation subjects of fine-tuning's early stopping.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "MAX_SPLIT_DRAWS",
    "split_subjects",
    "subject_folds",
    "validation_folds",
    "validation_split",
]

MAX_SPLIT_DRAWS = 10


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


def split_subjects(
    groups: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split windows into training and validation *by subject*.

    ``round(val_fraction * n_subjects)`` subjects (at least one when ``val_fraction > 0``, and
    never all of them) go to validation. With a single subject or ``val_fraction == 0`` the
    validation set is empty.

    Args:
        groups: ``(N,)`` subject id of every window.
        val_fraction: share of the subjects held out.
        seed: which subjects are drawn.

    Returns:
        ``(fit, val)``: sorted window indices; no subject has windows in both.

    Example:
        >>> fit, val = split_subjects(np.repeat(["a", "b", "c", "d", "e"], 3), 0.2)
        >>> len(fit), len(val)
        (12, 3)
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = np.asarray(groups)
    subjects = np.unique(groups)
    n_val = 0 if val_fraction == 0 else max(1, round(val_fraction * len(subjects)))
    n_val = min(n_val, len(subjects) - 1)
    val_subjects = np.random.default_rng(seed).permutation(subjects)[:n_val]
    is_val = np.isin(groups, val_subjects)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _draw_seed(seed: int, attempt: int) -> int:
    """Seed of the ``attempt``-th validation draw (the first one is ``seed`` itself)."""
    if attempt == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), attempt]).generate_state(1)[0])


def _draw(groups: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation windows of one draw (``Generator.choice`` of the subjects)."""
    subjects = np.unique(groups)
    n_val = max(1, round(val_fraction * len(subjects)))
    val_subjects = np.random.default_rng(seed).choice(subjects, size=n_val, replace=False)
    return np.isin(groups, val_subjects)


def _split_problem(
    y: np.ndarray, is_val: np.ndarray, task_type: str, need_val_classes: bool = True
) -> str | None:
    """Why this split cannot be used to choose a hyperparameter, or ``None`` if it can
    (``need_val_classes``: every class must also be among the validation windows)."""
    if (~is_val).sum() < 2:
        return "fewer than 2 windows left for fitting after carving out validation subjects"
    if task_type == "regression":
        return None
    classes = np.unique(y)
    missing_fit = np.setdiff1d(classes, y[~is_val])
    missing_val = np.setdiff1d(classes, y[is_val])
    if len(missing_fit):
        return f"class(es) {missing_fit.tolist()} missing from the fitting subjects"
    if len(missing_val) and need_val_classes:
        return f"class(es) {missing_val.tolist()} missing from the validation subjects"
    return None


def validation_split(
    y: np.ndarray,
    groups: np.ndarray,
    *,
    task_type: str,
    val_fraction: float = 0.25,
    seed: int = 0,
    max_draws: int = MAX_SPLIT_DRAWS,
) -> tuple[np.ndarray, int, str | None]:
    """Carve validation subjects out of the training subjects.

    Parameters
    ----------
    y : np.ndarray
        ``(N,)`` training labels or targets.
    groups : np.ndarray
        ``(N,)`` subject id of every training window.
    task_type : str
        ``"classification"`` or ``"regression"``.
    val_fraction : float
        Fraction of the training subjects (at least one) held out for validation.
    seed : int
        Seed of the first draw; later draws use seeds derived from it.
    max_draws : int
        Number of draws tried before giving up.

    Returns
    -------
    is_val : np.ndarray
        ``(N,)`` bool mask of the validation windows (of the last draw tried).
    split_seed : int
        Seed that produced ``is_val``.
    problem : str or None
        ``None`` if the split is usable, else why no draw was (see the module docstring).

    Raises
    ------
    ValueError
        Fewer than 2 subjects, or ``val_fraction`` outside (0, 1).
    """
    groups, y = _check_subjects(groups), np.asarray(y)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")

    def draw(split_seed: int) -> tuple[np.ndarray, str | None]:
        is_val = _draw(groups, val_fraction, split_seed)
        return is_val, _split_problem(y, is_val, task_type)

    return _first_usable(draw, seed, max_draws)


def _check_subjects(groups: np.ndarray) -> np.ndarray:
    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2:
        raise ValueError(
            "need at least 2 training subjects to choose hyperparameters on held-out subjects"
        )
    return groups


def _first_usable(
    draw: Callable[[int], tuple[np.ndarray, str | None]], seed: int, max_draws: int
) -> tuple[np.ndarray, int, str | None]:
    """``draw(split_seed) -> (split, problem)`` for the seeds of :func:`_draw_seed` until a
    split has no problem: ``(split, its seed, None)``, else the last with why none was."""
    for attempt in range(max(1, max_draws)):
        split_seed = _draw_seed(seed, attempt)
        split, problem = draw(split_seed)
        if problem is None:
            break
    if problem is not None and max_draws > 1:
        problem = f"no usable split in {max_draws} draws (last: {problem})"
    return split, split_seed, problem


def validation_folds(
    y: np.ndarray,
    groups: np.ndarray,
    *,
    task_type: str,
    folds: int = 1,
    val_fraction: float = 0.25,
    seed: int = 0,
    max_draws: int = MAX_SPLIT_DRAWS,
) -> tuple[np.ndarray, int, str | None]:
    """The validation fold of every training window, by subject: how a probe chooses its
    hyperparameter.

    ``folds == 1``: one split (:func:`validation_split`): the windows of the validation subjects
    are fold 0, the others -1 (fitting only). ``folds >= 2``: cross-validation: the training
    subjects are split into ``min(folds, n_subjects)`` inner folds (:func:`subject_folds`), so
    every window is validated once, by a model fitted on the other folds' subjects; the
    hyperparameter's score is then that of all these predictions pooled. Every class must be
    among the fitting subjects of every fold (it need not be in every validation fold, since the
    scores are pooled); otherwise up to ``max_draws - 1`` further seeded draws are tried.

    Returns
    -------
    fold : np.ndarray
        ``(N,)`` int: the validation fold of each window (-1: never validated).
    split_seed : int
        Seed of the draw that produced ``fold``.
    problem : str or None
        ``None`` if usable, else why no draw was.

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    >>> fold, _, problem = validation_folds(y, np.repeat(list("abcd"), 2),
    ...                                     task_type="classification", folds=2)
    >>> sorted(np.bincount(fold).tolist()), problem
    ([4, 4], None)
    """
    if isinstance(folds, bool) or int(folds) != folds or folds < 1:
        raise ValueError(f"folds must be a positive integer, got {folds!r}")
    groups = np.asarray(groups)
    if folds == 1:
        is_val, split_seed, problem = validation_split(
            y, groups, task_type=task_type, val_fraction=val_fraction, seed=seed,
            max_draws=max_draws,
        )  # fmt: skip
        return np.where(is_val, 0, -1), split_seed, problem
    groups, y = _check_subjects(groups), np.asarray(y)
    k = min(int(folds), len(np.unique(groups)))

    def draw(split_seed: int) -> tuple[np.ndarray, str | None]:
        fold = np.full(len(groups), -1, dtype=np.int64)
        for f, part in enumerate(subject_folds(groups, k, split_seed)):
            fold[np.isin(groups, part)] = f
        problems = (_split_problem(y, fold == f, task_type, False) for f in range(k))
        return fold, next((f"inner fold {f}: {p}" for f, p in enumerate(problems) if p), None)

    return _first_usable(draw, seed, max_draws)
