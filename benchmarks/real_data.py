"""Real data at the defaults: both estimators against RidgeCV, LinearRegression and KNN.

5-fold cross-validated MMAE and fit time of ``DGEXRegressor()`` and
``FlexibleMLPRegressor()`` at their defaults beside the baselines a user would
try, on the real expression sets beside the checkout (``../shared/data``) or on
any file you give::

    python benchmarks/real_data.py                          # ALL, PBMC and bladderbatch
    python benchmarks/run.py --preset real-data             # the same, through run.py
    python benchmarks/real_data.py --datasets pbmc --folds 3
    python benchmarks/real_data.py --data my.h5ad --landmarks my_landmarks.txt

The data sets:

- ``all``: the ALL leukemia microarrays (128 profiles, HG-U95Av2, log2 RMA).
  The file carries no probe-to-gene annotation, so a fixed random 978 of its
  12,625 probes (seed 0) play the landmarks and a fixed random 3,000 of the
  others the targets (all 11,647 would multiply the run time, not change the
  comparison);
- ``pbmc``: 700 single cells (10x, log2(1 + normalised UMI)); the 71 L1000
  landmarks among its 765 genes -> the other 694 genes;
- ``bladderbatch``: 57 bladder microarrays (HG-U133A); the 934 L1000 landmarks
  it measures -> the other 12,327 genes.

The protocol is that of ``benchmarks/small_data.py`` (same folds, baselines
tuned inside each training fold, KNN's ``k`` by 3-fold CV); the last column
compares each network with the best baseline, min(RidgeCV, KNN). ``KNN
(median)``, the neighbours' median, which minimises absolute errors as
``DGEXRegressor``'s default loss does, is shown beside them. The measured
table is in ``docs/real_data.rst``.
"""

import argparse
import datetime
import json
import sys
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import small_data
from benchmarks._machine import machine_description

SHARED_DATA = small_data.SHARED_DATA
DATASETS = ("all", "pbmc", "bladderbatch")
DEFAULT_MODELS = "RidgeCV*,LinearRegression,KNN*,DGEX,FlexibleMLP"
#: The baselines each network is compared with: min(RidgeCV, KNN by its mean).
COMPARED_BASELINES = ("RidgeCV (scaled)", "RidgeCV (raw)", "KNN")
#: ALL: probes standing in for landmarks and targets (see the module docstring).
ALL_LANDMARKS = 978
ALL_TARGETS = 3000
#: Seed of the ALL probe choice.
ALL_SEED = 0


def load_dataset(name):
    """``(X, Y, description)`` of a name of :data:`DATASETS` (float32 arrays)."""
    if name == "bladderbatch":
        return small_data.load_dataset("bladderbatch")
    if name == "pbmc":
        return _symbol_matched(SHARED_DATA / "scanpy_pbmc68k_reduced.npz", "PBMC single cells")
    if name == "all":
        return _all_leukemia()
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS} or give --data FILE.")


def _require(path):
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (the shared data beside the checkout).")
    return path


