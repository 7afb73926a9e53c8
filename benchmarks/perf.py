"""Training speed of the estimators against a hand-written PyTorch loop.

For each shape, one run prints

* training samples/s of ``DGEXRegressor.fit`` (dense and 5-tower checkerboard
  at an equal parameter budget) and ``FlexibleMLPRegressor.fit`` beside a
  hand-written PyTorch loop over the same module: same batch size, Adam, MSE
  loss, a fresh permutation of the rows every epoch, float32, the data already
  in tensors;
* the hand-written loop's FLOP rate (matmul FLOPs of one training step counted
  by ``torch.utils.flop_counter``) beside the large-matmul rate of this machine,
  measured in the same run;
* scikit-learn's ``MLPRegressor`` at the same architecture with float32 and
  float64 input;
* bf16 autocast with a fused Adam against float32, with its accuracy cost, and
  whether the CPU has bf16 instructions;
* the training-memory estimate of every network (``sklearn_dgex.nn.memory``)
  and the peak memory of ``predict`` over many rows (streamed in batches);
* on CUDA, the study's 257M-parameter network: epoch time for 88,256 profiles
  at batch 256 and 1024 and its fraction of the FLOP bound.

Variants of a shape run in interleaved rounds (each once per round, in a
rotating order); a ratio is the median over rounds of the ratio within a
round, so that load from other processes hits numerator and denominator
alike. Every ratio is printed beside its speed target (PASS / MISS, or
N/A where the target does not apply to this machine). Targets are read from
this output, never asserted by timed tests.

Run ``python benchmarks/perf.py`` (about 5 to 8 minutes on 2 CPU cores),
``--quick`` (about a minute), ``--shapes small`` or ``--help``.
"""

import argparse
import contextlib
import copy
import dataclasses
import datetime
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import load_average, machine_description
from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor
from sklearn_dgex._torch.device import resolve_device
from sklearn_dgex._torch.net import BF16_CPU_FLAGS, cpu_flags
from sklearn_dgex.nn import DGEXNet, FlexibleMLP, TowerLinear, dense_budget, solve_width
from sklearn_dgex.nn.memory import estimate_training_memory, format_bytes

# Training settings shared by every variant, so that only the training loop differs.
LR = 1e-3
ACTIVATION = "taaf_sigmoid"  # D-GEX networks
OUTPUT_ACTIVATION = "identity"
DROPOUT = 0.25
MLP_ACTIVATION = "relu"  # the flexible MLP and scikit-learn's MLPRegressor

#: ``--clock``: wall time, or the process's CPU time, which a machine shared with
#: other jobs disturbs far less (use it with ``--threads 1``).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = [CLOCKS["wall"]]


def clock():
    """Seconds on the clock chosen with ``--clock``."""
    return _clock[0]()


# The speed targets: the estimator within 5% of a hand-written loop, 70% of the FLOP bound.
TARGET_ESTIMATOR_VS_HAND = 0.95
TARGET_FLOP_FRACTION = 0.70
TARGET_BF16_SPEEDUP = 1.8
TARGET_VS_SKLEARN = 2.0
TARGET_PAPER_EPOCH_S = {256: 1.5, 1024: 0.6}
PAPER_PROFILES = 88_256


@dataclasses.dataclass(frozen=True)
class Shape:
    """One benchmark shape: network size, batch and how much data one timing uses."""

    name: str
    n_in: int
    n_out: int
    hidden: tuple
    batch_size: int
    n_rows: int
    epochs: int
    towers: int = 5

    @property
    def samples(self):
        return self.n_rows * self.epochs


SHAPES = {
    # Per-batch overhead dominates: a step is a few hundred microseconds.
    "small": Shape("small", 100, 200, (128, 128), batch_size=64, n_rows=4096, epochs=2),
    # The speed targets' representative network: the D-GEX tower study's inputs and
    # outputs with three hidden layers of 2,000 (942 -> 3 x 2,000 -> 4,759), batch 256.
    "representative": Shape(
        "representative", 942, 4759, (2000, 2000, 2000), batch_size=256, n_rows=1024, epochs=2
    ),
    # The study's network (257M parameters); CUDA only, timed per epoch of 88,256 rows.
    "paper": Shape("paper", 942, 4759, (10000, 10000, 10000), 256, PAPER_PROFILES, 1),
}
QUICK_ROWS = {"small": 2048, "representative": 512}
SMOKE_SHAPE = Shape("smoke", 20, 30, (16, 16), batch_size=16, n_rows=64, epochs=1, towers=2)


# ----------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------
def bf16_instructions():
    """The CPU's bf16 matmul instruction sets, e.g. ``["amx_bf16", "avx512_bf16"]``."""
    return sorted((cpu_flags() or set()) & set(BF16_CPU_FLAGS))


