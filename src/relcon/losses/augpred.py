"""The multi-label loss of augmentation prediction (the ``augpred`` baseline)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["augmentation_prediction_loss"]


def augmentation_prediction_loss(logits: Tensor, applied: Tensor) -> Tensor:
    """Multi-label loss of augmentation prediction: which augmentations were applied?

    Transformation discrimination after Saeed et al., "Multi-task Self-Supervised Learning for
    Human Activity Detection", IMWUT 2019, here as one multi-label problem: each of the ``A``
    augmentations is an independent binary target, and the loss is the binary cross-entropy with
    logits, ``-[y log sigmoid(l) + (1 - y) log(1 - sigmoid(l))]``, averaged over windows and
    augmentations (computed in the stable log-sum-exp form).

    Args:
        logits: ``(B, A)`` head outputs.
        applied: ``(B, A)`` 0/1 (or bool) indicator of the augmentations each window received.

    Returns:
        Scalar loss.

    Example:
        >>> import torch
        >>> logits = torch.randn(8, 8)
        >>> applied = torch.rand(8, 8) < 0.5
        >>> augmentation_prediction_loss(logits, applied).shape
        torch.Size([])
    """
    if logits.ndim != 2 or logits.shape != applied.shape:
        raise ValueError(
            "expected logits and applied of the same shape (B, A); got "
            f"{tuple(logits.shape)}, {tuple(applied.shape)}"
        )
    return F.binary_cross_entropy_with_logits(logits, applied.to(logits.dtype))
