"""The estimators that a model file may hold, by the class name the file stores.

The estimator classes register themselves when they are defined
(``_BaseNetRegressor.__init_subclass__``), so that :mod:`.persistence` finds
them by name without importing the modules that define them (which import
persistence to save). Each entry gives the class and its network factory, the
one thing persistence needs from an estimator to rebuild its networks.

Contract of ``new_net(estimator, n_in, n_out, shuffle_seed, device)``: return
a new, uninitialised :class:`~sklearn_dgex._torch.net.InMemoryNet` for one
network with ``n_in`` inputs and ``n_out`` outputs, built from the
estimator's parameters and its fitted settings, exactly as ``fit`` builds it
(same module class and arguments, optimizer and criterion), with the given
shuffling seed on the given torch device.
"""

from typing import NamedTuple


class Entry(NamedTuple):
    cls: type
    new_net: object


_ENTRIES = {}


def register(cls, new_net):
    """Record ``cls`` under its name, with its network factory (see the module docstring)."""
    _ENTRIES[cls.__name__] = Entry(cls, new_net)


def entry(name):
    """The :class:`Entry` of the estimator class named ``name``, or None.

    An estimator the package exports that was not imported yet is imported
    through the package's public names, which registers it.
    """
    if name not in _ENTRIES and isinstance(name, str):
        import sklearn_dgex

        if name in sklearn_dgex.__all__:
            getattr(sklearn_dgex, name)
    return _ENTRIES.get(name)


def names():
    """Names of the registered estimator classes, sorted."""
    return sorted(_ENTRIES)
