"""Small data: the ridge-initialised linear shortcut, early stopping from it, "auto", ensembles."""

import doctest
import pathlib

import numpy as np
import pytest
import torch
from _helpers import tiny_estimators
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dgex import FlexibleMLPRegressor
from sklearn_dgex._fit import linear as linear_fit
from sklearn_dgex._fit import settings as auto_settings
from sklearn_dgex.datasets import make_expression
from sklearn_dgex.metrics import mmae
from sklearn_dgex.nn import DGEXNet, FlexibleMLP, LinearShortcut, budget
from sklearn_dgex.nn.shortcut import output_linear

tiny_dgex, tiny_mlp = tiny_estimators(mlp=dict(hidden_layer_sizes=(16,)))


TINY = [tiny_dgex, tiny_mlp]


@pytest.fixture(scope="module")
def small():
    """Raw log2 expression, more landmarks than profiles: 40 profiles of 50 landmarks, 12 targets.

    Then 40 test and 30 validation profiles of the same genes.
    """
    X, Y = make_expression(n_samples=110, n_landmarks=50, n_targets=12, random_state=0)
    return X[:40], Y[:40], X[40:80], Y[40:80], X[80:], Y[80:]


def linear_path_reference(model, X, Y):
    """scikit-learn's Ridge on the inputs the model's linear path chose, in original units."""
    X = np.asarray(X, dtype=np.float64)
    ridge = Ridge(alpha=model.shortcut_alpha_)
    if model.linear_inputs_ == "raw":
        return ridge.fit(X, Y)
    return make_pipeline(StandardScaler(), ridge).fit(X, Y)


def scalings_of(Xs, X):
    """The candidate scalings of standardised inputs ``Xs`` of raw ``X``."""
    return linear_fit.input_scalings(Xs, X.std(axis=0, dtype=np.float64), standardized=True)


