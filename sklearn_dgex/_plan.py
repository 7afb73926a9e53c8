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
