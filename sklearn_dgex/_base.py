"""Shared base of the network regressors: validation, scaling, training, prediction.

The estimators compose skorch rather than subclass it: ``fit`` validates the
data the scikit-learn way, resolves once a :class:`~sklearn_dgex._fit.plan.FitPlan`
(the "auto" settings, the networks and their widths, device, precision,
threads, scaling and seeds), and trains one
:class:`~sklearn_dgex._torch.net.InMemoryNet` per group of targets over a
module class of :mod:`sklearn_dgex.nn`; the training code reads the plan, not
the estimator's state. Subclasses only say which module to build
(:meth:`_BaseNetRegressor._module_class_and_kwargs`) and how many neurons it
has (:meth:`_BaseNetRegressor._count_neurons`).
"""

import dataclasses
import inspect
import math
import os
import time
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import GradientNormClipping
from skorch.helper import predefined_split

from . import _registry, persistence
from ._fit import inputs, memory_guard, transaction
from ._fit import linear as linear_fit
from ._fit import settings as auto_settings
from ._fit import warm_start as warm_starts
from ._fit.plan import FitPlan, MemberSeeds, Network, Scaling
from ._fit.target_blocks import split_columns as _split_columns
from ._fit.target_blocks import split_sizes as _split_sizes
from ._torch import callbacks as net_callbacks
from ._torch import checkpoints as checkpoint_files
from ._torch import losses
from ._torch import net as glue
from ._torch.device import resolve_device
from .distributed import trial_scope
from .metrics import epochs_to_threshold as _epochs_to_threshold
from .nn.shortcut import LinearShortcut

# history_ keys, in the order a row shows them; skorch's "dur" is "epoch_time".
_HISTORY_KEYS = {
    "epoch": "epoch",
    "train_loss": "train_loss",
    "valid_loss": "valid_loss",
    "valid_mmae": "valid_mmae",
    "valid_rmse": "valid_rmse",
    "lr": "lr",
    "dur": "epoch_time",
    "train_time": "train_time",
}
#: Rows standardised and predicted at a time by ``predict``: a multiple of the
#: prediction batch, so that the networks see the batches of one whole pass and
#: the predictions are those of predicting all rows at once, bit for bit.
PREDICT_CHUNK_ROWS = 4 * glue.PREDICT_BATCH_SIZE


