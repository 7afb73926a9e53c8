"""Differential-expression (DE) agreement between measured and inferred profiles.

The D-GEX study judged its networks not only by their error but by what the
error does to a routine analysis: calling differentially expressed genes
between two groups of samples. This module holds the pieces of that protocol,
in plain numpy/scipy:

* :func:`moderated_ttest`, the empirical-Bayes moderated t-test of limma's
  ``lmFit`` + ``eBayes`` for a two-group design (Smyth 2004), vectorised over
  many sample sets at once;
* :func:`fit_f_dist`, limma's ``fitFDist``: the prior degrees of freedom and
  prior variance estimated from the genes' residual variances;
* :func:`benjamini_hochberg`, the BH false-discovery-rate adjustment;
* :func:`agreement_scores`, F-beta, accuracy and MCC of DE calls on inferred
  data against the calls on measured data, vectorised over repetitions;
* :func:`select_clusters` and :func:`de_agreement`, the study's protocol.

References
----------
Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing
differential expression in microarray experiments. *Statistical Applications
in Genetics and Molecular Biology* 3(1), article 3.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from scipy import special, stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = [
    "STUDY_SAMPLE_SIZES",
    "DEAgreementResult",
    "ModeratedTTestResult",
    "agreement_scores",
    "benjamini_hochberg",
    "de_agreement",
    "fit_f_dist",
    "moderated_ttest",
    "select_clusters",
]


# The sample sizes of the D-GEX study's DE experiment (Figs. 7-10).
STUDY_SAMPLE_SIZES = (12, 20, 40, 80, 160)


# --------------------------------------------------------------------------- #
# Empirical-Bayes variance moderation (limma's squeezeVar / fitFDist)
# --------------------------------------------------------------------------- #
def _trigamma_inverse(x):
    """Solve ``trigamma(y) = x`` elementwise, as limma's ``trigammaInverse``.

    Newton's method on ``1 / trigamma``, which is convex and nearly linear, so
    the iteration from ``y = 0.5 + 1 / x`` converges monotonically. Values
    above 1e7 and below 1e-6 use the asymptotes ``1 / sqrt(x)`` and ``1 / x``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.full(x.shape, np.nan)
    large = x > 1e7
    small = (x >= 0) & (x < 1e-6)
    newton = (x >= 1e-6) & ~large
    y[large] = 1.0 / np.sqrt(x[large])
    with np.errstate(divide="ignore"):
        y[small] = 1.0 / x[small]
    target = x[newton]
    if target.size:
        guess = 0.5 + 1.0 / target
        for _ in range(51):
            tri = special.polygamma(1, guess)
            step = tri * (1.0 - tri / target) / special.polygamma(2, guess)
            guess = guess + step
            if np.max(-step / guess) < 1e-8:
                break
        else:
            warnings.warn(
                "trigamma inversion: iteration limit exceeded", RuntimeWarning, stacklevel=2
            )
        y[newton] = guess
    return y


def fit_f_dist(s2, df):
    """Estimate the prior of gene variances by moments of ``log s2`` (limma's ``fitFDist``).

    Each gene's residual variance is modelled as ``s2_g ~ s0^2 F(d, d0)``: a
    scaled chi-square around a prior variance ``s0^2`` that itself varies
    between genes with ``d0`` degrees of freedom (Smyth 2004, section 6.2).
    With ``e_g = log s2_g - digamma(d/2) + log(d/2)``::

        mean(e) = log s0^2 + digamma(d0/2) - log(d0/2)
        var(e)  = trigamma(d/2) + trigamma(d0/2)

    so ``d0 = 2 trigamma^-1(var(e) - trigamma(d/2))`` (by Newton iterations)
    and ``s0^2 = exp(mean(e) + digamma(d0/2) - log(d0/2))``. When
    ``var(e) <= trigamma(d/2)`` the variances are no more spread than chance
    alone: ``d0 = inf`` and ``s0^2`` is the mean variance, as in limma since 2017.
    Like limma, variances are floored at ``1e-5`` times their median before
    taking logs, so exact zeros do not give ``-inf``.

    Vectorised: the last axis holds the genes, every leading axis (for example
    repetitions of an experiment) gets its own estimate.

    Parameters
    ----------
    s2 : array-like of shape (..., n_genes)
        Residual variances, non-negative and finite.
    df : float
        Residual degrees of freedom ``d`` of every variance (``n - 2`` for two
        groups of ``n`` samples in all).

    Returns
    -------
    df_prior : float or ndarray of shape (...)
        Prior degrees of freedom ``d0`` (``inf`` when the variances show no
        extra spread; ``0`` for a single gene, as in limma).
    s2_prior : float or ndarray of shape (...)
        Prior variance ``s0^2``.

    See Also
    --------
    moderated_ttest : uses these to moderate each gene's variance.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import fit_f_dist
    >>> rng = np.random.default_rng(0)
    >>> # 20,000 genes: true d0 = 8, s0^2 = 0.2, each variance on d = 6 df.
    >>> sigma2 = 0.2 * 8 / rng.chisquare(8, size=20_000)
    >>> s2 = sigma2 * rng.chisquare(6, size=20_000) / 6
    >>> df_prior, s2_prior = fit_f_dist(s2, df=6)
    >>> bool(6.5 < df_prior < 9.5), bool(0.18 < s2_prior < 0.22)
    (True, True)
    """
    s2 = np.asarray(s2, dtype=np.float64)
    if s2.ndim == 0 or s2.shape[-1] == 0:
        raise ValueError(f"s2 must have at least one gene on its last axis; got shape {s2.shape}.")
    if not np.all(np.isfinite(s2)) or np.any(s2 < -1e-15):
        raise ValueError("s2 must contain finite, non-negative variances.")
    if not (np.isfinite(df) and df > 1e-15):
        raise ValueError(f"df must be a finite positive number of degrees of freedom; got {df!r}.")
    if s2.shape[-1] == 1:  # limma: a single gene is its own prior, with no weight
        return _as_scalar_if_0d(np.zeros(s2.shape[:-1])), _as_scalar_if_0d(s2[..., 0].copy())

    leading = s2.shape[:-1]
    x = np.maximum(s2, 0.0).reshape(-1, s2.shape[-1])  # one row per prior to estimate
    median = np.median(x, axis=-1, keepdims=True)
    if np.any(median == 0):
        warnings.warn(
            "More than half of the residual variances are exactly zero: the empirical-Bayes "
            "prior is unreliable.",
            RuntimeWarning,
            stacklevel=2,
        )
        median = np.where(median == 0, 1.0, median)
    x = np.maximum(x, 1e-5 * median)

    e = np.log(x) - special.digamma(df / 2) + math.log(df / 2)
    e_mean = e.mean(axis=-1)
    e_var = e.var(axis=-1, ddof=1) - special.polygamma(1, df / 2)

    spread = e_var > 0
    df_prior = np.full(e_mean.shape, np.inf)
    df_prior[spread] = 2.0 * _trigamma_inverse(e_var[spread])
    # No extra spread: the pooled mean variance is the MLE of the scale.
    s2_prior = x.mean(axis=-1)
    half = df_prior[spread] / 2
    s2_prior[spread] = np.exp(e_mean[spread] + special.digamma(half) - np.log(half))
    return (
        _as_scalar_if_0d(df_prior.reshape(leading)),
        _as_scalar_if_0d(s2_prior.reshape(leading)),
    )


