"""A fine-tuned model: an encoder with a classification or regression head (``relcon finetune``).

:func:`relcon.eval.finetune.finetune` trains it; the model hub (:mod:`relcon.models.hub`) writes
it as ``model.safetensors`` + ``model.json`` (``"kind": "finetuned"``; ``info`` goes into
``model.json``) with ``save_model(folder, model)``, and ``relcon.load(folder)`` reads it back,
e.g. for ``relcon predict``.

A *fused* model (``handcrafted=True``; ``relcon finetune --probe linear_fixed
--plus-handcrafted``) has a second linear head on the window's hand-crafted features
(:func:`relcon.models.handcrafted.handcrafted_features`) and combines the two as ``relcon
evaluate --plus-handcrafted`` does (:func:`relcon.eval.fusion.fit_predict_fused`): the sum of
their log-probabilities, or the mean of their predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relcon.models.encoder import WINDOW, ResNet1DEncoder, check_pooling, run_windows
from relcon.models.handcrafted import feature_names, handcrafted_features

__all__ = ["TASK_TYPES", "FinetunedModel"]

TASK_TYPES = ("classification", "regression")


def _make_head(embed_dim: int, n_outputs: int, hidden: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(embed_dim, n_outputs)
    return nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))


class FinetunedModel(nn.Module):
    """An encoder with a classification or regression head, and what turns outputs into labels.

    Shapes:
        - ``forward(x (B, T, 3)) -> (B, K)`` logits, or ``(B, 1)`` standardised values
          (as :meth:`ResNet1DEncoder.forward`); fused (``handcrafted=True``): the sum of the two
          heads' log-probabilities (unnormalised log-probabilities of their product), or the
          mean of their two values;
        - ``predict(x (N, 256, 3)) -> (N,)`` numpy class codes (as given to :func:`finetune`)
          or values in the target's units;
        - ``predict_proba(x (N, 256, 3)) -> (N, K)`` class probabilities, columns in the order
          of :attr:`classes_` (scikit-learn's name).

    Args:
        encoder: the encoder (used as is, not copied).
        task_type: ``"classification"`` or ``"regression"``.
        classes: ``(K,)`` class codes; output ``k`` stands for ``classes[k]`` (classification).
        target_mean: the regression target is ``target_mean + target_std * output``.
        target_std: see ``target_mean``.
        head_hidden: 0 for a linear head, else the width of its hidden layer.
        pooling: what the head reads (:data:`~relcon.models.encoder.POOLINGS`): ``"last"``,
            the encoder's embedding (:meth:`~ResNet1DEncoder.forward`), or ``"stages"``,
            every stage's time-average (:meth:`~ResNet1DEncoder.stage_means`).
        handcrafted: a second linear head, :attr:`handcrafted_head`, reads the window's 62
            hand-crafted features (computed on the CPU from windows at 100 Hz, and
            applied in float64 whatever ``precision`` the encoder runs at: their raw scales
            differ by orders of magnitude) and is fused with the first (late fusion, as
            :func:`relcon.eval.fusion.fit_predict_fused`). Fitted by a probe, never by
            gradient descent: the features have no gradient here.
        info: free-form provenance saved with the model (config, history, subjects, ...).

    Example:
        >>> m = FinetunedModel(ResNet1DEncoder(), task_type="classification", classes=[0, 3, 7])
        >>> m.predict(np.zeros((2, 256, 3), dtype=np.float32)).shape
        (2,)
        >>> m.classes_.tolist()
        [0, 3, 7]
        >>> fused = FinetunedModel(ResNet1DEncoder(), task_type="classification", classes=[0, 1],
        ...                        handcrafted=True)
        >>> fused.handcrafted_head.in_features  # the 62 hand-crafted features
        62
        >>> fused.predict_proba(np.zeros((2, 256, 3), dtype=np.float32)).sum(axis=1).round(6).tolist()
        [1.0, 1.0]
    """

    def __init__(
        self,
        encoder: ResNet1DEncoder,
        *,
        task_type: str,
        classes: np.ndarray | list | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
        head_hidden: int = 0,
        pooling: str = "last",
        handcrafted: bool = False,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_pooling(pooling)
        if task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
        if task_type == "classification":
            if classes is None or len(classes) < 2:
                raise ValueError("classification needs at least 2 classes")
            self.classes_: np.ndarray | None = np.asarray(classes)
            n_outputs = len(self.classes_)
        else:
            self.classes_ = None
            n_outputs = 1
        self.task_type = task_type
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.head_hidden = int(head_hidden)
        self.pooling = pooling
        self.info: dict[str, Any] = dict(info or {})
        self.encoder = encoder
        self.head = _make_head(encoder.pooled_dim(pooling), n_outputs, self.head_hidden)
        self.handcrafted_head = nn.Linear(len(feature_names()), n_outputs) if handcrafted else None

    @property
    def handcrafted(self) -> bool:
        """Whether the model is fused: a second head on the hand-crafted features."""
        return self.handcrafted_head is not None

    def features(self, x: Tensor) -> Tensor:
        """``(B, T, 3)`` -> what the head reads, ``(B, encoder.pooled_dim(pooling))``."""
        return self.encoder(x) if self.pooling == "last" else self.encoder.stage_means(x)

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.features(x))
        if self.handcrafted_head is None:
            return out
        hc = self.handcrafted_outputs(x)  # float64, on the CPU (some devices have no float64)
        if self.classes_ is None:  # regression: the mean of the two predictions
            return (out.float() + hc.float().to(out.device)) / 2
        hc = F.log_softmax(hc, dim=1).float().to(out.device)
        return F.log_softmax(out.float(), dim=1) + hc

    def handcrafted_outputs(self, x: Tensor) -> Tensor:
        """The hand-crafted head's outputs ``(B, K)`` (float64, on the CPU) for ``(B, T, 3)``
        windows: :func:`~relcon.models.handcrafted.handcrafted_features` and the head, both in
        float64 and outside any autocast."""
        if self.handcrafted_head is None:
            raise ValueError("this model has no hand-crafted head (handcrafted=False)")
        h = torch.from_numpy(handcrafted_features(x.detach().float().cpu().numpy())).double()
        head = self.handcrafted_head
        w, b = (p.detach().cpu().double() for p in (head.weight, head.bias))
        with torch.autocast("cpu", enabled=False):
            return F.linear(h, w, b)

    @torch.no_grad()
    def outputs(
        self, x: np.ndarray | Tensor, batch_size: int = 512, precision: str = "fp32"
    ) -> np.ndarray:
        """Raw outputs ``(N, K)`` (logits, or standardised values) for windows ``(N, 256, 3)``;
        ``precision`` as in :meth:`ResNet1DEncoder.embed` (``"fp32"``, ``"bf16"``, ``"auto"``)."""
        if x.ndim != 3 or x.shape[1] < WINDOW or x.shape[2] != self.encoder.config.in_channels:
            raise ValueError(
                f"expected (N, T >= {WINDOW}, {self.encoder.config.in_channels}) windows, got "
                f"{tuple(x.shape)}"
            )
        return run_windows(self, x, self.head_out, batch_size, precision=precision)

    @property
    def head_out(self) -> int:
        return 1 if self.classes_ is None else len(self.classes_)

    def predict(
        self, x: np.ndarray | Tensor, batch_size: int = 512, precision: str = "fp32"
    ) -> np.ndarray:
        """Class codes (classification) or target values (regression) for ``(N, 256, 3)``;
        ``precision`` as in :meth:`outputs`."""
        out = self.outputs(x, batch_size, precision)
        if self.classes_ is not None:
            return self.classes_[out.argmax(axis=1)]
        return self.target_mean + self.target_std * out[:, 0].astype(np.float64)

    def predict_proba(
        self, x: np.ndarray | Tensor, batch_size: int = 512, precision: str = "fp32"
    ) -> np.ndarray:
        """``(N, K)`` class probabilities (classification only); ``precision`` as in
        :meth:`outputs`."""
        if self.classes_ is None:
            raise ValueError("predict_proba is only defined for classification")
        out = self.outputs(x, batch_size, precision)
        return torch.softmax(torch.from_numpy(out), dim=1).numpy()
