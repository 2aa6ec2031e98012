"""Late fusion: one probe per block of features, their outputs combined.

A user who already computes hand-crafted features asks whether an encoder's embedding adds to
them. :func:`fit_predict_fused` answers it the way the probes of :mod:`relcon.eval.probes` are
fitted: each block of features (the embedding; the hand-crafted features) gets its own probe,
standardised and regularised on its own, and the probes' outputs are combined.
``relcon evaluate --plus-handcrafted`` runs it (``EvalConfig.plus_handcrafted``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from relcon.eval.probes import _check_inputs, _fit_one

__all__ = ["FUSED_PROBES", "fit_predict_fused"]

#: probes whose outputs :func:`fit_predict_fused` can combine (they give probabilities)
FUSED_PROBES: tuple[str, ...] = ("linear", "linear_fixed")


def fit_predict_fused(
    probe: str,
    blocks_train: Sequence[np.ndarray],
    y_train: np.ndarray,
    groups_train: np.ndarray,
    blocks_test: Sequence[np.ndarray],
    *,
    task_type: str,
    seed: int = 0,
    val_fraction: float = 0.25,
    val_folds: int = 1,
    fixed_c: float | Sequence[float | None] | np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """One probe per block of features, their outputs combined (late fusion).

    Each block (an encoder's embedding, hand-crafted features, ...) gets its own ``probe``,
    standardised and with its hyperparameter chosen on validation subjects exactly as
    :func:`relcon.eval.probes.fit_predict` does for it alone (the same seed, so the same
    validation subjects).
    Classification: the predicted class maximises the **sum of the probes' log-probabilities**
    (a product of experts: every block counts alike, whatever its width); regression: the
    **mean of their predictions**. Only probes with probabilities can be fused:
    :data:`FUSED_PROBES`.

    Why separate probes: side by side in one vector, a 448-value embedding and 62 hand-crafted
    features would share one penalty, chosen for both; each probe here keeps its own.

    Parameters
    ----------
    blocks_train, blocks_test : sequence of np.ndarray
        ``(N, F_b)`` and ``(M, F_b)`` features of every block, the same windows in the same order.
    y_train, groups_train, task_type, seed, val_fraction, val_folds
        As for :func:`relcon.eval.probes.fit_predict`.
    fixed_c : float, sequence or None
        As for :func:`relcon.eval.probes.fit_predict`: one value for every block, or one per
        block (``None`` in it: that block's default), so that each block keeps the penalty
        that suits it (hand-crafted features want a stronger one than an embedding:
        docs/payoff.md, section 13).

    Returns
    -------
    y_pred : np.ndarray
        ``(M,)`` predicted classes or targets.
    info : dict
        ``probe``, ``task_type``, ``seed``, ``fusion`` (the rule), ``blocks`` (each block's
        :func:`~relcon.eval.probes.fit_predict` info), and ``hyperparameter``, ``value`` and
        ``selection`` as lists over the blocks.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> y, g = np.repeat([0, 1], 20), np.tile(np.arange(8), 5)
    >>> a, b = rng.normal(size=(40, 4)) + y[:, None], rng.normal(size=(40, 3))
    >>> pred, info = fit_predict_fused("linear_fixed", [a, b], y, g, [a[:5], b[:5]],
    ...                                task_type="classification")
    >>> pred.shape, len(info["blocks"])
    ((5,), 2)
    >>> _, info = fit_predict_fused("linear_fixed", [a, b], y, g, [a[:5], b[:5]],
    ...                             task_type="classification", fixed_c=[1.0, 0.03])
    >>> info["value"]
    [1.0, 0.03]
    """
    if probe not in FUSED_PROBES:
        raise ValueError(
            f"probe {probe!r} cannot be fused: fusion sums the probes' log-probabilities, which "
            f"only {FUSED_PROBES} give"
        )
    if len(blocks_train) < 2 or len(blocks_train) != len(blocks_test):
        raise ValueError(
            f"fusion needs at least 2 blocks of features, the same number for training and test "
            f"windows; got {len(blocks_train)} and {len(blocks_test)}"
        )
    blocks = [
        _check_inputs(probe, task_type, x_train, y_train, groups_train, x_test)
        for x_train, x_test in zip(blocks_train, blocks_test, strict=True)
    ]
    if len({len(x_test) for *_, x_test in blocks}) > 1:
        raise ValueError("every block must hold the same test windows (their lengths differ)")
    classify = task_type == "classification"
    per_block = list(fixed_c) if np.ndim(fixed_c) else [fixed_c] * len(blocks)  # list or array
    if len(per_block) != len(blocks):
        raise ValueError(
            f"fixed_c gives {len(per_block)} values for {len(blocks)} blocks: give one value, "
            "or one per block"
        )
    kw = {"seed": seed, "val_fraction": val_fraction, "val_folds": val_folds}
    outs, infos = [], []
    for checked, c in zip(blocks, per_block, strict=True):
        out, info = _fit_one(probe, *checked, task_type, log_proba=classify, fixed_c=c, **kw)
        outs.append(out)
        infos.append(info)
    combined = np.sum(outs, axis=0) if classify else np.mean(outs, axis=0)
    pred = np.unique(y_train)[np.argmax(combined, axis=1)] if classify else combined
    rule = "sum of log-probabilities" if classify else "mean of predictions"
    return pred, {
        "probe": probe, "task_type": task_type, "seed": seed, "fusion": rule, "blocks": infos,
        **{key: [i[key] for i in infos] for key in ("hyperparameter", "value", "selection")},
    }  # fmt: skip
