"""DGEXRegressor and FlexibleMLPRegressor inside scikit-learn's tools, and their fitted state."""

import pickle

import numpy as np
import pytest
import torch
from _helpers import tiny_estimators
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dgex.datasets import make_expression
from sklearn_dgex.metrics import mmae_scorer, rmse_scorer

tiny_dgex, tiny_mlp = tiny_estimators(max_epochs=3, linear_shortcut=False)


TINY = [tiny_dgex, tiny_mlp]


@pytest.fixture(scope="module")
def expression():
    """Raw log2 expression: 60 profiles, 6 landmarks -> 5 targets."""
    return make_expression(n_samples=60, n_landmarks=6, n_targets=5, random_state=0)


# ----------------------------------------------------------------------------
# scikit-learn tools
# ----------------------------------------------------------------------------
def test_grid_search_over_arch_towers_optimizer_weight_decay(expression):
    X, Y = expression
    grid = {
        "arch": ["t", "cr"],
        "towers": [1, 2],
        "optimizer": ["adam", "nadam"],
        "weight_decay": [0.0, 1e-3],
    }
    search = GridSearchCV(
        tiny_dgex(max_epochs=2), grid, scoring=mmae_scorer, cv=2, error_score="raise"
    )
    search.fit(X, Y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 16
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)  # negated MMAE
    assert search.best_estimator_.predict(X).shape == Y.shape


@pytest.mark.parametrize("make", TINY)
def test_pipeline_with_standard_scaler(make, expression):
    X, Y = expression
    pipe = make_pipeline(StandardScaler(), make()).fit(X, Y)
    assert pipe.predict(X).shape == Y.shape


@pytest.mark.parametrize("make", TINY)
def test_transformed_target_regressor(make, expression):
    X, Y = expression
    model = TransformedTargetRegressor(regressor=make(), transformer=StandardScaler()).fit(X, Y)
    assert model.predict(X).shape == Y.shape


@pytest.mark.parametrize("make", TINY)
def test_cross_validate_with_both_scorers(make, expression):
    X, Y = expression
    result = cross_validate(make(), X, Y, cv=3, scoring={"mmae": mmae_scorer, "rmse": rmse_scorer})
    assert np.all(result["test_mmae"] < 0) and np.all(result["test_rmse"] < 0)
    # RMSE >= MAE entry-wise averages, so -RMSE <= -MMAE.
    assert np.all(result["test_rmse"] <= result["test_mmae"])


# ----------------------------------------------------------------------------
# Reproducibility and persistence
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TINY)
def test_clone_and_pickle_round_trips(make, expression):
    X, Y = expression
    model = make().fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    refit = clone(model).fit(X, Y)
    np.testing.assert_array_equal(refit.predict(X), model.predict(X))


@pytest.mark.parametrize("make", TINY)
def test_same_random_state_same_predictions(make, expression):
    X, Y = expression
    first = make(random_state=3).fit(X, Y).predict(X)
    again = make(random_state=3).fit(X, Y).predict(X)
    other = make(random_state=4).fit(X, Y).predict(X)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_fit_leaves_global_random_state_untouched(expression):
    X, Y = expression
    torch_state = torch.random.get_rng_state()
    # The legacy global generator is what random_state=None would draw from.
    numpy_state = np.random.get_state()  # noqa: NPY002
    tiny_dgex(random_state=0, dropout=0.5).fit(X, Y)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


@pytest.mark.parametrize("make", TINY)
def test_prediction_shape_follows_target_shape(make, expression):
    X, Y = expression
    one_d = make().fit(X, Y[:, 0])
    assert one_d.predict(X).shape == (len(X),)
    column = make().fit(X, Y[:, :1])
    assert column.predict(X).shape == (len(X), 1)
    np.testing.assert_array_equal(column.predict(X).ravel(), one_d.predict(X))
    assert one_d.predict(X).dtype == np.float64


# ----------------------------------------------------------------------------
# Target splits
# ----------------------------------------------------------------------------
def test_target_splits_return_columns_in_order():
    # Each target is a copy of one input, so a network trained on the wrong
    # columns, or outputs concatenated in the wrong order, cannot fit it.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    Y = X[:, [4, 0, 3, 1, 2]]
    model = tiny_mlp(hidden_layer_sizes=(16,), max_epochs=40, lr=1e-2, n_target_splits=2)
    pred = model.fit(X, Y).predict(X)
    assert [net.module_.n_out for net in model.nets_] == [3, 2]
    assert model.net_ is model.nets_[0]
    correlation = np.corrcoef(pred.T, Y.T)[:5, 5:]
    np.testing.assert_array_equal(correlation.argmax(axis=1), np.arange(5))
    assert np.all(np.diag(correlation) > 0.95)


def test_target_splits_histories_combine(expression):
    X, Y = expression
    model = tiny_dgex(n_target_splits=2, validation_fraction=0.2).fit(X, Y)
    assert len(model.histories_) == 2 and len(model.history_) == 3
    first, second = (h[-1] for h in model.histories_)
    weights = np.array([3, 2]) / 5  # 5 targets split 3 + 2
    expected = weights @ [first["valid_mmae"], second["valid_mmae"]]
    assert model.history_[-1]["valid_mmae"] == pytest.approx(expected)
    expected_rmse = np.sqrt(weights @ [first["valid_rmse"] ** 2, second["valid_rmse"] ** 2])
    assert model.history_[-1]["valid_rmse"] == pytest.approx(expected_rmse)


def test_more_target_splits_than_targets_is_an_error(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="n_target_splits=6 is larger than the number of targets"):
        tiny_dgex(n_target_splits=6).fit(X, Y)
