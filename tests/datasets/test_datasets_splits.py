"""Train / validation / test splits: proportions, seeding, group integrity, no leakage."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_dgex.datasets import STUDY_SPLIT, make_expression, train_val_test_split


def test_default_proportions_are_the_studys():
    idx = np.arange(1000)
    train, val, test = train_val_test_split(idx, random_state=0)
    assert (len(train), len(val), len(test)) == (700, 150, 150)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), idx)


def test_study_counts_reproduced_with_integer_sizes():
    n = sum(STUDY_SPLIT.values())
    assert n == 126_102
    train, val, test = train_val_test_split(
        np.arange(n), val_size=STUDY_SPLIT["val"], test_size=STUDY_SPLIT["test"], random_state=0
    )
    assert (len(train), len(val), len(test)) == (88_256, 18_895, 18_951)
    # The fractional defaults land within a few profiles of the study's split.
    train, val, test = train_val_test_split(np.arange(n), random_state=0)
    assert abs(len(val) - STUDY_SPLIT["val"]) < 60 and abs(len(test) - STUDY_SPLIT["test"]) < 60


def test_seeded_shuffled_and_consistent_across_arrays():
    X = np.arange(200).reshape(100, 2)
    y = np.arange(100)
    frame = pd.DataFrame({"y": y}, index=[f"s{i}" for i in range(100)])
    a = train_val_test_split(X, y, frame, random_state=3)
    b = train_val_test_split(X, y, frame, random_state=3)
    c = train_val_test_split(X, y, frame, random_state=4)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))
    assert not np.array_equal(a[1], c[1])
    _, _, X_te, y_tr, y_va, y_te, _, f_va, _ = a
    np.testing.assert_array_equal(X_te[:, 0] // 2, y_te)  # rows stay paired
    assert isinstance(f_va, pd.DataFrame) and list(f_va["y"]) == list(y_va)
    # Shuffled: neither the membership nor the order follows the input order.
    assert set(y_te) != set(range(85, 100)) and not np.array_equal(y_tr, np.sort(y_tr))


def test_groups_never_straddle_two_splits():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 60, size=2000)  # unequal group sizes
    train, val, test = train_val_test_split(np.arange(2000), groups=groups, random_state=0)
    sets = [set(groups[idx]) for idx in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(train) + len(val) + len(test) == 2000
    largest = np.bincount(groups).max()
    for part, size in ((val, 300), (test, 300)):
        assert abs(len(part) - size) <= largest


def test_groups_from_the_generator_keep_tissues_apart():
    X, _, tissue = make_expression(500, 10, 5, n_groups=12, return_groups=True, random_state=0)
    X_tr, _, X_te, g_tr, g_va, g_te = train_val_test_split(X, tissue, groups=tissue, random_state=1)
    assert not set(g_tr) & set(g_te) and not set(g_va) & set(g_te)
    assert len(X_tr) == len(g_tr) and len(X_tr) > len(X_te) > 0


def test_split_errors():
    idx = np.arange(10)
    with pytest.raises(ValueError, match="leave no training samples"):
        train_val_test_split(idx, val_size=0.5, test_size=0.5)
    with pytest.raises(InvalidParameterError, match="val_size"):
        train_val_test_split(idx, val_size=1.5)
    with pytest.raises(ValueError, match="test_size=20 gives 20 of 10"):
        train_val_test_split(idx, test_size=20)
    with pytest.raises(ValueError, match="at least 3"):
        train_val_test_split(idx, groups=[0] * 5 + [1] * 5)
    with pytest.raises(ValueError, match="one label per sample"):
        train_val_test_split(idx, groups=[0, 1, 2])
    with pytest.raises(ValueError, match="split is empty"):
        train_val_test_split(idx, groups=[0] * 8 + [1, 2], random_state=0)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_val_test_split(idx, np.arange(9))
    with pytest.raises(ValueError, match="at least one array"):
        train_val_test_split()


def test_standardisation_is_fitted_on_the_training_split_only():
    """The documented leakage-free recipe: the scalers see only training profiles."""
    X, Y = make_expression(400, 30, 20, random_state=0)
    X_tr, _, X_te, Y_tr, _, Y_te = train_val_test_split(X, Y, random_state=0)
    model = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        transformer=StandardScaler(),
    ).fit(X_tr, Y_tr)
    x_scaler = model.regressor_[0]
    np.testing.assert_allclose(x_scaler.mean_, X_tr.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.transformer_.mean_, Y_tr.mean(axis=0), rtol=1e-5)
    # What the original D-GEX code did instead: z-scores over all profiles,
    # test included, which are not the training statistics.
    everything = np.vstack([X_tr, X_te])
    assert not np.allclose(x_scaler.mean_, everything.mean(axis=0), rtol=1e-6)
    assert model.predict(X_te).shape == Y_te.shape
