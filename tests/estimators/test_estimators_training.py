"""Training behaviour: validation, early stopping, history, verbosity, warm start, errors."""

import numpy as np
import pytest
import torch
from _helpers import tiny_estimators

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor
from sklearn_dgex._torch import callbacks as net_callbacks
from sklearn_dgex._torch import net as glue
from sklearn_dgex.datasets import make_expression
from sklearn_dgex.metrics import epochs_to_threshold, mmae, rmse
from sklearn_dgex.nn import budget

tiny_dgex, tiny_mlp = tiny_estimators(max_epochs=3, linear_shortcut=False)


@pytest.fixture(scope="module")
def expression():
    return make_expression(n_samples=80, n_landmarks=6, n_targets=5, random_state=1)


@pytest.fixture(scope="module")
def held_out():
    """Training and validation profiles of one generated data set."""
    X, Y = make_expression(n_samples=100, n_landmarks=6, n_targets=5, random_state=1)
    return X[:80], Y[:80], X[80:], Y[80:]


# ----------------------------------------------------------------------------
# Fitted state
# ----------------------------------------------------------------------------
def test_fitted_state_of_dgex(expression):
    X, Y = expression
    model = tiny_dgex(validation_fraction=0.25).fit(X, Y)
    assert model.n_features_in_ == 6 and model.n_outputs_ == 5
    expected = budget.count_parameters(6, 5, towers=2, width=8, output_activation="identity")
    assert model.n_parameters_ == expected
    assert model.n_parameters_ == sum(p.numel() for p in model.net_.module_.parameters())
    assert model.n_neurons_ == 3 * 2 * 8 + 5
    assert model.width_ == 8 and model.n_iter_ == 3 and model.fit_time_ > 0
    keys = {"epoch", "train_loss", "valid_loss", "valid_mmae", "valid_rmse", "lr"}
    keys |= {"epoch_time", "train_time", "samples_per_s"}
    assert [row["epoch"] for row in model.history_] == [1, 2, 3]
    assert all(set(row) == keys for row in model.history_)
    losses = [row["valid_loss"] for row in model.history_]
    assert model.best_epoch_ == 1 + int(np.argmin(losses))


def test_fitted_state_of_flexible_mlp(expression):
    X, Y = expression
    model = tiny_mlp(hidden_layer_sizes=(8, 4)).fit(X, Y)
    assert model.n_neurons_ == 8 + 4 + 5
    assert model.n_parameters_ == (6 * 8 + 8) + (8 * 4 + 4) + (4 * 5 + 5)
    # No validation set unless asked for: only training columns in the history.
    assert set(model.history_[0]) == {
        "epoch",
        "train_loss",
        "lr",
        "epoch_time",
        "train_time",
        "samples_per_s",
    }


def test_feature_names_are_recorded():
    pd = pytest.importorskip("pandas")
    X, Y = make_expression(n_samples=30, n_landmarks=4, n_targets=3, as_frame=True, random_state=0)
    model = tiny_mlp().fit(X, Y)
    np.testing.assert_array_equal(model.feature_names_in_, X.columns)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(pd.DataFrame(X.to_numpy(), columns=[f"g{i}" for i in range(4)]))


def test_validation_errors_are_in_original_units(held_out):
    X, Y, X_val, Y_val = held_out
    model = tiny_dgex(max_epochs=2).fit(X, Y, X_val=X_val, y_val=Y_val)
    last = model.history_[-1]
    # The last epoch's weights are the model's: its history matches a fresh evaluation.
    pred = model.predict(X_val)
    assert last["valid_mmae"] == pytest.approx(mmae(Y_val, pred), rel=1e-4)
    assert last["valid_rmse"] == pytest.approx(rmse(Y_val, pred), rel=1e-4)


