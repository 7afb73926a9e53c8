"""The D-GEX network: dense, tower and checkerboard architectures, with or without skip.

See :class:`DGEXNet` and the documentation page "Networks".
"""

from torch import nn

from ._checks import check_dropout, check_int
from .dropout import FastDropout
from .taaf import is_taaf, make_activation
from .towers import TowerLinear, glorot_uniform_

__all__ = ["ARCHITECTURES", "DGEXNet", "crossing_layers", "dropout_layers"]

#: Valid values of ``DGEXNet(arch=...)``.
ARCHITECTURES = ("dense", "tower", "checkerboard")


def crossing_layers(arch, n_hidden_layers):
    """1-based indices of the hidden layers that read the neighbouring tower.

    The study connects each half "to the other half of the same tower only
    every odd layer while every even layer it is connected to the other half
    of the neighboring tower": hidden layers 2, 4, ... cross in the
    checkerboard architecture (layer 1 reads the shared input anyway).

    Examples
    --------
    >>> from sklearn_dgex.nn.dgex import crossing_layers
    >>> crossing_layers("checkerboard", 3), crossing_layers("tower", 3)
    ((2,), ())
    """
    if arch != "checkerboard":
        return ()
    return tuple(range(2, n_hidden_layers + 1, 2))


def dropout_layers(arch, n_hidden_layers):
    """1-based indices of the hidden layers followed by dropout.

    Every hidden layer, except the first of a checkerboard network (the
    study's C-D-GEX and CR-D-GEX have "the first hidden layer without a
    dropout").

    Examples
    --------
    >>> from sklearn_dgex.nn.dgex import dropout_layers
    >>> dropout_layers("checkerboard", 3), dropout_layers("dense", 3)
    ((2, 3), (1, 2, 3))
    """
    first = 2 if arch == "checkerboard" else 1
    return tuple(range(first, n_hidden_layers + 1))


def _validate(n_in, n_out, arch, skip, towers, width, n_hidden_layers, dropout):
    """Check the arguments; return the integers as Python ints."""
    n_in = check_int("n_in", n_in)
    n_out = check_int("n_out", n_out)
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    towers = check_int("towers", towers)
    if arch == "dense" and towers != 1:
        raise ValueError(
            f"arch='dense' has one tower, got towers={towers}; use arch='tower' or "
            "'checkerboard' for several towers"
        )
    width = check_int("width", width, 2 if arch == "checkerboard" else 1)
    n_hidden_layers = check_int("n_hidden_layers", n_hidden_layers)
    if skip and n_hidden_layers < 2:
        raise ValueError(
            f"skip=True adds hidden layer 1 to hidden layer 2 and needs n_hidden_layers >= 2, "
            f"got {n_hidden_layers}"
        )
    check_dropout(dropout)
    return n_in, n_out, towers, width, n_hidden_layers


