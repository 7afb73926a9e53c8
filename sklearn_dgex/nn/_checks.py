"""Argument checks shared by the network modules (clear errors naming the argument)."""

from numbers import Integral, Real


def check_int(name, value, minimum=1):
    """``value`` as an int; ValueError unless it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_dropout(dropout):
    """Raise ValueError unless ``dropout`` is a probability in ``[0, 1)``."""
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
