"""Checks of a fit's inputs whose errors name the argument and say what was expected.

Private module of the estimators (see :mod:`sklearn_dgex._base`):
:func:`check_real_numbers`, :func:`validate_allowing_nan_targets`,
:func:`check_enough_samples` and the others raise where scikit-learn's own
messages do not name the argument or the expectation. They get the
estimator's parameters, never its private state.
"""

import numpy as np
import scipy.sparse
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

_FLOAT_DTYPES = (np.float64, np.float32)
_MAX_NAMES_SHOWN = 5


def _shown(names):
    names = [str(name) for name in names]
    shown = ", ".join(repr(name) for name in names[:_MAX_NAMES_SHOWN])
    more = len(names) - _MAX_NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _is_complex_dtype(dtype):
    return getattr(dtype, "kind", None) == "c"


def _non_numeric_columns(frame):
    """Columns of a DataFrame that cannot be read as real numbers."""
    import pandas as pd  # only DataFrames get here, so pandas is installed

    bad = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or (
            pd.api.types.is_numeric_dtype(column) and not _is_complex_dtype(column.dtype)
        ):
            continue
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            converted = pd.to_numeric(column, errors="coerce")
            if not (converted.isna() & column.notna()).any():
                continue  # numbers stored as objects or text convert fine
        bad.append(name)
    return bad


def check_real_numbers(value, name):
    """Raise a clear error unless ``value`` holds real numbers in a dense array.

    scikit-learn's own checks say "could not convert string to float" or
    "Complex data not supported" followed by the whole array, without saying
    which argument was wrong; these messages name it. ``X``'s sparse check is
    left to scikit-learn, whose message names ``X``.
    """
    if value is None:
        return
    if scipy.sparse.issparse(value):
        if name != "X":
            raise TypeError(
                f"Sparse data was passed for {name}, but dense data is required. "
                "Use '.toarray()' to convert to a dense numpy array."
            )
        return
    if hasattr(value, "columns") and hasattr(value, "dtypes"):  # a DataFrame
        repeated = value.columns[value.columns.duplicated()].unique()
        if len(repeated):
            raise ValueError(
                f"{name} has repeated column names {_shown(repeated)}; each column must be "
                "one feature (or target). Aggregate or rename the repeated columns."
            )
        complex_columns = [c for c, d in zip(value.columns, value.dtypes) if _is_complex_dtype(d)]
        if complex_columns:
            raise ValueError(
                f"Complex data not supported: {name} must hold real numbers, but its columns "
                f"{_shown(complex_columns)} hold complex numbers."
            )
        bad = _non_numeric_columns(value)
        if bad:
            raise ValueError(
                f"{name} must hold numbers (e.g. log2 expression), but its columns "
                f"{_shown(bad)} hold non-numeric values. Drop identifier columns such as "
                "gene symbols, or make them the index."
            )
        return
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (ValueError, TypeError):
            return  # ragged nested lists: scikit-learn's message is clear
    if dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} must hold real numbers, but it holds "
            f"complex numbers (dtype {dtype})."
        )
    if dtype.kind in "OSU":
        try:
            np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as exc:  # the same type as numpy's, worded for users
            raise type(exc)(
                f"{name} must hold numbers (e.g. log2 expression), but it holds values that "
                f"are not numbers: {exc}."
            ) from exc


def check_has_targets(y, name):
    """A ``y`` of zero columns is an error about targets, not about "0 feature(s)"."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.shape(y)
        except (ValueError, TypeError):  # ragged lists, array-likes without shape: left to
            return  # scikit-learn's validation, whose message is clear
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(f"{name} has no target columns (shape {tuple(shape)}); give at least one.")


def check_batch_norm_batches(batch_norm, n_train, batch_size):
    """Batch normalisation trains on batches of at least two rows."""
    if batch_norm and min(n_train, batch_size) < 2:
        raise ValueError(
            f"batch_norm=True needs training batches of at least 2 rows, but batch_size="
            f"{batch_size} and {n_train} training row(s) give batches of one row; use a "
            "larger batch_size, more samples or batch_norm=False."
        )


def validate_allowing_nan_targets(estimator, X, y, reset):
    """``validate_data`` for ``allow_nan_targets=True``: NaN allowed in ``y`` only.

    Infinite targets stay errors, and every target must be observed in at
    least one sample (its scaling statistics and its loss need one).
    """
    if y is None:
        raise ValueError(
            f"This {type(estimator).__name__} estimator requires y to be passed, "
            "but the target y is None."
        )
    X = validate_data(estimator, X, reset=reset, dtype=_FLOAT_DTYPES)
    y = check_array(
        y,
        ensure_2d=False,
        dtype=_FLOAT_DTYPES,
        ensure_all_finite="allow-nan",
        input_name="y",
        estimator=estimator,
    )
    check_consistent_length(X, y)
    missing = np.isnan(y.reshape(len(y), -1)).all(axis=0)
    if missing.any():
        raise ValueError(
            f"allow_nan_targets=True, but y has target column(s) {_shown(np.flatnonzero(missing))} "
            "without any observed (non-NaN) value; drop them before fitting."
        )
    return X, y


def check_enough_samples(name, n_samples):
    """A network needs two samples: one gives no scale to standardise by, nor a batch."""
    if n_samples < 2:
        raise ValueError(
            f"{name} needs at least 2 samples to fit, got "
            f"n_samples={n_samples}: scaling statistics and training batches need more than "
            "one sample."
        )
