"""Only the estimator classes read an estimator's private attributes.

The estimator resolves a fit's plan (:mod:`sklearn_dgex._fit.plan`) and hands its
values down; a helper that takes the estimator to read its private state would
couple the layers below to the estimator's internals. The source is read with
``ast``, so the test imports nothing.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "sklearn_dgex"
# The estimator classes, which own their private state.
ESTIMATOR_MODULES = {"_base.py", "_dgex.py", "_mlp.py"}
# Names that hold an estimator outside the estimator classes.
ESTIMATOR_NAMES = {"estimator", "model", "regressor"}
# Justified reads, as (file, attribute):
ALLOWED = {
    # scikit-learn's own parameter validation, the check fit runs, for a file's or
    # the command line's parameters.
    ("persistence.py", "_validate_params"),
    ("cli.py", "_validate_params"),
    # The model file holds the estimator's private fitted state: persistence writes
    # and checks it.
    ("persistence.py", "_target_is_1d"),
}


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def _private_reads(path):
    """``(attribute, line)`` of ``estimator._x`` and ``getattr(estimator, "_x", ...)``."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ESTIMATOR_NAMES
            and _is_private(node.attr)
        ):
            yield node.attr, node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in ESTIMATOR_NAMES
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield node.args[1].value, node.lineno


def test_no_module_below_the_estimators_reads_their_private_state():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in ESTIMATOR_MODULES:
            continue
        for attribute, line in _private_reads(path):
            if (name, attribute) not in ALLOWED:
                found.append(f"{name}:{line}: .{attribute}")
    assert found == [], "private estimator state read outside the estimators:\n" + "\n".join(found)


def test_the_allowed_reads_still_exist():
    # An exception that no longer happens is removed from the list, so that it
    # cannot hide a new read.
    used = {
        (path.relative_to(ROOT).as_posix(), attribute)
        for path in ROOT.rglob("*.py")
        for attribute, _ in _private_reads(path)
    }
    assert used >= ALLOWED
