"""The linear path at every data size: the fallback, torch threads and what a fit says it chose."""

import numpy as np
import pytest
import torch
from _helpers import tiny_estimators
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler

from sklearn_dgex import DGEXRegressor
from sklearn_dgex._fit import settings as auto_settings
from sklearn_dgex.nn import LinearShortcut

tiny_dgex, tiny_mlp = tiny_estimators(mlp=dict(hidden_layer_sizes=(16,)))


def linear_data(n_samples=200, n_features=8, n_targets=5, seed=0):
    """Targets linear in the inputs plus noise: more samples than twice the features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 2.0, n_features) + 5.0
    Y = X @ rng.normal(size=(n_features, n_targets)) + rng.normal(size=(n_samples, n_targets))
    return X, Y


def nonlinear_data(n_samples=400, seed=0):
    """Targets a network learns easily and a ridge cannot: |x| of one input."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    Y = np.column_stack([np.abs(X[:, 0]) * 3, np.abs(X[:, 1]) * 3])
    return X, Y + 0.05 * rng.normal(size=Y.shape)


def ridge_of_chosen_inputs(model, X, Y):
    X = np.asarray(X, dtype=np.float64)
    if model.linear_inputs_ == "standardized":
        X = StandardScaler().fit_transform(X)
    return Ridge(alpha=model.shortcut_alpha_).fit(X, Y), X


# ----------------------------------------------------------------------------
# The fallback: larger data
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [tiny_mlp, tiny_dgex])
def test_networks_that_cannot_beat_the_ridge_fall_back_to_it(make):
    X, Y = linear_data()
    # Far too high a learning rate: the networks end worse than the ridge.
    model = make(lr=0.5, optimizer="sgd", momentum=0.0, max_epochs=3).fit(X, Y)
    assert model.linear_path_ == "fallback" and not model.linear_shortcut_
    assert isinstance(model.net_.module_, LinearShortcut)
    assert model.best_epoch_ == 0
    # The model is exactly the ridge of all rows (the validation split included).
    ridge, inputs = ridge_of_chosen_inputs(model, X, Y)
    np.testing.assert_allclose(model.predict(X), ridge.predict(inputs), rtol=1e-5, atol=1e-4)


def test_networks_that_beat_the_ridge_are_kept_unchanged():
    X, Y = nonlinear_data()
    model = tiny_mlp(hidden_layer_sizes=(32,), lr=1e-2).fit(X, Y)
    assert model.linear_path_ == "fallback"
    assert not isinstance(model.net_.module_, LinearShortcut)
    assert model.shortcut_alpha_ is None  # no linear path in the model
    ridge = RidgeCV().fit(X, Y)
    model_error = np.mean((model.predict(X) - Y) ** 2)
    assert model_error < 0.5 * np.mean((ridge.predict(X) - Y) ** 2)


def test_linear_shortcut_false_trains_the_plain_networks_of_the_studies():
    X, Y = linear_data()
    model = tiny_mlp(linear_shortcut=False, max_epochs=2).fit(X, Y)
    assert model.linear_path_ is None and model.shortcut_alpha_ is None
    assert model.linear_inputs_ is None and not model.early_stopping_
    assert not isinstance(model.net_.module_, LinearShortcut)


def test_a_fallen_back_model_saves_and_loads_exactly(tmp_path):
    from sklearn_dgex import load

    X, Y = linear_data()
    model = tiny_mlp(lr=0.5, optimizer="sgd", momentum=0.0, max_epochs=2).fit(X, Y)
    assert isinstance(model.net_.module_, LinearShortcut)
    restored = load(model.save(tmp_path / "model.dgex"))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_fallback_leaves_missing_targets_out_of_the_comparison():
    X, Y = linear_data()
    Y[::7, 0] = np.nan
    model = tiny_mlp(allow_nan_targets=True, max_epochs=2).fit(X, Y)
    assert model.linear_path_ == "fallback"
    assert np.all(np.isfinite(model.predict(X)))