def machine_report(device):
    load = load_average()
    lines = [
        f"date        {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"machine     {machine_description(str(device))}",
        f"cpu         capability {torch.backends.cpu.get_cpu_capability()}",
        f"bf16 insns  {', '.join(bf16_instructions()) or 'none (no avx512_bf16 / amx_bf16)'}",
        f"load avg    {load:.2f} (1 min)",
    ]
    if load > (os.cpu_count() or 1):
        lines.append(
            "WARNING     the load average exceeds the cores: other processes compete; "
            "ratios (interleaved) are more reliable than absolute rates"
        )
    return lines


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device, n, repeats, dtype=torch.float32):
    """Median GFLOP/s of an ``n x n`` by ``n x n`` matmul."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: thread pools, kernels
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        started = clock()
        a @ b
        synchronize(device)
        seconds.append(clock() - started)
    return 2 * n**3 / statistics.median(seconds) / 1e9


# ----------------------------------------------------------------------------
# Networks: what the estimator builds, and the same module for the hand loop
# ----------------------------------------------------------------------------
@dataclasses.dataclass
class Network:
    """A network of one shape, as an estimator and as the equal torch module."""

    label: str
    estimator_cls: type
    estimator_kwargs: dict
    module_factory: object  # () -> nn.Module, the module the estimator builds


def checkerboard_width(shape, towers):
    """Widest checkerboard tower within the budget of the dense network of ``shape``."""
    layers = {
        "n_hidden_layers": len(shape.hidden),
        "activation": ACTIVATION,
        "output_activation": OUTPUT_ACTIVATION,
    }
    budget = dense_budget(shape.n_in, shape.n_out, shape.hidden[0], **layers)
    return solve_width(
        shape.n_in, shape.n_out, towers=towers, param_budget=budget, arch="checkerboard", **layers
    )


def dgex_network(shape, arch):
    towers = 1 if arch == "dense" else shape.towers
    width = shape.hidden[0] if arch == "dense" else checkerboard_width(shape, towers)
    layers = {
        "n_hidden_layers": len(shape.hidden),
        "activation": ACTIVATION,
        "output_activation": OUTPUT_ACTIVATION,
        "dropout": DROPOUT,
    }
    estimator_arch = "dense" if arch == "dense" else "c"
    nn_arch = "dense" if arch == "dense" else "checkerboard"
    label = "dense" if arch == "dense" else f"checkerboard {towers}x{width}"
    return Network(
        label=f"D-GEX {label}",
        estimator_cls=DGEXRegressor,
        estimator_kwargs={"arch": estimator_arch, "towers": towers, "width": width, **layers},
        module_factory=lambda: DGEXNet(
            shape.n_in, shape.n_out, arch=nn_arch, towers=towers, width=width, **layers
        ),
    )


def mlp_network(shape):
    layers = {
        "hidden_layer_sizes": shape.hidden,
        "activation": MLP_ACTIVATION,
        "output_activation": "identity",
    }
    return Network(
        label="flexible MLP",
        estimator_cls=FlexibleMLPRegressor,
        estimator_kwargs={**layers, "dropout": 0.0, "weight_decay": 0.0},
        module_factory=lambda: FlexibleMLP(shape.n_in, shape.n_out, **layers),
    )


def training_settings(shape, device, precision="float32"):
    """Estimator parameters that make its training loop the hand loop's."""
    return {
        "optimizer": "adam",
        "lr": LR,
        "lr_schedule": None,
        "loss": "mse",
        "batch_size": shape.batch_size,
        "max_epochs": shape.epochs,
        "device": str(device),
        "precision": precision,
        "random_state": 0,
        # Nothing beyond the training loop: no validation split, no ridge shortcut.
        "early_stopping": False,
        "validation_fraction": None,
        "linear_shortcut": False,
        "n_ensemble": 1,
    }


# ----------------------------------------------------------------------------
# The training loops being compared
# ----------------------------------------------------------------------------
def make_data(shape, device, seed=0):
    """Random inputs and targets of ``shape``, made on ``device`` (88,256 rows on a GPU)."""
    generator = torch.Generator(device=device).manual_seed(seed)

    def randn(*size):
        return torch.randn(*size, generator=generator, device=device)

    X = randn(shape.n_rows, shape.n_in)
    # Targets with some structure, so that the accuracy comparison is not of noise.
    W = randn(shape.n_in, shape.n_out) / shape.n_in**0.5
    Y = torch.tanh(X @ W) + 0.1 * randn(shape.n_rows, shape.n_out)
    return X, Y


