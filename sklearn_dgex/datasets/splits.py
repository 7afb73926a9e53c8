"""Train / validation / test splits in the D-GEX study's proportions, optionally by group."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state, indexable
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import _num_samples

__all__ = ["STUDY_SPLIT", "train_val_test_split"]

# Profiles per split in the D-GEX studies (the D-GEX tower study, "Data"):
# 88,256 / 18,895 / 18,951 of 126,102, i.e. about 70 / 15 / 15 %.
STUDY_SPLIT = {"train": 88_256, "val": 18_895, "test": 18_951}

_SIZE = [Interval(Real, 0, 1, closed="neither"), Interval(Integral, 1, None, closed="left")]


@validate_params(
    {
        "val_size": _SIZE,
        "test_size": _SIZE,
        "groups": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def train_val_test_split(*arrays, val_size=0.15, test_size=0.15, groups=None, random_state=None):
    """Split arrays into shuffled train, validation and test subsets.

    The defaults give the D-GEX study's 70 / 15 / 15 % (its 88,256 / 18,895
    / 18,951 of 126,102 profiles; pass ``val_size=18_895,
    test_size=18_951`` to reproduce those counts on 126,102 samples). With
    ``groups`` (a subject, series or batch per sample) whole groups are
    assigned to one split, so no group straddles two; the sizes are then met
    as closely as the group sizes allow.

    Parameters
    ----------
    *arrays : sequence of indexables with the same first dimension
        Lists, numpy arrays, scipy-sparse matrices or pandas DataFrames.
    val_size : float or int, default=0.15
        Fraction (in (0, 1)) or number of samples for validation.
    test_size : float or int, default=0.15
        Fraction (in (0, 1)) or number of samples for testing.
    groups : array-like of shape (n_samples,), default=None
        Group label of every sample; samples of one group stay together.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling.

    Returns
    -------
    splitting : list of length 3 * len(arrays)
        ``[a_train, a_val, a_test, b_train, b_val, b_test, ...]``, each in
        the type of its input, rows in shuffled order.

    Raises
    ------
    ValueError
        If a split would be empty, or there are fewer than 3 groups.

    See Also
    --------
    sklearn.model_selection.train_test_split : The two-way version.
    sklearn.model_selection.GroupShuffleSplit : Group-aware
        cross-validation splits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.datasets import train_val_test_split
    >>> X, Y = np.arange(200).reshape(100, 2), np.arange(100)
    >>> X_tr, X_va, X_te, Y_tr, Y_va, Y_te = train_val_test_split(
    ...     X, Y, random_state=0)
    >>> len(Y_tr), len(Y_va), len(Y_te)
    (70, 15, 15)
    >>> groups = np.repeat(np.arange(20), 5)
    >>> g_tr, g_va, g_te = train_val_test_split(groups, groups=groups, random_state=0)
    >>> set(g_tr) & set(g_te), set(g_va) & set(g_te)
    (set(), set())
    """
    if not arrays:
        raise ValueError("train_val_test_split needs at least one array.")
    arrays = indexable(*arrays)
    n_samples = _num_samples(arrays[0])
    rng = check_random_state(random_state)
    n_val = _n_of(val_size, n_samples, "val_size")
    n_test = _n_of(test_size, n_samples, "test_size")
    if n_val + n_test >= n_samples:
        raise ValueError(
            f"val_size={val_size!r} and test_size={test_size!r} leave no training samples "
            f"out of {n_samples}."
        )
    if groups is None:
        train, val, test = _split_samples(rng, n_samples, n_val, n_test)
    else:
        train, val, test = _split_groups(rng, _checked_groups(groups, n_samples), n_val, n_test)
    return [_take(array, idx) for array in arrays for idx in (train, val, test)]


def _n_of(size, n_samples, name):
    if isinstance(size, Real) and not isinstance(size, Integral):
        n = int(np.ceil(size * n_samples))
    else:
        n = int(size)
    if n < 1 or n >= n_samples:
        raise ValueError(f"{name}={size!r} gives {n} of {n_samples} samples; need 1..n-1.")
    return n


def _split_samples(rng, n_samples, n_val, n_test):
    order = rng.permutation(n_samples)
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def _checked_groups(groups, n_samples):
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n_samples:
        raise ValueError(
            f"groups must be 1-D with one label per sample ({n_samples}), got shape {groups.shape}."
        )
    return groups


def _split_groups(rng, groups, n_val, n_test):
    labels, codes, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if len(labels) < 3:
        raise ValueError(f"groups has {len(labels)} distinct label(s); need at least 3.")
    order = rng.permutation(len(labels))
    # Lay the shuffled groups end to end and cut at the wanted counts; a
    # group goes to the split that holds its midpoint, so each split misses
    # its size by at most half a group at each cut.
    end = np.cumsum(sizes[order])
    midpoint = end - sizes[order] / 2.0
    split_of_group = np.empty(len(labels), dtype=np.intp)
    split_of_group[order] = np.where(
        midpoint < n_test, 2, np.where(midpoint < n_test + n_val, 1, 0)
    )
    split = split_of_group[codes]
    for label, name in ((0, "train"), (1, "validation"), (2, "test")):
        if not np.any(split == label):
            raise ValueError(
                f"the {name} split is empty: the groups are too few or too large "
                "for the requested sizes."
            )
    # Shuffled within each split too, as sklearn's train_test_split does.
    return tuple(rng.permutation(np.flatnonzero(split == label)) for label in (0, 1, 2))


def _take(array, idx):
    from sklearn.utils import _safe_indexing

    return _safe_indexing(array, idx)
