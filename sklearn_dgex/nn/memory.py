"""Training-memory estimates for a network: refuse early instead of running out of memory.

Training holds four things at once: the parameters, one gradient per
parameter, the optimizer's state and the activations that autograd saves for
the backward pass at the batch size. The first three are exact functions of
the parameters and the optimizer; the activations are measured by running the
forward pass on torch's ``meta`` device (shapes only, no memory, no time), so
the estimate costs nothing even for the study's 257M-parameter networks and
works for modules that were themselves built on ``meta``::

    with torch.device("meta"):
        net = DGEXNet(942, 4759, width=10000)
    estimate_training_memory(net, batch_size=256)

``precision="bf16"`` follows torch's bf16 autocast: master weights, gradients
and optimizer state stay float32, matrix products run on bf16 copies of their
inputs (those copies are what autograd saves), and element-wise operations
keep whatever dtype type promotion gives them (a TAAF's float32 parameters
promote its output back to float32).
"""

import contextlib
import dataclasses
import functools
import os
from numbers import Integral

import torch
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

__all__ = [
    "OPTIMIZER_STATE",
    "MemoryEstimate",
    "available_memory",
    "check_training_memory",
    "estimate_training_memory",
    "format_bytes",
    "max_batch_size_that_fits",
]

#: Per parameter tensor, the optimizer's state as ``(full-size buffers, scalar tensors)``
#: in torch 2.13 (a scalar is a 4-byte float32 ``step`` or ``mu_product``). SGD's
#: momentum buffer and RMSprop's extra buffers are added by ``momentum`` / ``centered``.
OPTIMIZER_STATE = {
    "adam": (2, 1),  # exp_avg, exp_avg_sq; step
    "adamw": (2, 1),
    "nadam": (2, 2),  # exp_avg, exp_avg_sq; step, mu_product
    "sgd": (0, 0),  # + momentum_buffer when momentum != 0
    "rmsprop": (1, 1),  # square_avg; step (+ momentum_buffer, + grad_avg when centered)
    "adagrad": (1, 1),  # sum; step
}
PRECISIONS = ("float32", "tf32", "bf16")  # TF32 matmuls keep float32 tensors
_SCALAR_STATE_BYTES = 4

# The functions torch's CPU and CUDA autocast run in bf16 that a dense network uses;
# einsum and tensordot are listed because autocast reaches their inner bmm.
_LOW_PRECISION_FUNCTIONS = {
    torch.nn.functional.linear,
    torch.matmul,
    torch.mm,
    torch.bmm,
    torch.addmm,
    torch.baddbmm,
    torch.addbmm,
    torch.einsum,
    torch.tensordot,
    torch.Tensor.matmul,
    torch.Tensor.__matmul__,
    torch.Tensor.__rmatmul__,
    torch.Tensor.mm,
    torch.Tensor.bmm,
    torch.Tensor.addmm,
    torch.Tensor.baddbmm,
}


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes that one training step of a network needs, by component.

    Attributes
    ----------
    parameters : int
        Parameters and buffers (exact).
    gradients : int
        One gradient per trainable parameter (exact).
    optimizer_state : int
        The optimizer's per-parameter state (exact for torch 2.13).
    activations : int
        At the batch size: tensors saved for the backward pass, the input and
        target batch, the output, and the gradients in flight during the
        backward pass (an estimate; see :func:`estimate_training_memory`).
    batch_size : int
    optimizer : str
    precision : str

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_dgex.nn.memory import estimate_training_memory
    >>> est = estimate_training_memory(nn.Linear(1000, 1000), batch_size=64)
    >>> est.parameters, est.optimizer_state  # 1,001,000 float32 and Adam's 2 buffers
    (4004000, 8008008)
    >>> est.total == est.parameters + est.gradients + est.optimizer_state + est.activations
    True
    """

    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    batch_size: int
    optimizer: str
    precision: str

    @property
    def total(self):
        """Sum of the four components, in bytes."""
        return self.parameters + self.gradients + self.optimizer_state + self.activations

    @property
    def fixed(self):
        """Bytes that do not depend on the batch size."""
        return self.parameters + self.gradients + self.optimizer_state

    def __str__(self):
        rows = [
            ("parameters", self.parameters),
            ("gradients", self.gradients),
            ("optimizer state", self.optimizer_state),
            (f"activations (batch {self.batch_size})", self.activations),
            ("total", self.total),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"Training memory ({self.optimizer}, {self.precision}):"]
        lines += [f"  {name:<{width}}  {format_bytes(size):>10}" for name, size in rows]
        return "\n".join(lines)


def format_bytes(n_bytes):
    """Human-readable size with binary prefixes.

    Parameters
    ----------
    n_bytes : int or float
        A size in bytes.

    Returns
    -------
    str
        ``"512 B"``, ``"1.50 KiB"``, ... up to GiB.

    Examples
    --------
    >>> from sklearn_dgex.nn.memory import format_bytes
    >>> format_bytes(512), format_bytes(3 * 2**30)
    ('512 B', '3.00 GiB')
    """
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _check_choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _optimizer_state_bytes(module, optimizer, momentum, centered):
    buffers, scalars = OPTIMIZER_STATE[optimizer]
    if optimizer in ("sgd", "rmsprop") and momentum:
        buffers += 1
    if optimizer == "rmsprop" and centered:
        buffers += 1
    trainable = [p for p in module.parameters() if p.requires_grad]
    return sum(buffers * p.nbytes + scalars * _SCALAR_STATE_BYTES for p in trainable)


def _infer_n_features(module):
    n_in = getattr(module, "n_in", None)
    if isinstance(n_in, int):
        return n_in
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            return sub.in_features
    raise ValueError(
        f"cannot tell how many input features {type(module).__name__} takes; pass n_features"
    )


class _Bf16AutocastOnMeta(TorchFunctionMode):
    """What bf16 autocast does to the dtypes, for meta tensors (which autocast skips)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _LOW_PRECISION_FUNCTIONS:

            def to_bf16(value):
                if torch.is_tensor(value) and value.is_floating_point():
                    return value.to(torch.bfloat16)
                return value

            args, kwargs = tree_map(to_bf16, (args, kwargs))
        return func(*args, **kwargs)


