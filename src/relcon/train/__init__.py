"""The training layer: the loops that write run folders (imports the data and core layers only).

:mod:`.distance` (``relcon train-distance``), :mod:`.relcon` (``relcon pretrain``),
:mod:`.baselines` (SimCLR, augmentation prediction, REBAR), :mod:`.diagnose` (is a trained
motif distance worth learning from?) and :mod:`.common` (run folder, seeds, schedule, logs,
device and speed settings, ``torchrun``).
"""
