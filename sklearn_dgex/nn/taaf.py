"""Activation specs and the transformative adaptive activation function (TAAF).

An activation is named by a short string so that estimators can expose it as
a plain hyperparameter:

* a base name: ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"``,
  ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"selu"``, ``"softplus"``;
* a base with its argument: ``"leaky_relu(0.1)"`` (negative slope),
  ``"elu(0.01)"`` (alpha);
* a TAAF over any base: ``"taaf_sigmoid"``, ``"taaf_tanh"``,
  ``"taaf_leaky_relu(0.1)"``, ...

A TAAF neuron computes ``alpha * f(beta * x + gamma) + delta`` with its own
learnable ``alpha, beta, gamma, delta`` (equation (1) of the D-GEX tower
study). Because ``gamma`` already shifts the neuron's input, the linear layer
in front of a TAAF carries no bias: a TAAF neuron costs its weights plus 4
parameters, a plain neuron its weights plus 1 bias. This is how Table 1 of the
study counts parameters.
"""

import math
import re
from numbers import Integral

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "TAAF",
    "is_taaf",
    "make_activation",
    "neuron_parameter_count",
    "parse_activation",
]

TAAF_PREFIX = "taaf_"

# base name -> (module factory taking the optional argument, default argument).
# A default of None means the base takes no argument.
_BASES = {
    "sigmoid": (lambda _: nn.Sigmoid(), None),
    "tanh": (lambda _: nn.Tanh(), None),
    "relu": (lambda _: nn.ReLU(), None),
    "identity": (lambda _: nn.Identity(), None),
    "leaky_relu": (lambda slope: nn.LeakyReLU(negative_slope=slope), 0.01),
    "elu": (lambda alpha: nn.ELU(alpha=alpha), 1.0),
    "gelu": (lambda _: nn.GELU(), None),
    "selu": (lambda _: nn.SELU(), None),
    "softplus": (lambda _: nn.Softplus(), None),
}

#: Valid base activation names; prefix any of them with ``"taaf_"`` for a TAAF.
ACTIVATIONS = tuple(_BASES)

