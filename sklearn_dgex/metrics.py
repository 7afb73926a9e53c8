"""Error metrics for gene-expression inference.

The D-GEX study judges a model by its MMAE, the mean over samples of each
sample's mean absolute error over the target genes (equation (2) of
Kunc & Kléma); the flexible-MLP study by its RMSE. Both, their per-sample and
per-gene breakdowns, a per-gene Pearson correlation and scikit-learn scorers
live here.

Conventions shared by every function in this module:

* ``y_true`` and ``y_pred`` are ``(n_samples, n_genes)`` arrays (rows are
  expression profiles, columns target genes). A 1-D array is read as
  ``(n_samples,)``, one gene, as in scikit-learn.
* ``sample_weight`` weights samples (rows) and ``multioutput`` weights genes
  (columns), with scikit-learn's meaning.
* Sums run over row blocks of about a million entries and accumulate in
  float64, so float32 predictions of 19,000 profiles x 9,518 genes are scored
  without a full-size float64 temporary.
* Bad input raises a ``ValueError`` naming the argument: mismatched shapes,
  NaN or infinite values, empty arrays, more than two dimensions, non-numeric
  data.

This module imports numpy, scipy and scikit-learn only (never torch), so it
can score predictions of any model.
"""

from numbers import Real

import numpy as np
from sklearn.metrics import make_scorer
from sklearn.utils import check_array

__all__ = [
    "epochs_to_threshold",
    "mmae",
    "mmae_scorer",
    "per_gene_mae",
    "per_gene_pearson",
    "per_sample_mae",
    "rmse",
    "rmse_scorer",
    "share_of_genes_better",
]

# Entries per row block: 2**20 float64 values are 8 MiB, small enough to be
# cache- and memory-friendly, large enough that the Python loop is negligible.
_BLOCK_ENTRIES = 1 << 20


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------
def _as_numeric_array(values, name):
    """Return ``values`` as a float32 or float64 ndarray, or raise naming ``name``."""
    try:
        array = check_array(
            values,
            input_name=name,
            ensure_2d=False,
            allow_nd=True,
            dtype=(np.float64, np.float32),
            ensure_all_finite=False,
            ensure_min_samples=0,
            ensure_min_features=0,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be read as a real-valued numeric array: {exc}") from exc
    return array


def _check_finite(array, name):
    # A sum is a cheap first test (no boolean temporary of the array's size);
    # only when it is not finite do we count, which may also reveal that the
    # sum merely overflowed.
    if np.isfinite(np.sum(array, dtype=np.float64)):
        return
    n_nan = int(np.count_nonzero(np.isnan(array)))
    n_inf = int(np.count_nonzero(np.isinf(array)))
    if n_nan or n_inf:
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s); metrics need "
            "finite values (drop or impute the missing entries first)."
        )


def _check_matrix(values, name):
    """Validate one target array and return it as 2-D ``(n_samples, n_genes)``."""
    array = _as_numeric_array(values, name)
    if array.ndim == 0 or array.ndim > 2:
        raise ValueError(
            f"{name} must be 1-D (n_samples,) or 2-D (n_samples, n_genes); "
            f"got an array of shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(
            f"{name} is empty (shape {array.shape}); at least one sample and one gene are needed."
        )
    _check_finite(array, name)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def _check_targets(y_true, y_pred):
    """Validate a pair of target arrays; return both as 2-D arrays of equal shape."""
    y_true_2d = _check_matrix(y_true, "y_true")
    y_pred_2d = _check_matrix(y_pred, "y_pred")
    if y_true_2d.shape != y_pred_2d.shape:
        raise ValueError(
            "y_true and y_pred must have the same shape; got y_true "
            f"{np.shape(y_true)} and y_pred {np.shape(y_pred)}."
        )
    return y_true_2d, y_pred_2d