# ----------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------
def test_auto_threads_follow_the_size_of_a_training_step(monkeypatch):
    monkeypatch.setattr(auto_settings.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(auto_settings.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert auto_settings.resolve_threads("auto", batch_size=8, n_parameters=10_000) == 1
    big = auto_settings.SINGLE_THREAD_MAX_WORK
    assert auto_settings.resolve_threads("auto", 256, big) == 8
    assert auto_settings.resolve_threads(3, 8, 10) == 3


@pytest.mark.parametrize(("load", "expected"), [(0.4, 8), (2.6, 5), (7.9, 1), (30.0, 1)])
def test_auto_threads_leave_the_cores_that_other_work_holds(monkeypatch, load, expected):
    monkeypatch.setattr(auto_settings.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(auto_settings.os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    big = auto_settings.SINGLE_THREAD_MAX_WORK
    assert auto_settings.resolve_threads("auto", 256, big) == expected
    assert auto_settings.resolve_threads(6, 256, big) == 6  # an explicit number is kept


def test_auto_threads_without_a_load_average(monkeypatch):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(auto_settings.os, "getloadavg", unavailable)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert auto_settings.resolve_threads("auto", 256, auto_settings.SINGLE_THREAD_MAX_WORK) == 2


@pytest.mark.parametrize("n_threads", ["auto", 3])
def test_fit_and_predict_restore_the_callers_thread_setting(n_threads, monkeypatch):
    X, Y = linear_data(n_samples=60)
    seen = []
    model = tiny_mlp(n_threads=n_threads, max_epochs=2)
    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n) or original(n))
    before = torch.get_num_threads()
    try:
        original(2)
        model.fit(X, Y)
        assert torch.get_num_threads() == 2
        model.predict(X)
        assert torch.get_num_threads() == 2
    finally:
        original(before)
    expected = 1 if n_threads == "auto" else 3
    assert model.n_threads_ == expected
    assert seen == [expected, 2, expected, 2]  # fit, then predict, each restored


def test_threads_are_restored_when_fit_fails():
    X, Y = linear_data(n_samples=60)
    before = torch.get_num_threads()
    model = tiny_mlp(n_threads=3, max_epochs=2, lr=1e30, optimizer="sgd")
    with pytest.raises(FloatingPointError):
        model.fit(X, Y * 1e30)
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------
# What a fit says it chose
# ----------------------------------------------------------------------------
def test_verbose_names_the_mode_before_training_and_labels_members(capsys):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 30)), rng.normal(size=(40, 3))
    tiny_mlp(verbose=1, max_epochs=1, n_ensemble=2).fit(X, Y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "FlexibleMLPRegressor: linear shortcut, 2 ensemble member(s), up to 1 epochs with "
        "early stopping, batch 8, 1 thread(s), device cpu"
    )
    assert lines[1].startswith("member 1/2  epoch    1/1")
    assert lines[2].startswith("member 2/2  epoch    1/1")


def test_chosen_settings_are_fitted_attributes():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 30)), rng.normal(size=(40, 3))
    model = tiny_mlp(max_epochs=1).fit(X, Y)
    chosen = (
        model.linear_path_,
        model.early_stopping_,
        model.max_epochs_,
        model.batch_size_,
        model.n_ensemble_,
        model.n_threads_,
        model.device_,
    )
    assert chosen == ("shortcut", True, 1, 8, 3, 1, "cpu")
    assert model.linear_inputs_ in ("raw", "standardized")


# ----------------------------------------------------------------------------
# The default budget follows what the data support
# ----------------------------------------------------------------------------
def test_default_budget_grows_with_the_rows_within_its_bounds():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(600, 10)), rng.normal(size=(600, 4))

    def dense_width_of(model, n_rows):
        model.fit(X[:n_rows], Y[:n_rows])
        dense = DGEXRegressor(arch="dense", towers=1, width=model._settings.dense_width)
        assert model._settings.dense_width == min(max(n_rows // 2, 128), 1000)
        return model, dense.set_params(max_epochs=1, random_state=0).fit(X, Y).n_parameters_

    small, budget_of_128 = dense_width_of(DGEXRegressor(max_epochs=1, random_state=0), 100)
    assert small.n_parameters_ <= budget_of_128 * small.n_ensemble_
    large, _ = dense_width_of(DGEXRegressor(max_epochs=1, random_state=0), 600)
    assert large.width_ > small.width_
    # A warm start on more rows continues the networks it has, as wide as they are.
    small.set_params(warm_start=True).fit(X, Y)
    assert small._settings.dense_width == 128
