"""Bad input: every case gets a clear error naming the argument, and leaves nothing half-done."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from _helpers import tiny_estimators
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import GridSearchCV

from sklearn_dgex import load
from sklearn_dgex._torch import net as glue
from sklearn_dgex._torch.losses import MaskedLoss

N_SAMPLES, N_FEATURES, N_TARGETS = 40, 6, 5
tiny_dgex, tiny_mlp = tiny_estimators(max_epochs=2, batch_size=16, linear_shortcut=False)


TINY = [tiny_dgex, tiny_mlp]
# Errors raised before any training: hypothesis may try many examples.
CHEAP = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return {make: make().fit(X, Y) for make in TINY}


def fit_error(model, X, y, **fit_params):
    with pytest.raises((ValueError, TypeError)) as info:
        model.fit(X, y, **fit_params)
    return info


# ----------------------------------------------------------------------------
# NaN and infinity
# ----------------------------------------------------------------------------
@CHEAP
@given(
    where=st.sampled_from(["X", "y"]),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    row=st.integers(0, N_SAMPLES - 1),
    column=st.integers(0, N_TARGETS - 1),
    make=st.sampled_from(TINY),
)
def test_nan_or_inf_in_x_or_y_names_the_argument(data, where, value, row, column, make):
    X, Y = (a.copy() for a in data)
    (X if where == "X" else Y)[row, column] = value
    kind = "NaN" if np.isnan(value) else "infinity"
    with pytest.raises(ValueError, match=f"Input {where} contains {kind}"):
        make().fit(X, Y)


@pytest.mark.parametrize("make", TINY)
def test_nan_in_x_at_predict_and_in_x_val(make, data, fitted):
    X, Y = data
    X_bad = X.copy()
    X_bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted[make].predict(X_bad)
    with pytest.raises(ValueError, match="X_val: Input X contains NaN"):
        make().fit(X, Y, X_val=X_bad, y_val=Y)


# ----------------------------------------------------------------------------
# Missing targets: allow_nan_targets=True
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TINY)
def test_allow_nan_targets_trains_and_ignores_nan_in_scaling(make, data):
    X, Y = data
    Y = Y.astype(np.float64)
    Y[::3, 1] = np.nan
    Y[5, 4] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        make().fit(X, Y)
    model = make(allow_nan_targets=True, validation_fraction=0.25).fit(X, Y)
    np.testing.assert_allclose(model.target_mean_, np.nanmean(Y, axis=0))
    np.testing.assert_allclose(model.target_scale_, np.nanstd(Y, axis=0))
    for row in model.history_:
        assert all(np.isfinite(row[key]) for key in ("train_loss", "valid_loss", "valid_mmae"))
    assert np.isfinite(model.predict(X)).all()


def test_allow_nan_targets_still_refuses_inf_and_unobserved_targets(data):
    X, Y = data
    Y = Y.astype(np.float64)
    Y[0, 0] = np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        tiny_mlp(allow_nan_targets=True).fit(X, Y)
    Y[0, 0] = 1.0
    Y[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"target column\(s\) '3' without any observed"):
        tiny_mlp(allow_nan_targets=True).fit(X, Y)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        tiny_mlp(allow_nan_targets=True).fit(X_nan, np.nan_to_num(Y))


def test_allow_nan_targets_accepts_nan_in_y_val(data):
    X, Y = data
    Y_val = Y[:10].astype(np.float64)
    Y_val[2, 2] = np.nan
    with pytest.raises(ValueError, match="Input y_val contains NaN"):
        tiny_mlp().fit(X, Y, X_val=X[:10], y_val=Y_val)
    model = tiny_mlp(allow_nan_targets=True).fit(X, Y, X_val=X[:10], y_val=Y_val)
    assert np.isfinite(model.history_[-1]["valid_mmae"])


def test_allow_nan_targets_with_the_linear_shortcut(data):
    X, Y = data
    Y = Y.astype(np.float64)
    Y[::4, 0] = np.nan
    model = tiny_mlp(allow_nan_targets=True, linear_shortcut=True).fit(X, Y)
    assert np.isfinite(model.predict(X)).all()
    assert np.isfinite(model.history_[-1]["train_loss"])


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 5)),
    seed=st.integers(0, 2**16),
    base=st.sampled_from([torch.nn.L1Loss, torch.nn.MSELoss, torch.nn.HuberLoss]),
)
def test_masked_loss_is_the_mean_over_observed_targets(shape, seed, base):
    generator = torch.Generator().manual_seed(seed)
    y_pred = torch.randn(shape, generator=generator, requires_grad=True)
    y_true = torch.randn(shape, generator=generator)
    observed = torch.rand(shape, generator=generator) < 0.6
    y_true[~observed] = float("nan")
    loss = MaskedLoss(base)(y_pred, y_true)
    elementwise = base(reduction="none")(y_pred[observed], y_true[observed])
    expected = elementwise.sum() / max(int(observed.sum()), 1)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(y_pred.grad).all()
    assert (y_pred.grad[~observed] == 0).all()  # a missing target pulls on nothing


# ----------------------------------------------------------------------------
# Scale: small magnitudes are data, constant columns are not
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("shortcut", [False, True])
def test_small_float32_inputs_train_like_the_same_data_at_scale_one(data, shortcut):
    X, Y = data
    X = X.astype(np.float32)
    reference = tiny_mlp(linear_shortcut=shortcut).fit(X, Y)
    small = tiny_mlp(linear_shortcut=shortcut).fit(X * np.float32(1e-5), Y)
    np.testing.assert_allclose(small.input_scale_, reference.input_scale_ * 1e-5, rtol=1e-4)
    expected = reference.predict(X)
    np.testing.assert_allclose(
        small.predict(X * np.float32(1e-5)), expected, atol=1e-3 * np.ptp(expected)
    )


def test_small_float32_targets_are_predicted_at_their_own_scale(data):
    X, Y = data
    Y = Y.astype(np.float32)
    reference = tiny_mlp().fit(X, Y)
    small = tiny_mlp().fit(X, Y * np.float32(1e-5))
    np.testing.assert_allclose(small.target_scale_, reference.target_scale_ * 1e-5, rtol=1e-4)
    expected = reference.predict(X)
    np.testing.assert_allclose(small.predict(X) * 1e5, expected, atol=1e-3 * np.ptp(expected))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_columns_keep_scale_one(data, dtype):
    X, Y = data
    X = X.astype(dtype)
    X[:, 0] = 0.0
    X[:, 1] = dtype(1e-5)
    # A constant stored with rounding noise: neighbouring float values of 1000.
    X[:, 2] = np.where(np.arange(len(X)) % 2, np.nextafter(dtype(1000), dtype(2000)), 1000)
    model = tiny_mlp().fit(X, Y)
    np.testing.assert_array_equal(model.input_scale_[:3], 1.0)
    assert np.all(model.input_scale_[3:] != 1.0)
    assert np.all(np.isfinite(model.predict(X)))


# ----------------------------------------------------------------------------
# Shapes: empty, one sample, mismatched rows, features at predict
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TINY)
def test_empty_arrays(make, data):
    X, Y = data
    assert re.search(r"Found array with 0 sample\(s\)", str(fit_error(make(), X[:0], Y[:0]).value))
    assert re.search(r"Found array with 0 feature\(s\)", str(fit_error(make(), X[:, :0], Y).value))


def test_targets_without_columns_and_repeated_column_names(data):
    X, Y = data
    with pytest.raises(ValueError, match=r"y has no target columns \(shape \(40, 0\)\)"):
        tiny_mlp().fit(X, Y[:, :0])
    frame = pd.DataFrame(X, columns=["a", "a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match=r"X has repeated column names 'a'"):
        tiny_mlp().fit(frame, Y)


@pytest.mark.parametrize("make", TINY)
def test_one_sample(make, data):
    X, Y = data
    with pytest.raises(ValueError, match="needs at least 2 samples to fit, got n_samples=1"):
        make().fit(X[:1], Y[:1])


@CHEAP
@given(n_x=st.integers(2, 12), n_y=st.integers(2, 12), make=st.sampled_from(TINY))
def test_mismatched_row_counts(data, n_x, n_y, make):
    X, Y = data
    if n_x == n_y:
        return
    with pytest.raises(ValueError, match=rf"inconsistent numbers of samples: \[{n_x}, {n_y}\]"):
        make().fit(X[:n_x], Y[:n_y])


@CHEAP
@given(n_features=st.integers(1, 12), make=st.sampled_from(TINY))
def test_different_feature_count_at_predict(data, fitted, n_features, make):
    if n_features == N_FEATURES:
        return
    X_other = np.ones((3, n_features), dtype=np.float32)
    message = rf"X has {n_features} features, but {make().__class__.__name__} is expecting 6"
    with pytest.raises(ValueError, match=message):
        fitted[make].predict(X_other)


@pytest.mark.parametrize("make", TINY)
def test_different_feature_names_at_predict(make, data):
    X, Y = data
    frame = pd.DataFrame(X, columns=[f"gene{i}" for i in range(N_FEATURES)])
    model = make().fit(frame, Y)
    renamed = frame.rename(columns={"gene0": "other"})
    with pytest.raises(ValueError, match="feature names should match those that were passed"):
        model.predict(renamed)
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- other"):
        model.predict(renamed)


def test_wrong_dimensions(data):
    X, Y = data
    with pytest.raises(ValueError, match="Found array with dim 3"):
        tiny_mlp().fit(X[:, :, None], Y)
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        tiny_mlp().fit(X, None)
    with pytest.raises(ValueError, match="requires y to be passed"):
        tiny_mlp(allow_nan_targets=True).fit(X, None)


# ----------------------------------------------------------------------------
# Non-numeric, complex and sparse data
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["X", "y"])
def test_strings_name_the_argument(where, data):
    X, Y = data
    text = np.full((N_SAMPLES, 3), "high")
    args = (text, Y) if where == "X" else (X, text)
    with pytest.raises(ValueError, match=f"{where} must hold numbers .*could not convert"):
        tiny_mlp().fit(*args)


def test_dataframe_with_a_symbol_column_names_the_column(data):
    X, Y = data
    frame = pd.DataFrame(X, columns=[f"gene{i}" for i in range(N_FEATURES)])
    frame.insert(0, "symbol", [f"S{i}" for i in range(N_SAMPLES)])
    with pytest.raises(
        ValueError, match=r"X must hold numbers .*columns 'symbol' hold non-numeric"
    ):
        tiny_dgex().fit(frame, Y)


def test_numbers_stored_as_text_are_accepted(data):
    X, Y = data
    as_text = X.astype(str).astype(object)
    model = tiny_mlp().fit(as_text, Y)
    assert model.predict(as_text).shape == Y.shape


def test_objects_that_are_not_numbers(data):
    X, Y = data
    X = X.astype(object)
    X[0, 0] = {"not": "a number"}
    with pytest.raises(TypeError, match=r"X must hold numbers .*not 'dict'"):
        tiny_mlp().fit(X, Y)


@pytest.mark.parametrize("where", ["X", "y"])
def test_complex_data(where, data):
    X, Y = data
    args = (X + 1j, Y) if where == "X" else (X, Y + 1j)
    with pytest.raises(ValueError, match=f"Complex data not supported: {where} must hold real"):
        tiny_mlp().fit(*args)
    frame = pd.DataFrame({"a": X[:, 0] + 1j, "b": X[:, 1]})
    with pytest.raises(ValueError, match="its columns 'a' hold complex numbers"):
        tiny_mlp().fit(frame, Y)


@pytest.mark.parametrize("where", ["X", "y"])
def test_sparse_data(where, data):
    X, Y = data
    args = (scipy.sparse.csr_matrix(X), Y) if where == "X" else (X, scipy.sparse.csr_matrix(Y))
    with pytest.raises(TypeError, match=f"Sparse data was passed for {where}, but dense data"):
        tiny_mlp().fit(*args)


# ----------------------------------------------------------------------------
# Hyperparameters
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "params", "message"),
    [
        (tiny_dgex, dict(towers=0), r"'towers' parameter of DGEXRegressor must be an int in the "),
        (tiny_dgex, dict(arch="c", towers=2, width=1), r"width must be an int >= 2, got 1"),
        (tiny_dgex, dict(arch="cx"), r"'arch' parameter .* must be a str among .*'checkerboard'"),
        (tiny_dgex, dict(optimizer="lbfgs"), r"'optimizer' parameter .* among .*'nadam'"),
        (tiny_mlp, dict(activation="swish"), r"Unknown activation 'swish'; valid activations"),
        (tiny_dgex, dict(output_activation="x"), r"Unknown activation 'x'; valid .*'taaf_'"),
        (tiny_dgex, dict(width=None, param_budget=10), r"param_budget=10 is too small"),
        (tiny_mlp, dict(hidden_layer_sizes=(8, 0)), r"hidden_layer_sizes must hold positive"),
        (tiny_mlp, dict(on_nonfinite="ignore"), r"'on_nonfinite' parameter .* among .*'restore'"),
        (tiny_mlp, dict(gradient_clip=0.0), r"'gradient_clip' parameter .* range \(0.0, inf\)"),
        (tiny_mlp, dict(checkpoint_every=0), r"'checkpoint_every' parameter .* range \[1, inf\)"),
        (
            tiny_mlp,
            dict(checkpoint_dir=3),
            r"'checkpoint_dir' parameter .* instance of 'str', .*'os.PathLike'",
        ),
    ],
)
def test_invalid_hyperparameters_name_the_argument(make, params, message, data):
    X, Y = data
    with pytest.raises(ValueError, match=message):
        make(**params).fit(X, Y)


@pytest.mark.parametrize(
    "params",
    [
        dict(batch_size=np.int64(16)),
        dict(max_epochs=np.int32(2), n_iter_no_change=np.int64(3), early_stopping=np.True_),
        dict(hidden_layer_sizes=np.array([8, 4])),
        dict(random_state=np.int64(3), lr=np.float32(1e-3)),
    ],
)
def test_numpy_scalars_and_arrays_work_like_python_values(params, data, tmp_path):
    X, Y = data
    model = tiny_mlp(**params).fit(X, Y)
    python = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in params.items()}
    np.testing.assert_array_equal(model.predict(X), tiny_mlp(**python).fit(X, Y).predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped when saving
        loaded = load(model.save(tmp_path / "model.dgex"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert {k: loaded.get_params()[k] for k in params} == python


def test_grid_search_over_numpy_arrays_of_values(data):
    X, Y = data
    grid = {"batch_size": np.array([8, 16]), "max_epochs": np.arange(1, 3)}
    search = GridSearchCV(tiny_mlp(), grid, cv=2, error_score="raise").fit(X, Y)
    assert search.best_params_["batch_size"] in (8, 16)


# ----------------------------------------------------------------------------
# Nothing half-done: a failed fit leaves the previous model usable
# ----------------------------------------------------------------------------
def _public_state(model):
    return {k: v for k, v in vars(model).items() if k.endswith("_") or k.startswith("_")}


def _assert_same_state(model, before, X, predictions):
    after = _public_state(model)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        assert after[name] is value, name  # the very same objects, not a half-built copy
    np.testing.assert_array_equal(model.predict(X), predictions)


@pytest.fixture
def fault_at_epoch(monkeypatch):
    """Make training raise RuntimeError in the second batch of the given epoch."""

    def install(epoch, exception=None):
        exception = exception or RuntimeError("injected fault")
        original = glue.InMemoryNet.train_step
        seen = {"batches": 0}

        def train_step(net, batch, **kwargs):
            if len(net.history) == epoch:
                seen["batches"] += 1
                if seen["batches"] == 2:
                    raise exception
            return original(net, batch, **kwargs)

        monkeypatch.setattr(glue.InMemoryNet, "train_step", train_step)

    return install


@pytest.mark.parametrize("make", TINY)
def test_failed_fit_leaves_the_fitted_model_usable(make, data, fault_at_epoch):
    X, Y = data
    frame = pd.DataFrame(X, columns=[f"gene{i}" for i in range(N_FEATURES)])
    model = make().fit(frame, Y)
    before, predictions = _public_state(model), model.predict(frame)
    Y_nan = Y.copy()
    Y_nan[0, 0] = np.nan
    for bad in [(frame, Y_nan), (X[:1], Y[:1]), (np.full((N_SAMPLES, 3), "x"), Y)]:
        with pytest.raises(ValueError):
            model.fit(*bad)
        _assert_same_state(model, before, frame, predictions)
    # A fit that fails during training, on data with other features and no names.
    fault_at_epoch(2)
    wider = np.hstack([X, X[:, :1]])
    with pytest.raises(RuntimeError, match="injected fault"):
        model.fit(wider, Y)
    _assert_same_state(model, before, frame, predictions)
    assert model.n_features_in_ == N_FEATURES and "gene0" in model.feature_names_in_


def test_failed_fit_of_an_unfitted_model_leaves_it_unfitted(data, fault_at_epoch):
    X, Y = data
    model = tiny_mlp()
    fault_at_epoch(1)
    with pytest.raises(RuntimeError, match="injected fault"):
        model.fit(X, Y)
    assert not [k for k in vars(model) if k.endswith("_") or k.startswith("_")]


@pytest.mark.parametrize("make", TINY)
def test_failed_warm_start_restores_weights_optimizer_and_history(make, data, fault_at_epoch):
    X, Y = data
    model = make(warm_start=True).fit(X, Y)
    net = model.net_
    weights = {k: v.clone() for k, v in net.module_.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in net.optimizer_.state.values() if "exp_avg" in s]
    n_epochs, predictions = len(net.history), model.predict(X)
    fault_at_epoch(n_epochs + 2)  # the continuation trains one epoch, then fails
    with pytest.raises(RuntimeError, match="injected fault"):
        model.fit(X, Y)
    assert model.net_ is net and len(net.history) == n_epochs
    for name, value in net.module_.state_dict().items():
        assert torch.equal(value, weights[name]), name
    now = [s["exp_avg"] for s in net.optimizer_.state.values() if "exp_avg" in s]
    assert moments and all(torch.equal(a, b) for a, b in zip(now, moments))
    np.testing.assert_array_equal(model.predict(X), predictions)


def test_interrupted_fit_leaves_the_model_as_it_was(data, fault_at_epoch):
    X, Y = data
    model = tiny_mlp().fit(X, Y)
    before, predictions = _public_state(model), model.predict(X)
    fault_at_epoch(1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        model.fit(X[:30], Y[:30])
    _assert_same_state(model, before, X, predictions)
