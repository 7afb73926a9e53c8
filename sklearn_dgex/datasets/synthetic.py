"""A synthetic generator of bulk log2 gene expression (landmarks -> targets).

The model (equations in ``docs/data.rst``) in one paragraph: every sample
belongs to a group (tissue, condition) and carries the activities ``z`` of a
few latent gene programs whose means depend on its group. Landmark genes are
linear read-outs of the programs; target genes are a linear read-out plus a
read-out of non-linear features of the programs (saturating ``tanh`` units of
program combinations and pairwise program products) that are orthogonalised
against ``z``, so that the ``nonlinearity`` knob is exactly the share of a
target's signal variance that no linear model can capture. Every gene gets its
own mean, spread and noise share; values are clipped to the 2..15 range of
log2 microarray intensities.
"""

from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from threadpoolctl import threadpool_limits

__all__ = ["make_expression"]

# Rows are generated in fixed-size chunks, each from its own child seed, so
# that memory stays bounded and the output never depends on how the chunks are
# scheduled.
_CHUNK_ROWS = 1024
# Samples drawn once per call to estimate the moments of the non-linear
# features (their linear part in z, their covariance); large enough that the
# variance shares are exact to about 2%.
_PILOT_SAMPLES = 10_000
# Pre-activation gain of the saturating units: at 2 most samples sit on the
# flat parts of tanh, so the units are far from linear.
_SATURATION_GAIN = 2.0
# Programs per saturating unit and non-linear features per target gene.
_PROGRAMS_PER_UNIT = 3
_FEATURES_PER_TARGET = 4
# Variance of a gene's dense loadings on all programs together, relative to
# its primary program: genes belong to one co-expression module but are not
# pure.
_SECONDARY_SHARE = 0.5
# Concentration of the Beta laws that spread the noise and non-linearity
# shares around their means across genes.
_SHARE_CONCENTRATION = 8.0
# log2 intensity range of microarrays: a background floor and scanner
# saturation.
_LOG2_MIN, _LOG2_MAX = 2.0, 15.0


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_landmarks": [Interval(Integral, 1, None, closed="left")],
        "n_targets": [Interval(Integral, 1, None, closed="left")],
        "n_programs": [Interval(Integral, 1, None, closed="left")],
        "n_groups": [Interval(Integral, 1, None, closed="left")],
        "group_effect": [Interval(Real, 0, None, closed="left")],
        "nonlinearity": [Interval(Real, 0, 1, closed="both")],
        "n_nonlinear_features": [Interval(Integral, 1, None, closed="left")],
        "interaction_fraction": [Interval(Real, 0, 1, closed="both")],
        "noise": [Interval(Real, 0, 1, closed="left")],
        "as_frame": ["boolean"],
        "return_groups": ["boolean"],
        "return_signal": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_expression(
    n_samples=1000,
    n_landmarks=942,
    n_targets=9518,
    *,
    n_programs=20,
    n_groups=8,
    group_effect=1.0,
    nonlinearity=0.3,
    n_nonlinear_features=32,
    interaction_fraction=0.25,
    noise=0.15,
    as_frame=False,
    return_groups=False,
    return_signal=False,
    n_jobs=None,
    random_state=None,
):
    """Generate bulk log2 expression of landmark and target genes.

    Samples fall into ``n_groups`` groups (tissues, conditions) that shift
    the activities of ``n_programs`` latent gene programs. Landmarks are
    noisy linear read-outs of the programs; targets are noisy read-outs of
    the programs and of saturating and interacting non-linear features of
    them, so a non-linear model of the landmarks can beat linear regression
    but no model is perfect. The generative model is written out in the
    user guide (``docs/data.rst``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples (expression profiles).
    n_landmarks : int, default=942
        Number of landmark genes (columns of ``X``); 942 as in the D-GEX
        study.
    n_targets : int, default=9518
        Number of target genes (columns of ``Y``); 9,518 as in the study.
    n_programs : int, default=20
        Number of latent gene programs (co-expression modules). Every gene's
        primary loading is on one program, so genes of one program correlate.
    n_groups : int, default=8
        Number of sample groups. Group sizes are unequal (their proportions
        are drawn from a Dirichlet law).
    group_effect : float, default=1.0
        Standard deviation of the group means of the programs relative to
        the within-group standard deviation; 0 makes the groups identical.
    nonlinearity : float, default=0.3
        Mean, over targets, of the share of a target's noise-free variance
        that is non-linear in the programs (0: targets are linear in the
        programs; 1: linear regression can explain none of the signal).
    n_nonlinear_features : int, default=32
        Number of shared non-linear features of the programs that the
        targets read out.
    interaction_fraction : float, default=0.25
        Share of those features that are products of two programs; the rest
        are saturating ``tanh`` units of combinations of three programs.
    noise : float, default=0.15
        Mean, over genes, of the share of a gene's variance that is
        gene-specific noise (landmarks and targets alike). Must be below 1.
    as_frame : bool, default=False
        Return pandas DataFrames with gene names as columns: the first
        ``n_landmarks`` L1000 landmark symbols when ``n_landmarks <= 978``
        (else ``"LM00001"``, ...) and ``"TG00001"``, ... for targets.
    return_groups : bool, default=False
        Also return the group label of every sample (for grouped splits).
    return_signal : bool, default=False
        Also return the noise-free targets, the true function of the
        programs, to compare models against the best achievable fit.
    n_jobs : int, default=None
        Threads generating row chunks in parallel (``None``: 1 unless in a
        :func:`joblib.parallel_config` context; ``-1``: all cores). The
        data does not depend on it: every chunk has its own seed.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator; equal seeds give identical data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_landmarks), dtype float32
        Landmark expression (log2 scale); a DataFrame when ``as_frame``.
    Y : ndarray of shape (n_samples, n_targets), dtype float32
        Target expression (log2 scale); a DataFrame when ``as_frame``.
    groups : ndarray of shape (n_samples,), dtype int64
        Group label of every sample; only when ``return_groups=True``.
    Y_signal : ndarray of shape (n_samples, n_targets), dtype float32
        Noise-free targets; only when ``return_signal=True`` (a DataFrame
        when ``as_frame``).

    See Also
    --------
    sklearn_dgex.datasets.split_landmarks : Split a real expression table
        into landmarks and targets.
    sklearn_dgex.datasets.train_val_test_split : Split samples in the
        study's proportions.

    Notes
    -----
    Values are generated in float32 chunks of 1,024 rows, each from its own
    seed, so that ``n_jobs`` threads can generate chunks at once; the time
    grows with ``n_samples * (n_landmarks + n_targets)`` (the user guide,
    "Data", has measurements). BLAS is held to one thread while generating.

    Examples
    --------
    >>> from sklearn_dgex.datasets import make_expression
    >>> X, Y = make_expression(n_samples=200, n_landmarks=50, n_targets=300,
    ...                        random_state=0)
    >>> X.shape, Y.shape, X.dtype
    ((200, 50), (200, 300), dtype('float32'))
    >>> bool(2 <= X.min() and Y.max() <= 15)
    True
    >>> X, Y, groups = make_expression(n_samples=10, n_landmarks=5, n_targets=3,
    ...                                as_frame=True, return_groups=True,
    ...                                random_state=0)
    >>> list(X.columns), list(Y.columns)
    (['AARS', 'ABCB6', 'ABCC5', 'ABCF1', 'ABCF3'], ['TG00001', 'TG00002', 'TG00003'])
    """
    rng = check_random_state(random_state)
    # One BLAS thread per chunk worker: the matrices are skinny, and nested
    # threading oversubscribes the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        model = _ExpressionModel(
            rng,
            n_landmarks=n_landmarks,
            n_targets=n_targets,
            n_programs=n_programs,
            n_groups=n_groups,
            group_effect=group_effect,
            nonlinearity=nonlinearity,
            n_nonlinear_features=n_nonlinear_features,
            interaction_fraction=interaction_fraction,
            noise=noise,
        )
        chunk_seeds = rng.randint(0, 2**32, size=_n_chunks(n_samples), dtype=np.uint64)
        X, Y, groups, signal = model.sample(
            n_samples, chunk_seeds, keep_signal=return_signal, n_jobs=n_jobs
        )
    if as_frame:
        X, Y, signal = _as_frames(X, Y, signal)
    result = [X, Y]
    if return_groups:
        result.append(groups)
    if return_signal:
        result.append(signal)
    return tuple(result)


