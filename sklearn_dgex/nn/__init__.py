"""PyTorch modules of sklearn-dgex: TAAF, the D-GEX networks, the flexible MLP, the shortcut.

This subpackage imports torch only and knows nothing of scikit-learn; the
estimators in :mod:`sklearn_dgex` build their networks from it.
"""

from . import budget
from .budget import STUDY_WIDTHS, count_neurons, count_parameters, dense_budget, solve_width
from .dgex import ARCHITECTURES, DGEXNet
from .mlp import FlexibleMLP
from .shortcut import LinearShortcut
from .taaf import (
    ACTIVATIONS,
    TAAF,
    is_taaf,
    make_activation,
    neuron_parameter_count,
    parse_activation,
)
from .towers import TowerLinear

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "STUDY_WIDTHS",
    "TAAF",
    "DGEXNet",
    "FlexibleMLP",
    "LinearShortcut",
    "TowerLinear",
    "budget",
    "count_neurons",
    "count_parameters",
    "dense_budget",
    "is_taaf",
    "make_activation",
    "neuron_parameter_count",
    "parse_activation",
    "solve_width",
]
