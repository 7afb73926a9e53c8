"""Private glue between the estimators and skorch.

The estimators never subclass skorch; they build a :class:`InMemoryNet` per
network and change how skorch trains only by overriding single hooks of
``NeuralNetRegressor`` or by adding callbacks, as skorch intends:

- ``get_dataset`` / ``get_iterator``: the data lives in memory as tensors on the
  training device (moved there once); training batches are slices of a fresh
  permutation every epoch (skorch's default iterator does not shuffle), with no
  ``DataLoader`` or collate cost per batch.
- ``run_single_epoch``: the epoch's loss is accumulated on the device and read
  once per epoch, so a GPU is not synchronised after every batch.
- ``infer`` and ``train_step``: bf16 autocast for ``precision="bf16"``, TF32
  matmuls on CUDA for ``precision="tf32"``.
- ``evaluation_step``: prediction batches are zero-padded to a multiple of
  :data:`PREDICT_ROW_MULTIPLE` rows, which makes every row's prediction
  independent of how the rows were batched (see the function's comment).
- learning-rate schedules (:func:`lr_schedule_callback`).

Not here: the other callbacks (learning-rate record, validation errors in the
targets' original units, early stopping that restores the best weights, the
progress line, the divergence guard) are in
:mod:`sklearn_dgex._torch.callbacks`, the checkpoints are in
:mod:`sklearn_dgex._torch.checkpoints`, the loss over observed targets is in
:mod:`sklearn_dgex._torch.losses`, and the memory check runs before any
network is built (:func:`sklearn_dgex._fit.memory_guard.refuse_if_too_large`).
:func:`optimizer_spec` picks fused or multi-tensor optimizer steps;
``InMemoryNet._compiled_module`` holds the network compiled for
``compile=True``.
"""

import contextlib
import math
import time
import warnings

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import EpochTimer, LRScheduler
from skorch.utils import TeeGenerator

# persistence resolves a loaded model's device through this name.

# --------------------------------------------------------------------------
# One source of truth: the D-GEX study's stepped learning-rate schedule
# (the D-GEX tower study, "Training": Nadam, 600 epochs).
# Rows are (first epoch, 1-based, of the stage; learning rate of the stage).
# --------------------------------------------------------------------------
DGEX_STUDY_EPOCHS = 600
DGEX_STUDY_LR_STEPS = (
    (1, 5e-4),
    (401, 5e-5),
    (476, 5e-6),
    (551, 5e-7),
    (576, 2.5e-7),
)

