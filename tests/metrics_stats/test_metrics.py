"""Tests of sklearn_dgex.metrics against independent numpy, scipy and scikit-learn computations."""

import doctest
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics import (
    mean_absolute_error,
    mean_squared_error,
    root_mean_squared_error,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklearn_dgex import metrics
from sklearn_dgex.metrics import (
    epochs_to_threshold,
    mmae,
    mmae_scorer,
    per_gene_mae,
    per_gene_pearson,
    per_sample_mae,
    rmse,
    rmse_scorer,
    share_of_genes_better,
)


@pytest.fixture
def pair(rng):
    y_true = rng.normal(8.0, 2.0, size=(40, 7))
    y_pred = y_true + rng.standard_t(3, size=y_true.shape) * 0.3
    return y_true, y_pred


@pytest.fixture
def weights(rng):
    return rng.uniform(0.0, 3.0, size=40), rng.uniform(0.1, 2.0, size=7)


# --------------------------------------------------------------------------
# Against independent numpy computations
# --------------------------------------------------------------------------
def test_per_sample_and_per_gene_mae_match_numpy(pair, weights):
    y_true, y_pred = pair
    sample_w, gene_w = weights
    abs_err = np.abs(y_true - y_pred)
    np.testing.assert_allclose(per_sample_mae(y_true, y_pred), abs_err.mean(axis=1))
    np.testing.assert_allclose(
        per_sample_mae(y_true, y_pred, multioutput=gene_w),
        (abs_err * gene_w).sum(axis=1) / gene_w.sum(),
    )
    np.testing.assert_allclose(per_gene_mae(y_true, y_pred), abs_err.mean(axis=0))
    np.testing.assert_allclose(
        per_gene_mae(y_true, y_pred, sample_weight=sample_w),
        (abs_err * sample_w[:, None]).sum(axis=0) / sample_w.sum(),
    )


def test_mmae_is_equation_2(pair, weights):
    y_true, y_pred = pair
    sample_w, gene_w = weights
    # Equation (2) written as literally as possible: a loop over samples.
    per_sample = [np.mean(np.abs(y_true[s] - y_pred[s])) for s in range(len(y_true))]
    assert mmae(y_true, y_pred) == pytest.approx(sum(per_sample) / len(per_sample), rel=1e-12)
    assert mmae(y_true, y_pred, sample_weight=sample_w) == pytest.approx(
        np.dot(sample_w, per_sample) / sample_w.sum(), rel=1e-12
    )
    gene_weighted = (np.abs(y_true - y_pred) @ gene_w) / gene_w.sum()
    assert mmae(y_true, y_pred, multioutput=gene_w) == pytest.approx(gene_weighted.mean())
    assert isinstance(mmae(y_true, y_pred), float)


def test_rmse_is_root_of_mean_over_all_entries(pair, weights):
    y_true, y_pred = pair
    sample_w, gene_w = weights
    sq = (y_true - y_pred) ** 2
    assert rmse(y_true, y_pred) == pytest.approx(np.sqrt(sq.mean()), rel=1e-12)
    np.testing.assert_allclose(
        rmse(y_true, y_pred, multioutput="raw_values"), np.sqrt(sq.mean(axis=0))
    )
    weighted_mse = (sq * sample_w[:, None]).sum() / (sample_w.sum() * sq.shape[1])
    assert rmse(y_true, y_pred, sample_weight=sample_w) == pytest.approx(np.sqrt(weighted_mse))
    per_gene_mse = sq.mean(axis=0)
    assert rmse(y_true, y_pred, multioutput=gene_w) == pytest.approx(
        np.sqrt(np.dot(per_gene_mse, gene_w) / gene_w.sum())
    )


# --------------------------------------------------------------------------
# Against scikit-learn where the definitions coincide
# --------------------------------------------------------------------------
@pytest.mark.parametrize("multioutput", ["uniform_average", "raw_values", "gene_weights"])
@pytest.mark.parametrize("use_sample_weight", [False, True])
def test_mmae_equals_sklearn_mean_absolute_error(pair, weights, multioutput, use_sample_weight):
    y_true, y_pred = pair
    sample_w = weights[0] if use_sample_weight else None
    mo = weights[1] if multioutput == "gene_weights" else multioutput
    ours = mmae(y_true, y_pred, sample_weight=sample_w, multioutput=mo)
    theirs = mean_absolute_error(y_true, y_pred, sample_weight=sample_w, multioutput=mo)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("use_sample_weight", [False, True])
def test_rmse_equals_sklearn_where_definitions_coincide(pair, weights, use_sample_weight):
    y_true, y_pred = pair
    sample_w = weights[0] if use_sample_weight else None
    # Per gene: identical.
    np.testing.assert_allclose(
        rmse(y_true, y_pred, sample_weight=sample_w, multioutput="raw_values"),
        root_mean_squared_error(y_true, y_pred, sample_weight=sample_w, multioutput="raw_values"),
        rtol=1e-12,
    )
    # Aggregated: the root of sklearn's (uniformly averaged) mean squared error...
    assert rmse(y_true, y_pred, sample_weight=sample_w) == pytest.approx(
        np.sqrt(mean_squared_error(y_true, y_pred, sample_weight=sample_w)), rel=1e-12
    )
    # ...whereas sklearn's RMSE averages per-gene roots, as documented.
    sklearn_uniform = root_mean_squared_error(y_true, y_pred, sample_weight=sample_w)
    raw = rmse(y_true, y_pred, sample_weight=sample_w, multioutput="raw_values")
    assert raw.mean() == pytest.approx(sklearn_uniform, rel=1e-12)
    assert sklearn_uniform < rmse(y_true, y_pred, sample_weight=sample_w)
    # With one gene they coincide.
    assert rmse(y_true[:, 0], y_pred[:, 0], sample_weight=sample_w) == pytest.approx(
        root_mean_squared_error(y_true[:, 0], y_pred[:, 0], sample_weight=sample_w), rel=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(1, 12),
    n_genes=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_mmae_and_rmse_agree_with_sklearn_on_random_shapes(n_samples, n_genes, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(size=(n_samples, n_genes))
    y_pred = rng.normal(size=(n_samples, n_genes))
    assert mmae(y_true, y_pred) == pytest.approx(mean_absolute_error(y_true, y_pred))
    np.testing.assert_allclose(
        rmse(y_true, y_pred, multioutput="raw_values"),
        root_mean_squared_error(y_true, y_pred, multioutput="raw_values"),
    )


def test_one_dimensional_targets_are_one_gene(rng):
    y_true = rng.normal(size=25)
    y_pred = y_true + rng.normal(size=25)
    assert mmae(y_true, y_pred) == pytest.approx(mean_absolute_error(y_true, y_pred))
    assert rmse(y_true, y_pred) == pytest.approx(root_mean_squared_error(y_true, y_pred))
    np.testing.assert_allclose(per_sample_mae(y_true, y_pred), np.abs(y_true - y_pred))
    assert per_gene_mae(y_true, y_pred).shape == (1,)
    assert per_gene_pearson(y_true, y_pred).shape == (1,)
    # A column vector and a 1-D vector are the same target.
    assert mmae(y_true.reshape(-1, 1), y_pred) == pytest.approx(mmae(y_true, y_pred))


def test_lists_and_dataframes_are_accepted(pair):
    pd = pytest.importorskip("pandas")
    y_true, y_pred = pair
    frame = pd.DataFrame(y_true, columns=[f"g{i}" for i in range(y_true.shape[1])])
    assert mmae(frame, y_pred) == pytest.approx(mmae(y_true, y_pred))
    assert rmse(y_true.tolist(), y_pred.tolist()) == pytest.approx(rmse(y_true, y_pred))


def test_blocked_computation_equals_one_block(pair, weights, monkeypatch):
    y_true, y_pred = pair
    sample_w, gene_w = weights
    calls = [
        lambda: per_sample_mae(y_true, y_pred, multioutput=gene_w),
        lambda: per_gene_mae(y_true, y_pred, sample_weight=sample_w),
        lambda: rmse(y_true, y_pred, sample_weight=sample_w, multioutput="raw_values"),
        lambda: per_gene_pearson(y_true, y_pred, sample_weight=sample_w),
    ]
    whole = [call() for call in calls]
    monkeypatch.setattr(metrics, "_BLOCK_ENTRIES", 10)  # one row per block here
    for call, expected in zip(calls, whole):
        np.testing.assert_allclose(call(), expected, rtol=1e-12)


def test_float32_inputs_accumulate_in_float64(rng):
    y_true = rng.normal(10.0, 2.0, size=(300, 50)).astype(np.float32)
    y_pred = (y_true + rng.normal(0, 0.1, size=y_true.shape)).astype(np.float32)
    exact = np.abs(y_true.astype(np.float64) - y_pred.astype(np.float64)).mean()
    assert mmae(y_true, y_pred) == pytest.approx(exact, rel=1e-6)
    assert per_sample_mae(y_true, y_pred).dtype == np.float64


# --------------------------------------------------------------------------
# Pearson
# --------------------------------------------------------------------------
def test_per_gene_pearson_matches_scipy(pair):
    y_true, y_pred = pair
    expected = [scipy.stats.pearsonr(y_true[:, g], y_pred[:, g]).statistic for g in range(7)]
    np.testing.assert_allclose(per_gene_pearson(y_true, y_pred), expected, rtol=1e-10)


def test_weighted_pearson_equals_repeated_rows(pair, rng):
    y_true, y_pred = pair
    counts = rng.integers(0, 4, size=len(y_true))
    counts[:3] = [1, 2, 3]  # at least a few rows keep weight
    repeated = np.repeat(np.arange(len(y_true)), counts)
    np.testing.assert_allclose(
        per_gene_pearson(y_true, y_pred, sample_weight=counts),
        per_gene_pearson(y_true[repeated], y_pred[repeated]),
        rtol=1e-10,
    )


def test_pearson_constant_genes_get_constant_value_without_warning(rng):
    y_true = rng.normal(size=(30, 4))
    y_pred = y_true + rng.normal(scale=0.5, size=y_true.shape)
    y_true[:, 1] = 0.1  # constant measured gene; its mean is not exactly 0.1 in floats
    y_pred[:, 2] = 7.0  # constant prediction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r_nan = per_gene_pearson(y_true, y_pred)
        r_zero = per_gene_pearson(y_true, y_pred, constant_value=0.0)
    assert np.isnan(r_nan[[1, 2]]).all()
    assert np.isfinite(r_nan[[0, 3]]).all()
    np.testing.assert_array_equal(r_zero[[1, 2]], [0.0, 0.0])
    np.testing.assert_array_equal(r_zero[[0, 3]], r_nan[[0, 3]])
    # A gene constant only on rows that have weight counts as constant.
    y_true[0, 3] = 100.0
    w = np.ones(30)
    w[0] = 0.0
    y_true[1:, 3] = 2.0
    assert np.isnan(per_gene_pearson(y_true, y_pred, sample_weight=w)[3])
    # One sample: every gene is constant.
    assert np.isnan(per_gene_pearson(y_true[:1], y_pred[:1])).all()


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
ALL_PAIR_METRICS = [mmae, rmse, per_sample_mae, per_gene_mae, per_gene_pearson]


@pytest.mark.parametrize("metric", ALL_PAIR_METRICS)
def test_shape_mismatch_is_reported(metric):
    with pytest.raises(ValueError, match=r"y_true and y_pred must have the same shape.*\(5, 3\)"):
        metric(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="same shape"):
        metric(np.zeros((5, 3)), np.zeros((4, 3)))


@pytest.mark.parametrize("metric", ALL_PAIR_METRICS)
@pytest.mark.parametrize("argument", ["y_true", "y_pred"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_reported_by_argument(metric, argument, bad):
    good = np.ones((4, 3))
    broken = good.copy()
    broken[2, 1] = bad
    args = (broken, good) if argument == "y_true" else (good, broken)
    with pytest.raises(ValueError, match=f"{argument} contains .*(NaN|infinite)"):
        metric(*args)


@pytest.mark.parametrize("metric", ALL_PAIR_METRICS)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0)])
def test_empty_input_is_reported(metric, shape):
    with pytest.raises(ValueError, match="y_true is empty"):
        metric(np.zeros(shape), np.zeros(shape))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((2, 2, 2)), "y_pred must be 1-D .* or 2-D"),
        (np.float64(1.0), "y_pred must be 1-D"),
        (np.array([["a", "b"], ["c", "d"]]), "y_pred could not be read as a real-valued"),
        (np.ones((2, 2)) * 1j, "y_pred could not be read as a real-valued"),
    ],
)
def test_malformed_arrays_are_reported(value, match):
    with pytest.raises(ValueError, match=match):
        mmae(np.ones((2, 2)), value)


