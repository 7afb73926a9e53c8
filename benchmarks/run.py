"""The comparison study: D-GEX variants and flexible MLPs against linear regression and KNN.

Run ``python benchmarks/run.py`` (what ``make bench`` does) or pick a preset::

    python benchmarks/run.py --preset smoke
    python benchmarks/run.py --preset mlp-study --epochs 50
    python benchmarks/run.py --preset paper --device cuda --models 'T-D-GEX-1,CR-D-GEX-5'
    python benchmarks/run.py --preset paper --dry-run   # what would be trained, in seconds
    python benchmarks/run.py --data my.h5ad --landmarks my_landmarks.txt
    python benchmarks/run.py --preset small-data --datasets bladderbatch
    python benchmarks/run.py --preset real-data --datasets pbmc

``--preset small-data`` and ``--preset real-data`` hand their other arguments to
``benchmarks/small_data.py`` and ``benchmarks/real_data.py`` (5-fold
cross-validation at the estimators' defaults; ``--help`` after the preset lists them).

Presets are data in ``benchmarks/presets.py``; the protocol (splits, what the
validation split is used for, the error threshold) is in
``benchmarks/_models.py`` and ``docs/benchmarks.rst``. Everything is written to
``--out`` (default ``bench_out/<preset>``): results.json/.csv/.md, per-epoch
histories, per-sample errors, the Wilcoxon matrix and the PNG figures.
Ctrl-C stops the model in training and writes the results of those that finished.
"""

import argparse
import datetime
import fnmatch
import shlex
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, so ``benchmarks`` is a package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks._data import synthetic_data, user_data
from benchmarks._machine import machine_description
from benchmarks._models import fit_and_evaluate, ridge_reference_rmse
from benchmarks.presets import DEFAULT_PRESET, NETWORK_PROTOCOL, PRESETS, get_preset

EXIT_FAILED = 1
#: Presets with a protocol of their own: name -> (description, expected run time).
#: ``--preset NAME`` hands every other argument to ``benchmarks/<name>.py``.
HANDED_OFF_PRESETS = {
    "small-data": (
        "5-fold cross-validated MMAE of DGEXRegressor() and FlexibleMLPRegressor() at their "
        "defaults beside RidgeCV, LinearRegression and KNN on bladderbatch (57 profiles) and "
        "synthetic sets of 100, 300 and 1,000 profiles (benchmarks/small_data.py)",
        "about 50 min of one CPU core (measured: 18 + 34 min in two processes); "
        "--datasets synthetic-100 --folds 3: about 1 min",
    ),
    "real-data": (
        "5-fold cross-validated MMAE and fit times of DGEXRegressor() and "
        "FlexibleMLPRegressor() at their defaults beside RidgeCV, LinearRegression and KNN on "
        "the real sets beside the checkout (ALL leukemia, PBMC single cells, bladderbatch) or "
        "on your file (--data; benchmarks/real_data.py)",
        "about 4 min on 2 CPU cores",
    ),
}
EXIT_INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


# ---------------------------------------------------------------------------- command line