def _as_scalar_if_0d(a):
    return float(a) if np.ndim(a) == 0 else a


def _squeeze_var(s2, df, df_prior, s2_prior):
    """Posterior variances ``(d0 s0^2 + d s2) / (d0 + d)``; ``s0^2`` where ``d0`` is infinite."""
    df_prior = np.asarray(df_prior, dtype=np.float64)[..., None]
    s2_prior = np.asarray(s2_prior, dtype=np.float64)[..., None]
    infinite = np.isinf(df_prior)
    finite_d0 = np.where(infinite, 0.0, df_prior)
    shrunk = (finite_d0 * s2_prior + df * s2) / (finite_d0 + df)
    return np.where(infinite, s2_prior, shrunk)


def _moderate(log_fc, s2, df, n_a, n_b, df_prior=None, s2_prior=None):
    """Moderated t for arrays ``(..., n_genes)`` of mean differences and variances."""
    if df_prior is None:
        df_prior, s2_prior = fit_f_dist(s2, df)
    leading = s2.shape[:-1]
    df_prior = np.broadcast_to(np.asarray(df_prior, dtype=np.float64), leading)
    s2_prior = np.broadcast_to(np.asarray(s2_prior, dtype=np.float64), leading)
    s2_post = _squeeze_var(s2, df, df_prior, s2_prior)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = log_fc / np.sqrt(s2_post * (1.0 / n_a + 1.0 / n_b))
    # limma caps the total df at the pooled residual df of all genes, which also
    # makes d0 = inf give a (practically normal) t with finite df.
    df_total = np.minimum(df + df_prior, df * s2.shape[-1])
    return t, df_total, s2_post, df_prior, s2_prior


def _two_sided_p(t, df_total):
    return 2.0 * special.stdtr(np.asarray(df_total)[..., None], -np.abs(t))


@dataclass(frozen=True)
class ModeratedTTestResult:
    """Result of :func:`moderated_ttest` (arrays shaped ``(n_genes,)`` or ``(n_sets, n_genes)``).

    Attributes
    ----------
    log_fc : ndarray
        ``mean_b - mean_a`` per gene (a log fold change for log-scale data);
        limma's coefficient of group b in ``~ group``.
    t : ndarray
        Moderated t-statistics ``log_fc / (sqrt(s2_post) sqrt(1/n_a + 1/n_b))``.
    p_value : ndarray
        Two-sided p-values of ``t`` on ``df_total`` degrees of freedom.
    adj_p_value : ndarray
        Benjamini-Hochberg adjusted p-values (over the genes of each set).
    df_prior : float or ndarray
        Prior degrees of freedom ``d0`` (one per sample set).
    s2_prior : float or ndarray
        Prior variance ``s0^2`` (one per sample set).
    df_residual : int
        Residual degrees of freedom ``d = n_a + n_b - 2``.
    df_total : float or ndarray
        ``min(d0 + d, d * n_genes)`` (limma caps at the pooled residual df).
    s2 : ndarray
        Pooled within-group (residual) variances.
    s2_post : ndarray
        Posterior variances ``(d0 s0^2 + d s2) / (d0 + d)``.
    mean_a, mean_b : ndarray
        Group means.
    """

    log_fc: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    adj_p_value: np.ndarray
    df_prior: float | np.ndarray
    s2_prior: float | np.ndarray
    df_residual: int
    df_total: float | np.ndarray
    s2: np.ndarray
    s2_post: np.ndarray
    mean_a: np.ndarray = field(repr=False)
    mean_b: np.ndarray = field(repr=False)


def _check_group_data(data, name):
    data = np.asarray(data, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_genes) or 3-D (n_sets, n_samples, n_genes); "
            f"got an array of shape {data.shape}."
        )
    if data.shape[-2] < 1 or data.shape[-1] < 1:
        raise ValueError(f"{name} needs at least one sample and one gene; got shape {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{name} contains NaN or infinite values; DE needs finite expression.")
    return data


