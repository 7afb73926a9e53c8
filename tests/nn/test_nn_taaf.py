"""TAAF and activation specs."""

import pickle

import pytest
import torch
from torch import nn

from sklearn_dgex.nn import (
    ACTIVATIONS,
    TAAF,
    is_taaf,
    make_activation,
    neuron_parameter_count,
    parse_activation,
)

REFERENCE = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda x: x,
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / 2**0.5)),
    "selu": torch.selu,
    "softplus": lambda x: torch.log1p(torch.exp(x)),
}


def test_every_base_has_a_reference():
    assert set(REFERENCE) == set(ACTIVATIONS)


@pytest.mark.parametrize("base", ACTIVATIONS)
def test_fresh_taaf_equals_its_base(base):
    x = torch.linspace(-4, 4, 41, dtype=torch.float64).reshape(1, 41)
    taaf = TAAF(41, base=base, dtype=torch.float64)
    torch.testing.assert_close(taaf(x), REFERENCE[base](x))
    plain = make_activation(base, 41)
    torch.testing.assert_close(plain(x), REFERENCE[base](x))


@pytest.mark.parametrize("base", ["sigmoid", "tanh", "leaky_relu(0.2)"])
def test_taaf_formula_with_trained_parameters(base):
    torch.manual_seed(0)
    taaf = TAAF((2, 3), base=base, dtype=torch.float64)
    for p in taaf.parameters():
        nn.init.normal_(p)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    inner = make_activation(base, 1)
    expected = taaf.alpha * inner(taaf.beta * x + taaf.gamma) + taaf.delta
    torch.testing.assert_close(taaf(x), expected)
    assert torch.autograd.gradcheck(taaf, (x,))


def test_taaf_parameters_per_neuron_and_gradients():
    taaf = TAAF(4)
    assert [tuple(p.shape) for p in taaf.parameters()] == [(4,)] * 4
    x = torch.randn(6, 4)
    taaf(x).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in taaf.parameters())


def test_make_activation_with_arguments():
    leaky = make_activation("leaky_relu(0.1)", 3)
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.1
    elu = make_activation("elu(0.01)", 3)
    assert isinstance(elu, nn.ELU) and elu.alpha == 0.01
    taaf = make_activation("taaf_leaky_relu(0.3)", 3)
    assert isinstance(taaf, TAAF) and taaf.inner.negative_slope == 0.3
    assert isinstance(make_activation(" TAAF_Sigmoid ", 3), TAAF)


def test_parse_and_counts():
    assert parse_activation("leaky_relu") == (False, "leaky_relu", 0.01)
    assert parse_activation("taaf_elu(0.5)") == (True, "elu", 0.5)
    assert parse_activation("gelu") == (False, "gelu", None)
    assert is_taaf("taaf_identity") and not is_taaf("identity")
    assert neuron_parameter_count("taaf_tanh") == 4
    assert neuron_parameter_count("elu(0.1)") == 1


@pytest.mark.parametrize(
    "spec, match",
    [
        ("swish", "Unknown activation 'swish'; valid activations are 'sigmoid', 'tanh'"),
        ("taaf_", "Unknown activation"),
        ("taaf_taaf_sigmoid", "Unknown activation"),
        ("relu(0.1)", "Activation 'relu' takes no argument"),
        ("leaky_relu(abc)", "must be a number"),
        ("elu(nan)", "must be finite"),
        ("leaky_relu(0.1", "Unknown activation"),
        (None, "activation must be a string"),
        (3, "activation must be a string"),
    ],
)
def test_bad_specs_raise_with_the_valid_options(spec, match):
    with pytest.raises(ValueError, match=match):
        make_activation(spec, 3)


def test_bad_taaf_arguments():
    with pytest.raises(ValueError, match="base of a TAAF must be a plain activation"):
        TAAF(3, base="taaf_sigmoid")
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        TAAF(0)
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        TAAF((2, 0))


def test_bf16_autocast_and_pickle():
    taaf = TAAF(5, base="tanh")
    x = torch.randn(3, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = taaf(torch.nn.functional.linear(x, torch.eye(5)))  # bf16 input under autocast
    torch.testing.assert_close(y.float(), torch.tanh(x), atol=2e-2, rtol=2e-2)
    clone = pickle.loads(pickle.dumps(taaf))
    torch.testing.assert_close(clone(x), taaf(x))


@pytest.mark.parametrize("name", ["taaf", "towers", "dgex", "mlp", "budget", "dropout"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module(f"sklearn_dgex.nn.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
