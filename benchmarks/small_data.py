"""Small data: do the networks at their defaults ever lose to a tuned ridge?

5-fold cross-validated MMAE of ``DGEXRegressor()`` and ``FlexibleMLPRegressor()``
at their defaults beside RidgeCV, LinearRegression and KNN, on the real
bladderbatch microarrays (57 profiles, the L1000 landmarks they measure ->
every other gene) and on synthetic sets of 100, 300 and 1,000 profiles::

    python benchmarks/small_data.py                        # everything (about 50 min on one core)
    python benchmarks/small_data.py --datasets synthetic-100 --folds 3
    python benchmarks/run.py --preset small-data           # the same, through run.py
    python benchmarks/small_data.py --models 'RidgeCV*,FlexibleMLP*'   # and n_ensemble=1
    python benchmarks/small_data.py --set lr=3e-4        # a network parameter for both networks

Every model sees the same folds (``KFold(5, shuffle=True, random_state=0)``)
and only the training part of each; the baselines choose their
hyperparameters by cross-validation inside it:

- ``RidgeCV (scaled)``: ``StandardScaler`` then ``RidgeCV`` (efficient
  leave-one-out over alphas 1e-2 .. 1e7, half decades), float64;
- ``RidgeCV (raw)``: ``RidgeCV`` over the same alphas on raw log2 values;
- ``LinearRegression``: least squares (minimum norm when there are more
  landmarks than profiles);
- ``KNN``: ``KNeighborsRegressor`` with ``k`` in (1, 3, 5, 10, 20) chosen by
  3-fold cross-validated MMAE.

The table gives, for each model, the mean and standard deviation over folds
of the test MMAE and the mean fit time. ``--out`` also writes it as CSV and
JSON with the per-fold values. The documented run is in ``docs/small_data.rst``.
"""

import argparse
import datetime
import fnmatch
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import machine_description

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
BLADDERBATCH = SHARED_DATA / "bladderbatch_hgu133a.npz"

#: Alphas of both RidgeCV baselines (the shortcut's own grid, in the scaled space).
RIDGE_ALPHAS = np.logspace(-2, 7, 19)
KNN_GRID = (1, 3, 5, 10, 20)
#: Synthetic sets: make_expression's defaults but for the number of targets.
SYNTHETIC_SIZES = (100, 300, 1000)
SYNTHETIC_LANDMARKS = 942
SYNTHETIC_TARGETS = 1000
DATASETS = ("bladderbatch", *(f"synthetic-{n}" for n in SYNTHETIC_SIZES))
#: A network whose MMAE is within this fraction of RidgeCV's is reported equal ("="):
#: the networks compute in float32, RidgeCV in float64, so a model that ends as
#: exactly its ridge differs from RidgeCV by float32 rounding (about 1e-9 of 0.39).
TIE_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------- data
def load_dataset(name, *, n_landmarks=SYNTHETIC_LANDMARKS, n_targets=SYNTHETIC_TARGETS):
    """``(X, Y, description)`` of a dataset name of :data:`DATASETS` (float32 arrays)."""
    if name == "bladderbatch":
        return _bladderbatch()
    if name.startswith("synthetic-"):
        from sklearn_dgex.datasets import make_expression

        n_samples = int(name.split("-", 1)[1])
        X, Y = make_expression(
            n_samples=n_samples, n_landmarks=n_landmarks, n_targets=n_targets, random_state=0
        )
        return X, Y, f"make_expression(n_samples={n_samples}, {n_landmarks} -> {n_targets})"
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS} or synthetic-<n>.")


def _bladderbatch():
    from sklearn_dgex.datasets import read_npz, split_landmarks

    if not BLADDERBATCH.exists():
        raise FileNotFoundError(f"{BLADDERBATCH} not found (the shared data beside the checkout).")
    data, meta = read_npz(BLADDERBATCH, return_meta=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the landmarks this array lacks are expected
        X, Y = split_landmarks(data, gene_ids=meta.genes["symbols"])
    description = f"bladderbatch HG-U133A ({len(X)} profiles, {X.shape[1]} -> {Y.shape[1]})"
    return X.to_numpy(np.float32), Y.to_numpy(np.float32), description


# ---------------------------------------------------------------------------- models
def _ridge_scaled():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))


def _ridge_raw():
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=RIDGE_ALPHAS)


def _linear():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _knn():
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsRegressor

    from sklearn_dgex.metrics import mmae_scorer

    return _KNNSearch(GridSearchCV, KNeighborsRegressor, mmae_scorer)


def _knn_median():
    from sklearn.model_selection import GridSearchCV

    from sklearn_dgex.metrics import mmae_scorer

    return _KNNSearch(GridSearchCV, MedianKNNRegressor, mmae_scorer)


