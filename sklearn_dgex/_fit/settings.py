"""The "auto" settings every fit uses, and the seeds of its ensemble members.

The estimators call into this module from ``fit``: to resolve the "auto"
settings from the data's shape (:func:`resolve_settings`: the linear path,
early stopping, epochs, batch, members, the default width, torch threads) and
to draw the seeds of the ensemble members (:func:`ensemble_seeds`). The linear
path itself is in :mod:`sklearn_dgex._fit.linear`.

The numbers behind every constant below are in the user guide page "Small
data" (``docs/small_data.rst``).
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_random_state

# ----------------------------------------------------------------------------
# One source of truth: when "auto" turns the shortcut on, and the settings then.
# ----------------------------------------------------------------------------
#: ``linear_shortcut="auto"`` is on when ``n_samples <= SHORTCUT_SAMPLES_PER_FEATURE
#: * n_features``: the regime where a tuned ridge beats plain networks.
SHORTCUT_SAMPLES_PER_FEATURE = 2.0
#: ... and there are at least this many samples (leave-one-out ridge and a
#: validation split need a few; scikit-learn's tiny check datasets stay plain).
SHORTCUT_MIN_SAMPLES = 20
#: Learning rate of the inner network's output layer, relative to ``lr`` and per
#: input of that layer: ``lr * OUTPUT_LR_FACTOR / fan_in``. Adam moves every weight of
#: a zero-initialised output layer by about ``lr`` per step, all in the same
#: direction for features of positive mean (sigmoid, ReLU), which shifts each output
#: by about ``lr * fan_in / 2`` per step; the D-GEX networks' hidden layers then
#: saturate to cancel it. Scaled by ``1 / fan_in`` (as the maximal-update
#: parametrisation scales Adam's output layer), the shift is ``lr * factor / 2``.
OUTPUT_LR_FACTOR = 10.0

#: Values of the "auto" training settings without a linear path (the studies'
#: plain networks, ``linear_shortcut=False``).
DEFAULT_MAX_EPOCHS = 50
DEFAULT_BATCH_SIZE = 64
#: With a linear path (shortcut or fallback): an epoch cap that early stopping
#: cuts short, and batches small enough for several optimizer steps per epoch.
#: Eight batches per epoch scored as 32 did on four data sets (docs/real_data.rst)
#: in a third of the optimizer steps, whose per-step cost dominates small fits.
SMALL_DATA_MAX_EPOCHS = 200
SMALL_DATA_MIN_BATCH_SIZE = 8
SMALL_DATA_BATCHES_PER_EPOCH = 8
#: ``n_threads="auto"``: one torch thread when an optimizer step multiplies
#: fewer rows-times-weights than this (batch rows x parameters of one network).
#: Small matmuls gain little from a second thread, and OpenMP threads that wait
#: for a core taken by another process slowed such fits 30-fold.
SINGLE_THREAD_MAX_WORK = 2**26
#: ``n_ensemble="auto"``: members averaged with the shortcut (small data, where
#: averaging members steadies networks trained on a few dozen rows and kept or
#: dropped on a few validation rows; three scored within 0.1% of five on four
#: data sets at 60% of the time) and without it (large data, where one fit is
#: the budget).
SMALL_DATA_ENSEMBLE = 3
DEFAULT_ENSEMBLE = 1
#: ``DGEXRegressor(param_budget=None)``: the weights of a dense network with
#: one neuron per hidden layer for every two rows ``fit`` gets, within these
#: bounds. Layers much wider than the profiles add weights the data cannot
#: determine: on one fold each of four sets (45 to 560 training profiles) such
#: budgets scored as those of width 1,000 or of one neuron per row did, 2-5x faster.
DEFAULT_DENSE_WIDTH_BOUNDS = (128, 1000)
DEFAULT_ROWS_PER_NEURON = 2


#: Validation split of early stopping when ``validation_fraction`` is None.
DEFAULT_VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class Settings:
    """The concrete values of the settings that may be "auto".

    ``linear_path`` is "shortcut", "fallback" or None (see the module
    docstring); ``linear_shortcut`` is ``linear_path == "shortcut"``.
    ``n_threads`` is None until the network's size is known
    (:func:`resolve_threads`). ``dense_width`` is the width of the dense
    network whose weights are ``DGEXRegressor``'s default budget
    (:func:`default_dense_width`; None in files that predate it: 1000).
    """

    linear_path: str | None
    early_stopping: bool
    max_epochs: int
    batch_size: int
    n_ensemble: int
    n_threads: int | None = None
    dense_width: int | None = None

    @property
    def linear_shortcut(self):
        return self.linear_path == "shortcut"


def uses_linear_shortcut(setting, n_samples, n_features):
    """Whether ``linear_shortcut=setting`` is on for data of this shape."""
    if setting != "auto":
        return bool(setting)
    return SHORTCUT_MIN_SAMPLES <= n_samples <= SHORTCUT_SAMPLES_PER_FEATURE * n_features


def linear_path(setting, n_samples, n_features):
    """ "shortcut", "fallback" or None for ``linear_shortcut=setting`` and this shape.

    "auto" is the shortcut on small data and the fallback on larger data (both
    need a few samples); False is the studies' plain networks.
    """
    if uses_linear_shortcut(setting, n_samples, n_features):
        return "shortcut"
    if setting == "auto" and n_samples >= SHORTCUT_MIN_SAMPLES:
        return "fallback"
    return None


def resolve_settings(params, n_samples, n_features):
    """Concrete :class:`Settings` from the estimator's ``params`` and the data's shape.

    Explicit values are kept as they are; "auto" ones depend on the linear
    path: with one, early stopping on a validation split (which the path's
    keep rule needs) and small batches; with the shortcut (small data), an
    ensemble; without a linear path, the studies' plain training.
    """
    path = linear_path(params["linear_shortcut"], n_samples, n_features)

    def resolved(name, guarded, plain):
        return params[name] if params[name] != "auto" else (guarded if path else plain)

    early_stopping = resolved("early_stopping", True, False)
    fraction = params["validation_fraction"]
    if fraction is None and early_stopping:
        fraction = DEFAULT_VALIDATION_FRACTION
    n_train = n_samples if fraction is None else int(n_samples * (1 - fraction))
    small_batch = max(SMALL_DATA_MIN_BATCH_SIZE, n_train // SMALL_DATA_BATCHES_PER_EPOCH)
    ensemble = SMALL_DATA_ENSEMBLE if path == "shortcut" else DEFAULT_ENSEMBLE
    return Settings(
        linear_path=path,
        early_stopping=early_stopping,
        max_epochs=resolved("max_epochs", SMALL_DATA_MAX_EPOCHS, DEFAULT_MAX_EPOCHS),
        batch_size=resolved("batch_size", min(small_batch, DEFAULT_BATCH_SIZE), DEFAULT_BATCH_SIZE),
        n_ensemble=params["n_ensemble"] if params["n_ensemble"] != "auto" else ensemble,
        dense_width=default_dense_width(n_samples),
    )


def default_dense_width(n_samples):
    """Width of the dense network whose weights are the default budget, for ``n_samples`` rows."""
    low, high = DEFAULT_DENSE_WIDTH_BOUNDS
    return int(min(max(n_samples // DEFAULT_ROWS_PER_NEURON, low), high))


def resolve_threads(setting, batch_size, n_parameters):
    """Torch CPU threads for ``n_threads=setting``: "auto" from the work of one step.

    One thread when ``batch_size * n_parameters`` (one network) is below
    :data:`SINGLE_THREAD_MAX_WORK`, else torch's current number, but no more
    than the cores the machine's load leaves idle (:func:`idle_cores`); an
    int is kept.
    """
    if setting != "auto":
        return int(setting)
    if batch_size * n_parameters < SINGLE_THREAD_MAX_WORK:
        return 1
    return max(1, min(torch.get_num_threads(), idle_cores()))


def idle_cores():
    """Cores not taken by the 1-minute load average (all of them where it is unknown).

    A torch thread that waits for a core another process holds stalls every
    step: with the other core of two busy, a PBMC-sized fit took 26 times as
    long on two threads as on one. The load average also counts this
    process's own recent work, which errs towards fewer threads.
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return cores
    return cores - round(load)


def ensemble_seeds(random_state, n_members, seeds_per_member):
    """Seeds of each ensemble member, shape (n_members, seeds_per_member).

    Drawn in one call, so member 0 gets exactly the seeds a single model
    would: ``n_ensemble=1`` fits are unchanged by the ensemble option.
    """
    draws = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_members * seeds_per_member
    )
    return draws.reshape(n_members, seeds_per_member)
