"""Every configuration of both studies is reachable through estimator parameters alone."""

import numpy as np
import pytest
import torch
from study_tables import TABLE_1

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor
from sklearn_dgex._base import _split_sizes
from sklearn_dgex._torch.net import DGEX_STUDY_LR_STEPS, StepMultiplier
from sklearn_dgex.nn import budget


def study_dgex(arch, towers):
    """The study's D-GEX: a pair of networks over 9,518 targets, Nadam, stepped schedule."""
    return DGEXRegressor(
        arch=arch,
        towers=towers,
        param_budget="study",
        n_hidden_layers=3,
        activation="taaf_sigmoid",
        output_activation="taaf_sigmoid",
        dropout=0.25,
        optimizer="nadam",
        lr=5e-4,
        lr_schedule="dgex",
        max_epochs=600,
        n_target_splits=2,
    )


def test_study_pair_splits_targets_in_halves():
    assert _split_sizes(9518, 2) == [4759, 4759]


@pytest.mark.parametrize("arch", ["t", "c", "tr", "cr"])
@pytest.mark.parametrize("towers", sorted(TABLE_1))
def test_study_architectures_match_table_1(arch, towers):
    model = study_dgex(arch, towers)
    _, kwargs = model._module_class_and_kwargs(942, 4759)
    width, neurons, parameters = TABLE_1[towers]
    assert kwargs["width"] == width
    assert model._count_neurons(942, 4759) == neurons
    counted = budget.count_parameters(
        942,
        4759,
        towers=kwargs["towers"],
        width=kwargs["width"],
        n_hidden_layers=kwargs["n_hidden_layers"],
        activation=kwargs["activation"],
        output_activation=kwargs["output_activation"],
    )
    assert counted == parameters


def test_cr_dgex_5_towers_built_on_meta_device_has_table_1_parameters():
    # The real 257M-parameter module, built without allocating its weights.
    module, kwargs = study_dgex("cr", 5)._module_class_and_kwargs(942, 4759)
    network = module(942, 4759, device="meta", **kwargs)
    assert sum(p.numel() for p in network.parameters()) == TABLE_1[5][2]
    assert (kwargs["arch"], kwargs["skip"], kwargs["towers"]) == ("checkerboard", True, 5)


def test_study_optimizer_is_nadam_with_keras_schedule_decay():
    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    model = DGEXRegressor(arch="cr", towers=5, width=4, optimizer="nadam", lr=5e-4, max_epochs=1)
    optimizer = model.fit(X, X[:, :2]).net_.optimizer_
    assert isinstance(optimizer, torch.optim.NAdam)
    group = optimizer.param_groups[0]
    assert group["momentum_decay"] == 4e-3 and group["betas"] == (0.9, 0.999)
    assert group["initial_lr"] == 5e-4


def test_dgex_schedule_at_the_study_epochs():
    multiplier = StepMultiplier(600)
    rates = {
        epoch: 5e-4 * multiplier(epoch - 1)
        for epoch in (1, 400, 401, 475, 476, 550, 551, 575, 576, 600)
    }
    expected = {1: 5e-4, 400: 5e-4, 401: 5e-5, 475: 5e-5, 476: 5e-6, 550: 5e-6}
    expected.update({551: 5e-7, 575: 5e-7, 576: 2.5e-7, 600: 2.5e-7})
    assert rates == pytest.approx(expected, rel=1e-12)
    assert DGEX_STUDY_LR_STEPS[0] == (1, 5e-4)