def make_adam(module, fused):
    # fused=True is the single-kernel Adam (CPU and CUDA in torch 2.13); None is torch's default.
    return torch.optim.Adam(module.parameters(), lr=LR, fused=True if fused else None)


def train_hand_loop(module, X, Y, *, batch_size, epochs, bf16=False, fused=False, seed=0):
    """The reference: a plain PyTorch loop over in-memory tensors. Returns per-epoch seconds."""
    device = X.device
    optimizer = make_adam(module, fused)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    epoch_seconds = []
    for _ in range(epochs):
        started = clock()
        order = torch.randperm(len(X), generator=generator).to(device)
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            x, y = X.index_select(0, rows), Y.index_select(0, rows)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                prediction = module(x)
            loss = F.mse_loss(prediction.float(), y)
            loss.backward()
            optimizer.step()
        synchronize(device)
        epoch_seconds.append(clock() - started)
    return epoch_seconds


def time_hand(network, shape, data, *, bf16=False, fused=False):
    """Seconds of a whole hand-written training run, module construction included."""
    X, Y = data
    started = clock()
    torch.manual_seed(0)
    module = network.module_factory().to(X.device)
    train_hand_loop(
        module, X, Y, batch_size=shape.batch_size, epochs=shape.epochs, bf16=bf16, fused=fused
    )
    return clock() - started


def time_estimator(network, shape, arrays, device, precision="float32"):
    """Seconds of ``estimator.fit`` on numpy float32 arrays."""
    X, Y = arrays
    estimator = network.estimator_cls(
        **network.estimator_kwargs, **training_settings(shape, device, precision)
    )
    started = clock()
    with warnings.catch_warnings():
        # Emulated bf16 is timed on purpose; the report says so in its own words.
        warnings.filterwarnings("ignore", "precision='bf16' on a CPU without bf16")
        estimator.fit(X, Y)
    synchronize(device)
    return clock() - started


def time_sklearn(shape, arrays, dtype):
    """Seconds of scikit-learn's ``MLPRegressor.fit`` at the flexible MLP's architecture."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, Y = (a.astype(dtype) for a in arrays)
    estimator = MLPRegressor(
        hidden_layer_sizes=shape.hidden,
        activation=MLP_ACTIVATION,
        solver="adam",
        alpha=0.0,
        batch_size=shape.batch_size,
        learning_rate_init=LR,
        max_iter=shape.epochs,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=shape.epochs + 1,
        random_state=0,
    )
    started = clock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, Y)
    return clock() - started


def interleaved(variants, rounds):
    """Samples/s per variant per round; the order rotates every round.

    ``variants`` maps a name to ``(samples, run)`` or ``(samples, run,
    max_rounds)``: ``run()`` trains on ``samples`` rows in total and returns its
    seconds; a variant with ``max_rounds`` runs in the first rounds only (bf16
    where the CPU emulates it is too slow to repeat).
    """
    names = list(variants)
    rates = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples, run, *limit = variants[name]
            if round_index < (limit[0] if limit else rounds):
                rates[name].append(samples / run())
    return rates


def median_ratio(rates, reference_rates):
    """Median over rounds of ``rates / reference_rates`` measured in the same round."""
    return statistics.median(round_ratios(rates, reference_rates))


def round_ratios(rates, reference_rates):
    return [a / b for a, b in zip(rates, reference_rates)]


# ----------------------------------------------------------------------------
# FLOPs and accuracy
# ----------------------------------------------------------------------------
def training_flops_per_sample(module_factory, n_in, batch_size=8):
    """Matmul FLOPs of one training step per row, counted by torch (forward + backward).

    Counting the executed kernels gets the details right: tower layers are
    ``T * w * w`` weights, and the first layer computes no gradient for the
    input, so a step is slightly less than ``6 x weights``.
    """
    with torch.device("meta"):
        module = module_factory()
    x = torch.empty(batch_size, n_in, device="meta")
    with FlopCounterMode(display=False) as counter:
        module(x).square().mean().backward()
    return counter.get_total_flops() / batch_size


def matmul_weights(module):
    """Weights of the matmul layers (``nn.Linear`` and tower layers), biases excluded."""
    layers = (torch.nn.Linear, TowerLinear)
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, layers))


def bf16_accuracy(network, shape, data, steps):
    """How far bf16 autocast + fused Adam moves the outputs from float32 training.

    Both runs start from the same weights and see the same batches. Returns
    the relative L2 difference of the outputs at initialisation (forward only)
    and after ``steps`` training steps, and both runs' final training losses.
    """
    X, Y = data
    n_rows = min(len(X), steps * shape.batch_size)
    X, Y = X[:n_rows], Y[:n_rows]
    torch.manual_seed(0)
    reference = network.module_factory().to(X.device)
    bf16 = copy.deepcopy(reference)
    probe = X[: min(256, len(X))]

    def outputs(module, autocast):
        module.eval()
        with torch.no_grad(), torch.autocast(X.device.type, torch.bfloat16, enabled=autocast):
            return module(probe).float()

    def relative(a, b):
        return float((a - b).norm() / b.norm())

    at_init = relative(outputs(bf16, True), outputs(reference, False))
    train_hand_loop(reference, X, Y, batch_size=shape.batch_size, epochs=1)
    train_hand_loop(bf16, X, Y, batch_size=shape.batch_size, epochs=1, bf16=True, fused=True)
    trained = relative(outputs(bf16, True), outputs(reference, False))
    losses = [
        float(F.mse_loss(outputs(module, autocast), Y[: len(probe)]))
        for module, autocast in ((reference, False), (bf16, True))
    ]
    return at_init, trained, losses


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------
class Report:
    """Collects the rows of the final PASS / MISS table while printing as it goes."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.checks = []
        self.started = time.perf_counter()

    def print(self, text=""):
        print(text, file=self.stream, flush=True)

    def section(self, title):
        self.print()
        elapsed = time.perf_counter() - self.started
        self.print(f"== {title} ==  [{elapsed:.0f} s into the run]")

    def check(self, label, measured, target, *, unit="x", lower_is_better=False, applies=True):
        """Record a measured value against its target: PASS, MISS or N/A."""
        if not applies:
            verdict = "N/A"
        elif lower_is_better:
            verdict = "PASS" if measured <= target else "MISS"
        else:
            verdict = "PASS" if measured >= target else "MISS"
        self.checks.append((label, measured, target, unit, lower_is_better, verdict))
        return verdict

    def summary(self):
        self.section("Speed targets (medians of interleaved rounds)")
        width = max([len(row[0]) for row in self.checks] + [10])
        self.print(f"{'check':<{width}}  {'measured':>9}  {'target':>8}  result")
        for label, measured, target, unit, lower, verdict in self.checks:
            sign = "<=" if lower else ">="
            self.print(
                f"{label:<{width}}  {measured:>8.2f}{unit}  {sign}{target:>5.2f}{unit}  {verdict}"
            )