def moderated_ttest(data_a, data_b, *, df_prior=None, s2_prior=None):
    """Moderated two-group t-test, as limma's ``lmFit`` + ``eBayes`` (Smyth 2004).

    For each gene ``g``: the group means, the pooled residual variance ``s2_g``
    on ``d = n_a + n_b - 2`` degrees of freedom, a prior ``(d0, s0^2)``
    estimated from all genes by :func:`fit_f_dist` (unless given), the
    posterior variance ``s~2_g = (d0 s0^2 + d s2_g) / (d0 + d)`` and the
    moderated t ``(mean_b - mean_a) / (s~_g sqrt(1/n_a + 1/n_b))`` on
    ``d0 + d`` degrees of freedom (capped, as in limma, at ``d * n_genes``).
    Two-sided p-values are adjusted by Benjamini-Hochberg over the genes.

    Many experiments at once: 3-D inputs ``(n_sets, n_samples, n_genes)`` give
    one independent test per set (its own prior), computed without loops.

    Parameters
    ----------
    data_a : array-like of shape (n_a, n_genes) or (n_sets, n_a, n_genes)
        Expression (log scale) of the first group.
    data_b : array-like of shape (n_b, n_genes) or (n_sets, n_b, n_genes)
        Expression of the second group, same genes (and sets).
    df_prior : float, default=None
        Fix the prior degrees of freedom ``d0`` instead of estimating it:
        ``0`` gives the ordinary pooled t-test, ``np.inf`` replaces every
        gene's variance by ``s2_prior``.
    s2_prior : float, default=None
        Fix the prior variance ``s0^2``; required with ``df_prior > 0``.

    Returns
    -------
    result : ModeratedTTestResult
        ``log_fc``, ``t``, ``p_value``, ``adj_p_value``, ``df_prior``,
        ``s2_prior``, ``df_total`` and the intermediate quantities.

    See Also
    --------
    fit_f_dist : the prior's estimator.
    benjamini_hochberg : the p-value adjustment.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import moderated_ttest
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(8.0, 0.5, size=(6, 500))
    >>> b = rng.normal(8.0, 0.5, size=(6, 500))
    >>> b[:, :25] += 2.0  # 25 truly DE genes
    >>> res = moderated_ttest(a, b)
    >>> res.t.shape, res.df_residual
    ((500,), 10)
    >>> called = res.adj_p_value < 0.05  # all 25 found, 1 false call among 475
    >>> int(called[:25].sum()), int(called[25:].sum())
    (25, 1)

    Ten experiments at once, each with its own prior:

    >>> sets_a = rng.normal(size=(10, 4, 300))
    >>> sets_b = rng.normal(size=(10, 4, 300))
    >>> moderated_ttest(sets_a, sets_b).p_value.shape
    (10, 300)
    """
    data_a = _check_group_data(data_a, "data_a")
    data_b = _check_group_data(data_b, "data_b")
    if data_a.ndim != data_b.ndim or data_a.shape[:-2] != data_b.shape[:-2]:
        raise ValueError(
            f"data_a and data_b must hold the same number of sample sets; got shapes "
            f"{data_a.shape} and {data_b.shape}."
        )
    if data_a.shape[-1] != data_b.shape[-1]:
        raise ValueError(
            f"data_a and data_b must have the same genes (last axis); got {data_a.shape[-1]} "
            f"and {data_b.shape[-1]}."
        )
    n_a, n_b = data_a.shape[-2], data_b.shape[-2]
    df = n_a + n_b - 2
    if df < 1:
        raise ValueError(
            f"A two-group test needs at least 3 samples in all (1 residual degree of freedom); "
            f"got {n_a} + {n_b}."
        )
    df_prior, s2_prior = _check_fixed_prior(df_prior, s2_prior)

    mean_a = data_a.mean(axis=-2)
    mean_b = data_b.mean(axis=-2)
    rss = ((data_a - mean_a[..., None, :]) ** 2).sum(axis=-2) + (
        (data_b - mean_b[..., None, :]) ** 2
    ).sum(axis=-2)
    s2 = rss / df
    log_fc = mean_b - mean_a
    t, df_total, s2_post, d0, s0 = _moderate(log_fc, s2, df, n_a, n_b, df_prior, s2_prior)
    p = _two_sided_p(t, df_total)
    return ModeratedTTestResult(
        log_fc=log_fc,
        t=t,
        p_value=p,
        adj_p_value=benjamini_hochberg(p),
        df_prior=_as_scalar_if_0d(d0),
        s2_prior=_as_scalar_if_0d(s0),
        df_residual=df,
        df_total=_as_scalar_if_0d(df_total),
        s2=s2,
        s2_post=s2_post,
        mean_a=mean_a,
        mean_b=mean_b,
    )


def _check_fixed_prior(df_prior, s2_prior):
    if df_prior is None:
        if s2_prior is not None:
            raise ValueError("s2_prior was given without df_prior; give both or neither.")
        return None, None
    if not isinstance(df_prior, Real) or np.isnan(df_prior) or df_prior < 0:
        raise ValueError(f"df_prior must be a number >= 0 (np.inf allowed); got {df_prior!r}.")
    if s2_prior is None:
        if df_prior > 0:
            raise ValueError("df_prior > 0 needs s2_prior (the prior variance) as well.")
        s2_prior = 1.0  # carries no weight when d0 = 0
    if not isinstance(s2_prior, Real) or not np.isfinite(s2_prior) or s2_prior <= 0:
        raise ValueError(f"s2_prior must be a finite positive variance; got {s2_prior!r}.")
    return float(df_prior), float(s2_prior)