#: Keras' Nadam ``schedule_decay=0.004`` of the study is torch's ``momentum_decay``;
#: Keras' default epsilon is 1e-7 (torch's is 1e-8).
_OPTIMIZERS = {
    "nadam": (torch.optim.NAdam, {"momentum_decay": 4e-3, "eps": 1e-7}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
}
# Only these optimizers have a momentum argument; Adam-like ones keep beta1 = 0.9.
_MOMENTUM_OPTIMIZERS = {"sgd", "rmsprop"}
# torch has fused (one kernel per step) implementations of these on CPU and CUDA,
# about 4x faster per step than the default on CPU; the others get the multi-tensor
# ("foreach") implementation, which torch uses by default on CUDA only.
_FUSED_OPTIMIZERS = {"adam", "adamw", "sgd"}

_LOSSES = {
    "mae": torch.nn.L1Loss,
    "mse": torch.nn.MSELoss,
    # delta=1 is one standard deviation of a gene when targets are scaled.
    "huber": torch.nn.HuberLoss,
}

#: Prediction batches are padded to a multiple of this many rows (see ``evaluation_step``).
PREDICT_ROW_MULTIPLE = 16
#: Rows per prediction batch: large, since prediction needs no activations for backward.
PREDICT_BATCH_SIZE = 4096


# --------------------------------------------------------------------------
# Threads, seeds, optimizers, losses
# --------------------------------------------------------------------------
@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch CPU threads, then restore the caller's number.

    None leaves torch's setting alone. Restored even when the block raises,
    so that a fit or a prediction never changes the caller's setting.
    """
    before = torch.get_num_threads()
    if n_threads is None or n_threads == before:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cuda_index(device):
    return torch.device(device).index or 0 if device.startswith("cuda") else None


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's CPU (and ``device``'s CUDA) generator inside, restore them after.

    The caller's global random state is left exactly as it was, so that
    ``random_state`` makes a fit reproducible without side effects. With
    ``seed=None`` the global generators are used and advance, as scikit-learn
    does for ``random_state=None``.
    """
    if seed is None:
        yield
        return
    index = _cuda_index(device)
    devices = [] if index is None else [index]
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if index is not None:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def optimizer_spec(name, *, weight_decay, momentum):
    """Return ``(optimizer class, keyword arguments)`` for an optimizer name."""
    cls, kwargs = _OPTIMIZERS[name]
    # Python floats: numpy scalars would reach the optimizer's arithmetic and its state.
    kwargs = {**kwargs, "weight_decay": float(weight_decay)}
    if name in _MOMENTUM_OPTIMIZERS:
        kwargs["momentum"] = float(momentum)
    kwargs["fused" if name in _FUSED_OPTIMIZERS else "foreach"] = True
    return cls, kwargs


#: CPU feature flags of native bf16 arithmetic; without them torch emulates bf16 matmuls.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (None where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), None)
    except OSError:
        return None
    return None if flags is None else set(flags.split(":", 1)[1].split())


def cpu_has_bf16():
    """Whether the CPU has native bf16 instructions (Linux; None where unknown)."""
    flags = cpu_flags()
    return None if flags is None else bool(flags & set(BF16_CPU_FLAGS))


def warn_if_bf16_is_emulated():
    """Warn that bf16 autocast will be slower than float32 on a CPU without bf16 units."""
    if cpu_has_bf16() is False:
        warnings.warn(
            "precision='bf16' on a CPU without bf16 instructions (avx512_bf16 / amx_bf16): "
            "torch emulates bf16 matmuls, which measured 15 to 50 times slower than "
            "float32 on such a CPU (benchmarks/perf.py). Use precision='float32' here.",
            UserWarning,
            stacklevel=3,
        )


@contextlib.contextmanager
def tf32_matmuls():
    """Let CUDA float32 matmuls run on TF32 tensor cores for the duration (then restore).

    TF32 keeps float32's range with a 10-bit mantissa: on an A100 or H100 its
    matmuls run several times faster than full float32. No effect on a CPU.
    """
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def loss_class(name):
    """Return the torch criterion class of a loss name ("mae", "mse", "huber")."""
    return _LOSSES[name]


# --------------------------------------------------------------------------
# Learning-rate schedules: picklable multipliers of the base learning rate
# --------------------------------------------------------------------------
class StepMultiplier:
    """The D-GEX study's stepped schedule, scaled from 600 epochs to ``max_epochs``.

    Called with a 0-based epoch index, returns the factor applied to the base
    learning rate. Stage boundaries scale proportionally: ``first_epoch - 1``
    times ``max_epochs / 600``, rounded half up, so that for 600 epochs they
    are exactly the study's 400 / 475 / 550 / 575, and a short run starts at
    the base rate (stages that round past the last epoch never happen).
    """

    def __init__(self, max_epochs):
        base_rate = DGEX_STUDY_LR_STEPS[0][1]
        self.starts = [
            (2 * (first - 1) * max_epochs + DGEX_STUDY_EPOCHS) // (2 * DGEX_STUDY_EPOCHS)
            for first, _ in DGEX_STUDY_LR_STEPS
        ]
        self.factors = [rate / base_rate for _, rate in DGEX_STUDY_LR_STEPS]

    def __call__(self, epoch):
        stage = sum(epoch >= start for start in self.starts) - 1
        return self.factors[max(stage, 0)]


class CosineMultiplier:
    """Cosine decay from the base learning rate towards 0 over ``max_epochs``.

    Clamped after ``max_epochs`` (torch's ``CosineAnnealingLR`` would rise again),
    so that a warm-started continuation keeps the final, small rate.
    """

    def __init__(self, max_epochs):
        self.max_epochs = max(max_epochs, 1)

    def __call__(self, epoch):
        progress = min(epoch, self.max_epochs) / self.max_epochs
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_schedule_callback(schedule, *, max_epochs, monitor, patience, tol):
    """Return the skorch ``LRScheduler`` callback of a schedule name, or None."""
    if schedule is None:
        return None
    if schedule == "plateau":
        return LRScheduler(
            policy=torch.optim.lr_scheduler.ReduceLROnPlateau,
            monitor=monitor,
            event_name=None,
            factor=0.2,
            patience=patience,
            threshold=tol,
            threshold_mode="abs",
        )
    multiplier = {"dgex": StepMultiplier, "cosine": CosineMultiplier}[schedule](max_epochs)
    return LRScheduler(
        policy=torch.optim.lr_scheduler.LambdaLR, lr_lambda=multiplier, event_name=None
    )


# --------------------------------------------------------------------------
# In-memory data and batches
# --------------------------------------------------------------------------
class TensorData:
    """Input (and target) tensors already on the training device."""

    def __init__(self, X, y=None):
        self.X = X
        self.y = y

    def __len__(self):
        return len(self.X)


class _ShuffledBatches:
    """Training batches: tensor slices of a new random permutation every epoch.

    A trailing batch of a single row is merged into the previous one, so that
    batch normalisation never sees a batch of one.
    """

    def __init__(self, data, batch_size, epoch_rng):
        self.data = data
        self.batch_size = batch_size
        self.epoch_rng = epoch_rng

    def _bounds(self):
        n_rows = len(self.data)
        starts = list(range(0, n_rows, self.batch_size))
        if len(starts) > 1 and n_rows - starts[-1] == 1:
            starts.pop()
        return zip(starts, [*starts[1:], n_rows])

    def __iter__(self):
        # One host-to-device copy of the permutation per epoch, none per batch.
        order = self.epoch_rng().permutation(len(self.data))
        order = torch.from_numpy(order).to(self.data.X.device)
        for start, stop in self._bounds():
            rows = order[start:stop]
            yield self.data.X.index_select(0, rows), self.data.y.index_select(0, rows)


class _OrderedBatches:
    """Validation and prediction batches: consecutive slices, no copies."""

    def __init__(self, data, batch_size):
        self.data = data
        self.batch_size = batch_size

    def __iter__(self):
        for start in range(0, len(self.data), self.batch_size):
            stop = start + self.batch_size
            y = None if self.data.y is None else self.data.y[start:stop]
            yield self.data.X[start:stop], y


def _pad_rows(X, multiple):
    remainder = len(X) % multiple
    if remainder == 0:
        return X
    return torch.cat([X, X.new_zeros((multiple - remainder, *X.shape[1:]))])


# --------------------------------------------------------------------------
# The net
# --------------------------------------------------------------------------
class InMemoryNet(NeuralNetRegressor):
    """skorch ``NeuralNetRegressor`` that trains from in-memory tensors.

    Parameters beyond skorch's
    --------------------------
    precision : {"float32", "tf32", "bf16"}
        "tf32" lets CUDA float32 matmuls use TF32 (forward and backward);
        "bf16" runs forward passes under bf16 autocast (CPU or CUDA).
    compile_module : bool
        Run the training forward passes through ``torch.compile(module_)``
        (the same parameters; ``module_`` itself stays the plain module, so
        weights, checkpoints and pickles are unchanged). Not skorch's
        ``compile``, which replaces ``module_`` by the compiled wrapper.
    shuffle_seed : int or None
        Seed of the per-epoch permutations of the training rows.
    """

    def __init__(
        self,
        module,
        *args,
        precision="float32",
        compile_module=False,
        shuffle_seed=None,
        **kwargs,
    ):
        super().__init__(module, *args, **kwargs)
        self.precision = precision
        self.compile_module = compile_module
        self.shuffle_seed = shuffle_seed

    # _default_callbacks and _set_training are private in skorch, which has no
    # public hook for either: pyproject.toml caps skorch's version, and
    # tests/architecture/test_skorch_hooks.py checks that they are still what this net expects.
    @property
    def _default_callbacks(self):
        # skorch's defaults read per-batch history entries, which this net does
        # not write (see run_single_epoch); the loss is recorded per epoch instead.
        return [("epoch_timer", EpochTimer())]

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        # No per-batch history rows: hundreds of thousands of empty dicts over a
        # long run would cost time and bloat every pickled model.
        pass

    def get_dataset(self, X, y=None):
        if isinstance(X, TensorData):
            return X
        y = None if y is None else torch.as_tensor(y, device=self.device)
        return TensorData(torch.as_tensor(X, device=self.device), y)

    def get_iterator(self, dataset, training=False):
        if training:
            return _ShuffledBatches(dataset, self.batch_size, self._epoch_rng)
        batch_size = self.get_params_for("iterator_valid").get("batch_size", PREDICT_BATCH_SIZE)
        return _OrderedBatches(dataset, batch_size)

    def _epoch_rng(self):
        # The permutation of an epoch depends on (shuffle_seed, epoch number)
        # alone: a warm-started fit does not replay the first fit's
        # permutations, and a fit resumed from a checkpoint continues exactly
        # the permutations of the run it resumes.
        if self.shuffle_seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.shuffle_seed, len(self.history)])

    def _autocast(self):
        # Entering even a disabled torch.autocast costs tens of microseconds per batch.
        if self.precision != "bf16":
            return contextlib.nullcontext()
        device_type = torch.device(self.device).type
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def _matmul_precision(self):
        # Around whole steps: the backward pass's matmuls run outside infer.
        return tf32_matmuls() if self.precision == "tf32" else contextlib.nullcontext()

    def initialize(self):
        super().initialize()
        if self.precision == "bf16" and torch.device(self.device).type == "cpu":
            warn_if_bf16_is_emulated()
        return self

    def _set_training(self, training=True):
        # skorch calls this before every batch, and Module.train walks every
        # submodule; per-batch overhead that only matters when the mode changes.
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def train_step(self, batch, **fit_params):
        # skorch's train_step passes a closure and a step accumulator to
        # optimizer.step, which only optimizers that re-evaluate the loss (LBFGS)
        # need; none of ours does. The same steps, without that per-batch cost,
        # on the net's one optimizer.
        self.optimizer_.zero_grad()
        with self._matmul_precision():
            step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()
        return step

    def infer(self, x, **fit_params):
        with self._autocast(), self._matmul_precision():
            if self.compile_module and self.module_.training:
                y_pred = self._compiled_module()(x, **fit_params)
            else:
                y_pred = super().infer(x, **fit_params)
        return y_pred.float()

    def _compiled_module(self):
        # Made on first use and again whenever module_ is another object (a
        # re-initialised net); only training passes use it, so prediction
        # does not pay for a second compilation.
        cached = self.__dict__.get("_compiled")
        if cached is None or cached[0] is not self.module_:
            cached = (self.module_, torch.compile(self.module_))
            self._compiled = cached
        return cached[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled", None)  # compiled code does not pickle; made again on use
        return state

    def evaluation_step(self, batch, training=False):
        # CPU matmul kernels treat the rows of a partial tile differently, so a
        # row predicted alone can differ in the last bit from the same row
        # predicted in a batch. Padding every batch to whole tiles makes each
        # row's prediction independent of its batch (scikit-learn's
        # subset-invariance check compares them to 1e-7).
        X, y = batch
        padded = _pad_rows(X, PREDICT_ROW_MULTIPLE)
        return super().evaluation_step((padded, y), training=training)[: len(X)]

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        started = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        n_rows = n_batches = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            # Summed on the device: no host synchronisation per batch.
            loss_sum += step["loss"].detach() * len(batch[0])
            n_rows += len(batch[0])
            n_batches += 1
            self.notify("on_batch_end", batch=batch, training=training, **step)
        self.history.record(prefix + "_loss", loss_sum.item() / max(n_rows, 1))
        self.history.record(prefix + "_batch_count", n_batches)
        if training:
            seconds = time.perf_counter() - started
            self.history.record("train_time", seconds)
            self.history.record("samples_per_s", n_rows / seconds if seconds > 0 else math.inf)
