"""The linear path of the networks, which keeps every fit at least as good as a tuned ridge.

- on small data, the *shortcut*: each member's ridge on its training rows
  (:class:`ShortcutRidge`, which also gives the networks' targets and inputs)
  wraps each new network in a :class:`~sklearn_dgex.nn.shortcut.LinearShortcut`
  (:meth:`ShortcutRidge.attach`), so that the networks learn what the ridge
  misses;
- on larger data, the *fallback*: plain networks train as the studies train
  them, and a member whose networks do not beat the ridge of its training rows
  on its validation rows becomes that ridge (:func:`fall_back_unless_networks_help`);
- in both, after training, the linear paths become the ridge of all rows
  (:func:`refit_linear_paths`).

When "auto" turns the shortcut on is decided with the other settings
(:mod:`sklearn_dgex._fit.settings`); the numbers behind it are in the user
guide page "Small data" (``docs/small_data.rst``).
"""

import numpy as np
import torch

from .._torch import net as glue
from ..nn.shortcut import LinearShortcut, output_linear
from .ridge import best_input_scaling_ridge
from .settings import OUTPUT_LR_FACTOR


def input_scalings(X, raw_scale, standardized):
    """Candidate column scalings of the linear path, for inputs ``X`` as the networks see them.

    ``X * scalings["raw"]`` are the centred raw inputs and ``X *
    scalings["standardized"]`` the standardised ones; one of them is ``X``
    itself (all ones), depending on whether the estimator ``standardized``
    its inputs (by ``raw_scale``).
    """
    ones = np.ones(X.shape[1])
    if standardized:
        return {"standardized": ones, "raw": np.asarray(raw_scale, dtype=np.float64)}
    std = np.asarray(X, dtype=np.float64).std(axis=0)
    return {"raw": ones, "standardized": 1.0 / np.where(std > 0, std, 1.0)}


def fit_linear_path(X, Y, scalings):
    """The ridge of ``X``, ``Y`` over both input scalings and all alphas, by exact LOO.

    Returns the :class:`~sklearn_dgex._fit.ridge.RidgeFit` (coefficients for ``X``
    as given) and the SVD of ``X`` as given (the all-ones candidate).
    """
    fit, svds = best_input_scaling_ridge(X, Y, scalings)
    given = next(name for name, scales in scalings.items() if np.all(scales == 1.0))
    return fit, svds[given]


