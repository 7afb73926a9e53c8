"""Tower and checkerboard layers equal naive references, forward and backward.

The references here are written from the wiring that the docstrings state
(``A_t`` reads ``A_t`` and ``B_(t+1)``, ``B_t`` reads ``B_t`` and ``A_(t-1)``),
not from the implementation's permutation.
"""

import pytest
import torch
from torch.nn import functional as F

from sklearn_dgex.nn import TowerLinear
from sklearn_dgex.nn.towers import half_split, shift_second_halves


def neuron(t, j, width):
    """Flat index of neuron ``j`` of tower ``t``."""
    return t * width + j


def half_of(j, width):
    return "A" if j < half_split(width) else "B"


def allowed_inputs(towers, width, cross):
    """Boolean (out, in) mask of the connections the docstring promises."""
    n = towers * width
    mask = torch.zeros(n, n, dtype=torch.bool)
    for t in range(towers):
        for j in range(width):
            for s in range(towers):
                for i in range(width):
                    same_half = half_of(i, width) == half_of(j, width)
                    if not cross or same_half:
                        ok = s == t
                    elif half_of(j, width) == "A":  # A_t reads B_(t+1)
                        ok = s == (t + 1) % towers
                    else:  # B_t reads A_(t-1)
                        ok = s == (t - 1) % towers
                    mask[neuron(t, j, width), neuron(s, i, width)] = ok
    return mask


def block_members(t, towers, width, cross):
    """Flat indices of block ``t``'s neurons in the order of the stacked weight's rows."""
    a = half_split(width)
    owner_of_b = (t + 1) % towers if cross else t
    return [neuron(t, j, width) for j in range(a)] + [
        neuron(owner_of_b, j, width) for j in range(a, width)
    ]


def masked_dense_weight(layer):
    """The (out, in) dense matrix a tower layer computes, built differentiably from its weight."""
    towers, width = layer.towers, layer.width
    n = towers * width
    rows, cols, values = [], [], []
    for t in range(towers):
        members = torch.tensor(block_members(t, towers, width, layer.cross))
        rows.append(members.repeat_interleave(width))  # out index j, varying slowest
        cols.append(members.repeat(width))
        values.append(layer.weight[t].T.reshape(-1))  # weight[t, i, j] -> dense[j, i]
    dense = torch.zeros(n, n, dtype=layer.weight.dtype)
    return dense.index_put((torch.cat(rows), torch.cat(cols)), torch.cat(values))


def masked_bias(layer):
    bias = torch.zeros(layer.towers * layer.width, dtype=layer.bias.dtype)
    index = torch.cat(
        [
            torch.tensor(block_members(t, layer.towers, layer.width, layer.cross))
            for t in range(layer.towers)
        ]
    )
    return bias.index_put((index,), layer.bias.reshape(-1))


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("towers, width", [(1, 4), (2, 3), (3, 4), (4, 5), (5, 2)])
@pytest.mark.parametrize("bias", [False, True])
def test_tower_layer_equals_masked_dense_layer(towers, width, cross, bias):
    torch.manual_seed(towers * 10 + width)
    layer = TowerLinear(towers, width, bias=bias, cross=cross, dtype=torch.float64)
    if bias:
        torch.nn.init.normal_(layer.bias)
    x = torch.randn(7, towers, width, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    grad_out = torch.randn(7, towers, width, dtype=torch.float64)

    y = layer(x)
    y.backward(grad_out)

    dense = masked_dense_weight(layer)
    assert torch.equal(dense != 0, allowed_inputs(towers, width, cross) & (dense != 0))
    assert int((dense != 0).sum()) == towers * width * width  # every weight used once
    y_ref = F.linear(x_ref.reshape(7, -1), dense, masked_bias(layer) if bias else None)
    weight_grad = torch.autograd.grad(
        y_ref, [x_ref, layer.weight, *([layer.bias] if bias else [])], grad_out.reshape(7, -1)
    )
    torch.testing.assert_close(y.reshape(7, -1), y_ref)
    torch.testing.assert_close(x.grad, weight_grad[0])
    torch.testing.assert_close(layer.weight.grad, weight_grad[1])
    if bias:
        torch.testing.assert_close(layer.bias.grad, weight_grad[2])


@pytest.mark.parametrize("towers, width", [(3, 4), (4, 5), (2, 2)])
def test_own_tower_layer_equals_loop_of_per_tower_linear(towers, width):
    torch.manual_seed(0)
    layer = TowerLinear(towers, width, bias=True, dtype=torch.float64)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(6, towers, width, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    reference = torch.stack(
        [F.linear(x[:, t], layer.weight[t].T, layer.bias[t]) for t in range(towers)], dim=1
    )
    torch.testing.assert_close(y, reference)
    grad_out = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, layer.weight, layer.bias], grad_out)
    expected = torch.autograd.grad(reference, [x, layer.weight, layer.bias], grad_out)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("towers, width", [(3, 4), (3, 5), (4, 2)])
