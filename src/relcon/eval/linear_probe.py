"""A linear probe fitted once and kept: the weights behind ``relcon evaluate``'s linear probes.

:func:`relcon.eval.probes.fit_predict` fits a probe and returns the test windows' predictions;
:func:`fit_linear` runs the same fit (the same standardisation, hyperparameter choice and
solver: one probe path) and returns it as one affine map on the *raw* features, with the
standardisation folded in::

    scores = x @ weight.T + bias        # x: (N, F) features -> (N, K)

so that it can be applied to windows recorded later (``relcon finetune --probe``, which saves
it as a model's linear head for ``relcon predict``).

=========================== ===================================== ========================
probe                       ``scores``                            prediction
=========================== ===================================== ========================
``linear``, ``linear_fixed`` the logistic regression's logits     ``classes[argmax]``
(classification)            (two classes: ``[0, d]``)
``nearest_centroid``        ``-|x_std - centroid|^2`` plus a      ``classes[argmax]``
                            per-window constant
``ridge_classifier``        the one-vs-rest ±1 ridge scores       ``classes[argmax]``
``linear``, ``linear_fixed`` one column: the ridge regression's   ``scores[:, 0]``
(regression)                prediction
=========================== ===================================== ========================

Example::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 5)) * 10 + 3
    >>> y = (x[:, 0] > 3).astype(int)
    >>> probe = fit_linear("linear_fixed", x, y, np.arange(40) % 4, task_type="classification")
    >>> probe.weight.shape, probe.bias.shape
    ((2, 5), (2,))
    >>> bool((probe.predict(x) == y).mean() > 0.9)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from relcon.eval.probes import _check_inputs, _fit_one

__all__ = ["LINEAR_PROBES", "LinearProbe", "fit_linear"]

#: the probes of :mod:`relcon.eval.probes` whose fit is one affine map of the features
LINEAR_PROBES: tuple[str, ...] = ("linear", "linear_fixed", "nearest_centroid", "ridge_classifier")


@dataclass(frozen=True)
class LinearProbe:
    """A fitted linear probe on raw features.

    Attributes:
        weight: ``(K, F)``: ``K`` classes, or 1 for regression.
        bias: ``(K,)``.
        classes: ``(K,)`` class codes (column ``k`` of the scores is ``classes[k]``), or None
            for regression.
        info: what :func:`relcon.eval.probes.fit_predict` reports about the fit (probe, chosen
            hyperparameter, validation subjects, ...).
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: np.ndarray | None
    info: dict = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``(N, F)`` features -> ``(N, K)`` scores (float64)."""
        return np.asarray(x, dtype=np.float64) @ self.weight.T + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, F)`` features -> ``(N,)`` class codes or regression values."""
        s = self.scores(x)
        return s[:, 0] if self.classes is None else self.classes[np.argmax(s, axis=1)]


def fit_linear(
    probe: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    *,
    task_type: str,
    seed: int = 0,
    val_fraction: float = 0.25,
    val_folds: int = 1,
    fixed_c: float | None = None,
) -> LinearProbe:
    """Fit a linear ``probe`` as :func:`relcon.eval.probes.fit_predict` would, and keep it.

    Args:
        probe: one of :data:`LINEAR_PROBES`.
        x_train: ``(N, F)`` features.
        y_train: ``(N,)`` class codes or regression targets.
        groups_train: ``(N,)`` subject of every window (the probes that choose a
            hyperparameter choose it on validation subjects drawn from these).
        task_type: ``"classification"`` or ``"regression"``.
        seed, val_fraction, val_folds, fixed_c: as :func:`~relcon.eval.probes.fit_predict`.

    Returns:
        The :class:`LinearProbe`; its predictions on any features equal those of
        ``fit_predict`` with the same arguments (up to float64 rounding in exact ties).
    """
    if probe not in LINEAR_PROBES:
        raise ValueError(f"probe {probe!r} is not linear; choose one of {LINEAR_PROBES}")
    x_train = np.asarray(x_train)
    checked = _check_inputs(probe, task_type, x_train, y_train, groups_train, x_train[:1])
    fitted: dict = {}
    kw = {"seed": seed, "val_fraction": val_fraction, "val_folds": val_folds, "fixed_c": fixed_c}
    _, info = _fit_one(probe, *checked, task_type, fitted=fitted, **kw)
    scaler = fitted["scaler"]
    weight = fitted["weight"] / scaler.scale_[None, :]  # the scaler folded into the map
    bias = fitted["bias"] - weight @ scaler.mean_
    classes = np.unique(checked[1]) if task_type == "classification" else None
    return LinearProbe(weight, bias, classes, info)
