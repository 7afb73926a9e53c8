"""Small data: the ridge-initialised linear shortcut, the "auto" settings and ensemble seeds.

The estimators call into this module from ``fit``: to resolve the "auto"
settings from the data's shape (:func:`resolve_settings`), to draw the seeds of
the ensemble members (:func:`ensemble_seeds`), to fit each member's ridge on its
training rows (:class:`ShortcutRidge`, which also gives the networks' targets
and inputs), to wrap each new network in a
:class:`~sklearn_dgex.nn.shortcut.LinearShortcut` (:meth:`ShortcutRidge.attach`)
and, after training, to give the linear paths the ridge of all rows
(:func:`refit_linear_paths`). The numbers behind every constant below are in the
user guide page "Small data" (``docs/small_data.rst``).
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

from . import _skorch_glue as glue
from ._ridge import CenteredSVD
from .nn.shortcut import LinearShortcut, output_linear

# ----------------------------------------------------------------------------
# One source of truth: when "auto" turns the shortcut on, and the settings then.
# ----------------------------------------------------------------------------
#: ``linear_shortcut="auto"`` is on when ``n_samples <= SHORTCUT_SAMPLES_PER_FEATURE
#: * n_features``: the regime where a tuned ridge beats plain networks.
SHORTCUT_SAMPLES_PER_FEATURE = 2.0
#: ... and there are at least this many samples (leave-one-out ridge and a
#: validation split need a few; scikit-learn's tiny check datasets stay plain).
SHORTCUT_MIN_SAMPLES = 20
#: One alpha for all targets (True: one per target); see the docs for the comparison.
ALPHA_PER_TARGET = False
#: The shortcut is a fixed buffer: the network learns the ridge's residual.
SHORTCUT_TRAINABLE = False
#: Train the networks on the ridge's leave-one-out residuals (False: in-sample residuals).
LOO_TARGETS = True
#: The networks see their inputs whitened in the subspace of the leading principal
#: axes (False: the scaled inputs themselves).
WHITEN_INNER_INPUTS = True
#: Learning rate of the inner network's output layer, relative to ``lr`` and per
#: input of that layer: ``lr * OUTPUT_LR_FACTOR / fan_in``. Adam moves every weight of
#: a zero-initialised output layer by about ``lr`` per step, all in the same
#: direction for features of positive mean (sigmoid, ReLU), which shifts each output
#: by about ``lr * fan_in / 2`` per step; the D-GEX networks' hidden layers then
#: saturate to cancel it. Scaled by ``1 / fan_in`` (as the maximal-update
#: parametrisation scales Adam's output layer), the shift is ``lr * factor / 2``.
OUTPUT_LR_FACTOR = 10.0
#: How the network's contribution starts at zero: "gate" (a per-output factor
#: starting at 0) or "zero_output" (its output layer starts at 0).
SHORTCUT_START = "zero_output"

#: Values of the "auto" training settings without the shortcut: the estimators'
#: historical defaults, so that large-data fits are unchanged.
DEFAULT_MAX_EPOCHS = 50
DEFAULT_BATCH_SIZE = 64
#: With the shortcut (small data): an epoch cap that early stopping cuts short,
#: and batches small enough for several optimizer steps per epoch.
SMALL_DATA_MAX_EPOCHS = 200
SMALL_DATA_MIN_BATCH_SIZE = 8
SMALL_DATA_BATCHES_PER_EPOCH = 32
#: ``n_ensemble="auto"``: members averaged with the shortcut (small data, where a
#: fit takes seconds to minutes and five members more than doubled the networks'
#: gain over ridge) and without it (large data, where one fit is the budget).
SMALL_DATA_ENSEMBLE = 5
DEFAULT_ENSEMBLE = 1


@dataclass(frozen=True)
class Settings:
    """The concrete values of the settings that may be "auto"."""

    linear_shortcut: bool
    early_stopping: bool
    max_epochs: int
    batch_size: int
    n_ensemble: int


def uses_linear_shortcut(setting, n_samples, n_features):
    """Whether ``linear_shortcut=setting`` is on for data of this shape."""
    if setting != "auto":
        return bool(setting)
    return SHORTCUT_MIN_SAMPLES <= n_samples <= SHORTCUT_SAMPLES_PER_FEATURE * n_features


def resolve_settings(params, n_samples, n_features):
    """Concrete :class:`Settings` from the estimator's ``params`` and the data's shape.

    Explicit values are kept as they are; "auto" ones depend on whether the
    shortcut is on (small data) or off (the historical defaults).
    """
    shortcut = uses_linear_shortcut(params["linear_shortcut"], n_samples, n_features)

    def resolved(name, small, large):
        return params[name] if params[name] != "auto" else (small if shortcut else large)

    from ._base import _DEFAULT_VALIDATION_FRACTION  # (a cycle at import time)

    early_stopping = resolved("early_stopping", True, False)
    fraction = params["validation_fraction"]
    if fraction is None and early_stopping:
        fraction = _DEFAULT_VALIDATION_FRACTION
    n_train = n_samples if fraction is None else int(n_samples * (1 - fraction))
    small_batch = max(SMALL_DATA_MIN_BATCH_SIZE, n_train // SMALL_DATA_BATCHES_PER_EPOCH)
    return Settings(
        linear_shortcut=shortcut,
        early_stopping=early_stopping,
        max_epochs=resolved("max_epochs", SMALL_DATA_MAX_EPOCHS, DEFAULT_MAX_EPOCHS),
        batch_size=resolved("batch_size", min(small_batch, DEFAULT_BATCH_SIZE), DEFAULT_BATCH_SIZE),
        n_ensemble=resolved("n_ensemble", SMALL_DATA_ENSEMBLE, DEFAULT_ENSEMBLE),
    )


def ensemble_seeds(random_state, n_members, seeds_per_member):
    """Seeds of each ensemble member, shape (n_members, seeds_per_member).

    Drawn in one call, so member 0 gets exactly the seeds a single model
    would: ``n_ensemble=1`` fits are unchanged by the ensemble option.
    """
    draws = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_members * seeds_per_member
    )
    return draws.reshape(n_members, seeds_per_member)


class ShortcutRidge:
    """The ridge regression behind the linear shortcut of one ensemble member.

    Fitted on the member's training rows in the scaled space, with alpha
    chosen by exact leave-one-out. It also decides what the networks learn
    from and see:

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

    Attributes
    ----------
    Y_fit : ndarray of shape (n_samples, n_targets), float32
        The targets to train the networks on (``Y`` when ``LOO_TARGETS`` is
        False).
    rank_ : int or None
        Principal axes the networks see; None without whitening.
    """

    def __init__(self, X, Y):
        svd = CenteredSVD(X, Y)
        self.fit_ = svd.ridge(alpha_per_target=ALPHA_PER_TARGET)
        self.coef_ = torch.as_tensor(self.fit_.coef, dtype=torch.float32)
        self.intercept_ = torch.as_tensor(self.fit_.intercept, dtype=torch.float32)
        self.rank_, self.input_basis_, self.input_gains_ = self._input_whitening(svd)
        Y_fit = self.loo_targets(X, Y) if LOO_TARGETS else Y
        self.Y_fit = np.asarray(Y_fit, dtype=np.float32)

    @property
    def alpha(self):
        return self.fit_.alpha

    @staticmethod
    def _input_whitening(svd):
        """Rank, basis and gains of the networks' inputs (Nones without whitening).

        Along each kept axis the inputs are scaled to the same variance,
        ``n_features / k``, so that they keep the squared norm of standardised
        inputs and the networks' weight initialisation its usual scale.
        """
        if not WHITEN_INNER_INPUTS:
            return None, None, None
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
            trainable=SHORTCUT_TRAINABLE,
            input_basis=self.input_basis_,
            input_gains=self.input_gains_,
            start=SHORTCUT_START,
        ).to(device)
        # The optimizer must see the wrapped module's parameters.
        net.initialize_optimizer()
        if SHORTCUT_START == "zero_output":
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


def refit_linear_paths(members, column_blocks, X, Y):
    """Give every network's linear path the ridge of all rows ``X``, ``Y`` (scaled).

    Called after training when a validation split was held out of the
    members' ridges: the networks keep what they learned, the linear part
    gains the held-out rows (alpha chosen again by leave-one-out). Without a
    network that beat its ridge on validation data, the model is then
    exactly this ridge. Returns the :class:`~sklearn_dgex._ridge.RidgeFit`.
    """
    fit = CenteredSVD(X, Y).ridge(alpha_per_target=ALPHA_PER_TARGET)
    for nets in members:
        for net, columns in zip(nets, column_blocks, strict=True):
            net.module_.set_linear(fit.coef[:, columns], fit.intercept[columns])
    return fit


#: Elementwise form of each training loss, for the per-sample comparison below.
_ELEMENT_LOSSES = {
    "mse": lambda diff: diff.square(),
    "mae": lambda diff: diff.abs(),
    "huber": lambda diff: torch.where(diff.abs() <= 1, 0.5 * diff.square(), diff.abs() - 0.5),
}


@torch.no_grad()
def keep_networks_that_help(nets, column_blocks, valid, loss):
    """Keep the networks only if they beat their ridge on validation by a standard error.

    After early stopping, ``nets`` (one ensemble member) are compared with
    their own linear paths on the validation rows ``valid`` (scaled
    ``(X, Y)``): ``d_i`` is, for sample ``i``, the ridge's loss minus the
    model's (over all targets). Unless the mean of ``d`` exceeds its standard
    error, the networks' contributions are removed
    (:meth:`~sklearn_dgex.nn.shortcut.LinearShortcut.disable_inner`) and their
    best epoch becomes 0: the one-standard-error rule, which prefers the
    simpler model when the gain is within the noise of a few validation
    samples. Returns whether the networks were kept.
    """
    X_valid, Y_valid = valid
    if len(X_valid) < 2:
        return True
    element_loss = _ELEMENT_LOSSES[loss]
    gains = 0.0
    for net, columns in zip(nets, column_blocks, strict=True):
        module = net.module_
        device = module.weight.device
        X = torch.as_tensor(X_valid, device=device)
        Y = torch.as_tensor(np.ascontiguousarray(Y_valid[:, columns]), device=device)
        was_training = module.training
        module.eval()
        model = module(X)
        module.train(was_training)
        ridge = module.linear(X)
        # NaN targets (allow_nan_targets) count for neither model.
        observed = ~torch.isnan(Y)
        Y = torch.where(observed, Y, 0.0)
        diff = (element_loss(ridge - Y) - element_loss(model - Y)) * observed
        gains = gains + diff.double().sum(dim=1).cpu().numpy()
    gains = gains / sum(len(columns) for columns in column_blocks)
    kept = gains.mean() > gains.std(ddof=1) / np.sqrt(len(gains))
    if not kept:
        for net in nets:
            net.module_.disable_inner()
            stopping = dict(net.callbacks_).get("early_stopping")
            if stopping is not None:
                stopping.best_epoch_ = 0
    return bool(kept)