def test_layer_jacobian_has_exactly_the_documented_zero_blocks(towers, width, cross):
    torch.manual_seed(1)
    layer = TowerLinear(towers, width, bias=False, cross=cross, dtype=torch.float64)
    x = torch.randn(1, towers, width, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(layer, x).reshape(towers * width, -1)
    assert torch.equal(jacobian != 0, allowed_inputs(towers, width, cross))


def test_crossing_diagram_of_three_towers():
    # The diagram of the module docstring, half-block by half-block (rows outputs).
    diagram = """
        #  .  .  #  .  .
        .  #  .  .  #  .
        .  .  #  .  .  #
        #  .  .  #  .  .
        .  #  .  .  #  .
        .  .  #  .  .  #"""
    blocks = torch.tensor([[c == "#" for c in line.split()] for line in diagram.split("\n")[1:]])
    width = 4  # halves of two neurons
    mask = allowed_inputs(3, width, cross=True)
    half_blocks = mask.reshape(6, 2, 6, 2).any(dim=3).any(dim=1)
    assert torch.equal(half_blocks, blocks)
    layer = TowerLinear(3, width, bias=False, cross=True, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(layer, torch.randn(1, 3, width).double())
    assert torch.equal(jacobian.reshape(12, 12).ne(0).reshape(6, 2, 6, 2).all(3).all(1), blocks)


@pytest.mark.parametrize("shift", [-1, 1, 2, 3])
def test_shift_second_halves_matches_roll_forward_and_backward(shift):
    x = torch.randn(5, 3, 7, dtype=torch.float64, requires_grad=True)
    y = shift_second_halves(x, 4, shift)
    expected = torch.cat((x[..., :4], torch.roll(x[..., 4:], shift, dims=-2)), dim=-1)
    assert torch.equal(y, expected)
    grad = torch.randn_like(y)
    assert torch.equal(
        torch.autograd.grad(y, x, grad)[0], torch.autograd.grad(expected, x, grad)[0]
    )
    assert torch.equal(shift_second_halves(y, 4, -shift), x)


def test_shift_on_transposed_layout():
    x = torch.randn(3, 5, 6).transpose(0, 1)  # (B, T, w) view of a (T, B, w) tensor
    expected = torch.cat((x[..., :3], torch.roll(x[..., 3:], -1, dims=-2)), dim=-1)
    assert torch.equal(shift_second_halves(x, 3, -1), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"towers": 0, "width": 4}, "towers must be an int >= 1"),
        ({"towers": 2, "width": 1, "cross": True}, "width must be an int >= 2"),
        ({"towers": 2, "width": 0}, "width must be an int >= 1"),
        ({"towers": 2.5, "width": 4}, "towers must be an int"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TowerLinear(**kwargs)


def test_initialisation_uses_the_block_fan_in():
    torch.manual_seed(0)
    layer = TowerLinear(8, 50)
    bound = (6 / 100) ** 0.5
    assert layer.weight.abs().max() <= bound
    # Uniform(-b, b) has standard deviation b / sqrt(3).
    assert layer.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    assert torch.equal(layer.bias, torch.zeros(8, 50))


def test_bf16_autocast_on_cpu():
    layer = TowerLinear(3, 8, cross=True)
    x = torch.randn(4, 3, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), layer(x), atol=5e-2, rtol=5e-2)


def test_micro_benchmark_runs(capsys):
    towers_benchmark = pytest.importorskip("benchmarks.towers")
    argv = ["--towers", "1", "3", "--dense-width", "12", "--batch", "4", "--repeats", "1"]
    towers_benchmark.main([*argv, "--warmup", "0", "--n-in", "8", "--n-out", "4", "--threads", "1"])
    out = capsys.readouterr().out
    assert "One hidden layer" in out and "Whole DGEXNet" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["1", "3", "1", "3"]
    assert all(cell.endswith("x") for row in rows for cell in row[4:])
