"""Significance tests and confidence intervals for comparing expression models.

The D-GEX study compares models on the mean absolute errors of individual
samples (:func:`sklearn_dgex.metrics.per_sample_mae`): a paired Wilcoxon
signed-rank test for each pair of models at a significance level of
alpha = 1e-4 (its Figs. 5 and 6), a paired t-test beside the Wilcoxon test
for its best network against the earlier one, and a bootstrap with 1e5
resamples for the 95% confidence interval of the MMAE. This module provides
all three, in plain numpy and scipy (never torch).
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import scipy.stats
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = [
    "BootstrapCI",
    "PairwiseWilcoxonResult",
    "TTestResult",
    "WilcoxonResult",
    "bootstrap_ci",
    "paired_ttest",
    "paired_wilcoxon",
    "pairwise_wilcoxon",
]

_ALTERNATIVES = ("two-sided", "less", "greater")
_CORRECTIONS = (None, "bonferroni", "holm")


def _check_errors(values, name):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers: {exc}") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one error per sample); got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; at least one sample is needed.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def _check_paired_errors(err_a, err_b):
    """Both models' per-sample errors, checked, as float64 arrays of the same samples."""
    err_a = _check_errors(err_a, "err_a")
    err_b = _check_errors(err_b, "err_b")
    if err_a.shape != err_b.shape:
        raise ValueError(
            "err_a and err_b must hold the errors of the same samples; got "
            f"{err_a.size} and {err_b.size} values."
        )
    return err_a, err_b


# --------------------------------------------------------------------------
# Paired Wilcoxon signed-rank test
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class WilcoxonResult:
    """Result of :func:`paired_wilcoxon`.

    Attributes
    ----------
    statistic : float
        scipy's Wilcoxon statistic (the smaller rank sum for a two-sided
        test, the rank sum of positive differences ``err_a - err_b`` for a
        one-sided one).
    pvalue : float
        p-value of the test (1.0 when every difference is zero).
    median_difference : float
        Median of ``err_a - err_b``; negative when ``a`` tends to err less.
    rank_biserial : float
        Matched-pairs rank-biserial correlation ``(R+ - R-) / (R+ + R-)`` of
        ``err_a - err_b``, in [-1, 1]: the effect size, -1 when ``a`` is
        better on every sample, +1 when ``b`` is.
    better : {"a", "b"} or None
        The model with the smaller errors by the signed ranks (the direction
        the test measures), ``None`` on an exact tie. Says nothing about
        significance: compare ``pvalue`` with a level as well.
    n_samples : int
        Number of paired samples.
    alternative : str
        The alternative hypothesis tested.

    See Also
    --------
    paired_wilcoxon : Produces this result.

    Examples
    --------
    >>> from sklearn_dgex.stats import paired_wilcoxon
    >>> result = paired_wilcoxon([0.10, 0.12, 0.11, 0.13], [0.20, 0.22, 0.21, 0.23])
    >>> result.better, result.rank_biserial
    ('a', -1.0)
    """

    statistic: float
    pvalue: float
    median_difference: float
    rank_biserial: float
    better: str | None
    n_samples: int
    alternative: str

    def is_significant(self, alpha=1e-4):
        """Whether ``pvalue < alpha`` (the D-GEX study's level by default).

        Parameters
        ----------
        alpha : float, default=1e-4
            Significance level.

        Returns
        -------
        significant : bool

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.stats import paired_wilcoxon
        >>> rng = np.random.default_rng(0)
        >>> err_b = rng.gamma(4.0, 0.03, size=500)
        >>> paired_wilcoxon(err_b * 0.9, err_b).is_significant(alpha=1e-4)
        True
        """
        return bool(self.pvalue < alpha)


def _signed_rank_sums(differences):
    """Rank sums of positive and negative non-zero differences (Wilcoxon's zero handling)."""
    nonzero = differences[differences != 0]
    if nonzero.size == 0:
        return 0.0, 0.0
    ranks = scipy.stats.rankdata(np.abs(nonzero))
    positive = float(ranks[nonzero > 0].sum())
    return positive, float(ranks.sum()) - positive


