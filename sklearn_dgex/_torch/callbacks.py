"""Callbacks of the skorch nets beyond skorch's own.

Private module of the estimators (see :mod:`sklearn_dgex._base`):

- :class:`RecordLearningRate`, :class:`ProgressLine`: the learning rate of
  each epoch in the history, and the per-epoch progress line;
- :class:`OriginalUnitErrors`: validation errors in the targets' original
  units;
- :class:`BestWeightsEarlyStopping`: early stopping that restores the best
  weights;
- :class:`MaskedOriginalUnitErrors`: the validation errors over the observed
  targets only (``allow_nan_targets=True``; the training loss is
  :class:`~sklearn_dgex._torch.losses.MaskedLoss`);
- :class:`NonFiniteGuard`: stops a diverging fit with a clear error, or
  restores the weights of the last finite epoch (``on_nonfinite``);
- :func:`forget_training_state`: a trained net keeps no callback state, so
  that nothing device-bound escapes skorch's device-mapped pickling.

The checkpoints are in :mod:`sklearn_dgex._torch.checkpoints`.
"""

import math
import sys
import warnings

import torch
from skorch.callbacks import Callback, EarlyStopping

# persistence resolves a loaded model's device through this name.


# --------------------------------------------------------------------------
# Learning rate, errors in original units, early stopping, progress
# --------------------------------------------------------------------------
class RecordLearningRate(Callback):
    """Write the learning rate used in each epoch to the history as ``lr``."""

    def on_epoch_begin(self, net, **kwargs):
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])


class OriginalUnitErrors(Callback):
    """Validation MMAE and RMSE in the targets' original units.

    Computed from the predictions of skorch's own validation pass (no second
    forward pass), with sums kept on the device and read once per epoch.
    ``target_scale`` holds the per-gene factors that undo target scaling.

    MMAE is the mean over samples of each sample's mean absolute error over genes;
    since every sample has the same genes, it equals the mean absolute error over
    all entries. RMSE is the root of the mean squared error over all entries.
    """

    def __init__(self, target_scale):
        self.target_scale = target_scale

    def on_train_begin(self, net, **kwargs):
        self.scale_ = torch.as_tensor(self.target_scale, device=net.device)

    def on_epoch_begin(self, net, **kwargs):
        self.sums_ = None
        self.count_ = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            return
        diff = (y_pred.float() - batch[1]) * self.scale_
        sums = torch.stack([diff.abs().sum(), diff.square().sum()]).double()
        self.sums_ = sums if self.sums_ is None else self.sums_ + sums
        self.count_ += diff.numel()

    def on_epoch_end(self, net, **kwargs):
        if self.sums_ is None:
            return
        abs_sum, sq_sum = self.sums_.tolist()
        net.history.record("valid_mmae", abs_sum / self.count_)
        net.history.record("valid_rmse", math.sqrt(sq_sum / self.count_))


class BestWeightsEarlyStopping(EarlyStopping):
    """Early stopping with scikit-learn's semantics, restoring the best weights.

    Training stops after ``patience`` consecutive epochs in which the monitored
    score did not fall below ``best - threshold`` (as in ``MLPRegressor``); the
    weights of the last epoch that did are restored at the end (the epoch with
    the lowest score, up to ``threshold``).

    The weights before the first epoch compete too (their ``valid_loss`` is
    measured when training begins, when the net has a validation set): a
    network that starts from a good model, such as the ridge-initialised
    linear shortcut, ends at least as good as that start on the validation
    data, with ``best_epoch_`` the epoch before training (0 for a new fit).
    """

    def __init__(self, monitor="valid_loss", patience=10, threshold=1e-4):
        super().__init__(
            monitor=monitor,
            patience=patience,
            threshold=threshold,
            threshold_mode="abs",
            load_best=True,
        )

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.best_score_ = math.inf
        self.stopped_ = False
        initial_score = _validation_loss(net, X, y) if self.monitor == "valid_loss" else None
        if initial_score is not None:
            self.best_score_ = initial_score
            self.best_epoch_ = net.history[-1, "epoch"] if len(net.history) else 0
            self.best_model_weights_ = _cloned_state(net.module_)

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1, self.monitor]
        # An epoch counts as better, for patience and for the weights kept alike,
        # only when it beats the best by more than the threshold: improvements
        # within the noise of a small validation set keep the earlier weights
        # (the initial ones, such as the ridge shortcut, included).
        improved = score < self.best_score_ - self.threshold
        self.misses_ = 0 if improved else self.misses_ + 1
        if improved:
            self.best_score_ = score
            self.best_epoch_ = net.history[-1, "epoch"]
            self.best_model_weights_ = _cloned_state(net.module_)
        if self.misses_ >= self.patience:
            self.stopped_ = True
            # skorch's way to end fit_loop early; NeuralNet.partial_fit catches it.
            raise KeyboardInterrupt

    def on_train_end(self, net, **kwargs):
        if self.best_model_weights_ is not None:
            net.module_.load_state_dict(self.best_model_weights_)


