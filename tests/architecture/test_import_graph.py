"""The modules of sklearn_dgex import one another without a cycle.

Every ``import`` statement counts, at module level or inside a function (a
function-level import that closes a cycle is a cycle deferred, not avoided),
relative or absolute. The graph is read from the source with ``ast``, so the
test imports nothing.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "sklearn_dgex"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported_modules(name, path):
    """The package's modules that the file ``path`` of module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # "from . import x" imports the submodule x when there is one.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target not in MODULES and "." in target:  # import a.b.c of module a.b
                target = target.rpartition(".")[0]
            if target in MODULES and target != name:
                found.add(target)
    return found


def import_graph():
    return {name: sorted(_imported_modules(name, path)) for name, path in MODULES.items()}


def find_cycle(graph):
    """One cycle of ``graph`` as a list of modules (first and last equal), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for child in graph[node]:
            if state.get(child) == "open":
                return [*stack[stack.index(child) :], child]
            if child not in state:
                cycle = visit(child)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in graph:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    graph = import_graph()
    assert len(graph) > 20 and "sklearn_dgex.nn.dgex" in graph
    assert "sklearn_dgex.nn.taaf" in graph["sklearn_dgex.nn.dgex"]  # from .taaf import ...
    assert "sklearn_dgex.cli" in graph["sklearn_dgex.__main__"]  # from .cli import main
    assert "sklearn_dgex.persistence" in graph["sklearn_dgex.cli"]  # inside a function
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    if cycle is not None:
        pytest.fail("import cycle: " + " -> ".join(cycle))
