"""Every docstring example (``>>>``) in the package runs and gives the output it shows (issue 21).

The examples are found with :class:`doctest.DocTestFinder` in every module of ``relcon`` (one
test per module), so an example that drifts from the code fails here, as the README's do in
test_readme.py. Examples run in their module's namespace, as ``python -m doctest`` runs them.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import relcon

ALL_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(relcon.__path__, "relcon.")
    if not m.name.endswith("__main__")  # running it is running the CLI
)


def _source(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""


#: the modules with an example (any docstring example has ">>>" in its module's source)
MODULES = [name for name in ALL_MODULES if ">>>" in _source(name)]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module) if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    tests = _examples(name)
    assert tests, f"{name} has '>>>' but no example doctest finds"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


def test_the_examples_are_found():
    """The finder sees the package's examples (a broken walk would pass every test above)."""
    counts = {name: sum(len(t.examples) for t in _examples(name)) for name in ALL_MODULES}
    assert sum(counts.values()) >= 60, counts
    for name in ("relcon.models.encoder", "relcon.models.distance", "relcon.losses.relcon"):
        assert counts[name] > 0, name