def print_rates(report, rates, references):
    """One row per variant: median samples/s and the ratio to each reference variant.

    A ratio is the median of the per-round ratios, with their range in brackets
    when there were several rounds: a wide range means a noisy machine.
    """
    header = "".join(f"  {'vs ' + name:>36}" for name in references)
    report.print(f"{'variant':<40} {'samples/s':>10}{header}")
    for name, values in rates.items():
        ratios = "".join(
            f"  {format_ratio(round_ratios(values, rates[reference])):>36}"
            for reference in references
        )
        report.print(f"{name:<40} {statistics.median(values):>10.0f}{ratios}")


def format_ratio(ratios):
    text = f"{statistics.median(ratios):.2f}x"
    if len(ratios) > 1:
        text += f" [{min(ratios):.2f}-{max(ratios):.2f}]"
    return text


HAND = "hand loop float32"
HAND_FUSED = "hand loop float32, fused Adam"
HAND_BF16 = "hand loop bf16 autocast, fused Adam"


def bf16_is_native(device):
    return device.type == "cuda" or bool(bf16_instructions())


def bf16_shape(shape, device):
    """The shape for bf16 timings: one batch where bf16 is emulated (no bf16 instructions)."""
    if bf16_is_native(device):
        return shape
    return dataclasses.replace(shape, n_rows=shape.batch_size, epochs=1)


def bench_dgex(report, shape, device, rounds, gflops, *, with_bf16):
    """DGEXRegressor.fit against the hand loop, dense and checkerboard; bf16 on the dense one."""
    data = make_data(shape, device)
    arrays = tuple(t.cpu().numpy() for t in data)
    for arch in ("dense", "checkerboard"):
        network = dgex_network(shape, arch)
        estimator = "DGEXRegressor.fit float32"
        variants = {
            HAND: (shape.samples, lambda n=network: time_hand(n, shape, data)),
            HAND_FUSED: (shape.samples, lambda n=network: time_hand(n, shape, data, fused=True)),
            estimator: (
                shape.samples,
                lambda n=network: time_estimator(n, shape, arrays, device),
            ),
        }
        bf16 = with_bf16 and arch == "dense"
        if bf16:
            variants.update(bf16_variants(network, bf16_shape(shape, device), data, device))
        report.section(f"{shape.name}: {network.label} ({describe(network, shape)})")
        rates = interleaved(variants, rounds)
        print_rates(report, rates, [HAND, HAND_FUSED])
        report.check(
            f"{shape.name} {network.label}: fit / hand loop",
            median_ratio(rates[estimator], rates[HAND]),
            TARGET_ESTIMATOR_VS_HAND,
        )
        fractions = print_flops(
            report,
            network,
            shape,
            {name: statistics.median(rates[name]) for name in (HAND, HAND_FUSED, estimator)},
            gflops,
        )
        # The target is the package's training FLOP rate; the hand loops' are printed above.
        report.check(
            f"{shape.name} {network.label}: {estimator} FLOP rate / large matmul",
            fractions[estimator],
            TARGET_FLOP_FRACTION,
            applies=shape.name == "representative",
        )
        print_memory(report, network, shape)
        if bf16:
            report_bf16(report, network, shape, data, rates)


