"""The ``sklearn-dgex`` command line: fit, predict, evaluate and describe models on files.

::

    sklearn-dgex fit DATA -o MODEL [--estimator dgex|mlp] [--arch cr --towers 5 ...]
    sklearn-dgex predict MODEL DATA -o OUT [--chunk-size N]
    sklearn-dgex evaluate MODEL DATA [--baselines TRAIN] [--per-gene CSV] [--per-sample CSV]
    sklearn-dgex info MODEL

(also ``python -m sklearn_dgex``). Files are read and written in every
format of :func:`sklearn_dgex.datasets.read_expression`, chosen by the
extension. Genes are matched by id (HGNC symbol or Entrez id, with the
aliases of the landmarks), never by position. Every parameter of the
estimators is an option, generated from their ``get_params()`` and
``_parameter_constraints``; ``--params FILE`` reads them from JSON (or YAML
when PyYAML is installed). Errors in the input (a missing or unreadable file,
landmarks the data lacks, a model that does not fit the data, a wrong
parameter) print one line and exit with status 2.
"""

import argparse
import json
import os
import sys
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np

__all__ = ["main"]

_ESTIMATORS = {"dgex": "DGEXRegressor", "mlp": "FlexibleMLPRegressor"}
_DEFAULT_CHUNK_SIZE = 10_000


class CommandError(Exception):
    """A problem with the command's input: reported in one line, exit status 2."""


# -- estimator parameters as options ---------------------------------------------
def _estimator_class(name):
    import sklearn_dgex

    return getattr(sklearn_dgex, _ESTIMATORS[name])


def _parameter_table():
    """name -> (default per estimator key, constraints) over both estimators."""
    table = {}
    for key in _ESTIMATORS:
        cls = _estimator_class(key)
        for name, default in cls().get_params(deep=False).items():
            entry = table.setdefault(name, ({}, cls._parameter_constraints.get(name, [])))
            entry[0][key] = default
    return table


def _parse_value(text, constraints, name):
    """A command-line string as the value a parameter's constraints accept."""
    lowered = text.strip().lower()
    if lowered in ("none", "null") and None in constraints:
        return None
    if lowered in ("true", "false", "yes", "no") and "boolean" in constraints:
        return lowered in ("true", "yes")
    if "array-like" in constraints and "," in text:
        try:
            return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            pass
    kinds = {getattr(constraint, "type", None) for constraint in constraints}
    if Integral in kinds or {"random_state", "verbose"} & set(map(str, constraints)):
        try:
            return int(text)
        except ValueError:
            pass
    if Real in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    if any(c is str or hasattr(c, "options") for c in constraints):
        return text  # the estimator checks it against its options when fitting
    raise CommandError(f"--{name.replace('_', '-')}: {text!r} is not a valid value.")


def _read_params_file(path):
    if not os.path.isfile(path):
        raise CommandError(f"--params: no such file {path!r}.")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise CommandError(
                f"--params {path!r}: reading YAML needs PyYAML (pip install pyyaml); "
                "or write the parameters as JSON."
            ) from None
        params = yaml.safe_load(text)
    else:
        try:
            params = json.loads(text)
        except ValueError as error:
            raise CommandError(f"--params {path!r} is not valid JSON: {error}.") from None
    if not isinstance(params, dict):
        raise CommandError(f"--params {path!r} must hold a mapping of parameter names to values.")
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params


def _estimator_params(args, table):
    key = args.estimator
    params = _read_params_file(args.params) if args.params else {}
    for name, (defaults, constraints) in table.items():
        text = getattr(args, f"param_{name}", None)
        if text is None:
            continue
        if key not in defaults:
            owners = ", ".join(_ESTIMATORS[k] for k in defaults)
            raise CommandError(
                f"--{name.replace('_', '-')} is a parameter of {owners}, not of "
                f"{_ESTIMATORS[key]} (--estimator {key})."
            )
        params[name] = _parse_value(text, constraints, name)
    unknown = sorted(set(params) - {n for n, (d, _) in table.items() if key in d})
    if unknown:
        raise CommandError(f"{_ESTIMATORS[key]} has no parameter(s) {unknown}.")
    return params


# -- reading and matching ----------------------------------------------------------
def _read(path, args, **kwargs):
    from .datasets import read_expression

    reader_kwargs = {"genes_in": args.genes_in} if args.genes_in != "columns" else {}
    return read_expression(path, format=args.format, **reader_kwargs, **kwargs)


