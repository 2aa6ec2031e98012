"""RelCon: relative contrastive learning for a motion foundation model for wearable accelerometry.

Xu et al., "RelCon: Relative Contrastive Learning for a Motion Foundation Model for Wearable
Data", ICLR 2025 (arXiv:2411.18822).

Public API::

    import relcon
    encoder = relcon.load()                       # the shipped pretrained model
    encoder = relcon.load("runs/relcon")          # or a run folder, checkpoint, .safetensors file
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

__all__ = [
    "MotifDistance",
    "ResNet1DEncoder",
    "__version__",
    "default_model_path",
    "load",
    "relative_contrastive_loss",
]


def default_model_path(kind: str = "encoder") -> Path:
    """Folder of the pretrained model shipped inside the package (``kind``: encoder or distance)."""
    from importlib import resources

    if kind not in ("encoder", "distance"):
        raise ValueError(f"kind must be 'encoder' or 'distance', got {kind!r}")
    return Path(str(resources.files("relcon") / "assets" / "model" / kind))


def load(path: str | Path | None = None, device: str = "cpu", kind: str = "encoder"):
    """Load a model written by relcon (encoder or motif distance), in eval mode.

    Args:
        path: run folder (its final ``model.safetensors``, else its latest checkpoint), a
            checkpoint folder, or a ``model.safetensors`` / ``model.json`` file. ``None`` or
            ``"default"``: the pretrained RelCon model shipped with the package (see
            ``MODEL_CARD.md``); its motif distance with ``kind="distance"``.
        device: where to put the weights.
        kind: with the default model, which of the two to load.

    Returns:
        :class:`ResNet1DEncoder` or :class:`MotifDistance`, as recorded in ``model.json``.
        Loading fails with a clear error if the weights do not fit the recorded architecture.
    """
    from relcon.models.checkpoint import load_model

    if path is None or str(path) == "default":
        path = default_model_path(kind)
        if not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"the shipped model is missing from this installation: {path}")
    model, _ = load_model(path, device=device)
    return model