def build_parser():
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=(
            "Benchmark D-GEX and flexible-MLP regressors against LinearRegression, RidgeCV and "
            "KNN on the synthetic default or on your own expression data."
        ),
        epilog="Presets: "
        + "; ".join(f"{name} ({p.expected_runtime})" for name, p in PRESETS.items())
        + "".join(f"; {name} ({h[1]})" for name, h in HANDED_OFF_PRESETS.items()),
    )
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        choices=sorted([*PRESETS, *HANDED_OFF_PRESETS]),
        help="what to run (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="your own expression matrix (samples x genes; CSV/TSV, GCT, GCTX, "
        "Parquet, h5ad, npz) instead of the synthetic default",
    )
    parser.add_argument(
        "--landmarks",
        type=Path,
        metavar="FILE",
        help="landmark genes of --data: one identifier per line, or a table "
        "with a 'symbol' or 'entrez_id' column (default: the 978 L1000 genes)",
    )
    parser.add_argument(
        "--id-type",
        default="symbol",
        choices=("symbol", "entrez"),
        help="identifier type of the landmark list (default: %(default)s)",
    )
    parser.add_argument(
        "--gene-column",
        metavar="NAME",
        help="gene annotation of --data to match landmarks on instead of its column ids, "
        "e.g. 'symbols' for a probe-level npz",
    )
    parser.add_argument(
        "--genes-in",
        choices=("columns", "rows"),
        help="orientation of a --data table (CSV/TSV/Parquet/npz; default: genes in columns)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' for the networks "
        "(default: %(default)s; auto picks CUDA when present)",
    )
    parser.add_argument(
        "--models",
        metavar="NAMES",
        help="comma-separated model names or shell patterns of the preset "
        "(case-insensitive), e.g. 'RidgeCV,CR-D-GEX-*'; see --list",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="training epochs of every network (default: the preset's)",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: bench_out/<preset>)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data, the split, the networks and the bootstrap (default: %(default)s)",
    )
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        metavar="N",
        help="number of profiles: of the synthetic data, or a random subset "
        "of --data (default: the preset's / all)",
    )
    parser.add_argument(
        "--threshold-rmse",
        type=_positive_float,
        metavar="RMSE",
        help="a fixed validation RMSE for the epochs to threshold (epochs_to_threshold.png) "
        "instead of the preset's relative one; the flexible-MLP study's Fig. 4 used 0.08 on its "
        "own data",
    )
    parser.add_argument(
        "--n-boot",
        type=_positive_int,
        metavar="N",
        help="bootstrap resamples for the MMAE intervals (default: the preset's)",
    )
    parser.add_argument(
        "--de",
        action="store_true",
        help="also compare the models' differential-expression calls with the measured "
        "data's (the D-GEX study's Figs. 7-10; sklearn_dgex.de)",
    )
    parser.add_argument(
        "--de-repeats",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="balanced sample sets drawn per sample size for --de (default: %(default)s; "
        "the study drew 10,000)",
    )
    parser.add_argument(
        "--scheduler",
        default="local",
        metavar="WHERE",
        help="where the networks train: 'local' (in this process, default), "
        "'dask://HOST:PORT' or 'ray://HOST:PORT' (one network per trial; the workers "
        "need this checkout on their PYTHONPATH); see sklearn_dgex.distributed",
    )
    parser.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0,
        metavar="G",
        help="GPUs reserved by each network on a cluster (default: %(default)s)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars or log lines (the table is still written)",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the presets and their models, then exit"
    )
    parser.add_argument(
        "--dry-run",
        "--describe",
        dest="dry_run",
        action="store_true",
        help="print every selected model as it would be trained (architecture, parameters "
        "beside Table 1 of the D-GEX study, optimizer, schedule, epochs, batch size), "
        "then exit without training or writing anything",
    )
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def list_presets():
    lines = []
    for name, preset in PRESETS.items():
        lines.append(f"{name}: {preset.description} [{preset.expected_runtime}]")
        lines.extend(f"    {spec.name} ({spec.kind})" for spec in preset.models)
    for name, (description, runtime) in HANDED_OFF_PRESETS.items():
        lines.append(f"{name}: {description} [{runtime}]")
    return "\n".join(lines)


def handed_off_preset(argv):
    """``(name, other arguments)`` when ``argv`` asks for a preset of :data:`HANDED_OFF_PRESETS`."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--preset")
    known, rest = finder.parse_known_args(argv)
    if known.preset in HANDED_OFF_PRESETS:
        return known.preset, rest
    return None


def run_handed_off(name, argv):
    """Run ``benchmarks/<name>.py``'s ``main`` with ``argv``; returns the exit status."""
    import importlib

    module = importlib.import_module(f"benchmarks.{name.replace('-', '_')}")
    module.main(argv, prog=f"benchmarks/run.py --preset {name}")
    return 0


def select_models(preset, pattern_text):
    """The preset's models named by ``--models`` (names or shell patterns, case-insensitive)."""
    if not pattern_text:
        return list(preset.models)
    patterns = [part.strip() for part in pattern_text.split(",") if part.strip()]
    selected = []
    for pattern in patterns:
        matches = [
            spec
            for spec in preset.models
            if fnmatch.fnmatchcase(spec.name.lower(), pattern.lower())
        ]
        if not matches:
            valid = ", ".join(spec.name for spec in preset.models)
            raise ValueError(
                f"--models: {pattern!r} matches no model of preset {preset.name!r}; "
                f"valid names: {valid}"
            )
        selected.extend(spec for spec in matches if spec not in selected)
    # Preset order, so that the linear baselines (which set the threshold) come first.
    return [spec for spec in preset.models if spec in selected]


def scaled_preset(preset, device):
    """The preset "scaled to the machine": its ``gpu_overrides`` applied on CUDA."""
    if device.startswith("cuda") and preset.gpu_overrides:
        return replace(preset, **preset.gpu_overrides)
    return preset