def _symbol_matched(path, label):
    from sklearn_dgex.datasets import read_npz, split_landmarks

    data, meta = read_npz(_require(path), return_meta=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the landmarks a data set lacks are expected
        X, Y = split_landmarks(data, gene_ids=meta.genes["symbols"])
    description = f"{label} ({len(X)} profiles, {X.shape[1]} -> {Y.shape[1]})"
    return X.to_numpy(np.float32), Y.to_numpy(np.float32), description


def _all_leukemia():
    from sklearn_dgex.datasets import read_npz

    data = read_npz(_require(SHARED_DATA / "ALL_hgu95av2.npz")).to_numpy(np.float32)
    order = np.random.default_rng(ALL_SEED).permutation(data.shape[1])
    landmarks = np.sort(order[:ALL_LANDMARKS])
    targets = np.sort(order[ALL_LANDMARKS : ALL_LANDMARKS + ALL_TARGETS])
    X, Y = np.ascontiguousarray(data[:, landmarks]), np.ascontiguousarray(data[:, targets])
    description = (
        f"ALL leukemia HG-U95Av2 ({len(X)} profiles, {X.shape[1]} random probes -> "
        f"{Y.shape[1]} others)"
    )
    return X, Y, description


def load_user_file(path, landmarks=None, id_type="symbol", gene_column=None):
    """``(X, Y, description)`` of the user's file, landmarks matched by identifier."""
    from benchmarks._data import read_and_split

    X, Y, _ = read_and_split(path, landmarks, id_type, gene_column)
    description = f"{Path(path).name} ({len(X)} profiles, {X.shape[1]} -> {Y.shape[1]})"
    return X.to_numpy(np.float32), Y.to_numpy(np.float32), description


def best_baseline(rows):
    """The lowest mean MMAE among the RidgeCV and KNN rows, and its model's name."""
    baselines = [r for r in rows if r["model"] in COMPARED_BASELINES]
    best = min(baselines, key=lambda r: r["mmae_mean"])
    return best["mmae_mean"], best["model"]


def format_table(rows):
    """Plain-text table; each network's row compares it with min(RidgeCV, KNN)."""
    header = (
        f"{'dataset':<13} {'model':<17} {'MMAE':>8} {'± sd':>7} {'fit s':>7}  "
        "epochs (best)  vs min(RidgeCV, KNN)"
    )
    lines = [header, "-" * len(header)]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        dataset_rows = [r for r in rows if r["dataset"] == dataset]
        has_baseline = any(r["model"] in COMPARED_BASELINES for r in dataset_rows)
        reference = best_baseline(dataset_rows) if has_baseline else None
        for row in dataset_rows:
            verdict = ""
            if reference and row["model"] in small_data.NETWORKS:
                difference = row["mmae_mean"] - reference[0]
                verdict = f"{difference:+.6f} ({100 * difference / reference[0]:+.2f}%)"
            lines.append(
                f"{dataset:<13} {row['model']:<17} {row['mmae_mean']:8.4f} "
                f"{row['mmae_std']:7.4f} {row['fit_s']:7.1f}  {row['epochs']:<13}  {verdict}"
            )
    return "\n".join(lines)


def build_parser(prog="benchmarks/real_data.py"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="5-fold CV MMAE of both estimators at their defaults beside RidgeCV, "
        "LinearRegression and KNN on real expression data.",
    )
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), help="comma-separated; default: %(default)s"
    )
    parser.add_argument("--data", type=Path, metavar="FILE", help="your own expression file")
    parser.add_argument("--landmarks", type=Path, metavar="FILE", help="landmarks of --data")
    parser.add_argument("--id-type", default="symbol", choices=("symbol", "entrez"))
    parser.add_argument("--gene-column", metavar="NAME", help="gene annotation to match on")
    small_data.add_protocol_options(parser, DEFAULT_MODELS, "real_data.json")
    return parser


def main(argv=None, prog="benchmarks/real_data.py"):
    """Run the comparison with command-line arguments ``argv``; returns the table's rows."""
    args = build_parser(prog).parse_args(argv)
    models = small_data.selected_models(args.models)
    network_params = small_data.parse_settings(args.set)
    started = datetime.datetime.now().astimezone()
    print(f"real-data benchmark, {started:%Y-%m-%d %H:%M %Z}, {machine_description(load=True)}")
    if args.data is not None:
        sources = {
            args.data.name: lambda: load_user_file(
                args.data, args.landmarks, args.id_type, args.gene_column
            )
        }
    else:
        names = [d.strip() for d in args.datasets.split(",") if d.strip()]
        sources = {name: (lambda name=name: load_dataset(name)) for name in names}
    rows, raw = [], {}
    for dataset, load in sources.items():
        X, Y, description = load()
        print(f"{dataset}: {description}", flush=True)
        results = small_data.cross_validate(
            models, X, Y, folds=args.folds, network_params=network_params
        )
        raw[dataset] = results
        rows.extend(small_data.summary_rows(dataset, results))
        print(format_table([r for r in rows if r["dataset"] == dataset]), flush=True)
    print()
    print(format_table(rows))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        record = {
            "command": " ".join(sys.argv),
            "started": started.isoformat(),
            "machine": machine_description(),
            "args": vars(args),
            "rows": rows,
            "folds": raw,
        }
        (out / "real_data.json").write_text(json.dumps(record, indent=1, default=str))
    return rows


if __name__ == "__main__":
    main()
