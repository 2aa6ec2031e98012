"""MiniRocket features (Dempster et al., KDD 2021) through ``aeon``: a strong supervised baseline.

MiniRocket convolves every window with fixed length-9 kernels at several dilations and keeps the
proportion of positive values (PPV) of each output; the biases come from the *training* windows
only. The usual head is a ridge classifier on the standardised features
(``relcon.eval.probes.fit_predict("ridge_classifier", ...)``).

``aeon`` is an optional dependency: ``pip install "relcon[baselines]"``. aeon compiles its
kernels with numba on first use (about 40 s, cached on disk afterwards).
"""

from __future__ import annotations

import numpy as np

__all__ = ["minirocket_features"]

_INSTALL_HINT = (
    "MiniRocket features need the optional dependency 'aeon'; install it with "
    '`pip install "relcon[baselines]"`'
)


def _minirocket_class():
    try:
        from aeon.transformations.collection.convolution_based import MiniRocket
    except ImportError as e:  # aeon missing, or one of its own dependencies (numba) broken
        raise ImportError(f"{_INSTALL_HINT} ({e})") from e
    return MiniRocket


def minirocket_features(
    x_train: np.ndarray,
    x_test: np.ndarray,
    seed: int = 0,
    n_kernels: int = 10_000,
) -> tuple[np.ndarray, np.ndarray]:
    """MiniRocket features of training and test windows, the transform fitted on training only.

    Parameters
    ----------
    x_train : np.ndarray
        ``(N, T, C)`` training windows (``C = 3`` axes of acceleration); the dilations and
        biases are fitted on these.
    x_test : np.ndarray
        ``(M, T, C)`` windows transformed with the fitted transform.
    seed : int
        ``random_state`` of the transform (the bias quantiles and channel combinations).
    n_kernels : int
        Number of features asked for; aeon rounds it down to a multiple of 84 (10,000 ->
        9,996), with a minimum of 84.

    Returns
    -------
    f_train, f_test : np.ndarray
        ``(N, F)`` and ``(M, F)`` float32 features.

    Raises
    ------
    ImportError
        ``aeon`` is not installed (the message says how to install it).
    ValueError
        Wrong shapes, fewer than 9 time steps, or non-finite values.
    """
    x_train = np.asarray(x_train)
    x_test = np.asarray(x_test)
    if x_train.ndim != 3 or x_test.ndim != 3:
        raise ValueError(
            f"minirocket_features expects (N, T, C) windows, got {x_train.shape}, {x_test.shape}"
        )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"train and test windows differ in shape: {x_train.shape[1:]} vs {x_test.shape[1:]}"
        )
    if x_train.shape[1] < 9:
        raise ValueError(f"MiniRocket needs windows of at least 9 samples, got {x_train.shape[1]}")
    if len(x_train) == 0:
        raise ValueError("minirocket_features: no training windows to fit the transform on")
    for name, arr in (("x_train", x_train), ("x_test", x_test)):
        if not np.isfinite(arr).all():
            raise ValueError(f"minirocket_features: {name} contains NaN or infinite values")
    minirocket = _minirocket_class()
    # aeon wants (cases, channels, time)
    xa = np.ascontiguousarray(x_train.transpose(0, 2, 1), dtype=np.float32)
    xb = np.ascontiguousarray(x_test.transpose(0, 2, 1), dtype=np.float32)
    transform = minirocket(n_kernels=n_kernels, random_state=int(seed), n_jobs=1).fit(xa)
    f_train = np.asarray(transform.transform(xa), dtype=np.float32)
    f_test = (
        np.asarray(transform.transform(xb), dtype=np.float32)
        if len(xb)
        else np.zeros((0, f_train.shape[1]), dtype=np.float32)
    )
    return f_train, f_test
