"""Tests of sklearn_dgex.stats against scipy and against simulation."""

import doctest
import warnings

import numpy as np
import pytest
import scipy.stats

from sklearn_dgex import stats
from sklearn_dgex.stats import bootstrap_ci, paired_ttest, paired_wilcoxon, pairwise_wilcoxon


def _errors(rng, n=300, scale=1.0, noise=0.01, base=None):
    """Per-sample MAE-like errors: positive, right-skewed, optionally paired to ``base``."""
    if base is None:
        base = rng.gamma(4.0, 0.03, size=n)
    return base * scale + rng.normal(0.0, noise, size=base.size)


# --------------------------------------------------------------------------
# paired_wilcoxon
# --------------------------------------------------------------------------
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_paired_wilcoxon_matches_scipy(rng, alternative):
    base = rng.gamma(4.0, 0.03, size=400)
    err_a, err_b = _errors(rng, base=base), _errors(rng, base=base, scale=1.02)
    ours = paired_wilcoxon(err_a, err_b, alternative=alternative)
    theirs = scipy.stats.wilcoxon(err_a, err_b, alternative=alternative)
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == theirs.pvalue
    assert ours.median_difference == np.median(err_a - err_b)
    assert ours.n_samples == 400
    assert ours.alternative == alternative


# --------------------------------------------------------------------------
# paired_ttest
# --------------------------------------------------------------------------
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_paired_ttest_equals_scipy_ttest_rel(rng, alternative):
    base = rng.gamma(4.0, 0.03, size=400)
    err_a, err_b = _errors(rng, base=base), _errors(rng, base=base, scale=1.01)
    ours = paired_ttest(list(err_a), err_b, alternative=alternative)
    theirs = scipy.stats.ttest_rel(err_a, err_b, alternative=alternative)
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == theirs.pvalue
    assert ours.df == theirs.df == 399
    assert ours.mean_difference == pytest.approx(np.mean(err_a) - np.mean(err_b), rel=1e-12)
    assert ours.better == ("a" if np.mean(err_a) < np.mean(err_b) else "b")
    assert (ours.n_samples, ours.alternative) == (400, alternative)