class MedianKNNRegressor(RegressorMixin, BaseEstimator):
    """The per-gene median of the ``n_neighbors`` nearest training profiles.

    KNN's mean minimises squared errors; the median minimises the absolute
    errors MMAE measures, which differ on skewed genes (single-cell counts,
    mostly zeros). A baseline for the networks trained on the absolute error.
    """

    def __init__(self, n_neighbors=5):
        self.n_neighbors = n_neighbors

    def fit(self, X, Y):
        from sklearn.neighbors import NearestNeighbors

        self.neighbors_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(X)
        self.Y_ = np.asarray(Y)
        return self

    def predict(self, X):
        rows = self.neighbors_.kneighbors(X, return_distance=False)
        return np.median(self.Y_[rows], axis=1)


class _KNNSearch:
    """KNN whose ``k`` (at most the training size) is chosen by 3-fold CV MMAE."""

    def __init__(self, search, knn, scorer):
        self.search, self.knn, self.scorer = search, knn, scorer

    def fit(self, X, Y):
        grid = [k for k in KNN_GRID if k <= len(X) * 2 // 3]
        self.model_ = self.search(self.knn(), {"n_neighbors": grid}, scoring=self.scorer, cv=3)
        self.model_.fit(X, Y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _dgex(**params):
    from sklearn_dgex import DGEXRegressor

    return DGEXRegressor(device="cpu", random_state=0, **params)


def _mlp(**params):
    from sklearn_dgex import FlexibleMLPRegressor

    return FlexibleMLPRegressor(device="cpu", random_state=0, **params)


#: name -> factory(**network_params); baselines ignore the network parameters.
MODELS = {
    "RidgeCV (scaled)": lambda **_: _ridge_scaled(),
    "RidgeCV (raw)": lambda **_: _ridge_raw(),
    "LinearRegression": lambda **_: _linear(),
    "KNN": lambda **_: _knn(),
    "KNN (median)": lambda **_: _knn_median(),
    "DGEX": _dgex,
    "FlexibleMLP": _mlp,
    # One model instead of the default ensemble (n_ensemble="auto": 3 on small data).
    "DGEX x1": lambda **p: _dgex(**{"n_ensemble": 1, **p}),
    "FlexibleMLP x1": lambda **p: _mlp(**{"n_ensemble": 1, **p}),
}
NETWORKS = tuple(name for name in MODELS if name.startswith(("DGEX", "FlexibleMLP")))
#: What runs without --models: the baselines and the networks at their defaults.
DEFAULT_MODELS = "RidgeCV*,LinearRegression,KNN,DGEX,FlexibleMLP"


# ---------------------------------------------------------------------------- protocol
def cross_validate(model_names, X, Y, *, folds=5, network_params=None, log=print):
    """Per model: test MMAE of each fold, fit seconds of each fold and network details."""
    from sklearn.model_selection import KFold

    from sklearn_dgex.metrics import mmae

    network_params = dict(network_params or {})
    results = {name: {"mmae": [], "fit_s": [], "details": []} for name in model_names}
    splits = KFold(folds, shuffle=True, random_state=0).split(X)
    for fold, (train, test) in enumerate(splits, start=1):
        for name in model_names:
            params = network_params if name in NETWORKS else {}
            model = MODELS[name](**params)
            started = time.perf_counter()
            model.fit(X[train], Y[train])
            seconds = time.perf_counter() - started
            error = float(mmae(Y[test], model.predict(X[test])))
            results[name]["mmae"].append(error)
            results[name]["fit_s"].append(seconds)
            results[name]["details"].append(_details(model))
            log(f"  fold {fold}/{folds}  {name:<18} MMAE {error:.4f}  {seconds:7.1f} s")
    return results


def _details(model):
    if not hasattr(model, "history_"):
        return {}
    return {
        "linear_shortcut": bool(model.linear_shortcut_),
        "shortcut_alpha": model.shortcut_alpha_,
        "epochs": int(model.n_iter_),
        "best_epoch": model.best_epoch_,
        "n_parameters": int(model.n_parameters_),
    }


def summary_rows(dataset, results):
    """One table row per model: mean and std of the MMAE over folds, mean fit time."""
    rows = []
    for name, result in results.items():
        mmae = np.asarray(result["mmae"])
        epochs = [d["epochs"] for d in result["details"] if d]
        best = [d["best_epoch"] for d in result["details"] if d]
        rows.append(
            {
                "dataset": dataset,
                "model": name,
                "mmae_mean": float(mmae.mean()),
                "mmae_std": float(mmae.std()),
                "fit_s": float(np.mean(result["fit_s"])),
                "epochs": f"{np.mean(epochs):.0f} (best {np.mean(best):.0f})" if epochs else "",
                "mmae_folds": [round(v, 5) for v in result["mmae"]],
            }
        )
    return rows


def format_table(rows):
    """Plain-text table; the networks' rows say how they compare with the better RidgeCV."""
    header = f"{'dataset':<16} {'model':<18} {'MMAE':>8} {'± sd':>7} {'fit s':>7}  epochs (best)"
    header += "  vs the better RidgeCV"
    lines = [header, "-" * len(header)]
    by_dataset = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], []).append(row)
    for dataset, dataset_rows in by_dataset.items():
        ridge = [r["mmae_mean"] for r in dataset_rows if r["model"].startswith("RidgeCV")]
        for row in dataset_rows:
            verdict = ""
            if ridge and row["model"] in NETWORKS:
                verdict = f"  {comparison_with_ridge(row['mmae_mean'], min(ridge))}"
            lines.append(
                f"{dataset:<16} {row['model']:<18} {row['mmae_mean']:8.4f} "
                f"{row['mmae_std']:7.4f} {row['fit_s']:7.1f}  {row['epochs']}{verdict}"
            )
    return "\n".join(lines)