def _landmarks_of(args):
    if not args.landmarks:
        return None
    if not os.path.isfile(args.landmarks):
        raise CommandError(f"--landmarks: no such file {args.landmarks!r}.")
    with open(args.landmarks, encoding="utf-8") as handle:
        return [line.split("\t")[0].strip() for line in handle if line.strip()]


def _id_type_of(names):
    """``"entrez"`` when every id is an integer written in text, else ``"symbol"``."""
    return "entrez" if all(str(name).strip().isdigit() for name in names) else "symbol"


def _majority_id_type(names):
    """``"entrez"`` when most ids are integers written in text, else ``"symbol"``.

    A file may mix kinds (targets named by symbol beside landmarks named by
    Entrez id), so a few ids of the other kind do not decide.
    """
    names = [str(name).strip() for name in names]
    numeric = sum(name.isdigit() for name in names)
    return "entrez" if names and 2 * numeric > len(names) else "symbol"


def _split(data, landmarks, id_type, path):
    from .datasets import split_landmarks

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return split_landmarks(data, landmarks, id_type=id_type, return_match=True)
    except ValueError as error:
        raise CommandError(f"{path}: {error}") from None


def _summary(ids, limit=8):
    ids = [str(i) for i in ids]
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids) - limit} more)" if len(ids) > limit else "")


def _model_landmarks(model, path):
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise CommandError(
            f"{path} was fitted on an unlabelled array; the command line needs a model fitted "
            "on a table with gene ids (sklearn-dgex fit, or fit(X, y) with DataFrames)."
        )
    return list(names)


def _require_landmarks(match, data_path, model_path):
    if match.missing:
        raise CommandError(
            f"{data_path} lacks {len(match.missing)} of the {match.n_landmarks} landmarks "
            f"{model_path} was trained on: {_summary(match.missing)}."
        )


def _require_values(X, path):
    """Refuse missing landmark values, naming the first, before the model sees them."""
    missing = X.isna().to_numpy()
    if missing.any():
        row, column = np.argwhere(missing)[0]
        raise CommandError(
            f"{path}: {int(missing.sum())} landmark value(s) are missing, e.g. gene "
            f"{X.columns[column]!r} of sample {X.index[row]!r}; every landmark must be measured."
        )


