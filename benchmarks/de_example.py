"""Worked example of the DE-agreement study on the synthetic default.

The code of docs/differential_expression.rst. Two "models" infer the targets
of held-out profiles from their landmarks: Ridge regression and KNN
(k = 10). Their inferred profiles are judged by how well the DE genes called
on them match those called on the measured
profiles, as in the D-GEX study's Figs. 7-10::

    python benchmarks/de_example.py                      # 10,000 sets per size, ~1,000 genes
    python benchmarks/de_example.py --repeats 1000 --out de_out

Prints the Markdown table and writes the CSVs and figures to ``--out``.
"""

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor

from benchmarks.de_report import run_de_report
from sklearn_dgex.datasets import make_expression


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=4000, help="train + test profiles")
    parser.add_argument("--n-targets", type=int, default=1000, help="target genes")
    parser.add_argument("--repeats", type=int, default=10_000, help="sample sets per size")
    parser.add_argument("--out", default="de_out", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # The synthetic default (942 landmarks, 8 sample groups), fewer targets; half for testing.
    X, Y = make_expression(
        n_samples=args.n_samples, n_targets=args.n_targets, random_state=args.seed
    )
    n_train = args.n_samples // 2
    X_train, X_test, Y_train, Y_test = X[:n_train], X[n_train:], Y[:n_train], Y[n_train:]
    predictions = {
        "Ridge": Ridge(alpha=1.0).fit(X_train, Y_train).predict(X_test),
        "KNN": KNeighborsRegressor(n_neighbors=10).fit(X_train, Y_train).predict(X_test),
    }

    start = time.perf_counter()
    report = run_de_report(
        Y_test,
        predictions,
        args.out,
        n_repeats=args.repeats,
        random_state=args.seed,
        verbose=True,
    )
    print(f"de_agreement and report: {time.perf_counter() - start:.1f} s\n")
    print(report.markdown)
    print("\nwrote", ", ".join(str(p) for p in report.paths.values()))
    return report


if __name__ == "__main__":
    main()