def describe_run(preset, specs, args):
    """``--dry-run``: the resolved models of the run as a Markdown table, nothing trained."""
    from benchmarks.describe import describe_model, describe_table

    # The synthetic data need not be generated for their shape; the user's data decide
    # the networks' sizes (and load_data checks the data options).
    own_data = args.data is not None or args.landmarks is not None
    shape = load_data(preset, args) if own_data else preset.data
    descriptions = [
        describe_model(
            spec, model_params(spec, preset, shape, args), shape.n_landmarks, shape.n_targets
        )
        for spec in specs
    ]
    n_samples = args.n_samples or getattr(shape, "n_samples", None)
    header = (
        f"Preset {preset.name!r} on {args.device}: {shape.n_landmarks:,} landmarks -> "
        f"{shape.n_targets:,} targets"
        + (f", {n_samples:,} profiles" if args.data is None and n_samples else "")
        + f"; {len(specs)} model(s), networks built on the meta device, nothing trained."
    )
    return header + "\n\n" + describe_table(descriptions)


# ---------------------------------------------------------------------------- one run


@dataclass
class BenchmarkRun:
    """A finished (or interrupted) run: what ``--de`` and the writers work from."""

    preset: object
    data: object
    results: list = field(default_factory=list)
    threshold: dict = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None
    wall_time_s: float = 0.0
    #: The resolved estimator parameters of every model fitted, by name.
    params: dict = field(default_factory=dict)


def network_params(spec, preset, data, *, epochs, device, seed):
    """The estimator parameters of a network spec: preset defaults, spec, command line."""
    params = {**NETWORK_PROTOCOL, **preset.network_defaults, **spec.params}
    params.update(max_epochs=epochs or preset.epochs, device=device, random_state=seed)
    budget_width = params.pop("budget_width", None)
    if budget_width is not None:
        params["param_budget"] = _dense_budget(params, data, budget_width)
    return params


