"""Files written whole or not at all, and JSON that holds numpy values.

Shared by the model files (:mod:`.persistence`) and the checkpoints
(:mod:`._torch.checkpoints`), and by the benchmarks' reports.
"""

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


def write_atomically(path, write):
    """Call ``write(stream)`` on a new file in ``path``'s directory, then rename it to ``path``.

    The rename replaces ``path`` in one step: a crash while writing leaves
    the previous file (or none) and no partial one under ``path``. Returns
    ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def json_default(value):
    """``default=`` of :func:`json.dumps` for numpy numbers and arrays and paths.

    Numpy scalars become Python numbers (a training history holds float32
    losses, numpy ints count epochs), arrays lists, paths their text; any
    other object is a ``TypeError``, as without ``default``.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