@pytest.mark.parametrize("metric", [mmae, rmse, per_gene_mae, per_gene_pearson])
@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        ([1.0, 1.0], r"sample_weight must be a 1-D array with one weight per sample.*\(4\)"),
        ([1.0, -1.0, 1.0, 1.0], "sample_weight must be non-negative"),
        ([0.0, 0.0, 0.0, 0.0], "sample_weight must have a positive sum"),
        ([1.0, np.nan, 1.0, 1.0], "sample_weight contains NaN"),
    ],
)
def test_bad_sample_weight_is_reported(metric, sample_weight, match):
    with pytest.raises(ValueError, match=match):
        metric(np.ones((4, 3)), np.zeros((4, 3)), sample_weight=sample_weight)


@pytest.mark.parametrize("metric", [mmae, rmse])
def test_bad_multioutput_is_reported(metric):
    with pytest.raises(ValueError, match="multioutput must be one of"):
        metric(np.ones((4, 3)), np.zeros((4, 3)), multioutput="variance_weighted")
    with pytest.raises(ValueError, match=r"multioutput must be a 1-D array .* gene .*\(3\)"):
        metric(np.ones((4, 3)), np.zeros((4, 3)), multioutput=[1.0, 2.0])


def test_per_sample_mae_rejects_raw_values():
    # Raw values per sample *and* gene would just be the absolute error matrix.
    with pytest.raises(ValueError, match="multioutput must be one of"):
        per_sample_mae(np.ones((4, 3)), np.zeros((4, 3)), multioutput="raw_values")