# Shared docstring sections. Each estimator's docstring holds the markers
# "<training parameters>" and "<fitted attributes>"; :func:`_shared_docs` fills
# them in with that estimator's own defaults, so the text is written once and the
# defaults shown can never drift from the signature.
_TRAINING_PARAMETERS_DOC = """\
optimizer : {{"nadam", "adam", "adamw", "sgd", "rmsprop"}}, default={optimizer!r}
    Optimizer. "nadam" is the D-GEX study's Nadam: torch's ``NAdam`` with
    ``momentum_decay=0.004`` (Keras' ``schedule_decay``) and Keras' epsilon
    1e-7. The Adam family uses betas (0.9, 0.999).

lr : float, default={lr!r}
    Initial learning rate; schedules scale it.

weight_decay : float, default={weight_decay!r}
    Weight decay: decoupled for "adamw", an L2 term in the gradient for the
    other optimizers.

momentum : float, default={momentum!r}
    Momentum of "sgd" and "rmsprop"; the Adam family ignores it.

lr_schedule : {{"dgex", "cosine", "plateau"}} or None, default={lr_schedule!r}
    Learning-rate schedule, stepped once per epoch:

    - "dgex": the D-GEX study's steps, 5e-4 -> 5e-5 -> 5e-6 -> 5e-7 -> 2.5e-7
      from epochs 401 / 476 / 551 / 576 of 600, applied as multipliers of ``lr``
      (1, 0.1, 0.01, 0.001, 0.0005) with the boundaries scaled to
      ``max_epochs``;
    - "cosine": cosine decay from ``lr`` towards 0 over ``max_epochs``;
    - "plateau": divide by 5 when the validation loss (the training loss
      without validation) has not improved by ``tol`` for
      ``n_iter_no_change // 2`` epochs;
    - None: constant.

loss : {{"mae", "mse", "huber"}}, default={loss!r}
    Training loss, computed on the scaled targets when ``target_scaling``.
    "mae" fits the conditional median, which minimises the absolute errors
    (MMAE) that the D-GEX study judges by; "mse" the conditional mean, which
    minimises the squared errors (RMSE) of the flexible-MLP study. Each
    estimator's default follows its study's measure. They differ most on
    skewed targets such as single-cell counts, mostly zeros.

batch_size : int or "auto", default={batch_size!r}
    Rows per optimizer step. The rows are shuffled every epoch. "auto": with
    a linear path, the training rows divided by 8, at least 8 and at most
    64; without one, 64.

max_epochs : int or "auto", default={max_epochs!r}
    Passes over the training data (fewer with early stopping). 0 only
    initialises the network(s). "auto": 200 with a linear path (early
    stopping then ends training sooner), 50 without.

early_stopping : bool or "auto", default={early_stopping!r}
    Stop when the validation loss has not fallen below its best value minus
    ``tol`` for ``n_iter_no_change`` consecutive epochs, then restore the
    weights of the epoch with the lowest validation loss; the weights before
    training compete too, so the model ends at least as good on the
    validation data as it started (the ridge, with the linear shortcut).
    Validates on ``X_val``/``y_val`` when given to ``fit``, otherwise on a
    random ``validation_fraction`` of the training data (10% when it is
    None). "auto": on exactly when there is a linear path (shortcut or
    fallback, see ``linear_shortcut``).

validation_fraction : float or None, default={validation_fraction!r}
    Fraction of the training data held out to record validation errors each
    epoch (``valid_loss``, ``valid_mmae``, ``valid_rmse`` in ``history_``).
    None: no hold-out, unless ``early_stopping`` asks for one.

n_iter_no_change : int, default={n_iter_no_change!r}
    Patience of early stopping, in epochs.

tol : float, default={tol!r}
    Smallest decrease of the validation loss that counts as an improvement,
    for the patience of early stopping and for the weights it restores.

linear_shortcut : bool or "auto", default={linear_shortcut!r}
    A linear path that keeps the model at least as good as a tuned ridge
    regression on held-out rows. Its ridge chooses, by exact leave-one-out,
    between centred raw and standardised inputs and its penalty over half
    decades from 1e-3 to 1e7 times the inputs' mean variance (scikit-learn's
    ``RidgeCV`` grid and wider); it is fitted on the training rows while the
    networks train, on all rows given to ``fit`` afterwards.

    - True (the *shortcut*): a fixed linear path from the inputs to the
      outputs, the networks added to it. Before training the model predicts
      what the ridge predicts; the networks learn what the ridge misses on
      unseen samples (its leave-one-out residuals), from the inputs whitened
      along their leading principal axes, and their output layer starts at
      zero. Networks that do not beat the ridge on the validation rows by a
      standard error are removed.
    - "auto": the shortcut when there are at least 20 samples and at most
      twice as many samples as features, where ridge beats plain networks
      (user guide, "Small data"); with more samples the *fallback*: the
      networks train as the studies train them, and unless they beat the
      ridge on the validation rows by a standard error, the model becomes
      that ridge (user guide, "Real data").
    - False: the studies' plain networks, no linear path.

n_ensemble : int or "auto", default={n_ensemble!r}
    Number of models, each with its own seeds (and validation split),
    whose predictions are averaged. Costs about ``n_ensemble`` times the
    training time and memory. "auto": 3 when the linear shortcut is on
    (small data, where averaged members steady networks trained on a few
    dozen rows and judged on a few validation rows; user guide, "Small
    data"), otherwise 1.

n_target_splits : int, default={n_target_splits!r}
    Number of networks, each trained on one contiguous block of targets
    (``numpy.array_split`` of the columns). The D-GEX study trained a pair,
    each on half of its 9,518 targets, so that each fitted in GPU memory.
    Predictions are concatenated in column order; sizes and budgets apply
    to each network.

target_scaling : bool or "minmax", default={target_scaling!r}
    Standardise each target with its training mean and standard deviation
    inside the estimator; predictions are in the original units. "minmax"
    maps each target's training range onto [0, 1] instead, for an output
    activation bounded below such as the flexible-MLP study's ELU(0.01),
    which cannot go below -0.01: on standardised targets it could not
    predict the lower half of the values.

input_scaling : bool, default={input_scaling!r}
    Standardise each input feature with its training mean and standard
    deviation, so that raw log2 expression trains well without a scaler.

allow_nan_targets : bool, default={allow_nan_targets!r}
    Accept NaN in ``y`` (and ``y_val``) as missing targets: they are left
    out of the training loss, the validation errors and the target scaling
    statistics. Every target needs at least one observed value. NaN in
    ``X`` and infinite values anywhere stay errors.

on_nonfinite : {{"raise", "restore"}}, default={on_nonfinite!r}
    What to do when, after an epoch, the training or validation loss or the
    weights are not finite, or the training loss has diverged to more than a
    million times that of the first epoch (and more than 1, the loss of
    predicting the mean): "raise" a ``FloatingPointError`` that names the
    epoch; "restore" the weights of the last finite epoch, warn and stop
    training (the model then predicts with those weights).

gradient_clip : float or None, default={gradient_clip!r}
    Largest L2 norm of the gradient of each optimizer step (over all
    parameters of a network); larger gradients are scaled down to it. None:
    no clipping.

checkpoint_dir : str, path or None, default={checkpoint_dir!r}
    Directory for checkpoints of each network: weights, optimizer,
    learning-rate schedule, early-stopping state, history and random state
    every ``checkpoint_every`` epochs and at the end of training, and the
    weights at each new best validation loss. A ``fit`` with the same
    parameters and data and the same ``checkpoint_dir`` resumes from the last
    checkpoint (on CPU ending with exactly the weights of an uninterrupted
    fit); other parameters or data there are an error. See the user guide,
    "Reliability".

checkpoint_every : int, default={checkpoint_every!r}
    Epochs between checkpoints when ``checkpoint_dir`` is set.

device : {{"auto", "cpu", "cuda", "mps"}} or "cuda:N", default={device!r}
    Where to train and predict; "auto" is the current CUDA device ("cuda:0"
    unless ``torch.cuda.set_device`` chose another) when torch sees a GPU,
    else "cpu". A device this machine lacks is an error.

n_threads : int or "auto", default={n_threads!r}
    Torch CPU threads while fitting and predicting; the caller's own
    setting (``torch.get_num_threads()``) is restored afterwards. "auto":
    one thread when a training step is small (batch rows times the
    parameters of one network below 2**26), where a second thread gains
    little and a thread waiting for a core that another process holds
    slows training many-fold; otherwise torch's current number, but no
    more than the cores the machine's 1-minute load average leaves idle.

precision : {{"float32", "tf32", "bf16"}}, default={precision!r}
    "tf32" lets float32 matmuls on CUDA use TF32 tensor cores (float32
    range, 10-bit mantissa; several times faster on A100/H100 GPUs; the
    same as "float32" on a CPU). "bf16" runs forward passes under bfloat16
    autocast (CPU or CUDA; slow on CPUs without bf16 instructions, which
    warns). Weights, optimizer state and predictions stay float32/float64.

compile : bool, default={compile!r}
    Run the training forward passes through ``torch.compile`` of the
    network (the weights are shared; saved and pickled models are those of
    the plain network, and prediction does not use it; dropout is then
    torch's own). The first epoch pays the compilation, seconds even for a
    small network. Meant for GPUs, where fused element-wise kernels may
    train faster; on a CPU it gains little (the user guide, "Performance",
    has measurements).

random_state : int, RandomState instance or None, default={random_state!r}
    Seeds weight initialisation, dropout, shuffling and the validation split.
    An int makes fits on CPU reproducible; the caller's global numpy and
    torch random states are left untouched. None draws seeds from numpy's
    global generator.

verbose : int, default={verbose!r}
    Print one line per epoch when positive.

warm_start : bool, default={warm_start!r}
    Continue training the fitted network(s), their optimizer state and
    schedule for another ``max_epochs`` instead of starting anew. The scaling
    statistics of the first fit are kept. Training settings take effect, as
    a new learning rate does in scikit-learn's ``MLPRegressor``: ``lr``,
    ``weight_decay``, ``momentum``, ``lr_schedule`` (restarted from ``lr``
    at the epoch reached), ``loss``, ``allow_nan_targets``, ``batch_size``,
    ``max_epochs``, early stopping and validation; a new ``optimizer``
    starts with fresh moments. Parameters that define the networks (sizes,
    width, architecture, activations, dropout, normalisation,
    ``n_target_splits``, ``n_ensemble``, ``linear_shortcut``) must not
    change: a ``ValueError`` names the one that did.
"""