def comparison_with_ridge(mmae, ridge_mmae):
    """Whether ``mmae`` is below ("<"), equal to ("=") or above (">") RidgeCV's, and by how much."""
    delta = mmae - ridge_mmae
    tie = abs(delta) <= TIE_TOLERANCE * ridge_mmae
    sign = "=" if tie else ("<" if delta < 0 else ">")
    return f"{sign} ({delta:+.2e})"


# ---------------------------------------------------------------------------- command line
def parse_settings(items):
    """``{"name": value}`` from ``--set name=value`` items (JSON values, else strings)."""
    pairs = dict(item.split("=", 1) for item in items)
    return {key: _parse_value(value) for key, value in pairs.items()}


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build_parser(prog="benchmarks/small_data.py"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="5-fold CV MMAE of the networks at their defaults beside RidgeCV, "
        "LinearRegression and KNN on small data.",
    )
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), help="comma-separated; default: %(default)s"
    )
    parser.add_argument("--n-landmarks", type=int, default=SYNTHETIC_LANDMARKS)
    parser.add_argument("--n-targets", type=int, default=SYNTHETIC_TARGETS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    add_protocol_options(parser, DEFAULT_MODELS, "small_data.csv / .json")
    return parser


def add_protocol_options(parser, default_models, written):
    """The options this protocol shares with ``benchmarks/real_data.py``."""
    parser.add_argument(
        "--models",
        default=default_models,
        help="comma-separated names or globs of: " + ", ".join(MODELS) + " (default: %(default)s)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="network parameter for both networks (JSON value), e.g. n_ensemble=1; repeatable",
    )
    parser.add_argument("--out", default=None, help=f"folder for {written}")


def selected_models(pattern):
    """The model names of :data:`MODELS` that the comma-separated names or globs select."""
    patterns = [p.strip() for p in pattern.split(",") if p.strip()]
    names = [name for name in MODELS if any(fnmatch.fnmatch(name, p) for p in patterns)]
    if not names:
        raise SystemExit(f"--models {pattern!r} matches none of {list(MODELS)}")
    return names


def main(argv=None, prog="benchmarks/small_data.py"):
    """Run the benchmark with command-line arguments ``argv``; returns the table's rows."""
    args = build_parser(prog).parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    models = selected_models(args.models)
    network_params = parse_settings(args.set)
    started = datetime.datetime.now().astimezone()
    print(f"small-data benchmark, {started:%Y-%m-%d %H:%M %Z}, {machine_description()}")
    if network_params:
        print(f"network parameters: {network_params}")
    rows, raw = [], {}
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        X, Y, description = load_dataset(
            dataset, n_landmarks=args.n_landmarks, n_targets=args.n_targets
        )
        print(f"{dataset}: {description}")
        results = cross_validate(models, X, Y, folds=args.folds, network_params=network_params)
        raw[dataset] = results
        rows.extend(summary_rows(dataset, results))
        print(format_table([r for r in rows if r["dataset"] == dataset]), flush=True)
    print()
    print(format_table(rows))
    if args.out:
        _write(Path(args.out), rows, raw, args, started)
    return rows


def _write(out, rows, raw, args, started):
    import csv

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "small_data.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[k for k in rows[0] if k != "mmae_folds"])
        writer.writeheader()
        writer.writerows([{k: v for k, v in r.items() if k != "mmae_folds"} for r in rows])
    record = {
        "command": " ".join(sys.argv),
        "started": started.isoformat(),
        "machine": machine_description(),
        "args": vars(args),
        "rows": rows,
        "folds": raw,
    }
    (out / "small_data.json").write_text(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
