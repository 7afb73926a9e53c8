"""The flexible multilayer perceptron of the flexible-MLP study."""

from torch import nn

from ._checks import check_dropout, check_int
from .dropout import FastDropout
from .taaf import is_taaf, make_activation

__all__ = ["FlexibleMLP"]


def _check_sizes(hidden_layer_sizes):
    try:
        sizes = tuple(hidden_layer_sizes)
    except TypeError:
        raise ValueError(
            f"hidden_layer_sizes must be a sequence of positive ints, got {hidden_layer_sizes!r}"
        ) from None
    return tuple(check_int("each of hidden_layer_sizes", size) for size in sizes)


class FlexibleMLP(nn.Module):
    """Multilayer perceptron with configurable layers, activations and regularisation.

    Each hidden layer is ``Linear -> [BatchNorm1d | LayerNorm] -> activation ->
    Dropout``; the output layer is ``Linear -> output activation``. Every
    configuration of the flexible-MLP study can be expressed, e.g. its
    baseline ``hidden_layer_sizes=(256, 256, 256, 256),
    activation="leaky_relu(0.1)", output_activation="elu(0.01)"`` (the
    study's "ELU(alpha=0.01, beta=0.01)": torch's ELU has only ``alpha``).

    A linear layer in front of a TAAF activation has no bias (the TAAF's
    ``gamma`` is one). Weights start at PyTorch's ``nn.Linear`` default
    (Kaiming-uniform with ``a=sqrt(5)``), as in the study's PyTorch code.

    Parameters
    ----------
    n_in, n_out : int
        Inputs and outputs.
    hidden_layer_sizes : sequence of int, default=(256, 128)
        Neurons per hidden layer; empty for a linear (or generalised linear)
        model.
    activation : str, default="relu"
        Activation spec of the hidden layers, e.g. "relu", "leaky_relu(0.1)",
        "elu(0.01)", "gelu", "tanh", "sigmoid", "selu", "taaf_sigmoid" (see
        :func:`~sklearn_dgex.nn.make_activation`).
    output_activation : str, default="identity"
        Activation spec of the output layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation (no module when 0).
    batch_norm : bool, default=False
        Batch normalisation between each hidden linear layer and its
        activation.
    layer_norm : bool, default=False
        Layer normalisation at the same place; exclusive with ``batch_norm``.
    device, dtype : optional
        Where and in which dtype to create the parameters.

    Attributes
    ----------
    layers : torch.nn.Sequential
        All layers in order.

    See Also
    --------
    DGEXNet : The D-GEX tower and checkerboard networks.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import FlexibleMLP
    >>> net = FlexibleMLP(10, 3, hidden_layer_sizes=(8, 8), activation="leaky_relu(0.1)",
    ...                   output_activation="elu(0.01)", dropout=0.2, batch_norm=True)
    >>> net(torch.randn(5, 10)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        n_in,
        n_out,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        output_activation="identity",
        dropout=0.0,
        batch_norm=False,
        layer_norm=False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        n_in = check_int("n_in", n_in)
        n_out = check_int("n_out", n_out)
        sizes = _check_sizes(hidden_layer_sizes)
        check_dropout(dropout)
        if batch_norm and layer_norm:
            raise ValueError("batch_norm and layer_norm are exclusive; set at most one to True")
        self.n_in, self.n_out = n_in, n_out
        self.hidden_layer_sizes = sizes
        self.activation, self.output_activation = activation, output_activation
        self.dropout = float(dropout)
        self.batch_norm, self.layer_norm = bool(batch_norm), bool(layer_norm)

        factory = {"device": device, "dtype": dtype}
        hidden_bias = not is_taaf(activation)
        layers = []
        fan_in = n_in
        for size in sizes:
            layers.append(nn.Linear(fan_in, size, bias=hidden_bias, **factory))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size, **factory))
            if layer_norm:
                layers.append(nn.LayerNorm(size, **factory))
            layers.append(make_activation(activation, size, **factory))
            if dropout > 0:
                layers.append(FastDropout(self.dropout))
            fan_in = size
        layers.append(nn.Linear(fan_in, n_out, bias=not is_taaf(output_activation), **factory))
        layers.append(make_activation(output_activation, n_out, **factory))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