def _cloned_state(module):
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _validation_loss(net, X, y):
    """``valid_loss`` of the net's current weights, as an epoch computes it; None without one."""
    _, dataset_valid = net.get_split_datasets(X, y)
    if dataset_valid is None:
        return None
    loss_sum = torch.zeros((), dtype=torch.float64, device=net.device)
    n_rows = 0
    for batch in net.get_iterator(dataset_valid, training=False):
        loss_sum += net.validation_step(batch)["loss"] * len(batch[0])
        n_rows += len(batch[0])
    return loss_sum.item() / max(n_rows, 1)


class ProgressLine(Callback):
    """Print one line per epoch when the net's ``verbose`` is set."""

    def __init__(self, label=""):
        self.label = label

    def on_epoch_end(self, net, **kwargs):
        if not net.verbose:
            return
        row = net.history[-1]
        parts = [f"{self.label}epoch {row['epoch']:>4d}/{net.max_epochs}"]
        for key in ("train_loss", "valid_loss", "valid_mmae", "valid_rmse"):
            if key in row:
                parts.append(f"{key} {row[key]:.5f}")
        parts.append(f"lr {row['lr']:.2e}")
        parts.append(f"{row['dur']:.2f}s")
        parts.append(f"{row['samples_per_s']:,.0f} samples/s")
        print("  ".join(parts), file=sys.stdout, flush=True)


