"""The MLP probe of :mod:`relcon.eval.probes` (``probe="mlp"``): one hidden layer in torch.

features -> Linear(:data:`MLP_HIDDEN`) -> ReLU -> Dropout(:data:`MLP_DROPOUT`) -> Linear(outputs),
AdamW; classification by cross-entropy, regression by the mean squared error of the
standardised target. Its one hyperparameter is the number of epochs: with validation subjects,
each inner fold trains with early stopping (:data:`MLP_PATIENCE` epochs without a lower
validation loss) and the final fit on all training windows runs for the mean of their best
epochs. :func:`mlp_probe` is called by :func:`relcon.eval.probes.fit_predict` with its problem
(training and test features, validation folds, seed); use that, not this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from relcon.eval.probes import _Problem

__all__ = [
    "MLP_BATCH_SIZE",
    "MLP_DROPOUT",
    "MLP_HIDDEN",
    "MLP_LR",
    "MLP_MAX_EPOCHS",
    "MLP_PATIENCE",
    "MLP_WEIGHT_DECAY",
    "mlp_probe",
]

#: the MLP: features -> Linear(MLP_HIDDEN) -> ReLU -> Dropout -> Linear(outputs), AdamW
MLP_HIDDEN = 256
MLP_DROPOUT = 0.1
MLP_LR = 1e-3
MLP_WEIGHT_DECAY = 1e-4
MLP_BATCH_SIZE = 256
MLP_MAX_EPOCHS = 200
MLP_PATIENCE = 15


def _mlp_train(
    x: np.ndarray,
    t: np.ndarray,
    n_out: int,
    classify: bool,
    seed: int,
    epochs: int,
    x_val: np.ndarray | None = None,
    t_val: np.ndarray | None = None,
):
    """Train the MLP; with validation data, stop early and return the best epoch's weights.

    Returns ``(model, best_epoch, val_losses)`` (``best_epoch`` counts from 1). The global RNG
    (initial weights, dropout masks) is seeded here and restored afterwards.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _mlp_loop(x, t, n_out, classify, seed, epochs, (x_val, t_val))


def _mlp_loop(
    x: np.ndarray, t: np.ndarray, n_out: int, classify: bool, seed: int, epochs: int,
    val: tuple[np.ndarray | None, np.ndarray | None],
):  # fmt: skip
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Linear(x.shape[1], MLP_HIDDEN),
        nn.ReLU(),
        nn.Dropout(MLP_DROPOUT),
        nn.Linear(MLP_HIDDEN, n_out),
    )
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=MLP_LR, weight_decay=MLP_WEIGHT_DECAY)
    loss_fn = nn.CrossEntropyLoss() if classify else nn.MSELoss()
    xt = torch.as_tensor(x, dtype=torch.float32)
    tt = torch.as_tensor(t, dtype=torch.long if classify else torch.float32)
    x_val, t_val = val
    if x_val is not None:
        xv = torch.as_tensor(x_val, dtype=torch.float32)
        tv = torch.as_tensor(t_val, dtype=torch.long if classify else torch.float32)
    best_loss, best_epoch, best_state, losses = np.inf, 0, None, []
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(MLP_BATCH_SIZE):
            out = model(xt[idx])
            loss = loss_fn(out if classify else out[:, 0], tt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if x_val is None:
            continue
        model.eval()
        with torch.no_grad():
            out = model(xv)
            val = float(loss_fn(out if classify else out[:, 0], tv))
        losses.append(val)
        if val < best_loss - 1e-6:
            best_loss, best_epoch = val, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= MLP_PATIENCE:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, (max(1, best_epoch) if x_val is not None else epochs), losses


def mlp_probe(p: _Problem) -> tuple[np.ndarray, dict]:
    """Fit the MLP on ``p``'s training windows and predict its test windows: ``(pred, info)``."""
    import torch

    classify, y_train, seed = p.classify, p.y_train, p.seed
    info: dict = {
        "hyperparameter": "epochs",
        "grid": [1, MLP_MAX_EPOCHS],
        "val_metric": "cross_entropy" if classify else "mse_standardised_target",
        "hidden": MLP_HIDDEN,
        "patience": MLP_PATIENCE,
    }
    if classify:
        classes, codes = np.unique(y_train, return_inverse=True)
        n_out = len(classes)
    else:
        n_out = 1

    def encode(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
        if classify:
            return np.searchsorted(classes, y)
        mu, sd = ref.mean(), ref.std()
        return (y - mu) / (sd if sd > 0 else 1.0)

    epochs = int(p.default("mlp"))
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            if p.val_fold is not None:  # several folds: the mean of their best epochs
                best, curves = [], []
                for xa, xv, ya, yv in p.fit_val():
                    _, ep, losses = _mlp_train(
                        xa, encode(ya, ya), n_out, classify, seed, MLP_MAX_EPOCHS, xv,
                        encode(yv, ya),
                    )  # fmt: skip
                    best.append(ep)
                    curves.append(losses)
                epochs = max(1, round(float(np.mean(best))))
                info["val_scores"] = curves[0] if len(curves) == 1 else curves
            xt, xs = p.train_test()
            target = codes if classify else encode(y_train, y_train)
            model, _, _ = _mlp_train(xt, target, n_out, classify, seed, epochs)
            with torch.no_grad():
                out = model(torch.as_tensor(xs, dtype=torch.float32)).numpy()
    finally:
        torch.set_num_threads(old_threads)
    info["value"] = epochs
    if classify:
        return classes[np.argmax(out, axis=1)], info
    sd = y_train.std()
    return out[:, 0] * (sd if sd > 0 else 1.0) + y_train.mean(), info
