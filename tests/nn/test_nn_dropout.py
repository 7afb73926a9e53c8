"""FastDropout: the same inverted dropout as nn.Dropout, with a faster CPU mask."""

import pytest
import torch
from torch import nn

from sklearn_dgex.nn.dropout import FastDropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.2, 0.25, 0.5, 0.9])
def test_drop_share_and_unbiased_scale(p):
    torch.manual_seed(0)
    mask = keep_mask((1000, 1000), p)
    n_keep = 65536 - round(p * 65536)
    assert mask.unique().tolist() == [0.0, pytest.approx(65536 / n_keep)]
    dropped = float((mask == 0).double().mean())
    assert dropped == pytest.approx(p, abs=5 * (p * (1 - p) / 1e6) ** 0.5)
    assert float(mask.double().mean()) == pytest.approx(1.0, abs=5e-3)


def test_neighbouring_elements_are_independent():
    # Four elements share one 64-bit random word; their keep events must not correlate.
    torch.manual_seed(1)
    keep = (keep_mask((4_000_000,), 0.5) > 0).double().view(-1, 4)
    for i in range(4):
        for j in range(i + 1, 4):
            assert float((keep[:, i] * keep[:, j]).mean()) == pytest.approx(0.25, abs=2e-3)
    shifted = (keep.flatten()[:-1] * keep.flatten()[1:]).mean()
    assert float(shifted) == pytest.approx(0.25, abs=2e-3)


def test_gradient_is_the_mask_and_eval_is_identity():
    torch.manual_seed(2)
    drop = FastDropout(0.3)
    assert isinstance(drop, nn.Dropout) and drop.p == 0.3
    x = torch.randn(50, 40, requires_grad=True)
    y = drop(x)
    y.backward(torch.ones_like(y))
    scale = 65536 / (65536 - round(0.3 * 65536))
    assert torch.equal(x.grad == 0, y == 0)
    torch.testing.assert_close(x.grad[x.grad != 0], torch.full_like(x.grad[x.grad != 0], scale))
    torch.testing.assert_close(y[y != 0], x[y != 0] * scale)
    drop.eval()
    assert torch.equal(drop(x), x)


def test_seeded_and_bf16():
    drop = FastDropout(0.25)
    x = torch.randn(8, 16)
    torch.manual_seed(3)
    first = drop(x)
    torch.manual_seed(3)
    assert torch.equal(drop(x), first)
    assert drop(x.bfloat16()).dtype == torch.bfloat16


def test_zero_p_and_inplace_fall_back_to_torch():
    x = torch.randn(5, 5)
    assert torch.equal(FastDropout(0.0)(x), x)
    y = x.clone()
    FastDropout(0.5, inplace=True)(y)
    assert bool(((y == 0) | (y == 2 * x)).all())
