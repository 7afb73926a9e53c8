"""Closed-form ridge regression and principal-component rank with exact leave-one-out choices.

One thin SVD of the centred inputs, ``Xc = U diag(s) V^T``, gives the exact
leave-one-out (LOO) residuals of every linear smoother ``Y ~ U diag(f) U^T Yc``
without refitting: ridge regression has the filter ``f = s^2 / (s^2 + alpha)``,
principal component regression (PCR) on the first ``k`` axes has ``f = 1`` for
them and 0 after. With an unpenalised intercept the hat matrix is
``H = 11^T / n + U diag(f) U^T``, so the residuals and leverages are

    E = Yc - U diag(f) U^T Yc
    h_i = 1 / n + sum_j U_ij^2 f_j

and the LOO residual of sample ``i`` is ``E_i / (1 - h_i)`` (the classical
identity for linear smoothers; ``sklearn.linear_model.RidgeCV`` computes the
same for ridge). :meth:`CenteredSVD.ridge` picks the alpha with the lowest
LOO mean squared error over all targets; :meth:`CenteredSVD.pcr_rank` the
number of principal axes.

This module is numpy only: the estimators use it for the linear shortcut of
their networks (see :mod:`sklearn_dgex.nn.shortcut` and the user guide page
"Small data").
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_ALPHAS",
    "RELATIVE_ALPHAS",
    "CenteredSVD",
    "RidgeFit",
    "best_input_scaling_ridge",
]

#: Alphas tried by :meth:`CenteredSVD.ridge` by default: half decades from 1e-2 to 1e7. The grid is
#: meant for standardised inputs (the estimators' scaled space), where the
#: squared singular values of ``Xc`` sum to ``n_samples * n_features``, so the
#: best alpha of expression data lies well inside it.
DEFAULT_ALPHAS = np.logspace(-2, 7, 19)

#: Alphas tried by :func:`best_input_scaling_ridge`, relative to the mean
#: variance of the input columns: half decades from 1e-3 to 1e7. On
#: standardised inputs they are :data:`DEFAULT_ALPHAS` and one more decade
#: below, so the choice covers ``RidgeCV(alphas=DEFAULT_ALPHAS)``; on raw log2
#: inputs the same grid follows the data's own scale.
RELATIVE_ALPHAS = np.logspace(-3, 7, 21)


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge regression: ``Y ~ X @ coef + intercept``.

    Attributes
    ----------
    coef : ndarray of shape (n_features, n_targets)
        Weights (float64).
    intercept : ndarray of shape (n_targets,)
        Intercepts (not penalised).
    alpha : float
        The penalty, shared by all targets.
    alphas : ndarray of shape (n_alphas,)
        The alphas that were tried.
    loo_mse : ndarray of shape (n_alphas,)
        Leave-one-out mean squared error of each alpha (mean over samples and
        targets).
    leverage : ndarray of shape (n_samples, 1)
        Diagonal of the hat matrix at the chosen alpha, for each training
        sample.
    inputs : str
        Which scaling of the inputs the penalty was applied to: "given" (the
        inputs as passed), or the name of the candidate that
        :func:`best_input_scaling_ridge` chose. ``coef`` always applies to the
        inputs as passed.
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    alphas: np.ndarray
    loo_mse: np.ndarray
    leverage: np.ndarray
    inputs: str = "given"

    def predict(self, X):
        """Predictions ``X @ coef + intercept`` (float64)."""
        return np.asarray(X, dtype=np.float64) @ self.coef + self.intercept

    def loo_predict(self, X, Y):
        """Leave-one-out predictions of the training samples ``X``, ``Y`` (all, in order).

        The prediction of each sample is that of the ridge fitted without
        it: ``Y - (Y - predict(X)) / (1 - leverage)``.
        """
        Y = np.asarray(Y, dtype=np.float64)
        return Y - (Y - self.predict(X)) / (1.0 - self.leverage)


class CenteredSVD:
    """Thin SVD of the centred inputs and what every linear smoother's LOO error needs.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_targets)
        Targets.

    Attributes
    ----------
    s : ndarray of shape (rank,)
        Singular values of the centred ``X``, decreasing (``rank = min(n, p)``).
    Vt : ndarray of shape (rank, n_features)
        Right singular vectors: the principal axes of ``X``.
    n_samples : int
        Number of samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex._fit.ridge import CenteredSVD
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4))
    >>> svd = CenteredSVD(X, X @ rng.normal(size=(4, 2)))
    >>> svd.s.shape, svd.ridge([0.1, 1.0]).coef.shape
    ((4,), (4, 2))
    """

    def __init__(self, X, Y):
        X, Y = _check_data(X, Y)
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        self.n_samples = len(X)
        self.x_mean = X.mean(axis=0)
        self.y_mean = Y.mean(axis=0)
        self.Yc = Y - self.y_mean
        self.U, self.s, self.Vt = np.linalg.svd(X - self.x_mean, full_matrices=False)
        self.s2 = self.s**2
        self.Q = self.U.T @ self.Yc  # targets in the basis of U
        # The part of the targets no linear model of X fits (zero when n_samples <= n_features).
        self.R0 = self.Yc - self.U @ self.Q
        self.U2 = self.U**2

    # -- any filter f (one factor per singular value) -------------------------
    def leverage(self, f):
        """Diagonal of the hat matrix of filter ``f``, intercept included."""
        return 1.0 / self.n_samples + self.U2 @ f

    def loo_weights(self, f):
        """``1 / (1 - h_i)``: the factor from a residual to its LOO residual."""
        # Exact interpolation (alpha -> 0 with n <= p) has h_i -> 1: an
        # infinite LOO error, which is right, not a division warning.
        with np.errstate(divide="ignore"):
            return 1.0 / np.maximum(1.0 - self.leverage(f), 0.0)

    def loo_mse_per_target(self, f):
        residuals = self.R0 + (self.U * (1.0 - f)) @ self.Q
        return np.mean((residuals * self.loo_weights(f)[:, None]) ** 2, axis=0)

    def loo_mse(self, f):
        """LOO mean squared error over samples and targets of filter ``f``."""
        if self.Q.shape[1] <= len(self.s):
            return float(np.mean(self.loo_mse_per_target(f)))
        return self._shared_loo()(f)

    def _shared_loo(self):
        if not hasattr(self, "_shared"):
            self._shared = _SharedLOO(self)
        return self._shared

    # -- ridge -----------------------------------------------------------------
    def ridge_filter(self, alpha):
        return self.s2 / (self.s2 + alpha)

    def ridge_coef(self, alpha):
        """``V diag(s / (s^2 + alpha)) Q``, shape (n_features, n_targets)."""
        return self.Vt.T @ ((self.s / (self.s2 + alpha))[:, None] * self.Q)

    def ridge(self, alphas=None):
        """The ridge regression whose alpha has the lowest exact LOO error over all targets.

        The LOO residuals of every alpha come from this one SVD (see the
        module docstring): per alpha, about ``n_samples * rank * min(rank,
        n_targets)`` operations.

        Parameters
        ----------
        alphas : array-like of shape (n_alphas,), default=None
            Positive penalties to try; None is :data:`DEFAULT_ALPHAS`.

        Returns
        -------
        fit : RidgeFit
            Coefficients at the chosen alpha, the alphas and their LOO errors.

        See Also
        --------
        sklearn.linear_model.RidgeCV : The same LOO choice, on scikit-learn's side.
        """
        alphas = _check_alphas(alphas)
        loo_mse = np.array([self.loo_mse(self.ridge_filter(a)) for a in alphas])
        alpha = float(alphas[int(np.argmin(loo_mse))])
        coef = self.ridge_coef(alpha)
        leverage = self.leverage(self.ridge_filter(alpha))[:, None]
        return RidgeFit(
            coef=coef,
            intercept=self.y_mean - self.x_mean @ coef,
            alpha=alpha,
            alphas=alphas,
            loo_mse=loo_mse,
            leverage=leverage,
        )

    # -- principal component regression ---------------------------------------
    def pcr_loo_mse(self):
        """LOO mean squared error of PCR on the first k axes, for k = 0 .. rank.

        The axes are those of all samples (the LOO error of the linear smoother
        ``U_k U_k^T``, as for ridge); ``inf`` where the fit interpolates.

        Adding axis ``k`` changes every residual row by ``-U_ik q_k`` and every
        leverage by ``U_ik^2``, so all ranks together cost about one ridge
        alpha: with ``A = Yc Q^T - U triu(Q Q^T, 1)``, the squared residual
        norms are ``|Yc_i|^2 - cumsum_k(2 U_ik A_ik - U_ik^2 (Q Q^T)_kk)``.
        """
        M = self.Q @ self.Q.T
        A = self.Yc @ self.Q.T - self.U @ np.triu(M, 1)
        steps = 2.0 * self.U * A - self.U2 * np.diag(M)
        row_sq = np.einsum("ij,ij->i", self.Yc, self.Yc)[:, None] - np.cumsum(steps, axis=1)
        row_sq = np.hstack([np.einsum("ij,ij->i", self.Yc, self.Yc)[:, None], row_sq])
        leverage = 1.0 / self.n_samples + np.hstack(
            [np.zeros((self.n_samples, 1)), np.cumsum(self.U2, axis=1)]
        )
        with np.errstate(divide="ignore"):
            weights = 1.0 / np.maximum(1.0 - leverage, 0.0) ** 2
        row_sq = np.maximum(row_sq, 0.0)  # rounding of nearly exact fits
        with np.errstate(invalid="ignore"):
            loo_mse = np.sum(row_sq * weights, axis=0) / self.Yc.size
        # 0 * inf: an interpolating fit (h_i = 1), whose LOO error is unbounded.
        return np.nan_to_num(loo_mse, nan=np.inf)

    def pcr_rank(self):
        """The number of principal axes (0 .. rank) whose PCR has the lowest LOO error.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_dgex._fit.ridge import CenteredSVD
        >>> rng = np.random.default_rng(0)
        >>> Z = rng.normal(size=(200, 3))  # three programs ...
        >>> X = Z @ rng.normal(size=(3, 30)) + 0.3 * rng.normal(size=(200, 30))
        >>> Y = Z @ rng.normal(size=(3, 20)) + 0.3 * rng.normal(size=(200, 20))
        >>> CenteredSVD(X, Y).pcr_rank()  # ... read out by 30 inputs and 20 targets
        3
        """
        return int(np.argmin(self.pcr_loo_mse()))


class _SharedLOO:
    """LOO mean squared error summed over targets, without an (n, targets) array per filter.

    With ``G = diag(1 - f)`` the residual row ``E_i = R0_i + (U G)_i Q`` has
    ``|E_i|^2 = |R0_i|^2 + 2 (U G)_i (Q R0^T)_{:, i} + (U G)_i (Q Q^T) (U G)_i^T``,
    so after computing ``Q Q^T`` and ``Q R0^T`` once, each filter costs
    ``n * r^2`` instead of ``n * r * n_targets`` (r = rank of the SVD).
    """

    def __init__(self, svd):
        self.svd = svd
        self.R0_sq = np.einsum("ij,ij->i", svd.R0, svd.R0)
        self.M = svd.Q @ svd.Q.T
        self.C = svd.Q @ svd.R0.T

    def __call__(self, f):
        svd = self.svd
        UG = svd.U * (1.0 - f)
        row_sq = (
            self.R0_sq
            + 2.0 * np.einsum("ik,ki->i", UG, self.C)
            + np.einsum("ij,ij->i", UG @ self.M, UG)
        )
        row_sq = np.maximum(row_sq, 0.0)  # rounding of nearly exact fits
        return float(np.sum(row_sq * svd.loo_weights(f) ** 2) / svd.Yc.size)


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
        raise ValueError(f"leave-one-out needs at least 3 samples; got {len(X)}.")
    return X, Y


def best_input_scaling_ridge(X, Y, column_scales, alphas=None):
    """The ridge whose input scaling and alpha have the lowest leave-one-out error.

    A ridge penalises every coefficient alike, so the scale of each input
    column decides how strongly it is used: standardised columns give
    low-variance, noisy probes the weight of informative ones, raw log2
    columns let high-variance genes dominate. Neither wins on every data set,
    so each candidate scaling ``X * column_scales[name]`` is tried with the
    alphas ``alphas`` times the mean variance of its columns, and the pair
    with the lowest exact LOO mean squared error (over all targets) wins.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    Y : array-like of shape (n_samples, n_targets)
        Targets.
    column_scales : dict of str to array-like of shape (n_features,)
        Candidate scalings by name, e.g. ``{"raw": std, "standardized":
        ones}`` for inputs that were standardised by ``std``. The first of two
        equal LOO errors wins.
    alphas : array-like of shape (n_alphas,), default=None
        Penalties relative to the mean column variance of each candidate;
        None is :data:`RELATIVE_ALPHAS`.

    Returns
    -------
    fit : RidgeFit
        Coefficients for ``X`` as given, with ``inputs`` naming the winning
        candidate and ``alpha``/``alphas`` in that candidate's scale.
    svds : dict of str to CenteredSVD
        The SVD of each candidate's inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex._fit.ridge import best_input_scaling_ridge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)) * [10.0, 10.0, 0.1, 0.1, 0.1]
    >>> Y = X[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(size=(60, 3))
    >>> std = X.std(axis=0)
    >>> fit, _ = best_input_scaling_ridge(X / std, Y, {"raw": std, "standardized": np.ones(5)})
    >>> fit.inputs  # the informative columns are those of high variance
    'raw'
    """
    relative = _check_alphas(RELATIVE_ALPHAS if alphas is None else alphas)
    X = np.asarray(X, dtype=np.float64)
    best, svds = None, {}
    for name, scales in column_scales.items():
        scales = np.asarray(scales, dtype=np.float64)
        svd = CenteredSVD(X * scales, Y)
        svds[name] = svd
        mean_variance = max(float(np.sum(svd.s2)) / (svd.n_samples * X.shape[1]), 1e-300)
        fit = svd.ridge(relative * mean_variance)
        if best is None or np.min(fit.loo_mse) < np.min(best[0].loo_mse):
            best = (fit, name, scales)
    fit, name, scales = best
    return dataclasses.replace(fit, coef=fit.coef * scales[:, None], inputs=name), svds
