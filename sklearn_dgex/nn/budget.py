"""Parameter and neuron accounting of D-GEX networks, and the study's widths.

The counts are analytic (no module is built) and equal the parameters of
:class:`~sklearn_dgex.nn.DGEXNet` for every architecture: dense, tower and
checkerboard networks of equal ``towers`` and ``width`` have equal counts,
with or without skip connections. With ``n_in=942``, ``n_out=4759`` and
:data:`STUDY_WIDTHS` they equal Table 1 of the D-GEX tower study exactly.
"""

import math

from ._checks import check_int
from .taaf import neuron_parameter_count

__all__ = [
    "STUDY_WIDTHS",
    "count_neurons",
    "count_parameters",
    "dense_budget",
    "solve_width",
]

#: Neurons per tower in each hidden layer, by number of towers (Table 1 of the
#: D-GEX tower study, 942 landmarks -> 4,759 targets per network).
STUDY_WIDTHS = {1: 10000, 2: 7227, 3: 5941, 4: 5157, 5: 4615, 6: 4211, 8: 3637, 10: 3242, 12: 2948}

_DEFAULT_ACTIVATION = "taaf_sigmoid"


def _check_shape(n_in, n_out, towers, n_hidden_layers):
    return (
        check_int("n_in", n_in),
        check_int("n_out", n_out),
        check_int("towers", towers),
        check_int("n_hidden_layers", n_hidden_layers),
    )


def _coefficients(n_in, n_out, towers, n_hidden_layers, activation, output_activation):
    """``(a, b, c)`` with parameters = ``a * width**2 + b * width + c``."""
    per_hidden = neuron_parameter_count(activation)
    per_output = neuron_parameter_count(output_activation)
    a = (n_hidden_layers - 1) * towers
    b = n_in * towers + n_hidden_layers * towers * per_hidden + n_out
    c = n_out * per_output
    return a, b, c


def count_parameters(
    n_in,
    n_out,
    *,
    towers,
    width,
    n_hidden_layers=3,
    activation=_DEFAULT_ACTIVATION,
    output_activation=_DEFAULT_ACTIVATION,
):
    """Number of learnable parameters of a D-GEX network.

    ``n_in * T * w`` weights of hidden layer 1, ``(L - 1) * T * w * w`` of the
    tower layers, ``w * n_out`` of the output layer (fed by the mean over
    towers), plus per neuron 4 TAAF parameters or 1 bias. The wiring (tower
    or checkerboard) and the skip connection add no parameters.

    Parameters
    ----------
    n_in, n_out : int
        Inputs and outputs.
    towers : int
        Number of towers ``T``.
    width : int
        Neurons per tower in each hidden layer ``w``.
    n_hidden_layers : int, default=3
        Number of hidden layers ``L``.
    activation, output_activation : str, default="taaf_sigmoid"
        Activation specs of the hidden and the output neurons.

    Returns
    -------
    int

    See Also
    --------
    count_neurons, solve_width, STUDY_WIDTHS

    Examples
    --------
    >>> from sklearn_dgex.nn.budget import count_parameters
    >>> count_parameters(942, 4759, towers=5, width=4615)  # Table 1 of the study
    256977621
    """
    n_in, n_out, towers, n_hidden_layers = _check_shape(n_in, n_out, towers, n_hidden_layers)
    width = check_int("width", width)
    a, b, c = _coefficients(n_in, n_out, towers, n_hidden_layers, activation, output_activation)
    return a * width * width + b * width + c


def count_neurons(
    n_in,
    n_out,
    *,
    towers,
    width,
    n_hidden_layers=3,
    activation=_DEFAULT_ACTIVATION,
    output_activation=_DEFAULT_ACTIVATION,
):
    """Number of neurons of a D-GEX network: ``n_hidden_layers * towers * width + n_out``.

    The activations do not change it; they are accepted so that this function
    takes the same arguments as :func:`count_parameters`.

    Examples
    --------
    >>> from sklearn_dgex.nn.budget import count_neurons
    >>> count_neurons(942, 4759, towers=5, width=4615)  # Table 1 of the study
    73984
    """
    n_in, n_out, towers, n_hidden_layers = _check_shape(n_in, n_out, towers, n_hidden_layers)
    width = check_int("width", width)
    return n_hidden_layers * towers * width + n_out


