"""Import an optional dependency, or say what needs it and how to install it."""

import importlib


def import_optional(module, needed_by, *, install=None, extra=None):
    """Return ``module`` imported, or raise an ``ImportError`` that says how to install it.

    Parameters
    ----------
    module : str
        The module to import.
    needed_by : str
        What needs it, the subject of the message ("read_h5ad", "The Ray scheduler").
    install : str, default=None
        The pip requirement that provides ``module``; by default its name.
    extra : str, default=None
        The sklearn-dgex extra that installs it too.

    Returns
    -------
    module : module

    Raises
    ------
    ImportError
        "<needed_by> needs the optional dependency '<module>': pip install
        <install> (or pip install 'sklearn-dgex[<extra>]')."
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        how = f"pip install {install or module}"
        if extra is not None:
            how += f" (or pip install 'sklearn-dgex[{extra}]')"
        raise ImportError(f"{needed_by} needs the optional dependency {module!r}: {how}.") from exc