def _n_chunks(n_samples):
    return -(-n_samples // _CHUNK_ROWS)


class _ExpressionModel:
    """Gene-level parameters of one draw of the generative model.

    Every matrix that multiplies the program activities is pre-scaled by the
    gene's spread and signal share, so that a chunk of samples costs two
    float32 matmuls plus the noise.
    """

    def __init__(
        self,
        rng,
        *,
        n_landmarks,
        n_targets,
        n_programs,
        n_groups,
        group_effect,
        nonlinearity,
        n_nonlinear_features,
        interaction_fraction,
        noise,
    ):
        self.n_landmarks, self.n_targets, self.n_programs = n_landmarks, n_targets, n_programs
        self.group_proportions = rng.dirichlet(np.full(n_groups, 2.0))
        # Programs have unit variance over all samples whatever group_effect.
        scale = 1.0 / np.sqrt(1.0 + group_effect**2)
        self.group_means = rng.normal(0.0, group_effect, (n_groups, n_programs)) * scale
        self.within_scale = scale
        self._init_nonlinear_features(rng, n_nonlinear_features, interaction_fraction)
        pilot_z = self._draw_programs(rng, _PILOT_SAMPLES)[0]
        pilot_f = self._raw_features(pilot_z)
        self._fit_feature_residuals(pilot_z, pilot_f)
        cov_z = np.cov(pilot_z, rowvar=False).reshape(n_programs, n_programs)
        cov_f = np.cov(self._features(pilot_z), rowvar=False)
        cov_f = cov_f.reshape(n_nonlinear_features, n_nonlinear_features)

        n_genes = n_landmarks + n_targets
        mean, spread = _gene_means_and_spreads(rng, n_genes)
        noise_share = _shares(rng, noise, n_genes)
        linear = _unit_variance(_program_loadings(rng, n_genes, n_programs), cov_z)
        nonlinear_share = _shares(rng, nonlinearity, n_targets)
        nonlinear = _unit_variance(
            _sparse_loadings(rng, n_targets, n_nonlinear_features, _FEATURES_PER_TARGET), cov_f
        )
        signal_sd = spread * np.sqrt(1.0 - noise_share)
        linear_weight = signal_sd[:, None] * linear
        linear_weight[n_landmarks:] *= np.sqrt(1.0 - nonlinear_share)[:, None]
        nonlinear_weight = (signal_sd[n_landmarks:] * np.sqrt(nonlinear_share))[:, None] * nonlinear

        f32 = np.float32
        self.landmark_mean = mean[:n_landmarks].astype(f32)
        self.target_mean = mean[n_landmarks:].astype(f32)
        self.landmark_weight = linear_weight[:n_landmarks].T.astype(f32)
        # Targets read [z, features] in one matmul.
        self.target_weight = np.vstack([linear_weight[n_landmarks:].T, nonlinear_weight.T]).astype(
            f32
        )
        noise_sd = spread * np.sqrt(noise_share)
        self.landmark_noise_sd = noise_sd[:n_landmarks].astype(f32)
        self.target_noise_sd = noise_sd[n_landmarks:].astype(f32)
        self.has_noise = bool(noise > 0)

    # -- programs and non-linear features ---------------------------------
    def _draw_programs(self, rng, n):
        groups = rng.choice(len(self.group_proportions), size=n, p=self.group_proportions)
        z = self.group_means[groups] + self.within_scale * rng.standard_normal((n, self.n_programs))
        return z, groups

    def _init_nonlinear_features(self, rng, n_features, interaction_fraction):
        n_products = round(n_features * interaction_fraction)
        n_units = n_features - n_products
        k = min(_PROGRAMS_PER_UNIT, self.n_programs)
        self.unit_weight = _sparse_loadings(rng, n_units, self.n_programs, k).T
        self.unit_offset = rng.normal(0.0, 0.5, n_units)
        if n_products and self.n_programs < 2:
            # A product of a program with itself is its square: still
            # non-linear, the only interaction one program allows.
            self.product_pairs = np.zeros((n_products, 2), dtype=np.intp)
        else:
            self.product_pairs = np.array(
                [rng.choice(self.n_programs, 2, replace=False) for _ in range(n_products)],
                dtype=np.intp,
            ).reshape(n_products, 2)

    def _raw_features(self, z):
        units = np.tanh(_SATURATION_GAIN * (z @ self.unit_weight + self.unit_offset))
        products = z[:, self.product_pairs[:, 0]] * z[:, self.product_pairs[:, 1]]
        return np.hstack([units, products])

    def _fit_feature_residuals(self, z, raw):
        # Remove from every feature its best linear (affine) approximation in
        # z, so the non-linear read-out adds only variance that linear
        # regression cannot reach.
        design = np.hstack([np.ones((len(z), 1)), z])
        self.residual_coef, *_ = np.linalg.lstsq(design, raw, rcond=None)
        residual = raw - design @ self.residual_coef
        self.residual_scale = 1.0 / np.maximum(residual.std(axis=0), 1e-12)

    def _features(self, z):
        design = np.hstack([np.ones((len(z), 1)), z])
        return (self._raw_features(z) - design @ self.residual_coef) * self.residual_scale

    # -- sampling -----------------------------------------------------------
    def sample(self, n_samples, chunk_seeds, *, keep_signal, n_jobs):
        X = np.empty((n_samples, self.n_landmarks), dtype=np.float32)
        Y = np.empty((n_samples, self.n_targets), dtype=np.float32)
        signal = np.empty_like(Y) if keep_signal else None
        groups = np.empty(n_samples, dtype=np.int64)

        def sample_chunk(chunk):
            rows = slice(chunk * _CHUNK_ROWS, min((chunk + 1) * _CHUNK_ROWS, n_samples))
            rng = np.random.default_rng(int(chunk_seeds[chunk]))
            self._sample_chunk(rng, X[rows], Y[rows], groups[rows], signal, rows)

        n_threads = min(effective_n_jobs(n_jobs), len(chunk_seeds))
        if n_threads <= 1:
            for chunk in range(len(chunk_seeds)):
                sample_chunk(chunk)
        else:
            # numpy's random fills, matmuls and ufuncs release the GIL, so
            # threads generate chunks truly in parallel into disjoint rows.
            with ThreadPoolExecutor(max_workers=n_threads) as pool:
                list(pool.map(sample_chunk, range(len(chunk_seeds))))
        return X, Y, groups, signal

    def _sample_chunk(self, rng, X, Y, groups, signal, rows):
        z, groups[:] = self._draw_programs(rng, len(X))
        z_and_features = np.hstack([z, self._features(z)]).astype(np.float32)
        np.matmul(z_and_features[:, : self.n_programs], self.landmark_weight, out=X)
        X += self.landmark_mean
        np.matmul(z_and_features, self.target_weight, out=Y)
        Y += self.target_mean
        if signal is not None:
            signal[rows] = Y
            np.clip(signal[rows], _LOG2_MIN, _LOG2_MAX, out=signal[rows])
        if self.has_noise:
            _add_noise(rng, X, self.landmark_noise_sd)
            _add_noise(rng, Y, self.target_noise_sd)
        np.clip(X, _LOG2_MIN, _LOG2_MAX, out=X)
        np.clip(Y, _LOG2_MIN, _LOG2_MAX, out=Y)


def _add_noise(rng, out, sd):
    noise = rng.standard_normal(out.shape, dtype=np.float32)
    noise *= sd
    out += noise


# -- gene-level parameters ---------------------------------------------------
def _gene_means_and_spreads(rng, n_genes):
    # Mean log2 intensities spread over 3..13 with a right tail, like RMA
    # values; spreads are log-normal and capped so that mean +- 4 spreads
    # stays inside the 2..15 range and clipping is rare.
    mean = 3.0 + 10.0 * rng.beta(2.0, 3.0, n_genes)
    spread = rng.lognormal(np.log(0.7), 0.5, n_genes)
    cap = np.minimum(mean - _LOG2_MIN, _LOG2_MAX - mean) / 4.0
    return mean, np.clip(spread, 0.1, np.minimum(2.0, cap))


def _shares(rng, mean, n):
    """Per-gene shares in [0, 1] with the given mean (Beta distributed)."""
    if mean <= 0.0 or mean >= 1.0:
        return np.full(n, float(mean))
    return rng.beta(mean * _SHARE_CONCENTRATION, (1.0 - mean) * _SHARE_CONCENTRATION, n)


def _program_loadings(rng, n_genes, n_programs):
    """Loadings of genes on programs: one primary program plus small dense loadings."""
    loadings = rng.normal(0.0, np.sqrt(_SECONDARY_SHARE / n_programs), (n_genes, n_programs))
    # Balanced modules: each program is the primary one of about n_genes / n_programs genes.
    primary = rng.permutation(np.arange(n_genes) % n_programs)
    loadings[np.arange(n_genes), primary] += rng.choice([-1.0, 1.0], n_genes)
    return loadings


def _sparse_loadings(rng, n_rows, n_cols, k):
    """Rows with ``k`` non-zero standard normal weights each."""
    k = min(k, n_cols)
    weights = np.zeros((n_rows, n_cols))
    cols = np.argsort(rng.random((n_rows, n_cols)), axis=1)[:, :k]
    weights[np.arange(n_rows)[:, None], cols] = rng.standard_normal((n_rows, k))
    return weights


def _unit_variance(loadings, cov):
    """Scale each row so that ``loadings[i] @ v`` has unit variance when ``cov(v) = cov``."""
    variance = np.einsum("ij,jk,ik->i", loadings, cov, loadings)
    return loadings / np.sqrt(np.maximum(variance, 1e-12))[:, None]


# -- DataFrame output --------------------------------------------------------
def _as_frames(X, Y, signal):
    import pandas as pd

    landmark_names = _landmark_names(X.shape[1])
    target_names = _numbered_names("TG", Y.shape[1])
    X = pd.DataFrame(X, columns=landmark_names, copy=False)
    Y_frame = pd.DataFrame(Y, columns=target_names, copy=False)
    if signal is not None:
        signal = pd.DataFrame(signal, columns=target_names, copy=False)
    return X, Y_frame, signal


def _landmark_names(n_landmarks):
    from .landmarks import load_l1000_landmarks

    symbols = load_l1000_landmarks()["symbol"].tolist()
    if n_landmarks <= len(symbols):
        return symbols[:n_landmarks]
    return _numbered_names("LM", n_landmarks)


def _numbered_names(prefix, n):
    width = max(5, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]
