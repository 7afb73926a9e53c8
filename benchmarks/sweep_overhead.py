"""Overhead of running a GridSearchCV of DGEXRegressor on a cluster instead of in-process.

Runs the same grid (arch t/cr x towers 1/2, 2-fold CV: 8 trials) three ways and
prints the wall times:

- sequential: ``GridSearchCV(n_jobs=None)`` in this process, after one warm-up
  fit so that importing torch and its first-call costs are not counted, with
  torch's default threads and again with one thread (what each worker has);
- cluster, cold: the first sweep on freshly started workers (they import torch
  and sklearn_dgex on their first trial);
- cluster, warm: the same sweep again on the same workers.

By default the cluster is a loopback ``dask.distributed.LocalCluster`` with
``--workers`` single-threaded worker processes, whose start-up time is printed
too; ``--scheduler dask://HOST:PORT`` or ``ray://HOST:PORT`` (or ``ray`` for a
local Ray instance) measures an existing cluster instead.

Usage::

    python benchmarks/sweep_overhead.py                 # both workloads, LocalCluster
    python benchmarks/sweep_overhead.py --workload tiny --repeats 3
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import machine_description
from sklearn_dgex import DGEXRegressor
from sklearn_dgex.distributed import sweep_backend, trial_scope

GRID = {"arch": ["t", "cr"], "towers": [1, 2]}

# name -> (data shape (samples, landmarks, targets), estimator parameters)
WORKLOADS = {
    # The test suite's grid: trials of ~0.1 s, so the time is all overhead.
    "tiny": (
        (48, 6, 4),
        dict(width=16, n_hidden_layers=2, max_epochs=3, batch_size=16),
    ),
    # Trials of about a second each (on 2 idle cores), where spreading them pays.
    "small": (
        (300, 200, 1000),
        dict(width=256, n_hidden_layers=2, max_epochs=10, batch_size=64),
    ),
}


def make_data(n_samples, n_landmarks, n_targets, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(6.0, 1.0, size=(n_samples, n_landmarks)).astype(np.float32)
    W = rng.normal(0.0, 1.0 / np.sqrt(n_landmarks), size=(n_landmarks, n_targets))
    Y = np.tanh(X @ W - (6.0 * W.sum(axis=0))) + rng.normal(0.0, 0.05, (n_samples, n_targets))
    return X, Y.astype(np.float32)


def make_search(params, n_jobs):
    estimator = DGEXRegressor(**params, random_state=0, device="cpu")
    # refit=False: the refit runs in this process either way and is not overhead.
    return GridSearchCV(estimator, GRID, cv=2, n_jobs=n_jobs, refit=False)


def timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def sweep_on(scheduler, params, X, Y):
    def run():
        with sweep_backend(scheduler):
            return make_search(params, n_jobs=-1).fit(X, Y)

    return timed(run)


def measure(workload, scheduler, repeats):
    shape, params = WORKLOADS[workload]
    X, Y = make_data(*shape)
    make_search(params, None).estimator.fit(X[:16], Y[:16])  # warm-up: imports, first calls
    sequential = [timed(lambda: make_search(params, None).fit(X, Y)) for _ in range(repeats)]
    # The same with one torch thread: what each single-threaded worker has.
    with trial_scope("cpu", n_threads=1):
        one_thread = [timed(lambda: make_search(params, None).fit(X, Y)) for _ in range(repeats)]
    cold, first = sweep_on(scheduler, params, X, Y)
    warm = [sweep_on(scheduler, params, X, Y) for _ in range(repeats)]
    seq_scores = sequential[0][1].cv_results_["mean_test_score"]
    same = np.allclose(first.cv_results_["mean_test_score"], seq_scores, rtol=1e-6, atol=1e-7)
    return {
        "workload": workload,
        "shape": shape,
        "trial_s": float(np.mean(sequential[0][1].cv_results_["mean_fit_time"])),
        "sequential_s": min(t for t, _ in sequential),
        "one_thread_s": min(t for t, _ in one_thread),
        "cluster_trial_s": float(np.mean(warm[-1][1].cv_results_["mean_fit_time"])),
        "cold_s": cold,
        "warm_s": min(t for t, _ in warm),
        "same_scores": same,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scheduler", help="dask://HOST:PORT, ray://HOST:PORT or ray (default: a LocalCluster)"
    )
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=1, help="best-of repeats (default: 1)")
    args = parser.parse_args(argv)

    cluster = None
    scheduler = args.scheduler
    if scheduler is None:
        from dask.distributed import LocalCluster

        start_s, cluster = timed(
            lambda: LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        )
        scheduler = cluster
        where = f"LocalCluster, {args.workers} worker processes x 1 thread"
        print(f"{where}: started in {start_s:.1f} s")
    else:
        where = scheduler
    print(f"{machine_description(load=True)}; cluster: {where}")
    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    print(
        "| workload | data (samples x landmarks x targets) | sequential, torch default threads "
        "| sequential, 1 thread | cluster, cold | cluster, warm | mean trial: sequential / on a "
        "worker | same scores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        for name in workloads:
            row = measure(name, scheduler, args.repeats)
            print(
                f"| {row['workload']} | {' x '.join(map(str, row['shape']))} | "
                f"{row['sequential_s']:.1f} s | {row['one_thread_s']:.1f} s | "
                f"{row['cold_s']:.1f} s | {row['warm_s']:.1f} s | "
                f"{row['trial_s']:.2f} s / {row['cluster_trial_s']:.2f} s | {row['same_scores']} |",
                flush=True,
            )
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
