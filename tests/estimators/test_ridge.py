"""Closed-form ridge and principal-component rank with exact leave-one-out choices (_fit.ridge)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

from sklearn_dgex._fit.ridge import CenteredSVD

ALPHAS = np.logspace(-2, 3, 11)


def problem(n_samples, n_features, n_targets, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) + 3.0  # off-centre: the intercept matters
    Y = X[:, :3] @ rng.normal(size=(3, n_targets)) + rng.normal(size=(n_samples, n_targets))
    return X, Y


def ridge_loo(X, Y, alphas):
    return CenteredSVD(X, Y).ridge(alphas)


def brute_force_loo_mse(X, Y, alpha):
    """Mean over samples of the squared error of the ridge refitted without each sample."""
    errors = []
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        model = Ridge(alpha=alpha).fit(X[keep], Y[keep])
        errors.append((model.predict(X[i : i + 1])[0] - Y[i]) ** 2)
    return np.mean(errors, axis=0)  # per target


@pytest.mark.parametrize(
    "shape",
    [(20, 30, 4), (40, 6, 3), (40, 6, 30)],
    ids=["more features than samples", "more samples", "more targets than rank"],
)
def test_loo_errors_and_alpha_equal_brute_force(shape):
    X, Y = problem(*shape)
    fit = ridge_loo(X, Y, ALPHAS)
    brute = np.array([brute_force_loo_mse(X, Y, alpha) for alpha in ALPHAS])
    np.testing.assert_allclose(fit.loo_mse, brute.mean(axis=1), rtol=1e-8)
    assert fit.alpha == ALPHAS[np.argmin(brute.mean(axis=1))]


def test_coefficients_equal_sklearn_ridge_and_alpha_equals_ridgecv():
    X, Y = problem(30, 12, 5)
    fit = ridge_loo(X, Y, ALPHAS)
    reference = Ridge(alpha=fit.alpha).fit(X, Y)
    np.testing.assert_allclose(fit.coef, reference.coef_.T, atol=1e-10)
    np.testing.assert_allclose(fit.intercept, reference.intercept_, atol=1e-10)
    np.testing.assert_allclose(fit.predict(X), reference.predict(X), atol=1e-10)
    assert fit.alpha == RidgeCV(alphas=ALPHAS).fit(X, Y).alpha_


def test_ridge_fit_at_a_given_alpha():
    X, Y = problem(25, 40, 2)
    fit = ridge_loo(X, Y, [7.0])
    np.testing.assert_allclose(fit.predict(X), Ridge(alpha=7.0).fit(X, Y).predict(X), atol=1e-10)
    assert fit.alpha == 7.0 and fit.loo_mse.shape == (1,)


def test_loo_predictions_are_those_of_refits_without_the_sample():
    X, Y = problem(15, 20, 3)
    fit = ridge_loo(X, Y, ALPHAS)
    loo = fit.loo_predict(X, Y)
    for i in (0, 7, 14):
        keep = np.arange(len(X)) != i
        refit = Ridge(alpha=fit.alpha).fit(X[keep], Y[keep])
        np.testing.assert_allclose(loo[i], refit.predict(X[i : i + 1])[0], atol=1e-9)


def test_pcr_loo_errors_equal_brute_force_for_every_rank():
    X, Y = problem(18, 8, 3)
    svd = CenteredSVD(X, Y)
    fast = svd.pcr_loo_mse()
    assert fast.shape == (9,)
    mean = X.mean(axis=0)
    for k in range(9):
        errors = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            # The smoother's axes are those of all samples (as ridge's are).
            Z = (X - mean) @ svd.Vt[:k].T
            if k == 0:
                prediction = Y[keep].mean(axis=0)
            else:
                prediction = LinearRegression().fit(Z[keep], Y[keep]).predict(Z[i : i + 1])[0]
            errors.append(np.mean((prediction - Y[i]) ** 2))
        assert fast[k] == pytest.approx(np.mean(errors), rel=1e-8)
    assert svd.pcr_rank() == int(np.argmin(fast))


def test_pcr_rank_finds_the_programs_and_interpolation_is_never_chosen():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(60, 4))
    X = Z @ rng.normal(size=(4, 80)) + 0.2 * rng.normal(size=(60, 80))
    Y = Z @ rng.normal(size=(4, 10)) + 0.2 * rng.normal(size=(60, 10))
    assert CenteredSVD(X, Y).pcr_rank() == 4
    # With n <= p, n - 1 axes interpolate: an infinite LOO error, never the choice.
    errors = CenteredSVD(X, Y).pcr_loo_mse()
    assert np.isinf(errors[59]) and np.all(np.isfinite(errors[:59]))


@pytest.mark.parametrize(
    ("alphas", "message"),
    [([], "non-empty"), ([1.0, -1.0], "positive"), ([np.nan], "finite"), ([[1.0]], "1-D")],
)
def test_bad_alphas_are_rejected(alphas, message):
    X, Y = problem(10, 3, 2)
    with pytest.raises(ValueError, match=message):
        ridge_loo(X, Y, alphas)


def test_bad_shapes_are_rejected():
    X, Y = problem(10, 3, 2)
    with pytest.raises(ValueError, match="same number of rows"):
        CenteredSVD(X, Y[:5])
    with pytest.raises(ValueError, match="2-D"):
        CenteredSVD(X, Y[:, 0])
    with pytest.raises(ValueError, match="at least 3 samples"):
        CenteredSVD(X[:2], Y[:2])