def test_x_val_requires_y_val(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        tiny_dgex().fit(X, Y, X_val=X)
    with pytest.raises(ValueError, match="y_val must have shape"):
        tiny_dgex().fit(X, Y, X_val=X, y_val=Y[:, :2])


def test_epochs_to_threshold_reads_the_history(expression):
    X, Y = expression
    model = tiny_mlp(max_epochs=6, lr=1e-2, validation_fraction=0.25).fit(X, Y)
    curve = [row["valid_rmse"] for row in model.history_]
    threshold = float(np.median(curve))
    assert model.epochs_to_threshold(threshold) == epochs_to_threshold(curve, threshold)
    assert model.epochs_to_threshold(-1.0, metric="valid_mmae") is None
    with pytest.raises(ValueError, match="was not recorded"):
        tiny_mlp().fit(X, Y).epochs_to_threshold(0.1)


# ----------------------------------------------------------------------------
# Early stopping
# ----------------------------------------------------------------------------
def test_early_stopping_restores_the_best_weights(held_out):
    X, Y, X_val, Y_val = held_out
    # A high learning rate makes the validation loss jump around after a few epochs.
    model = tiny_mlp(
        hidden_layer_sizes=(32,),
        lr=0.05,
        optimizer="adam",
        max_epochs=60,
        early_stopping=True,
        n_iter_no_change=3,
        batch_size=8,
    )
    model.fit(X, Y, X_val=X_val, y_val=Y_val)
    losses = [row["valid_loss"] for row in model.history_]
    assert model.n_iter_ < 60  # stopped early
    assert 1 <= model.best_epoch_ == 1 + int(np.argmin(losses)) < model.n_iter_
    best = model.history_[model.best_epoch_ - 1]
    # The weights in use are the best epoch's, not the last epoch's.
    assert mmae(Y_val, model.predict(X_val)) == pytest.approx(best["valid_mmae"], rel=1e-4)
    assert model.history_[-1]["valid_mmae"] != pytest.approx(best["valid_mmae"], rel=1e-4)


def test_early_stopping_splits_off_a_validation_fraction(expression):
    X, Y = expression
    model = tiny_dgex(early_stopping=True, max_epochs=2).fit(X, Y)
    assert "valid_mmae" in model.history_[0]
    # 10% of 80 rows validate; the training rate counts the other 72.
    row = model.history_[0]
    assert row["samples_per_s"] == pytest.approx(72 / row["train_time"])


def test_validation_split_needs_two_samples():
    X = np.ones((1, 3))
    with pytest.raises(ValueError, match="n_samples=1"):
        tiny_dgex(early_stopping=True).fit(X, np.ones(1))


# ----------------------------------------------------------------------------
# Verbosity, interruption, warm start, precision
# ----------------------------------------------------------------------------
def test_silent_by_default_and_one_line_per_epoch_when_verbose(expression, capsys):
    X, Y = expression
    tiny_dgex().fit(X, Y)
    assert capsys.readouterr().out == ""
    tiny_dgex(verbose=1, validation_fraction=0.2).fit(X, Y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + 3  # what the fit chose, then one line per epoch
    assert lines[0].startswith("DGEXRegressor: no linear path, 1 ensemble member(s)")
    assert lines[1].startswith("epoch    1/3") and "valid_mmae" in lines[1]
    assert "samples/s" in lines[-1]


def test_keyboard_interrupt_reaches_the_caller(expression, monkeypatch):
    X, Y = expression

    def interrupt(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(net_callbacks.RecordLearningRate, "on_epoch_end", interrupt, raising=False)
    with pytest.raises(KeyboardInterrupt):
        tiny_dgex(max_epochs=5).fit(X, Y)


def test_warm_start_continues_training(expression):
    X, Y = expression
    model = tiny_mlp(warm_start=True, max_epochs=2).fit(X, Y)
    first_weights = [p.detach().clone() for p in model.net_.module_.parameters()]
    net = model.net_
    model.fit(X, Y)
    assert model.net_ is net and len(model.history_) == 4
    assert [row["epoch"] for row in model.history_] == [1, 2, 3, 4]
    assert any(not torch.equal(a, b) for a, b in zip(first_weights, net.module_.parameters()))
    with pytest.raises(ValueError, match="features"):
        model.fit(X[:, :4], Y)


def test_refit_without_warm_start_starts_over(expression):
    X, Y = expression
    model = tiny_mlp(max_epochs=2).fit(X, Y)
    net = model.net_
    model.fit(X, Y)
    assert model.net_ is not net and len(model.history_) == 2


def test_compile_trains_through_torch_compile_and_keeps_the_plain_module(expression, tmp_path):
    import pickle

    from sklearn_dgex import load
    from sklearn_dgex.nn import FlexibleMLP

    X, Y = expression
    compiled = tiny_mlp(compile=True, max_epochs=2, linear_shortcut=False).fit(X, Y)
    plain = tiny_mlp(compile=False, max_epochs=2, linear_shortcut=False).fit(X, Y)
    module, wrapper = compiled.net_.__dict__["_compiled"]
    assert module is compiled.net_.module_ and type(module) is FlexibleMLP
    assert isinstance(wrapper, torch._dynamo.eval_frame.OptimizedModule)
    assert "_compiled" not in plain.net_.__dict__
    # The same training (no dropout here), through compiled kernels: equal to rounding.
    np.testing.assert_allclose(compiled.predict(X), plain.predict(X), atol=1e-5)
    for restored in (
        pickle.loads(pickle.dumps(compiled)),
        load(compiled.save(tmp_path / "compiled.dgex")),
    ):
        np.testing.assert_array_equal(restored.predict(X), compiled.predict(X))


def test_tf32_precision_holds_for_forward_backward_and_predict_then_restores(
    expression, monkeypatch
):
    X, Y = expression
    forward, backward = [], []
    linear_forward = torch.nn.Linear.forward

    def spy(self, x):
        if x.device.type != "meta":  # not the memory check before training
            forward.append(torch.backends.cuda.matmul.allow_tf32)
        out = linear_forward(self, x)
        if out.requires_grad:
            out.register_hook(lambda grad: backward.append(torch.backends.cuda.matmul.allow_tf32))
        return out

    monkeypatch.setattr(torch.nn.Linear, "forward", spy)
    model = tiny_mlp(precision="tf32", max_epochs=2, linear_shortcut=False).fit(X, Y)
    assert forward and all(forward) and backward and all(backward)
    assert torch.backends.cuda.matmul.allow_tf32 is False
    forward.clear()
    tf32_prediction = model.predict(X)
    assert forward and all(forward) and torch.backends.cuda.matmul.allow_tf32 is False
    # TF32 is a CUDA feature: on a CPU the model is the float32 one, bit for bit.
    float32 = tiny_mlp(precision="float32", max_epochs=2, linear_shortcut=False).fit(X, Y)
    np.testing.assert_array_equal(tf32_prediction, float32.predict(X))


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"avx2", "avx512_bf16"}, True),
        ({"avx2", "amx_bf16"}, True),
        ({"avx2"}, False),
        (None, None),  # no /proc/cpuinfo: unknown, no warning
    ],
)
def test_bf16_on_a_cpu_warns_only_where_bf16_is_emulated(flags, native, expression, monkeypatch):
    import warnings

    monkeypatch.setattr(glue, "cpu_flags", lambda: flags)
    assert glue.cpu_has_bf16() is native
    X, Y = expression
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiny_mlp(precision="bf16", max_epochs=1).fit(X, Y)
    emulated = [w for w in caught if "without bf16 instructions" in str(w.message)]
    assert bool(emulated) is (native is False)


