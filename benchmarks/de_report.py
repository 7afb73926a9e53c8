"""Tables and figures of the differential-expression (DE) agreement study (``run.py --de``).

The D-GEX study's Figs. 7-10: for each sample size, the distribution over
repeated sample sets of the F1 score and MCC of the DE genes called on each
model's inferred profiles against those called on the measured profiles, and
the distribution of the paired differences between two models, whiskers at
the 10th and 90th percentiles. The numbers come from
:func:`sklearn_dgex.de.de_agreement`; this module only presents them.

Typical use (what ``benchmarks/run.py --de`` does)::

    from benchmarks import de_report
    report = de_report.run_de_report(Y_test, {"Ridge": P_ridge, "KNN": P_knn}, "out/",
                                     n_repeats=1000, random_state=0)
    print(report.markdown)

Matplotlib is imported inside the plotting functions and draws on an Agg
canvas, so no display is needed and importing this module costs nothing.
"""

import csv
import math
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from sklearn_dgex.de import STUDY_SAMPLE_SIZES, de_agreement

METRIC_LABELS = {
    "f0.5": "F0.5 score",
    "f1": "F1 score",
    "f2": "F2 score",
    "accuracy": "Accuracy",
    "mcc": "MCC",
    "precision": "Precision",
    "recall": "Recall",
}
# Whiskers at these percentiles, as in the study's figures.
WHISKERS = (10, 90)
# The D-GEX study's figure of each drawing: the scores of the models (F1: Fig. 7,
# MCC: Fig. 9) and their paired differences (F1: Fig. 8, MCC: Fig. 10).
STUDY_FIGURES = {
    ("scores", "f1"): 7,
    ("differences", "f1"): 8,
    ("scores", "mcc"): 9,
    ("differences", "mcc"): 10,
}


def _study_figure(kind, metric):
    number = STUDY_FIGURES.get((kind, metric))
    return "" if number is None else f" (the D-GEX study's Fig. {number})"


# ---------------------------------------------------------------------------- tables


def _format_p(p):
    if not np.isfinite(p):
        return "n/a"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def de_scores_table(result, metrics=("f1", "mcc"), percentiles=WHISKERS):
    """Markdown table: per sample size and model, the median [p10, p90] of each metric.

    Also the median numbers of DE genes called on measured and inferred data
    and of false positives and false negatives (measured calls as truth).

    Parameters
    ----------
    result : sklearn_dgex.de.DEAgreementResult
        What :func:`sklearn_dgex.de.de_agreement` returned.
    metrics : sequence of str, default=("f1", "mcc")
        Score columns to show.
    percentiles : (float, float), default=(10, 90)
        The interval shown beside each median.

    Returns
    -------
    table : str
        A GitHub-flavoured Markdown table.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import de_scores_table
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> res = de_agreement(Y, {"model": Y + rng.normal(0, 0.5, Y.shape)}, sample_sizes=(8,),
    ...                    n_repeats=20, min_cluster_size=20, random_state=0)
    >>> print(de_scores_table(res).splitlines()[0].split(" | ")[:4])
    ['| n', 'model', 'F1 score median [p10, p90]', 'MCC median [p10, p90]']
    """
    low, high = percentiles
    header = ["n", "model"]
    header += [f"{METRIC_LABELS.get(m, m)} median [p{low:g}, p{high:g}]" for m in metrics]
    header += ["DE genes measured", "DE genes inferred", "false pos.", "false neg."]
    rows = []
    for size in result.info["sample_sizes"]:
        for model in result.info["models"]:
            row = [str(size), model]
            for metric in metrics:
                values = result.get(metric, model, size)
                lo, med, hi = np.nanpercentile(values, [low, 50, high])
                row.append(f"{med:.3f} [{lo:.3f}, {hi:.3f}]")
            for count in ("n_de_measured", "n_de_inferred", "fp", "fn"):
                row.append(f"{np.median(result.get(count, model, size)):g}")
            rows.append(row)
    return _markdown(header, rows)


