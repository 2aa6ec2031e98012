"""The evaluation layer: tasks, protocols, probes, the harness, reports and the benchmark suite.

:mod:`.builtin` and :mod:`.paper` (task files from the shared and the paper's data sets),
:mod:`.splits` (subject-wise splits), :mod:`.features`, :mod:`.minirocket`, :mod:`.probes` (the
probes and their subject-wise folds), :mod:`.fewshot`, :mod:`.finetune`, :mod:`.metrics`,
:mod:`.harness` (``relcon evaluate``), :mod:`.paired` and :mod:`.report` (``relcon report``),
:mod:`.suite` (``relcon benchmark``).
"""