def bf16_variants(network, shape, data, device):
    X, Y = data
    data = (X[: shape.n_rows], Y[: shape.n_rows])
    arrays = tuple(t.cpu().numpy() for t in data)
    rounds = () if bf16_is_native(device) else (1,)  # emulated bf16: one round is enough
    return {
        HAND_BF16: (
            shape.samples,
            lambda: time_hand(network, shape, data, bf16=True, fused=True),
            *rounds,
        ),
        "DGEXRegressor.fit bf16": (
            shape.samples,
            lambda: time_estimator(network, shape, arrays, device, precision="bf16"),
            *rounds,
        ),
    }


def describe(network, shape):
    with torch.device("meta"):
        n_params = sum(p.numel() for p in network.module_factory().parameters())
    widths = " x ".join(str(w) for w in shape.hidden)
    return (
        f"{shape.n_in} -> {widths} -> {shape.n_out}, {n_params:,} parameters, "
        f"batch {shape.batch_size}"
    )


def print_flops(report, network, shape, rates, gflops):
    """Print the matmul FLOP rate of each variant in ``rates``; return its share of ``gflops``."""
    per_sample = training_flops_per_sample(network.module_factory, shape.n_in)
    with torch.device("meta"):
        weights = matmul_weights(network.module_factory())
    report.print(
        f"matmul FLOPs of a training step: {per_sample / 1e6:.3g} MFLOP per row "
        f"(6 x weights = {6 * weights / 1e6:.3g} MFLOP; the first layer needs no input gradient)"
    )
    fractions = {}
    for name, rate in rates.items():
        achieved = per_sample * rate / 1e9
        fractions[name] = achieved / gflops
        report.print(
            f"  FLOP rate of {name}: {achieved:.3g} GFLOP/s = {fractions[name]:.0%} of the "
            f"large-matmul {gflops:.1f} GFLOP/s"
        )
    return fractions


def print_memory(report, network, shape):
    with torch.device("meta"):
        module = network.module_factory()
    estimate = estimate_training_memory(module, shape.batch_size, optimizer="adam")
    report.print(
        "training memory estimate: "
        + ", ".join(
            f"{name} {format_bytes(getattr(estimate, name))}"
            for name in ("parameters", "gradients", "optimizer_state", "activations", "total")
        )
    )


def report_bf16(report, network, shape, data, rates):
    device = data[0].device
    if not bf16_is_native(device):
        report.print(
            "bf16 timed on one batch, one round: this CPU has no bf16 instructions "
            "(avx512_bf16 / amx_bf16), so torch emulates bf16 and it is slow; the bf16 "
            "targets are N/A here"
        )
    for name in (HAND_BF16, "DGEXRegressor.fit bf16"):
        report.check(
            f"{shape.name} {name} / hand float32",
            median_ratio(rates[name], rates[HAND]),
            TARGET_BF16_SPEEDUP,
            applies=bf16_is_native(device),
        )
    fused = median_ratio(rates[HAND_FUSED], rates[HAND])
    report.print(f"fused Adam alone: {fused:.2f}x the hand loop with torch's default Adam")
    steps = 4 if bf16_is_native(device) else 1
    at_init, trained, losses = bf16_accuracy(network, shape, data, steps=steps)
    report.print(
        f"bf16 accuracy cost: outputs differ from float32 by {at_init:.1e} (relative L2) at "
        f"the same weights; after {steps} training steps from the same weights and batches "
        f"by {trained:.1e} (Adam's first steps move every weight by about lr whatever its "
        f"gradient, so rounding differences grow), with training MSE float32 "
        f"{losses[0]:.4f}, bf16 {losses[1]:.4f}"
    )