_SPEC_PATTERN = re.compile(r"^\s*([a-z_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


def _valid_options_message():
    bases = ", ".join(repr(name) for name in ACTIVATIONS)
    return (
        f"valid activations are {bases}, 'leaky_relu(slope)', 'elu(alpha)', "
        f"and any of them prefixed with {TAAF_PREFIX!r} (e.g. 'taaf_sigmoid')"
    )


def parse_activation(spec):
    """Split an activation spec into its parts.

    Parameters
    ----------
    spec : str
        Activation spec such as ``"relu"``, ``"leaky_relu(0.1)"`` or
        ``"taaf_sigmoid"``.

    Returns
    -------
    taaf : bool
        Whether the spec asks for a TAAF around the base.
    base : str
        The base name, one of :data:`ACTIVATIONS`.
    argument : float or None
        The base's argument (its default when the spec gives none), or None
        for bases that take no argument.

    Raises
    ------
    ValueError
        If ``spec`` is not a string naming a known activation; the message
        lists the valid options.

    Examples
    --------
    >>> from sklearn_dgex.nn import parse_activation
    >>> parse_activation("taaf_leaky_relu(0.1)")
    (True, 'leaky_relu', 0.1)
    >>> parse_activation("elu")
    (False, 'elu', 1.0)
    """
    if not isinstance(spec, str):
        raise ValueError(
            f"activation must be a string, got {type(spec).__name__} {spec!r}; "
            + _valid_options_message()
        )
    match = _SPEC_PATTERN.match(spec.lower())
    if match is None:
        raise ValueError(f"Unknown activation {spec!r}; " + _valid_options_message())
    name, raw_argument = match.groups()
    taaf = name.startswith(TAAF_PREFIX)
    base = name[len(TAAF_PREFIX) :] if taaf else name
    if base not in _BASES:
        raise ValueError(f"Unknown activation {spec!r}; " + _valid_options_message())
    default = _BASES[base][1]
    if raw_argument is None:
        return taaf, base, default
    if default is None:
        raise ValueError(
            f"Activation {base!r} takes no argument, got {spec!r}; " + _valid_options_message()
        )
    try:
        argument = float(raw_argument)
    except ValueError:
        raise ValueError(
            f"The argument of activation {spec!r} must be a number, got {raw_argument!r}"
        ) from None
    if not math.isfinite(argument):
        raise ValueError(f"The argument of activation {spec!r} must be finite")
    return taaf, base, argument


def is_taaf(spec):
    """Whether ``spec`` names a TAAF (and so its linear layer has no bias).

    Examples
    --------
    >>> from sklearn_dgex.nn import is_taaf
    >>> is_taaf("taaf_sigmoid"), is_taaf("tanh")
    (True, False)
    """
    return parse_activation(spec)[0]


def neuron_parameter_count(spec):
    """Parameters a neuron with activation ``spec`` has beyond its weights.

    4 for a TAAF (alpha, beta, gamma, delta; no bias), 1 (the bias) otherwise.

    Examples
    --------
    >>> from sklearn_dgex.nn import neuron_parameter_count
    >>> neuron_parameter_count("taaf_sigmoid"), neuron_parameter_count("relu")
    (4, 1)
    """
    return 4 if is_taaf(spec) else 1


def _make_base(base, argument):
    return _BASES[base][0](argument)


class TAAF(nn.Module):
    """Transformative adaptive activation function ``alpha*f(beta*x+gamma)+delta``.

    Each neuron (each entry of the trailing ``n_features`` dimensions) has its
    own learnable ``alpha, beta, gamma, delta``, initialised to ``1, 1, 0, 0``
    so that a fresh TAAF computes exactly ``f``.

    Parameters
    ----------
    n_features : int or tuple of int
        Number of neurons, or the shape of the trailing dimensions the
        parameters broadcast over (e.g. ``(towers, width)`` for inputs of
        shape ``(batch, towers, width)``).
    base : str, default="sigmoid"
        The inner activation ``f``: any non-TAAF spec, e.g. ``"tanh"`` or
        ``"leaky_relu(0.1)"``.
    device, dtype : optional
        Where and in which dtype to create the parameters.

    Attributes
    ----------
    alpha, beta, gamma, delta : torch.nn.Parameter
        Output scale, input scale, input shift and output shift per neuron.

    See Also
    --------
    make_activation : Build any activation, TAAF or not, from its spec.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import TAAF
    >>> taaf = TAAF(3, base="sigmoid")
    >>> x = torch.tensor([[-1.0, 0.0, 2.0]])
    >>> bool(torch.allclose(taaf(x), torch.sigmoid(x)))
    True
    >>> sum(p.numel() for p in taaf.parameters())
    12
    """

    def __init__(self, n_features, base="sigmoid", *, device=None, dtype=None):
        super().__init__()
        taaf, base_name, argument = parse_activation(base)
        if taaf:
            raise ValueError(f"base of a TAAF must be a plain activation, got {base!r}")
        self.feature_shape = _feature_shape(n_features)
        self.base = base
        self.inner = _make_base(base_name, argument)
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.empty(self.feature_shape, **factory))
        self.beta = nn.Parameter(torch.empty(self.feature_shape, **factory))
        self.gamma = nn.Parameter(torch.empty(self.feature_shape, **factory))
        self.delta = nn.Parameter(torch.empty(self.feature_shape, **factory))
        self.reset_parameters()

    def reset_parameters(self):
        """Set ``alpha, beta, gamma, delta`` to ``1, 1, 0, 0`` (the TAAF is ``f``)."""
        nn.init.ones_(self.alpha)
        nn.init.ones_(self.beta)
        nn.init.zeros_(self.gamma)
        nn.init.zeros_(self.delta)

    def forward(self, x):
        # addcmul fuses the scale and the shift into one pass over x.
        inner = self.inner(torch.addcmul(self.gamma, self.beta, x))
        return torch.addcmul(self.delta, self.alpha, inner)

    def extra_repr(self):
        return f"n_features={self.feature_shape}, base={self.base!r}"


def _feature_shape(n_features):
    shape = (n_features,) if isinstance(n_features, Integral) else tuple(n_features)
    valid = all(isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 for n in shape)
    if not shape or not valid:
        raise ValueError(f"n_features must be a positive int or tuple of them, got {n_features!r}")
    return tuple(int(n) for n in shape)


def make_activation(spec, n_features, *, device=None, dtype=None):
    """Build the activation module that ``spec`` names.

    Parameters
    ----------
    spec : str
        Activation spec, e.g. ``"relu"``, ``"leaky_relu(0.1)"``,
        ``"elu(0.01)"`` or ``"taaf_sigmoid"``; see :data:`ACTIVATIONS`.
    n_features : int or tuple of int
        Number of neurons (or trailing shape) the activation acts on; only
        TAAFs, which have per-neuron parameters, use it.
    device, dtype : optional
        Where and in which dtype to create a TAAF's parameters.

    Returns
    -------
    torch.nn.Module
        A :class:`TAAF` or a parameter-free torch activation module.

    Raises
    ------
    ValueError
        If ``spec`` is unknown; the message lists the valid options.

    See Also
    --------
    TAAF : The adaptive activation.

    Examples
    --------
    >>> from sklearn_dgex.nn import make_activation
    >>> make_activation("leaky_relu(0.1)", 8)
    LeakyReLU(negative_slope=0.1)
    >>> make_activation("taaf_tanh", 8)
    TAAF(
      n_features=(8,), base='tanh'
      (inner): Tanh()
    )
    """
    taaf, base, argument = parse_activation(spec)
    if taaf:
        base_spec = base if argument is None else f"{base}({argument})"
        return TAAF(n_features, base=base_spec, device=device, dtype=dtype)
    return _make_base(base, argument)
