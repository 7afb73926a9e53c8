"""Parameter accounting: Table 1 of the D-GEX tower study, to the last parameter."""

import itertools

import pytest
import torch
from study_tables import TABLE_1

from sklearn_dgex.nn import DGEXNet
from sklearn_dgex.nn.budget import (
    STUDY_WIDTHS,
    count_neurons,
    count_parameters,
    dense_budget,
    solve_width,
)

N_IN, N_OUT = 942, 4759

STUDY_ARCHS = {"T": ("tower", False), "C": ("checkerboard", False)}
STUDY_ARCHS |= {"TR": ("tower", True), "CR": ("checkerboard", True)}


def test_study_widths_are_table_1():
    assert {t: row[0] for t, row in TABLE_1.items()} == STUDY_WIDTHS


@pytest.mark.parametrize("towers", sorted(TABLE_1))
def test_analytic_counts_equal_table_1(towers):
    width, neurons, parameters = TABLE_1[towers]
    assert count_parameters(N_IN, N_OUT, towers=towers, width=width) == parameters
    assert count_neurons(N_IN, N_OUT, towers=towers, width=width) == neurons


@pytest.mark.parametrize("name", sorted(STUDY_ARCHS))
@pytest.mark.parametrize("towers", sorted(TABLE_1))
def test_built_modules_equal_table_1_on_meta_device(towers, name):
    arch, skip = STUDY_ARCHS[name]
    width, neurons, parameters = TABLE_1[towers]
    net = DGEXNet(N_IN, N_OUT, arch=arch, skip=skip, towers=towers, width=width, device="meta")
    assert sum(p.numel() for p in net.parameters()) == parameters
    hidden = net.hidden_states(torch.empty(1, N_IN, device="meta"))
    assert sum(h[0].numel() for h in hidden) + N_OUT == neurons


def test_dense_arch_equals_one_tower():
    net = DGEXNet(N_IN, N_OUT, width=10000, device="meta")
    assert sum(p.numel() for p in net.parameters()) == dense_budget(N_IN, N_OUT, 10000)
    assert dense_budget(N_IN, N_OUT, 10000) == TABLE_1[1][2]


def test_more_towers_have_fewer_parameters_and_more_neurons():
    # The study chose widths "such that networks with more columns have
    # strictly fewer weights (yet more neurons)".
    rows = [TABLE_1[t] for t in sorted(TABLE_1)]
    assert all(a[2] > b[2] for a, b in itertools.pairwise(rows))
    assert all(a[1] < b[1] for a, b in itertools.pairwise(rows))


@pytest.mark.parametrize("towers", sorted(TABLE_1))
def test_solve_width_is_the_widest_within_budget(towers):
    budget = dense_budget(N_IN, N_OUT, 10000)
    width = solve_width(N_IN, N_OUT, towers=towers, param_budget=budget)
    assert count_parameters(N_IN, N_OUT, towers=towers, width=width) <= budget
    assert count_parameters(N_IN, N_OUT, towers=towers, width=width + 1) > budget
    # The study's own widths fit the budget and are within a few units.
    assert 0 <= width - STUDY_WIDTHS[towers] <= 4


@pytest.mark.parametrize("budget", [0, 1, 50, 51, 52, 10**6, 10**12 + 7])
@pytest.mark.parametrize("activation", ["taaf_sigmoid", "relu"])
def test_solve_width_exact_for_small_and_huge_budgets(budget, activation):
    kwargs = {"towers": 3, "n_hidden_layers": 3, "activation": activation}
    smallest = count_parameters(5, 2, width=1, **kwargs)
    if budget < smallest:
        with pytest.raises(ValueError, match=r"param_budget=.* is too small"):
            solve_width(5, 2, param_budget=budget, **kwargs)
        return
    width = solve_width(5, 2, param_budget=budget, **kwargs)
    assert count_parameters(5, 2, width=width, **kwargs) <= budget
    assert count_parameters(5, 2, width=width + 1, **kwargs) > budget


def test_solve_width_one_hidden_layer_is_linear_in_width():
    budget = 1000
    width = solve_width(10, 3, towers=2, param_budget=budget, n_hidden_layers=1)
    assert count_parameters(10, 3, towers=2, width=width, n_hidden_layers=1) <= budget
    assert count_parameters(10, 3, towers=2, width=width + 1, n_hidden_layers=1) > budget


def test_checkerboard_needs_width_two():
    budget = count_parameters(5, 2, towers=3, width=1)
    assert solve_width(5, 2, towers=3, param_budget=budget) == 1
    with pytest.raises(ValueError, match="smallest checkerboard network"):
        solve_width(5, 2, towers=3, param_budget=budget, arch="checkerboard")


@pytest.mark.parametrize("activation", ["taaf_sigmoid", "tanh", "identity"])
@pytest.mark.parametrize("output_activation", ["taaf_sigmoid", "identity"])
@pytest.mark.parametrize("n_hidden_layers", [1, 2, 3, 4])
def test_counts_equal_built_modules(activation, output_activation, n_hidden_layers):
    kwargs = {"activation": activation, "output_activation": output_activation}
    kwargs["n_hidden_layers"] = n_hidden_layers
    net = DGEXNet(11, 7, arch="checkerboard", towers=3, width=5, **kwargs)
    assert sum(p.numel() for p in net.parameters()) == count_parameters(
        11, 7, towers=3, width=5, **kwargs
    )
    assert count_neurons(11, 7, towers=3, width=5, **kwargs) == n_hidden_layers * 15 + 7


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"towers": 0, "width": 3}, "towers must be an int >= 1"),
        ({"towers": 1, "width": 0}, "width must be an int >= 1"),
        ({"towers": 1, "width": 3, "n_hidden_layers": 0}, "n_hidden_layers must be"),
        ({"towers": 1, "width": 3, "activation": "swish"}, "Unknown activation 'swish'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        count_parameters(10, 3, **kwargs)


def test_solve_width_rejects_negative_budget():
    with pytest.raises(ValueError, match="param_budget must be an int >= 0"):
        solve_width(10, 3, towers=1, param_budget=-5)


def test_networks_page_examples_run():
    # docs/networks.rst reproduces Table 1 by code; run it so that it can never rot.
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "networks.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


@pytest.mark.parametrize("multiple_of", [1, 8, 16])
def test_solve_width_multiple_of(multiple_of):
    budget = dense_budget(N_IN, N_OUT, 10000)
    exact = solve_width(N_IN, N_OUT, towers=5, param_budget=budget)
    width = solve_width(N_IN, N_OUT, towers=5, param_budget=budget, multiple_of=multiple_of)
    assert width % multiple_of == 0
    assert exact - multiple_of < width <= exact
    budget = count_parameters(5, 2, towers=3, width=7)
    with pytest.raises(ValueError, match=r"smallest tower network with towers=3 \(width=8\)"):
        solve_width(5, 2, towers=3, param_budget=budget, multiple_of=8)