def _load_model(path):
    from .persistence import load

    if not os.path.exists(path):
        raise CommandError(f"model file not found: {path!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a GPU model loads on the CPU, as said in load()
        return load(path)


def _say(args, message):
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


# -- subcommands -------------------------------------------------------------------
def _fit(args, table):
    params = _estimator_params(args, table)
    if not args.quiet:
        params.setdefault("verbose", 1)
    folder = os.path.dirname(args.output)
    if folder and not os.path.isdir(folder):
        raise CommandError(f"the folder of the output {args.output!r} does not exist.")
    cls = _estimator_class(args.estimator)
    model = cls(**params)
    try:  # before reading a large file
        model._validate_params()
    except ValueError as error:
        raise CommandError(str(error)) from None
    data = _read(args.data, args)
    landmarks = _landmarks_of(args)
    id_type = args.id_type or _id_type_of(data.columns[: min(50, data.shape[1])])
    X, Y, match = _split(data, landmarks, id_type, args.data)
    _say(args, f"{args.data}: {len(data)} samples; {_match_line(match)}")
    if Y.shape[1] == 0:
        raise CommandError(f"{args.data}: every gene is a landmark; there are no targets to fit.")
    _say(args, f"training {cls.__name__} on {X.shape[1]} landmarks -> {Y.shape[1]} targets")
    try:
        model.fit(X, Y)
    except ValueError as error:  # invalid parameters, data too small for them, ...
        raise CommandError(str(error)) from None
    path = model.save(args.output)
    _say(args, f"saved {path} ({model.fit_time_:.1f} s)")
    return 0


def _match_line(match):
    line = f"{match.n_matched}/{match.n_landmarks} landmarks matched"
    aliased = getattr(match, "aliased", None)
    if aliased:
        line += f" ({len(aliased)} through an alias: {_summary(list(aliased.values()), 5)})"
    if match.missing:
        line += f"; missing {len(match.missing)}: {_summary(match.missing)}"
    return line + f"; {match.n_targets} other genes"


def _in_the_data_ids(landmarks, gene_ids, id_type, model_path):
    """The model's landmark ids in the data's kind of id, and that kind.

    A model trained on Entrez ids reads a file of symbols, and the other way
    round, through the L1000 list, which gives both ids of each landmark.
    """
    from .datasets import load_l1000_landmarks

    model_kind = _id_type_of(landmarks)
    data_kind = id_type or _majority_id_type(gene_ids)
    if data_kind == model_kind:
        return landmarks, data_kind
    table = load_l1000_landmarks()
    source, target = ("entrez_id", "symbol") if model_kind == "entrez" else ("symbol", "entrez_id")
    translation = dict(zip(table[source].astype(str), table[target].astype(str)))
    unknown = [name for name in landmarks if name not in translation]
    if unknown:
        raise CommandError(
            f"{model_path} names its landmarks by {model_kind} and the data by {data_kind}; "
            f"{len(unknown)} of them are not L1000 landmarks, whose {data_kind} is unknown: "
            f"{_summary(unknown)}. Use a file with {model_kind} ids."
        )
    return [translation[name] for name in landmarks], data_kind


def _source_columns(gene_ids, landmarks, id_type, path):
    """Positions in ``gene_ids`` of each landmark, through the landmark matching."""
    import pandas as pd

    positions = pd.DataFrame([np.arange(len(gene_ids), dtype=np.float64)], columns=gene_ids)
    X, _, match = _split(positions, landmarks, id_type, path)
    return X.iloc[0].to_numpy().astype(np.intp), match


def _predict(args, table):
    from .datasets._chunks import ChunkWriter, SampleChunks

    if args.chunk_size < 1:
        raise CommandError(f"--chunk-size must be a positive integer, got {args.chunk_size}.")
    model = _load_model(args.model)
    landmarks = _model_landmarks(model, args.model)
    try:
        chunks = SampleChunks(args.data, format=args.format, genes_in=args.genes_in)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise CommandError(str(error)) from None
    wanted, id_type = _in_the_data_ids(landmarks, chunks.gene_ids, args.id_type, args.model)
    columns, match = _source_columns(chunks.gene_ids, wanted, id_type, args.data)
    _require_landmarks(match, args.data, args.model)
    total = f"/{chunks.n_samples}" if chunks.n_samples is not None else ""
    with ChunkWriter(args.output) as writer:
        for block in chunks.iter(columns, args.chunk_size):
            block.columns = landmarks
            _require_values(block, args.data)
            frame = model.predict_frame(block)
            if args.include_landmarks:
                frame = block.astype(np.float64).join(frame)
            writer.write(frame)
            _say(args, f"predicted {writer.n_rows}{total} samples")
    _say(args, f"wrote {args.output} ({writer.n_rows} samples x {frame.shape[1]} genes)")
    return 0


def _errors(Y_true, Y_pred):
    from .metrics import mmae, rmse

    per_gene_mae = np.nanmean(np.abs(Y_true - Y_pred), axis=0)
    per_gene_rmse = np.sqrt(np.nanmean((Y_true - Y_pred) ** 2, axis=0))
    per_sample_mae = np.nanmean(np.abs(Y_true - Y_pred), axis=1)
    per_sample_rmse = np.sqrt(np.nanmean((Y_true - Y_pred) ** 2, axis=1))
    return {
        "mmae": float(mmae(Y_true, Y_pred)),
        "rmse": float(rmse(Y_true, Y_pred)),
        "per_gene": {"mae": per_gene_mae, "rmse": per_gene_rmse},
        "per_sample": {"mae": per_sample_mae, "rmse": per_sample_rmse},
    }


def _evaluate(args, table):
    model = _load_model(args.model)
    landmarks = _model_landmarks(model, args.model)
    targets = getattr(model, "target_names_in_", None)
    if targets is None:
        raise CommandError(f"{args.model} has no target gene ids to compare with the data.")
    data = _read(args.data, args)
    wanted, id_type = _in_the_data_ids(landmarks, data.columns, args.id_type, args.model)
    X, Y, match = _split(data, wanted, id_type, args.data)
    _require_landmarks(match, args.data, args.model)
    present = [name for name in targets if name in set(Y.columns)]
    if not present:
        raise CommandError(
            f"{args.data} has none of the {len(targets)} target genes of {args.model} "
            f"(e.g. {_summary(targets, 3)}); evaluate needs measured targets."
        )
    if len(present) < len(targets):
        _say(args, f"{args.data} has {len(present)} of the {len(targets)} targets; scoring those")
    X.columns = landmarks
    _require_values(X, args.data)
    Y_true = Y.loc[:, present].to_numpy(dtype=np.float64)
    predictions = model.predict_frame(X).loc[:, present]
    results = {"model": _errors(Y_true, predictions.to_numpy())}
    if args.baselines:
        for name, baseline in _fit_baselines(args, wanted, present, id_type).items():
            results[name] = _errors(Y_true, baseline.predict(X.to_numpy(dtype=np.float64)))
    _write_tables(args, results, present, X.index)
    summary = {
        "n_samples": len(X),
        "n_targets": len(present),
        **{name: {"mmae": r["mmae"], "rmse": r["rmse"]} for name, r in results.items()},
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{len(X)} samples, {len(present)} targets")
        print(f"{'':<10}{'MMAE':>10}{'RMSE':>10}")
        for name, r in results.items():
            print(f"{name:<10}{r['mmae']:>10.4f}{r['rmse']:>10.4f}")
    return 0


def _fit_baselines(args, landmarks, targets, id_type):
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor

    X, Y, match = _split(_read(args.baselines, args), landmarks, id_type, args.baselines)
    _require_landmarks(match, args.baselines, args.model)
    missing = [name for name in targets if name not in set(Y.columns)]
    if missing:
        raise CommandError(
            f"--baselines {args.baselines} lacks {len(missing)} of the scored targets: "
            f"{_summary(missing)}."
        )
    X, Y = X.to_numpy(dtype=np.float64), Y.loc[:, targets].to_numpy(dtype=np.float64)
    _say(args, f"fitting the baselines on {len(X)} samples of {args.baselines}")
    return {
        "linear": LinearRegression().fit(X, Y),
        "knn": KNeighborsRegressor(n_neighbors=min(args.n_neighbors, len(X))).fit(X, Y),
    }


def _write_tables(args, results, targets, samples):
    import pandas as pd

    for option, key, index in (
        (args.per_gene, "per_gene", targets),
        (args.per_sample, "per_sample", samples),
    ):
        if option:
            columns = {
                f"{name}_{metric}": values
                for name, r in results.items()
                for metric, values in r[key].items()
            }
            pd.DataFrame(columns, index=pd.Index(index, name=key.split("_")[1])).to_csv(option)


def _info(args, table):
    from .persistence import _parse_config, _read_zip

    if not os.path.exists(args.model):
        raise CommandError(f"model file not found: {args.model!r}")
    config = _parse_config(args.model, _read_zip(Path(args.model))[0])
    model = _load_model(args.model)
    rows = [row for row in model.history_ if "valid_mmae" in row]
    best = min(rows, key=lambda row: row["valid_loss"]) if rows else None
    features = list(getattr(model, "feature_names_in_", []))
    targets = list(getattr(model, "target_names_in_", []))
    info = {
        "estimator": type(model).__name__,
        "architecture": _architecture(model),
        "n_parameters": model.n_parameters_,
        "training_data": {
            "n_samples": getattr(model, "n_samples_fit_", None),
            "n_landmarks": model.n_features_in_,
            "n_targets": model.n_outputs_,
        },
        "landmarks": features,
        "targets": targets,
        "scores_at_fit": None
        if best is None
        else {
            "best_epoch": best["epoch"],
            "valid_mmae": best["valid_mmae"],
            "valid_rmse": best["valid_rmse"],
        },
        "epochs": model.n_iter_,
        "fit_time_s": getattr(model, "fit_time_", None),
        "versions": config.get("written_by", {}),
        "format_version": config.get("format_version"),
        "params": {k: _plain(v) for k, v in model.get_params(deep=False).items()},
    }
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    shape = info["training_data"]
    print(f"{info['estimator']}: {info['architecture']}, {info['n_parameters']:,} parameters")
    print(
        f"trained on {shape['n_samples']} samples: {shape['n_landmarks']} landmarks -> "
        f"{shape['n_targets']} targets, {info['epochs']} epochs"
    )
    print(f"landmarks: {_summary(features) if features else '(unlabelled)'}")
    print(f"targets: {_summary(targets) if targets else '(unlabelled)'}")
    if best is not None:
        print(
            f"validation at epoch {best['epoch']}: MMAE {best['valid_mmae']:.4f}, "
            f"RMSE {best['valid_rmse']:.4f}"
        )
    else:
        print("validation: none recorded at fit")
    print("written by: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in info["params"].items()))
    return 0


def _architecture(model):
    if hasattr(model, "arch"):
        return (
            f"arch={model.arch} towers={model.towers} width={model.width_} "
            f"layers={model.n_hidden_layers}"
        )
    return f"hidden_layer_sizes={model.hidden_layer_sizes!r}"


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


# -- the parser --------------------------------------------------------------------
def _add_data_options(parser):
    parser.add_argument(
        "--format",
        choices=["gctx", "gct", "table", "parquet", "h5ad", "npz"],
        help="format of the data files (default: from the extension)",
    )
    parser.add_argument(
        "--genes-in",
        choices=["columns", "rows"],
        default="columns",
        help="orientation of CSV/TSV, Parquet and npz data: genes in columns (one sample "
        "per line, default) or in rows",
    )
    parser.add_argument(
        "--id-type",
        choices=["symbol", "entrez"],
        help="kind of gene ids in the data (default: Entrez when most ids are numbers, "
        "else symbols); a model trained on the other kind translates its L1000 "
        "landmarks",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def build_parser(table=None):
    """The argument parser of ``sklearn-dgex``.

    Parameters
    ----------
    table : dict, default=None
        Parameters of the estimators (internal; built when None).

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from . import __version__

    table = _parameter_table() if table is None else table
    parser = argparse.ArgumentParser(
        prog="sklearn-dgex",
        description="Infer target genes from L1000 landmark genes with D-GEX networks.",
    )
    parser.add_argument("--version", action="version", version=f"sklearn-dgex {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="train a model on an expression file and save it",
        description="Split DATA into landmarks and targets by gene id, train, save to MODEL. "
        "Every estimator parameter is an option (--arch cr --towers 5 ...).",
    )
    fit.add_argument("data", metavar="DATA", help="training expression file")
    fit.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    fit.add_argument("--estimator", choices=sorted(_ESTIMATORS), default="dgex")
    fit.add_argument("--params", metavar="FILE", help="parameters as JSON (or YAML) mapping")
    fit.add_argument(
        "--landmarks", metavar="FILE", help="landmark ids, one per line (default: the L1000 978)"
    )
    _add_data_options(fit)
    estimator_options = fit.add_argument_group("estimator parameters")
    for name, (defaults, _) in sorted(table.items()):
        owners = "" if len(defaults) == len(_ESTIMATORS) else f" ({'/'.join(defaults)} only)"
        shown = "; ".join(f"{k}: {v!r}" for k, v in defaults.items())
        estimator_options.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"param_{name}",
            metavar="VALUE",
            help=f"default {shown}{owners}",
        )

    predict = commands.add_parser(
        "predict",
        help="predict the target genes of an expression file",
        description="Predict the targets of every sample of DATA, a chunk of samples at a "
        "time, into OUT (format from its extension; sample and gene ids kept).",
    )
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("data", metavar="DATA")
    predict.add_argument("-o", "--output", required=True, metavar="OUT")
    predict.add_argument(
        "--chunk-size",
        type=int,
        default=_DEFAULT_CHUNK_SIZE,
        help=f"samples read and predicted at a time (default {_DEFAULT_CHUNK_SIZE})",
    )
    predict.add_argument(
        "--include-landmarks", action="store_true", help="write the landmarks before the targets"
    )
    _add_data_options(predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on a file with measured targets",
        description="MMAE and RMSE of MODEL's predictions on DATA, overall, per gene and per "
        "sample; optionally beside linear regression and KNN fitted on --baselines TRAIN.",
    )
    evaluate.add_argument("model", metavar="MODEL")
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument("--baselines", metavar="TRAIN", help="fit linear and KNN baselines here")
    evaluate.add_argument("--n-neighbors", type=int, default=10, help="of the KNN baseline")
    evaluate.add_argument("--per-gene", metavar="CSV", help="write per-gene errors")
    evaluate.add_argument("--per-sample", metavar="CSV", help="write per-sample errors")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    _add_data_options(evaluate)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model", metavar="MODEL")
    info.add_argument("--json", action="store_true", help="print the description as JSON")
    return parser


def main(argv=None):
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 2 for an error in the input (reported in one line).
    """
    table = _parameter_table()
    args = build_parser(table).parse_args(argv)
    if not hasattr(args, "quiet"):
        args.quiet = True
    command = {"fit": _fit, "predict": _predict, "evaluate": _evaluate, "info": _info}
    try:
        return command[args.command](args, table)
    except (CommandError, FileNotFoundError, ValueError, ImportError) as error:
        print(f"sklearn-dgex {args.command}: error: {error}", file=sys.stderr)
        return 2


def main_exit():
    """Entry point of the ``sklearn-dgex`` console script: exit with :func:`main`'s status."""
    raise SystemExit(main())
