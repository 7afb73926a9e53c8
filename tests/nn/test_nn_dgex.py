"""DGEXNet: wiring across layers, skip and dropout positions, errors, precision, pickling."""

import copy
import pickle

import pytest
import torch
from torch import nn

from sklearn_dgex.nn import TAAF, DGEXNet, count_parameters
from sklearn_dgex.nn.towers import half_split

ARCHS = [("dense", False), ("dense", True), ("tower", False), ("tower", True)]
ARCHS += [("checkerboard", False), ("checkerboard", True)]


def tiny(arch, skip, towers=3, width=4, **kwargs):
    towers = 1 if arch == "dense" else towers
    return DGEXNet(9, 5, arch=arch, skip=skip, towers=towers, width=width, **kwargs)


def half_block_reach(towers, width, layer_from, layer_to):
    """Which half-blocks of hidden layer ``layer_from`` reach those of ``layer_to``.

    Written from the docstring: even layers cross (``A_t <- A_t, B_(t+1)``;
    ``B_t <- B_t, A_(t-1)``), odd layers read their own tower.
    Returns a (2T, 2T) boolean matrix over half-blocks ``A0, B0, A1, B1, ...``.
    """
    n = 2 * towers
    reach = torch.eye(n, dtype=torch.bool)
    for layer in range(layer_from + 1, layer_to + 1):
        step = torch.zeros(n, n, dtype=torch.bool)
        for t in range(towers):
            a_out, b_out = 2 * t, 2 * t + 1
            step[a_out, a_out] = step[b_out, b_out] = True
            if layer % 2 == 0:
                step[a_out, 2 * ((t + 1) % towers) + 1] = True
                step[b_out, 2 * ((t - 1) % towers)] = True
            else:
                step[a_out, b_out] = step[b_out, a_out] = True
        reach = (step.int() @ reach.int()) > 0
    return reach


def hidden_jacobians(net, width):
    """Jacobians of every hidden layer's output w.r.t. hidden layer 1's output."""
    towers = net.towers
    h1 = torch.randn(1, towers, width, dtype=torch.float64, requires_grad=True)
    # Replace hidden layer 1's output (after its dropout slot) by a free leaf.
    handle = net.hidden_dropouts[0].register_forward_hook(lambda module, inputs, output: h1)
    try:
        states = net.hidden_states(torch.randn(1, net.n_in, dtype=torch.float64))
    finally:
        handle.remove()
    jacobians = []
    for state in states[1:]:
        rows = [
            torch.autograd.grad(state.reshape(-1)[k], h1, retain_graph=True)[0].reshape(-1)
            for k in range(towers * width)
        ]
        jacobians.append(torch.stack(rows))
    return jacobians


def to_half_blocks(jacobian, towers, width):
    """Collapse a neuron-level Jacobian to (2T, 2T): is any entry of a half-block non-zero."""
    split = half_split(width)
    labels = torch.tensor([2 * t + (j >= split) for t in range(towers) for j in range(width)])
    nonzero = jacobian != 0
    blocks = torch.zeros(2 * towers, 2 * towers, dtype=torch.bool)
    for r in range(2 * towers):
        for c in range(2 * towers):
            block = nonzero[labels == r][:, labels == c]
            # A block is either fully connected or fully absent, never partly.
            assert bool(block.all()) or not bool(block.any())
            blocks[r, c] = bool(block.any())
    return blocks


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("towers, width", [(3, 4), (3, 5), (4, 4)])
def test_checkerboard_hidden_reachability_matches_the_docstring(towers, width, skip):
    torch.manual_seed(0)
    net = DGEXNet(
        6,
        2,
        arch="checkerboard",
        skip=skip,
        towers=towers,
        width=width,
        n_hidden_layers=4,
        activation="identity",
        output_activation="identity",
        dropout=0.0,
        dtype=torch.float64,
    )
    jacobians = hidden_jacobians(net, width)
    for layer, jacobian in zip(range(2, 5), jacobians):
        expected = half_block_reach(towers, width, 1, layer)
        if skip and layer >= 2:
            # h2 = f(L2 h1) + h1 adds the identity; later layers see it through h2.
            expected = expected | half_block_reach(towers, width, 2, layer)
        assert torch.equal(to_half_blocks(jacobian, towers, width), expected), layer


