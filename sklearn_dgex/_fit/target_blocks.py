"""The blocks of targets that the networks of a model predict (``n_target_splits``).

One rule, shared by ``fit`` and the model file's checks: ``numpy.array_split``
of the target columns, in column order.
"""

import numpy as np


def split_columns(n_out, n_splits):
    """The target columns of each network: ``n_splits`` contiguous blocks of ``range(n_out)``."""
    return np.array_split(np.arange(n_out), n_splits)


def split_sizes(n_out, n_splits):
    """The number of targets of each network."""
    return [len(columns) for columns in split_columns(n_out, n_splits)]