@contextlib.contextmanager
def _training_mode(module):
    # Dropout and batch norm save more for backward in training mode; restore after.
    modes = [(sub, sub.training) for sub in module.modules()]
    module.train()
    try:
        yield
    finally:
        for sub, mode in modes:
            sub.training = mode


def _root(tensor):
    return tensor if tensor._base is None else tensor._base


def _saved_tensors(module, batch_size, n_features, precision):
    """Run one forward pass on the meta device; return (saved tensors by root id, output)."""
    meta_state = {
        name: torch.empty_like(p, device="meta").requires_grad_(p.requires_grad)
        for name, p in module.named_parameters()
    }
    meta_state.update(
        {name: torch.empty_like(b, device="meta") for name, b in module.named_buffers()}
    )
    state_ids = {id(t) for t in meta_state.values()}
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    x = torch.empty(batch_size, n_features, dtype=dtype, device="meta")
    saved = {id(x): x}  # the input batch is held anyway; count it once

    def pack(tensor):
        root = _root(tensor)
        if id(root) not in state_ids:
            saved.setdefault(id(root), root)
        return tensor

    autocast = _Bf16AutocastOnMeta() if precision == "bf16" else contextlib.nullcontext()
    with (
        _training_mode(module),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        autocast,
    ):
        output = functional_call(module, meta_state, (x,), strict=False)
    return saved, output


def _activation_bytes(module, batch_size, n_features, precision):
    """Bytes of one forward/backward at ``batch_size``, measured on the meta device."""
    saved, output = _saved_tensors(module, batch_size, n_features, precision)
    saved_bytes = sum(t.nbytes for t in saved.values())
    output_bytes = 0 if id(_root(output)) in saved else output.nbytes
    target_bytes = output.numel() * 4  # float32 targets
    # Transients, each bounded by the largest activation: the loss's difference
    # of output and target, and during backward the gradients of the layer being
    # processed and of the layer before it.
    largest = max([output.nbytes, *(t.nbytes for t in saved.values())])
    return saved_bytes + output_bytes + target_bytes + 3 * largest