def de_comparison_table(result, metrics=("f1", "mcc")):
    """Markdown table of the paired Wilcoxon tests between models, per sample size and metric.

    Parameters
    ----------
    result : sklearn_dgex.de.DEAgreementResult
        What :func:`sklearn_dgex.de.de_agreement` returned (two or more models).
    metrics : sequence of str, default=("f1", "mcc")
        Metrics to show.

    Returns
    -------
    table : str
        A Markdown table; an explanatory line when fewer than two models ran.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import de_comparison_table
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> preds = {"good": Y + rng.normal(0, 0.1, Y.shape), "bad": Y + rng.normal(0, 1, Y.shape)}
    >>> res = de_agreement(Y, preds, sample_sizes=(8,), n_repeats=30, min_cluster_size=20,
    ...                    random_state=0)
    >>> print(de_comparison_table(res, metrics=("f1",)).splitlines()[2].split(" | ")[:3])
    ['| 8', 'good − bad', 'F1 score']
    """
    comparisons = result.comparisons
    if len(comparisons["metric"]) == 0:
        return "(one model only: no pairwise comparison)"
    header = ["n", "difference", "metric", "median", "mean", "first better", "Wilcoxon p"]
    rows = []
    for i in range(len(comparisons["metric"])):
        if comparisons["metric"][i] not in metrics:
            continue
        rows.append(
            [
                str(comparisons["sample_size"][i]),
                f"{comparisons['model_a'][i]} − {comparisons['model_b'][i]}",
                METRIC_LABELS.get(comparisons["metric"][i], comparisons["metric"][i]),
                f"{comparisons['median_difference'][i]:+.3f}",
                f"{comparisons['mean_difference'][i]:+.4f}",
                f"{100 * comparisons['fraction_a_better'][i]:.0f}%",
                _format_p(comparisons["p_value"][i]),
            ]
        )
    return _markdown(header, rows)


def de_markdown(result, metrics=("f1", "mcc")):
    """The whole DE section as Markdown: set-up line, score table and comparison table.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import de_markdown
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> res = de_agreement(Y, {"m": Y + rng.normal(0, 0.5, Y.shape)}, sample_sizes=(8,),
    ...                    n_repeats=10, min_cluster_size=20, random_state=0)
    >>> de_markdown(res).startswith("### Differential-expression agreement")
    True
    """
    info, clusters = result.info, result.clusters
    sizes = ", ".join(str(s) for s in info["sample_sizes"])
    setup = (
        f"{info['n_repeats']:,} balanced sample sets per size (n = {sizes}) drawn from two "
        f"groups of {clusters.indices_a.size} and {clusters.indices_b.size} measured profiles; "
        f"DE = BH-adjusted moderated-t p < {info['alpha']:g} over {info['n_genes']:,} genes; "
        f"scores against the calls on measured data; {info['seconds']:.1f} s."
    )
    return "\n\n".join(
        [
            "### Differential-expression agreement with measured data",
            setup,
            de_scores_table(result, metrics),
            de_comparison_table(result, metrics),
        ]
    )


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- figures


