"""Reliability of the estimators' ``fit``: input checks, all-or-nothing fits, out-of-memory advice.

Private module of the estimators (see :mod:`sklearn_dgex._base`):

- :func:`check_real_numbers`, :func:`validate_allowing_nan_targets`,
  :func:`check_enough_samples`: errors that name the argument and say what was
  expected, where scikit-learn's own messages do not;
- :func:`fit_transaction`: a failed ``fit`` leaves the estimator as it was
  (a fitted model stays usable; a warm start's networks get their weights,
  optimizer state and history back), and a successful one leaves its nets
  without training-time callback state;
- :func:`refuse_if_too_large` and :func:`explain_out_of_memory`: a training
  too large for the device is refused before it starts, and an out-of-memory
  error during training becomes one with the memory estimate of
  :mod:`sklearn_dgex.nn.memory` and a batch size that fits;
- :func:`check_warm_start` and :func:`continue_with_settings`: a
  ``warm_start`` fit trains the fitted networks with the current optimizer
  settings, and refuses parameters that would build other networks.

The functions get the values of the fit's plan (:mod:`sklearn_dgex._fit.plan`) and
the estimator's parameters, never the estimator's private state.
"""

import functools

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

from ._torch import callbacks as _callbacks
from ._torch import checkpoints as _checkpoints
from ._torch import net as glue
from .nn import memory

_FLOAT_DTYPES = (np.float64, np.float32)
_MAX_NAMES_SHOWN = 5
# Messages of torch's allocators when memory runs out (CUDA raises torch.OutOfMemoryError).
_OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory", "not enough memory")


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------
def _shown(names):
    names = [str(name) for name in names]
    shown = ", ".join(repr(name) for name in names[:_MAX_NAMES_SHOWN])
    more = len(names) - _MAX_NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _is_complex_dtype(dtype):
    return getattr(dtype, "kind", None) == "c"


def _non_numeric_columns(frame):
    """Columns of a DataFrame that cannot be read as real numbers."""
    import pandas as pd  # only DataFrames get here, so pandas is installed

    bad = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or (
            pd.api.types.is_numeric_dtype(column) and not _is_complex_dtype(column.dtype)
        ):
            continue
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            converted = pd.to_numeric(column, errors="coerce")
            if not (converted.isna() & column.notna()).any():
                continue  # numbers stored as objects or text convert fine
        bad.append(name)
    return bad


def check_real_numbers(value, name):
    """Raise a clear error unless ``value`` holds real numbers in a dense array.

    scikit-learn's own checks say "could not convert string to float" or
    "Complex data not supported" followed by the whole array, without saying
    which argument was wrong; these messages name it. ``X``'s sparse check is
    left to scikit-learn, whose message names ``X``.
    """
    if value is None:
        return
    if scipy.sparse.issparse(value):
        if name != "X":
            raise TypeError(
                f"Sparse data was passed for {name}, but dense data is required. "
                "Use '.toarray()' to convert to a dense numpy array."
            )
        return
    if hasattr(value, "columns") and hasattr(value, "dtypes"):  # a DataFrame
        repeated = value.columns[value.columns.duplicated()].unique()
        if len(repeated):
            raise ValueError(
                f"{name} has repeated column names {_shown(repeated)}; each column must be "
                "one feature (or target). Aggregate or rename the repeated columns."
            )
        complex_columns = [c for c, d in zip(value.columns, value.dtypes) if _is_complex_dtype(d)]
        if complex_columns:
            raise ValueError(
                f"Complex data not supported: {name} must hold real numbers, but its columns "
                f"{_shown(complex_columns)} hold complex numbers."
            )
        bad = _non_numeric_columns(value)
        if bad:
            raise ValueError(
                f"{name} must hold numbers (e.g. log2 expression), but its columns "
                f"{_shown(bad)} hold non-numeric values. Drop identifier columns such as "
                "gene symbols, or make them the index."
            )
        return
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(value).dtype
        except (ValueError, TypeError):
            return  # ragged nested lists: scikit-learn's message is clear
    if dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} must hold real numbers, but it holds "
            f"complex numbers (dtype {dtype})."
        )
    if dtype.kind in "OSU":
        try:
            np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as exc:  # the same type as numpy's, worded for users
            raise type(exc)(
                f"{name} must hold numbers (e.g. log2 expression), but it holds values that "
                f"are not numbers: {exc}."
            ) from exc


