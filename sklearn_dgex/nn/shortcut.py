"""A linear input-to-output path around any network, starting at a given linear model.

See :class:`LinearShortcut` and the documentation page "Small data".
"""

import torch
from torch import nn

from ._checks import check_int

__all__ = ["LinearShortcut", "output_linear"]


def output_linear(module):
    """The ``nn.Linear`` that computes ``module``'s output pre-activations.

    ``module.output_linear`` when the module has one (:class:`DGEXNet`), else
    the last ``nn.Linear`` registered in the module (the output layer of
    :class:`FlexibleMLP` and of any ``nn.Sequential`` that ends in a linear
    layer and an activation).

    Examples
    --------
    >>> from sklearn_dgex.nn import FlexibleMLP
    >>> from sklearn_dgex.nn.shortcut import output_linear
    >>> output_linear(FlexibleMLP(4, 3, hidden_layer_sizes=(5,)))
    Linear(in_features=5, out_features=3, bias=True)
    """
    candidate = getattr(module, "output_linear", None)
    if isinstance(candidate, nn.Linear):
        return candidate
    linears = [child for child in module.modules() if isinstance(child, nn.Linear)]
    if not linears:
        raise ValueError(
            f"{type(module).__name__} has no nn.Linear output layer; LinearShortcut needs one "
            "to start the network's contribution at zero."
        )
    return linears[-1]


