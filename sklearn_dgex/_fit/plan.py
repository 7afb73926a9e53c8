"""The plan of one ``fit``: what the estimator resolves once, before training.

Private module of the estimators (see :mod:`sklearn_dgex._base`). The
estimator validates its parameters and data, resolves them into these named
values, and hands them down: the training code reads a field by its name,
never a position in a tuple, nor the estimator.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Scaling:
    """Column statistics that standardise inputs and targets, float64 arrays.

    The networks see ``(X - input_mean) / input_scale`` and learn
    ``(Y - target_mean) / target_scale``; with scaling off, means are zeros
    and scales ones. For ``target_scaling="minmax"`` the target mean and scale
    are the columns' minima and ranges.
    """

    input_mean: np.ndarray
    input_scale: np.ndarray
    target_mean: np.ndarray
    target_scale: np.ndarray


@dataclasses.dataclass(frozen=True)
class MemberSeeds:
    """Seeds of one ensemble member.

    ``networks`` has one seed per block of targets (weight initialisation,
    dropout, shuffling); ``split`` draws the member's validation rows.
    """

    networks: tuple[int, ...]
    split: int

    @classmethod
    def from_row(cls, row):
        """From a row of drawn seeds: the networks', then the split's (checkpoints store rows)."""
        row = [int(seed) for seed in row]
        return cls(tuple(row[:-1]), row[-1])

    def as_row(self):
        """The row :meth:`from_row` reads."""
        return [*self.networks, self.split]


@dataclasses.dataclass(frozen=True, eq=False)
class Network:
    """One network of the fit: the block of targets it predicts and its module.

    ``columns`` are the target columns it predicts (None for a network rebuilt
    from a model file, which needs only its size); ``module_kwargs`` are the
    module's arguments besides ``n_in`` and ``n_out``, its width among them,
    solved once for the fit.
    """

    columns: np.ndarray | None
    n_in: int
    n_out: int
    module: type
    module_kwargs: dict


@dataclasses.dataclass(frozen=True, eq=False)
class FitPlan:
    """Everything a ``fit`` resolves from its parameters and data before it trains.

    Parameters
    ----------
    settings : sklearn_dgex._fit.settings.Settings
        The values of the parameters that may be "auto" (linear path, early
        stopping, epochs, batch size, ensemble size, torch threads, default
        budget width); the fitted model keeps them.
    networks : tuple of Network
        One network per block of targets (``n_target_splits``), in column order.
    device : str
        The torch device, resolved ("cpu", "cuda:0", ...).
    precision : str
        "float32", "tf32" or "bf16".
    validation_fraction : float or None
        Fraction of the rows each member holds out for validation when no
        ``X_val`` is given; None: no hold-out.
    scaling : Scaling
        Statistics of the inputs and targets (a warm start keeps the fitted ones).
    seeds : tuple of MemberSeeds
        One entry per ensemble member.
    warm : bool
        Whether the fit continues the fitted networks.
    """

    settings: object
    networks: tuple[Network, ...]
    device: str
    precision: str
    validation_fraction: float | None
    scaling: Scaling
    seeds: tuple[MemberSeeds, ...]
    warm: bool
