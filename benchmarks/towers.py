"""Micro-benchmark: do towers cost more time than the weights they hold?

Times forward + backward of

* one hidden-to-hidden layer: a dense ``W x W`` layer beside tower layers of
  ``T`` blocks of ``w x w`` with ``T * w**2 ~= W**2`` (equal weights), as
  :class:`~sklearn_dgex.nn.TowerLinear` computes them (one batched matmul),
  their checkerboard variant, and a naive Python loop over per-tower
  ``nn.Linear`` layers;
* whole networks (``--network``, on by default): :class:`~sklearn_dgex.nn.DGEXNet`
  tower and checkerboard networks with the width that
  :func:`~sklearn_dgex.nn.solve_width` gives for the budget of the dense
  network of width ``W``, beside that dense network.

Variants are timed in interleaved rounds (every variant once per round, in a
rotating order) and reported as medians, so that load from other processes
affects all of them alike. Ratios are time / time of the dense layer (or
network) of equal weights; the target is at most 1.15x.

Run ``python benchmarks/towers.py`` (under a minute on 2 CPU cores) or
``python benchmarks/towers.py --help`` for the shape options.
"""

import argparse
import datetime
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import machine_description
from sklearn_dgex.nn import DGEXNet, TowerLinear, count_parameters, dense_budget, solve_width


class NaiveTowers(nn.Module):
    """Reference: one ``nn.Linear`` per tower, applied in a Python loop."""

    def __init__(self, towers, width):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(towers))

    def forward(self, x):
        return torch.stack([block(x[:, t]) for t, block in enumerate(self.blocks)], dim=1)


def _step(module, x, grad):
    """One forward + backward pass; gradients are dropped, not accumulated."""
    for parameter in module.parameters():
        parameter.grad = None
    out = module(x)
    out.backward(grad)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_interleaved(cases, repeats, warmup, clock=time.perf_counter):
    """Median seconds of one forward + backward per case, measured in rotating rounds."""
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            _step(*cases[name])
    times = {name: [] for name in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = clock()
            _step(*cases[name])
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _case(module, x):
    module.train()
    with torch.no_grad():
        grad = torch.ones_like(module(x))
    return module, x, grad


def layer_cases(towers, dense_width, batch, multiple_of=1):
    width = round(dense_width / math.sqrt(towers))
    width = max(multiple_of, round(width / multiple_of) * multiple_of)
    x_dense = torch.randn(batch, dense_width, requires_grad=True)
    x_towers = torch.randn(batch, towers, width, requires_grad=True)
    cases = {
        "dense": _case(nn.Linear(dense_width, dense_width, bias=False), x_dense),
        "tower": _case(TowerLinear(towers, width, bias=False), x_towers),
        "naive loop": _case(NaiveTowers(towers, width), x_towers),
    }
    if width >= 2:
        cases["checkerboard"] = _case(TowerLinear(towers, width, bias=False, cross=True), x_towers)
    weight_ratio = towers * width * width / dense_width**2
    return width, weight_ratio, cases


def network_cases(towers, dense_width, batch, n_in, n_out, multiple_of=1):
    budget = dense_budget(n_in, n_out, dense_width)
    width = solve_width(
        n_in,
        n_out,
        towers=towers,
        param_budget=budget,
        arch="checkerboard",
        multiple_of=multiple_of,
    )
    x = torch.randn(batch, n_in)
    cases = {"dense": _case(DGEXNet(n_in, n_out, width=dense_width), x)}
    for arch in ("tower", "checkerboard"):
        cases[arch] = _case(DGEXNet(n_in, n_out, arch=arch, towers=towers, width=width), x)
    ratio = count_parameters(n_in, n_out, towers=towers, width=width) / budget
    return width, ratio, cases


def _row(towers, width, ratio, medians, columns):
    dense = medians["dense"]
    cells = [f"{towers:>6d}", f"{width:>6d}", f"{ratio:>7.3f}", f"{dense * 1e3:>9.1f}"]
    for name in columns:
        value = medians.get(name)
        cells.append(f"{value / dense:>12.2f}x" if value is not None else f"{'-':>13}")
    return "  ".join(cells)


def _header(columns, ratio_name):
    names = ["towers", "width", ratio_name, "dense ms", *(f"{c:>13}" for c in columns)]
    return "  ".join(f"{n:>6}" if i < 2 else n for i, n in enumerate(names))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--towers", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--dense-width", type=int, default=1024, help="W of the dense layer")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (robust to other load; use with --threads 1)",
    )
    parser.add_argument("--n-in", type=int, default=942, help="network inputs")
    parser.add_argument("--n-out", type=int, default=512, help="network outputs")
    parser.add_argument(
        "--no-network", dest="network", action="store_false", help="time the layers only"
    )
    parser.add_argument(
        "--multiple-of",
        type=int,
        default=1,
        help="round tower widths to a multiple of this (BLAS runs faster on aligned widths)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    command = sys.argv[1:] if argv is None else argv
    print(f"# python benchmarks/towers.py {' '.join(command)}".rstrip())
    print(f"# {datetime.date.today()}  {machine_description()}")
    print(f"# batch {args.batch}  {args.clock} clock")
    print(f"\nOne hidden layer, forward+backward, dense {args.dense_width}x{args.dense_width}")
    print("(time ratio to the dense layer of equal weights; target <= 1.15x)")
    columns = ["tower", "checkerboard", "naive loop"]
    print(_header(columns, "weights"))
    for towers in args.towers:
        width, ratio, cases = layer_cases(towers, args.dense_width, args.batch, args.multiple_of)
        medians = time_interleaved(cases, args.repeats, args.warmup, CLOCKS[args.clock])
        print(_row(towers, width, ratio, medians, columns))
    if not args.network:
        return
    print(
        f"\nWhole DGEXNet (3 hidden layers, TAAF, dropout 0.25, train mode), forward+backward,"
        f" {args.n_in} -> ... -> {args.n_out}, budget of dense width {args.dense_width}"
    )
    columns = ["tower", "checkerboard"]
    print(_header(columns, "params"))
    for towers in args.towers:
        width, ratio, cases = network_cases(
            towers, args.dense_width, args.batch, args.n_in, args.n_out, args.multiple_of
        )
        medians = time_interleaved(
            cases, max(3, args.repeats // 2), args.warmup, CLOCKS[args.clock]
        )
        print(_row(towers, width, ratio, medians, columns))


if __name__ == "__main__":
    main()