# --------------------------------------------------------------------------- #
# Multiple testing
# --------------------------------------------------------------------------- #
def benjamini_hochberg(p, *, axis=-1):
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``).

    ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the sorted p-values of
    each slice along ``axis``. NaNs stay NaN and are not counted in ``m``, as
    in R.

    Parameters
    ----------
    p : array-like
        p-values in [0, 1].
    axis : int, default=-1
        The axis holding one family of tests (the genes).

    Returns
    -------
    adjusted : ndarray
        Adjusted p-values, same shape as ``p``.

    See Also
    --------
    scipy.stats.false_discovery_control : the same adjustment (without NaN support).

    Examples
    --------
    >>> from sklearn_dgex.de import benjamini_hochberg
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0:
        raise ValueError("p must be an array of p-values, not a scalar.")
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p must contain p-values between 0 and 1.")
    p = np.moveaxis(p, axis, -1)
    order = np.argsort(p, axis=-1)  # NaNs sort last
    ranked = np.take_along_axis(p, order, axis=-1)
    m = np.sum(~np.isnan(p), axis=-1, keepdims=True)
    ranks = np.arange(1, p.shape[-1] + 1)
    scaled = np.where(np.isnan(ranked), np.inf, ranked * m / ranks)
    adjusted_sorted = np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
    adjusted_sorted = np.where(np.isnan(ranked), np.nan, np.minimum(adjusted_sorted, 1.0))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, adjusted_sorted, axis=-1)
    return np.moveaxis(adjusted, -1, axis)


# --------------------------------------------------------------------------- #
# Agreement scores
# --------------------------------------------------------------------------- #
def _fbeta_name(beta):
    return f"f{beta:g}"


def agreement_scores(de_true, de_pred, *, betas=(0.5, 1, 2), zero_division=0.0):
    """Scores of DE calls against reference calls, vectorised over repetitions.

    Treating the calls on measured data as truth and the genes as samples:
    precision, recall, F-beta ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``,
    accuracy and the Matthews correlation coefficient, exactly as
    scikit-learn's ``fbeta_score``, ``accuracy_score`` and ``matthews_corrcoef``
    on the 0/1 calls (an undefined precision, recall or F gets
    ``zero_division``; an undefined MCC is 0, as in scikit-learn).

    Parameters
    ----------
    de_true : array-like of bool, shape (..., n_genes)
        Reference calls (DE on the measured data).
    de_pred : array-like of bool, shape (..., n_genes)
        Calls to score (DE on the inferred data).
    betas : sequence of float, default=(0.5, 1, 2)
        The F-beta scores to compute, named ``"f0.5"``, ``"f1"``, ``"f2"``.
    zero_division : {0.0, 1.0, np.nan}, default=0.0
        Value of an undefined precision, recall or F-score.

    Returns
    -------
    scores : dict of str to ndarray of shape (...)
        ``tp``, ``fp``, ``fn``, ``tn``, ``precision``, ``recall``, one entry
        per beta, ``accuracy`` and ``mcc``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import agreement_scores
    >>> true = np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)
    >>> pred = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=bool)
    >>> s = agreement_scores(true, pred)
    >>> s["f1"].round(3).tolist(), s["accuracy"].tolist(), s["mcc"].round(3).tolist()
    ([0.5, 0.0], [0.6, 0.8], [0.167, 0.0])
    """
    de_true = np.asarray(de_true)
    de_pred = np.asarray(de_pred)
    if de_true.shape != de_pred.shape or de_true.ndim == 0:
        raise ValueError(
            f"de_true and de_pred must be arrays of the same shape (..., n_genes); got "
            f"{de_true.shape} and {de_pred.shape}."
        )
    if not (
        zero_division in (0, 1) or (isinstance(zero_division, float) and np.isnan(zero_division))
    ):
        raise ValueError(f"zero_division must be 0.0, 1.0 or np.nan; got {zero_division!r}.")
    de_true = de_true.astype(bool)
    de_pred = de_pred.astype(bool)
    tp = np.count_nonzero(de_true & de_pred, axis=-1)
    fp = np.count_nonzero(~de_true & de_pred, axis=-1)
    fn = np.count_nonzero(de_true & ~de_pred, axis=-1)
    tn = de_true.shape[-1] - tp - fp - fn
    return _scores_from_counts(tp, fp, fn, tn, betas, float(zero_division))


def _safe_divide(numerator, denominator, fill):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.where(denominator == 0, fill, ratio)


