"""Small data: the ridge-initialised linear shortcut, the "auto" settings and ensemble seeds.

The estimators call into this module at three places of ``fit``: to resolve
the "auto" settings from the data's shape (:func:`resolve_settings`), to fit
the ridge regression behind the shortcut (:class:`ShortcutRidge`) and to wrap
each new network in a :class:`~sklearn_dgex.nn.shortcut.LinearShortcut`
(:meth:`ShortcutRidge.attach`). The numbers behind every constant below are in
the user guide page "Small data" (``docs/small_data.rst``).
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

from . import _skorch_glue as glue
from ._ridge import ridge_loo
from .nn.shortcut import LinearShortcut

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

#: Values of the "auto" training settings without the shortcut: the estimators'
#: historical defaults, so that large-data fits are unchanged.
DEFAULT_MAX_EPOCHS = 50
DEFAULT_BATCH_SIZE = 64
#: With the shortcut (small data): an epoch cap that early stopping cuts short,
#: and batches small enough for several optimizer steps per epoch.
SMALL_DATA_MAX_EPOCHS = 200
SMALL_DATA_MIN_BATCH_SIZE = 8
SMALL_DATA_BATCHES_PER_EPOCH = 8


@dataclass(frozen=True)
class Settings:
    """The concrete values of the settings that may be "auto"."""

    linear_shortcut: bool
    early_stopping: bool
    max_epochs: int
    batch_size: int


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

    early_stopping = resolved("early_stopping", True, False)
    n_train = n_samples
    if early_stopping and params["validation_fraction"] is not None:
        n_train = int(n_samples * (1 - params["validation_fraction"]))
    small_batch = max(SMALL_DATA_MIN_BATCH_SIZE, n_train // SMALL_DATA_BATCHES_PER_EPOCH)
    return Settings(
        linear_shortcut=shortcut,
        early_stopping=early_stopping,
        max_epochs=resolved("max_epochs", SMALL_DATA_MAX_EPOCHS, DEFAULT_MAX_EPOCHS),
        batch_size=resolved("batch_size", min(small_batch, DEFAULT_BATCH_SIZE), DEFAULT_BATCH_SIZE),
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
    """The ridge regression behind the linear shortcut, in the estimator's scaled space.

    Fitted on all rows given to ``fit`` (a validation split included), with
    alpha chosen by exact leave-one-out (:func:`~sklearn_dgex._ridge.ridge_loo`).
    The networks are then trained on the ridge's leave-one-out residuals,
    the errors it makes on samples it has not seen (:meth:`loo_targets`):
    in-sample residuals of a ridge with more features than samples are
    shrunk towards zero and would teach the network the wrong residual, and
    a validation split judged against in-sample predictions would always
    prefer the ridge.

    Parameters
    ----------
    X, Y : ndarray
        Scaled inputs and targets of all rows given to ``fit``.
    target_mean, target_scale : ndarray of shape (n_targets,)
        The target scaling, to express :attr:`Y_fit` in original units.

    Attributes
    ----------
    Y_fit : ndarray of shape (n_samples, n_targets)
        The targets to train the networks on, in original units: the ridge's
        in-sample predictions plus its leave-one-out residuals
        (:meth:`loo_targets`); with ``LOO_TARGETS = False``, ``Y`` itself.
    """

    def __init__(self, X, Y, *, target_mean, target_scale):
        self.fit_ = ridge_loo(X, Y, alpha_per_target=ALPHA_PER_TARGET)
        self.coef_ = torch.as_tensor(self.fit_.coef, dtype=torch.float32)
        self.intercept_ = torch.as_tensor(self.fit_.intercept, dtype=torch.float32)
        Y_fit = self.loo_targets(X, Y) if LOO_TARGETS else np.asarray(Y, dtype=np.float64)
        self.Y_fit = Y_fit * target_scale + target_mean

    @property
    def alpha(self):
        return self.fit_.alpha

    def loo_targets(self, X, Y):
        """``Y`` with each row's residual replaced by its leave-one-out residual.

        The model ``ridge(x) + network(x)`` fits these targets exactly when the
        network predicts the leave-one-out residual, so the network learns
        what the ridge misses on unseen samples.
        """
        Y = np.asarray(Y, dtype=np.float64)
        return self.fit_.predict(X) + (Y - self.fit_.loo_predict(X, Y))

    def attach(self, net, columns, seed, device):
        """Initialise ``net`` and wrap its module in a shortcut for targets ``columns``."""
        with glue.seeded_torch(seed, device):
            net.initialize()
        inner = net.module_
        net.module_ = LinearShortcut(
            inner,
            self.coef_.shape[0],
            len(columns),
            weight=self.coef_[:, columns],
            bias=self.intercept_[columns],
            trainable=SHORTCUT_TRAINABLE,
        ).to(device)
        # The optimizer must see the wrapped module's parameters.
        net.initialize_optimizer()
        return net
