"""Block-diagonal tower layers and the checkerboard wiring, one batched matmul each.

A tower layer maps activations of shape ``(batch, towers, width)`` to the same
shape. Tower ``t`` of the output reads only what the wiring allows:

* own-tower layer: both halves of tower ``t`` (a dense ``width x width``
  block per tower, i.e. a block-diagonal matrix);
* crossing (checkerboard) layer: each half reads its own half of tower ``t``
  and the *other* half of the neighbouring tower.

Halves: the first half ``A`` holds the first ``ceil(width / 2)`` neurons of a
tower, the second half ``B`` the remaining ``floor(width / 2)``. In a crossing
layer ``A`` of tower ``t`` reads ``A_t`` and ``B_(t+1 mod T)``, and ``B`` of
tower ``t`` reads ``B_t`` and ``A_(t-1 mod T)``. So the pairs
``(A_t, B_(t+1))`` form dense ``width x width`` blocks, which is why the
crossing layer is the own-tower layer applied after a fixed permutation of
half-blocks (the ``B`` halves moved one tower down) and followed by the
inverse permutation. For ``T = 3`` (``#`` marks a dense half-by-half block of
weights, rows are outputs, columns inputs)::

    own-tower layer            crossing layer
         A0 B0 A1 B1 A2 B2          A0 B0 A1 B1 A2 B2
    A0   #  #  .  .  .  .      A0   #  .  .  #  .  .
    B0   #  #  .  .  .  .      B0   .  #  .  .  #  .
    A1   .  .  #  #  .  .      A1   .  .  #  .  .  #
    B1   .  .  #  #  .  .      B1   #  .  .  #  .  .
    A2   .  .  .  .  #  #      A2   .  #  .  .  #  .
    B2   .  .  .  .  #  #      B2   .  .  #  .  .  #

Both layers hold ``towers * width * width`` weights; a crossing layer with one
tower is an own-tower layer (the neighbour of the only tower is itself).
"""

import math

import torch
from torch import nn

from ._checks import check_int

__all__ = ["TowerLinear", "glorot_uniform_", "half_split", "shift_second_halves"]


def half_split(width):
    """Size of the first half ``A`` of a tower layer: ``ceil(width / 2)``.

    Examples
    --------
    >>> from sklearn_dgex.nn.towers import half_split
    >>> half_split(4), half_split(5)
    (2, 3)
    """
    return (width + 1) // 2


def _shifted_copy(x, split, shift):
    """One pass over ``x``: copy the first halves, move the second halves."""
    towers = x.shape[-2]
    s = shift % towers
    out = torch.empty_like(x)
    out[..., :split] = x[..., :split]
    if s == 0:
        out[..., split:] = x[..., split:]
    else:
        out[..., s:, split:] = x[..., : towers - s, split:]
        out[..., :s, split:] = x[..., towers - s :, split:]
    return out


class _ShiftSecondHalves(torch.autograd.Function):
    # torch.roll + torch.cat would make about three passes over the activations
    # forward and as many backward; this makes one each way, which matters at
    # small widths, where a permutation costs a noticeable share of the matmul.
    @staticmethod
    def forward(ctx, x, split, shift):
        ctx.split, ctx.shift = split, shift
        return _shifted_copy(x, split, shift)

    @staticmethod
    def backward(ctx, grad):
        return _shifted_copy(grad, ctx.split, -ctx.shift), None, None


def shift_second_halves(x, split, shift):
    """Move every tower's second half ``shift`` towers along, cyclically.

    Returns ``y`` with ``y[..., t, :split] = x[..., t, :split]`` and
    ``y[..., t, split:] = x[..., (t - shift) mod T, split:]`` (like
    ``torch.roll`` on the second halves): ``shift=-1`` gathers
    ``(A_t, B_(t+1))`` into slot ``t`` (into the crossing blocks), ``shift=1``
    undoes it. Differentiable; one pass over ``x`` forward and backward.

    Parameters
    ----------
    x : torch.Tensor of shape (..., towers, width)
    split : int
        Size of the first half.
    shift : int
        Number of towers to move the second halves by.

    Returns
    -------
    torch.Tensor of the shape of ``x``

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn.towers import shift_second_halves
    >>> x = torch.arange(12.0).view(1, 3, 4)  # 3 towers of width 4
    >>> shift_second_halves(x, 2, -1)[0]
    tensor([[ 0.,  1.,  6.,  7.],
            [ 4.,  5., 10., 11.],
            [ 8.,  9.,  2.,  3.]])
    """
    return _ShiftSecondHalves.apply(x, split, shift)


