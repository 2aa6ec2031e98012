"""The package's shape: layers that only import downwards, no import cycles, no oversized module.

Layers, lowest first (see docs/architecture.md)::

    core (relcon, config, io, progress, losses, models) -> data -> train -> eval -> apps -> cli

A module may import from its own layer and the layers below it, never from a layer above,
wherever the import is written (module level, inside a function, under ``TYPE_CHECKING``).
Imports must not form a cycle, wherever they are written (module level or inside a function or
class: an import deferred into a function to dodge a cycle is still a cycle); only imports under
``if TYPE_CHECKING:`` are left out, since they never run. Relative imports are resolved; an
import names the module itself, never its parent packages (``import relcon.a.b`` counts as
``relcon.a.b``, not also ``relcon.a``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import relcon

PACKAGE = Path(relcon.__file__).resolve().parent

#: The layers, lowest first: module-name prefixes (``relcon`` itself: the package's own
#: ``__init__``, which only re-exports the public API).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "core",
        (
            "relcon",
            "relcon._version",
            "relcon.config",
            "relcon.flags",
            "relcon.io",
            "relcon.progress",
            "relcon.losses",
            "relcon.models",
        ),
    ),
    ("data", ("relcon.data",)),
    ("train", ("relcon.train",)),
    ("eval", ("relcon.eval",)),
    ("apps", ("relcon.apps",)),
    ("cli", ("relcon.cli", "relcon.__main__", "relcon.api")),
)
MAX_LINES = 850


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """Index of ``module``'s layer in :data:`LAYERS` (the longest matching prefix wins)."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == "relcon"
            if module == prefix or (not exact_only and module.startswith(prefix + ".")):
                if len(prefix) > best_len:
                    best, best_len = i, len(prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")
    return best


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(
    source: str, module: str, is_package: bool = False, type_checking: bool = True
) -> Iterator[tuple[str, int, bool]]:
    """``(imported relcon module, line, runs on import)`` for every import in ``source``.

    ``from relcon.x import y`` names ``relcon.x.y`` when that is a module, else ``relcon.x``.
    An import runs on import at module level (in ``if``/``try`` blocks too), not inside a
    function or class, and not under ``if TYPE_CHECKING``; ``type_checking=False`` leaves out
    the imports under ``if TYPE_CHECKING`` altogether.
    """
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, runs_on_import: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == "relcon" or alias.name.startswith("relcon."):
                        yield alias.name, child.lineno, runs_on_import
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                if base != "relcon" and not base.startswith("relcon."):
                    continue
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    yield (sub if sub in MODULES else base), child.lineno, runs_on_import
            elif isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ):
                yield from visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                if type_checking:  # never runs
                    yield from visit(ast.Module(child.body, []), False)
                yield from visit(ast.Module(child.orelse, []), runs_on_import)
            else:
                yield from visit(child, runs_on_import)

    yield from visit(ast.parse(source), True)


def layer_violations(module: str, source: str, is_package: bool = False) -> list[str]:
    own = layer_of(module)
    out = []
    for target, line, _ in imports(source, module, is_package):
        if layer_of(target) > own:
            out.append(
                f"{module}:{line} imports {target} ({LAYERS[layer_of(target)][0]} layer) from the "
                f"{LAYERS[own][0]} layer"
            )
    return out


def _source(module: str) -> tuple[str, bool]:
    path = MODULES[module]
    return path.read_text(encoding="utf-8"), path.name == "__init__.py"


# --------------------------------------------------------------------------------------------
# the rules
# --------------------------------------------------------------------------------------------
def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 40
    for module in MODULES:
        layer_of(module)


def test_no_import_from_a_higher_layer() -> None:
    problems = [p for m in MODULES for p in layer_violations(m, *_source(m))]
    assert not problems, "\n".join(problems)


def test_no_module_over_the_size_limit() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    big = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split them): {big}"


def import_graph(modules: dict[str, Path] = MODULES) -> dict[str, dict[str, int]]:
    """module -> {imported module: line of its first import}, for every import anywhere in the
    module (functions and classes included) except those under ``if TYPE_CHECKING:``."""
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for m, path in modules.items():
        source = path.read_text(encoding="utf-8")
        for target, line, _ in imports(source, m, path.name == "__init__.py", type_checking=False):
            if target in graph and target != m:
                graph[m].setdefault(target, line)
    return graph