def test_paired_ttest_ties_and_bad_input(rng):
    errors = rng.gamma(4.0, 0.03, size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tie = paired_ttest(errors, errors.copy())
    assert (tie.statistic, tie.pvalue, tie.better) == (0.0, 1.0, None)
    with pytest.raises(ValueError, match="same samples"):
        paired_ttest(errors, errors[:-1])
    with pytest.raises(ValueError, match="at least two samples"):
        paired_ttest([0.1], [0.2])
    with pytest.raises(ValueError, match="NaN"):
        paired_ttest([0.1, np.nan], [0.2, 0.3])
    with pytest.raises(ValueError, match="alternative"):
        paired_ttest(errors, errors, alternative="fewer")


def test_paired_wilcoxon_direction_and_effect_size(rng):
    base = rng.gamma(4.0, 0.03, size=500)
    err_a, err_b = _errors(rng, base=base), _errors(rng, base=base, scale=1.08)
    result = paired_wilcoxon(err_a, err_b)
    # Independently: R+ is scipy's one-sided statistic, T = m(m+1)/2 the total rank sum.
    r_plus = scipy.stats.wilcoxon(err_a, err_b, alternative="greater").statistic
    total = 500 * 501 / 2
    assert result.rank_biserial == pytest.approx((2 * r_plus - total) / total)
    assert result.better == "a"
    assert result.rank_biserial < 0
    assert result.is_significant(1e-4)
    flipped = paired_wilcoxon(err_b, err_a)
    assert flipped.better == "b"
    assert flipped.pvalue == pytest.approx(result.pvalue)
    assert flipped.rank_biserial == pytest.approx(-result.rank_biserial)


def test_paired_wilcoxon_perfect_separation_has_extreme_effect_size():
    result = paired_wilcoxon([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert result.rank_biserial == -1.0
    assert result.better == "a"


def test_paired_wilcoxon_identical_errors_are_a_tie_without_warning():
    errors = np.linspace(0.1, 0.2, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_wilcoxon(errors, errors.copy())
    assert result.pvalue == 1.0
    assert result.better is None
    assert result.rank_biserial == 0.0
    assert not result.is_significant(0.05)


@pytest.mark.parametrize(
    ("err_a", "err_b", "kwargs", "match"),
    [
        ([0.1, 0.2], [0.1], {}, "err_a and err_b must hold the errors of the same samples"),
        ([0.1, np.nan], [0.1, 0.2], {}, "err_a contains NaN"),
        ([0.1, 0.2], [0.1, np.inf], {}, "err_b contains NaN or infinite"),
        ([[0.1, 0.2]], [[0.1, 0.2]], {}, "err_a must be 1-D"),
        ([], [], {}, "err_a is empty"),
        (["x"], [0.1], {}, "err_a must be a 1-D array of numbers"),
        ([0.1, 0.2], [0.1, 0.3], {"alternative": "smaller"}, "alternative must be one of"),
    ],
)
def test_paired_wilcoxon_errors(err_a, err_b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_wilcoxon(err_a, err_b, **kwargs)


# --------------------------------------------------------------------------
# pairwise_wilcoxon
# --------------------------------------------------------------------------
@pytest.fixture
def four_models(rng):
    base = rng.gamma(4.0, 0.03, size=600)
    return {
        "linear": _errors(rng, base=base, scale=1.20),
        "dgex": _errors(rng, base=base, scale=1.03),
        "tr_dgex": _errors(rng, base=base, scale=1.00),
        "cr_dgex": _errors(rng, base=base, scale=1.00),  # same as tr_dgex: no difference
    }


def test_pairwise_wilcoxon_matches_scipy_pair_by_pair(four_models):
    alpha = 1e-4
    result = pairwise_wilcoxon(four_models, alpha=alpha)
    names = list(four_models)
    assert result.names == tuple(names)
    for i, row in enumerate(names):
        for j, col in enumerate(names):
            if i == j:
                assert result.significance[i, j] == 0
                assert np.isnan(result.pvalues[i, j])
                continue
            p = scipy.stats.wilcoxon(four_models[row], four_models[col]).pvalue
            assert result.pvalues[i, j] == p
            row_lower = scipy.stats.wilcoxon(four_models[row], four_models[col], alternative="less")
            expected = 0 if p >= alpha else (1 if row_lower.pvalue < 0.5 else -1)
            assert result.significance[i, j] == expected, (row, col)
            assert result.median_difference[i, j] == pytest.approx(
                np.median(four_models[row] - four_models[col])
            )
    # The designed structure shows: linear loses to all, the two equal models tie.
    assert result.significance.tolist() == [
        [0, -1, -1, -1],
        [1, 0, -1, -1],
        [1, 1, 0, 0],
        [1, 1, 0, 0],
    ]
    np.testing.assert_array_equal(result.significance, -result.significance.T)
    np.testing.assert_array_equal(result.adjusted_pvalues, result.pvalues)
    assert result.wins() == {"linear": 0, "dgex": 1, "tr_dgex": 2, "cr_dgex": 2}


def test_holm_and_bonferroni_adjustment():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(stats._adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])
    # Holm by hand: sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, then max(0.04*1, 0.06).
    np.testing.assert_allclose(stats._adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_array_equal(stats._adjust_pvalues(p, None), p)
    np.testing.assert_allclose(stats._adjust_pvalues(np.array([0.5, 0.9]), "bonferroni"), [1, 1])


def test_correction_makes_borderline_differences_insignificant(rng):
    base = rng.gamma(4.0, 0.03, size=200)
    errors = {f"m{k}": _errors(rng, base=base, scale=1 + 0.004 * k, noise=0.01) for k in range(5)}
    raw = pairwise_wilcoxon(errors, alpha=0.05)
    holm = pairwise_wilcoxon(errors, alpha=0.05, correction="holm")
    bonferroni = pairwise_wilcoxon(errors, alpha=0.05, correction="bonferroni")
    m = 10
    upper = np.triu_indices(5, 1)
    np.testing.assert_allclose(
        bonferroni.adjusted_pvalues[upper], np.minimum(1, m * raw.pvalues[upper])
    )
    assert np.all(holm.adjusted_pvalues[upper] >= raw.pvalues[upper])
    assert np.all(holm.adjusted_pvalues[upper] <= bonferroni.adjusted_pvalues[upper])
    n_raw, n_holm, n_bonf = (np.count_nonzero(r.significance) for r in (raw, holm, bonferroni))
    assert n_raw >= n_holm >= n_bonf
    assert n_raw > n_bonf  # this design has borderline pairs
    assert holm.correction == "holm"


def test_pairwise_to_frame(four_models):
    pd = pytest.importorskip("pandas")
    result = pairwise_wilcoxon(four_models)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == list(four_models) == list(frame.columns)
    assert frame.loc["dgex", "linear"] == 1
    assert frame.loc["dgex", "linear"] == result.significance[1, 0]
    assert np.isnan(result.to_frame("pvalues").loc["dgex", "dgex"])
    with pytest.raises(ValueError, match="values must be one of"):
        result.to_frame("ranks")


@pytest.mark.parametrize(
    ("errors", "kwargs", "match"),
    [
        ({"a": [0.1, 0.2]}, {}, "at least two model names"),
        ([[0.1], [0.2]], {}, "errors must be a dict"),
        ({"a": [0.1, 0.2], "b": [0.1]}, {}, r"same samples; got \{'a': 2, 'b': 1\}"),
        ({"a": [0.1, 0.2], "b": [0.1, np.nan]}, {}, r"errors\['b'\] contains NaN"),
        ({"a": [0.1, 0.2], "b": [0.2, 0.3]}, {"alpha": 0.0}, r"alpha must be a number in \(0, 1\)"),
        ({"a": [0.1, 0.2], "b": [0.2, 0.3]}, {"alpha": 1.5}, "alpha must be"),
        ({"a": [0.1, 0.2], "b": [0.2, 0.3]}, {"correction": "fdr"}, "correction must be one of"),
    ],
)
def test_pairwise_wilcoxon_errors(errors, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pairwise_wilcoxon(errors, **kwargs)


# --------------------------------------------------------------------------
# bootstrap_ci: correctness of the resampling machinery
# --------------------------------------------------------------------------
def test_resampled_indices_are_uniform():
    n, n_resamples = 7, 20_001  # odd total: exercises the half-word at the end
    buffer = np.empty(n * n_resamples, dtype=np.uint64)
    indices = stats._resample_indices(np.random.SeedSequence(3), n_resamples, n, buffer)
    assert indices.min() >= 0
    assert indices.max() < n
    counts = np.bincount(indices, minlength=n)
    assert scipy.stats.chisquare(counts).pvalue > 1e-3
    # Consecutive draws are independent: pairs are uniform over n*n cells.
    pairs = indices[:-1:2] * n + indices[1::2]
    assert scipy.stats.chisquare(np.bincount(pairs, minlength=n * n)).pvalue > 1e-3


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_bootstrap_block_equals_direct_float64_computation(rng, statistic):
    errors = rng.gamma(4.0, 0.03, size=501)
    n_resamples = 37
    seed = np.random.SeedSequence(11)
    buffer = np.empty(n_resamples * errors.size, dtype=np.uint64)
    indices = stats._resample_indices(seed, n_resamples, errors.size, buffer).copy()
    expected = getattr(np, statistic)(errors[indices.reshape(n_resamples, -1)], axis=1)

    centre = errors.mean() if statistic == "mean" else 0.0
    values = (errors - centre).astype(np.float32) if statistic == "mean" else errors
    got = centre + stats._bootstrap_block(
        values,
        seed,
        n_resamples,
        statistic,
        np.empty_like(buffer),
        np.empty(buffer.size, dtype=values.dtype),
    )
    # Float32 centring costs far less than the interval's resolution.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * errors.std())


def test_bootstrap_distribution_has_the_theoretical_moments(rng, monkeypatch):
    monkeypatch.setattr(stats, "_BOOT_BLOCK_ENTRIES", 1000)  # many uneven blocks
    errors = rng.gamma(4.0, 0.03, size=333)
    ci = bootstrap_ci(errors, n_boot=20_001, random_state=0)
    assert ci.distribution.shape == (20_001,)
    se = errors.std() / np.sqrt(errors.size)  # bootstrap SE of the mean, exactly
    assert ci.distribution.mean() == pytest.approx(errors.mean(), abs=4 * se / np.sqrt(20_001))
    assert ci.standard_error == pytest.approx(se, rel=0.03)
    np.testing.assert_allclose(
        [ci.low, ci.high], np.quantile(ci.distribution, [0.025, 0.975]), rtol=1e-12
    )


@pytest.mark.parametrize("n", [6, 7])
def test_median_jackknife_closed_form(rng, n):
    errors = rng.normal(size=n)
    brute = [np.median(np.delete(errors, i)) for i in range(n)]
    closed = stats._jackknife(errors, "median")
    np.testing.assert_allclose(np.sort(closed), np.sort(brute))
    np.testing.assert_allclose(
        stats._jackknife(errors, "mean"), [np.mean(np.delete(errors, i)) for i in range(n)]
    )


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_agrees_with_scipy(rng, method):
    errors = rng.gamma(2.0, 0.05, size=300)
    ours = bootstrap_ci(errors, n_boot=20_000, random_state=1, method=method)
    theirs = scipy.stats.bootstrap(
        (errors,), np.mean, n_resamples=20_000, method=method, random_state=2
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours.low == pytest.approx(theirs.low, abs=0.05 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.05 * width)


def test_bca_shifts_the_interval_right_for_right_skewed_errors(rng):
    errors = rng.lognormal(0.0, 1.0, size=60)
    percentile = bootstrap_ci(errors, n_boot=20_000, random_state=0)
    bca = bootstrap_ci(errors, n_boot=20_000, random_state=0, method="bca")
    assert bca.low > percentile.low
    assert bca.high > percentile.high


# --------------------------------------------------------------------------
# bootstrap_ci: coverage on simulated data
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("level", "method"), [(0.95, "percentile"), (0.95, "bca"), (0.80, "percentile")]
)
def test_bootstrap_coverage_is_near_nominal(level, method):
    # 400 datasets of 300 skewed per-sample errors with a known mean; the
    # interval must contain the true mean in about ``level`` of them.
    # Binomial standard error of the coverage: sqrt(.95 * .05 / 400) = 0.011
    # (0.020 at 0.80); the tolerance is 3.5 of them.
    shape, scale, n, n_datasets = 3.0, 0.04, 300, 400
    true_mean = shape * scale
    rng = np.random.default_rng(12345)
    covered = 0
    for k in range(n_datasets):
        errors = rng.gamma(shape, scale, size=n)
        ci = bootstrap_ci(errors, n_boot=1000, level=level, random_state=k, method=method)
        covered += ci.low <= true_mean <= ci.high
    coverage = covered / n_datasets
    tolerance = 3.5 * np.sqrt(level * (1 - level) / n_datasets)
    assert abs(coverage - level) < tolerance, coverage


# --------------------------------------------------------------------------
# bootstrap_ci: determinism, API, errors
# --------------------------------------------------------------------------
def test_bootstrap_is_deterministic_given_random_state(rng):
    errors = rng.gamma(4.0, 0.03, size=1000)
    first = bootstrap_ci(errors, n_boot=5000, random_state=42)
    again = bootstrap_ci(errors, n_boot=5000, random_state=42)
    threaded = bootstrap_ci(errors, n_boot=5000, random_state=42, n_jobs=2)
    other = bootstrap_ci(errors, n_boot=5000, random_state=43)
    np.testing.assert_array_equal(first.distribution, again.distribution)
    np.testing.assert_array_equal(first.distribution, threaded.distribution)
    assert (first.low, first.high) == (again.low, again.high)
    assert not np.array_equal(first.distribution, other.distribution)
    from_generator = [
        bootstrap_ci(errors, n_boot=500, random_state=np.random.default_rng(7)).low
        for _ in range(2)
    ]
    assert from_generator[0] == from_generator[1]
    legacy = bootstrap_ci(errors, n_boot=500, random_state=np.random.RandomState(7))
    assert legacy.low < legacy.high


def test_bootstrap_does_not_touch_global_random_state(rng):
    errors = rng.gamma(4.0, 0.03, size=100)
    # The legacy global generator is what scikit-learn users may rely on.
    np.random.seed(0)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    bootstrap_ci(errors, n_boot=100, random_state=None)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_bootstrap_result_fields_and_unpacking(rng):
    errors = rng.gamma(4.0, 0.03, size=801)
    ci = bootstrap_ci(errors, n_boot=3000, level=0.9, random_state=0, statistic="median")
    low, high = ci
    assert (low, high) == (ci.low, ci.high)
    assert ci.estimate == np.median(errors)
    assert low < ci.estimate < high
    assert (ci.level, ci.n_boot, ci.statistic, ci.method) == (0.9, 3000, "median", "percentile")
    assert "distribution" not in repr(ci)
    # With an odd sample size every resample's median is one of the sample's values.
    assert np.isin(ci.distribution, errors).all()


def test_constant_errors_give_a_degenerate_interval():
    for method in ("percentile", "bca"):
        ci = bootstrap_ci(np.full(50, 0.125), n_boot=200, random_state=0, method=method)
        assert ci.low == ci.high == 0.125


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0.1, np.nan],), {}, "per_sample_err contains NaN"),
        (([[0.1, 0.2]],), {}, "per_sample_err must be 1-D"),
        (([0.1],), {}, "needs at least two samples"),
        (([],), {}, "per_sample_err is empty"),
        (([0.1, 0.2],), {"n_boot": 0}, "n_boot must be a positive integer"),
        (([0.1, 0.2],), {"n_boot": 10.5}, "n_boot must be a positive integer"),
        (([0.1, 0.2],), {"level": 95}, r"level must be a number in \(0, 1\)"),
        (([0.1, 0.2],), {"statistic": "trimmed"}, "statistic must be 'mean' or 'median'"),
        (([0.1, 0.2],), {"method": "basic"}, "method must be 'percentile' or 'bca'"),
        (([0.1, 0.2],), {"n_jobs": 0}, "n_jobs must be None, -1 or a positive integer"),
        (([0.1, 0.2],), {"random_state": "seed"}, "random_state must be None, an int"),
    ],
)
def test_bootstrap_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(*args, **kwargs)


@pytest.mark.slow
def test_bootstrap_at_study_scale_runs():
    # The D-GEX study's setting: 1e5 resamples of ~19,000 test samples' MAEs.
    errors = np.random.default_rng(0).gamma(4.0, 0.03, size=19_000)
    ci = bootstrap_ci(errors, n_boot=100_000, random_state=0)
    assert ci.distribution.shape == (100_000,)
    assert ci.low < ci.estimate < ci.high
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * errors.std() / np.sqrt(19_000), rel=0.05)


# --------------------------------------------------------------------------
# Docs
# --------------------------------------------------------------------------
def test_docstring_examples_run():
    result = doctest.testmod(
        stats, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 10
    assert result.failed == 0


def test_every_public_function_and_class_has_examples():
    for name in stats.__all__:
        assert "Examples\n    --------" in getattr(stats, name).__doc__, name
