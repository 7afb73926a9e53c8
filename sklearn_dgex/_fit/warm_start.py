"""Warm starts: the fitted networks train on with the current optimizer settings.

Private module of the estimators (see :mod:`sklearn_dgex._base`):
:func:`check_warm_start` refuses parameters that would build other networks,
and :func:`continue_with_settings` hands the current optimizer settings to a
fitted net.
"""

from .._torch import checkpoints as _checkpoints


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