def _scores_from_counts(tp, fp, fn, tn, betas, zero_division):
    scores = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    scores["precision"] = _safe_divide(tp, tp + fp, zero_division)
    scores["recall"] = _safe_divide(tp, tp + fn, zero_division)
    for beta in betas:
        b2 = float(beta) ** 2
        scores[_fbeta_name(beta)] = _safe_divide(
            (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp, zero_division
        )
    scores["accuracy"] = (tp + tn) / (tp + fp + fn + tn)
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    scores["mcc"] = _safe_divide(tp * tn - fp * fn, denominator, 0.0)
    return scores


# --------------------------------------------------------------------------- #
# The study's protocol
# --------------------------------------------------------------------------- #
# Pairs of clusters count as "distinct" within this fraction of the most distant pair.
_DISTANCE_TOLERANCE = 0.1


@validate_params(
    {
        "Y": ["array-like"],
        "n_cluster_samples": [Interval(Integral, 4, None, closed="left")],
        "min_cluster_size": [Interval(Integral, 2, None, closed="left"), None],
        "max_clusters": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def select_clusters(
    Y, *, n_cluster_samples=2000, min_cluster_size=None, max_clusters=10, random_state=None
):
    """Pick two large, distinct clusters of profiles by Ward hierarchical clustering.

    The rule (the study names none beyond "two large and relatively distinct
    clusters"):

    1. draw ``n_cluster_samples`` profiles (rows of ``Y``) without replacement,
       or take all when there are fewer;
    2. build the Ward tree (``scipy.cluster.hierarchy``, Euclidean distances of
       the profiles as given);
    3. cut it into ``k = 2, 3, ..., max_clusters`` clusters; at each cut the
       *large* clusters are those of at least ``min_cluster_size`` profiles;
    4. "distinct": over all cuts, the pairs of large clusters of one cut (hence
       disjoint) whose centroids lie within 10% of the largest centroid
       distance found;
    5. of these, the pair whose smaller cluster is largest (then the more
       distant pair).

    Step 5 matters: by centroid distance alone the smallest eligible
    sub-clusters would win, since splitting a homogeneous cluster pushes the
    halves' centroids apart by noise alone; ranking by Ward's merge cost
    instead (distance weighted by size) tends to pick the first split of the
    tree, often a mixture of most of the data against one group.

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_genes)
        Measured (held-out) profiles.
    n_cluster_samples : int, default=2000
        How many profiles to cluster (the study used 2,000).
    min_cluster_size : int, default=None
        Smallest eligible cluster; None means 10% of the clustered profiles.
    max_clusters : int, default=10
        The deepest cut considered.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample.

    Returns
    -------
    clusters : sklearn.utils.Bunch
        ``indices_a``, ``indices_b`` (rows of ``Y``, sorted; a is the larger
        cluster), ``n_clusters``
        (the cut used), ``cluster_sizes`` (all clusters of that cut, largest
        first), ``centroid_distance`` and ``n_clustered``.

    Raises
    ------
    ValueError
        When no cut yields two clusters of ``min_cluster_size`` profiles.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import select_clusters
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(0, 3, size=(2, 50))  # two planted groups of 150 and 100
    >>> Y = np.repeat(centres, [150, 100], axis=0) + rng.normal(size=(250, 50))
    >>> c = select_clusters(Y, random_state=0)
    >>> c.n_clusters, len(c.indices_a), len(c.indices_b)
    (2, 150, 100)
    >>> bool(c.indices_a.max() < 150 <= c.indices_b.min())  # exactly the planted groups
    True
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or not np.all(np.isfinite(Y)):
        raise ValueError(f"Y must be a finite 2-D array (n_samples, n_genes); got shape {Y.shape}.")
    rng = check_random_state(random_state)
    n_used = min(n_cluster_samples, Y.shape[0])
    rows = np.sort(rng.choice(Y.shape[0], size=n_used, replace=False))
    if min_cluster_size is None:
        min_cluster_size = max(2, math.ceil(0.1 * n_used))
    # Ward on Euclidean distances; the BLAS route is ~5x faster than pdist for
    # 2,000 profiles of 10,000 genes, and linkage treats a condensed matrix as distances.
    distances = euclidean_distances(Y[rows])
    tree = hierarchy.linkage(squareform(distances, checks=False), method="ward")

    candidates = []  # (centroid distance, smaller size, k, labels, sizes, pair)
    for k in range(2, max_clusters + 1):
        labels = hierarchy.fcluster(tree, k, criterion="maxclust")
        ids, sizes = np.unique(labels, return_counts=True)
        size_of = dict(zip(ids, sizes))
        large = ids[sizes >= min_cluster_size]
        centroids = {c: Y[rows[labels == c]].mean(axis=0) for c in large}
        for pair in itertools.combinations(large, 2):
            distance = float(np.linalg.norm(centroids[pair[0]] - centroids[pair[1]]))
            smaller = min(size_of[pair[0]], size_of[pair[1]])
            candidates.append((distance, smaller, k, labels, sizes, pair))
    if not candidates:
        raise ValueError(
            f"No cut of the Ward tree into 2..{max_clusters} clusters gives two clusters of at "
            f"least min_cluster_size={min_cluster_size} profiles (of {n_used} clustered); lower "
            f"min_cluster_size or the sample sizes, or cluster more profiles."
        )
    most_distinct = max(c[0] for c in candidates)
    distinct = [c for c in candidates if c[0] >= (1 - _DISTANCE_TOLERANCE) * most_distinct]
    distance, _, k, labels, sizes, (first, second) = max(distinct, key=lambda c: (c[1], c[0]))
    if np.sum(labels == first) < np.sum(labels == second):
        first, second = second, first  # the larger cluster is group a
    return Bunch(
        indices_a=rows[labels == first],
        indices_b=rows[labels == second],
        n_clusters=int(k),
        cluster_sizes=np.sort(sizes)[::-1],
        centroid_distance=distance,
        n_clustered=int(n_used),
    )


@dataclass(frozen=True)
class DEAgreementResult:
    """Result of :func:`de_agreement`.

    Attributes
    ----------
    scores : dict of str to ndarray
        Long ("tidy") format, one row per model x sample size x repetition:
        ``model``, ``sample_size``, ``repeat``, the counts ``tp``, ``fp``,
        ``fn``, ``tn`` (measured calls as truth), ``n_de_measured``,
        ``n_de_inferred``, ``precision``, ``recall``, ``f0.5``, ``f1``,
        ``f2``, ``accuracy`` and ``mcc``.
    comparisons : dict of str to ndarray
        One row per sample size x metric x pair of models: ``sample_size``,
        ``metric``, ``model_a``, ``model_b``, ``median_difference`` and
        ``mean_difference`` (of ``a - b``), ``fraction_a_better``,
        ``statistic`` and ``p_value`` of the paired Wilcoxon signed-rank test.
    clusters : sklearn.utils.Bunch
        The two groups of profiles (see :func:`select_clusters`).
    info : dict
        Run parameters and timing: ``models``, ``sample_sizes``, ``n_repeats``,
        ``alpha``, ``n_genes``, ``metrics``, ``seconds``, ``seconds_per_size``.
    """

    scores: dict
    comparisons: dict
    clusters: Bunch
    info: dict

    def get(self, metric, model, sample_size):
        """Scores of one metric for one model and sample size, in repetition order.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.de import de_agreement
        >>> rng = np.random.default_rng(0)
        >>> Y = np.repeat(rng.normal(0, 2, (2, 40)), 60, axis=0) + rng.normal(size=(120, 40))
        >>> res = de_agreement(Y, {"noisy": Y + rng.normal(size=Y.shape)}, sample_sizes=(8,),
        ...                    n_repeats=5, min_cluster_size=20, random_state=0)
        >>> res.get("f1", "noisy", 8).shape
        (5,)
        """
        mask = (self.scores["model"] == model) & (self.scores["sample_size"] == sample_size)
        if not mask.any():
            raise KeyError(f"no scores for model={model!r}, sample_size={sample_size!r}")
        return self.scores[metric][mask]

    def to_frame(self):
        """The scores as a pandas DataFrame (needs pandas).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.de import de_agreement
        >>> rng = np.random.default_rng(0)
        >>> Y = np.repeat(rng.normal(0, 2, (2, 40)), 60, axis=0) + rng.normal(size=(120, 40))
        >>> res = de_agreement(Y, {"noisy": Y + rng.normal(size=Y.shape)}, sample_sizes=(8,),
        ...                    n_repeats=5, min_cluster_size=20, random_state=0)
        >>> res.to_frame().shape[0]
        5
        """
        import pandas as pd

        return pd.DataFrame(self.scores)

    def comparisons_frame(self):
        """The pairwise Wilcoxon comparisons as a pandas DataFrame (needs pandas).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex.de import de_agreement
        >>> rng = np.random.default_rng(0)
        >>> Y = np.repeat(rng.normal(0, 2, (2, 40)), 60, axis=0) + rng.normal(size=(120, 40))
        >>> preds = {"good": Y + 0.2 * rng.normal(size=Y.shape),
        ...          "bad": Y + 2.0 * rng.normal(size=Y.shape)}
        >>> res = de_agreement(Y, preds, sample_sizes=(8,), n_repeats=20,
        ...                    min_cluster_size=20, random_state=0)
        >>> res.comparisons_frame()[["metric", "model_a", "model_b"]].iloc[1].tolist()
        ['f1', 'good', 'bad']
        """
        import pandas as pd

        return pd.DataFrame(self.comparisons)


def _check_expression(Y, name, shape=None):
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_genes); got shape {Y.shape}.")
    if shape is not None and Y.shape != shape:
        raise ValueError(
            f"{name} must have the shape of Y_true {shape} (the same profiles and genes); "
            f"got {Y.shape}."
        )
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return Y


def _check_sample_sizes(sample_sizes, smallest_group):
    sizes = tuple(int(n) for n in sample_sizes)
    if not sizes or any(n < 4 or n % 2 for n in sizes):
        raise ValueError(
            f"sample_sizes must be even numbers >= 4 (balanced halves, >= 2 residual df); "
            f"got {tuple(sample_sizes)}."
        )
    if max(sizes) // 2 > smallest_group:
        raise ValueError(
            f"sample size {max(sizes)} needs {max(sizes) // 2} profiles per group, but the "
            f"smaller group has only {smallest_group}."
        )
    return sizes


def _check_groups(groups, n_samples):
    if len(groups) != 2:
        raise ValueError("groups must be a pair (indices_a, indices_b) of row indices.")
    a, b = (np.unique(np.asarray(g, dtype=np.intp)) for g in groups)
    if a.size < 2 or b.size < 2 or np.intersect1d(a, b).size:
        raise ValueError("groups must be two disjoint sets of at least 2 row indices each.")
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_samples:
        raise ValueError(f"groups must index rows of Y_true (0..{n_samples - 1}).")
    return Bunch(
        indices_a=a,
        indices_b=b,
        n_clusters=None,
        cluster_sizes=np.array([a.size, b.size]),
        centroid_distance=np.nan,
        n_clustered=None,
    )


# A sum over a sample set is a gather of n/2 profiles or, for larger sets, one
# 0/1 row of a BLAS product over the whole group. Measured on 2 cores (450
# profiles x 2,000 columns): the gather costs about what the product costs at
# n/2 = 13, so the gather is used while n/2 < (group size) / 35.
_GATHER_RATIO = 35


class _GroupSums:
    """Per-gene sums and sums of squares of many random subsets of one group of profiles.

    Profiles are centred on the group mean first so that
    ``sum x^2 - (sum x)^2 / n`` loses no precision in float64.
    """

    def __init__(self, datasets):
        self.means = [d.mean(axis=0) for d in datasets]
        self.stacked = [
            np.hstack([c, c * c]) for c in (d - m for d, m in zip(datasets, self.means))
        ]
        self.n_profiles = datasets[0].shape[0]

    def draw(self, rng, n_pick, n_sets):
        """Pick ``n_pick`` distinct profiles uniformly for each of ``n_sets`` sample sets."""
        keys = rng.random_sample((n_sets, self.n_profiles))
        picks = np.argpartition(keys, n_pick - 1, axis=1)[:, :n_pick]
        if n_pick * _GATHER_RATIO < self.n_profiles:
            return picks, None
        selection = np.zeros((n_sets, self.n_profiles))
        np.put_along_axis(selection, picks, 1.0, axis=1)
        return picks, selection

    def moments(self, sets, k):
        """Means and residual sums of squares of dataset ``k`` for each sample set."""
        picks, selection = sets
        n = picks.shape[1]
        data = self.stacked[k]
        if selection is not None:
            sums = selection @ data
        else:
            sums = data.take(picks[:, 0], axis=0)
            for column in range(1, n):
                sums += data.take(picks[:, column], axis=0)
        n_genes = data.shape[1] // 2
        total, squares = sums[:, :n_genes], sums[:, n_genes:]
        rss = np.maximum(squares - total * total / n, 0.0)
        return total / n + self.means[k], rss


def _bh_reject_t(abs_t, df_total, alpha):
    """``benjamini_hochberg(p) < alpha`` per row, in |t| space, without computing p.

    BH at level alpha rejects the ``k`` smallest p-values, ``k`` the largest
    ``j`` with ``#{p < j alpha / m} >= j``. Iterating ``c <- #{p < c alpha / m}``
    from ``c = m`` decreases monotonically to exactly that ``k``; and since
    ``df_total`` is the same for all genes of a row, ``p < q`` is
    ``|t| > -stdtrit(df_total, q / 2)``. So each step costs one quantile per row
    and a comparison, instead of the t CDF of every gene (about 0.7 us each).
    """
    n_sets, m = abs_t.shape
    count = np.full(n_sets, m)
    critical = np.full(n_sets, np.inf)
    active = np.arange(n_sets)
    while active.size:
        q = count[active] * alpha / m
        with np.errstate(over="ignore"):
            crit = -special.stdtrit(df_total[active], q / 2)
        crit[q == 0] = np.inf
        rows = abs_t if active.size == n_sets else abs_t[active]
        new_count = np.count_nonzero(rows > crit[:, None], axis=1)
        converged = new_count == count[active]
        critical[active[converged]] = crit[converged]
        count[active] = new_count
        active = active[~converged]
    return abs_t > critical[:, None]


def _de_calls(sums_a, sums_b, sets_a, sets_b, k, alpha):
    mean_a, rss_a = sums_a.moments(sets_a, k)
    mean_b, rss_b = sums_b.moments(sets_b, k)
    n_a, n_b = sets_a[0].shape[1], sets_b[0].shape[1]
    df = n_a + n_b - 2
    t, df_total, *_ = _moderate(mean_b - mean_a, (rss_a + rss_b) / df, df, n_a, n_b)
    return _bh_reject_t(np.abs(t), df_total, alpha)


def _wilcoxon_rows(per_size, models, sizes, metrics):
    rows = {
        key: []
        for key in (
            "sample_size",
            "metric",
            "model_a",
            "model_b",
            "median_difference",
            "mean_difference",
            "fraction_a_better",
            "statistic",
            "p_value",
        )
    }
    for size, metric, (model_a, model_b) in itertools.product(
        sizes, metrics, itertools.combinations(models, 2)
    ):
        diff = per_size[size][model_a][metric] - per_size[size][model_b][metric]
        diff = diff[~np.isnan(diff)]
        if diff.size == 0 or np.all(diff == 0):
            statistic, p_value = np.nan, 1.0  # identical scores: no evidence of a difference
        else:
            test = stats.wilcoxon(diff)
            statistic, p_value = float(test.statistic), float(test.pvalue)
        rows["sample_size"].append(size)
        rows["metric"].append(metric)
        rows["model_a"].append(model_a)
        rows["model_b"].append(model_b)
        rows["median_difference"].append(float(np.median(diff)) if diff.size else np.nan)
        rows["mean_difference"].append(float(np.mean(diff)) if diff.size else np.nan)
        rows["fraction_a_better"].append(float(np.mean(diff > 0)) if diff.size else np.nan)
        rows["statistic"].append(statistic)
        rows["p_value"].append(p_value)
    return {
        key: np.asarray(values, dtype=object if key in ("metric", "model_a", "model_b") else None)
        for key, values in rows.items()
    }


def _long_format(per_size, models, sizes, n_repeats):
    columns = {"model": [], "sample_size": [], "repeat": []}
    values = {}
    for size in sizes:
        for model in models:
            columns["model"].append(np.full(n_repeats, model, dtype=object))
            columns["sample_size"].append(np.full(n_repeats, size))
            columns["repeat"].append(np.arange(n_repeats))
            for key, array in per_size[size][model].items():
                values.setdefault(key, []).append(np.asarray(array))
    return {key: np.concatenate(parts) for key, parts in {**columns, **values}.items()}


@validate_params(
    {
        "Y_true": ["array-like"],
        "Y_pred": [dict],
        "sample_sizes": ["array-like"],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "n_cluster_samples": [Interval(Integral, 4, None, closed="left")],
        "min_cluster_size": [Interval(Integral, 2, None, closed="left"), None],
        "max_clusters": [Interval(Integral, 2, None, closed="left")],
        "groups": [tuple, list, None],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "betas": ["array-like"],
        "zero_division": [Real],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def de_agreement(
    Y_true,
    Y_pred,
    *,
    sample_sizes=STUDY_SAMPLE_SIZES,
    n_repeats=10_000,
    n_cluster_samples=2000,
    min_cluster_size=None,
    max_clusters=10,
    groups=None,
    alpha=0.05,
    betas=(0.5, 1, 2),
    zero_division=0.0,
    batch_size=None,
    random_state=None,
    verbose=False,
):
    """Agreement of DE calls on inferred and on measured profiles (the study's Figs. 7-10).

    The protocol of the D-GEX study:

    1. cluster held-out measured profiles (``Y_true``) with Ward's method and
       take two large, distinct clusters as the two "phenotypes"
       (:func:`select_clusters`), or use the given ``groups``;
    2. for each sample size ``n`` and each of ``n_repeats`` repetitions, draw
       ``n / 2`` distinct profiles from each cluster;
    3. on that same sample set, call DE genes (moderated t-test, BH-adjusted
       p < ``alpha``) on the measured profiles and on each model's inferred
       profiles (the rows of ``Y_pred[model]`` for the same samples);
    4. score each model's calls against the measured calls (F0.5, F1, F2,
       accuracy, MCC; :func:`agreement_scores`);
    5. compare every pair of models per sample size and metric with the paired
       Wilcoxon signed-rank test over the repetitions.

    Everything for one block of ``batch_size`` repetitions is computed at
    once: group sums by matrix products, per-set priors, vectorised BH.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_genes)
        Measured expression of held-out profiles (log scale).
    Y_pred : dict of str to array-like of shape (n_samples, n_genes)
        Each model's inferred expression of the same profiles and genes, in
        the same order (rows and columns are matched by position).
    sample_sizes : sequence of int, default=(12, 20, 40, 80, 160)
        Total samples per DE analysis (even; half from each cluster).
    n_repeats : int, default=10_000
        Sample sets drawn per sample size.
    n_cluster_samples : int, default=2000
        Profiles clustered to find the two groups.
    min_cluster_size : int, default=None
        Smallest eligible cluster; None means
        ``max(max(sample_sizes), 10% of the clustered profiles)``.
    max_clusters : int, default=10
        Deepest cut of the Ward tree considered.
    groups : pair of array-like of int, default=None
        Row indices of the two groups, to use known phenotypes instead of
        clustering.
    alpha : float, default=0.05
        Level of the BH-adjusted p-values for a DE call.
    betas : sequence of float, default=(0.5, 1, 2)
        F-beta scores to compute.
    zero_division : {0.0, 1.0, np.nan}, default=0.0
        Score of an undefined precision, recall or F (e.g. no DE gene in
        either call set), as scikit-learn's ``zero_division``.
    batch_size : int, default=None
        Repetitions computed at once; None picks about 2 million
        repetition x gene values per block (bounded memory).
    random_state : int, RandomState instance or None, default=None
        Seeds the clustering subsample and the sample sets.
    verbose : bool, default=False
        Print the time taken per sample size.

    Returns
    -------
    result : DEAgreementResult
        Scores per repetition (tidy), pairwise Wilcoxon comparisons, the
        groups and timing. ``result.to_frame()`` gives a DataFrame.

    See Also
    --------
    moderated_ttest : the DE test, for a single analysis.
    select_clusters : the clustering step.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(8, 1, size=(2, 200))
    >>> Y = np.repeat(centres, 150, axis=0) + rng.normal(0, 0.5, size=(300, 200))
    >>> preds = {"good": Y + rng.normal(0, 0.2, Y.shape), "poor": Y + rng.normal(0, 1, Y.shape)}
    >>> res = de_agreement(Y, preds, sample_sizes=(12, 40), n_repeats=200, random_state=0)
    >>> f1 = {m: float(np.median(res.get("f1", m, 12))) for m in preds}
    >>> f1["good"] > f1["poor"]
    True
    >>> sorted(set(res.comparisons["metric"]))
    ['accuracy', 'f0.5', 'f1', 'f2', 'mcc']
    """
    start = time.perf_counter()
    Y_true = _check_expression(Y_true, "Y_true")
    if not Y_pred:
        raise ValueError("Y_pred must map at least one model name to its inferred expression.")
    models = [str(name) for name in Y_pred]
    if len(set(models)) != len(models):
        raise ValueError(f"Y_pred has duplicate model names once converted to str: {models}.")
    inferred = [
        _check_expression(Y, f"Y_pred[{name!r}]", Y_true.shape) for name, Y in Y_pred.items()
    ]
    if not (zero_division in (0, 1) or np.isnan(zero_division)):
        raise ValueError(f"zero_division must be 0.0, 1.0 or np.nan; got {zero_division!r}.")
    betas = tuple(float(b) for b in betas)
    rng = check_random_state(random_state)

    if groups is None:
        n_used = min(n_cluster_samples, Y_true.shape[0])
        if min_cluster_size is None:
            min_cluster_size = max(max(int(n) for n in sample_sizes), math.ceil(0.1 * n_used))
        clusters = select_clusters(
            Y_true,
            n_cluster_samples=n_cluster_samples,
            min_cluster_size=min_cluster_size,
            max_clusters=max_clusters,
            random_state=rng,
        )
    else:
        clusters = _check_groups(groups, Y_true.shape[0])
    rows_a, rows_b = clusters.indices_a, clusters.indices_b
    sizes = _check_sample_sizes(sample_sizes, min(rows_a.size, rows_b.size))

    datasets = [Y_true, *inferred]
    sums_a = _GroupSums([d[rows_a] for d in datasets])
    sums_b = _GroupSums([d[rows_b] for d in datasets])
    n_genes = Y_true.shape[1]
    if batch_size is None:
        batch_size = max(1, 2**21 // n_genes)

    per_size, seconds_per_size = {}, {}
    for size in sizes:
        size_start = time.perf_counter()
        half = size // 2
        blocks = {model: [] for model in models}
        for first in range(0, n_repeats, batch_size):
            n_sets = min(batch_size, n_repeats - first)
            sets_a = sums_a.draw(rng, half, n_sets)
            sets_b = sums_b.draw(rng, half, n_sets)
            measured = _de_calls(sums_a, sums_b, sets_a, sets_b, 0, alpha)
            n_de_measured = np.count_nonzero(measured, axis=1)
            for k, model in enumerate(models, start=1):
                calls = _de_calls(sums_a, sums_b, sets_a, sets_b, k, alpha)
                block = agreement_scores(measured, calls, betas=betas, zero_division=zero_division)
                block["n_de_measured"] = n_de_measured
                block["n_de_inferred"] = np.count_nonzero(calls, axis=1)
                blocks[model].append(block)
        per_size[size] = {
            model: {key: np.concatenate([b[key] for b in parts]) for key in parts[0]}
            for model, parts in blocks.items()
        }
        seconds_per_size[size] = time.perf_counter() - size_start
        if verbose:
            print(
                f"[de_agreement] n={size}: {n_repeats} sample sets x {len(models)} model(s) x "
                f"{n_genes} genes in {seconds_per_size[size]:.1f} s"
            )

    metrics = (*(_fbeta_name(b) for b in betas), "accuracy", "mcc")
    return DEAgreementResult(
        scores=_long_format(per_size, models, sizes, n_repeats),
        comparisons=_wilcoxon_rows(per_size, models, sizes, metrics),
        clusters=clusters,
        info={
            "models": models,
            "sample_sizes": sizes,
            "n_repeats": int(n_repeats),
            "alpha": float(alpha),
            "n_genes": int(n_genes),
            "metrics": metrics,
            "seconds": time.perf_counter() - start,
            "seconds_per_size": seconds_per_size,
        },
    )