def check_has_targets(y, name):
    """A ``y`` of zero columns is an error about targets, not about "0 feature(s)"."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.shape(y)
        except (ValueError, TypeError):  # ragged lists, array-likes without shape: left to
            return  # scikit-learn's validation, whose message is clear
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(f"{name} has no target columns (shape {tuple(shape)}); give at least one.")


def check_batch_norm_batches(batch_norm, n_train, batch_size):
    """Batch normalisation trains on batches of at least two rows."""
    if batch_norm and min(n_train, batch_size) < 2:
        raise ValueError(
            f"batch_norm=True needs training batches of at least 2 rows, but batch_size="
            f"{batch_size} and {n_train} training row(s) give batches of one row; use a "
            "larger batch_size, more samples or batch_norm=False."
        )


def validate_allowing_nan_targets(estimator, X, y, reset):
    """``validate_data`` for ``allow_nan_targets=True``: NaN allowed in ``y`` only.

    Infinite targets stay errors, and every target must be observed in at
    least one sample (its scaling statistics and its loss need one).
    """
    if y is None:
        raise ValueError(
            f"This {type(estimator).__name__} estimator requires y to be passed, "
            "but the target y is None."
        )
    X = validate_data(estimator, X, reset=reset, dtype=_FLOAT_DTYPES)
    y = check_array(
        y,
        ensure_2d=False,
        dtype=_FLOAT_DTYPES,
        ensure_all_finite="allow-nan",
        input_name="y",
        estimator=estimator,
    )
    check_consistent_length(X, y)
    missing = np.isnan(y.reshape(len(y), -1)).all(axis=0)
    if missing.any():
        raise ValueError(
            f"allow_nan_targets=True, but y has target column(s) {_shown(np.flatnonzero(missing))} "
            "without any observed (non-NaN) value; drop them before fitting."
        )
    return X, y


def check_enough_samples(name, n_samples):
    """A network needs two samples: one gives no scale to standardise by, nor a batch."""
    if n_samples < 2:
        raise ValueError(
            f"{name} needs at least 2 samples to fit, got "
            f"n_samples={n_samples}: scaling statistics and training batches need more than "
            "one sample."
        )


# --------------------------------------------------------------------------
# All-or-nothing fit
# --------------------------------------------------------------------------
class _FittedState:
    """What ``fit`` may change, saved to put back if it fails.

    Every attribute that is not a parameter, and, for a warm start that trains
    the fitted networks in place, their settings (learning rate, optimizer,
    loss), weights, optimizer state and history length (copied to the CPU, so
    a GPU's memory is not doubled).
    """

    def __init__(self, estimator):
        params = estimator.get_params(deep=False)
        self.attributes = {k: v for k, v in vars(estimator).items() if k not in params}
        self.nets = []
        if estimator.warm_start and hasattr(estimator, "nets_"):
            self.nets = [
                (
                    net,
                    dict(vars(net)),
                    set(net._params_to_validate),
                    _checkpoints._cpu_tree(net.module_.state_dict()),
                    _checkpoints._cpu_tree(net.optimizer_.state_dict()),
                    len(net.history),
                )
                for net in fitted_nets(estimator)
            ]

    def restore(self, estimator):
        params = estimator.get_params(deep=False)
        for name in [k for k in vars(estimator) if k not in params and k not in self.attributes]:
            delattr(estimator, name)
        vars(estimator).update(self.attributes)
        for net, settings, validated, module_state, optimizer_state, n_epochs in self.nets:
            vars(net).clear()
            vars(net).update(settings)  # the optimizer and loss objects of before, too
            net._params_to_validate = validated
            net.module_.load_state_dict(module_state)
            net.optimizer_.load_state_dict(optimizer_state)
            del net.history[n_epochs:]
            _callbacks.forget_training_state(net)


def fit_transaction(fit):
    """Decorate ``fit`` so that a failure leaves the estimator as it was."""

    @functools.wraps(fit)
    def transactional_fit(self, X, y, *args, **kwargs):
        saved = _FittedState(self)
        try:
            fitted = fit(self, X, y, *args, **kwargs)
        except BaseException:
            saved.restore(self)
            raise
        for net in fitted_nets(self):
            _callbacks.forget_training_state(net)
        return fitted

    return transactional_fit


def fitted_nets(estimator):
    """Every skorch net held by the estimator's fitted attributes, once each."""
    found = {}

    def visit(value):
        if isinstance(value, glue.InMemoryNet):
            found.setdefault(id(value), value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("__"):
            visit(value)
    return list(found.values())


# --------------------------------------------------------------------------
# Out of memory
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------
def check_warm_start(name, params, fitted_nets, fitted_linear_shortcut, networks, parameter_of):
    """Refuse a ``warm_start`` fit whose parameters would build other networks.

    A warm start trains the fitted networks further, so everything that
    defines them must stay: their number (``n_target_splits``, ``n_ensemble``,
    checked with the settings), the linear shortcut, and every argument of
    their modules (sizes, width, architecture, activations, dropout,
    normalisation). ``params`` are the estimator's parameters,
    ``fitted_nets`` the nets of its first member, ``networks`` the plan's
    networks of the current parameters, and ``parameter_of`` names the
    parameter behind a module argument, so that each difference is named with
    the parameter a user would change.
    """
    if len(fitted_nets) != params["n_target_splits"]:
        _refuse(name, f"n_target_splits={params['n_target_splits']}", f"{len(fitted_nets)}")
    shortcut = params["linear_shortcut"]
    if shortcut != "auto" and bool(shortcut) != bool(fitted_linear_shortcut):
        _refuse(name, f"linear_shortcut={shortcut}", f"{fitted_linear_shortcut}")
    for net, network in zip(fitted_nets, networks, strict=True):
        if network.module is not net.module:
            _refuse(name, f"a {network.module.__name__} network", f"{net.module.__name__} networks")
        then = net.get_params_for("module")
        now = {"n_in": network.n_in, "n_out": network.n_out, **network.module_kwargs}
        for key in sorted(set(then) | set(now)):
            if _canonical(then.get(key)) != _canonical(now.get(key)):
                parameter = parameter_of(key)
                value = params.get(parameter)
                setting = f"{parameter}={value!r}"
                if _canonical(value) != _canonical(now.get(key)):
                    setting += f" (networks with {key}={now.get(key)!r})"
                _refuse(name, setting, f"{key}={then.get(key)!r}")


def _canonical(value):
    return _checkpoints.canonical_value(value)


def _refuse(name, now, fitted):
    raise ValueError(
        f"warm_start=True continues the fitted networks of this {name}, but {now} would build "
        f"other networks than the fitted ones ({fitted}). Set it back, or set "
        "warm_start=False to fit anew."
    )


def continue_with_settings(net, fresh):
    """Give a fitted net the training settings of ``fresh``, keeping its weights.

    ``fresh`` is an uninitialised net of the estimator's current parameters:
    its learning rate, batch size, loss and optimizer settings take effect,
    as a new learning rate does in scikit-learn's ``MLPRegressor``. The
    optimizer keeps its running moments unless its kind changes, which
    starts a new optimizer; a learning-rate schedule restarts from the new
    learning rate at the epoch reached.
    """
    prefixes = ("optimizer__", "criterion__")
    criterion_then = (net.criterion, net.get_params_for("criterion"))
    optimizer_then = net.optimizer
    for key in [key for key in vars(net) if key.startswith(prefixes)]:
        delattr(net, key)
        net._params_to_validate.discard(key)
    for key in [key for key in vars(fresh) if key.startswith(prefixes)]:
        setattr(net, key, getattr(fresh, key))
        net._params_to_validate.add(key)
    net.lr, net.batch_size = fresh.lr, fresh.batch_size
    net.criterion, net.optimizer = fresh.criterion, fresh.optimizer
    if (net.criterion, net.get_params_for("criterion")) != criterion_then:
        net.initialize_criterion()
    if net.optimizer is not optimizer_then:
        net.initialize_optimizer()
    settings = net.get_params_for("optimizer")
    for group in net.optimizer_.param_groups:
        group.update({key: value for key, value in settings.items() if key in group})
        group["lr"] = group["initial_lr"] = net.lr