def dense_budget(
    n_in,
    n_out,
    width,
    *,
    n_hidden_layers=3,
    activation=_DEFAULT_ACTIVATION,
    output_activation=_DEFAULT_ACTIVATION,
):
    """Parameters of the dense (one-tower) network of ``width`` neurons per layer.

    The study's budget for every tower count is that of the dense network of
    10,000 neurons per layer.

    Examples
    --------
    >>> from sklearn_dgex.nn.budget import dense_budget
    >>> dense_budget(942, 4759, 10000)
    257149036
    """
    return count_parameters(
        n_in,
        n_out,
        towers=1,
        width=width,
        n_hidden_layers=n_hidden_layers,
        activation=activation,
        output_activation=output_activation,
    )


def solve_width(
    n_in,
    n_out,
    *,
    towers,
    param_budget,
    n_hidden_layers=3,
    activation=_DEFAULT_ACTIVATION,
    output_activation=_DEFAULT_ACTIVATION,
    arch="tower",
    multiple_of=1,
):
    """Widest tower whose network has at most ``param_budget`` parameters.

    Solves the quadratic of :func:`count_parameters` in ``width`` and corrects
    the rounding, so the result is exact.

    The study chose its widths (:data:`STUDY_WIDTHS`) by its own rule, so for
    the same budget this solver can give a width a few units larger than the
    study's: at the budget of the dense 10,000-neuron network it gives the
    study's widths for 1 and 2 towers and 1 to 4 units more for the others
    (5,942 / 5,158 / 4,616 / 4,212 / 3,640 / 3,245 / 2,952 against
    5,941 / 5,157 / 4,615 / 4,211 / 3,637 / 3,242 / 2,948 for 3 to 12
    towers). Use :data:`STUDY_WIDTHS` to reproduce the study.

    Parameters
    ----------
    n_in, n_out : int
        Inputs and outputs.
    towers : int
        Number of towers.
    param_budget : int
        Largest number of parameters allowed.
    n_hidden_layers : int, default=3
    activation, output_activation : str, default="taaf_sigmoid"
    arch : {"dense", "tower", "checkerboard"}, default="tower"
        Only used to require a width of at least 2 for "checkerboard".
    multiple_of : int, default=1
        Round the width down to a multiple of this. Matrix libraries run
        markedly faster on widths that are multiples of 8 or 16, which fill
        their vector registers and a GPU's tensor-core tiles.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If no width fits the budget (a width of 1, or 2 for a checkerboard,
        already needs more parameters).

    See Also
    --------
    count_parameters, dense_budget

    Examples
    --------
    >>> from sklearn_dgex.nn.budget import dense_budget, solve_width
    >>> budget = dense_budget(942, 4759, 10000)
    >>> solve_width(942, 4759, towers=2, param_budget=budget)
    7227
    >>> solve_width(942, 4759, towers=2, param_budget=budget, multiple_of=16)
    7216
    """
    n_in, n_out, towers, n_hidden_layers = _check_shape(n_in, n_out, towers, n_hidden_layers)
    param_budget = check_int("param_budget", param_budget, 0)
    a, b, c = _coefficients(n_in, n_out, towers, n_hidden_layers, activation, output_activation)
    room = param_budget - c
    if a == 0:
        width = room // b if room >= 0 else 0
    else:
        width = int((-b + math.sqrt(b * b + 4 * a * max(room, 0))) / (2 * a))
    # The float root can be off by one either way for large budgets.
    while width > 0 and a * width * width + b * width > room:
        width -= 1
    while a * (width + 1) ** 2 + b * (width + 1) <= room:
        width += 1
    multiple_of = check_int("multiple_of", multiple_of)
    width -= width % multiple_of
    minimum = 2 if arch == "checkerboard" else 1
    if width < minimum:
        smallest = -(-minimum // multiple_of) * multiple_of
        raise ValueError(
            f"param_budget={param_budget} is too small: the smallest {arch} network with "
            f"towers={towers} (width={smallest}) has "
            f"{a * smallest * smallest + b * smallest + c} parameters"
        )
    return width
