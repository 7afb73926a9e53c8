"""Dropout whose CPU mask costs a few nanoseconds per element instead of tens.

On CPU, ``torch.nn.functional.dropout`` draws one Bernoulli number per element
from the Mersenne twister, which measured about 20-40 ns per element on the
2-core machine this package was developed on, i.e. ten to forty times a
sigmoid. With three hidden layers of 25% dropout that made dropout about a
tenth of a D-GEX network's training time, and a larger share for tower
networks, which have more neurons for the same weights. :class:`FastDropout`
draws 64 random bits per 4 elements and compares 16-bit slices of them to a
threshold: the same inverted dropout, with the keep probability rounded to a
multiple of 1/65,536 and the scale ``1/keep`` of the rounded value, so the
expected output still equals the input exactly. On other devices it is
``nn.Dropout``.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FastDropout"]

_LEVELS = 1 << 16  # 16-bit slices of the random words


def keep_mask(shape, p, *, dtype=torch.float32, device="cpu", generator=None):
    """Inverted-dropout multipliers: 0 with probability ~``p``, else ``1/keep``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask.
    p : float
        Drop probability in ``[0, 1)``; rounded to a multiple of 1/65,536.
    dtype, device : optional
        Of the returned mask.
    generator : torch.Generator, optional
        Source of randomness (the default generator when None).

    Returns
    -------
    torch.Tensor of ``shape``
        Values ``0`` and ``65536 / n_keep`` where ``n_keep`` is the rounded
        number of kept levels, so ``mask.mean()`` is 1 in expectation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn.dropout import keep_mask
    >>> _ = torch.manual_seed(0)
    >>> mask = keep_mask((1000, 100), 0.25)
    >>> sorted(mask.unique().tolist())
    [0.0, 1.3333333730697632]
    >>> round(float((mask == 0).float().mean()), 2)
    0.25
    """
    n_drop = round(p * _LEVELS)
    n_keep = _LEVELS - n_drop
    if n_keep <= 0:
        raise ValueError(f"p must be below 1 - 1/65536 for keep_mask, got {p!r}")
    n = 1
    for size in shape:
        n *= size
    words = torch.randint(
        -(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64, device=device,
        generator=generator,
    )  # fmt: skip
    # Each int16 slice is uniform on [-32768, 32767]; keep the top n_keep levels.
    levels = words.view(torch.int16)[:n].view(shape)
    threshold = n_drop - _LEVELS // 2
    scale = torch.tensor(_LEVELS / n_keep, dtype=dtype, device=device)
    return torch.where(levels >= threshold, scale, torch.zeros((), dtype=dtype, device=device))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a fast mask on CPU (see the module docstring).

    Parameters
    ----------
    p : float, default=0.5
        Drop probability; on CPU rounded to a multiple of 1/65,536 (e.g. 0.2
        becomes 0.199997), with the output scaled by the inverse of the
        rounded keep probability.
    inplace : bool, default=False
        Passed to ``nn.Dropout`` (the fast path is never in place).

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn.dropout import FastDropout
    >>> drop = FastDropout(0.25)
    >>> y = drop(torch.ones(400, 500))
    >>> round(float((y == 0).float().mean()), 2), round(float(y.mean()), 1)
    (0.25, 1.0)
    >>> bool(torch.equal(drop.eval()(torch.ones(3)), torch.ones(3)))
    True
    """

    def forward(self, x):
        # Under torch.compile, torch's own dropout: the compiler fuses it, and
        # the 64-bit random words of keep_mask do not trace.
        fast = (
            self.training
            and self.p > 0
            and x.device.type == "cpu"
            and not self.inplace
            and not torch.compiler.is_compiling()
        )
        if not fast or round((1 - self.p) * _LEVELS) == 0:
            return F.dropout(x, self.p, self.training, self.inplace)
        return x * keep_mask(x.shape, self.p, dtype=x.dtype, device=x.device)
