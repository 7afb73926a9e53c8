"""A training too large for the device is refused before it starts, with advice.

Private module of the estimators (see :mod:`sklearn_dgex._base`):
:func:`refuse_if_too_large` refuses before any network is built, and
:func:`explain_out_of_memory` turns an out-of-memory error during training
into one with the memory estimate of :mod:`sklearn_dgex.nn.memory` and a
batch size that fits. The functions get the values of the fit's plan
(:mod:`sklearn_dgex._fit.plan`), never the estimator.
"""

import torch

from ..nn import memory

# Messages of torch's allocators when memory runs out (CUDA raises torch.OutOfMemoryError).
_OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory", "not enough memory")


class TrainingOutOfMemoryError(torch.OutOfMemoryError, MemoryError):
    """Out of memory during training, with the estimate and a batch size that fits.

    Both a ``torch.OutOfMemoryError`` (a ``RuntimeError``) and a
    ``MemoryError``, so that either ``except`` clause catches it.
    """


def is_out_of_memory(exc):
    """Whether ``exc`` is torch running out of memory (CUDA or CPU)."""
    if isinstance(exc, TrainingOutOfMemoryError):
        return False  # already explained
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(
        text in str(exc).lower() for text in _OUT_OF_MEMORY_MESSAGES
    )


def network_on_meta(network):
    """The module of a planned network (:mod:`._fit.plan`), built on the meta device (no memory)."""
    with torch.device("meta"):
        return network.module(n_in=network.n_in, n_out=network.n_out, **network.module_kwargs)


# The estimators' settings that shrink a training, named in the advice.
_REMEDIES = {
    "smaller_network": "a smaller network (width, param_budget, hidden_layer_sizes), more "
    "networks of fewer targets (n_target_splits)",
    "other_remedy": "use precision='bf16' or more n_target_splits",
}


def memory_report(network, batch_size, optimizer, precision, device, data_bytes, momentum=0.0):
    """The memory report of training ``network`` beside ``data_bytes`` of training data."""
    options = {"momentum": momentum} if optimizer in ("sgd", "rmsprop") else {}
    return memory._TrainingMemoryReport(
        network_on_meta(network),
        batch_size,
        optimizer,
        precision,
        device=device,
        data_bytes=data_bytes,
        **options,
    )


def refuse_if_too_large(name, report):
    """Raise :class:`TrainingOutOfMemoryError` before training when it cannot fit.

    ``report`` is the :func:`memory_report` of the fit's widest network at the
    fit's batch size, with its float32 training data on the device, compared
    with the device's usable memory, so that a configuration far too large for
    the device is refused in milliseconds, before any of it is allocated. The
    estimate leaves out allocator overhead, so it refuses only what cannot fit;
    what fits by a thin margin may still run out, and is then explained by
    :func:`explain_out_of_memory`.
    """
    if report.fits:
        return report.estimate
    raise TrainingOutOfMemoryError(
        f"{name} would run out of memory: " + report.describe("training one network", **_REMEDIES)
    )


def explain_out_of_memory(exc, name, report, batch_size, precision):
    """A :class:`TrainingOutOfMemoryError` for ``exc`` with the estimate and advice.

    ``report`` is a callable that returns the :func:`memory_report`; any
    failure of it is mentioned, never raised over the original error.
    """
    try:
        summary = report().describe("training one network", **_REMEDIES)
    except Exception as failure:  # the advice must never hide the original error
        summary = f"(no memory estimate: {type(failure).__name__}: {failure})"
    return TrainingOutOfMemoryError(
        f"{name} ran out of memory while training "
        f"(batch_size={batch_size}, precision={precision!r}): {summary}\n"
        f"Original error: {exc}"
    )