_FITTED_ATTRIBUTES_DOC = """\
nets_ : list of skorch.NeuralNetRegressor
    The trained skorch nets, one per block of targets
    (``n_target_splits``); ``nets_[k].module_`` is the torch module.

net_ : skorch.NeuralNetRegressor
    ``nets_[0]``.

ensemble_ : list of list of skorch.NeuralNetRegressor
    The nets of every ensemble member (``n_ensemble`` lists like ``nets_``;
    ``ensemble_[0]`` is ``nets_``). ``history_``, ``histories_``,
    ``best_epoch_`` and ``n_iter_`` describe member 0.

linear_path_ : {"shortcut", "fallback"} or None
    The linear path that ``linear_shortcut`` chose for the data.

linear_shortcut_ : bool
    Whether the networks have the ridge-initialised linear shortcut.

shortcut_alpha_ : float or None
    The ridge penalty of the linear path in use, in the scale of its inputs
    (``linear_inputs_``); None when the model has no linear path (none
    chosen, or the fallback kept every network).

linear_inputs_ : {"raw", "standardized"} or None
    The inputs of that ridge: the centred raw inputs or the standardised
    ones, whichever had the lower leave-one-out error.

early_stopping_, max_epochs_, batch_size_, n_ensemble_ : bool or int
    The values the fit used for the parameters that may be "auto".

n_threads_ : int
    Torch CPU threads of the fit (``n_threads`` resolved), also used by
    ``predict``.

device_ : str
    The torch device of the fit ("cpu", "cuda:0", ...).

history_ : list of dict
    One row per epoch: ``epoch`` (1-based), ``train_loss``, ``lr``,
    ``epoch_time`` and ``train_time`` (seconds), ``samples_per_s``
    (training rows per second) and, with a validation set, ``valid_loss``
    and ``valid_mmae`` / ``valid_rmse`` in the targets' original units. With
    several networks, the rows combine theirs over the epochs all of them
    ran (losses and MMAE weighted by targets, RMSE through its square).

histories_ : list of list of dict
    Each network's own history.

best_epoch_ : int or None
    Epoch with the lowest validation loss (the training loss without
    validation). With early stopping and one network, the weights of this
    epoch are the model's, and 0 means that no epoch beat the initial
    weights. None when no epoch ran.

n_iter_ : int
    Number of epochs run (the most over the networks).

n_parameters_ : int
    Trainable parameters of all networks (of all ensemble members).

n_neurons_ : int
    Neurons (hidden and output) of all networks (of all ensemble members).

fit_time_ : float
    Seconds the last call of ``fit`` took.

n_samples_fit_ : int
    Number of samples given to the last call of ``fit`` (validation rows
    split off it included).

n_features_in_ : int
    Number of features seen during ``fit``.

feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during ``fit``; defined only when ``X`` has
    feature names that are all strings.

n_outputs_ : int
    Number of targets.

target_names_in_ : ndarray of shape (`n_outputs_`,)
    Names of the targets seen during ``fit`` (the columns of a DataFrame
    ``y``); defined only when they are all strings. They label the columns
    of :meth:`predict_frame`.

input_mean_, input_scale_ : ndarray of shape (`n_features_in_`,)
    Input standardisation (zeros and ones when ``input_scaling=False``).

target_mean_, target_scale_ : ndarray of shape (`n_outputs_`,)
    Target standardisation (zeros and ones when ``target_scaling=False``;
    the training minimum and range when ``target_scaling="minmax"``).
"""


def _indent(text, spaces=4):
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _shared_docs(cls):
    """Class decorator: fill in the shared parameter and attribute sections."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    training = _indent(_TRAINING_PARAMETERS_DOC.format(**defaults)).rstrip("\n")
    attributes = _indent(_FITTED_ATTRIBUTES_DOC).rstrip("\n")
    cls.__doc__ = cls.__doc__.replace("    <training parameters>", training).replace(
        "    <fitted attributes>", attributes
    )
    return cls


class _BaseNetRegressor(RegressorMixin, BaseEstimator):
    """Base of :class:`DGEXRegressor` and :class:`FlexibleMLPRegressor`.

    Warning: this class should not be used directly; use a subclass.
    """

    _parameter_constraints: ClassVar[dict] = {
        "optimizer": [StrOptions({"nadam", "adam", "adamw", "sgd", "rmsprop"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "lr_schedule": [StrOptions({"dgex", "cosine", "plateau"}), None],
        "loss": [StrOptions({"mae", "mse", "huber"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "linear_shortcut": ["boolean", StrOptions({"auto"})],
        "n_ensemble": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_target_splits": [Interval(Integral, 1, None, closed="left")],
        "target_scaling": ["boolean", StrOptions({"minmax"})],
        "input_scaling": ["boolean"],
        "allow_nan_targets": ["boolean"],
        "on_nonfinite": [StrOptions({"raise", "restore"})],
        "gradient_clip": [Interval(Real, 0, None, closed="neither"), None],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "n_threads": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "precision": [StrOptions({"float32", "tf32", "bf16"})],
        "compile": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        *,
        optimizer,
        lr,
        weight_decay,
        momentum,
        lr_schedule,
        loss,
        batch_size,
        max_epochs,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        tol,
        linear_shortcut,
        n_ensemble,
        n_target_splits,
        target_scaling,
        input_scaling,
        allow_nan_targets,
        on_nonfinite,
        gradient_clip,
        checkpoint_dir,
        checkpoint_every,
        device,
        n_threads,
        precision,
        compile,
        random_state,
        verbose,
        warm_start,
    ):
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.lr_schedule = lr_schedule
        self.loss = loss
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.linear_shortcut = linear_shortcut
        self.n_ensemble = n_ensemble
        self.n_target_splits = n_target_splits
        self.target_scaling = target_scaling
        self.input_scaling = input_scaling
        self.allow_nan_targets = allow_nan_targets
        self.on_nonfinite = on_nonfinite
        self.gradient_clip = gradient_clip
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.device = device
        self.n_threads = n_threads
        self.precision = precision
        self.compile = compile
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The package's own estimators are what a model file may hold; load()
        # finds them by name (a user's subclass is not one: save() refuses it).
        if cls.__module__.startswith("sklearn_dgex.") and not cls.__name__.startswith("_"):
            _registry.register(cls, new_net=cls._new_net)

    # ------------------------------------------------------------------
    # Subclass hooks
    # ------------------------------------------------------------------
    def _module_class_and_kwargs(self, n_in, n_out, settings=None):
        """Return ``(nn.Module class, keyword arguments)`` of one network.

        ``settings`` are the fit's resolved settings (by default the fitted ones).
        """
        raise NotImplementedError

    def _count_neurons(self, n_in, n_out):
        """Return the number of neurons of one network."""
        raise NotImplementedError

    def _network_neurons(self, network):
        """The number of neurons of a planned :class:`~._fit.plan.Network`."""
        return self._count_neurons(network.n_in, network.n_out)

    def _check_hyperparameters(self, n_in, n_out):
        """Cross-parameter checks of a subclass; raise ValueError on conflict."""

    def _network_parameter(self, module_argument):
        """The parameter that sets a module argument, for messages."""
        return module_argument

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @transaction.fit_transaction
    def fit(self, X, y, *, X_val=None, y_val=None):
        """Train the network(s) on landmarks ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, e.g. log2 expression of the landmark genes.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets, e.g. log2 expression of the target genes.
        X_val : array-like of shape (n_val_samples, n_features), default=None
            Validation inputs. When given, they are used instead of a split
            of ``X`` for the per-epoch validation errors in ``history_`` and
            for early stopping, and ``validation_fraction`` is ignored.
        y_val : array-like of shape (n_val_samples,) or (n_val_samples, n_targets), \