def test_dgex_schedule_scaled_to_max_epochs_in_history():
    # 24 epochs: stages start at 400, 475, 550, 575 x 24/600 = 16, 19, 22, 23 (0-based).
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    model = DGEXRegressor(arch="t", towers=1, width=4, lr=1e-3, lr_schedule="dgex", max_epochs=24)
    lrs = [row["lr"] for row in model.fit(X, X[:, 0]).history_]
    expected = [1e-3] * 16 + [1e-4] * 3 + [1e-5] * 3 + [1e-6] + [5e-7]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_cosine_schedule_decays_to_near_zero():
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    model = FlexibleMLPRegressor(
        hidden_layer_sizes=(4,), lr=1e-2, lr_schedule="cosine", max_epochs=10
    )
    lrs = [row["lr"] for row in model.fit(X, X[:, 0]).history_]
    np.testing.assert_allclose(lrs, [1e-2 * 0.5 * (1 + np.cos(np.pi * e / 10)) for e in range(10)])


# The six configurations of the flexible-MLP study ("Optimizing Neural Network
# Architectures for Gene Expression Prediction", section 2.5); "standard
# configuration" is read as ReLU and Adam at 1e-3.
MLP_STUDY = {
    "baseline": dict(
        hidden_layer_sizes=(256, 256, 256, 256),
        activation="leaky_relu(0.1)",
        output_activation="elu(0.01)",
        optimizer="adam",
        lr=1e-4,
        weight_decay=0.0,
        batch_size=27,
    ),
    "adamw": dict(
        hidden_layer_sizes=(256, 128),
        activation="relu",
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.01,
    ),
    "wider": dict(
        hidden_layer_sizes=(512, 512), activation="relu", optimizer="adam", weight_decay=0.0
    ),
    "dropout": dict(hidden_layer_sizes=(256, 128), dropout=0.2, optimizer="adam", weight_decay=0.0),
    "deeper": dict(hidden_layer_sizes=(256, 128, 64), optimizer="adam", weight_decay=0.0),
    "batch_norm": dict(
        hidden_layer_sizes=(256, 128), batch_norm=True, optimizer="adam", weight_decay=0.0
    ),
}


def _layers(net, kind):
    return [m for m in net.module_.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("name", sorted(MLP_STUDY))
def test_flexible_mlp_study_configurations(name):
    params = MLP_STUDY[name]
    X = np.random.default_rng(0).normal(size=(30, 10)).astype(np.float32)
    study = dict(max_epochs=1, device="cpu", linear_shortcut=False)  # as the study trains them
    net = FlexibleMLPRegressor(**study, **params).fit(X, X[:, :4]).net_
    linears = _layers(net, torch.nn.Linear)
    assert [layer.out_features for layer in linears] == [*params["hidden_layer_sizes"], 4]
    optimizer = net.optimizer_
    expected_optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[params["optimizer"]]
    assert type(optimizer) is expected_optimizer
    assert optimizer.param_groups[0]["lr"] == params.get("lr", 1e-3)
    assert optimizer.param_groups[0]["weight_decay"] == params["weight_decay"]
    assert net.batch_size == params.get("batch_size", 64)
    assert len(_layers(net, torch.nn.BatchNorm1d)) == (
        len(linears) - 1 if params.get("batch_norm") else 0
    )
    expected_dropouts = [params["dropout"]] * 2 if "dropout" in params else []
    assert [d.p for d in _layers(net, torch.nn.Dropout)] == expected_dropouts
    if name == "baseline":
        slopes = {m.negative_slope for m in _layers(net, torch.nn.LeakyReLU)}
        assert slopes == {0.1} and len(_layers(net, torch.nn.LeakyReLU)) == 4
        (elu,) = _layers(net, torch.nn.ELU)
        assert elu.alpha == 0.01


@pytest.mark.parametrize(
    ("max_epochs", "expected_starts"),
    [(600, [0, 400, 475, 550, 575]), (12, [0, 8, 10, 11, 12]), (1, [0, 1, 1, 1, 1])],
)
def test_dgex_schedule_stage_starts_round_half_up(max_epochs, expected_starts):
    assert StepMultiplier(max_epochs).starts == expected_starts
    assert StepMultiplier(max_epochs)(0) == 1.0  # every run starts at the base rate
