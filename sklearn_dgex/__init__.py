"""Gene-expression inference with scikit-learn compatible D-GEX networks.

Predict the expression of target genes from measured landmark genes (the
L1000 problem) with the D-GEX tower / checkerboard networks and a flexible
MLP, both trained by skorch and tuned with scikit-learn.

Public names are loaded lazily so that ``sklearn_dgex.metrics``,
``sklearn_dgex.stats`` and the data readers can be used without importing
torch.
"""

import importlib

__version__ = "0.1.0"

# name -> submodule that defines it; one table so that ``__all__`` and the
# lazy loader can never disagree.
_LAZY_ATTRIBUTES = {
    "DGEXRegressor": "._dgex",
    "FlexibleMLPRegressor": "._mlp",
    "load": ".persistence",
    "mmae": ".metrics",
    "rmse": ".metrics",
    "mmae_scorer": ".metrics",
    "rmse_scorer": ".metrics",
}
_SUBMODULES = ["datasets", "de", "distributed", "metrics", "nn", "persistence", "stats"]

__all__ = [*_LAZY_ATTRIBUTES, *_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        module = importlib.import_module(_LAZY_ATTRIBUTES[name], __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