class DGEXNet(nn.Module):
    """D-GEX network with dense, tower or checkerboard hidden layers.

    ``n_in`` inputs -> ``n_hidden_layers`` hidden layers of ``towers`` towers
    of ``width`` neurons -> mean over towers -> ``n_out`` outputs.

    * Hidden layer 1 maps the shared input to all ``towers * width`` neurons
      (one matmul).
    * Hidden layers 2, 3, ... are tower layers: block ``t`` reads tower ``t``
      only (stacked ``(towers, width, width)`` weights, one batched matmul;
      see :class:`~sklearn_dgex.nn.TowerLinear`).
    * ``arch="checkerboard"`` splits every tower layer into halves
      ``A`` (first ``ceil(width/2)`` neurons) and ``B``; the even hidden
      layers (2, 4, ...) are crossing layers, where ``A_t`` reads
      ``A_t`` and ``B_(t+1)`` of the previous layer and ``B_t`` reads
      ``B_t`` and ``A_(t-1)`` (tower indices modulo ``towers``); the odd
      layers read both halves of their own tower. For three hidden layers and
      ``towers=3``::

          input     every neuron of layer 1 reads every input (dense)
          layer 1   A0 B0 | A1 B1 | A2 B2
                      crossing (even layer):  A_t <- A_t, B_(t+1)
                                              B_t <- B_t, A_(t-1)
          layer 2   A0 B0 | A1 B1 | A2 B2
                      own tower (odd layer):  A_t, B_t <- A_t, B_t
          layer 3   A0 B0 | A1 B1 | A2 B2
                      mean over the 3 towers -> width neurons
          output    n_out neurons, dense from the mean

      The weights are those of a tower network, so both architectures hold
      the same number of parameters.
    * ``skip=True`` adds the output of hidden layer 1 to that of hidden layer
      2 (per tower, after both layers' activation and dropout) before hidden
      layer 3: the study's TR-D-GEX and CR-D-GEX.
    * Dropout ``p=dropout`` follows the activation of every hidden layer,
      except hidden layer 1 of the checkerboard architecture
      (:class:`~sklearn_dgex.nn.dropout.FastDropout`, ``nn.Dropout`` with a
      faster mask on CPU).
    * ``arch="dense"`` is the tower network with one tower: the original
      D-GEX (with ``activation="tanh"``, ``output_activation="identity"``) or
      the D-GEX with TAAFs (the defaults).

    A linear layer in front of a TAAF has no bias (the TAAF's ``gamma`` is
    one), so parameter counts equal Table 1 of the study exactly; see
    :mod:`sklearn_dgex.nn.budget`.

    Weights are initialised Glorot-uniform per block, with the fan-in and
    fan-out of the block one neuron sees (``n_in`` and ``width`` for layer 1,
    ``width`` and ``width`` for tower layers, ``width`` and ``n_out`` for the
    output layer), not those of the whole ``towers * width`` layer; this is
    Keras's default, which the study's code used. Biases start at zero and
    TAAFs at ``f`` (``alpha, beta, gamma, delta = 1, 1, 0, 0``).

    Parameters
    ----------
    n_in : int
        Number of inputs (landmark genes).
    n_out : int
        Number of outputs (target genes).
    arch : {"dense", "tower", "checkerboard"}, default="dense"
        Hidden-layer wiring; "dense" requires ``towers=1``.
    skip : bool, default=False
        Residual connection from hidden layer 1 to hidden layer 2.
    towers : int, default=1
        Number of towers ``T``.
    width : int, default=1000
        Neurons per tower in each hidden layer (at least 2 for
        "checkerboard").
    n_hidden_layers : int, default=3
        Number of hidden layers.
    activation : str, default="taaf_sigmoid"
        Activation spec of the hidden neurons (see
        :func:`~sklearn_dgex.nn.make_activation`); "tanh" for the original
        D-GEX.
    output_activation : str, default="taaf_sigmoid"
        Activation spec of the output neurons: "taaf_sigmoid" is the study's
        TAAFo, "identity" a linear output layer with bias.
    dropout : float, default=0.25
        Dropout probability after the hidden layers' activations.
    device, dtype : optional
        Where and in which dtype to create the parameters (``device="meta"``
        builds a 257M-parameter network without allocating it).

    Attributes
    ----------
    input_linear : torch.nn.Linear
        Hidden layer 1, ``n_in -> towers * width``.
    tower_linears : torch.nn.ModuleList of TowerLinear
        Hidden layers 2, 3, ...
    hidden_activations, hidden_dropouts : torch.nn.ModuleList
        One per hidden layer (``nn.Identity`` where there is no dropout).
    output_linear : torch.nn.Linear
        ``width -> n_out``, applied to the mean over towers.
    output_act : torch.nn.Module
        The output activation.

    See Also
    --------
    sklearn_dgex.nn.budget.count_parameters : Parameters of a configuration.
    sklearn_dgex.nn.budget.STUDY_WIDTHS : The study's widths per tower count.
    FlexibleMLP : The flexible MLP of the second study.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import DGEXNet
    >>> net = DGEXNet(20, 7, arch="checkerboard", skip=True, towers=3, width=6)
    >>> net(torch.randn(4, 20)).shape
    torch.Size([4, 7])
    >>> [h.shape for h in net.hidden_states(torch.randn(4, 20))]
    [torch.Size([4, 3, 6]), torch.Size([4, 3, 6]), torch.Size([4, 3, 6])]
    """

    def __init__(
        self,
        n_in,
        n_out,
        *,
        arch="dense",
        skip=False,
        towers=1,
        width=1000,
        n_hidden_layers=3,
        activation="taaf_sigmoid",
        output_activation="taaf_sigmoid",
        dropout=0.25,
        device=None,
        dtype=None,
    ):
        super().__init__()
        n_in, n_out, towers, width, n_hidden_layers = _validate(
            n_in, n_out, arch, skip, towers, width, n_hidden_layers, dropout
        )
        hidden_taaf = is_taaf(activation)
        output_taaf = is_taaf(output_activation)
        self.n_in, self.n_out = n_in, n_out
        self.arch, self.skip = arch, bool(skip)
        self.towers, self.width, self.n_hidden_layers = towers, width, n_hidden_layers
        self.activation, self.output_activation = activation, output_activation
        self.dropout = float(dropout)

        factory = {"device": device, "dtype": dtype}
        self.input_linear = nn.Linear(n_in, towers * width, bias=not hidden_taaf, **factory)
        crossing = crossing_layers(arch, n_hidden_layers)
        self.tower_linears = nn.ModuleList(
            TowerLinear(towers, width, bias=not hidden_taaf, cross=layer in crossing, **factory)
            for layer in range(2, n_hidden_layers + 1)
        )
        self.hidden_activations = nn.ModuleList(
            make_activation(activation, (towers, width), **factory) for _ in range(n_hidden_layers)
        )
        with_dropout = dropout_layers(arch, n_hidden_layers)
        self.hidden_dropouts = nn.ModuleList(
            FastDropout(self.dropout) if layer in with_dropout else nn.Identity()
            for layer in range(1, n_hidden_layers + 1)
        )
        self.output_linear = nn.Linear(width, n_out, bias=not output_taaf, **factory)
        self.output_act = make_activation(output_activation, n_out, **factory)
        self.reset_parameters()

    def reset_parameters(self):
        """Glorot-uniform weights per tower block, zero biases, TAAFs equal to ``f``."""
        glorot_uniform_(self.input_linear.weight, self.n_in, self.width)
        glorot_uniform_(self.output_linear.weight, self.width, self.n_out)
        for linear in (self.input_linear, self.output_linear):
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
        for module in [*self.tower_linears, *self.hidden_activations, self.output_act]:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def _hidden_layer(self, index, h):
        return self.hidden_dropouts[index](self.hidden_activations[index](h))

    def _run_hidden(self, x, keep_all):
        # A plain loop (no generator) keeps the forward friendly to torch.compile.
        h = self.input_linear(x).unflatten(-1, (self.towers, self.width))
        h = self._hidden_layer(0, h)
        first = h if self.skip else None
        states = [h] if keep_all else None
        for index, linear in enumerate(self.tower_linears, start=1):
            h = self._hidden_layer(index, linear(h))
            if first is not None and index == 1:
                h = h + first
                first = None
            if keep_all:
                states.append(h)
        return states if keep_all else h

    def hidden_states(self, x):
        """Outputs of every hidden layer, each of shape ``(batch, towers, width)``.

        Tower ``t``'s neurons are ``[:, t, :]``; its halves ``A`` and ``B``
        are ``[:, t, :ceil(width/2)]`` and ``[:, t, ceil(width/2):]``. The
        second entry includes the skip connection when ``skip=True``.
        """
        return self._run_hidden(x, keep_all=True)

    def forward(self, x):
        h = self._run_hidden(x, keep_all=False)
        return self.output_act(self.output_linear(h.mean(dim=-2)))

    def extra_repr(self):
        return (
            f"n_in={self.n_in}, n_out={self.n_out}, arch={self.arch!r}, skip={self.skip}, "
            f"towers={self.towers}, width={self.width}, n_hidden_layers={self.n_hidden_layers}, "
            f"activation={self.activation!r}, output_activation={self.output_activation!r}, "
            f"dropout={self.dropout}"
        )
