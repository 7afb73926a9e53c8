"""Estimators small enough for unit tests, shared by the test modules."""

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

#: Two towers of width 8, or one hidden layer of 8: a fit of a few epochs takes milliseconds.
DGEX_DEFAULTS = dict(arch="cr", towers=2, width=8, device="cpu", random_state=0)
MLP_DEFAULTS = dict(hidden_layer_sizes=(8,), device="cpu", random_state=0)


def tiny_estimators(*, dgex=None, mlp=None, **shared):
    """Return ``tiny_dgex`` and ``tiny_mlp``, factories of small, seeded CPU estimators.

    ``shared`` settings apply to both estimators, ``dgex`` and ``mlp`` (dicts)
    to one of them; the keyword arguments a test passes override them all.
    """
    dgex_defaults = {**DGEX_DEFAULTS, **shared, **(dgex or {})}
    mlp_defaults = {**MLP_DEFAULTS, **shared, **(mlp or {})}

    def tiny_dgex(**params):
        return DGEXRegressor(**{**dgex_defaults, **params})

    def tiny_mlp(**params):
        return FlexibleMLPRegressor(**{**mlp_defaults, **params})

    return tiny_dgex, tiny_mlp
