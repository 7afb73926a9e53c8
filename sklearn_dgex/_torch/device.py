"""The one rule that turns a ``device`` setting into the torch device that runs.

The estimators, :mod:`sklearn_dgex.distributed`, loading a saved model and the
benchmarks all resolve a device through :func:`resolve_device`, so a setting
means the same thing wherever it is given. torch is imported only when a
device is resolved, which keeps :mod:`sklearn_dgex.distributed` importable
without it.
"""

import re

DEVICE_FORMS = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"

_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(?::(\d+))?")


def resolve_device(device="auto", *, check_available=True):
    """Return the torch device string that ``device`` names.

    The rules, for every caller:

    - ``"auto"`` is the current CUDA device, as ``"cuda:N"``, when torch sees
      a GPU, else ``"cpu"``. Before CUDA is initialised the current device is
      visible device 0, which cluster tools make the worker's own GPU (dask-cuda
      puts it first in ``CUDA_VISIBLE_DEVICES``, Ray lists only the GPUs it
      assigned); afterwards it is the one chosen with ``torch.cuda.set_device``.
      Naming the index pins the fit to one GPU even if the current device
      changes later. ``"auto"`` never picks ``"mps"``, where torch lacks
      float64 and some of the operators the networks use.
    - ``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are returned unchanged.
    - Anything else (another string, upper case, a number, None) raises
      ``ValueError("device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got ...")``.
    - A device this machine lacks raises a ``ValueError`` that says what torch
      sees: no CUDA device at all, fewer CUDA devices than ``N + 1``, or no MPS
      device. ``check_available=False`` skips this check, for describing a run
      meant for another machine.

    Parameters
    ----------
    device : str, default="auto"
        The setting to resolve.
    check_available : bool, default=True
        Whether to refuse a device that this machine does not have.

    Returns
    -------
    device : str
        A string that ``torch.device`` accepts.

    Raises
    ------
    ValueError
        If ``device`` has none of the forms above, or names a device this
        machine lacks (unless ``check_available=False``).
    """
    match = _DEVICE_PATTERN.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise ValueError(f"device must be {DEVICE_FORMS}; got {device!r}.")
    if device == "cpu" or (device != "auto" and not check_available):
        return device
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        # current_device() would initialise CUDA; before that it is 0 by definition.
        return f"cuda:{torch.cuda.current_device() if torch.cuda.is_initialized() else 0}"
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                "device='mps' was requested, but torch sees no MPS device "
                "(torch.backends.mps.is_available() is False); use device='cpu' or 'auto'."
            )
        return device
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested, but torch sees no CUDA device "
            "(torch.cuda.is_available() is False); use device='cpu' or 'auto'."
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} was requested, but only {torch.cuda.device_count()} "
            "CUDA device(s) are visible."
        )
    return device
