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

    # arrays in, arrays out (relcon.api; imported on first use, so `import relcon` stays light)
    z = relcon.embed(x, "relcon-wrist-small")      # (N, 256, 3) -> (N, 128)
    results = relcon.evaluate(x, y, groups, "relcon-wrist-small")  # relcon evaluate's numbers
    tuned = relcon.finetune(x, y, groups, "relcon-wrist-small", epochs=20)
    y_hat = relcon.predict(x, tuned)               # (N,) class codes

``D`` is ``encoder.embed_dim``: 256 for the default shipped model (``relcon-wrist-full``) and the
paper's full size, 128 for ``relcon-wrist-small``. Every way of loading a model goes through
:mod:`relcon.models.hub`.
"""

from __future__ import annotations

from relcon._version import __version__
from relcon.losses import relative_contrastive_loss
from relcon.models.distance import MotifDistance
from relcon.models.encoder import ResNet1DEncoder
from relcon.models.hub import create_model, list_models, load

#: the functions of the notebook API (:mod:`relcon.api`, in the top layer), by name: imported on
#: first use by :func:`__getattr__`, never when ``relcon`` is (tests/test_architecture.py counts
#: these names as imports of ``relcon.api`` in its cycle check)
_LAZY = {name: "relcon.api" for name in ("embed", "evaluate", "finetune", "predict")}

__all__ = [
    "MotifDistance",
    "ResNet1DEncoder",
    "__version__",
    "create_model",
    "list_models",
    "load",
    "relative_contrastive_loss",
]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'relcon' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
