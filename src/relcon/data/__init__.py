"""The data layer: recordings, windows and batches (imports only :mod:`relcon.models`,
:mod:`relcon.config`, :mod:`relcon.io` and :mod:`relcon.losses` from the rest of the package).

:mod:`.signal` (units, regularisation, resampling), :mod:`.recording` (what readers return),
:mod:`.datasets` (one reader per public data set, and :func:`~relcon.data.datasets.load_segments`),
:mod:`.windowing` (recordings -> :class:`~relcon.data.windowing.Segments`), :mod:`.corpus`
(``relcon prepare``'s sharded corpus), :mod:`.stream` (raw files streamed into windows),
:mod:`.sampling` and :mod:`.loader` (anchors and candidates for training),
:mod:`.augmentations` and :mod:`.tasks` (the labelled task-file format).
"""
