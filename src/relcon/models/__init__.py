"""The networks: the encoder, the motif distance, a fine-tuned encoder + head, and their files.

* :class:`ResNet1DEncoder` (:mod:`.encoder`) -- windows ``(B, 3, T)`` -> embeddings;
* :class:`MotifDistance` (:mod:`.distance`) -- the learned distance that ranks candidates;
* :class:`~relcon.models.finetuned.FinetunedModel` (:mod:`.finetuned`) -- encoder + head;
* :mod:`.checkpoint` -- safetensors weights + ``model.json``, run folders and resuming.

``from relcon.models import MotifDistance, ResNet1DEncoder``.
"""

from relcon.models.distance import MotifDistance, MotifDistanceConfig
from relcon.models.encoder import EncoderConfig, ResNet1DEncoder

__all__ = ["EncoderConfig", "MotifDistance", "MotifDistanceConfig", "ResNet1DEncoder"]
