"""The synthetic expression generator has the properties its docs promise."""

import doctest
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_dgex.datasets import load_l1000_landmarks, make_expression
from sklearn_dgex.datasets.synthetic import _CHUNK_ROWS

SMALL = {"n_samples": 300, "n_landmarks": 40, "n_targets": 60}


def _held_out_r2(n_train=3000, n_test=1000, **kwargs):
    """R^2 of linear regression and of the noise-free targets on held-out samples."""
    X, Y, signal = make_expression(
        n_train + n_test, 100, 200, return_signal=True, random_state=0, **kwargs
    )
    model = LinearRegression().fit(X[:n_train], Y[:n_train])
    r2_linear = r2_score(Y[n_train:], model.predict(X[n_train:]))
    r2_true = r2_score(Y[n_train:], signal[n_train:])
    return r2_linear, r2_true, (X, Y, n_train)


def test_shapes_dtype_and_defaults_shaped_like_the_study():
    X, Y = make_expression(n_samples=5, random_state=0)
    assert X.shape == (5, 942) and Y.shape == (5, 9518)
    assert X.dtype == np.float32 and Y.dtype == np.float32


def test_values_lie_in_the_log2_microarray_range():
    X, Y = make_expression(n_samples=2000, n_landmarks=200, n_targets=300, random_state=1)
    values = np.concatenate([X.ravel(), Y.ravel()])
    assert values.min() >= 2.0 and values.max() <= 15.0
    # Spread over the range like RMA intensities, not squeezed in a corner.
    assert np.percentile(values, 5) < 5.0 and np.percentile(values, 95) > 9.0
    # Clipping at the floor/ceiling is rare by construction.
    assert np.mean((values == 2.0) | (values == 15.0)) < 1e-3


def test_deterministic_given_random_state_and_sensitive_to_it():
    a = make_expression(**SMALL, random_state=7)
    b = make_expression(**SMALL, random_state=7)
    c = make_expression(**SMALL, random_state=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_deterministic_across_chunks():
    n = _CHUNK_ROWS + 37
    a = make_expression(n, 10, 20, random_state=np.random.RandomState(3))
    b = make_expression(n, 10, 20, random_state=np.random.RandomState(3))
    np.testing.assert_array_equal(a[1], b[1])
    assert np.isfinite(a[1]).all()
    # Rows of different chunks are different samples, not copies.
    assert not np.allclose(a[1][0], a[1][_CHUNK_ROWS])


def test_genes_are_correlated_through_a_few_programs():
    n_programs = 5
    X, _ = make_expression(2000, 200, 10, n_programs=n_programs, noise=0.15, random_state=0)
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(X, rowvar=False))[::-1]
    # Low rank plus noise: the programs carry most of the variance and the
    # spectrum drops after the last one.
    assert eigenvalues[:n_programs].sum() / eigenvalues.sum() > 0.6
    assert eigenvalues[n_programs - 1] > 5 * eigenvalues[n_programs]


def test_groups_shift_the_expression():
    X, _, groups = make_expression(
        2000, 50, 5, n_groups=4, group_effect=2.0, return_groups=True, random_state=0
    )
    assert groups.shape == (2000,) and set(np.unique(groups)) <= set(range(4))
    group_means = np.array([X[groups == g].mean(axis=0) for g in np.unique(groups)])
    within_sd = np.mean([X[groups == g].std(axis=0) for g in np.unique(groups)], axis=0)
    assert np.median(group_means.std(axis=0) / within_sd) > 0.5
    _, _, no_effect = make_expression(
        2000, 50, 5, n_groups=4, group_effect=0.0, return_groups=True, random_state=0
    )
    assert len(np.unique(no_effect)) == 4


def test_linear_regression_falls_clearly_short_of_the_true_function():
    r2_linear, r2_true, _ = _held_out_r2()
    assert r2_true - r2_linear > 0.15, (r2_linear, r2_true)


def test_nonlinearity_knob_controls_the_gap():
    r2_linear, r2_true, _ = _held_out_r2(nonlinearity=0.0)
    assert r2_true - r2_linear < 0.06, (r2_linear, r2_true)


def test_noise_knob_sets_the_attainable_r2():
    _, r2_true, _ = _held_out_r2(noise=0.3)
    # Noise share 0.3 on average: the true function explains about 70%.
    assert 0.62 < r2_true < 0.78


def test_nonlinear_signal_is_learnable():
    """A non-linear learner of the landmarks beats linear regression when the targets need it."""
    r2_linear, _, (X, Y, n_train) = _held_out_r2(n_train=4000, nonlinearity=0.9, n_programs=4)
    knn = KNeighborsRegressor(n_neighbors=15).fit(X[:n_train], Y[:n_train])
    r2_knn = r2_score(Y[n_train:], knn.predict(X[n_train:]))
    assert r2_knn > r2_linear + 0.1, (r2_knn, r2_linear)


def test_zero_noise_returns_the_signal():
    _, Y, signal = make_expression(**SMALL, noise=0.0, return_signal=True, random_state=0)
    np.testing.assert_array_equal(Y, signal)
    _, Y, signal = make_expression(**SMALL, noise=0.2, return_signal=True, random_state=0)
    assert not np.array_equal(Y, signal)


def test_as_frame_names_genes():
    X, Y, groups, signal = make_expression(
        **SMALL, as_frame=True, return_groups=True, return_signal=True, random_state=0
    )
    symbols = load_l1000_landmarks()["symbol"].tolist()
    assert list(X.columns) == symbols[:40]
    assert list(Y.columns[:2]) == ["TG00001", "TG00002"]
    assert list(signal.columns) == list(Y.columns)
    assert X.dtypes.unique().tolist() == [np.float32]
    arrays = make_expression(**SMALL, random_state=0)
    np.testing.assert_array_equal(X.to_numpy(), arrays[0])
    assert groups.shape == (300,)


def test_more_landmarks_than_l1000_get_numbered_names():
    X, _ = make_expression(3, 1000, 2, as_frame=True, random_state=0)
    assert X.columns[0] == "LM00001" and X.columns[-1] == "LM01000"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_landmarks": -1},
        {"noise": 1.0},
        {"nonlinearity": 1.5},
        {"n_groups": 0},
        {"interaction_fraction": -0.1},
    ],
)
def test_bad_parameters_are_rejected_by_name(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(InvalidParameterError, match=name):
        make_expression(**{**SMALL, **kwargs})


def test_extreme_knobs_work():
    for kwargs in (
        {"n_programs": 1},
        {"nonlinearity": 1.0, "interaction_fraction": 1.0},
        {"n_groups": 1, "group_effect": 0.0},
    ):
        X, Y = make_expression(**SMALL, random_state=0, **kwargs)
        assert np.isfinite(X).all() and np.isfinite(Y).all()


def test_examples_of_the_data_modules_run():
    from sklearn_dgex.datasets import landmarks, readers, splits, synthetic

    for module in (synthetic, landmarks, readers, splits):
        result = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
        )
        assert result.failed == 0, module.__name__


def test_examples_of_the_data_page_run(shared_data_dir, monkeypatch):
    # The page reads ../shared/data relative to the repository root.
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testfile(
            str(root / "docs" / "data.rst"),
            module_relative=False,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            verbose=False,
        )
    assert result.failed == 0 and result.attempted > 20
