"""The training layer: the loops that write run folders (imports the data and core layers only).

:mod:`.distance` (``relcon train-distance``), :mod:`.relcon` (``relcon pretrain``),
:mod:`.baselines` (SimCLR, augmentation prediction, REBAR), :mod:`.steps` (one optimizer step of
each loop, which ``relcon bench`` times too, and the candidate-pool layout), :mod:`.diagnose` (is
a trained motif distance worth learning from?) and :mod:`.common` (run set-up: folder and its
lock, seeds, schedule, logs, device and precision, resuming, ``torchrun``).
"""