default=None
            Validation targets; required with ``X_val``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        started = time.perf_counter()
        warm = self.warm_start and hasattr(self, "nets_")
        X, Y, target_is_1d = self._validate_training_data(X, y, reset=not warm)
        self._check_target_names(y, reset=not warm)
        validation = self._validate_validation_data(X_val, y_val, Y.shape[1])
        plan, checkpoints = self._plan_fit(X, Y, validation, warm)
        self._announce(plan)
        try:
            with glue.torch_threads(plan.settings.n_threads):
                members, linear, n_train = self._train_members(X, Y, validation, plan, checkpoints)
        except BaseException as exc:
            if not memory_guard.is_out_of_memory(exc):
                raise
            raise memory_guard.explain_out_of_memory(
                exc,
                type(self).__name__,
                lambda: self._memory_report(
                    plan.networks[0], plan.settings.batch_size, plan.device, len(X), Y.shape[1]
                ),
                plan.settings.batch_size,
                plan.precision,
            ) from exc
        self._set_fitted_state(members, plan, X.shape[1], Y.shape[1], target_is_1d, n_train)
        self.device_ = plan.device
        if linear is not None or not warm:
            self.shortcut_alpha_ = None if linear is None else linear.alpha
            self.linear_inputs_ = None if linear is None else linear.inputs
        self.n_samples_fit_ = len(X)
        self.fit_time_ = time.perf_counter() - started
        return self

    def _plan_fit(self, X, Y, validation, warm):
        """Resolve the :class:`~._fit.plan.FitPlan` of this fit, once, and open its checkpoints.

        Everything that may refuse the fit (conflicting parameters, a warm
        start that would build other networks, a training too large for the
        device, a checkpoint directory of another fit) is checked here, before
        the seeds are drawn and before anything trains. Returns the plan and
        the checkpoints (:class:`~._torch.checkpoints.Checkpoints` or None).
        """
        (n_samples, n_in), n_out = X.shape, Y.shape[1]
        settings = self._resolve_settings(X.shape, warm)
        self._check_all_hyperparameters(n_in, n_out)
        networks = self._plan_networks(n_in, n_out, settings)
        n_parameters = _count_parameters(memory_guard.network_on_meta(networks[0]))
        threads = auto_settings.resolve_threads(self.n_threads, settings.batch_size, n_parameters)
        settings = dataclasses.replace(settings, n_threads=threads)
        device = resolve_device(self.device)
        scaling = self._scaling_of(X, Y) if not warm else self._fitted_scaling()
        if warm:
            warm_starts.check_warm_start(
                type(self).__name__,
                self.get_params(deep=False),
                getattr(self, "ensemble_", [self.nets_])[0],
                self.linear_shortcut_,
                networks,
                self._network_parameter,
            )
        # The estimate runs a batch: check batch norm's batches first.
        inputs.check_batch_norm_batches(self._batch_norm(), n_samples, settings.batch_size)
        memory_guard.refuse_if_too_large(
            type(self).__name__,
            self._memory_report(networks[0], settings.batch_size, device, n_samples, n_out),
        )
        checkpoints = self._open_checkpoints(X, Y, validation, warm, settings)
        if checkpoints is None:
            seed_rows = self._member_seeds(settings.n_ensemble)
        else:
            seed_rows = checkpoints.seeds
        plan = FitPlan(
            settings=settings,
            networks=networks,
            device=device,
            precision=self.precision,
            validation_fraction=self._validation_fraction(settings),
            scaling=scaling,
            seeds=tuple(MemberSeeds.from_row(row) for row in seed_rows),
            warm=warm,
        )
        return plan, checkpoints

    def _plan_networks(self, n_in, n_out, settings):
        """One :class:`~._fit.plan.Network` per target block, its module solved once per size."""
        solved, networks = {}, []
        for columns in _split_columns(n_out, self.n_target_splits):
            size = len(columns)
            if size not in solved:
                solved[size] = self._module_class_and_kwargs(n_in, size, settings)
            module, module_kwargs = solved[size]
            networks.append(Network(columns, n_in, size, module, module_kwargs))
        return tuple(networks)

    def _batch_norm(self):
        """Whether the networks normalise their batches (a parameter of some estimators)."""
        return bool(getattr(self, "batch_norm", False))

    def _memory_report(self, network, batch_size, device, n_samples, n_out):
        """The memory report of training ``network`` (the widest), beside the float32 data."""
        return memory_guard.memory_report(
            network,
            batch_size,
            self.optimizer,
            self.precision,
            device,
            data_bytes=4 * n_samples * (network.n_in + n_out),
            momentum=self.momentum,
        )

    def _train_members(self, X, Y, validation, plan, checkpoints):
        """Train every ensemble member.

        Returns the members, the ridge of the final linear path (None without
        one) and the number of training rows of a member.
        """
        path = None if plan.warm else plan.settings.linear_path
        scaling = plan.scaling
        scalings = linear_fit.input_scalings(X, scaling.input_scale, self.input_scaling)
        blocks = [network.columns for network in plan.networks]
        members, linear = [], None
        for member, seeds in enumerate(plan.seeds):
            train, valid = self._train_valid_arrays(X, Y, validation, plan, seeds.split)
            shortcut = None
            if path == "shortcut":
                shortcut = self._fit_shortcut(*train, scalings)
                linear = shortcut.fit_
                train = (train[0], shortcut.Y_fit)
            # On a Dask/Ray worker: the worker's share of threads, GPU cache freed around it.
            with trial_scope(plan.device):
                nets = self._train_nets(plan, member, train, valid, shortcut, checkpoints)
            if path is not None and valid is not None:
                if shortcut is not None:
                    linear_fit.keep_networks_that_help(nets, blocks, valid, self.loss)
                else:
                    train = (train[0], _observed_or_zero(train[1]))
                    linear_fit.fall_back_unless_networks_help(
                        nets, blocks, train, valid, self.loss, scalings
                    )
            members.append(nets)
        held_out = validation is None and valid is not None
        if held_out and (path == "shortcut" or (path == "fallback" and _any_linear(members))):
            linear = self._refit_linear_paths(members, X, Y, scaling, scalings)
        return members, linear, len(train[0])

    def predict(self, X):
        """Predict the targets of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions in float64, shaped like the ``y`` given to ``fit``.
        """
        check_is_fitted(self)
        inputs.check_real_numbers(X, "X")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        # One float64 result written chunk by chunk: predicting many rows holds
        # neither a standardised float32 copy of all of X nor float32 copies of
        # every network's output, only those of one chunk.
        Y = np.empty((len(X), self.n_outputs_), dtype=np.float64)
        with glue.torch_threads(getattr(self, "n_threads_", None)):
            for start in range(0, len(X), PREDICT_CHUNK_ROWS):
                rows = slice(start, start + PREDICT_CHUNK_ROWS)
                self._predict_scaled(X[rows], out=Y[rows])
        Y *= self.target_scale_
        Y += self.target_mean_
        return Y.ravel() if self._target_is_1d else Y

    def predict_frame(self, X):
        """Predict the targets of ``X`` as a DataFrame: one row per sample, one column per target.

        ``predict`` returns an array, as scikit-learn's scorers, pipelines and
        ``cross_val_predict`` expect of a regressor; this method labels the
        same values. Rows keep the index of ``X`` when it is a DataFrame;
        columns are ``target_names_in_`` (the columns of the DataFrame ``y``
        given to ``fit``), else the positions 0, 1, ...

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : pandas.DataFrame of shape (n_samples, n_targets)
            Predictions in float64.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn_dgex import FlexibleMLPRegressor
        >>> from sklearn_dgex.datasets import make_expression
        >>> X, Y = make_expression(n_samples=40, n_landmarks=5, n_targets=3,
        ...                        random_state=0, as_frame=True)
        >>> model = FlexibleMLPRegressor(hidden_layer_sizes=(8,), max_epochs=1,
        ...                              random_state=0).fit(X, Y)
        >>> frame = model.predict_frame(X.iloc[:2])
        >>> list(frame.columns) == list(Y.columns), frame.index.equals(X.index[:2])
        (True, True)
        """
        import pandas as pd

        Y = self.predict(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            Y.reshape(len(Y), -1), index=index, columns=getattr(self, "target_names_in_", None)
        )

    def _check_target_names(self, y, reset):
        """Set, or on a warm start check, ``target_names_in_``, as ``feature_names_in_`` is."""
        columns = getattr(y, "columns", None)
        names = None
        if columns is not None and all(isinstance(name, str) for name in columns):
            names = np.asarray(columns, dtype=object)
        if reset:
            if names is None:
                self.__dict__.pop("target_names_in_", None)
            else:
                self.target_names_in_ = names
            return
        fitted = getattr(self, "target_names_in_", None)
        if names is not None and fitted is not None and not np.array_equal(names, fitted):
            raise ValueError(
                "y's columns differ from the target names this model was fitted with "
                f"(e.g. {list(fitted[:3])}); a warm start continues the same targets."
            )

    def _predict_scaled(self, X, out):
        """Mean over ensemble members of the standardised predictions of ``X``, into ``out``."""
        X = _standardize(X, self.input_mean_, self.input_scale_)
        members = getattr(self, "ensemble_", [self.nets_])
        for index, nets in enumerate(members):
            Y = np.concatenate([net.predict(X) for net in nets], axis=1)
            if index == 0:
                out[...] = Y
            else:
                out += Y
        out /= len(members)

    def epochs_to_threshold(self, threshold, metric="valid_rmse"):
        """First epoch (1-based) at which ``history_[metric]`` reached ``threshold``.

        The convergence speed of the flexible-MLP study (epochs to reach a
        validation RMSE of 0.08). Validation metrics need a validation set:
        ``validation_fraction``, ``early_stopping=True`` or ``X_val``/``y_val``.

        Parameters
        ----------
        threshold : float
            Error to reach (at or below).
        metric : str, default="valid_rmse"
            A key of the ``history_`` rows: "valid_rmse", "valid_mmae",
            "valid_loss" or "train_loss".

        Returns
        -------
        epoch : int or None
            ``None`` if the metric never reached the threshold.
        """
        check_is_fitted(self)
        if not any(metric in row for row in self.history_):
            recorded = sorted({key for row in self.history_ for key in row})
            raise ValueError(
                f"metric={metric!r} was not recorded during fit; recorded metrics are "
                f"{recorded}. Validation metrics need validation_fraction, "
                "early_stopping=True or X_val/y_val."
            )
        return _epochs_to_threshold([row.get(metric, np.nan) for row in self.history_], threshold)

    def save(self, path):
        """Write the fitted estimator to ``path`` in sklearn-dgex's safe format.

        A zip file holding a JSON configuration and the tensors in
        ``safetensors`` format, with a format version and a SHA-256 of the
        tensors; :func:`sklearn_dgex.load` reads it back without running code
        from the file. Unlike pickle, the file can be shared and loaded from
        untrusted sources.

        Parameters
        ----------
        path : str or path-like
            File to write (replaced atomically if it exists).

        Returns
        -------
        path : pathlib.Path
            The file written.

        See Also
        --------
        sklearn_dgex.load : Read the file back.
        sklearn_dgex.persistence.save : The same as a function.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from sklearn_dgex import FlexibleMLPRegressor, load
        >>> from sklearn_dgex.datasets import make_expression
        >>> X, Y = make_expression(n_samples=50, n_landmarks=8, n_targets=5, random_state=0)
        >>> model = FlexibleMLPRegressor(hidden_layer_sizes=(16,), max_epochs=2, random_state=0)
        >>> path = model.fit(X, Y).save(os.path.join(tempfile.mkdtemp(), "model.dgex"))
        >>> np.array_equal(load(path).predict(X), model.predict(X))
        True
        """
        return persistence.save(self, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------
    def _validate_training_data(self, X, y, reset):
        inputs.check_real_numbers(X, "X")
        inputs.check_real_numbers(y, "y")
        inputs.check_has_targets(y, "y")
        if self.allow_nan_targets:
            X, y = inputs.validate_allowing_nan_targets(self, X, y, reset)
        else:
            X, y = validate_data(
                self,
                X,
                y,
                multi_output=True,
                y_numeric=True,
                dtype=(np.float64, np.float32),
                reset=reset,
            )
        inputs.check_enough_samples(type(self).__name__, len(X))
        target_is_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if target_is_1d else y
        if not np.issubdtype(Y.dtype, np.floating):  # e.g. integer targets
            Y = Y.astype(np.float64)
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} targets, but this warm-started {type(self).__name__} "
                f"was fitted with {self.n_outputs_}; use warm_start=False to refit."
            )
        return X, Y, target_is_1d

    def _validate_validation_data(self, X_val, y_val, n_targets):
        if X_val is None and y_val is None:
            return None
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together; got only one of them.")
        inputs.check_real_numbers(X_val, "X_val")
        inputs.check_real_numbers(y_val, "y_val")
        try:
            X_val = validate_data(self, X_val, reset=False, dtype=(np.float64, np.float32))
        except ValueError as exc:  # scikit-learn's message says "X"
            raise ValueError(f"X_val: {exc}") from exc
        Y_val = check_array(
            y_val,
            ensure_2d=False,
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan" if self.allow_nan_targets else True,
            input_name="y_val",
        )
        Y_val = Y_val.reshape(-1, 1) if Y_val.ndim == 1 else Y_val
        if Y_val.shape != (len(X_val), n_targets):
            raise ValueError(
                f"y_val must have shape ({len(X_val)}, {n_targets}) to match X_val and y; "
                f"got {Y_val.shape}."
            )
        return X_val, Y_val

    def _check_all_hyperparameters(self, n_in, n_out):
        if self.n_target_splits > n_out:
            raise ValueError(
                f"n_target_splits={self.n_target_splits} is larger than the number of "
                f"targets ({n_out}); each network needs at least one target."
            )
        for n_out_net in _split_sizes(n_out, self.n_target_splits):
            self._check_hyperparameters(n_in, n_out_net)

    def _validation_fraction(self, settings):
        if self.validation_fraction is not None:
            return self.validation_fraction
        if settings.early_stopping:
            return auto_settings.DEFAULT_VALIDATION_FRACTION
        return None

    # ------------------------------------------------------------------
    # Small data: "auto" settings, linear shortcut, ensemble
    # ------------------------------------------------------------------
    def _resolve_settings(self, shape, warm):
        settings = auto_settings.resolve_settings(self.get_params(), *shape)
        if warm:  # a warm start continues the networks it has, with or without shortcut
            n_members = len(getattr(self, "ensemble_", [self.nets_]))
            if self.n_ensemble not in ("auto", n_members):
                raise ValueError(
                    f"n_ensemble={self.n_ensemble} cannot change in a warm_start continuation "
                    f"of a model fitted with {n_members} member(s); set n_ensemble="
                    f"{n_members} (or 'auto') or warm_start=False."
                )
            # Networks as wide as the fitted ones (None in files older than the field).
            settings = dataclasses.replace(
                settings,
                linear_path=self.linear_path_,
                n_ensemble=n_members,
                dense_width=self._settings.dense_width,
            )
        return settings

    def _announce(self, plan):
        """With ``verbose``, one line saying what the fit will do."""
        if not self.verbose:
            return
        settings = plan.settings
        path = {"shortcut": "linear shortcut", "fallback": "linear fallback"}
        print(
            f"{type(self).__name__}: {path.get(settings.linear_path, 'no linear path')}, "
            f"{settings.n_ensemble} ensemble member(s), up to {settings.max_epochs} epochs"
            f"{' with early stopping' if settings.early_stopping else ''}, "
            f"batch {settings.batch_size}, {settings.n_threads} thread(s), device {plan.device}",
            flush=True,
        )

    def _fit_shortcut(self, X, Y, scalings):
        """The member's :class:`~._fit.linear.ShortcutRidge` on its scaled training rows."""
        missing = np.isnan(Y) if self.allow_nan_targets else None
        if missing is not None:
            # The ridge takes a missing target for its mean (0 once scaled);
            # the networks' loss leaves it out.
            Y = np.where(missing, np.float32(0.0), Y)
        shortcut = linear_fit.ShortcutRidge(X, Y, scalings)
        if missing is not None:
            shortcut.Y_fit[missing] = np.nan
        return shortcut

    def _refit_linear_paths(self, members, X, Y, scaling, scalings):
        """Linear paths from the ridge of all rows, the held-out validation split included."""
        Y = _observed_or_zero(_standardize(Y, scaling.target_mean, scaling.target_scale))
        blocks = _split_columns(Y.shape[1], self.n_target_splits)
        X = _standardize(X, scaling.input_mean, scaling.input_scale)
        return linear_fit.refit_linear_paths(members, blocks, X, Y, scalings)

    def _member_seeds(self, n_ensemble):
        """Seed rows of the members: the networks' seeds, then the validation split's."""
        return auto_settings.ensemble_seeds(self.random_state, n_ensemble, self.n_target_splits + 1)

    # ------------------------------------------------------------------
    # Scaling
    # ------------------------------------------------------------------
    def _scaling_of(self, X, Y):
        input_mean, input_scale = _moments(X, self.input_scaling)
        if self.target_scaling == "minmax":
            target_mean, target_scale = _min_and_range(Y, self.allow_nan_targets)
        else:
            target_mean, target_scale = _moments(Y, self.target_scaling, self.allow_nan_targets)
        return Scaling(input_mean, input_scale, target_mean, target_scale)

    def _fitted_scaling(self):
        return Scaling(self.input_mean_, self.input_scale_, self.target_mean_, self.target_scale_)

    def _train_valid_arrays(self, X, Y, validation, plan, seed):
        """Scaled float32 ``(X, Y)`` for training and for validation (or None)."""
        scaling, fraction = plan.scaling, plan.validation_fraction
        if validation is None and fraction is not None:
            train_rows, valid_rows = _split_rows(len(X), fraction, seed)
            validation = X[valid_rows], Y[valid_rows]
            X, Y = X[train_rows], Y[train_rows]
        train = (
            _standardize(X, scaling.input_mean, scaling.input_scale),
            _standardize(Y, scaling.target_mean, scaling.target_scale),
        )
        if validation is None:
            return train, None
        X_val, Y_val = validation
        valid = (
            _standardize(X_val, scaling.input_mean, scaling.input_scale),
            _standardize(Y_val, scaling.target_mean, scaling.target_scale),
        )
        return train, valid

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def _train_nets(self, plan, member, train, valid, shortcut=None, checkpoints=None):
        """Train the networks of ensemble member ``member`` on its scaled arrays.

        ``train`` and ``valid`` (or None) are the member's scaled ``(X, Y)``;
        ``shortcut`` its :class:`~._fit.linear.ShortcutRidge` when the plan has
        the linear shortcut.
        """
        X, Y = train
        settings, device = plan.settings, plan.device
        inputs.check_batch_norm_batches(self._batch_norm(), len(X), settings.batch_size)
        X_t = torch.as_tensor(X, device=device)
        X_valid_t = None if valid is None else torch.as_tensor(valid[0], device=device)
        nets = []
        for index, network in enumerate(plan.networks):
            columns = network.columns
            seed = plan.seeds[member].networks[index]
            if plan.warm:
                net = getattr(self, "ensemble_", [self.nets_])[member][index]
                fresh = self._build_net(network, settings, seed, device)
                warm_starts.continue_with_settings(net, fresh)
            else:
                net = self._build_net(network, settings, seed, device)
            if shortcut is not None:
                shortcut.attach(net, columns, seed, device)
            callbacks = self._callbacks(
                settings,
                plan.scaling.target_scale[columns],
                index,
                member,
                validating=valid is not None,
            )
            if checkpoints is not None:
                callbacks.append(("checkpoint", checkpoints.callback(member, index)))
            self._configure_net(net, callbacks, settings.max_epochs)
            if valid is not None:
                valid_data = glue.TensorData(X_valid_t, _column_tensor(valid[1], columns, device))
                net.train_split = predefined_split(valid_data)
            with glue.seeded_torch(seed, device):
                epochs = settings.max_epochs
                if checkpoints is not None:  # continue an interrupted fit, if there was one
                    epochs = checkpoints.resume(member, index, net)
                epochs_before = len(net.history) if net.initialized_ else 0
                net.fit(X_t, _column_tensor(Y, columns, device), epochs=epochs)
            # The validation tensors are not part of the model: do not keep or pickle them.
            net.train_split = None
            self._raise_if_interrupted(net, epochs_before, epochs)
            nets.append(net)
        return nets

    def _open_checkpoints(self, X, Y, validation, warm, settings):
        """The fit's checkpoint directory (:class:`~._torch.checkpoints.Checkpoints`), or None."""
        if self.checkpoint_dir is None:
            return None
        if warm:
            raise ValueError(
                "checkpoint_dir resumes fits that start anew; it cannot be combined with a "
                "warm_start continuation of a fitted model. Set warm_start=False or "
                "checkpoint_dir=None."
            )
        arrays = (X, Y) if validation is None else (X, Y, *validation)
        # The parameters before the seeds advance a random_state generator.
        params = checkpoint_files.resume_params(self.get_params(deep=False))
        seeds = self._member_seeds(settings.n_ensemble)
        return checkpoint_files.Checkpoints.open(
            self.checkpoint_dir,
            self.checkpoint_every,
            type(self).__name__,
            params,
            arrays,
            seeds,
            settings.max_epochs,
        )

    def _new_net(self, n_in, n_out, seed, device):
        """A new net of the parameters and fitted settings (persistence rebuilds with it)."""
        settings = self._settings
        module, module_kwargs = self._module_class_and_kwargs(n_in, n_out, settings)
        network = Network(None, n_in, n_out, module, module_kwargs)
        return self._build_net(network, settings, seed, device)

    def _build_net(self, network, settings, seed, device):
        """A new, uninitialised skorch net of ``network`` trained with ``settings``."""
        n_in, n_out = network.n_in, network.n_out
        module, module_kwargs = network.module, network.module_kwargs
        optimizer, optimizer_kwargs = glue.optimizer_spec(
            self.optimizer, weight_decay=self.weight_decay, momentum=self.momentum
        )
        criterion, criterion_kwargs = glue.loss_class(self.loss), {}
        if self.allow_nan_targets:  # missing targets are left out of the loss
            criterion, criterion_kwargs = losses.MaskedLoss, {"base": criterion}
        return glue.InMemoryNet(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=float(self.lr),  # a numpy scalar would train in its own precision
            batch_size=settings.batch_size,
            max_epochs=settings.max_epochs,
            train_split=None,
            device=device,
            precision=self.precision,
            compile_module=self.compile,
            shuffle_seed=seed,
            verbose=self.verbose,
            warm_start=True,  # the estimator decides when to re-initialise
            **_prefixed("module", {"n_in": n_in, "n_out": n_out, **module_kwargs}),
            **_prefixed("optimizer", optimizer_kwargs),
            **_prefixed("criterion", criterion_kwargs),
        )

    def _configure_net(self, net, callbacks, max_epochs):
        """Set what may change between (warm-started) fits: epochs, verbosity, callbacks."""
        net.max_epochs = max_epochs
        net.compile_module = self.compile
        net.verbose = self.verbose
        net.callbacks = callbacks
        net.initialize_callbacks()

    def _callbacks(self, settings, target_scale, index, member, validating):
        errors = net_callbacks.MaskedOriginalUnitErrors if self.allow_nan_targets else None
        callbacks = [
            # First, so that nothing else sees a diverged epoch.
            ("nonfinite", net_callbacks.NonFiniteGuard(self.on_nonfinite)),
            ("lr", net_callbacks.RecordLearningRate()),
            (
                "original_unit_errors",
                (errors or net_callbacks.OriginalUnitErrors)(
                    torch.as_tensor(target_scale, dtype=torch.float32)
                ),
            ),
        ]
        if self.gradient_clip is not None:
            callbacks.append(("gradient_clip", GradientNormClipping(self.gradient_clip)))
        schedule = glue.lr_schedule_callback(
            self.lr_schedule,
            max_epochs=settings.max_epochs,
            monitor="valid_loss" if validating else "train_loss",
            patience=max(self.n_iter_no_change // 2, 1),
            tol=self.tol,
        )
        if schedule is not None:
            callbacks.append(("lr_schedule", schedule))
        if settings.early_stopping:
            stopping = net_callbacks.BestWeightsEarlyStopping(
                monitor="valid_loss", patience=self.n_iter_no_change, threshold=self.tol
            )
            callbacks.append(("early_stopping", stopping))
        splits, members = self.n_target_splits, settings.n_ensemble
        label = f"member {member + 1}/{members}  " if members > 1 else ""
        label += f"net {index + 1}/{splits}  " if splits > 1 else ""
        callbacks.append(("progress", net_callbacks.ProgressLine(label)))
        return callbacks

    def _raise_if_interrupted(self, net, epochs_before, epochs):
        # skorch ends training quietly on KeyboardInterrupt (early stopping
        # and the divergence guard use it); a user's Ctrl-C must still reach the caller.
        epochs_run = len(net.history) - epochs_before
        if epochs_run < epochs and not net_callbacks.any_stopped(net):
            raise KeyboardInterrupt

    # ------------------------------------------------------------------
    # Fitted state
    # ------------------------------------------------------------------
    def _set_fitted_state(self, members, plan, n_in, n_out, target_is_1d, n_train):
        nets = members[0]
        sizes = [network.n_out for network in plan.networks]
        histories = [_history_rows(net, n_train) for net in nets]
        scaling = plan.scaling
        self.input_mean_, self.input_scale_ = scaling.input_mean, scaling.input_scale
        self.target_mean_, self.target_scale_ = scaling.target_mean, scaling.target_scale
        self.ensemble_ = members
        self.nets_ = nets
        self.net_ = nets[0]
        # The resolved settings are saved with the model: loading rebuilds its networks from them.
        self._settings = settings = plan.settings
        self.linear_path_ = settings.linear_path
        self.linear_shortcut_ = settings.linear_shortcut
        self.early_stopping_ = settings.early_stopping
        self.max_epochs_ = settings.max_epochs
        self.batch_size_ = settings.batch_size
        self.n_ensemble_ = settings.n_ensemble
        self.n_threads_ = settings.n_threads
        self.n_outputs_ = n_out
        self._target_is_1d = target_is_1d
        self.histories_ = histories
        self.history_ = _combine_histories(histories, sizes, n_train)
        self.n_iter_ = max(len(h) for h in histories)
        self.best_epoch_ = _restored_epoch(nets, _best_epoch(self.history_))
        self.n_parameters_ = sum(
            _count_parameters(net.module_) for nets_ in members for net in nets_
        )
        self.n_neurons_ = len(members) * sum(map(self._network_neurons, plan.networks))


# ----------------------------------------------------------------------
# Helpers (module level: no state)
# ----------------------------------------------------------------------
def _observed_or_zero(Y):
    """Scaled targets with missing values (NaN) taken as their mean, 0; the ridge needs all."""
    return np.where(np.isnan(Y), np.float32(0.0), Y) if np.isnan(Y).any() else Y


def _any_linear(members):
    """Whether any network of ``members`` has a linear path (shortcut or fallback)."""
    return any(isinstance(net.module_, LinearShortcut) for nets in members for net in nets)


def _prefixed(prefix, kwargs):
    return {f"{prefix}__{key}": value for key, value in kwargs.items()}


def _column_tensor(Y, columns, device):
    if len(columns) == Y.shape[1]:
        return torch.as_tensor(Y, device=device)
    return torch.as_tensor(np.ascontiguousarray(Y[:, columns]), device=device)


def _moments(A, enabled, ignore_nan=False):
    """Column means and scales (float64); zeros and ones when scaling is off.

    With ``ignore_nan``, over the observed (non-NaN) values of each column.
    """
    n_columns = A.shape[1]
    if not enabled:
        return np.zeros(n_columns), np.ones(n_columns)
    if ignore_nan:
        mean = np.nanmean(A, axis=0, dtype=np.float64)
        scale = np.nanstd(A, axis=0, dtype=np.float64)
    else:
        mean, scale = _mean_and_std(A)
    scale[_is_constant(mean, scale, A.dtype)] = 1.0  # constant columns keep their values
    return mean, scale


def _min_and_range(A, ignore_nan=False):
    """Column minima and ranges (float64), so that ``(A - min) / range`` lies in [0, 1].

    Constant columns get range 1, as constant columns get scale 1 in
    :func:`_moments`, judged by the same relative rule.
    """
    low = (np.nanmin if ignore_nan else np.min)(A, axis=0).astype(np.float64)
    high = (np.nanmax if ignore_nan else np.max)(A, axis=0).astype(np.float64)
    span = high - low
    span[_is_constant(np.maximum(np.abs(low), np.abs(high)), span, A.dtype)] = 1.0
    return low, span


def _is_constant(mean, std, dtype):
    """Columns whose spread is rounding noise of ``dtype`` around their mean.

    Judged relative to each column's own magnitude (in float64), never
    against an absolute floor, so that data of any scale (``X * 1e-5`` in
    float32) standardises like the same data at scale 1. Spreads below
    float32's normal range cannot be divided by in the float32 networks.
    """
    noise = 1e3 * np.finfo(dtype).eps * np.abs(mean)
    return (std <= noise) | (std < np.finfo(np.float32).tiny)


def _mean_and_std(A, chunk_rows=128):
    """Column means and population standard deviations of ``A``, in float64.

    Two passes like ``np.std``, but the float64 deviations are formed a chunk
    of rows at a time: about 4x faster than ``np.std(A, axis=0, dtype=float64)``
    on a (1024, 4759) float32 array, whose full float64 temporaries leave the cache.
    """
    mean = A.mean(axis=0, dtype=np.float64)
    squares = np.zeros(A.shape[1])
    for start in range(0, len(A), chunk_rows):
        deviations = A[start : start + chunk_rows] - mean
        squares += np.einsum("ij,ij->j", deviations, deviations)
    return mean, np.sqrt(squares / len(A))


def _standardize(A, mean, scale):
    """``(A - mean) / scale`` as a new float32 array (one float32 copy)."""
    out = np.array(A, dtype=np.float32, order="C", copy=True)
    out -= mean.astype(np.float32)
    out /= scale.astype(np.float32)
    return out


def _split_rows(n_rows, fraction, seed):
    if n_rows < 2:
        raise ValueError(
            f"A validation split needs at least 2 samples, got n_samples={n_rows}; "
            "set early_stopping=False and validation_fraction=None, or pass X_val and y_val."
        )
    n_valid = min(max(math.ceil(fraction * n_rows), 1), n_rows - 1)
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def _count_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _history_rows(net, n_train):
    rows = []
    for row in net.history:
        out = {public: row[key] for key, public in _HISTORY_KEYS.items() if key in row}
        if "train_time" in row:
            out["samples_per_s"] = (
                n_train / row["train_time"] if row["train_time"] > 0 else math.inf
            )
        rows.append(out)
    return rows


def _combine_histories(histories, sizes, n_train):
    """One history for the whole model from the networks' own histories.

    Losses and MMAE are means over all entries, so they combine as means
    weighted by each network's number of targets; RMSE combines through its
    square. Only the epochs that every network ran are combined.
    """
    if len(histories) == 1:
        return histories[0]
    weights = np.asarray(sizes, dtype=np.float64) / sum(sizes)
    combined = []
    for rows in zip(*histories, strict=False):
        row = {"epoch": rows[0]["epoch"], "lr": rows[0]["lr"]}
        for key in ("train_loss", "valid_loss", "valid_mmae"):
            if all(key in r for r in rows):
                row[key] = float(np.dot(weights, [r[key] for r in rows]))
        if all("valid_rmse" in r for r in rows):
            row["valid_rmse"] = math.sqrt(np.dot(weights, [r["valid_rmse"] ** 2 for r in rows]))
        row["epoch_time"] = sum(r["epoch_time"] for r in rows)
        row["train_time"] = sum(r["train_time"] for r in rows)
        row["samples_per_s"] = n_train / row["train_time"] if row["train_time"] > 0 else math.inf
        combined.append(row)
    return combined


def _restored_epoch(nets, best_epoch):
    """Epoch whose weights early stopping restored (0: the initial ones), else ``best_epoch``."""
    stopping = dict(nets[0].callbacks_).get("early_stopping") if len(nets) == 1 else None
    if stopping is None or stopping.best_model_weights_ is None:
        return best_epoch
    return stopping.best_epoch_


def _best_epoch(history):
    """Epoch with the lowest validation loss, else the lowest training loss; None if none."""
    for key in ("valid_loss", "train_loss"):
        values = [row[key] for row in history if key in row]
        if values:
            return history[int(np.argmin(values))]["epoch"]
    return None