@pytest.mark.parametrize("make", [tiny_dgex, tiny_mlp])
def test_bf16_precision_trains_on_cpu(make, expression):
    X, Y = expression
    pred = make(precision="bf16", max_epochs=2).fit(X, Y).predict(X)
    assert pred.dtype == np.float64 and np.all(np.isfinite(pred))


def test_scaling_can_be_switched_off(expression):
    X, Y = expression
    model = tiny_mlp(input_scaling=False, target_scaling=False).fit(X, Y)
    np.testing.assert_array_equal(model.input_mean_, 0.0)
    np.testing.assert_array_equal(model.target_scale_, 1.0)
    scaled = tiny_mlp().fit(X, Y)
    np.testing.assert_allclose(scaled.target_mean_, Y.mean(axis=0), rtol=1e-5)


def test_minmax_target_scaling_maps_the_training_range_onto_0_1(expression):
    X, Y = expression
    model = tiny_mlp(target_scaling="minmax").fit(X, Y)
    np.testing.assert_allclose(model.target_mean_, Y.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(model.target_scale_, np.ptp(Y, axis=0), rtol=1e-6)
    # Validation errors stay in the units of y.
    with_val = tiny_mlp(target_scaling="minmax").fit(X[:60], Y[:60], X_val=X[60:], y_val=Y[60:])
    last = with_val.history_[-1]["valid_rmse"]
    assert last == pytest.approx(rmse(Y[60:], with_val.predict(X[60:])), rel=1e-4)


def test_minmax_target_scaling_ignores_missing_targets(expression):
    X, Y = expression
    Y = Y.copy()
    Y[0, 0], Y[1, 1] = np.nan, np.nan
    model = tiny_mlp(target_scaling="minmax", allow_nan_targets=True).fit(X, Y)
    np.testing.assert_allclose(model.target_mean_, np.nanmin(Y, axis=0), rtol=1e-6)
    assert np.all(np.isfinite(model.predict(X)))


def test_elu_output_reaches_below_its_floor_only_with_minmax_targets(rng):
    # The flexible-MLP study's baseline output, ELU(0.01), cannot go below -0.01. On
    # standardised targets that is the mean minus 0.01 standard deviations, above
    # about half of the values; on targets scaled into [0, 1] it is below all of them.
    X = rng.normal(size=(400, 4))
    Y = np.column_stack([X[:, 0] + 0.5 * X[:, 1], X[:, 2] - X[:, 3]])
    params = dict(
        hidden_layer_sizes=(32,),
        output_activation="elu(0.01)",
        lr=1e-2,
        max_epochs=30,
        early_stopping=False,
    )
    floor = Y.mean(axis=0) - 0.01 * Y.std(axis=0)
    assert (floor > Y).mean() > 0.4  # data that need predictions below the floor
    standardised = tiny_mlp(**params).fit(X, Y).predict(X)
    assert np.all(standardised >= floor - 1e-6)
    minmax = tiny_mlp(**params, target_scaling="minmax").fit(X, Y)
    predictions = minmax.predict(X)
    assert (predictions < floor).mean() > 0.3
    assert rmse(Y, predictions) < 0.5 * rmse(Y, standardised)


def test_target_scaling_rejects_other_strings(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="target_scaling"):
        tiny_mlp(target_scaling="robust").fit(X, Y)


def test_batch_norm_never_sees_a_batch_of_one(expression):
    X, Y = expression
    # 80 rows in batches of 79 would leave one row alone; it joins the last batch.
    model = tiny_mlp(batch_norm=True, batch_size=79, max_epochs=2).fit(X, Y)
    assert np.all(np.isfinite(model.predict(X)))


def test_max_epochs_zero_keeps_the_initial_network(expression):
    X, Y = expression
    model = tiny_mlp(max_epochs=0).fit(X, Y)
    assert model.history_ == [] and model.best_epoch_ is None and model.n_iter_ == 0
    assert model.predict(X).shape == Y.shape


# ----------------------------------------------------------------------------
# Hyperparameter errors
# ----------------------------------------------------------------------------
def test_width_and_param_budget_are_exclusive(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="either width or param_budget"):
        tiny_dgex(width=8, param_budget=1000).fit(X, Y)


def test_too_small_param_budget(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="param_budget=10 is too small"):
        tiny_dgex(width=None, param_budget=10).fit(X, Y)


def test_param_budget_sets_the_width(expression):
    X, Y = expression
    model = tiny_dgex(width=None, param_budget=2000).fit(X, Y)
    assert model.n_parameters_ <= 2000
    wider = budget.count_parameters(
        6, 5, towers=2, width=model.width_ + 1, output_activation="identity"
    )
    assert wider > 2000


def test_default_budget_is_the_dense_1000_network():
    model = DGEXRegressor(arch="dense")
    _, kwargs = model._module_class_and_kwargs(60, 200)
    assert kwargs["width"] == 1000 and kwargs["towers"] == 1
    _, kwargs = DGEXRegressor(arch="cr", towers=5)._module_class_and_kwargs(60, 200)
    dense = budget.dense_budget(60, 200, 1000, output_activation="identity")

    def count(width):
        return budget.count_parameters(60, 200, towers=5, width=width, output_activation="identity")

    assert count(kwargs["width"]) <= dense < count(kwargs["width"] + 1)


def test_dense_ignores_towers():
    _, kwargs = DGEXRegressor(arch="dense", towers=4, width=10)._module_class_and_kwargs(5, 3)
    assert kwargs["towers"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(activation="swish"), "Unknown activation 'swish'"),
        (dict(device="gpu"), "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        (dict(arch="c", width=1), "width"),
    ],
)
def test_invalid_settings_name_the_argument(params, message, expression):
    X, Y = expression
    with pytest.raises(ValueError, match=message):
        tiny_dgex(**params).fit(X, Y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(expression):
    X, Y = expression
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        tiny_dgex(device="cuda").fit(X, Y)


def test_unknown_optimizer_lists_the_options(expression):
    X, Y = expression
    with pytest.raises(ValueError, match=r"'optimizer' parameter .* must be a str among"):
        tiny_dgex(optimizer="lbfgs").fit(X, Y)


def test_hidden_layer_sizes_accepts_an_int(expression):
    X, Y = expression
    model = tiny_mlp(hidden_layer_sizes=5).fit(X, Y)
    assert model.n_neurons_ == 5 + 5


# ----------------------------------------------------------------------------
# Learning: honest, modest bars on raw log2 expression with default training
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw_expression_split():
    X, Y = make_expression(n_samples=500, n_landmarks=30, n_targets=60, random_state=0)
    return X[:300], Y[:300], X[300:], Y[300:]


@pytest.mark.parametrize(
    "model",
    # The default training (lr, epochs, batch, scaling); a smaller D-GEX budget than the
    # default 1,000-wide equivalent keeps the test at a few seconds.
    [DGEXRegressor(param_budget=100_000, random_state=0), FlexibleMLPRegressor(random_state=0)],
    ids=["dgex", "mlp"],
)
def test_trained_model_beats_the_mean_and_reaches_linear_regression(model, raw_expression_split):
    from sklearn.linear_model import LinearRegression

    X, Y, X_test, Y_test = raw_expression_split
    error = mmae(Y_test, model.fit(X, Y).predict(X_test))
    mean_error = mmae(Y_test, np.broadcast_to(Y.mean(axis=0), Y_test.shape))
    linear_error = mmae(Y_test, LinearRegression().fit(X, Y).predict(X_test))
    # Measured: D-GEX 0.428, MLP 0.428, mean 0.544, LinearRegression 0.421.
    assert error < 0.85 * mean_error
    assert error < 1.05 * linear_error