def bench_mlp(report, shape, device, rounds, *, with_sklearn):
    """FlexibleMLPRegressor.fit against the hand loop and scikit-learn's MLPRegressor."""
    data = make_data(shape, device)
    arrays = tuple(t.cpu().numpy() for t in data)
    network = mlp_network(shape)
    estimator = "FlexibleMLPRegressor.fit float32"
    variants = {
        HAND: (shape.samples, lambda: time_hand(network, shape, data)),
        HAND_FUSED: (shape.samples, lambda: time_hand(network, shape, data, fused=True)),
        estimator: (shape.samples, lambda: time_estimator(network, shape, arrays, device)),
    }
    if with_sklearn:
        for dtype in (np.float32, np.float64):
            variants[f"sklearn MLPRegressor {dtype.__name__} input"] = (
                shape.samples,
                lambda dtype=dtype: time_sklearn(shape, arrays, dtype),
            )
    report.section(f"{shape.name}: {network.label} ({describe(network, shape)})")
    rates = interleaved(variants, rounds)
    print_rates(report, rates, [HAND, HAND_FUSED])
    report.check(
        f"{shape.name} flexible MLP: fit / hand loop",
        median_ratio(rates[estimator], rates[HAND]),
        TARGET_ESTIMATOR_VS_HAND,
    )
    if with_sklearn:
        for dtype in ("float32", "float64"):
            report.check(
                f"{shape.name} FlexibleMLPRegressor / sklearn MLP ({dtype})",
                median_ratio(rates[estimator], rates[f"sklearn MLPRegressor {dtype} input"]),
                TARGET_VS_SKLEARN,
                applies=dtype == "float32",
            )
    print_memory(report, network, shape)


OPTIMIZER_VARIANTS = {
    "Adam, default": (torch.optim.Adam, {}),
    "Adam, foreach": (torch.optim.Adam, {"foreach": True}),
    "Adam, fused": (torch.optim.Adam, {"fused": True}),
    "AdamW, fused": (torch.optim.AdamW, {"fused": True}),
    "NAdam, default": (torch.optim.NAdam, {}),
    "NAdam, foreach": (torch.optim.NAdam, {"foreach": True}),
    "SGD momentum, default": (torch.optim.SGD, {"momentum": 0.9}),
    "SGD momentum, fused": (torch.optim.SGD, {"momentum": 0.9, "fused": True}),
    "RMSprop, foreach": (torch.optim.RMSprop, {"foreach": True}),
}