def test_pearson_rejects_non_numeric_constant_value():
    with pytest.raises(ValueError, match="constant_value must be a real number"):
        per_gene_pearson(np.ones((4, 3)), np.zeros((4, 3)), constant_value="zero")


# --------------------------------------------------------------------------
# Comparisons and curves
# --------------------------------------------------------------------------
def test_share_of_genes_better(rng, pair):
    y_true, y_pred = pair
    baseline = y_true + rng.normal(scale=1.0, size=y_true.shape)
    err_model, err_base = per_gene_mae(y_true, y_pred), per_gene_mae(y_true, baseline)
    expected = np.count_nonzero(err_model < err_base) / err_model.size
    assert share_of_genes_better(err_model, err_base) == expected
    assert share_of_genes_better([1.0, 2.0], [1.0, 2.0]) == 0.0  # ties are not wins
    assert share_of_genes_better([0.5, 2.5, 1.0], [1.0, 2.0, 3.0]) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("err_model", "err_baseline", "match"),
    [
        ([1.0, 2.0], [1.0], "one error per gene"),
        ([], [], "err_model is empty"),
        ([[1.0]], [[1.0]], "err_model must be 1-D"),
        ([1.0, np.nan], [1.0, 1.0], "err_model contains 1 NaN"),
        ([1.0, 1.0], [1.0, np.inf], "err_baseline contains 0 NaN and 1 infinite"),
    ],
)
def test_share_of_genes_better_errors(err_model, err_baseline, match):
    with pytest.raises(ValueError, match=match):
        share_of_genes_better(err_model, err_baseline)


