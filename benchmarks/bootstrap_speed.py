"""Time and memory of ``sklearn_dgex.stats.bootstrap_ci`` at the D-GEX study's scale.

Usage::

    python benchmarks/bootstrap_speed.py                      # 19,000 samples, 1e5 resamples
    python benchmarks/bootstrap_speed.py --n-jobs 1 2 --repeat 3

Prints, per setting, the median wall time, the process CPU time (robust to a
machine shared with other jobs) and the peak memory that numpy allocated
(tracemalloc), next to ``scipy.stats.bootstrap`` on a smaller problem for
scale.
"""

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.stats

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import machine_description
from sklearn_dgex.stats import bootstrap_ci


def _measure(function):
    tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return wall, cpu, peak / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=19_000)
    parser.add_argument("--n-boot", type=int, default=100_000)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--statistic", choices=["mean", "median"], default="mean")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"# {machine_description(load=True)}")
    errors = np.random.default_rng(0).gamma(4.0, 0.03, size=args.n_samples)
    print(f"bootstrap_ci: {args.n_samples} samples x {args.n_boot} resamples, {args.statistic}")
    for n_jobs in args.n_jobs:
        runs = [
            _measure(
                lambda n_jobs=n_jobs, seed=seed: bootstrap_ci(
                    errors, args.n_boot, random_state=seed, statistic=args.statistic, n_jobs=n_jobs
                )
            )
            for seed in range(args.repeat)
        ]
        wall, cpu, peak = np.median(np.array(runs), axis=0)
        print(
            f"  n_jobs={n_jobs}: wall {wall:6.2f} s   cpu {cpu:6.2f} s   "
            f"peak numpy memory {peak:6.1f} MiB   (median of {args.repeat})"
        )

    # scipy's general bootstrap, scaled down 100x in resamples, for comparison.
    n_small = max(1, args.n_boot // 100)
    wall, cpu, peak = _measure(
        lambda: scipy.stats.bootstrap(
            (errors,), np.mean, n_resamples=n_small, method="percentile", random_state=0
        )
    )
    print(
        f"scipy.stats.bootstrap, {n_small} resamples: wall {wall:.2f} s   cpu {cpu:.2f} s   "
        f"peak {peak:.1f} MiB"
    )


if __name__ == "__main__":
    main()
