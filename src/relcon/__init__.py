"""RelCon: relative contrastive learning for a motion foundation model for wearable accelerometry.

Xu et al., "RelCon: Relative Contrastive Learning for a Motion Foundation Model for Wearable
Data", ICLR 2025 (arXiv:2411.18822).

Public API::

    import relcon
    encoder = relcon.load("runs/relcon")          # a run folder, checkpoint or .safetensors file
    z = encoder.embed(x)                          # x: (N, 256, 3) in g at 100 Hz -> (N, 256)

    relcon.ResNet1DEncoder, relcon.MotifDistance   # the two models
    relcon.relative_contrastive_loss               # the loss
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

from relcon.losses import relative_contrastive_loss
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder

__all__ = ["MotifDistance", "ResNet1DEncoder", "__version__", "load", "relative_contrastive_loss"]


def load(path: str | Path, device: str = "cpu"):
    """Load a model written by relcon (encoder or motif distance), in eval mode.

    Args:
        path: run folder (its final ``model.safetensors``, else its latest checkpoint), a
            checkpoint folder, or a ``model.safetensors`` / ``model.json`` file.
        device: where to put the weights.

    Returns:
        :class:`ResNet1DEncoder` or :class:`MotifDistance`, as recorded in ``model.json``.
        Loading fails with a clear error if the weights do not fit the recorded architecture.
    """
    from relcon.checkpoint import load_model

    model, _ = load_model(path, device=device)
    return model