@pytest.mark.parametrize(
    ("curve", "threshold", "expected"),
    [
        ([0.2, 0.1, 0.05], 0.1, 2),  # reaching exactly the threshold counts
        ([0.05, 0.2], 0.1, 1),
        ([0.2, 0.15], 0.1, None),
        ([], 0.1, None),
        ([0.2, None, np.nan, 0.09], 0.1, 4),  # missing epochs never count
        (np.array([3.0, 2.0, 1.0, 2.0, 0.5]), 1.5, 3),
    ],
)
def test_epochs_to_threshold(curve, threshold, expected):
    assert epochs_to_threshold(curve, threshold) == expected


def test_epochs_to_threshold_errors():
    with pytest.raises(ValueError, match="curve must be 1-D"):
        epochs_to_threshold([[0.1, 0.2]], 0.1)
    with pytest.raises(ValueError, match="curve must be a 1-D sequence of numbers"):
        epochs_to_threshold(["fast", "slow"], 0.1)
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        epochs_to_threshold([0.1], np.nan)
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        epochs_to_threshold([0.1], "0.1")


# --------------------------------------------------------------------------
# Scorers in real model selection
# --------------------------------------------------------------------------
@pytest.fixture
def regression_data(rng):
    X = rng.normal(size=(90, 6))
    Y = X @ rng.normal(size=(6, 4)) + rng.normal(scale=0.5, size=(90, 4))
    return X, Y


