"""Loss functions: RelCon's, and those of the self-supervised baselines (one module each).

* :func:`relative_contrastive_loss` (:mod:`relcon.losses.relcon`) -- RelCon;
* :func:`nt_xent_loss` (:mod:`relcon.losses.ntxent`) -- SimCLR;
* :func:`rebar_loss` (:mod:`relcon.losses.rebar`) -- REBAR;
* :func:`augmentation_prediction_loss` (:mod:`relcon.losses.augpred`) -- augmentation prediction.

They take embeddings (and distances) and return a scalar; the training loops that feed them live
in :mod:`relcon.train`.
"""

from relcon.losses.augpred import augmentation_prediction_loss
from relcon.losses.ntxent import nt_xent_loss
from relcon.losses.rebar import rebar_loss
from relcon.losses.relcon import relative_contrastive_loss

__all__ = [
    "augmentation_prediction_loss",
    "nt_xent_loss",
    "rebar_loss",
    "relative_contrastive_loss",
]
