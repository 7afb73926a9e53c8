"""Sphinx configuration for sklearn-dgex."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "sklearn-dgex"
author = "sklearn-dgex developers"
copyright = "2026, sklearn-dgex developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = []
exclude_patterns = ["_build", "generated/*.examples"]
html_theme = "pydata_sphinx_theme"
html_static_path = []
# No network in CI: intersphinx inventories are optional and never fetched.
intersphinx_mapping = {}