class ShortcutRidge:
    """The ridge regression behind the linear shortcut of one ensemble member.

    Fitted on the member's training rows, with the input scaling (centred raw
    or standardised) and alpha chosen by exact leave-one-out
    (:func:`fit_linear_path`). It also decides what the networks learn from
    and see:

    - their targets are the ridge's in-sample predictions plus its
      leave-one-out residuals (:attr:`Y_fit`): the model ``ridge(x) +
      network(x)`` fits them when the network predicts the error the ridge
      makes on samples it has not seen. In-sample residuals of a ridge with
      more features than samples are shrunk towards zero and teach a damped
      residual;
    - their inputs are whitened in the subspace of the leading principal axes
      of the training inputs (:meth:`_input_whitening`), as many as principal
      component regression keeps by leave-one-out: the landmarks of expression
      data are noisy read-outs of a few programs, and a network fed all of
      them from a few hundred profiles fits the noise first.

    The validation rows stay out of this ridge, so that early stopping judges
    the shortcut and the networks on data none of them has seen; afterwards
    :func:`refit_linear_paths` replaces the linear paths by a ridge of all
    the rows.

    Parameters
    ----------
    X, Y : ndarray
        Scaled inputs and targets of the training rows (no NaN).
    scalings : dict
        Candidate input scalings (:func:`input_scalings`).

    Attributes
    ----------
    Y_fit : ndarray of shape (n_samples, n_targets), float32
        The targets to train the networks on.
    rank_ : int
        Principal axes the networks see.
    """

    def __init__(self, X, Y, scalings):
        self.fit_, svd = fit_linear_path(X, Y, scalings)
        self.coef_ = torch.as_tensor(self.fit_.coef, dtype=torch.float32)
        self.intercept_ = torch.as_tensor(self.fit_.intercept, dtype=torch.float32)
        self.rank_, self.input_basis_, self.input_gains_ = self._input_whitening(svd)
        self.Y_fit = np.asarray(self.loo_targets(X, Y), dtype=np.float32)

    @property
    def alpha(self):
        return self.fit_.alpha

    @staticmethod
    def _input_whitening(svd):
        """Rank, basis and gains of the networks' inputs.

        Along each kept axis the inputs are scaled to the same variance,
        ``n_features / k``, so that they keep the squared norm of standardised
        inputs and the networks' weight initialisation its usual scale.
        """
        k = max(svd.pcr_rank(), 1)
        n_features = svd.Vt.shape[1]
        gains = np.sqrt(svd.n_samples * n_features / k) / svd.s[:k]
        basis = torch.as_tensor(svd.Vt[:k].T, dtype=torch.float32)
        return k, basis, torch.as_tensor(gains, dtype=torch.float32)

    def loo_targets(self, X, Y):
        """``Y`` with each row's residual replaced by its leave-one-out residual."""
        return self.fit_.predict(X) + (Y - self.fit_.loo_predict(X, Y))

    def attach(self, net, columns, seed, device):
        """Initialise ``net`` and wrap its module in a shortcut for targets ``columns``."""
        with glue.seeded_torch(seed, device):
            net.initialize()
        net.module_ = LinearShortcut(
            net.module_,
            self.coef_.shape[0],
            len(columns),
            weight=self.coef_[:, columns],
            bias=self.intercept_[columns],
            input_basis=self.input_basis_,
            input_gains=self.input_gains_,
        ).to(device)
        # The optimizer must see the wrapped module's parameters.
        net.initialize_optimizer()
        _scale_output_layer_lr(net.optimizer_, output_linear(net.module_.inner))
        return net


def _scale_output_layer_lr(optimizer, layer):
    """Give the zero-initialised output layer its own, smaller learning rate.

    (Why: see OUTPUT_LR_FACTOR.) The layer's parameters move from the first
    parameter group, whose learning rate the history records, to a group of
    their own; schedules scale both groups alike.
    """
    factor = OUTPUT_LR_FACTOR / layer.in_features
    if factor == 1.0:
        return
    moved = {id(p) for p in layer.parameters()}
    first = optimizer.param_groups[0]
    first["params"] = [p for p in first["params"] if id(p) not in moved]
    optimizer.add_param_group({"params": list(layer.parameters()), "lr": first["lr"] * factor})


def refit_linear_paths(members, column_blocks, X, Y, scalings):
    """Give every linear path the ridge of all rows ``X``, ``Y`` (scaled).

    Called after training when a validation split was held out of the
    members' ridges: the networks keep what they learned, the linear part
    gains the held-out rows (input scaling and alpha chosen again by
    leave-one-out). A member without a network that beat its ridge on
    validation data is then exactly this ridge. Networks without a linear
    path (kept by the fallback) are left alone. Returns the
    :class:`~sklearn_dgex._fit.ridge.RidgeFit`.
    """
    fit, _ = fit_linear_path(X, Y, scalings)
    for nets in members:
        for net, columns in zip(nets, column_blocks, strict=True):
            if isinstance(net.module_, LinearShortcut):
                net.module_.set_linear(fit.coef[:, columns], fit.intercept[columns])
    return fit


#: Elementwise form of each training loss, for the per-sample comparison below.
_ELEMENT_LOSSES = {
    "mse": lambda diff: diff.square(),
    "mae": lambda diff: diff.abs(),
    "huber": lambda diff: torch.where(diff.abs() <= 1, 0.5 * diff.square(), diff.abs() - 0.5),
}