def test_no_import_cycle() -> None:
    graph = import_graph()
    for target in relcon._LAZY.values():  # relcon.__getattr__ imports them on first use
        graph["relcon"].setdefault(target, 0)
    cycles = _cycles({m: set(targets) for m, targets in graph.items()})
    assert not cycles, "modules that import each other in a cycle:\n" + "\n".join(
        _describe_cycle(component, graph) for component in cycles
    )


def test_the_top_level_names_the_top_layer_lazily() -> None:
    """``relcon.evaluate`` & co. (``relcon._LAZY``) live in the top layer and are imported on
    first use, never by ``import relcon``: the one reference from the package's ``__init__``
    upwards (counted as an import by the cycle check above)."""
    assert relcon._LAZY and all(layer_of(t) == len(LAYERS) - 1 for t in relcon._LAZY.values())
    code = (
        "import sys, relcon; assert not [m for m in set(relcon._LAZY.values()) if m in "
        "sys.modules]; assert callable(relcon.evaluate) and 'relcon.api' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _describe_cycle(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    """One cycle through ``component`` as ``a (line) -> b (line) -> ... -> a``."""
    members, path, seen = set(component), [component[0]], {component[0]}
    while True:
        here = path[-1]
        nxt = sorted(t for t in graph[here] if t in members)
        back = component[0] in nxt and len(path) > 1
        step = component[0] if back else next((t for t in nxt if t not in seen), nxt[0])
        path.append(step)
        if step in seen:
            break
        seen.add(step)
    start = path.index(path[-1])
    hops = [f"{a}:{graph[a][b]}" for a, b in zip(path[start:], path[start + 1 :], strict=False)]
    return "  " + " -> ".join([*hops, path[-1]]) + f"   (all of: {', '.join(component)})"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


# --------------------------------------------------------------------------------------------
# the checker itself
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("relcon.data.windowing", "def f():\n    from relcon.eval.builtin import X\n", True),
        ("relcon.data.windowing", "import relcon.apps.embed\n", True),
        ("relcon.models.encoder", "from relcon.data import windowing\n", True),
        ("relcon.data.windowing", "if TYPE_CHECKING:\n    from relcon.train import common\n", True),
        ("relcon.data.stream.steps", "from ...eval import harness\n", True),
        ("relcon.eval.harness", "from relcon.train.common import pick_device\n", False),
        ("relcon.train.relcon", "import relcon\nfrom relcon.models import hub\n", False),
        ("relcon.apps.embed", "from relcon.data.stream import iter_windows\n", False),
    ],
)
def test_the_layer_rule_catches_upward_imports(module: str, source: str, bad: bool) -> None:
    assert bool(layer_violations(module, source)) == bad


def test_the_cycle_check_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_found_wherever_they_are_written() -> None:
    src = (
        "import relcon.io\ndef f():\n    import relcon.config\nclass C:\n    def g(self):\n"
        "        from . import hub\nif TYPE_CHECKING:\n    import relcon.cli\nelse:\n"
        "    import relcon.progress\n"
    )
    found = {(t, runs) for t, _, runs in imports(src, "relcon.models.x")}
    assert found == {
        ("relcon.io", True), ("relcon.config", False), ("relcon.models.hub", False),
        ("relcon.cli", False), ("relcon.progress", True),
    }  # fmt: skip
    no_type_checking = {t for t, _, _ in imports(src, "relcon.models.x", type_checking=False)}
    assert no_type_checking == {t for t, _ in found} - {"relcon.cli"}


def test_the_cycle_check_counts_imports_inside_functions(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import relcon.b\n")
    (tmp_path / "b.py").write_text("def f():\n    import relcon.a\n")
    (tmp_path / "c.py").write_text("if TYPE_CHECKING:\n    import relcon.a\n")
    (tmp_path / "d.py").write_text("import relcon.c\n")
    modules = {f"relcon.{n}": tmp_path / f"{n}.py" for n in "abcd"}
    graph = import_graph(modules)
    assert graph == {"relcon.a": {"relcon.b": 1}, "relcon.b": {"relcon.a": 2}, "relcon.c": {},
                     "relcon.d": {"relcon.c": 1}}  # fmt: skip
    cycles = _cycles({m: set(t) for m, t in graph.items()})
    assert cycles == [["relcon.a", "relcon.b"]]
    assert _describe_cycle(cycles[0], graph).split("   ")[0].strip() == (
        "relcon.a:1 -> relcon.b:2 -> relcon.a"
    )
