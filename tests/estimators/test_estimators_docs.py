"""The examples of docs/estimators.rst and of the estimators' docstrings run."""

import doctest
import pathlib

import pytest

from sklearn_dgex import _dgex, _mlp

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "estimators.rst"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_estimators_page_examples_run():
    result = doctest.testfile(str(PAGE), module_relative=False, optionflags=FLAGS)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of docs/estimators.rst failed"


@pytest.mark.parametrize("module", [_dgex, _mlp])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of {module.__name__} failed"