def _helps_by_a_standard_error(model_and_linear, Y_valid, column_blocks, loss):
    """Whether a model beats its linear path on validation rows by a standard error.

    ``model_and_linear`` gives, for each block of target ``column_blocks``,
    the model's and the linear path's predictions of the validation rows.
    ``d_i`` is, for sample ``i``, the linear path's loss minus the model's
    (over all targets); the model helps when the mean of ``d`` exceeds its
    standard error: the one-standard-error rule, which prefers the simpler
    model when the gain is within the noise of a few validation samples.
    """
    element_loss = _ELEMENT_LOSSES[loss]
    gains = 0.0
    for (model, linear), columns in zip(model_and_linear, column_blocks, strict=True):
        Y = torch.as_tensor(np.ascontiguousarray(Y_valid[:, columns]), device=model.device)
        # NaN targets (allow_nan_targets) count for neither model.
        observed = ~torch.isnan(Y)
        Y = torch.where(observed, Y, 0.0)
        diff = (element_loss(linear - Y) - element_loss(model - Y)) * observed
        gains = gains + diff.double().sum(dim=1).cpu().numpy()
    gains = gains / sum(len(columns) for columns in column_blocks)
    return bool(gains.mean() > gains.std(ddof=1) / np.sqrt(len(gains)))


def _eval_outputs(module, X):
    was_training = module.training
    module.eval()
    try:
        return module(X)
    finally:
        module.train(was_training)


def _mark_as_linear(net):
    """The model of ``net`` is its linear path: its best epoch is the initial one."""
    stopping = dict(net.callbacks_).get("early_stopping")
    if stopping is not None:
        stopping.best_epoch_ = 0


@torch.no_grad()
def keep_networks_that_help(nets, column_blocks, valid, loss):
    """Keep the networks only if they beat their ridge on validation by a standard error.

    After early stopping, ``nets`` (one ensemble member, each wrapped in its
    shortcut) are compared with their own linear paths on the validation
    rows ``valid`` (scaled ``(X, Y)``) by the one-standard-error rule. Unless
    they help, the networks' contributions are removed
    (:meth:`~sklearn_dgex.nn.shortcut.LinearShortcut.disable_inner`) and their
    best epoch becomes 0. Returns whether the networks were kept.
    """
    X_valid, Y_valid = valid
    if len(X_valid) < 2:
        return True
    outputs = []
    for net in nets:
        X = torch.as_tensor(X_valid, device=net.module_.weight.device)
        outputs.append((_eval_outputs(net.module_, X), net.module_.linear(X)))
    kept = _helps_by_a_standard_error(outputs, Y_valid, column_blocks, loss)
    if not kept:
        for net in nets:
            net.module_.disable_inner()
            _mark_as_linear(net)
    return kept


@torch.no_grad()
def fall_back_unless_networks_help(nets, column_blocks, train, valid, loss, scalings):
    """Replace plain networks by the ridge of ``train`` unless they beat it on ``valid``.

    The large-data counterpart of the shortcut: ``nets`` (one ensemble member)
    trained without a linear path, as the studies train them. They are
    compared, by the one-standard-error rule, with the ridge of the member's
    training rows (input scaling and alpha by exact LOO) on its validation
    rows. Unless they help, each network is wrapped in a
    :class:`~sklearn_dgex.nn.shortcut.LinearShortcut` holding that ridge, with
    the network's contribution removed: the member predicts exactly the
    ridge, whose linear path :func:`refit_linear_paths` then fits to all rows.
    Returns whether the networks were kept.
    """
    X_valid, Y_valid = valid
    if len(X_valid) < 2:
        return True
    fit, _ = fit_linear_path(*train, scalings)
    coef = torch.as_tensor(fit.coef, dtype=torch.float32)
    intercept = torch.as_tensor(fit.intercept, dtype=torch.float32)
    outputs = []
    for net, columns in zip(nets, column_blocks, strict=True):
        device = next(net.module_.parameters()).device
        X = torch.as_tensor(X_valid, device=device)
        linear = torch.addmm(intercept[columns].to(device), X, coef[:, columns].to(device))
        outputs.append((_eval_outputs(net.module_, X), linear))
    if _helps_by_a_standard_error(outputs, Y_valid, column_blocks, loss):
        return True
    for net, columns in zip(nets, column_blocks, strict=True):
        device = next(net.module_.parameters()).device
        wrapped = LinearShortcut(
            net.module_,
            coef.shape[0],
            len(columns),
            weight=coef[:, columns],
            bias=intercept[columns],
        )
        wrapped.disable_inner()
        net.module_ = wrapped.to(device)
        _mark_as_linear(net)
    return False