def _check_weights(weights, length, name, what):
    """Validate non-negative finite weights of a given length with a positive sum."""
    weights = _as_numeric_array(weights, name).astype(np.float64, copy=False)
    if weights.ndim != 1 or weights.shape[0] != length:
        raise ValueError(
            f"{name} must be a 1-D array with one weight per {what} ({length}); "
            f"got shape {weights.shape}."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if np.any(weights < 0):
        raise ValueError(f"{name} must be non-negative; got a minimum of {weights.min()}.")
    if not weights.sum() > 0:
        raise ValueError(f"{name} must have a positive sum; all weights are zero.")
    return weights


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return None
    return _check_weights(sample_weight, n_samples, "sample_weight", "sample (row)")


def _check_multioutput(multioutput, n_genes, allowed):
    """Return ``"raw_values"``, ``None`` (uniform) or an array of gene weights."""
    if isinstance(multioutput, str):
        if multioutput not in allowed:
            raise ValueError(
                f"multioutput must be one of {sorted(allowed)} or an array of {n_genes} "
                f"gene weights; got {multioutput!r}."
            )
        return None if multioutput == "uniform_average" else multioutput
    return _check_weights(multioutput, n_genes, "multioutput", "gene (column)")


def _row_blocks(n_rows, n_cols):
    """Yield row slices covering ``n_rows`` with about ``_BLOCK_ENTRIES`` entries each."""
    rows_per_block = max(1, _BLOCK_ENTRIES // max(n_cols, 1))
    for start in range(0, n_rows, rows_per_block):
        yield slice(start, min(start + rows_per_block, n_rows))


def _average(values, weights):
    return float(np.average(values, weights=weights))


# --------------------------------------------------------------------------
# Per-sample and per-gene errors
# --------------------------------------------------------------------------
def _per_sample_abs_error(y_true, y_pred, gene_weight):
    out = np.empty(y_true.shape[0], dtype=np.float64)
    for rows in _row_blocks(*y_true.shape):
        abs_err = np.abs(y_true[rows] - y_pred[rows])
        if gene_weight is None:
            out[rows] = abs_err.mean(axis=1, dtype=np.float64)
        else:
            out[rows] = abs_err @ gene_weight / gene_weight.sum()
    return out


def _per_gene_power_error(y_true, y_pred, sample_weight, power):
    """Weighted mean over samples of ``|y_true - y_pred| ** power``, per gene."""
    total = np.zeros(y_true.shape[1], dtype=np.float64)
    for rows in _row_blocks(*y_true.shape):
        err = np.abs(y_true[rows] - y_pred[rows])
        if power == 2:
            err = np.square(err, dtype=np.float64)
        if sample_weight is None:
            total += err.sum(axis=0, dtype=np.float64)
        else:
            total += sample_weight[rows] @ err
    normaliser = y_true.shape[0] if sample_weight is None else sample_weight.sum()
    return total / normaliser


def per_sample_mae(y_true, y_pred, *, multioutput="uniform_average"):
    """Mean absolute error of each sample (profile) over the genes.

    These are the "MAEs of individual samples" on which the D-GEX study runs
    its Wilcoxon tests and bootstrap; their mean is the MMAE.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_genes) or (n_samples,)
        Measured expression.
    y_pred : array-like of shape (n_samples, n_genes) or (n_samples,)
        Predicted expression.
    multioutput : {"uniform_average"} or array-like of shape (n_genes,), \
            default="uniform_average"
        How to average over genes: uniformly (equation (2)) or with
        non-negative gene weights.

    Returns
    -------
    errors : ndarray of shape (n_samples,)
        Per-sample mean absolute error, float64.

    See Also
    --------
    per_gene_mae : The other breakdown, one value per gene.
    mmae : The mean of these errors.
    sklearn_dgex.stats.paired_wilcoxon : Compare two models on these errors.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.metrics import per_sample_mae
    >>> y_true = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> y_pred = np.array([[1.0, 2.0, 6.0], [4.0, 4.0, 6.0]])
    >>> per_sample_mae(y_true, y_pred).tolist()
    [1.0, 0.3333333333333333]
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    gene_weight = _check_multioutput(multioutput, y_true.shape[1], {"uniform_average"})
    return _per_sample_abs_error(y_true, y_pred, gene_weight)


def per_gene_mae(y_true, y_pred, *, sample_weight=None):
    """Mean absolute error of each gene over the samples.

    Equal to ``sklearn.metrics.mean_absolute_error(..., multioutput="raw_values")``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_genes) or (n_samples,)
        Measured expression.
    y_pred : array-like of shape (n_samples, n_genes) or (n_samples,)
        Predicted expression.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights; the mean over samples is weighted.

    Returns
    -------
    errors : ndarray of shape (n_genes,)
        Per-gene mean absolute error, float64 (shape ``(1,)`` for 1-D input).

    See Also
    --------
    share_of_genes_better : Compare two models gene by gene.
    per_gene_pearson : Per-gene correlation instead of error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.metrics import per_gene_mae
    >>> y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> y_pred = np.array([[1.5, 2.0], [3.5, 3.0]])
    >>> per_gene_mae(y_true, y_pred).tolist()
    [0.5, 0.5]
    >>> per_gene_mae(y_true, y_pred, sample_weight=[3, 1]).tolist()
    [0.5, 0.25]
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    sample_weight = _check_sample_weight(sample_weight, y_true.shape[0])
    return _per_gene_power_error(y_true, y_pred, sample_weight, power=1)


# --------------------------------------------------------------------------
# Aggregate metrics
# --------------------------------------------------------------------------
def mmae(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean of the per-sample mean absolute errors (MMAE), equation (2) of the D-GEX study.

    .. math::

        \mathrm{MMAE} = \frac{1}{|S|} \sum_{s \in S} \frac{1}{|G|}
                        \sum_{g \in G} \left| y(g, s) - \hat y(g, s) \right|

    With ``sample_weight`` the outer mean is a weighted mean over samples; with
    gene weights in ``multioutput`` the inner mean is a weighted mean over
    genes. With uniform weights over genes the MMAE equals the mean absolute
    error over all entries, so ``mmae`` agrees exactly with
    :func:`sklearn.metrics.mean_absolute_error` for every ``sample_weight`` and
    ``multioutput``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_genes) or (n_samples,)
        Measured expression.
    y_pred : array-like of shape (n_samples, n_genes) or (n_samples,)
        Predicted expression.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    multioutput : {"uniform_average", "raw_values"} or array-like, default="uniform_average"
        ``"uniform_average"``: equation (2); ``"raw_values"``: the per-gene
        errors (as :func:`per_gene_mae`); an array of shape (n_genes,):
        non-negative gene weights.

    Returns
    -------
    mmae : float or ndarray of shape (n_genes,)
        Lower is better; 0 is perfect.

    See Also
    --------
    per_sample_mae : The per-sample errors averaged here.
    mmae_scorer : Scorer for model selection.
    sklearn_dgex.stats.bootstrap_ci : Confidence interval of the MMAE.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.metrics import mmae
    >>> y_true = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> y_pred = np.array([[1.0, 2.0, 6.0], [4.0, 4.0, 6.0]])
    >>> round(mmae(y_true, y_pred), 4)
    0.6667
    >>> round(mmae(y_true, y_pred, sample_weight=[1, 3]), 4)
    0.5
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    sample_weight = _check_sample_weight(sample_weight, y_true.shape[0])
    gene_weight = _check_multioutput(
        multioutput, y_true.shape[1], {"uniform_average", "raw_values"}
    )
    if isinstance(gene_weight, str):
        return _per_gene_power_error(y_true, y_pred, sample_weight, power=1)
    return _average(_per_sample_abs_error(y_true, y_pred, gene_weight), sample_weight)


def rmse(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Root mean squared error: the square root of the mean squared error over all entries.

    .. math::

        \mathrm{RMSE} = \sqrt{\frac{1}{|S|\,|G|} \sum_{s \in S} \sum_{g \in G}
                        \left( y(g, s) - \hat y(g, s) \right)^2}

    This is the RMSE of the flexible-MLP study (the square root of the mean
    squared error loss over a whole prediction matrix). The mean squared error
    is aggregated first (over genes, by ``multioutput``; over samples, by
    ``sample_weight``) and the root taken last.

    Relation to scikit-learn: per gene (``multioutput="raw_values"``) and for a
    single gene this equals :func:`sklearn.metrics.root_mean_squared_error`.
    For several genes scikit-learn's ``"uniform_average"`` is the *mean of
    per-gene RMSEs*, which is never larger than this value (Jensen's
    inequality); get it with ``rmse(..., multioutput="raw_values").mean()``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_genes) or (n_samples,)
        Measured expression.
    y_pred : array-like of shape (n_samples, n_genes) or (n_samples,)
        Predicted expression.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    multioutput : {"uniform_average", "raw_values"} or array-like, default="uniform_average"
        ``"uniform_average"``: root of the mean over all entries;
        ``"raw_values"``: one RMSE per gene; an array of shape (n_genes,):
        root of the gene-weighted mean of the per-gene mean squared errors.

    Returns
    -------
    rmse : float or ndarray of shape (n_genes,)
        Lower is better; 0 is perfect.

    See Also
    --------
    rmse_scorer : Scorer for model selection.
    mmae : The D-GEX study's metric.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.metrics import rmse
    >>> y_true = np.array([[0.0, 0.0], [0.0, 0.0]])
    >>> y_pred = np.array([[3.0, 0.0], [0.0, 4.0]])
    >>> float(rmse(y_true, y_pred))  # sqrt((9 + 16) / 4)
    2.5
    >>> rmse(y_true, y_pred, multioutput="raw_values").round(3).tolist()
    [2.121, 2.828]
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    sample_weight = _check_sample_weight(sample_weight, y_true.shape[0])
    gene_weight = _check_multioutput(
        multioutput, y_true.shape[1], {"uniform_average", "raw_values"}
    )
    per_gene_mse = _per_gene_power_error(y_true, y_pred, sample_weight, power=2)
    if isinstance(gene_weight, str):
        return np.sqrt(per_gene_mse)
    return float(np.sqrt(_average(per_gene_mse, gene_weight)))


def per_gene_pearson(y_true, y_pred, *, sample_weight=None, constant_value=np.nan):
    """Pearson correlation between measured and predicted expression, per gene.

    A gene whose measured or predicted values are constant (over the samples
    with positive weight) has no defined correlation; it gets
    ``constant_value`` instead of a division by zero and no warning is
    emitted. Use ``constant_value=np.nan`` (default) to exclude such genes
    from a ``np.nanmean``, or ``0.0`` to count them as uninformative.
    Constancy is tested exactly (maximum equals minimum), so rounding in the
    mean of a constant column cannot produce a spurious correlation.

    Parameters
    ----------
    y_true : array-like of shape (n_samples, n_genes) or (n_samples,)
        Measured expression.
    y_pred : array-like of shape (n_samples, n_genes) or (n_samples,)
        Predicted expression.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights (weighted means and covariances).
    constant_value : float, default=np.nan
        Value reported for genes with a constant measured or predicted
        profile, including every gene when only one sample has weight.

    Returns
    -------
    r : ndarray of shape (n_genes,)
        Correlations in [-1, 1], float64.

    See Also
    --------
    per_gene_mae : Per-gene error.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.metrics import per_gene_pearson
    >>> y_true = np.array([[1.0, 5.0, 2.0], [2.0, 5.0, 4.0], [3.0, 5.0, 6.0]])
    >>> y_pred = np.array([[1.1, 1.0, 6.0], [2.0, 2.0, 4.0], [2.9, 3.0, 2.0]])
    >>> per_gene_pearson(y_true, y_pred).round(3).tolist()
    [1.0, nan, -1.0]
    >>> per_gene_pearson(y_true, y_pred, constant_value=0.0).round(3).tolist()
    [1.0, 0.0, -1.0]
    """
    y_true, y_pred = _check_targets(y_true, y_pred)
    sample_weight = _check_sample_weight(sample_weight, y_true.shape[0])
    if not isinstance(constant_value, Real):
        raise ValueError(f"constant_value must be a real number; got {constant_value!r}.")
    if sample_weight is not None:
        # Rows without weight neither move the means nor decide constancy.
        keep = sample_weight > 0
        y_true, y_pred, sample_weight = y_true[keep], y_pred[keep], sample_weight[keep]

    mean_true = _weighted_column_mean(y_true, sample_weight)
    mean_pred = _weighted_column_mean(y_pred, sample_weight)
    n_genes = y_true.shape[1]
    s_tt, s_pp, s_tp = (np.zeros(n_genes) for _ in range(3))
    for rows in _row_blocks(*y_true.shape):
        true_c = y_true[rows] - mean_true
        pred_c = y_pred[rows] - mean_pred
        weighted_true = true_c if sample_weight is None else true_c * sample_weight[rows, None]
        weighted_pred = pred_c if sample_weight is None else pred_c * sample_weight[rows, None]
        s_tt += np.einsum("ij,ij->j", weighted_true, true_c)
        s_pp += np.einsum("ij,ij->j", weighted_pred, pred_c)
        s_tp += np.einsum("ij,ij->j", weighted_true, pred_c)
    constant = _is_constant(y_true) | _is_constant(y_pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = s_tp / np.sqrt(s_tt * s_pp)
    r = np.clip(r, -1.0, 1.0)
    r[constant] = constant_value
    return r


def _weighted_column_mean(y, sample_weight):
    total = np.zeros(y.shape[1], dtype=np.float64)
    for rows in _row_blocks(*y.shape):
        if sample_weight is None:
            total += y[rows].sum(axis=0, dtype=np.float64)
        else:
            total += sample_weight[rows] @ y[rows]
    return total / (y.shape[0] if sample_weight is None else sample_weight.sum())


def _is_constant(y):
    return np.max(y, axis=0) == np.min(y, axis=0)


# --------------------------------------------------------------------------
# Comparisons and training curves
# --------------------------------------------------------------------------
def _check_vector(values, name):
    array = _as_numeric_array(values, name).astype(np.float64, copy=False)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; at least one value is needed.")
    _check_finite(array, name)
    return array


def share_of_genes_better(err_model, err_baseline):
    """Fraction of genes on which a model's error is strictly below a baseline's.

    The D-GEX paper reports that its network beats linear regression on
    99.97% of the target genes; this is that number (as a fraction). Ties
    count as not better.

    Parameters
    ----------
    err_model : array-like of shape (n_genes,)
        Per-gene errors of the model, e.g. from :func:`per_gene_mae`.
    err_baseline : array-like of shape (n_genes,)
        Per-gene errors of the baseline on the same genes, in the same order.

    Returns
    -------
    share : float
        In [0, 1].

    See Also
    --------
    per_gene_mae : Per-gene errors to compare.

    Examples
    --------
    >>> from sklearn_dgex.metrics import share_of_genes_better
    >>> share_of_genes_better([0.10, 0.20, 0.30, 0.40], [0.15, 0.25, 0.30, 0.35])
    0.5
    """
    err_model = _check_vector(err_model, "err_model")
    err_baseline = _check_vector(err_baseline, "err_baseline")
    if err_model.shape != err_baseline.shape:
        raise ValueError(
            "err_model and err_baseline must have one error per gene for the same genes; "
            f"got {err_model.shape[0]} and {err_baseline.shape[0]} values."
        )
    return float(np.mean(err_model < err_baseline))


def epochs_to_threshold(curve, threshold):
    """First epoch (1-based) at which a per-epoch error curve is at or below a threshold.

    The flexible-MLP study's convergence speed: e.g. 103 epochs to reach a
    validation RMSE of 0.08 against 175 for the baseline. Epochs whose value
    is missing (``None`` or NaN, e.g. no validation that epoch) never count
    as reaching it.

    Parameters
    ----------
    curve : array-like of shape (n_epochs,)
        Error after each epoch, first epoch first.
    threshold : float
        Error to reach.

    Returns
    -------
    epoch : int or None
        The 1-based epoch, or ``None`` if the curve never reaches the
        threshold (also for an empty curve).

    See Also
    --------
    rmse : The error usually tracked per epoch.

    Examples
    --------
    >>> from sklearn_dgex.metrics import epochs_to_threshold
    >>> epochs_to_threshold([0.12, 0.095, 0.081, 0.079, 0.08], 0.08)
    4
    >>> epochs_to_threshold([0.12, 0.095], 0.08) is None
    True
    """
    if not isinstance(threshold, Real) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite real number; got {threshold!r}.")
    try:
        values = np.asarray(curve, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"curve must be a 1-D sequence of numbers: {exc}") from exc
    if values.ndim != 1:
        raise ValueError(f"curve must be 1-D (one value per epoch); got shape {values.shape}.")
    reached = np.flatnonzero(values <= threshold)  # NaN compares False: never reached
    return int(reached[0]) + 1 if reached.size else None


# --------------------------------------------------------------------------
# Scorers
# --------------------------------------------------------------------------
#: Scorer for :func:`mmae`; returns ``-mmae`` because scikit-learn maximises scores.
mmae_scorer = make_scorer(mmae, greater_is_better=False)

#: Scorer for :func:`rmse`; returns ``-rmse`` because scikit-learn maximises scores.
rmse_scorer = make_scorer(rmse, greater_is_better=False)