def estimate_training_memory(
    module,
    batch_size,
    optimizer="adam",
    precision="float32",
    *,
    momentum=0.0,
    centered=False,
    n_features=None,
):
    """Estimate the memory one training step of ``module`` needs.

    Parameters
    ----------
    module : torch.nn.Module
        The network, on any device including ``meta``; it is not modified
        and no forward pass runs on its own device.
    batch_size : int
        Rows per training batch.
    optimizer : {"adam", "adamw", "nadam", "sgd", "rmsprop", "adagrad"}, default="adam"
        The optimizer, whose state is ``OPTIMIZER_STATE[optimizer]``.
    precision : {"float32", "tf32", "bf16"}, default="float32"
        "bf16" is bf16 autocast (float32 master weights); "tf32" needs
        what "float32" needs.
    momentum : float, default=0.0
        Momentum of "sgd" or "rmsprop"; non-zero adds one buffer per parameter.
    centered : bool, default=False
        Centered "rmsprop" (one more buffer per parameter).
    n_features : int, optional
        Inputs per row; by default ``module.n_in`` or the first
        ``nn.Linear``'s ``in_features``.

    Returns
    -------
    MemoryEstimate
        Parameters, gradients and optimizer state are exact; activations
        are the tensors autograd saves for backward (measured on the meta
        device, so exact for the saved tensors), plus the input, target and
        output batches and two activation-sized gradients in flight. Not
        included: allocator fragmentation, CUDA context and kernels'
        workspaces, and the temporaries of non-fused optimizer steps (up to
        one parameter-sized copy for torch's multi-tensor ``foreach`` path).

    See Also
    --------
    max_batch_size_that_fits : The largest batch that fits a memory budget.
    check_training_memory : Raise a clear error before training when it cannot fit.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.nn import DGEXNet
    >>> from sklearn_dgex.nn.memory import estimate_training_memory
    >>> with torch.device("meta"):  # the study's 257M-parameter network, never allocated
    ...     net = DGEXNet(942, 4759, width=10000)
    >>> est = estimate_training_memory(net, batch_size=256, optimizer="nadam")
    >>> round(est.parameters / 4e6)  # million float32 parameters
    257
    >>> round(est.total / 2**30, 1)  # GiB
    4.0
    """
    _check_batch_size(batch_size)
    _check_choice("optimizer", optimizer, OPTIMIZER_STATE)
    _check_choice("precision", precision, PRECISIONS)
    if n_features is None:
        n_features = _infer_n_features(module)
    parameter_bytes = sum(p.nbytes for p in module.parameters())
    return MemoryEstimate(
        parameters=parameter_bytes + sum(b.nbytes for b in module.buffers()),
        gradients=sum(p.nbytes for p in module.parameters() if p.requires_grad),
        optimizer_state=_optimizer_state_bytes(module, optimizer, momentum, centered),
        activations=_activation_bytes(module, batch_size, n_features, precision),
        batch_size=batch_size,
        optimizer=optimizer,
        precision=precision,
    )


def max_batch_size_that_fits(
    module, memory_bytes, optimizer="adam", precision="float32", *, upper=2**20, **options
):
    """The largest batch size whose :func:`estimate_training_memory` fits ``memory_bytes``.

    Parameters
    ----------
    module : torch.nn.Module
        The network (any device, including ``meta``).
    memory_bytes : int
        The memory budget, e.g. :func:`available_memory` of the device.
    optimizer, precision :
        As in :func:`estimate_training_memory`.
    upper : int, default=2**20
        The largest batch size considered.
    **options
        ``momentum``, ``centered``, ``n_features`` as in
        :func:`estimate_training_memory`.

    Returns
    -------
    int
        The batch size, or 0 when not even one row fits (the parameters,
        gradients and optimizer state alone may exceed the budget).

    See Also
    --------
    estimate_training_memory : The estimate at one batch size.
    available_memory : The budget of a device.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_dgex.nn.memory import estimate_training_memory, max_batch_size_that_fits
    >>> net = nn.Sequential(nn.Linear(100, 512), nn.ReLU(), nn.Linear(512, 100))
    >>> budget = 8 * 2**20
    >>> b = max_batch_size_that_fits(net, budget)
    >>> total = [estimate_training_memory(net, size).total for size in (b, b + 1)]
    >>> total[0] <= budget < total[1]
    True
    """

    def fits(batch_size):
        estimate = estimate_training_memory(module, batch_size, optimizer, precision, **options)
        return estimate.total <= memory_bytes

    if not fits(1):
        return 0
    # The estimate grows monotonically with the batch size: bisect on it.
    low, high = 1, upper
    if fits(high):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def available_memory(device="cpu"):
    """Bytes free for training on ``device``.

    CUDA: what ``torch.cuda.mem_get_info`` reports free on the device. CPU:
    the kernel's ``MemAvailable`` (``/proc/meminfo``), else the physical
    memory.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        "cpu", "cuda" or "cuda:N".

    Returns
    -------
    int
        Free bytes.

    See Also
    --------
    check_training_memory : Compare an estimate with this.

    Examples
    --------
    >>> from sklearn_dgex.nn.memory import available_memory
    >>> available_memory("cpu") > 0
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _usable_memory(device):
    """Bytes a training could use: free memory plus, on CUDA, what torch's cache holds."""
    device = torch.device(device)
    if device.type == "cuda":
        return available_memory(device) + torch.cuda.memory_reserved(device)
    return available_memory(device)