def paired_wilcoxon(err_a, err_b, *, alternative="two-sided"):
    """Wilcoxon signed-rank test on paired per-sample errors of two models.

    The test of the D-GEX study: do two models, evaluated on the same
    samples, differ in their per-sample errors? Samples are assumed
    independent; zero differences are dropped (scipy's ``zero_method="wilcox"``)
    and scipy chooses the exact or the normal-approximation p-value.

    Parameters
    ----------
    err_a : array-like of shape (n_samples,)
        Per-sample errors of model ``a``, e.g. from
        :func:`sklearn_dgex.metrics.per_sample_mae`.
    err_b : array-like of shape (n_samples,)
        Per-sample errors of model ``b`` on the same samples, in the same order.
    alternative : {"two-sided", "less", "greater"}, default="two-sided"
        ``"less"``: ``a``'s errors tend to be smaller than ``b``'s.

    Returns
    -------
    result : WilcoxonResult
        Statistic, p-value, median difference, effect size and the better model.

    See Also
    --------
    pairwise_wilcoxon : All pairs of several models.
    scipy.stats.wilcoxon : The underlying test.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import paired_wilcoxon
    >>> rng = np.random.default_rng(0)
    >>> err_b = rng.gamma(4.0, 0.03, size=1000)         # baseline MAEs per sample
    >>> err_a = err_b * 0.96 + rng.normal(0, 0.002, 1000)  # a model 4% better
    >>> result = paired_wilcoxon(err_a, err_b)
    >>> result.better, result.pvalue < 1e-4
    ('a', True)
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}; got {alternative!r}.")
    err_a, err_b = _check_paired_errors(err_a, err_b)
    differences = err_a - err_b
    r_plus, r_minus = _signed_rank_sums(differences)
    if r_plus + r_minus == 0:
        # Identical errors: no evidence either way (scipy would return NaN and warn).
        statistic, pvalue, rank_biserial = 0.0, 1.0, 0.0
    else:
        test = scipy.stats.wilcoxon(err_a, err_b, alternative=alternative)
        statistic, pvalue = float(test.statistic), float(test.pvalue)
        rank_biserial = (r_plus - r_minus) / (r_plus + r_minus)
    better = "b" if r_plus > r_minus else "a" if r_minus > r_plus else None
    return WilcoxonResult(
        statistic=statistic,
        pvalue=pvalue,
        median_difference=float(np.median(differences)),
        rank_biserial=float(rank_biserial),
        better=better,
        n_samples=int(err_a.size),
        alternative=alternative,
    )


# --------------------------------------------------------------------------
# Paired t-test
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class TTestResult:
    """Result of :func:`paired_ttest`.

    Attributes
    ----------
    statistic : float
        The t statistic of ``err_a - err_b`` (negative when ``a`` errs less on
        average), as :func:`scipy.stats.ttest_rel` computes it.
    pvalue : float
        p-value of the test (1.0 when every difference is zero).
    df : int
        Degrees of freedom, ``n_samples - 1``.
    mean_difference : float
        Mean of ``err_a - err_b``: the difference of the two models' MMAE
        when the errors are per-sample MAEs.
    better : {"a", "b"} or None
        The model with the smaller mean error, ``None`` on an exact tie. Says
        nothing about significance: compare ``pvalue`` with a level as well.
    n_samples : int
        Number of paired samples.
    alternative : str
        The alternative hypothesis tested.

    See Also
    --------
    paired_ttest : Produces this result.

    Examples
    --------
    >>> from sklearn_dgex.stats import paired_ttest
    >>> result = paired_ttest([0.10, 0.12, 0.11, 0.13], [0.20, 0.21, 0.23, 0.22])
    >>> result.better, result.df
    ('a', 3)
    """

    statistic: float
    pvalue: float
    df: int
    mean_difference: float
    better: str | None
    n_samples: int
    alternative: str

    def is_significant(self, alpha=1e-4):
        """Whether ``pvalue < alpha`` (the D-GEX study's level by default).

        Parameters
        ----------
        alpha : float, default=1e-4
            Significance level.

        Returns
        -------
        significant : bool

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.stats import paired_ttest
        >>> err_b = np.random.default_rng(0).gamma(4.0, 0.03, size=500)
        >>> paired_ttest(err_b * 0.9, err_b).is_significant(alpha=1e-6)
        True
        """
        return bool(self.pvalue < alpha)


@validate_params(
    {
        "err_a": ["array-like"],
        "err_b": ["array-like"],
        "alternative": [StrOptions(set(_ALTERNATIVES))],
    },
    prefer_skip_nested_validation=True,
)
def paired_ttest(err_a, err_b, *, alternative="two-sided"):
    """Paired t-test on per-sample errors of two models.

    The D-GEX study tested its best network (CR-D-GEX with five towers)
    against the earlier D-GEX with TAAFs with both the Wilcoxon signed-rank
    test (:func:`paired_wilcoxon`) and a t-test on the MAEs of individual
    samples, finding p < 1e-6. This is that t-test: the one-sample t-test of
    the paired differences ``err_a - err_b``, equal to
    :func:`scipy.stats.ttest_rel`. It compares the mean errors (the MMAEs),
    where the Wilcoxon test compares the signed ranks; with thousands of
    samples the means are close to normal whatever the errors' distribution.

    Parameters
    ----------
    err_a : array-like of shape (n_samples,)
        Per-sample errors of model ``a``, e.g. from
        :func:`sklearn_dgex.metrics.per_sample_mae`; at least two samples.
    err_b : array-like of shape (n_samples,)
        Per-sample errors of model ``b`` on the same samples, in the same order.
    alternative : {"two-sided", "less", "greater"}, default="two-sided"
        ``"less"``: ``a``'s mean error is smaller than ``b``'s.

    Returns
    -------
    result : TTestResult
        Statistic, p-value, degrees of freedom, mean difference and the
        better model. Identical errors give ``pvalue=1.0`` and
        ``better=None`` rather than scipy's NaN.

    Raises
    ------
    ValueError
        If an input is not 1-D, holds NaN or infinite values, has fewer than
        two samples, or the two differ in length.

    See Also
    --------
    paired_wilcoxon : The rank test the study reports beside it.
    scipy.stats.ttest_rel : The underlying test.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import paired_ttest
    >>> rng = np.random.default_rng(0)
    >>> err_b = rng.gamma(4.0, 0.03, size=1000)            # baseline MAEs per sample
    >>> err_a = err_b * 0.96 + rng.normal(0, 0.002, 1000)  # a model 4% better
    >>> result = paired_ttest(err_a, err_b)
    >>> result.better, result.pvalue < 1e-6, result.df
    ('a', True, 999)
    """
    err_a, err_b = _check_paired_errors(err_a, err_b)
    if err_a.size < 2:
        raise ValueError("A paired t-test needs at least two samples; got 1.")
    differences = err_a - err_b
    if not np.any(differences):
        # Identical errors: no evidence either way (scipy would return NaN and warn).
        statistic, pvalue = 0.0, 1.0
    else:
        test = scipy.stats.ttest_rel(err_a, err_b, alternative=alternative)
        statistic, pvalue = float(test.statistic), float(test.pvalue)
    mean_difference = float(np.mean(differences))
    better = "a" if mean_difference < 0 else "b" if mean_difference > 0 else None
    return TTestResult(
        statistic=statistic,
        pvalue=pvalue,
        df=int(err_a.size - 1),
        mean_difference=mean_difference,
        better=better,
        n_samples=int(err_a.size),
        alternative=alternative,
    )


# --------------------------------------------------------------------------
# All pairs of several models
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class PairwiseWilcoxonResult:
    """Result of :func:`pairwise_wilcoxon`: who is significantly better than whom.

    Matrices are indexed ``[row, column]`` in the order of ``names``.

    Attributes
    ----------
    names : tuple of str
        Model names, in the order of the input dict.
    significance : ndarray of int8, shape (n_models, n_models)
        +1 if the row model is significantly better (lower errors) than the
        column model, -1 if significantly worse, 0 if no significant
        difference (and on the diagonal). Antisymmetric. This is the matrix
        drawn in the D-GEX study's Figs. 5 and 6 (black, white, grey).
    pvalues : ndarray of float, shape (n_models, n_models)
        Two-sided Wilcoxon p-values, symmetric, NaN on the diagonal.
    adjusted_pvalues : ndarray of float, shape (n_models, n_models)
        p-values after ``correction`` (equal to ``pvalues`` without one);
        ``significance`` compares these with ``alpha``.
    median_difference : ndarray of float, shape (n_models, n_models)
        Median of (row errors - column errors); antisymmetric.
    alpha : float
        Significance level.
    correction : {None, "bonferroni", "holm"}
        Multiple-testing correction applied over the ``n(n-1)/2`` pairs.

    See Also
    --------
    pairwise_wilcoxon : Produces this result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import pairwise_wilcoxon
    >>> rng = np.random.default_rng(0)
    >>> base = rng.gamma(4.0, 0.03, size=400)
    >>> result = pairwise_wilcoxon({"good": 0.9 * base, "bad": 1.1 * base})
    >>> result.significance.tolist()
    [[0, 1], [-1, 0]]
    >>> result.wins()
    {'good': 1, 'bad': 0}
    """

    names: tuple
    significance: np.ndarray = field(repr=False)
    pvalues: np.ndarray = field(repr=False)
    adjusted_pvalues: np.ndarray = field(repr=False)
    median_difference: np.ndarray = field(repr=False)
    alpha: float
    correction: str | None

    def wins(self):
        """Number of models each model is significantly better than.

        Returns
        -------
        wins : dict of str to int
            In the order of ``names``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.stats import pairwise_wilcoxon
        >>> base = np.random.default_rng(1).gamma(4.0, 0.03, size=300)
        >>> pairwise_wilcoxon({"a": base, "b": 1.2 * base, "c": 1.5 * base}).wins()
        {'a': 2, 'b': 1, 'c': 0}
        """
        counts = (self.significance == 1).sum(axis=1)
        return {name: int(count) for name, count in zip(self.names, counts)}

    def to_frame(self, values="significance"):
        """The chosen matrix as a labelled ``pandas.DataFrame`` (needs pandas).

        Parameters
        ----------
        values : {"significance", "pvalues", "adjusted_pvalues", "median_difference"}, \
                default="significance"
            Which matrix.

        Returns
        -------
        frame : pandas.DataFrame
            Rows and columns are the model names.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.stats import pairwise_wilcoxon
        >>> base = np.random.default_rng(0).gamma(4.0, 0.03, size=200)
        >>> pairwise_wilcoxon({"x": base, "y": 2 * base}).to_frame().loc["x", "y"]
        np.int8(1)
        """
        choices = ("significance", "pvalues", "adjusted_pvalues", "median_difference")
        if values not in choices:
            raise ValueError(f"values must be one of {choices}; got {values!r}.")
        import pandas as pd  # optional dependency, only for this convenience

        names = list(self.names)
        return pd.DataFrame(getattr(self, values), index=names, columns=names)


def _adjust_pvalues(pvalues, correction):
    """Family-wise corrections over a 1-D array of p-values."""
    m = pvalues.size
    if correction is None or m == 0:
        return pvalues.copy()
    if correction == "bonferroni":
        return np.minimum(1.0, pvalues * m)
    # Holm's step-down: the i-th smallest p-value is multiplied by (m - i),
    # then made monotone so that a larger p-value is never adjusted below a smaller one.
    order = np.argsort(pvalues, kind="stable")
    stepped = np.maximum.accumulate(pvalues[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, stepped)
    return adjusted


def pairwise_wilcoxon(errors, alpha=1e-4, *, correction=None):
    """Two-sided paired Wilcoxon tests between every pair of models.

    Reproduces the D-GEX study's Figs. 5 and 6: each pair of models is
    compared on their per-sample errors (same samples, same order) and the
    row model is declared better (+1) or worse (-1) than the column model
    when the two-sided p-value is below ``alpha``, in the direction of the
    signed ranks; otherwise 0.

    The study used ``alpha = 1e-4`` per pair without correction, a strict
    level that keeps the family-wise error small for its 36 pairs (at most
    36 x 1e-4 = 0.36% by Bonferroni's bound). Pass ``correction="holm"``
    (uniformly more powerful than Bonferroni, same guarantee) to control
    the family-wise error rate formally.

    Parameters
    ----------
    errors : dict of str to array-like of shape (n_samples,)
        Per-sample errors of each model, e.g. from
        :func:`sklearn_dgex.metrics.per_sample_mae`; at least two models.
    alpha : float, default=1e-4
        Significance level, in (0, 1).
    correction : {None, "bonferroni", "holm"}, default=None
        Multiple-testing correction over the ``n_models * (n_models - 1) / 2``
        pairs.

    Returns
    -------
    result : PairwiseWilcoxonResult
        Names, the significance matrix, raw and adjusted p-values, median
        differences.

    See Also
    --------
    paired_wilcoxon : One pair, with effect size.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import pairwise_wilcoxon
    >>> rng = np.random.default_rng(0)
    >>> base = rng.gamma(4.0, 0.03, size=2000)
    >>> errors = {
    ...     "linear": base * 1.25,
    ...     "dgex": base * 1.02 + rng.normal(0, 0.01, 2000),
    ...     "cr_dgex": base + rng.normal(0, 0.01, 2000),
    ... }
    >>> result = pairwise_wilcoxon(errors, alpha=1e-4)
    >>> result.names
    ('linear', 'dgex', 'cr_dgex')
    >>> result.significance.tolist()
    [[0, -1, -1], [1, 0, -1], [1, 1, 0]]
    """
    if not isinstance(errors, dict) or len(errors) < 2:
        raise ValueError(
            "errors must be a dict mapping at least two model names to per-sample errors."
        )
    if not isinstance(alpha, Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1); got {alpha!r}.")
    if correction not in _CORRECTIONS:
        raise ValueError(f"correction must be one of {_CORRECTIONS}; got {correction!r}.")
    names = tuple(str(name) for name in errors)
    arrays = [_check_errors(values, f"errors[{name!r}]") for name, values in errors.items()]
    sizes = {name: a.size for name, a in zip(names, arrays)}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"every model in errors needs one error per sample of the same samples; got {sizes}."
        )

    n = len(names)
    rows, cols = np.triu_indices(n, k=1)
    tests = [paired_wilcoxon(arrays[r], arrays[c]) for r, c in zip(rows, cols)]
    raw = np.array([t.pvalue for t in tests])
    adjusted = _adjust_pvalues(raw, correction)
    direction = np.array([{"a": 1, "b": -1, None: 0}[t.better] for t in tests], dtype=np.int8)
    upper_sign = np.where(adjusted < alpha, direction, 0).astype(np.int8)

    significance = np.zeros((n, n), dtype=np.int8)
    significance[rows, cols], significance[cols, rows] = upper_sign, -upper_sign
    median = np.zeros((n, n))
    median_upper = np.array([t.median_difference for t in tests])
    median[rows, cols], median[cols, rows] = median_upper, -median_upper
    return PairwiseWilcoxonResult(
        names=names,
        significance=significance,
        pvalues=_symmetric_with_nan_diagonal(raw, rows, cols, n),
        adjusted_pvalues=_symmetric_with_nan_diagonal(adjusted, rows, cols, n),
        median_difference=median,
        alpha=float(alpha),
        correction=correction,
    )


def _symmetric_with_nan_diagonal(upper, rows, cols, n):
    matrix = np.full((n, n), np.nan)
    matrix[rows, cols] = matrix[cols, rows] = upper
    return matrix


# --------------------------------------------------------------------------
# Bootstrap confidence interval
# --------------------------------------------------------------------------
# Index entries per block of resamples. A block of 2**20 entries needs 8 MiB
# of indices, 4 MiB of random words and 4 MiB of gathered values whatever the
# sample size, so memory stays bounded by about 17 MiB per thread.
_BOOT_BLOCK_ENTRIES = 1 << 20


@dataclass(frozen=True)
class BootstrapCI:
    """Result of :func:`bootstrap_ci`; unpacks as ``low, high``.

    Attributes
    ----------
    low, high : float
        Bounds of the confidence interval.
    estimate : float
        The statistic on the original sample (the MMAE for per-sample MAEs
        and ``statistic="mean"``).
    standard_error : float
        Standard deviation of the bootstrap distribution.
    level : float
        Confidence level.
    n_boot : int
        Number of resamples.
    statistic : str
        ``"mean"`` or ``"median"``.
    method : str
        ``"percentile"`` or ``"bca"``.
    distribution : ndarray of shape (n_boot,)
        The statistic on each resample (not shown in the repr).

    See Also
    --------
    bootstrap_ci : Produces this result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import bootstrap_ci
    >>> errors = np.random.default_rng(0).gamma(4.0, 0.03, size=500)
    >>> low, high = bootstrap_ci(errors, n_boot=2000, random_state=0)
    >>> bool(low < errors.mean() < high)
    True
    """

    low: float
    high: float
    estimate: float
    standard_error: float
    level: float
    n_boot: int
    statistic: str
    method: str
    distribution: np.ndarray = field(repr=False)

    def __iter__(self):
        return iter((self.low, self.high))


def _seed_sequence(random_state):
    """A SeedSequence from None, an int, a SeedSequence, a Generator or a RandomState."""
    if random_state is None or isinstance(random_state, Integral | np.random.SeedSequence):
        return np.random.SeedSequence(random_state)
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(random_state.integers(0, 2**63, size=4).tolist())
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(random_state.randint(0, 2**31, size=4).tolist())
    raise ValueError(
        "random_state must be None, an int, a numpy SeedSequence, Generator or RandomState; "
        f"got {random_state!r}."
    )


def _resample_indices(seed, n_resamples, n, out):
    """Fill ``out[: n_resamples * n]`` with indices drawn uniformly from ``range(n)``.

    Each 64-bit word of a fast SFC64 generator gives two 32-bit numbers, each
    mapped to ``floor(u * n / 2**32)`` (Lemire's multiply-shift without
    rejection: every index has probability 1/n within a relative ``n / 2**32``,
    4e-6 for 19,000 samples, far below the Monte Carlo error). Measured here,
    this is about 1.7x faster than ``Generator.integers(..., dtype=np.uint32)``.
    """
    size = n_resamples * n
    words = np.random.SFC64(seed).random_raw((size + 1) // 2)
    indices = out[:size]
    np.multiply(words.view(np.uint32)[:size], np.uint64(n), out=indices)
    np.right_shift(indices, np.uint64(32), out=indices)
    return indices.view(np.int64)


def _bootstrap_block(values, seed, n_resamples, statistic, index_buffer, value_buffer):
    n = values.size
    indices = _resample_indices(seed, n_resamples, n, index_buffer)
    gathered = value_buffer[: n_resamples * n]
    np.take(values, indices, out=gathered, mode="wrap")  # "wrap" avoids an out-buffer copy
    gathered = gathered.reshape(n_resamples, n)
    if statistic == "mean":
        return gathered.mean(axis=1, dtype=np.float64)
    return np.median(gathered, axis=1)


def _bootstrap_distribution(errors, n_boot, statistic, seed_sequence, n_jobs):
    n = errors.size
    block = max(1, _BOOT_BLOCK_ENTRIES // n)
    n_blocks = -(-n_boot // block)
    # One child seed per block: the result depends on (random_state, n, n_boot)
    # only, never on the number of threads that computed it.
    seeds = seed_sequence.spawn(n_blocks)
    if statistic == "mean":
        # Centred float32 values: half the memory traffic of float64 in the
        # gather, and centring keeps the float32 rounding error of each
        # resample mean around 1e-7 standard deviations.
        centre = float(errors.mean())
        values = (errors - centre).astype(np.float32)
    else:
        centre, values = 0.0, errors
    distribution = np.empty(n_boot)

    def run_blocks(first):
        index_buffer = np.empty(block * n, dtype=np.uint64)
        value_buffer = np.empty(block * n, dtype=values.dtype)
        for k in range(first, n_blocks, n_jobs):
            start = k * block
            stop = min(start + block, n_boot)
            distribution[start:stop] = _bootstrap_block(
                values, seeds[k], stop - start, statistic, index_buffer, value_buffer
            )

    if n_jobs == 1:
        run_blocks(0)
    else:
        # numpy releases the GIL in the generator, the ufuncs and take, so threads scale.
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            list(pool.map(run_blocks, range(n_jobs)))
    return distribution + centre


def _jackknife(errors, statistic):
    """Leave-one-out values of the statistic, in closed form (O(n log n))."""
    n = errors.size
    if statistic == "mean":
        return (errors.sum() - errors) / (n - 1)
    sorted_errors = np.sort(errors)
    removed_rank = np.arange(n)[:, None]
    m = n - 1  # size of each leave-one-out sample
    middle = np.array([m // 2 - 1, m // 2]) if m % 2 == 0 else np.array([m // 2])
    # Position ``j`` of the reduced sample is ``j`` in the full one below the
    # removed rank and ``j + 1`` at or above it.
    positions = middle[None, :] + (middle[None, :] >= removed_rank)
    return sorted_errors[positions].mean(axis=1)


def _bca_quantiles(distribution, estimate, jackknife, level):
    """Bias-corrected and accelerated quantile levels (Efron & Tibshirani, ch. 14)."""
    normal = scipy.stats.norm
    z0 = normal.ppf(np.mean(distribution < estimate))
    deviations = jackknife.mean() - jackknife
    denominator = 6.0 * np.sum(deviations**2) ** 1.5
    acceleration = np.sum(deviations**3) / denominator if denominator > 0 else 0.0
    z = normal.ppf([(1 - level) / 2, (1 + level) / 2])
    return normal.cdf(z0 + (z0 + z) / (1 - acceleration * (z0 + z)))


def _check_bootstrap_params(n_boot, level, statistic, method, n_jobs):
    if not isinstance(n_boot, Integral) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}.")
    if not isinstance(level, Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1); got {level!r}.")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median'; got {statistic!r}.")
    if method not in ("percentile", "bca"):
        raise ValueError(f"method must be 'percentile' or 'bca'; got {method!r}.")
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, Integral) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {n_jobs!r}.")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def bootstrap_ci(
    per_sample_err,
    n_boot=100_000,
    level=0.95,
    random_state=None,
    statistic="mean",
    *,
    method="percentile",
    n_jobs=None,
):
    """Bootstrap confidence interval of the mean (or median) per-sample error.

    For per-sample MAEs and ``statistic="mean"`` this is the interval of the
    MMAE that the D-GEX study reports (95%, 1e5 resamples of the samples'
    MAEs): the samples are resampled with replacement ``n_boot`` times and the
    statistic computed on each resample.

    ``method="percentile"`` (default) takes the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of the bootstrap distribution (linear
    interpolation). ``method="bca"`` applies Efron's bias correction and
    acceleration (jackknife in closed form), which corrects the percentile
    interval's under-coverage for skewed errors and small samples; for tens
    of thousands of samples both agree closely.

    The resampling is vectorised in blocks of about 2**20 drawn indices, so
    memory is bounded (about 17 MiB per thread plus 8 bytes per resample)
    whatever ``n_boot`` and the sample size. The time grows with ``n_boot``
    times the sample size, and ``statistic="median"`` costs about four times
    as much as the mean (the user guide, "Metrics and statistics", has
    measurements).

    Parameters
    ----------
    per_sample_err : array-like of shape (n_samples,)
        Per-sample errors, e.g. from :func:`sklearn_dgex.metrics.per_sample_mae`;
        at least two samples.
    n_boot : int, default=100_000
        Number of bootstrap resamples.
    level : float, default=0.95
        Confidence level, in (0, 1).
    random_state : None, int, numpy SeedSequence, Generator or RandomState, default=None
        Seed. The result depends only on the seed, the sample size and
        ``n_boot`` (not on ``n_jobs``). A Generator or RandomState is
        advanced (a seed is drawn from it).
    statistic : {"mean", "median"}, default="mean"
        Statistic of the per-sample errors. For any other statistic use
        :func:`scipy.stats.bootstrap`.
    method : {"percentile", "bca"}, default="percentile"
        Interval construction.
    n_jobs : int, default=None
        Threads; None means 1, -1 all cores.

    Returns
    -------
    ci : BootstrapCI
        ``low``, ``high``, ``estimate``, ``standard_error`` and the bootstrap
        ``distribution``; ``low, high = ci`` also works.

    See Also
    --------
    sklearn_dgex.metrics.per_sample_mae : The per-sample errors to resample.
    scipy.stats.bootstrap : General (slower) bootstrap for any statistic.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.stats import bootstrap_ci
    >>> errors = np.random.default_rng(0).gamma(4.0, 0.03, size=5000)
    >>> ci = bootstrap_ci(errors, n_boot=10_000, random_state=0)
    >>> bool(ci.low < ci.estimate < ci.high), round(ci.high - ci.low, 3)
    (True, 0.003)
    >>> low, high = bootstrap_ci(errors, n_boot=10_000, random_state=0, method="bca")
    """
    n_jobs = _check_bootstrap_params(n_boot, level, statistic, method, n_jobs)
    errors = _check_errors(per_sample_err, "per_sample_err")
    if errors.size < 2:
        raise ValueError("per_sample_err needs at least two samples for a bootstrap interval.")
    seed_sequence = _seed_sequence(random_state)

    estimate = float(np.mean(errors) if statistic == "mean" else np.median(errors))
    distribution = _bootstrap_distribution(errors, int(n_boot), statistic, seed_sequence, n_jobs)
    if method == "bca" and np.ptp(distribution) > 0:
        quantiles = _bca_quantiles(distribution, estimate, _jackknife(errors, statistic), level)
    else:
        quantiles = np.array([(1 - level) / 2, (1 + level) / 2])
    low, high = np.quantile(distribution, quantiles)
    return BootstrapCI(
        low=float(low),
        high=float(high),
        estimate=estimate,
        standard_error=float(np.std(distribution, ddof=1)) if n_boot > 1 else 0.0,
        level=float(level),
        n_boot=int(n_boot),
        statistic=statistic,
        method=method,
        distribution=distribution,
    )
