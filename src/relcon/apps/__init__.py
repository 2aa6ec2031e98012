"""The application layer: what a user runs on recordings and models.

:mod:`.embed` (``relcon embed``), :mod:`.predict` (``relcon predict``), :mod:`.plots`
(``relcon plot``), :mod:`.demo` (``relcon demo``) and :mod:`.speed` (``relcon bench``, the
throughput benchmark; also ``python -m relcon.apps.speed``).
"""
