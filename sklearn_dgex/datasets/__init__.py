"""Expression data: a synthetic generator, file readers, landmark matching and splits.

Nothing here imports torch. Public names are loaded lazily, so that
``make_expression`` works without pandas (which the readers need).
"""

import importlib

# name -> submodule that defines it; one table for ``__all__`` and the loader.
_LAZY_ATTRIBUTES = {
    "make_expression": ".synthetic",
    "load_l1000_landmarks": ".landmarks",
    "load_l1000_aliases": ".landmarks",
    "split_landmarks": ".landmarks",
    "LandmarkMatch": ".landmarks",
    "MissingLandmarksWarning": ".landmarks",
    "ExpressionMeta": ".readers",
    "read_expression": ".readers",
    "read_gctx": ".readers",
    "read_gct": ".readers",
    "read_table": ".readers",
    "read_parquet": ".readers",
    "read_h5ad": ".readers",
    "read_npz": ".readers",
    "write_expression": ".readers",
    "write_gct": ".readers",
    "write_gctx": ".readers",
    "write_h5ad": ".readers",
    "STUDY_SPLIT": ".splits",
    "train_val_test_split": ".splits",
}

__all__ = list(_LAZY_ATTRIBUTES)


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        module = importlib.import_module(_LAZY_ATTRIBUTES[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