class LinearShortcut(nn.Module):
    """A network plus a linear path from its inputs to its outputs.

    ``forward(x) = inner(x) + x @ weight + bias``. At construction the
    weights and bias of ``inner``'s output layer are set to zero, so that
    ``inner`` adds only the constant ``output_activation(0)`` (0 for an
    identity output), which ``bias`` absorbs: the new module predicts exactly
    ``x @ weight + bias_given``, e.g. a ridge regression's predictions, and
    training lets ``inner`` learn what the linear model misses.

    Zeroing the output layer, rather than gating ``inner`` with a factor
    that starts at 0, keeps ``inner``'s architecture and parameter count
    unchanged and needs no extra parameter. Its hidden layers receive
    gradients from the second optimizer step on, once the output layer has
    moved away from zero.

    Parameters
    ----------
    inner : torch.nn.Module
        Network mapping ``(batch, n_in)`` to ``(batch, n_out)``, with an
        ``nn.Linear`` output layer (see :func:`output_linear`), followed by any
        element-wise output activation.
    n_in, n_out : int
        Inputs and outputs.
    weight : array-like of shape (n_in, n_out), default=None
        Initial weights of the linear path; zeros when None.
    bias : array-like of shape (n_out,), default=None
        Initial intercepts of the linear path; zeros when None.
    trainable : bool, default=False
        Train the linear path with the network. When False it is a fixed
        buffer (saved with the module, moved by ``.to()``, never updated and
        not counted among the parameters): the network learns the residual
        of a linear model fitted beforehand.
    input_basis : array-like of shape (n_in, k), default=None
        Orthonormal directions ``B`` of the input space (e.g. the leading
        principal axes of the training inputs). When given, ``inner`` sees
        ``((x @ B) * input_gains) @ B.T`` instead of ``x``: the inputs
        projected on those directions and scaled along each by its gain
        (e.g. ``1 / s_j`` whitens them), still as ``n_in`` values, so that
        ``inner``'s architecture is unchanged. The linear path always sees
        ``x``. A fixed buffer.
    input_gains : array-like of shape (k,), default=None
        Gains of the directions of ``input_basis``; ones when None.

    Attributes
    ----------
    inner : torch.nn.Module
        The wrapped network.
    weight, bias : torch.Tensor
        The linear path, ``bias`` net of ``inner``'s initial constant output.
    inner_offset : torch.Tensor
        ``inner``'s initial constant output, ``output_activation(0)``.
    inner_scale : torch.Tensor
        1, or 0 once :meth:`disable_inner` has removed ``inner``'s
        contribution.

    See Also
    --------
    sklearn_dgex.nn.DGEXNet, sklearn_dgex.nn.FlexibleMLP : Networks to wrap.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import FlexibleMLP, LinearShortcut
    >>> W, b = torch.randn(4, 3), torch.randn(3)
    >>> net = LinearShortcut(FlexibleMLP(4, 3, hidden_layer_sizes=(8,)), 4, 3, weight=W, bias=b)
    >>> x = torch.randn(5, 4)
    >>> torch.allclose(net(x), x @ W + b)
    True
    >>> sum(p.numel() for p in net.parameters())  # the inner network's only
    67
    """

    def __init__(
        self,
        inner,
        n_in,
        n_out,
        *,
        weight=None,
        bias=None,
        trainable=False,
        input_basis=None,
        input_gains=None,
    ):
        super().__init__()
        n_in = check_int("n_in", n_in)
        n_out = check_int("n_out", n_out)
        self.n_in, self.n_out, self.trainable = n_in, n_out, bool(trainable)
        self.inner = inner
        last = output_linear(inner)
        factory = {"device": last.weight.device, "dtype": last.weight.dtype}
        weight = _as_tensor(weight, (n_in, n_out), "weight", **factory)
        bias = _as_tensor(bias, (n_out,), "bias", **factory)
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()
            self.register_buffer("inner_offset", self._constant_inner_output(**factory))
        bias = bias - self.inner_offset
        self.register_buffer("inner_scale", torch.ones((), **factory))
        if self.trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias)
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)
        if input_basis is None:
            self.input_basis = self.input_gains = None
        else:
            basis = torch.as_tensor(input_basis).to(**factory)
            if basis.ndim != 2 or basis.shape[0] != n_in:
                raise ValueError(
                    f"input_basis must have shape ({n_in}, k); got {tuple(basis.shape)}."
                )
            gains = _as_tensor(input_gains, (basis.shape[1],), "input_gains", **factory)
            if input_gains is None:
                gains += 1.0
            # Contiguous, as a saved and loaded module has it: the same layout gives
            # the same matmul kernels, hence predictions equal bit for bit after load.
            self.register_buffer("input_basis", basis.clone(memory_format=torch.contiguous_format))
            self.register_buffer("input_gains", gains)

    def _constant_inner_output(self, device, dtype):
        """``inner``'s output once its output layer is zero: the same for every input."""
        was_training = self.inner.training
        self.inner.eval()  # no batch-norm statistics are updated by this probe
        try:
            out = self.inner(torch.zeros(1, self.n_in, device=device, dtype=dtype))
        finally:
            self.inner.train(was_training)
        if out.shape != (1, self.n_out):
            raise ValueError(
                f"inner maps (1, {self.n_in}) inputs to shape {tuple(out.shape)}; "
                f"expected (1, {self.n_out})."
            )
        return out[0].detach()

    @torch.no_grad()
    def set_linear(self, weight, bias):
        """Replace the linear path by ``x @ weight + bias`` (e.g. a ridge refitted on more data).

        ``inner`` is kept as it is; ``bias`` is stored net of its initial
        constant output, as at construction.
        """
        self.weight.copy_(_as_tensor(weight, tuple(self.weight.shape), "weight", **self._factory()))
        bias = _as_tensor(bias, tuple(self.bias.shape), "bias", **self._factory())
        self.bias.copy_(bias - self.inner_offset * self.inner_scale)

    @torch.no_grad()
    def disable_inner(self):
        """Remove ``inner``'s contribution: the module becomes its linear path exactly."""
        if self.inner_scale.item() != 0:
            self.bias.add_(self.inner_offset)
            self.inner_scale.zero_()

    def linear(self, x):
        """The linear path's own prediction, ``x @ weight + bias_given``."""
        return torch.addmm(self.bias + self.inner_offset * self.inner_scale, x, self.weight)

    def _factory(self):
        return {"device": self.weight.device, "dtype": self.weight.dtype}

    def inner_inputs(self, x):
        """What ``inner`` sees: ``x``, or ``x`` projected and scaled along ``input_basis``."""
        if self.input_basis is None:
            return x
        return ((x @ self.input_basis) * self.input_gains) @ self.input_basis.T

    def forward(self, x):
        inner = self.inner(self.inner_inputs(x)) * self.inner_scale
        return inner + torch.addmm(self.bias, x, self.weight)

    def extra_repr(self):
        return f"n_in={self.n_in}, n_out={self.n_out}, trainable={self.trainable}"


def _as_tensor(values, shape, name, device, dtype):
    if values is None:
        return torch.zeros(shape, device=device, dtype=dtype)
    tensor = torch.as_tensor(values).to(device=device, dtype=dtype)
    tensor = tensor.clone(memory_format=torch.contiguous_format)
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}; got {tuple(tensor.shape)}.")
    return tensor