def _dense_budget(params, data, width):
    from sklearn_dgex import DGEXRegressor
    from sklearn_dgex.nn.budget import dense_budget

    n_out = -(-data.n_targets // params.get("n_target_splits", 1))  # the larger half
    # The neurons the estimator builds: its defaults where the preset is silent.
    defaults = DGEXRegressor().get_params()
    kwargs = {
        key: params.get(key, defaults[key])
        for key in ("n_hidden_layers", "activation", "output_activation")
    }
    return dense_budget(data.n_landmarks, n_out, width, **kwargs)


def model_params(spec, preset, data, args):
    if spec.is_network:
        return network_params(
            spec, preset, data, epochs=args.epochs, device=args.device, seed=args.seed
        )
    return dict(spec.params)


class _Interrupt:
    """Ctrl-C bookkeeping: the first SIGINT flags the run and interrupts the work at hand.

    skorch ends a fit early (and returns normally) on KeyboardInterrupt, so the
    flag, not the exception, tells that the model in training did not finish.
    A second Ctrl-C gets Python's default behaviour.
    """

    def __init__(self):
        self.requested = False

    def handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt

    @contextmanager
    def installed(self):
        try:
            previous = signal.signal(signal.SIGINT, self.handler)
        except ValueError:  # not the main thread: leave signals alone
            yield self
            return
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def run_benchmark(preset, specs, data, args, *, log, progress, keep_predictions=False):
    """Fit and evaluate ``specs`` in order; stop cleanly on Ctrl-C.

    ``keep_predictions`` keeps each model's test predictions on its result
    (for analyses of the predictions themselves, such as differential expression).
    """
    run = BenchmarkRun(preset=preset, data=data)
    started = time.perf_counter()
    n_boot = args.n_boot or preset.n_boot
    interrupt = _Interrupt()
    if args.scheduler != "local":
        specs = _run_networks_on_cluster(run, preset, specs, data, args, n_boot, log)
    with interrupt.installed(), torch_threads(preset.torch_threads), progress(specs) as model_bar:
        for spec in specs:
            model_bar.set_description(f"{spec.name:<20}")
            try:
                if spec.is_network and not run.threshold:
                    run.threshold = error_threshold(preset, run.results, data, log)
                params = run.params[spec.name] = model_params(spec, preset, data, args)
                with progress.epochs(spec, params) as epoch_bar:
                    result = fit_and_evaluate(
                        spec,
                        params,
                        data,
                        n_boot=n_boot,
                        seed=args.seed,
                        threshold=run.threshold.get("value"),
                        epoch_bar=epoch_bar,
                        keep_predictions=keep_predictions,
                    )
            except KeyboardInterrupt:
                interrupt.requested = True
            except Exception as error:  # keep what finished, then report the failure
                run.error = f"{spec.name}: {type(error).__name__}: {error}"
                log(f"Failed: {run.error}")
                break
            if interrupt.requested:
                run.interrupted = True
                log(
                    f"Interrupted during {spec.name}: writing the {len(run.results)} "
                    "finished model(s)."
                )
                break
            run.results.append(result)
            model_bar.update(1)
            log(
                f"{spec.name}: test MMAE {result.mmae:.4f}, RMSE {result.rmse:.4f}, "
                f"fit {result.fit_time_s:.1f} s"
            )
    add_genes_beating_linear(run.results)
    run.wall_time_s = time.perf_counter() - started
    return run


def _run_networks_on_cluster(run, preset, specs, data, args, n_boot, log):
    """Fit the baselines here, then the networks as one trial each on ``args.scheduler``.

    Returns the specs left to run in this process (none). Progress bars cannot
    cross processes, so the networks report only when they are all done.
    """
    from joblib import Parallel, delayed

    from sklearn_dgex.distributed import sweep_backend

    baselines = [spec for spec in specs if not spec.is_network]
    networks = [spec for spec in specs if spec.is_network]
    for spec in [*baselines, *networks]:
        run.params[spec.name] = model_params(spec, preset, data, args)
    for spec in baselines:
        params = run.params[spec.name]
        run.results.append(
            fit_and_evaluate(
                spec, params, data, n_boot=n_boot, seed=args.seed, keep_predictions=args.de
            )
        )
    if networks and not run.threshold:
        run.threshold = error_threshold(preset, run.results, data, log)
    log(f"Sending {len(networks)} network(s) to {args.scheduler}")
    with sweep_backend(args.scheduler, gpus_per_trial=args.gpus_per_trial):
        run.results += Parallel(n_jobs=-1)(
            delayed(fit_and_evaluate)(
                spec,
                run.params[spec.name],
                data,
                n_boot=n_boot,
                seed=args.seed,
                threshold=run.threshold.get("value"),
                keep_predictions=args.de,
            )
            for spec in networks
        )
    return []


@contextmanager
def torch_threads(n_threads):
    """Run with ``n_threads`` torch CPU threads (unchanged for None), restored afterwards."""
    if n_threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def error_threshold(preset, results, data, log):
    """The validation RMSE that counts as "reached" for epochs-to-threshold."""
    if preset.threshold_rmse is not None:
        return {"value": preset.threshold_rmse, "definition": "a fixed validation RMSE"}
    linear = [r for r in results if r.kind in ("linear", "ridge")]
    if linear:
        best = min(linear, key=lambda r: r.val_rmse)
        reference, name = best.val_rmse, best.model
    else:
        log("No linear baseline selected: fitting RidgeCV for the error threshold only.")
        reference, name = ridge_reference_rmse(data), "RidgeCV"
    return {
        "value": preset.threshold_factor * reference,
        "definition": f"{preset.threshold_factor:g} x the validation RMSE of {name}, the best "
        "linear baseline",
        "reference_model": name,
        "factor": preset.threshold_factor,
    }


def add_genes_beating_linear(results):
    """Share of genes on which each model's test MAE is below LinearRegression's."""
    from sklearn_dgex.metrics import share_of_genes_better

    linear = next((r for r in results if r.kind == "linear"), None)
    if linear is None:
        return
    for result in results:
        if result is not linear:
            result.genes_beating_linear = share_of_genes_better(
                result.per_gene_mae, linear.per_gene_mae
            )


# ---------------------------------------------------------------------------- outputs


def run_meta(run, args, argv, specs):
    return {
        "preset": run.preset.name,
        "description": run.preset.description,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_description(args.device),
        "device": args.device,
        "command": "python benchmarks/run.py " + shlex.join(argv),
        "seed": args.seed,
        "epochs": args.epochs or run.preset.epochs,
        "n_boot": args.n_boot or run.preset.n_boot,
        "alpha": run.preset.alpha,
        "data": run.data.describe(),
        "threshold": run.threshold,
        "models_requested": [spec.name for spec in specs],
        "models_finished": [result.model for result in run.results],
        "interrupted": run.interrupted,
        "error": run.error,
        "models_time_s": run.wall_time_s,
    }


def write_outputs(run, out_dir, meta, log, *, started):
    """Every file and figure of the run; figures that need missing models are skipped.

    Figures come first, so that the wall time in results.json and results.md
    (from ``started``) covers data, models and figures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    results = run.results
    written = write_figures(run, out_dir, log)
    model, reference = run.preset.paired_test
    meta["paired_test"] = report.paired_comparison(results, model=model, reference=reference)
    if meta["paired_test"]:
        log(report.paired_comparison_text(meta["paired_test"]))
    meta["wall_time_s"] = time.perf_counter() - started
    written += report.write_results(results, out_dir, meta)
    written += report.write_histories(results, out_dir)
    written += report.write_per_sample_errors(results, out_dir)
    (out_dir / "results.md").write_text(report.results_markdown(results, meta))
    written.append(out_dir / "results.md")
    return written


def write_figures(run, out_dir, log):
    results = run.results
    networks = [r for r in results if r.is_network]
    threshold = run.threshold.get("value")
    figures = []
    if not results:
        return figures
    figures.append(report.plot_best_error(results, out_dir / "best_error.png"))
    if networks:
        figures.append(
            report.plot_convergence(results, out_dir / "convergence.png", threshold=threshold)
        )
        figures.append(
            report.plot_epochs_to_threshold(
                networks, out_dir / "epochs_to_threshold.png", threshold=threshold
            )
        )
    if networks:
        figures.append(
            report.plot_speed_vs_parameters(networks, out_dir / "speed_vs_parameters.png")
        )
    if any(report.iterations_per_second(r) for r in networks):
        figures.append(
            report.plot_training_efficiency(networks, out_dir / "training_efficiency.png")
        )
    if report.has_tower_sweep(results):
        n_out = -(-run.data.n_targets // _target_splits(run))
        figures.append(report.plot_towers(results, out_dir / "towers.png", n_out=n_out))
        figures += tower_budget_figures(run, out_dir)
    for plot, name in (
        (report.plot_wilcoxon_towers, "wilcoxon_towers.png"),
        (report.plot_wilcoxon_architectures, "wilcoxon_architectures.png"),
    ):
        path = plot(results, out_dir / name, alpha=run.preset.alpha)
        if path is not None:
            figures.append(path)
    if len(results) >= 2:
        names, matrix, pvalues = report.significance_matrix(results, alpha=run.preset.alpha)
        report.write_wilcoxon(names, matrix, pvalues, out_dir)
        figures.append(
            report.plot_wilcoxon(names, matrix, out_dir / "wilcoxon.png", alpha=run.preset.alpha)
        )
    if any(r.genes_beating_linear is not None for r in results):
        figures.append(report.plot_beats_linear(results, out_dir / "beats_linear.png"))
    else:
        log("No LinearRegression result: skipping beats_linear.png.")
    return figures


def _towered(run):
    """Results of the run's tower networks (T, C, TR, CR)."""
    return [r for r in run.results if r.details.get("arch") in report.ARCH_LABELS]


def _target_splits(run):
    """Networks per model of the run's tower sweep (each on a block of the targets)."""
    return run.params[_towered(run)[0].model].get("n_target_splits", 1)


def tower_budget_figures(run, out_dir):
    """The D-GEX study's Figs. 2 and 3 for the run's weight budget, from the budget solver.

    The preset's tower networks share one budget (``budget_width`` or
    ``param_budget``), so the first one's stands for all.
    """
    from sklearn_dgex import DGEXRegressor
    from sklearn_dgex.nn.budget import count_neurons

    towered = _towered(run)
    estimator = DGEXRegressor(**run.params[towered[0].model])
    n_in = run.data.n_landmarks
    n_out = -(-run.data.n_targets // estimator.n_target_splits)  # the larger block
    activations = estimator._activations()
    param_budget = estimator._budget(n_in, n_out)
    used = sorted({(r.details["towers"], r.details["width"]) for r in towered})
    points = [
        (towers, width, count_neurons(n_in, n_out, towers=towers, width=width, **activations))
        for towers, width in used
    ]
    curve = report.tower_budget_curve(
        n_in, n_out, param_budget, max_towers=max(12, *(t for t, _ in used)), **activations
    )
    return report.plot_tower_budget(
        curve, n_out, (out_dir / "tower_widths.png", out_dir / "tower_neurons.png"), used=points
    )


# ---------------------------------------------------------------------------- progress


class Progress:
    """tqdm bars: one over the models, one over the epochs of the network in training."""

    def __init__(self, enabled):
        self.enabled = enabled

    @contextmanager
    def __call__(self, specs):
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(specs), unit="model", disable=not self.enabled, position=0, dynamic_ncols=True
        )
        try:
            yield bar
        finally:
            bar.close()

    @contextmanager
    def epochs(self, spec, params):
        if not (self.enabled and spec.is_network):
            yield None
            return
        from tqdm.auto import tqdm

        bar = tqdm(
            total=params["max_epochs"],
            unit="epoch",
            desc=f"  {spec.name}",
            leave=False,
            position=1,
            dynamic_ncols=True,
        )
        try:
            yield bar
        finally:
            bar.close()


# ---------------------------------------------------------------------------- main


def load_data(preset, args):
    split = {"val_size": preset.val_size, "test_size": preset.test_size, "random_state": args.seed}
    if args.data is not None:
        return user_data(
            args.data,
            landmarks_path=args.landmarks,
            id_type=args.id_type,
            gene_column=args.gene_column,
            genes_in=args.genes_in,
            n_samples=args.n_samples,
            **split,
        )
    if args.landmarks is not None:
        raise ValueError("--landmarks needs --data (the synthetic default has its own landmarks)")
    return synthetic_data(preset.data, n_samples=args.n_samples, **split)


def _log(message):
    from tqdm.auto import tqdm

    # Printed above the progress bars rather than through them.
    tqdm.write(message, file=sys.stdout)


def _quiet_log(message):
    pass


def landmark_summary(match, shown=10):
    """One line: how many landmarks the user's data had, and which were missing."""
    text = f"Landmarks: {match['n_matched']} of {match['n_landmarks']} found in the data"
    missing = [str(gene) for gene in match["missing"]]
    if missing:
        text += f"; missing: {', '.join(missing[:shown])}" + (
            ", ..." if len(missing) > shown else ""
        )
    return text


def differential_expression_report(run, data, out_dir, args):
    """Write the DE-agreement tables and figures of the models' test predictions."""
    from benchmarks import de_report

    predictions = {r.model: r.predictions for r in run.results if r.predictions is not None}
    result = de_report.run_de_report(
        data.Y_test,
        predictions,
        out_dir,
        n_repeats=args.de_repeats,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    return result.markdown


def main(argv=None):
    """Run the benchmark; returns the exit status (0; 1 if a model failed; 130 on Ctrl-C)."""
    started = time.perf_counter()
    argv = sys.argv[1:] if argv is None else list(argv)
    handed_off = handed_off_preset(argv)
    if handed_off:
        return run_handed_off(*handed_off)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_presets())
        return 0
    log = _quiet_log if args.quiet else _log
    try:
        if args.scheduler == "local":  # on a cluster each worker resolves its own device
            from sklearn_dgex._torch.device import resolve_device  # imports torch: not for --list

            # --dry-run describes a GPU run on any machine.
            args.device = resolve_device(args.device, check_available=not args.dry_run)
        preset = scaled_preset(get_preset(args.preset), args.device)
        if args.threshold_rmse is not None:
            preset = replace(preset, threshold_rmse=args.threshold_rmse)
        specs = select_models(preset, args.models)
        if args.dry_run:
            print(describe_run(preset, specs, args))
            return 0
        out_dir = args.out or Path("bench_out") / preset.name
        log(
            f"Preset {preset.name!r}: {len(specs)} model(s); device {args.device}; "
            f"writing to {out_dir}"
        )
        data = load_data(preset, args)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    info = data.describe()
    log(
        f"Data: {info['source']}: {info['n_landmarks']} landmarks -> {info['n_targets']} "
        f"targets; train/val/test {info['n_train']}/{info['n_val']}/{info['n_test']}"
    )
    if info.get("landmark_match"):
        log(landmark_summary(info["landmark_match"]))
    run = run_benchmark(
        preset,
        specs,
        data,
        args,
        log=log,
        progress=Progress(not args.quiet),
        keep_predictions=args.de,
    )
    meta = run_meta(run, args, argv, specs)
    write_outputs(run, out_dir, meta, log, started=started)
    if run.results:
        print(report.markdown_table(run.results))
    if args.de and run.results:
        print(differential_expression_report(run, data, out_dir, args))
    log(f"Wrote results and figures to {out_dir}; {meta['wall_time_s']:.0f} s in all.")
    if run.error:
        print(
            f"benchmarks/run.py: a model failed, results of the others kept: {run.error}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_INTERRUPTED if run.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