def glorot_uniform_(tensor, fan_in, fan_out):
    """Fill ``tensor`` from U(-a, a), ``a = sqrt(6 / (fan_in + fan_out))``, in place.

    Glorot (Xavier) uniform with the fans given explicitly, so that a stacked
    ``(towers, width, width)`` weight is scaled by the block one neuron sees,
    not by the full ``towers * width``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn.towers import glorot_uniform_
    >>> w = glorot_uniform_(torch.empty(2, 8, 8), fan_in=8, fan_out=8)
    >>> bool(w.abs().max() <= (6 / 16) ** 0.5)
    True
    """
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class TowerLinear(nn.Module):
    """Linear layer of ``towers`` independent ``width x width`` blocks.

    Computes, for inputs of shape ``(batch, towers, width)``,
    ``y[:, t] = x[:, t] @ weight[t] + bias[t]`` with one batched matmul over
    all towers. With ``cross=True`` it is the checkerboard's crossing layer:
    the first half of tower ``t`` reads the first half of tower ``t`` and the
    second half of tower ``t+1``; the second half of tower ``t`` reads its
    own second half and the first half of tower ``t-1`` (cyclically; see the
    module docstring for the diagram).

    Parameters
    ----------
    towers : int
        Number of towers ``T``.
    width : int
        Neurons per tower ``w`` (at least 2 when ``cross=True``).
    bias : bool, default=True
        Whether to add a learnable bias of shape ``(towers, width)``; off in
        front of a TAAF, whose ``gamma`` plays the bias.
    cross : bool, default=False
        Whether this is a checkerboard crossing layer.
    device, dtype : optional
        Where and in which dtype to create the parameters.

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (towers, width, width)
        ``weight[t, i, j]`` connects input ``i`` of block ``t`` to output ``j``.
        For a crossing layer block ``t``'s inputs and outputs are
        ``(A_t, B_(t+1))``.
    bias : torch.nn.Parameter of shape (towers, width) or None
        Indexed like the outputs of the blocks.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import TowerLinear
    >>> layer = TowerLinear(towers=3, width=4, cross=True)
    >>> layer(torch.randn(5, 3, 4)).shape
    torch.Size([5, 3, 4])
    >>> sum(p.numel() for p in layer.parameters())  # 3*4*4 weights + 3*4 biases
    60
    """

    def __init__(self, towers, width, *, bias=True, cross=False, device=None, dtype=None):
        super().__init__()
        towers = check_int("towers", towers)
        # A checkerboard layer needs two non-empty halves.
        width = check_int("width", width, 2 if cross else 1)
        self.towers = towers
        self.width = width
        self.cross = cross
        self.split = half_split(width)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(towers, width, width, **factory))
        self.bias = nn.Parameter(torch.empty(towers, width, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Glorot-uniform weights per ``width x width`` block, zero bias."""
        glorot_uniform_(self.weight, self.width, self.width)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        if self.towers == 1:
            # One block (a crossing layer's neighbour is itself): a plain matmul,
            # since bmm with a batch of one is slower on CPU.
            # squeeze, not [0]: indexing would make autograd allocate and copy a
            # full-size weight gradient on every backward pass.
            y = x.squeeze(-2) @ self.weight.squeeze(0)
            if self.bias is not None:
                y = y + self.bias.squeeze(0)
            return y.unsqueeze(-2)
        if self.cross:
            x = shift_second_halves(x, self.split, -1)
        # (B, T, w) -> (T, B, w) is a strided view; bmm reads it without a copy.
        x_towers = x.transpose(0, 1)
        if self.bias is None:
            y = torch.bmm(x_towers, self.weight)
        else:
            y = torch.baddbmm(self.bias.unsqueeze(1), x_towers, self.weight)
        y = y.transpose(0, 1)
        if self.cross:
            y = shift_second_halves(y, self.split, 1)
        return y

    def extra_repr(self):
        return (
            f"towers={self.towers}, width={self.width}, bias={self.bias is not None}, "
            f"cross={self.cross}"
        )
