"""FlexibleMLP: every configuration of the flexible-MLP study, layer order, errors."""

import pickle

import pytest
import torch
from torch import nn

from sklearn_dgex.nn import TAAF, FlexibleMLP

# The six configurations of the flexible-MLP study (optimiser settings live
# in the estimator).
STUDY_CONFIGS = {
    "baseline": {
        "hidden_layer_sizes": (256, 256, 256, 256),
        "activation": "leaky_relu(0.1)",
        "output_activation": "elu(0.01)",
    },
    "adamw": {"hidden_layer_sizes": (256, 128), "activation": "relu"},
    "wider": {"hidden_layer_sizes": (512, 512), "activation": "relu"},
    "dropout": {"hidden_layer_sizes": (256, 128), "dropout": 0.2},
    "deeper": {"hidden_layer_sizes": (256, 128, 64)},
    "batch_norm": {"hidden_layer_sizes": (256, 128), "batch_norm": True},
}


def layer_kinds(net):
    return [type(m).__name__ for m in net.layers]


@pytest.mark.parametrize("name", sorted(STUDY_CONFIGS))
def test_study_configurations(name):
    config = STUDY_CONFIGS[name]
    net = FlexibleMLP(20, 6, **config)
    sizes = config["hidden_layer_sizes"]
    fan_ins = (20, *sizes)
    expected = sum(i * o + o for i, o in zip(fan_ins, (*sizes, 6)))
    expected += 2 * sum(sizes) if config.get("batch_norm") else 0
    assert sum(p.numel() for p in net.parameters()) == expected
    net.train()
    assert net(torch.randn(4, 20)).shape == (4, 6)


def test_baseline_layers():
    net = FlexibleMLP(20, 6, **STUDY_CONFIGS["baseline"])
    assert layer_kinds(net) == ["Linear", "LeakyReLU"] * 4 + ["Linear", "ELU"]
    assert net.layers[1].negative_slope == 0.1
    assert net.layers[-1].alpha == 0.01


def test_layer_order_with_norm_and_dropout():
    net = FlexibleMLP(8, 2, hidden_layer_sizes=(4, 3), dropout=0.2, batch_norm=True)
    assert layer_kinds(net) == [
        "Linear", "BatchNorm1d", "ReLU", "FastDropout",
        "Linear", "BatchNorm1d", "ReLU", "FastDropout",
        "Linear", "Identity",
    ]  # fmt: skip
    net = FlexibleMLP(8, 2, hidden_layer_sizes=(4,), layer_norm=True, activation="gelu")
    assert layer_kinds(net) == ["Linear", "LayerNorm", "GELU", "Linear", "Identity"]


def test_taaf_layers_have_no_bias():
    net = FlexibleMLP(8, 2, hidden_layer_sizes=(4, 3), activation="taaf_sigmoid",
                      output_activation="taaf_identity")  # fmt: skip
    linears = [m for m in net.layers if isinstance(m, nn.Linear)]
    assert all(linear.bias is None for linear in linears)
    assert sum(isinstance(m, TAAF) for m in net.layers) == 3
    assert sum(p.numel() for p in net.parameters()) == 8 * 4 + 4 * 3 + 3 * 2 + 4 * (4 + 3 + 2)


def test_no_hidden_layer_is_a_linear_model():
    net = FlexibleMLP(8, 2, hidden_layer_sizes=())
    assert layer_kinds(net) == ["Linear", "Identity"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_layer_sizes": (4, 0)}, "each of hidden_layer_sizes must be an int >= 1"),
        ({"hidden_layer_sizes": 5}, "hidden_layer_sizes must be a sequence"),
        ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\)"),
        ({"batch_norm": True, "layer_norm": True}, "exclusive"),
        ({"activation": "swish"}, "Unknown activation 'swish'; valid activations"),
        ({"output_activation": "elu(x)"}, "must be a number"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlexibleMLP(8, 2, **kwargs)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_bf16_autocast_and_pickle(batch_norm):
    torch.manual_seed(0)
    net = FlexibleMLP(8, 3, hidden_layer_sizes=(16, 16), batch_norm=batch_norm).eval()
    x = torch.randn(5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    torch.testing.assert_close(y.float(), net(x), atol=5e-2, rtol=5e-2)
    clone = pickle.loads(pickle.dumps(net))
    torch.testing.assert_close(clone(x), net(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda():
    net = FlexibleMLP(8, 3, hidden_layer_sizes=(16,), activation="taaf_tanh").cuda()
    assert net(torch.randn(5, 8, device="cuda")).device.type == "cuda"
