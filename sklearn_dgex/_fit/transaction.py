"""All-or-nothing fits: a failed ``fit`` leaves the estimator as it was.

Private module of the estimators (see :mod:`sklearn_dgex._base`):
:func:`fit_transaction` keeps a fitted model usable after a failed ``fit``
(a warm start's networks get their weights, optimizer state and history
back), and leaves the nets of a successful one without training-time
callback state.
"""

import functools

from .._torch import callbacks as _callbacks
from .._torch import checkpoints as _checkpoints
from .._torch import net as glue


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
