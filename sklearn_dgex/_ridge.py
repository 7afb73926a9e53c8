"""Closed-form ridge regression with an efficient leave-one-out choice of alpha.

One thin SVD of the centred inputs, ``Xc = U diag(s) V^T``, gives the ridge
solution and its exact leave-one-out (LOO) residuals for every alpha of a grid
without refitting. With an unpenalised intercept, the hat matrix is
``H = 11^T / n + U diag(f) U^T`` with shrinkage factors ``f = s^2 / (s^2 + alpha)``,
so the residuals and the leverages are

    E(alpha) = Yc - U diag(f) U^T Yc
    h_i(alpha) = 1 / n + sum_k U_ik^2 f_k

and the LOO residual of sample ``i`` is ``E_i / (1 - h_i)`` (the classical
identity for linear smoothers; it is what ``sklearn.linear_model.RidgeCV``
computes too). The alpha with the lowest LOO mean squared error is chosen,
shared by all targets or one per target.

This module is numpy only: the estimators use it to initialise the linear
shortcut of their networks (see :mod:`sklearn_dgex.nn.shortcut` and the user
guide page "Small data").
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_ALPHAS", "RidgeFit", "ridge_fit", "ridge_loo"]

#: Alphas tried by :func:`ridge_loo`: half decades from 1e-2 to 1e7. The grid is
#: meant for standardised inputs (the estimators' scaled space), where the
#: squared singular values of ``Xc`` sum to ``n_samples * n_features``, so the
#: best alpha of expression data lies well inside it.
DEFAULT_ALPHAS = np.logspace(-2, 7, 19)


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge regression: ``Y ~ X @ coef + intercept``.

    Attributes
    ----------
    coef : ndarray of shape (n_features, n_targets)
        Weights (float64).
    intercept : ndarray of shape (n_targets,)
        Intercepts (not penalised).
    alpha : float or ndarray of shape (n_targets,)
        The penalty: one for all targets or one per target.
    alphas : ndarray of shape (n_alphas,)
        The alphas that were tried.
    loo_mse : ndarray of shape (n_alphas,) or (n_alphas, n_targets)
        Leave-one-out mean squared error of each alpha (mean over samples and
        targets, or over samples for each target).
    leverage : ndarray of shape (n_samples, 1) or (n_samples, n_targets)
        Diagonal of the hat matrix at the chosen alpha(s), for each training
        sample (one column per target with ``alpha_per_target``).
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: float | np.ndarray
    alphas: np.ndarray
    loo_mse: np.ndarray
    leverage: np.ndarray

    def predict(self, X):
        """Predictions ``X @ coef + intercept`` (float64)."""
        return np.asarray(X, dtype=np.float64) @ self.coef + self.intercept

    def loo_predict(self, X, Y, rows=slice(None)):
        """Leave-one-out predictions of training samples ``rows``.

        ``X`` and ``Y`` are those training samples; the prediction of each is
        that of the ridge fitted without it, ``Y - (Y - predict(X)) / (1 - h)``.
        """
        Y = np.asarray(Y, dtype=np.float64)
        residuals = Y - self.predict(X)
        return Y - residuals / (1.0 - self.leverage[rows])


class _CenteredSVD:
    """The quantities of ridge that do not depend on alpha."""

    def __init__(self, X, Y):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        self.n_samples = len(X)
        self.x_mean = X.mean(axis=0)
        self.y_mean = Y.mean(axis=0)
        Xc = X - self.x_mean
        self.Yc = Y - self.y_mean
        self.U, self.s, self.Vt = np.linalg.svd(Xc, full_matrices=False)
        self.s2 = self.s**2
        self.Q = self.U.T @ self.Yc  # targets in the basis of U
        # The part of the targets no ridge can fit (zero when n_samples <= n_features).
        self.R0 = self.Yc - self.U @ self.Q
        self.U2 = self.U**2

    def shrinkage(self, alpha):
        return self.s2 / (self.s2 + alpha)

    def leverage(self, alpha):
        """Diagonal of the hat matrix, intercept included."""
        return 1.0 / self.n_samples + self.U2 @ self.shrinkage(alpha)

    def loo_weights(self, alpha):
        """``1 / (1 - h_i)``: the factor from a residual to its LOO residual."""
        leverage = self.leverage(alpha)
        # Exact interpolation (alpha -> 0 with n <= p) has h_i -> 1: an
        # infinite LOO error, which is right, not a division warning.
        with np.errstate(divide="ignore"):
            return 1.0 / np.maximum(1.0 - leverage, 0.0)

    def residuals(self, alpha):
        return self.R0 + (self.U * (1.0 - self.shrinkage(alpha))) @ self.Q

    def loo_mse_per_target(self, alpha):
        loo = self.residuals(alpha) * self.loo_weights(alpha)[:, None]
        return np.mean(loo**2, axis=0)

    def coef(self, alpha, columns=slice(None)):
        """``V diag(s / (s^2 + alpha)) Q`` of some targets, shape (n_features, n_columns)."""
        return self.Vt.T @ ((self.s / (self.s2 + alpha))[:, None] * self.Q[:, columns])


class _SharedLOO:
    """LOO mean squared error summed over targets, without an (n, targets) array per alpha.

    With ``G = diag(1 - f)`` the residual row ``E_i = R0_i + (U G)_i Q`` has
    ``|E_i|^2 = |R0_i|^2 + 2 (U G)_i (Q R0^T)_{:, i} + (U G)_i (Q Q^T) (U G)_i^T``,
    so after computing ``Q Q^T`` and ``Q R0^T`` once, each alpha costs
    ``n * r^2`` instead of ``n * r * n_targets`` (r = rank of the SVD).
    """

    def __init__(self, svd):
        self.svd = svd
        self.R0_sq = np.einsum("ij,ij->i", svd.R0, svd.R0)
        self.M = svd.Q @ svd.Q.T
        self.C = svd.Q @ svd.R0.T

    def __call__(self, alpha):
        svd = self.svd
        UG = svd.U * (1.0 - svd.shrinkage(alpha))
        row_sq = (
            self.R0_sq
            + 2.0 * np.einsum("ik,ki->i", UG, self.C)
            + np.einsum("ij,ij->i", UG @ self.M, UG)
        )
        row_sq = np.maximum(row_sq, 0.0)  # rounding of nearly exact fits
        n_values = svd.n_samples * svd.Yc.shape[1]
        return float(np.sum(row_sq * svd.loo_weights(alpha) ** 2) / n_values)


def _check_alphas(alphas):
    alphas = np.asarray(DEFAULT_ALPHAS if alphas is None else alphas, dtype=np.float64)
    alphas = np.atleast_1d(alphas)
    if alphas.ndim != 1 or len(alphas) == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty 1-D array of finite floats; got {alphas!r}.")
    if np.any(alphas <= 0):
        raise ValueError(f"alphas must be positive; got {alphas.tolist()}.")
    return alphas


def _check_data(X, Y):
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(
            "X and Y must be 2-D arrays with the same number of rows; got shapes "
            f"{X.shape} and {Y.shape}."
        )
    if len(X) < 3:
        raise ValueError(f"ridge with leave-one-out needs at least 3 samples; got {len(X)}.")
    return X, Y


def ridge_fit(X, Y, alpha):
    """Closed-form ridge regression with an unpenalised intercept.

    Minimises ``|Y - X W - 1 b^T|^2 + alpha |W|^2`` for every target, as
    ``sklearn.linear_model.Ridge(alpha)`` does, through one SVD.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_targets)
        Targets.
    alpha : float
        Penalty (positive).

    Returns
    -------
    fit : RidgeFit
        ``loo_mse`` holds the LOO error of ``alpha`` (shape (1,)).

    See Also
    --------
    ridge_loo : Choose alpha by leave-one-out.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex._ridge import ridge_fit
    >>> X = np.arange(12.0).reshape(6, 2) ** 0.5
    >>> Y = X @ [[1.0], [2.0]] + 3.0
    >>> fit = ridge_fit(X, Y, alpha=1e-9)
    >>> np.round(fit.coef.ravel(), 3), np.round(fit.intercept, 3)
    (array([1., 2.]), array([3.]))
    """
    return ridge_loo(X, Y, alphas=[alpha])


def ridge_loo(X, Y, alphas=None, *, alpha_per_target=False):
    """Ridge regression whose alpha minimises the exact leave-one-out error.

    The LOO residuals of every alpha come from one thin SVD of the centred
    ``X`` (see the module docstring), so the cost is one SVD plus, per
    alpha, ``n_samples * rank^2`` (shared alpha) or
    ``n_samples * rank * n_targets`` (one alpha per target) operations.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs; the default ``alphas`` suit standardised columns.
    Y : array-like of shape (n_samples, n_targets)
        Targets.
    alphas : array-like of shape (n_alphas,), default=None
        Positive penalties to try; None is :data:`DEFAULT_ALPHAS`.
    alpha_per_target : bool, default=False
        Choose one alpha per target (each minimising its own LOO error)
        rather than one shared alpha minimising the mean over targets.

    Returns
    -------
    fit : RidgeFit
        Coefficients at the chosen alpha(s), the alphas and their LOO errors.

    Raises
    ------
    ValueError
        If the shapes disagree, there are fewer than 3 samples, or an alpha
        is not positive.

    See Also
    --------
    sklearn.linear_model.RidgeCV : The same LOO choice, on scikit-learn's side.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex._ridge import ridge_loo
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5))
    >>> Y = X @ rng.normal(size=(5, 3)) + rng.normal(size=(40, 3))
    >>> fit = ridge_loo(X, Y, alphas=[0.1, 1.0, 10.0, 100.0])
    >>> fit.coef.shape, fit.loo_mse.shape, float(fit.alpha) in (0.1, 1.0, 10.0)
    ((5, 3), (4,), True)
    """
    X, Y = _check_data(X, Y)
    alphas = _check_alphas(alphas)
    svd = _CenteredSVD(X, Y)
    n_targets = Y.shape[1]
    rank = len(svd.s)
    if alpha_per_target or n_targets <= rank:
        per_target = np.stack([svd.loo_mse_per_target(alpha) for alpha in alphas])
    if alpha_per_target:
        best = np.argmin(per_target, axis=0)
        alpha = alphas[best]
        coef = np.empty((X.shape[1], n_targets))
        leverage = np.empty((len(X), n_targets))
        for index in np.unique(best):
            columns = best == index
            coef[:, columns] = svd.coef(alphas[index], columns)
            leverage[:, columns] = svd.leverage(alphas[index])[:, None]
        loo_mse = per_target
    else:
        if n_targets <= rank:
            loo_mse = per_target.mean(axis=1)
        else:
            shared = _SharedLOO(svd)
            loo_mse = np.array([shared(alpha) for alpha in alphas])
        alpha = float(alphas[int(np.argmin(loo_mse))])
        coef = svd.coef(alpha)
        leverage = svd.leverage(alpha)[:, None]
    intercept = svd.y_mean - svd.x_mean @ coef
    return RidgeFit(
        coef=coef,
        intercept=intercept,
        alpha=alpha,
        alphas=alphas,
        loo_mse=loo_mse,
        leverage=leverage,
    )