def _cv_metric(metric, estimator, X, Y, cv):
    return [
        metric(Y[test], estimator.fit(X[train], Y[train]).predict(X[test]))
        for train, test in cv.split(X)
    ]


def test_mmae_scorer_in_grid_search_selects_lowest_mmae(regression_data):
    X, Y = regression_data
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    alphas = [0.01, 10.0, 300.0]
    search = GridSearchCV(Ridge(), {"alpha": alphas}, scoring=mmae_scorer, cv=cv).fit(X, Y)
    cv_mmae = {a: np.mean(_cv_metric(mmae, Ridge(alpha=a), X, Y, cv)) for a in alphas}
    best_alpha = min(cv_mmae, key=cv_mmae.get)
    assert search.best_params_ == {"alpha": best_alpha}
    assert search.best_score_ == pytest.approx(-cv_mmae[best_alpha], rel=1e-10)
    assert search.best_score_ < 0  # negated: higher is better for scikit-learn
    # The strongly regularised model must lose, so the sign matters for the choice.
    assert best_alpha != 300.0


def test_scorers_in_cross_validate(regression_data):
    X, Y = regression_data
    cv = KFold(n_splits=4, shuffle=True, random_state=1)
    scoring = {"mmae": mmae_scorer, "rmse": rmse_scorer}
    scores = cross_validate(Ridge(), X, Y, cv=cv, scoring=scoring)
    np.testing.assert_allclose(scores["test_mmae"], -np.array(_cv_metric(mmae, Ridge(), X, Y, cv)))
    np.testing.assert_allclose(scores["test_rmse"], -np.array(_cv_metric(rmse, Ridge(), X, Y, cv)))


def test_scorer_passes_sample_weight(regression_data, rng):
    X, Y = regression_data
    model = Ridge().fit(X, Y)
    w = rng.uniform(0.0, 2.0, size=len(X))
    assert mmae_scorer(model, X, Y, sample_weight=w) == pytest.approx(
        -mmae(Y, model.predict(X), sample_weight=w)
    )
    assert rmse_scorer(model, X, Y) == pytest.approx(-rmse(Y, model.predict(X)))


# --------------------------------------------------------------------------
# Docs
# --------------------------------------------------------------------------
def test_docstring_examples_run():
    result = doctest.testmod(
        metrics, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 10
    assert result.failed == 0


def test_docs_page_examples_run():
    page = Path(__file__).resolve().parents[2] / "docs" / "metrics.rst"
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 20
    assert result.failed == 0


def test_every_public_function_has_examples():
    for name in metrics.__all__:
        obj = getattr(metrics, name)
        if callable(obj) and not name.endswith("_scorer"):
            assert "Examples\n    --------" in obj.__doc__, name