def test_three_layer_checkerboard_tower_reads_four_half_blocks():
    # Stated in the DGEXNet docstring: tower t of hidden layer 3 depends on
    # A_(t-1), A_t, B_t and B_(t+1) of hidden layer 1.
    net = DGEXNet(6, 2, arch="checkerboard", towers=4, width=4, activation="identity", dropout=0)
    net = net.double()
    reach = to_half_blocks(hidden_jacobians(net, 4)[1], 4, 4)
    for t in range(4):
        expected = {2 * ((t - 1) % 4), 2 * t, 2 * t + 1, 2 * ((t + 1) % 4) + 1}
        for half in (2 * t, 2 * t + 1):
            assert set(torch.nonzero(reach[half]).flatten().tolist()) == expected


def test_tower_network_keeps_towers_apart():
    net = DGEXNet(6, 2, arch="tower", towers=3, width=4, activation="identity", dropout=0)
    reach = to_half_blocks(hidden_jacobians(net.double(), 4)[1], 3, 4)
    expected = torch.block_diag(*[torch.ones(2, 2)] * 3).bool()
    assert torch.equal(reach, expected)


def test_output_depends_on_every_input_and_on_the_tower_mean():
    torch.manual_seed(0)
    net = DGEXNet(8, 3, arch="checkerboard", towers=3, width=4, dropout=0).double()
    x = torch.randn(1, 8, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(net, x).reshape(3, 8)
    assert bool((jacobian != 0).all())
    h3 = net.hidden_states(x)[-1]
    expected = net.output_act(net.output_linear(h3.mean(dim=1)))
    torch.testing.assert_close(net(x), expected)


@pytest.mark.parametrize("arch", ["dense", "tower", "checkerboard"])
def test_skip_adds_hidden_layer_one_to_hidden_layer_two(arch):
    torch.manual_seed(0)
    towers = 1 if arch == "dense" else 3
    plain = DGEXNet(7, 4, arch=arch, towers=towers, width=6, dropout=0.25)
    skipped = DGEXNet(7, 4, arch=arch, skip=True, towers=towers, width=6, dropout=0.25)
    skipped.load_state_dict(plain.state_dict())  # same parameters, same names
    plain.eval()
    skipped.eval()
    x = torch.randn(5, 7)
    h_plain, h_skip = plain.hidden_states(x), skipped.hidden_states(x)
    torch.testing.assert_close(h_skip[0], h_plain[0])
    torch.testing.assert_close(h_skip[1], h_plain[1] + h_plain[0])
    expected_h3 = skipped._hidden_layer(2, skipped.tower_linears[1](h_skip[1]))
    torch.testing.assert_close(h_skip[2], expected_h3)
    assert not torch.allclose(h_skip[2], h_plain[2])


@pytest.mark.parametrize(("arch", "skip"), ARCHS)
def test_dropout_sits_after_every_hidden_layer_but_checkerboard_first(arch, skip):
    net = tiny(arch, skip, dropout=0.5, width=64)
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == (2 if arch == "checkerboard" else 3)
    assert all(d.p == 0.5 for d in dropouts)
    assert isinstance(net.hidden_dropouts[0], nn.Identity) == (arch == "checkerboard")

    # Behaviour, not only structure: TAAF(sigmoid) outputs are never exactly 0,
    # so zeros in a training-mode hidden state come from dropout (scaled by 2).
    torch.manual_seed(0)
    net.train()
    x = torch.randn(32, 9)
    states = net.hidden_states(x)
    zero_share = [float((h == 0).float().mean()) for h in states]
    if arch == "checkerboard":
        assert zero_share[0] == 0
    else:
        assert 0.4 < zero_share[0] < 0.6
    # With skip, h2 = dropped(h2) + h1 and is zero only where both are.
    assert 0.4 < zero_share[2] < 0.6
    net.eval()
    assert all(float((h == 0).float().mean()) == 0 for h in net.hidden_states(x))


@pytest.mark.parametrize(("arch", "skip"), ARCHS)
@pytest.mark.parametrize("activation", ["taaf_sigmoid", "tanh"])
@pytest.mark.parametrize("output_activation", ["taaf_sigmoid", "identity"])
def test_parameter_count_and_biases(arch, skip, activation, output_activation):
    net = tiny(arch, skip, width=5, activation=activation, output_activation=output_activation)
    expected = count_parameters(
        9,
        5,
        towers=net.towers,
        width=5,
        activation=activation,
        output_activation=output_activation,
    )
    assert sum(p.numel() for p in net.parameters()) == expected
    hidden_taaf = activation.startswith("taaf")
    assert (net.input_linear.bias is None) == hidden_taaf
    assert all((layer.bias is None) == hidden_taaf for layer in net.tower_linears)
    assert (net.output_linear.bias is None) == (output_activation == "taaf_sigmoid")
    assert isinstance(net.output_act, TAAF) == (output_activation == "taaf_sigmoid")
    assert net(torch.randn(3, 9)).shape == (3, 5)


@pytest.mark.parametrize("n_hidden_layers", [1, 2, 4, 5])
def test_other_depths(n_hidden_layers):
    net = DGEXNet(9, 5, arch="checkerboard", towers=2, width=4, n_hidden_layers=n_hidden_layers)
    assert len(net.tower_linears) == n_hidden_layers - 1
    assert [layer.cross for layer in net.tower_linears] == [
        k % 2 == 0 for k in range(2, n_hidden_layers + 1)
    ]
    assert len(net.hidden_states(torch.randn(2, 9))) == n_hidden_layers
    assert net(torch.randn(2, 9)).shape == (2, 5)


def test_initialisation_per_block():
    torch.manual_seed(0)
    net = DGEXNet(300, 200, arch="tower", towers=4, width=100)
    first_bound = (6 / (300 + 100)) ** 0.5  # fan-in n_in, fan-out of one tower block
    first = net.input_linear.weight.detach()
    assert float(first.abs().max()) <= first_bound
    assert float(first.std()) == pytest.approx(first_bound / 3**0.5, rel=0.05)
    output_bound = (6 / (100 + 200)) ** 0.5
    assert float(net.output_linear.weight.detach().abs().max()) <= output_bound
    for taaf in [*net.hidden_activations, net.output_act]:
        assert bool((taaf.alpha == 1).all() and (taaf.beta == 1).all())
        assert bool((taaf.gamma == 0).all() and (taaf.delta == 0).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arch": "pyramid"}, r"arch must be one of \('dense', 'tower', 'checkerboard'\)"),
        ({"arch": "tower", "towers": 0}, "towers must be an int >= 1"),
        ({"arch": "dense", "towers": 3}, "arch='dense' has one tower"),
        ({"arch": "checkerboard", "towers": 3, "width": 1}, "width must be an int >= 2"),
        ({"arch": "tower", "width": 0}, "width must be an int >= 1"),
        ({"n_hidden_layers": 0}, "n_hidden_layers must be an int >= 1"),
        ({"skip": True, "n_hidden_layers": 1}, "needs n_hidden_layers >= 2"),
        ({"dropout": 1.0}, r"dropout must be a float in \[0, 1\)"),
        ({"dropout": -0.1}, r"dropout must be a float in \[0, 1\)"),
        ({"activation": "swish"}, "Unknown activation 'swish'; valid activations are"),
        ({"output_activation": "taaf_foo"}, "Unknown activation 'taaf_foo'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DGEXNet(9, 5, **{"width": 4, **kwargs})


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="n_in must be an int >= 1"):
        DGEXNet(0, 5)
    with pytest.raises(ValueError, match="n_out must be an int >= 1"):
        DGEXNet(5, 2.0)


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    net = DGEXNet(np.int64(9), 5, arch="tower", towers=np.int64(2), width=np.int32(4))
    assert net(torch.randn(2, 9)).shape == (2, 5)


@pytest.mark.parametrize(("arch", "skip"), ARCHS)
def test_bf16_autocast_forward_and_backward_on_cpu(arch, skip):
    torch.manual_seed(0)
    net = tiny(arch, skip, width=16).eval()
    x = torch.randn(8, 9)
    reference = net(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), reference, atol=3e-2, rtol=3e-2)
    y.float().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes(dtype):
    net = tiny("checkerboard", True, dtype=dtype)
    assert all(p.dtype == dtype for p in net.parameters())
    assert net(torch.randn(2, 9, dtype=dtype)).dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize(("arch", "skip"), ARCHS)
def test_cuda_matches_cpu(arch, skip):
    torch.manual_seed(0)
    net = tiny(arch, skip, width=16).eval()
    x = torch.randn(8, 9)
    gpu = copy.deepcopy(net).cuda()
    torch.testing.assert_close(gpu(x.cuda()).cpu(), net(x), atol=1e-4, rtol=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.isfinite(gpu(x.cuda())).all()


@pytest.mark.parametrize(("arch", "skip"), ARCHS)
def test_pickle_and_deepcopy_round_trip(arch, skip):
    net = tiny(arch, skip).eval()
    x = torch.randn(3, 9)
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        torch.testing.assert_close(clone(x), net(x))
        assert repr(clone) == repr(net)


def test_meta_device_builds_without_memory():
    net = DGEXNet(942, 4759, width=10000, device="meta")
    assert all(p.is_meta for p in net.parameters())
    assert net(torch.empty(2, 942, device="meta")).shape == (2, 4759)