# --------------------------------------------------------------------------
# Missing targets
# --------------------------------------------------------------------------
class MaskedOriginalUnitErrors(OriginalUnitErrors):
    """Validation MMAE and RMSE in original units over the observed targets only.

    With missing targets, ``valid_mmae`` is the mean absolute error over the
    observed entries (it equals the MMAE when no target is missing).
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.observed_scale_ = torch.as_tensor(
            self.target_scale, dtype=torch.float32, device=net.device
        )

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if training:
            return
        y_true = batch[1]
        observed = ~torch.isnan(y_true)
        diff = (y_pred.float() - y_true) * self.observed_scale_
        diff = torch.where(observed, diff, torch.zeros((), device=diff.device))
        sums = torch.stack([diff.abs().sum(), diff.square().sum(), observed.sum()]).double()
        self.sums_ = sums if self.sums_ is None else self.sums_ + sums

    def on_epoch_end(self, net, **kwargs):
        if self.sums_ is None:
            return
        abs_sum, sq_sum, count = self.sums_.tolist()
        count = max(count, 1.0)
        net.history.record("valid_mmae", abs_sum / count)
        net.history.record("valid_rmse", math.sqrt(sq_sum / count))


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------
#: A training loss this many times that of the fit's first epoch (and above 1,
#: the loss of predicting the mean of standardised targets) has diverged, though
#: still finite: no training gets a million times worse than it started.
DIVERGED_LOSS_FACTOR = 1e6


def _nonfinite_problem(net, row, first_loss=None):
    """What is not finite after an epoch (a loss or the weights), or None."""
    for key, label in (("train_loss", "the training loss"), ("valid_loss", "the validation loss")):
        if key in row and not math.isfinite(row[key]):
            return f"{label} is {row[key]}"
    loss = row.get("train_loss")
    if (
        first_loss is not None
        and loss is not None
        and loss > max(DIVERGED_LOSS_FACTOR * first_loss, 1.0)
    ):
        return (
            f"the training loss is {loss:.3g}, more than {DIVERGED_LOSS_FACTOR:g} times the "
            f"first epoch's {first_loss:.3g}"
        )
    # amax and amin propagate NaN, show an infinity of either sign and never
    # overflow; without abs() they allocate nothing (several times faster).
    peaks = [
        peak
        for p in net.module_.parameters()
        if p.numel()
        for peak in (p.detach().amax(), p.detach().amin())
    ]
    # One device synchronisation per epoch.
    if peaks and not bool(torch.stack(peaks).isfinite().all()):
        return "the weights hold NaN or infinite values"
    return None


def _weights_copy(net):
    return {name: value.detach().clone() for name, value in net.module_.state_dict().items()}


class NonFiniteGuard(Callback):
    """Stop training when a loss or the weights stop being finite.

    Checked once per epoch, after the training and validation passes (the
    loss is read once per epoch, so this costs no extra synchronisation per
    batch).

    Parameters
    ----------
    on_nonfinite : {"raise", "restore"}, default="raise"
        "raise": raise ``FloatingPointError`` naming the epoch and suggesting a
        lower learning rate. "restore": put back the weights of the last epoch
        whose losses and weights were finite (the initial weights if none
        was), drop the diverged epoch from the history, reset the optimizer's
        running moments, warn, and end training normally.
    """

    def __init__(self, on_nonfinite="raise"):
        self.on_nonfinite = on_nonfinite

    def on_train_begin(self, net, **kwargs):
        self.stopped_ = False
        self.last_good_ = _weights_copy(net) if self.on_nonfinite == "restore" else None
        self.last_good_epoch_ = len(net.history)
        self.first_loss_ = None

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        problem = _nonfinite_problem(net, row, self.first_loss_)
        if self.first_loss_ is None and problem is None and "train_loss" in row:
            self.first_loss_ = row["train_loss"]
        if problem is None:
            if self.on_nonfinite == "restore":
                self.last_good_ = _weights_copy(net)
                self.last_good_epoch_ = row["epoch"]
            return
        advice = (
            f"Lower the learning rate (lr={net.lr:g}; try lr={net.lr / 10:g}), "
            "set gradient_clip (e.g. gradient_clip=1.0), or check the data for extreme values."
        )
        if self.on_nonfinite == "raise":
            raise FloatingPointError(
                f"Training diverged at epoch {row['epoch']}: {problem}. {advice} "
                "on_nonfinite='restore' keeps the weights of the last finite epoch instead."
            )
        net.module_.load_state_dict(self.last_good_)
        # The moments now hold non-finite values; a later warm start begins them anew.
        net.optimizer_.state.clear()
        del net.history[-1]
        self.stopped_ = True
        restored = (
            f"the weights of epoch {self.last_good_epoch_}"
            if self.last_good_epoch_
            else "the initial weights"
        )
        warnings.warn(
            f"Training diverged at epoch {row['epoch']}: {problem}; restored {restored} "
            f"and stopped. {advice}",
            RuntimeWarning,
            stacklevel=2,
        )
        # skorch's way to end fit_loop early (NeuralNet.partial_fit catches it).
        raise KeyboardInterrupt


def forget_training_state(net):
    """Reset the callbacks of a trained net to skorch's defaults.

    Callbacks hold training-time state: learning-rate schedulers (which refer
    to the optimizer), early stopping's best weights, device copies of scaling
    factors. skorch pickles the module, optimizer and criterion through
    ``torch.save`` with a device map, so that a model trained on a GPU loads
    on a CPU-only machine, but it pickles callbacks as they are: one CUDA
    tensor there would make the model unloadable without CUDA (and the
    optimizer would be stored twice). The estimators set fresh callbacks at
    every fit, so none is needed between fits.
    """
    net.callbacks = None
    net.initialize_callbacks()


def any_stopped(net):
    """Whether a callback ended training on purpose (early stopping, divergence)."""
    return any(getattr(callback, "stopped_", False) for _, callback in net.callbacks_)
