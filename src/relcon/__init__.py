"""RelCon: relative contrastive learning for a motion foundation model for wearable accelerometry.

Xu et al., "RelCon: Relative Contrastive Learning for a Motion Foundation Model for Wearable
Data", ICLR 2025 (arXiv:2411.18822).

Public API::

    import relcon
    encoder = relcon.load()                       # the shipped pretrained model ("default")
    encoder = relcon.load("runs/relcon")          # or a run folder, checkpoint, .safetensors file
    z = encoder.embed(x)                          # x: (N, 256, 3) in g at 100 Hz -> (N, D)
    distance = relcon.load(kind="distance")       # the shipped model's motif distance
    model = relcon.load("models/har")             # a fine-tuned model (relcon finetune --out)
    relcon.list_models()                          # the shipped models: name, kind, description
    relcon.create_model("encoder", stage_filters=(32, 64, 128))   # an architecture, random weights

    relcon.ResNet1DEncoder, relcon.MotifDistance   # the two models
    relcon.relative_contrastive_loss               # the loss

``D`` is ``encoder.embed_dim``: 128 for the shipped model, 256 for the paper's full size. Every
way of loading a model goes through :mod:`relcon.models.hub`.
"""

from __future__ import annotations

from relcon._version import __version__
from relcon.losses import relative_contrastive_loss
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import create_model, list_models, load

__all__ = [
    "MotifDistance",
    "ResNet1DEncoder",
    "__version__",
    "create_model",
    "list_models",
    "load",
    "relative_contrastive_loss",
]