class _TrainingMemoryReport:
    """A training's estimate set against the memory usable on its device, with advice.

    The one text that :func:`check_training_memory` and the estimators' ``fit``
    (refusing before training, explaining an out-of-memory error during it)
    give: what training needs, what the device offers, and what to change.

    Parameters
    ----------
    module, batch_size, optimizer, precision, **options :
        As in :func:`estimate_training_memory`.
    device : str
        Where training runs.
    data_bytes : int, default=0
        Bytes of training data held on the device beside the network.
    """

    def __init__(
        self, module, batch_size, optimizer, precision, *, device, data_bytes=0, **options
    ):
        self.estimate = estimate_training_memory(
            module, batch_size, optimizer, precision, **options
        )
        self.usable = _usable_memory(device)
        self.device = device
        self.data_bytes = data_bytes
        self._sizing = (module, optimizer, precision, options)

    @property
    def fits(self):
        """Whether the estimate and the data fit the usable memory."""
        return self.estimate.total + self.data_bytes <= self.usable

    @functools.cached_property
    def fitting_batch_size(self):
        """The largest batch size that fits beside the data (0: none); computed when asked."""
        module, optimizer, precision, options = self._sizing
        budget = max(self.usable - self.data_bytes, 0)
        return max_batch_size_that_fits(module, budget, optimizer, precision, **options)

    def advice(self, smaller_network="a smaller network", other_remedy="use precision='bf16'"):
        """What to change: a batch size that fits, a smaller network, or a freer device.

        ``smaller_network`` and ``other_remedy`` name the caller's own settings.
        """
        batch_size, fitting = self.estimate.batch_size, self.fitting_batch_size
        if fitting == 0:
            return (
                "Not even batch_size=1 fits: the parameters, gradients and optimizer state "
                f"alone need {format_bytes(self.estimate.fixed)}. Use {smaller_network}, or a "
                "device with more memory."
            )
        if fitting < batch_size:
            return (
                f"batch_size={fitting} would fit by the estimate (which leaves no margin for "
                f"fragmentation; a little smaller is safer), or {other_remedy}."
            )
        return (
            f"By the estimate batch_size={batch_size} fits, so the memory was taken by "
            "something else (other processes or tensors on the device, fragmentation); free "
            f"the device or try batch_size={max(batch_size // 2, 1)}."
        )

    def describe(self, subject="training", **remedies):
        """``subject`` needs ..., usable ..., the advice, then the estimate by component."""
        data = (
            f", plus {format_bytes(self.data_bytes)} for the training data"
            if self.data_bytes
            else ""
        )
        return (
            f"{subject} needs about {format_bytes(self.estimate.total)} at "
            f"batch_size={self.estimate.batch_size}{data}; about {format_bytes(self.usable)} "
            f"is usable on {self.device}. {self.advice(**remedies)}\n{self.estimate}"
        )


def check_training_memory(
    module, batch_size, optimizer="adam", precision="float32", *, device="cpu", **options
):
    """Raise ``MemoryError`` before training when the estimate exceeds usable memory.

    Parameters
    ----------
    module, batch_size, optimizer, precision, **options :
        As in :func:`estimate_training_memory`.
    device : str or torch.device, default="cpu"
        Where training will run; its usable memory is :func:`available_memory`
        plus, on CUDA, what torch's cache holds (torch reuses it).

    Returns
    -------
    MemoryEstimate
        The estimate, when it fits.

    Raises
    ------
    MemoryError
        With what training needs and what the device offers, the largest batch
        size that would fit (or, when none does, that the network itself is too
        large for the device), and the estimate by component.

    See Also
    --------
    estimate_training_memory : The estimate alone.

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_dgex.nn.memory import check_training_memory
    >>> print(check_training_memory(nn.Linear(10, 10), batch_size=32))  # doctest: +ELLIPSIS
    Training memory (adam, float32):
    ...
    """
    report = _TrainingMemoryReport(
        module, batch_size, optimizer, precision, device=str(device), **options
    )
    if report.fits:
        return report.estimate
    raise MemoryError(report.describe())
