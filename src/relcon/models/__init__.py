"""The networks, and the model hub that builds, saves and loads them.

* :class:`ResNet1DEncoder` (:mod:`.encoder`) -- windows ``(B, T, 3)`` -> embeddings;
* :class:`MotifDistance` (:mod:`.distance`) -- the learned distance that ranks candidates;
* :class:`FinetunedModel` (:mod:`.finetuned`) -- encoder + head (and, fused, a second head
  on the hand-crafted features);
* :func:`handcrafted_features` (:mod:`.handcrafted`) -- the classical features of a window, the
  baseline every comparison includes;
* :mod:`.hub` -- the one registry and loader: kinds, architectures, the shipped models,
  ``"default"``, ``model.safetensors`` + ``model.json`` (:func:`load`, :func:`create_model`,
  :func:`list_models`, :func:`save_model`);
* :mod:`.checkpoint` -- run folders, checkpoints and resuming.

``from relcon.models import MotifDistance, ResNet1DEncoder``.
"""

from relcon.models.distance import MotifDistance, MotifDistanceConfig
from relcon.models.encoder import EncoderConfig, ResNet1DEncoder
from relcon.models.finetuned import FinetunedModel
from relcon.models.handcrafted import handcrafted_features
from relcon.models.hub import create_model, list_models, load, save_model

__all__ = [
    "EncoderConfig",
    "FinetunedModel",
    "MotifDistance",
    "MotifDistanceConfig",
    "ResNet1DEncoder",
    "create_model",
    "handcrafted_features",
    "list_models",
    "load",
    "save_model",
]