def _new_figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _grouped_boxes(ax, groups, labels, sizes, whiskers):
    """One box per label within each sample size; whiskers at the given percentiles."""
    import matplotlib as mpl

    colours = mpl.colormaps["tab10"].colors
    n_labels = len(labels)
    width = 0.8 / n_labels
    for j, label in enumerate(labels):
        positions = np.arange(len(sizes)) + (j - (n_labels - 1) / 2) * width
        data = [groups[(size, label)][~np.isnan(groups[(size, label)])] for size in sizes]
        ax.boxplot(
            data,
            positions=positions,
            widths=width * 0.85,
            whis=whiskers,
            showfliers=False,
            patch_artist=True,
            boxprops={"facecolor": colours[j % len(colours)], "alpha": 0.75},
            medianprops={"color": "black"},
            label=label,
        )
    ax.set_xticks(np.arange(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("sample size (half from each group)")
    ax.grid(axis="y", alpha=0.3)
    if n_labels > 1:
        ax.legend(fontsize="small")


def plot_de_scores(result, metric, path, *, whiskers=WHISKERS):
    """Distribution of one score per model and sample size (the study's Figs. 7 and 9).

    The study draws the F1 score in its Fig. 7 and the MCC in its Fig. 9.

    Parameters
    ----------
    result : sklearn_dgex.de.DEAgreementResult
        What :func:`sklearn_dgex.de.de_agreement` returned.
    metric : str
        ``"f1"``, ``"mcc"``, ``"f0.5"``, ``"f2"``, ``"accuracy"``, ...
    path : str or Path
        Where to write the PNG.
    whiskers : (float, float), default=(10, 90)
        Percentiles of the whiskers.

    Returns
    -------
    path : Path
        The PNG written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import plot_de_scores
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> res = de_agreement(Y, {"m": Y + rng.normal(0, 0.5, Y.shape)}, sample_sizes=(8, 12),
    ...                    n_repeats=20, min_cluster_size=20, random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     png = plot_de_scores(res, "f1", pathlib.Path(tmp) / "f1.png")
    ...     png.stat().st_size > 1000
    True
    """
    sizes, models = result.info["sample_sizes"], result.info["models"]
    groups = {(s, m): np.asarray(result.get(metric, m, s), float) for s in sizes for m in models}
    figure = _new_figure(1.2 + 1.1 * len(sizes) * max(1, len(models) / 2), 3.6)
    ax = figure.add_subplot()
    _grouped_boxes(ax, groups, models, sizes, whiskers)
    label = METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(label)
    ax.set_title(
        f"{label} of the DE calls on inferred data against those on measured data"
        f"{_study_figure('scores', metric)}\n"
        f"{result.info['n_repeats']:,} sample sets per size; whiskers at the "
        f"{whiskers[0]:g}th and {whiskers[1]:g}th percentiles",
        fontsize="medium",
    )
    return _save(figure, path)


def plot_de_differences(result, metric, path, *, pairs=None, whiskers=WHISKERS):
    """Distribution of the paired differences of one score between models (Figs. 8 and 10).

    The study draws the differences of the F1 score in its Fig. 8 and of the MCC in its
    Fig. 10.

    Parameters
    ----------
    result : sklearn_dgex.de.DEAgreementResult
        What :func:`sklearn_dgex.de.de_agreement` returned, with two or more models.
    metric : str
        The score, e.g. ``"f1"`` or ``"mcc"``.
    path : str or Path
        Where to write the PNG.
    pairs : list of (str, str), default=None
        The differences ``a - b`` to show; None: every pair in model order.
    whiskers : (float, float), default=(10, 90)
        Percentiles of the whiskers.

    Returns
    -------
    path : Path
        The PNG written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import plot_de_differences
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> preds = {"good": Y + rng.normal(0, 0.1, Y.shape), "bad": Y + rng.normal(0, 1, Y.shape)}
    >>> res = de_agreement(Y, preds, sample_sizes=(8, 12), n_repeats=20, min_cluster_size=20,
    ...                    random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     png = plot_de_differences(res, "mcc", pathlib.Path(tmp) / "mcc_diff.png")
    ...     png.stat().st_size > 1000
    True
    """
    sizes, models = result.info["sample_sizes"], result.info["models"]
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    if not pairs:
        raise ValueError("plot_de_differences needs two or more models in the result.")
    labels = [f"{a} − {b}" for a, b in pairs]
    groups = {
        (s, label): np.asarray(result.get(metric, a, s), float)
        - np.asarray(result.get(metric, b, s), float)
        for s in sizes
        for label, (a, b) in zip(labels, pairs)
    }
    figure = _new_figure(1.2 + 1.1 * len(sizes) * max(1, len(pairs) / 2), 3.6)
    ax = figure.add_subplot()
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    _grouped_boxes(ax, groups, labels, sizes, whiskers)
    label = METRIC_LABELS.get(metric, metric)
    ax.set_ylabel(f"difference of {label}")
    title = f"Paired differences of {label}"
    if len(pairs) == 1:
        title += f": {labels[0]}"
    title += _study_figure("differences", metric)
    ax.set_title(
        f"{title}\n{result.info['n_repeats']:,} sample sets per size; whiskers at the "
        f"{whiskers[0]:g}th and {whiskers[1]:g}th percentiles",
        fontsize="medium",
    )
    return _save(figure, path)


def _save(figure, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


# ---------------------------------------------------------------------------- files


def write_de_report(result, out_dir, *, metrics=("f1", "mcc"), prefix="de"):
    """Write the DE section of a benchmark: Markdown, CSVs and the figures.

    Files, under ``out_dir``: ``{prefix}_table.md`` (what :func:`de_markdown`
    returns), ``{prefix}_scores.csv`` (one row per model x size x repetition),
    ``{prefix}_comparisons.csv`` (the Wilcoxon tests), and per metric
    ``{prefix}_{metric}.png`` (the scores: Figs. 7 and 9 for F1 and MCC) and, with two
    or more models, ``{prefix}_{metric}_differences.png`` (their paired differences:
    Figs. 8 and 10).

    Parameters
    ----------
    result : sklearn_dgex.de.DEAgreementResult
        What :func:`sklearn_dgex.de.de_agreement` returned.
    out_dir : str or Path
        Output folder (created when missing).
    metrics : sequence of str, default=("f1", "mcc")
        The metrics of the tables and figures.
    prefix : str, default="de"
        File-name prefix.

    Returns
    -------
    paths : dict of str to Path
        ``"table"``, ``"scores"``, ``"comparisons"``, and ``"<metric>"`` /
        ``"<metric>_differences"`` for the figures.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_dgex.de import de_agreement
    >>> from benchmarks.de_report import write_de_report
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> preds = {"good": Y + rng.normal(0, 0.1, Y.shape), "bad": Y + rng.normal(0, 1, Y.shape)}
    >>> res = de_agreement(Y, preds, sample_sizes=(8,), n_repeats=20, min_cluster_size=20,
    ...                    random_state=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sorted(write_de_report(res, tmp))
    ['comparisons', 'f1', 'f1_differences', 'mcc', 'mcc_differences', 'scores', 'table']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"table": out_dir / f"{prefix}_table.md"}
    paths["table"].write_text(de_markdown(result, metrics) + "\n")
    paths["scores"] = _write_csv(result.scores, out_dir / f"{prefix}_scores.csv")
    paths["comparisons"] = _write_csv(result.comparisons, out_dir / f"{prefix}_comparisons.csv")
    for metric in metrics:
        paths[metric] = plot_de_scores(result, metric, out_dir / f"{prefix}_{metric}.png")
        if len(result.info["models"]) > 1:
            paths[f"{metric}_differences"] = plot_de_differences(
                result, metric, out_dir / f"{prefix}_{metric}_differences.png"
            )
    return paths


def _write_csv(columns, path):
    keys = list(columns)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(keys)
        writer.writerows(zip(*(columns[key].tolist() for key in keys)))
    return path


def feasible_sample_sizes(n_profiles, sample_sizes=STUDY_SAMPLE_SIZES):
    """The sample sizes that ``n_profiles`` held-out profiles can support.

    Two clusters of at least ``n`` profiles each must exist among them; in
    practice the two chosen clusters hold a fifth or so of the profiles each,
    so sizes up to ``n_profiles / 5`` are kept (at least the smallest).

    Examples
    --------
    >>> from benchmarks.de_report import feasible_sample_sizes
    >>> feasible_sample_sizes(2000), feasible_sample_sizes(300), feasible_sample_sizes(40)
    ((12, 20, 40, 80, 160), (12, 20, 40), (12,))
    """
    kept = tuple(n for n in sample_sizes if n <= n_profiles / 5)
    return kept or (min(sample_sizes),)


def run_de_report(
    Y_true,
    Y_pred,
    out_dir,
    *,
    sample_sizes=None,
    n_repeats=1000,
    metrics=("f1", "mcc"),
    random_state=None,
    verbose=False,
    **de_kwargs,
):
    """Run :func:`sklearn_dgex.de.de_agreement` and write its report: one call for ``--de``.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_genes)
        Measured held-out (test) targets.
    Y_pred : dict of str to array-like of shape (n_samples, n_genes)
        Each model's predictions of the same profiles.
    out_dir : str or Path
        Output folder.
    sample_sizes : sequence of int, default=None
        None: the study's sizes (12-160) that the data can support
        (:func:`feasible_sample_sizes`).
    n_repeats : int, default=1000
        Sample sets per size (the study used 10,000).
    metrics : sequence of str, default=("f1", "mcc")
        Metrics of the tables and figures.
    random_state : int or None, default=None
        Seed.
    verbose : bool, default=False
        Print timing per sample size.
    **de_kwargs
        Passed on to :func:`~sklearn_dgex.de.de_agreement` (``alpha``,
        ``n_cluster_samples``, ``min_cluster_size``, ``groups``, ...).

    Returns
    -------
    report : sklearn.utils.Bunch
        ``result`` (the :class:`~sklearn_dgex.de.DEAgreementResult`),
        ``markdown`` (to print) and ``paths`` (the files written).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from benchmarks.de_report import run_de_report
    >>> rng = np.random.default_rng(0)
    >>> Y = np.repeat(rng.normal(8, 1, (2, 60)), 50, axis=0) + rng.normal(0, 0.5, (100, 60))
    >>> preds = {"good": Y + rng.normal(0, 0.1, Y.shape), "bad": Y + rng.normal(0, 1, Y.shape)}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     report = run_de_report(Y, preds, tmp, n_repeats=20, random_state=0)
    ...     report.result.info["sample_sizes"], len(report.paths)
    ((12, 20), 7)
    """
    Y_true = np.asarray(Y_true)
    if sample_sizes is None:
        n_used = min(de_kwargs.get("n_cluster_samples", 2000), Y_true.shape[0])
        sample_sizes = feasible_sample_sizes(n_used)
        de_kwargs.setdefault("min_cluster_size", max(max(sample_sizes), math.ceil(n_used / 10)))
    result = de_agreement(
        Y_true,
        Y_pred,
        sample_sizes=sample_sizes,
        n_repeats=n_repeats,
        random_state=random_state,
        verbose=verbose,
        **de_kwargs,
    )
    paths = write_de_report(result, out_dir, metrics=metrics)
    return Bunch(result=result, markdown=de_markdown(result, metrics), paths=paths)