def bench_optimizers(report, shape, device, rounds, *, compile_nadam=False):
    """Time one optimizer step on the parameters of the shape's dense D-GEX network."""
    torch.manual_seed(0)
    params = list(dgex_network(shape, "dense").module_factory().to(device).parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    steps = {name: cls(params, lr=LR, **kw).step for name, (cls, kw) in OPTIMIZER_VARIANTS.items()}
    if compile_nadam:
        started = time.perf_counter()
        steps["NAdam, foreach, torch.compile"] = torch.compile(
            torch.optim.NAdam(params, lr=LR, foreach=True).step
        )
        steps["NAdam, foreach, torch.compile"]()
        report.print(f"(compiling NAdam's step took {time.perf_counter() - started:.0f} s)")
    seconds = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up: state allocation
    for _ in range(max(rounds, 5)):
        for name, step in steps.items():
            started = clock()
            step()
            synchronize(device)
            seconds[name].append(clock() - started)
    n_params = sum(p.numel() for p in params)
    report.section(f"{shape.name}: optimizer step, {n_params:,} parameters, {len(params)} tensors")
    reference = statistics.median(seconds["Adam, default"])
    report.print(f"{'optimizer':<32} {'ms/step':>8} {'ns/weight':>10} {'vs Adam default':>16}")
    for name, values in seconds.items():
        median = statistics.median(values)
        report.print(
            f"{name:<32} {median * 1e3:>8.1f} {median * 1e9 / n_params:>10.2f} "
            f"{reference / median:>15.2f}x"
        )


def warm_up(device):
    """Run every kind of loop once on a tiny shape, untimed.

    The first fused optimizer step, the first fit and the first autocast pay
    one-time costs (imports, lazy initialisation) that would otherwise fall on
    the first timed round.
    """
    shape = SMOKE_SHAPE
    data = make_data(shape, device)
    arrays = tuple(t.cpu().numpy() for t in data)
    for network in (dgex_network(shape, "dense"), mlp_network(shape)):
        time_hand(network, shape, data)
        time_hand(network, shape, data, bf16=True, fused=True)
        time_estimator(network, shape, arrays, device)
    time_sklearn(shape, arrays, np.float32)


def bench_matmul_at_shape(report, shape, device, repeats):
    """Matmul rate at the network's own first-layer shape, for context."""
    a = torch.randn(shape.batch_size, shape.n_in, device=device)
    b = torch.randn(shape.n_in, shape.hidden[0], device=device)
    a @ b
    synchronize(device)
    seconds = []
    for _ in range(max(repeats, 5)):
        started = clock()
        a @ b
        synchronize(device)
        seconds.append(clock() - started)
    flops = 2 * shape.batch_size * shape.n_in * shape.hidden[0]
    report.print(
        f"matmul at the first layer's shape ({shape.batch_size}x{shape.n_in} @ "
        f"{shape.n_in}x{shape.hidden[0]}): {flops / statistics.median(seconds) / 1e9:.1f} GFLOP/s"
    )


def bench_paper(
    report, device, shape, *, gflops, gflops_bf16=None, batch_sizes=(256, 1024), epochs=2
):
    """The study's network: epoch time over ``shape.n_rows`` rows and its FLOP-bound fraction.

    Meant for CUDA (TF32 matmuls, fused Adam, bf16 autocast, and the estimator
    with the study's NAdam); it runs on any device so that the tests exercise it
    on a tiny shape on CPU. The bound is the epoch's matmul FLOPs at the large-
    matmul rate measured in this run; the optimizer step, memory-bound, adds to it.
    """
    network = dgex_network(shape, "dense")
    report.section(f"{shape.name}: D-GEX {describe(network, shape)}")
    per_sample = training_flops_per_sample(network.module_factory, shape.n_in)
    bounds = {
        False: per_sample * shape.n_rows / (gflops * 1e9),
        True: per_sample * shape.n_rows / ((gflops_bf16 or gflops) * 1e9),
    }
    bound = bounds[False]
    report.print(
        f"{per_sample * shape.n_rows:.3g} FLOP per epoch of {shape.n_rows:,} rows: "
        f"{bound:.2f} s at {gflops:.0f} GFLOP/s"
    )
    X, Y = make_data(shape, device)
    for batch_size in batch_sizes:
        for bf16 in (False, True):
            torch.manual_seed(0)
            module = network.module_factory().to(device)
            seconds = train_hand_loop(
                module, X, Y, batch_size=batch_size, epochs=epochs, bf16=bf16, fused=True
            )
            del module
            epoch = min(seconds[1:] or seconds)  # the first epoch warms up kernels
            label = f"{shape.name} batch {batch_size} hand loop {'bf16' if bf16 else 'fp32'}"
            report.print(
                f"{label}, fused Adam: {epoch:.2f} s per epoch, {bounds[bf16] / epoch:.0%} of "
                "the FLOP bound"
            )
            report.check(
                f"{label}: s/epoch",
                epoch,
                TARGET_PAPER_EPOCH_S.get(batch_size, float("inf")),
                unit="s",
                lower_is_better=True,
                applies=device.type == "cuda",
            )
        settings = training_settings(shape, device)
        settings.update(optimizer="nadam", batch_size=batch_size, max_epochs=epochs)
        estimator = network.estimator_cls(**network.estimator_kwargs, **settings)
        estimator.fit(X.cpu().numpy(), Y.cpu().numpy())
        epoch = min(row["epoch_time"] for row in estimator.history_[1:] or estimator.history_)
        report.print(
            f"{shape.name} batch {batch_size} DGEXRegressor.fit (NAdam, float32): "
            f"{epoch:.2f} s per epoch, {bound / epoch:.0%} of the FLOP bound"
        )
        del estimator
        if device.type == "cuda":
            torch.cuda.empty_cache()


def bench_predict(report, device, n_rows, n_in=942, n_out=200, width=500):
    """Peak memory of ``predict`` on ``n_rows`` rows: streamed batches, not one huge forward."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, n_in), dtype=np.float32)
    Y = rng.standard_normal((256, n_out), dtype=np.float32)
    estimator = DGEXRegressor(
        arch="dense", width=width, max_epochs=1, device=str(device), random_state=0
    ).fit(X, Y)
    X_big = rng.standard_normal((n_rows, n_in), dtype=np.float32)
    output_bytes = n_rows * n_out * 8
    with torch.device("meta"):
        module = DGEXNet(n_in, n_out, width=width, output_activation=OUTPUT_ACTIVATION)
    one_batch = estimate_training_memory(module, n_rows).activations
    before = peak_rss_reset()
    started = clock()
    estimator.predict(X_big)
    seconds = clock() - started
    peak = peak_rss() - before if before is not None else None
    report.section(f"predict: {n_rows:,} rows, D-GEX dense {n_in} -> 3 x {width} -> {n_out}")
    report.print(f"{n_rows / seconds:,.0f} rows/s")
    if peak is not None:
        report.print(
            f"peak memory above the inputs: {format_bytes(peak)}, of which the float64 result is "
            f"{format_bytes(output_bytes)}; all rows in one forward pass would need about "
            f"{format_bytes(one_batch)} of activations"
        )


def peak_rss_reset():
    """Reset Linux's peak-RSS counter; return the current RSS (None where unsupported)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return _status_bytes("VmRSS")
    except OSError:
        return None


def peak_rss():
    return _status_bytes("VmHWM")


def _status_bytes(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{key} not in /proc/self/status")


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: 1 round, fewer rows")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per shape (default 3)")
    parser.add_argument(
        "--shapes",
        default="small,representative,paper",
        help="comma-separated: small, representative, paper (CUDA only), smoke",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and BLAS threads (default: torch's)"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or process CPU time (robust on a shared machine, with --threads 1)",
    )
    parser.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn's MLP")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 comparison")
    parser.add_argument(
        "--compile-nadam",
        action="store_true",
        help="also time NAdam's step compiled with torch.compile (compiling takes a minute)",
    )
    parser.add_argument(
        "--predict-rows", type=int, default=None, help="rows for the predict check (0: skip)"
    )
    return parser.parse_args(argv)


def shapes_to_run(names, quick):
    shapes = []
    for name in names:
        if name == "smoke":
            shapes.append(SMOKE_SHAPE)
        elif name not in SHAPES:
            raise SystemExit(f"unknown shape {name!r}; choose from {[*SHAPES, 'smoke']}")
        elif quick and name in QUICK_ROWS:
            shapes.append(dataclasses.replace(SHAPES[name], n_rows=QUICK_ROWS[name], epochs=1))
        else:
            shapes.append(SHAPES[name])
    return shapes


def main(argv=None, stream=None):
    args = parse_args(argv)
    _clock[0] = CLOCKS[args.clock]
    limits = contextlib.nullcontext()
    if args.threads:
        torch.set_num_threads(args.threads)
        # scikit-learn's MLP computes with numpy's BLAS, which has its own threads.
        limits = threadpoolctl.threadpool_limits(args.threads)
    with limits:
        return run_all(args, argv, stream)


def run_all(args, argv, stream):
    device = torch.device(resolve_device(args.device))
    rounds = args.repeats or (1 if args.quick else 3)
    report = Report(stream)
    report.print("benchmarks/perf.py " + " ".join(sys.argv[1:] if argv is None else argv))
    report.print(
        f"clock       {args.clock} ({'process CPU time' if args.clock == 'cpu' else 'elapsed'})"
    )
    for line in machine_report(device):
        report.print(line)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    names = [name.strip() for name in args.shapes.split(",") if name.strip()]
    shapes = shapes_to_run(names, args.quick)  # refuses an unknown name before any work
    size = 8192 if device.type == "cuda" else 1024 if args.quick or names == ["smoke"] else 2048
    gflops = matmul_gflops(device, size, repeats=3 if args.quick else 5)
    kind = "TF32" if device.type == "cuda" else "float32"
    report.print(f"large matmul ({size}x{size}, {kind}): {gflops:.1f} GFLOP/s")
    gflops_bf16 = None
    if device.type == "cuda":
        gflops_bf16 = matmul_gflops(device, size, repeats=5, dtype=torch.bfloat16)
        report.print(f"large matmul ({size}x{size}, bf16): {gflops_bf16:.1f} GFLOP/s")
    warm_up(device)
    for shape in shapes:
        if shape.name == "paper":
            if device.type != "cuda":
                report.section("paper: skipped (needs CUDA; GPU numbers not measured here)")
                continue
            bench_paper(report, device, shape, gflops=gflops, gflops_bf16=gflops_bf16)
            continue
        bench_matmul_at_shape(report, shape, device, rounds)
        with_bf16 = not args.no_bf16 and shape.name in ("representative", "smoke")
        if with_bf16 and args.quick and not bf16_is_native(device):
            # Emulated bf16 runs at a few percent of float32: minutes, not the quick run's seconds.
            report.print("bf16 skipped in --quick: this CPU has no bf16 instructions")
            with_bf16 = False
        bench_dgex(report, shape, device, rounds, gflops, with_bf16=with_bf16)
        bench_mlp(report, shape, device, rounds, with_sklearn=not args.no_sklearn)
        if shape.name in ("representative", "smoke"):
            bench_optimizers(report, shape, device, rounds, compile_nadam=args.compile_nadam)
    predict_rows = args.predict_rows
    if predict_rows is None:
        predict_rows = 0 if args.quick or names == ["smoke"] else 100_000
    if predict_rows:
        bench_predict(report, device, predict_rows)
    report.summary()
    return report


if __name__ == "__main__":
    main()