# ----------------------------------------------------------------------------
# Zero epochs: exactly the ridge
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TINY)
@pytest.mark.parametrize("early_stopping", [False, True], ids=["all rows", "held-out split"])
def test_zero_epochs_predict_what_ridge_predicts(make, early_stopping, small):
    X, Y, X_test, *_ = small
    model = make(linear_shortcut=True, max_epochs=0, early_stopping=early_stopping).fit(X, Y)
    assert model.linear_shortcut_ and model.shortcut_alpha_ > 0
    # With a held-out split the linear path is refitted on all rows at the end:
    # either way the model is the ridge of all the data given to fit.
    reference = linear_path_reference(model, X, Y)
    np.testing.assert_allclose(model.predict(X_test), reference.predict(X_test), atol=2e-5)
    # ... and, in the scaled space, the torch module is sklearn's Ridge on the chosen inputs.
    Xs = StandardScaler().fit_transform(X)
    Ys = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    inputs = Xs * X.std(axis=0) if model.linear_inputs_ == "raw" else Xs
    ridge = Ridge(alpha=model.shortcut_alpha_).fit(inputs, Ys)
    with torch.no_grad():
        out = model.net_.module_(torch.as_tensor(Xs, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(out, ridge.predict(inputs), atol=2e-5)


def _ridge_cv(inputs, Ys):
    """RidgeCV over the linear path's relative alphas, on ``inputs``."""
    from sklearn.linear_model import RidgeCV

    from sklearn_dgex._fit.ridge import RELATIVE_ALPHAS

    mean_variance = np.mean(inputs.var(axis=0))
    return RidgeCV(alphas=RELATIVE_ALPHAS * mean_variance).fit(inputs, Ys)


def _two_scalings(informative_variance):
    """Raw inputs whose informative columns have ``informative_variance``, the rest 1."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    informative = Z @ rng.normal(size=(3, 6)) * np.sqrt(informative_variance / 3)
    noise = rng.normal(size=(60, 30))
    X = np.hstack([informative + 0.05 * rng.normal(size=(60, 6)), noise]) + 7.0
    Y = Z @ rng.normal(size=(3, 8)) + 0.3 * rng.normal(size=(60, 8))
    return X, Y


@pytest.mark.parametrize(
    ("informative_variance", "winner"), [(25.0, "raw"), (0.04, "standardized")]
)
def test_linear_path_is_the_better_of_raw_and_standardised_ridge(informative_variance, winner):
    X, Y = _two_scalings(informative_variance)
    model = tiny_mlp(linear_shortcut=True, max_epochs=0, early_stopping=False).fit(X, Y)
    Ys = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    raw = _ridge_cv(X, Ys)
    standardized = _ridge_cv(StandardScaler().fit_transform(X), Ys)
    # The estimator chose by the same leave-one-out error as RidgeCV ...
    best = max((raw, "raw"), (standardized, "standardized"), key=lambda c: c[0].best_score_)
    assert model.linear_inputs_ == best[1] == winner
    # (float32 inputs: the alphas follow their mean variance to float32 rounding)
    assert model.shortcut_alpha_ == pytest.approx(best[0].alpha_, rel=1e-6)
    # ... and predicts what that RidgeCV predicts, to float32 rounding.
    inputs = X if winner == "raw" else StandardScaler().fit(X).transform(X)
    expected = best[0].predict(inputs) * Y.std(axis=0) + Y.mean(axis=0)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------
# Early stopping from the shortcut
# ----------------------------------------------------------------------------
def test_a_network_that_only_gets_worse_ends_as_the_ridge(small):
    X, Y, X_test, *_ = small
    # A learning rate far too high: every epoch is worse on validation than the start.
    model = tiny_mlp(
        linear_shortcut=True, lr=0.3, optimizer="adam", max_epochs=20, n_iter_no_change=3
    ).fit(X, Y)
    losses = [row["valid_loss"] for row in model.history_]
    assert model.n_iter_ == 3 and model.best_epoch_ == 0
    assert np.all(np.isfinite(losses))
    reference = linear_path_reference(model, X, Y)
    np.testing.assert_allclose(model.predict(X_test), reference.predict(X_test), atol=2e-5)


def test_restored_weights_are_those_of_the_best_epoch(small):
    X, Y, _, _, X_val, Y_val = small
    # Given X_val, no rows are held out: the linear path is the ridge of X, Y throughout,
    # and the model in use is that of the epoch with the lowest validation loss.
    model = tiny_mlp(
        linear_shortcut=True,
        n_ensemble=1,
        lr=0.05,
        optimizer="sgd",
        momentum=0.9,
        max_epochs=40,
        n_iter_no_change=5,
        batch_size=8,
    ).fit(X, Y, X_val=X_val, y_val=Y_val)
    losses = [row["valid_loss"] for row in model.history_]
    assert 0 < model.best_epoch_ < model.n_iter_
    # The best epoch is the last one that beat the best before it by more than tol.
    best = model.history_[model.best_epoch_ - 1]
    assert best["valid_loss"] <= min(losses) + model.tol
    assert best["valid_loss"] < min(losses[: model.best_epoch_ - 1], default=np.inf) - model.tol
    assert mmae(Y_val, model.predict(X_val)) == pytest.approx(best["valid_mmae"], rel=1e-4)
    assert model.history_[-1]["valid_mmae"] != pytest.approx(best["valid_mmae"], rel=1e-4)


def test_initial_weights_count_as_a_candidate_without_the_shortcut_too(small):
    X, Y, *_ = small
    model = tiny_mlp(
        linear_shortcut=False,
        early_stopping=True,
        lr=1.0,
        optimizer="adam",
        max_epochs=6,
        n_iter_no_change=2,
    )
    initial = tiny_mlp(linear_shortcut=False, max_epochs=0).fit(X, Y)
    model.fit(X, Y)
    assert model.best_epoch_ == 0
    np.testing.assert_allclose(model.predict(X), initial.predict(X), rtol=1e-6)


class _Net:
    """What keep_networks_that_help reads of a skorch net."""

    def __init__(self, module):
        self.module_ = module
        self.callbacks_ = []


@pytest.mark.parametrize("helps", [True, False])
def test_networks_are_kept_only_when_they_beat_the_ridge_by_a_standard_error(helps):
    torch.manual_seed(0)
    module = LinearShortcut(
        FlexibleMLP(5, 3, hidden_layer_sizes=(4,)), 5, 3, weight=torch.randn(5, 3)
    )
    with torch.no_grad():
        output_linear(module.inner).weight.normal_()
    X = torch.randn(30, 5)
    with torch.no_grad():
        # Targets the whole model fits exactly, or that only its linear path fits.
        Y = (module(X) if helps else module.linear(X)).numpy()
    kept = linear_fit.keep_networks_that_help([_Net(module)], [np.arange(3)], (X.numpy(), Y), "mse")
    assert kept is helps
    with torch.no_grad():
        expected = Y if helps else module.linear(X).numpy()
        np.testing.assert_allclose(module(X).numpy(), expected, atol=1e-6)


# ----------------------------------------------------------------------------
# What the networks learn from and see
# ----------------------------------------------------------------------------
def test_networks_train_on_leave_one_out_residuals(small):
    X, Y, *_ = small
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    Ys = ((Y - Y.mean(axis=0)) / Y.std(axis=0)).astype(np.float32)
    shortcut = linear_fit.ShortcutRidge(Xs, Ys, scalings_of(Xs, X))
    loo = shortcut.fit_.loo_predict(Xs, Ys)
    # ridge(x) + residual target = Y_fit: the network's target is the LOO residual.
    np.testing.assert_allclose(shortcut.Y_fit - shortcut.fit_.predict(Xs), Ys - loo, atol=1e-5)
    i = 4
    keep = np.arange(len(Xs)) != i
    inputs = Xs * X.std(axis=0) if shortcut.fit_.inputs == "raw" else Xs
    refit = Ridge(alpha=shortcut.alpha).fit(inputs[keep], Ys[keep])
    np.testing.assert_allclose(loo[i], refit.predict(inputs[i : i + 1])[0], atol=1e-5)


def test_networks_see_whitened_leading_principal_axes():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    X = Z @ rng.normal(size=(3, 40)) + 0.1 * rng.normal(size=(60, 40))
    Y = np.tanh(Z) @ rng.normal(size=(3, 5)) + Z @ rng.normal(size=(3, 5))
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    Ys = StandardScaler().fit_transform(Y).astype(np.float32)
    shortcut = linear_fit.ShortcutRidge(Xs, Ys, scalings_of(Xs, X))
    assert shortcut.rank_ == 3
    module = LinearShortcut(
        FlexibleMLP(40, 5, hidden_layer_sizes=(4,)),
        40,
        5,
        input_basis=shortcut.input_basis_,
        input_gains=shortcut.input_gains_,
    )
    seen = module.inner_inputs(torch.as_tensor(Xs)).numpy()
    coordinates = seen @ shortcut.input_basis_.numpy()
    # Three uncorrelated directions of equal variance n_features / k; nothing else.
    np.testing.assert_allclose(np.cov(coordinates.T, bias=True), np.eye(3) * 40 / 3, atol=1e-3)
    np.testing.assert_allclose(seen, coordinates @ shortcut.input_basis_.numpy().T, atol=1e-4)


# ----------------------------------------------------------------------------
# The torch module
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "inner",
    [
        lambda: FlexibleMLP(6, 3, hidden_layer_sizes=(5, 4), output_activation="elu(0.01)"),
        lambda: DGEXNet(6, 3, arch="checkerboard", skip=True, towers=2, width=4),
        lambda: DGEXNet(6, 3, output_activation="identity", width=5),
    ],
    ids=["mlp elu output", "dgex taaf output", "dgex linear output"],
)
def test_shortcut_starts_as_its_linear_model_for_any_output_activation(inner):
    torch.manual_seed(0)
    network = inner()
    n_parameters = sum(p.numel() for p in network.parameters())
    W, b = torch.randn(6, 3), torch.randn(3)
    module = LinearShortcut(network, 6, 3, weight=W, bias=b)
    x = torch.randn(7, 6)
    torch.testing.assert_close(module(x), x @ W + b, atol=1e-6, rtol=1e-6)
    # The linear path is a buffer: the network's parameters are the only ones.
    assert sum(p.numel() for p in module.parameters()) == n_parameters
    assert set(dict(module.named_buffers())) >= {"weight", "bias"}
    # After one optimizer step the network contributes (gradients reach it).
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    torch.nn.functional.mse_loss(module(x), torch.randn(7, 3)).backward()
    optimizer.step()
    assert not torch.allclose(module(x), x @ W + b)


def test_set_linear_replaces_only_the_linear_path():
    torch.manual_seed(0)
    module = LinearShortcut(FlexibleMLP(4, 2, hidden_layer_sizes=(3,)), 4, 2)
    x = torch.randn(5, 4)
    with torch.no_grad():
        output_linear(module.inner).weight.fill_(0.5)
        inner_part = module(x) - (x @ module.weight + module.bias)
    W, b = torch.randn(4, 2), torch.randn(2)
    module.set_linear(W, b)
    torch.testing.assert_close(module(x), inner_part + x @ W + b)


def test_shortcut_argument_errors():
    with pytest.raises(ValueError, match="weight must have shape"):
        LinearShortcut(FlexibleMLP(4, 2), 4, 2, weight=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        LinearShortcut(torch.nn.Identity(), 4, 4)
    with pytest.raises(ValueError, match="input_basis"):
        LinearShortcut(FlexibleMLP(4, 2), 4, 2, input_basis=torch.zeros(3, 2))


# ----------------------------------------------------------------------------
# "auto" settings
# ----------------------------------------------------------------------------
def test_auto_turns_the_shortcut_on_for_few_samples_per_feature():
    on = auto_settings.uses_linear_shortcut
    assert on("auto", n_samples=100, n_features=942) and on("auto", 1884, 942)
    assert not on("auto", 1885, 942)  # more than twice as many samples as landmarks
    assert not on("auto", 19, 942)  # too few for leave-one-out and a validation split
    assert on(True, 5, 3) and not on(False, 100, 942)


def test_auto_settings_of_each_linear_path():
    params = FlexibleMLPRegressor().get_params()
    plain = auto_settings.resolve_settings(
        {**params, "linear_shortcut": False}, n_samples=6000, n_features=942
    )
    assert plain == auto_settings.Settings(None, False, 50, 64, 1, dense_width=1000)
    large = auto_settings.resolve_settings(params, n_samples=6000, n_features=942)
    assert large == auto_settings.Settings("fallback", True, 200, 64, 1, dense_width=1000)
    assert auto_settings.resolve_settings(params, 19, 942).linear_path is None
    small = auto_settings.resolve_settings(params, n_samples=300, n_features=942)
    assert small.linear_shortcut and small.early_stopping and small.max_epochs == 200
    assert small.batch_size == 33  # 270 training rows / 8 batches
    assert auto_settings.resolve_settings(params, 60, 942).batch_size == 8  # at least 8
    assert small.n_ensemble == 3
    assert small.dense_width == 150  # a neuron for every two rows, within [128, 1000]
    assert auto_settings.resolve_settings(params, 40, 942).dense_width == 128
    assert auto_settings.resolve_settings(params, 5000, 942).dense_width == 1000
    explicit = {
        **params,
        "early_stopping": False,
        "max_epochs": 7,
        "batch_size": 5,
        "n_ensemble": 2,
    }
    expected = auto_settings.Settings("shortcut", False, 7, 5, 2, dense_width=150)
    assert auto_settings.resolve_settings(explicit, 300, 942) == expected


@pytest.mark.parametrize("make", TINY)
def test_auto_ensemble_is_three_members_with_the_shortcut_and_one_without(make, small):
    X, Y, *_ = small
    with_shortcut = make(linear_shortcut=True, max_epochs=1).fit(X, Y)
    assert len(with_shortcut.ensemble_) == with_shortcut.n_ensemble_ == 3
    assert auto_settings.SMALL_DATA_ENSEMBLE == 3
    asked = make(linear_shortcut=True, max_epochs=1, n_ensemble=4).fit(X, Y)
    assert len(asked.ensemble_) == 4
    without = make(linear_shortcut=False, max_epochs=1).fit(X, Y)
    assert len(without.ensemble_) == 1


def test_warm_start_keeps_the_number_of_members(small):
    X, Y, *_ = small
    model = tiny_mlp(linear_shortcut=True, n_ensemble=2, max_epochs=1, warm_start=True)
    model.fit(X, Y).set_params(n_ensemble="auto").fit(X, Y)
    assert len(model.ensemble_) == 2
    with pytest.raises(ValueError, match="n_ensemble=3 cannot change in a warm_start"):
        model.set_params(n_ensemble=3).fit(X, Y)
    assert len(model.ensemble_) == 2


def test_shortcut_off_keeps_the_study_networks(small):
    X, Y, *_ = small
    model = tiny_dgex(linear_shortcut=False, max_epochs=1).fit(X, Y)
    expected = budget.count_parameters(50, 12, towers=2, width=8, output_activation="identity")
    assert model.n_parameters_ == expected and not model.linear_shortcut_
    assert type(model.net_.module_) is DGEXNet and model.shortcut_alpha_ is None
    # The shortcut adds no trainable parameter: the same network inside.
    with_shortcut = tiny_dgex(linear_shortcut=True, n_ensemble=1, max_epochs=1).fit(X, Y)
    assert with_shortcut.n_parameters_ == expected
    assert type(with_shortcut.net_.module_.inner) is DGEXNet


# ----------------------------------------------------------------------------
# Ensembles
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", TINY)
def test_ensemble_averages_its_members(make, small):
    X, Y, X_test, *_ = small
    single = make(max_epochs=2, linear_shortcut=False).fit(X, Y)
    ensemble = make(max_epochs=2, linear_shortcut=False, n_ensemble=3).fit(X, Y)
    assert len(ensemble.ensemble_) == 3 and ensemble.nets_ is ensemble.ensemble_[0]
    assert ensemble.n_parameters_ == 3 * single.n_parameters_
    scaled = ((X_test - ensemble.input_mean_) / ensemble.input_scale_).astype(np.float32)
    members = [
        nets[0].predict(scaled) * ensemble.target_scale_ + ensemble.target_mean_
        for nets in ensemble.ensemble_
    ]
    np.testing.assert_allclose(ensemble.predict(X_test), np.mean(members, axis=0), rtol=1e-5)
    # Member 0 is the single model: the same seeds and validation split.
    np.testing.assert_allclose(members[0], single.predict(X_test), rtol=1e-6)
    assert not np.allclose(members[1], members[0])


def test_warm_start_continues_every_member_with_its_shortcut(small):
    X, Y, X_test, *_ = small
    model = tiny_mlp(linear_shortcut=True, n_ensemble=2, max_epochs=2, warm_start=True).fit(X, Y)
    modules = [nets[0].module_ for nets in model.ensemble_]
    alpha = model.shortcut_alpha_
    model.fit(X, Y)
    assert [nets[0].module_ for nets in model.ensemble_] == modules
    assert model.shortcut_alpha_ == alpha and model.linear_shortcut_
    assert np.all(np.isfinite(model.predict(X_test)))


# ----------------------------------------------------------------------------
# The user guide page and the benchmark
# ----------------------------------------------------------------------------
def test_user_guide_page_examples_run():
    page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "small_data.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_benchmark_cross_validates_networks_beside_the_baselines():
    from benchmarks.small_data import cross_validate, format_table, load_dataset, summary_rows

    X, Y, description = load_dataset("synthetic-40", n_landmarks=30, n_targets=8)
    assert X.shape == (40, 30) and "40" in description
    models = ["RidgeCV (scaled)", "LinearRegression", "KNN", "FlexibleMLP"]
    results = cross_validate(
        models, X, Y, folds=2, network_params={"hidden_layer_sizes": (8,)}, log=lambda _: None
    )
    rows = summary_rows("synthetic-40", results)
    assert [row["model"] for row in rows] == models
    assert all(len(row["mmae_folds"]) == 2 and row["mmae_mean"] > 0 for row in rows)
    (mlp,) = results["FlexibleMLP"]["details"][:1]
    assert mlp["linear_shortcut"]  # 40 profiles of 30 landmarks: the shortcut is on
    table = format_table(rows)
    assert "FlexibleMLP" in table and "RidgeCV" in table


def test_benchmark_reports_float32_rounding_as_a_tie():
    from benchmarks.small_data import TIE_TOLERANCE, comparison_with_ridge

    assert comparison_with_ridge(0.3859 + 1e-9, 0.3859).startswith("= (+1.00e-09)")
    assert comparison_with_ridge(0.3446, 0.3589).startswith("< (-1.43e-02)")
    assert comparison_with_ridge(0.3859 * (1 + 2 * TIE_TOLERANCE), 0.3859).startswith(">")


def test_run_py_hands_the_small_data_preset_to_its_script(capsys):
    from benchmarks import run

    assert run.handed_off_preset(["--preset", "small-data", "--folds", "2"]) == (
        "small-data",
        ["--folds", "2"],
    )
    assert run.handed_off_preset(["--preset", "smoke"]) is None
    assert "small-data" in run.list_presets()
    status = run.main(
        [
            "--preset",
            "small-data",
            "--datasets",
            "synthetic-40",
            "--n-landmarks",
            "30",
            "--n-targets",
            "6",
            "--folds",
            "2",
            "--models",
            "RidgeCV (scaled),FlexibleMLP x1",
            "--set",
            "hidden_layer_sizes=[8]",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    assert all(name in printed for name in ("synthetic-40", "FlexibleMLP x1", "RidgeCV (scaled)"))
