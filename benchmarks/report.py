"""Tables, files and figures of a benchmark run (``benchmarks/run.py`` writes them with this).

Every function takes the list of :class:`ModelResult` of the models that
finished, so that an interrupted run still gets its files. Figures use the
``Agg`` backend: no display is needed.
"""

import csv
import json
import math
from pathlib import Path

import numpy as np

from benchmarks._results import COLUMNS
from sklearn_dgex._files import json_default

# Colours by model kind, so that a figure reads the same across presets.
KIND_COLOURS = {
    "linear": "#7f7f7f",
    "ridge": "#4d4d4d",
    "knn": "#bcbd22",
    "mlp": "#1f77b4",
    "dgex": "#d62728",
}
ARCH_COLOURS = {"t": "#1f77b4", "c": "#ff7f0e", "tr": "#2ca02c", "cr": "#d62728"}
ARCH_LABELS = {"t": "T-D-GEX", "c": "C-D-GEX", "tr": "TR-D-GEX", "cr": "CR-D-GEX"}


# ---------------------------------------------------------------------------- files


def write_results(results, out_dir, meta):
    """results.json (``meta`` + one record per model) and results.csv (one row per model)."""
    out_dir = Path(out_dir)
    records = [result.record() for result in results]
    payload = {"meta": meta, "models": records}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=2, default=json_default))
    with open(out_dir / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        for record in records:
            writer.writerow(
                {**record, "details": json.dumps(record["details"], default=json_default)}
            )
    return [out_dir / "results.json", out_dir / "results.csv"]


def write_histories(results, out_dir):
    """Per-epoch histories of the networks: histories.json (by model) and histories.csv (long)."""
    out_dir = Path(out_dir)
    histories = {result.model: result.history for result in results if result.history}
    (out_dir / "histories.json").write_text(json.dumps(histories, indent=1, default=json_default))
    keys = ["model", *_history_keys(histories)]
    with open(out_dir / "histories.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for model, history in histories.items():
            for row in history:
                writer.writerow({"model": model, **row})
    return [out_dir / "histories.json", out_dir / "histories.csv"]


def write_per_sample_errors(results, out_dir):
    """per_sample_mae.csv: each test sample's MAE under each model (the Wilcoxon tests' input)."""
    path = Path(out_dir) / "per_sample_mae.csv"
    with_errors = [result for result in results if result.per_sample_mae is not None]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([result.model for result in with_errors])
        if with_errors:
            for row in np.column_stack([r.per_sample_mae for r in with_errors]):
                writer.writerow([f"{value:.6g}" for value in row])
    return [path]


def write_wilcoxon(names, matrix, pvalues, out_dir):
    """wilcoxon.csv (+1: row model significantly better than column model) and its p-values."""
    paths = [Path(out_dir) / "wilcoxon.csv", Path(out_dir) / "wilcoxon_pvalues.csv"]
    for path, values, cell in zip(paths, (matrix, pvalues), (str, "{:.3g}".format)):
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row vs column", *names])
            for name, row in zip(names, values):
                writer.writerow([name, *(cell(value) for value in row)])
    return paths


def _history_keys(histories):
    keys = []
    for history in histories.values():
        for row in history:
            keys.extend(key for key in row if key not in keys)
    if "epoch" in keys:
        keys.remove("epoch")
        keys.insert(0, "epoch")
    return keys


# ---------------------------------------------------------------------------- table

TABLE_COLUMNS = (
    ("Model", lambda r: r.model),
    ("Test MMAE [95% CI]", lambda r: f"{r.mmae:.4f} [{r.mmae_ci_low:.4f}, {r.mmae_ci_high:.4f}]"),
    ("Test RMSE", lambda r: f"{r.rmse:.4f}"),
    ("Params", lambda r: _human(r.n_parameters)),
    ("Neurons", lambda r: _human(r.n_neurons)),
    ("Fit (s)", lambda r: f"{r.fit_time_s:.1f}"),
    ("Predict (s)", lambda r: f"{r.predict_time_s:.2f}"),
    ("Train samples/s", lambda r: _human(r.train_samples_per_s)),
    ("Best epoch", lambda r: _or_dash(r.best_epoch, r.epochs)),
    ("Epochs to thr.", lambda r: _epochs_to_threshold_cell(r)),
    ("Genes < LR MAE", lambda r: _percent(r.genes_beating_linear)),
)


def markdown_table(results):
    """The results as a GitHub-flavoured Markdown table, best test MMAE first."""
    header = [name for name, _ in TABLE_COLUMNS]
    rows = [[cell(result) for _, cell in TABLE_COLUMNS] for result in ranked(results)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_markdown(results, meta):
    """results.md: what was run, on what, then the table and the threshold's definition."""
    lines = [
        f"# Benchmark `{meta['preset']}`",
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {meta['machine']}",
        f"- Command: `{meta['command']}`",
        f"- Data: {meta['data']['source']} — {meta['data']['n_landmarks']} landmarks → "
        f"{meta['data']['n_targets']} targets; train/val/test = {meta['data']['n_train']}/"
        f"{meta['data']['n_val']}/{meta['data']['n_test']}",
        f"- Error threshold: validation RMSE {_threshold_text(meta)}",
        f"- Wall time: {meta.get('wall_time_s', float('nan')):.0f} s (data, models and figures)"
        + (" (interrupted: partial results)" if meta.get("interrupted") else "")
        + (f" (stopped by an error: {meta['error']})" if meta.get("error") else ""),
        "",
        markdown_table(results),
        "",
        'Test MMAE with its bootstrap 95% CI over test samples; "Genes < LR MAE" is the share of '
        "target genes whose test MAE is lower than LinearRegression's.",
    ]
    if meta.get("paired_test"):
        lines += ["", paired_comparison_text(meta["paired_test"])]
    return "\n".join(lines) + "\n"


def paired_comparison(results, *, model=None, reference="LinearRegression"):
    """The paired t-test and Wilcoxon test on per-sample MAE of one model against a reference.

    The D-GEX study tested its best network against the D-GEX with TAAFs with
    both tests on the MAEs of individual samples. ``model`` None, or a name
    not among ``results``, is the model of lowest test MMAE other than the
    reference; a ``reference`` not among them is LinearRegression. Returns
    None when fewer than two models, or no reference, are there.
    """
    from sklearn_dgex.stats import paired_ttest, paired_wilcoxon

    by_name = {result.model: result for result in results if result.per_sample_mae is not None}
    if reference not in by_name:
        reference = "LinearRegression"
    if reference not in by_name or len(by_name) < 2:
        return None
    if model not in by_name or model == reference:
        others = [r for r in by_name.values() if r.model != reference]
        model = min(others, key=lambda r: r.mmae).model
    errors, reference_errors = by_name[model].per_sample_mae, by_name[reference].per_sample_mae
    ttest = paired_ttest(errors, reference_errors)
    wilcoxon = paired_wilcoxon(errors, reference_errors)
    return {
        "model": model,
        "reference": reference,
        "mmae": by_name[model].mmae,
        "reference_mmae": by_name[reference].mmae,
        "mean_difference": ttest.mean_difference,
        "t_statistic": ttest.statistic,
        "t_pvalue": ttest.pvalue,
        "wilcoxon_statistic": wilcoxon.statistic,
        "wilcoxon_pvalue": wilcoxon.pvalue,
        "n_samples": ttest.n_samples,
    }


def paired_comparison_text(comparison):
    """One Markdown paragraph of :func:`paired_comparison`'s result."""
    c = comparison
    return (
        f"Paired tests on per-sample test MAE, {c['model']} against {c['reference']} "
        f"({c['n_samples']} samples): MMAE {c['mmae']:.4f} against {c['reference_mmae']:.4f} "
        f"(difference {c['mean_difference']:+.4f}); t-test t = {c['t_statistic']:.3f}, "
        f"p = {c['t_pvalue']:.3g}; Wilcoxon signed-rank p = {c['wilcoxon_pvalue']:.3g}."
    )


def _threshold_text(meta):
    threshold = meta.get("threshold") or {}
    value = threshold.get("value")
    if value is None:
        return "n/a"
    return f"{value:.4f} ({threshold.get('definition', '')})"


def ranked(results):
    """Results sorted by test MMAE (best first)."""
    return sorted(results, key=lambda result: result.mmae)


def _human(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def _or_dash(value, total=None):
    if value is None:
        return "—"
    return f"{value}/{total}" if total else str(value)


def _epochs_to_threshold_cell(result):
    if not result.is_network:
        return "—"
    return "not reached" if result.epochs_to_threshold is None else str(result.epochs_to_threshold)


def _percent(value):
    return "—" if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_convergence(results, path, *, threshold=None, metric="valid_rmse"):
    """Validation RMSE against epochs per network (the flexible-MLP study's Fig. 1).

    The baselines' validation RMSE and the error threshold are drawn as
    horizontal lines.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for result in results:
        points = [(row["epoch"], row[metric]) for row in result.history if row.get(metric)]
        if points:
            ax.plot(*zip(*points), label=result.model, linewidth=1.4)
    for result in results:
        if not result.is_network:
            ax.axhline(
                result.val_rmse,
                linestyle=":",
                linewidth=1.2,
                color=KIND_COLOURS[result.kind],
                label=result.model,
            )
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label="threshold")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation RMSE")
    ax.set_title("Convergence")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_best_error(results, path):
    """Test MMAE (with bootstrap 95% CI) and RMSE per model (the flexible-MLP study's Fig. 2)."""
    plt = _pyplot()
    ordered = ranked(results)[::-1]
    names = [result.model for result in ordered]
    colours = [KIND_COLOURS[result.kind] for result in ordered]
    mmae = np.array([result.mmae for result in ordered])
    ci = np.array([[r.mmae - r.mmae_ci_low, r.mmae_ci_high - r.mmae] for r in ordered]).T
    height = max(3.0, 0.35 * len(names) + 1.2)
    fig, (ax_mmae, ax_rmse) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    ax_mmae.barh(names, mmae, xerr=ci, color=colours, capsize=2)
    ax_mmae.set_xlabel("test MMAE (95% bootstrap CI)")
    ax_rmse.barh(names, [result.rmse for result in ordered], color=colours)
    ax_rmse.set_xlabel("test RMSE")
    for ax, values in ((ax_mmae, mmae), (ax_rmse, [r.rmse for r in ordered])):
        low, high = float(np.min(values)), float(np.max(values))
        ax.set_xlim(max(0.0, low - 0.15 * (high - low + 1e-12) - 0.02 * high), high * 1.05)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Error per model (best at the top)")
    return _save(fig, path)


def plot_speed_vs_parameters(results, path):
    """Training samples/s against parameter count of the networks (the MLP study's Fig. 3)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in results:
        if result.n_parameters:
            ax.scatter(
                result.n_parameters, result.train_samples_per_s, color=KIND_COLOURS[result.kind]
            )
            ax.annotate(
                result.model,
                (result.n_parameters, result.train_samples_per_s),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("training samples / s")
    ax.set_title("Training speed against model size")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_epochs_to_threshold(results, path, *, threshold=None):
    """Epochs until the validation RMSE reaches the threshold (the flexible-MLP study's Fig. 4)."""
    plt = _pyplot()
    networks = [result for result in results if result.is_network]
    fig, ax = plt.subplots(figsize=(7.5, max(3.0, 0.35 * len(networks) + 1.2)))
    for index, result in enumerate(networks):
        reached = result.epochs_to_threshold is not None
        value = result.epochs_to_threshold if reached else (result.epochs or 0)
        ax.barh(
            index,
            value,
            color=KIND_COLOURS[result.kind],
            hatch=None if reached else "//",
            alpha=1.0 if reached else 0.35,
        )
        ax.annotate(
            str(value) if reached else f"not reached in {value}",
            (value, index),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(range(len(networks)), [result.model for result in networks])
    ax.invert_yaxis()
    title = "Epochs to the error threshold"
    if threshold is not None:
        title += f" (validation RMSE ≤ {threshold:.4f})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epochs")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def tower_series(results):
    """``{arch: [(towers, result), ...]}`` for the D-GEX variants with a tower count."""
    series = {}
    for result in results:
        arch = result.details.get("arch")
        if result.kind == "dgex" and arch in ARCH_LABELS:
            series.setdefault(arch, []).append((result.details["towers"], result))
    return {arch: sorted(points, key=lambda point: point[0]) for arch, points in series.items()}


def has_tower_sweep(results):
    """True when some architecture was run at two or more tower counts."""
    return any(len({t for t, _ in points}) > 1 for points in tower_series(results).values())


def closest_tower_count(results, n_out):
    """The tower count of the run whose towers are closest in width to ``n_out`` outputs.

    The shaded band of the D-GEX study's Figs. 2-4; None without tower widths.
    """
    widths = {
        towers: result.details["width"]
        for points in tower_series(results).values()
        for towers, result in points
        if result.details.get("width")
    }
    if not widths:
        return None
    return min(widths, key=lambda towers: abs(widths[towers] - n_out))


def plot_towers(results, path, *, n_out=None):
    """Test MMAE against the number of towers per architecture (the D-GEX study's Fig. 4).

    With ``n_out`` (outputs per network), the tower count whose towers are
    closest in width to it is shaded, as in the study.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    closest = None if n_out is None else closest_tower_count(results, n_out)
    if closest is not None:
        ax.axvspan(
            closest - 0.5,
            closest + 0.5,
            color="#cccccc",
            alpha=0.6,
            linewidth=0,
            label=f"towers closest in width to the {n_out:,} outputs",
        )
    for arch, points in tower_series(results).items():
        towers = [t for t, _ in points]
        mmae = np.array([r.mmae for _, r in points])
        err = np.array([[r.mmae - r.mmae_ci_low, r.mmae_ci_high - r.mmae] for _, r in points]).T
        ax.errorbar(
            towers,
            mmae,
            yerr=err,
            marker="o",
            capsize=2,
            label=ARCH_LABELS[arch],
            color=ARCH_COLOURS[arch],
        )
    for result in results:
        if result.kind == "dgex" and result.details.get("arch") == "dense":
            ax.axhline(result.mmae, color="black", linestyle=":", label=result.model)
    counts = sorted({t for points in tower_series(results).values() for t, _ in points})
    ax.set_xticks(counts)
    ax.set_xlabel("towers")
    ax.set_ylabel("test MMAE")
    ax.set_title("MMAE against the number of towers at one weight budget")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _draw_significance(ax, names, matrix, *, fontsize=7, rotation=90):
    """Black: row significantly better than column; white: worse; grey: neither."""
    from matplotlib.colors import ListedColormap

    image = np.asarray(matrix, dtype=float)
    ax.imshow(image, cmap=ListedColormap(["white", "#b0b0b0", "black"]), vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=rotation, fontsize=fontsize)
    ax.set_yticks(range(len(names)), names, fontsize=fontsize)
    ax.set_xticks(np.arange(-0.5, len(names)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="#808080", linewidth=0.5)
    ax.tick_params(which="minor", length=0)


def plot_wilcoxon(names, matrix, path, *, alpha):
    """Pairwise Wilcoxon matrix over every model of the run.

    Black: the row model is significantly better than the column model; white:
    significantly worse; grey: no significant difference at ``alpha``. The
    study draws the same cells by tower count (:func:`plot_wilcoxon_towers`,
    its Fig. 5) and by architecture (:func:`plot_wilcoxon_architectures`,
    its Fig. 6).
    """
    plt = _pyplot()
    size = max(4.0, 0.38 * len(names) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    _draw_significance(ax, names, matrix)
    ax.set_title(
        f"Wilcoxon signed-rank on per-sample MAE, α = {alpha:g}\n"
        "black: row better than column; white: worse; grey: no significant difference",
        fontsize=9,
    )
    return _save(fig, path)


def plot_beats_linear(results, path):
    """Share of target genes on which each model's test MAE beats LinearRegression's."""
    plt = _pyplot()
    scored = [r for r in ranked(results) if r.genes_beating_linear is not None][::-1]
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.35 * len(scored) + 1.2)))
    shares = [100 * result.genes_beating_linear for result in scored]
    ax.barh([r.model for r in scored], shares, color=[KIND_COLOURS[r.kind] for r in scored])
    for index, share in enumerate(shares):
        ax.annotate(
            f"{share:.1f}%",
            (share, index),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.set_xlim(0, 110)
    ax.axvline(50, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("% of target genes with lower test MAE than LinearRegression")
    ax.set_title("Genes on which each model beats linear regression")
    return _save(fig, path)


def _significance_panels(panels, path, *, alpha, title, axis_label):
    """One significance matrix per panel: ``[(panel title, labels, {label: errors}), ...]``."""
    from sklearn_dgex.stats import pairwise_wilcoxon

    plt = _pyplot()
    n_cols = min(len(panels), 3)
    n_rows = -(-len(panels) // n_cols)
    size = max(2.6, 0.3 * max(len(labels) for _, labels, _ in panels) + 1.6)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(max(size * n_cols, 6.0), size * n_rows + 1.0))
    axes = np.atleast_1d(axes).ravel()
    for ax, (panel_title, labels, errors) in zip(axes, panels):
        outcome = pairwise_wilcoxon(errors, alpha=alpha)
        _draw_significance(ax, labels, outcome.significance, fontsize=8, rotation=0)
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel(f"column: {axis_label}", fontsize=8)
        ax.set_ylabel(f"row: {axis_label}", fontsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{title}\nWilcoxon signed-rank on per-sample MAE, α = {alpha:g}\nblack: row "
        "significantly better than column; white: worse; grey: no significant difference",
        fontsize=9,
    )
    return _save(fig, path)


def plot_wilcoxon_towers(results, path, *, alpha):
    """Pairwise Wilcoxon tests between tower counts, one matrix per architecture.

    The D-GEX study's Fig. 5: a cell in row ``r`` and column ``c`` is black when
    the network with ``r`` towers is significantly better than that with ``c``
    towers, white when worse, grey when neither. Architectures run at fewer
    than two tower counts are left out; returns None when none is left.
    """
    panels = []
    for arch in ARCH_LABELS:
        points = tower_series(results).get(arch, [])
        if len(points) >= 2:
            errors = {str(towers): result.per_sample_mae for towers, result in points}
            panels.append((ARCH_LABELS[arch], list(errors), errors))
    if not panels:
        return None
    return _significance_panels(
        panels, path, alpha=alpha, title="Tower counts compared", axis_label="towers"
    )


def plot_wilcoxon_architectures(results, path, *, alpha):
    """Pairwise Wilcoxon tests between architectures, one matrix per tower count.

    The D-GEX study's Fig. 6: a cell in row ``r`` and column ``c`` is black when
    architecture ``r`` is significantly better than architecture ``c`` at the
    same number of towers. Tower counts with fewer than two architectures are
    left out; returns None when none is left.
    """
    by_towers = {}
    for arch, points in tower_series(results).items():
        for towers, result in points:
            by_towers.setdefault(towers, {})[arch] = result
    panels = []
    for towers in sorted(by_towers):
        archs = [arch for arch in ARCH_LABELS if arch in by_towers[towers]]
        if len(archs) >= 2:
            errors = {ARCH_LABELS[a]: by_towers[towers][a].per_sample_mae for a in archs}
            panels.append((f"{towers} tower{'s' if towers > 1 else ''}", list(errors), errors))
    if not panels:
        return None
    return _significance_panels(
        panels,
        path,
        alpha=alpha,
        title="Architectures compared at a fixed number of towers",
        axis_label="architecture",
    )


def tower_budget_curve(n_in, n_out, param_budget, *, max_towers=12, **activations):
    """Neurons per tower and in all, against the tower count, at one weight budget.

    Widths from :func:`sklearn_dgex.nn.budget.solve_width` (the widest towers
    within ``param_budget`` parameters), neurons from
    :func:`~sklearn_dgex.nn.budget.count_neurons`; nothing is trained. Tower
    counts whose towers no longer fit are left out. Returns
    ``[(towers, width, neurons), ...]``.
    """
    from sklearn_dgex.nn.budget import count_neurons, solve_width

    points = []
    for towers in range(1, max_towers + 1):
        try:
            width = solve_width(
                n_in, n_out, towers=towers, param_budget=param_budget, **activations
            )
        except ValueError:  # the budget is too small for this many towers
            break
        neurons = count_neurons(n_in, n_out, towers=towers, width=width, **activations)
        points.append((towers, width, neurons))
    return points


def plot_tower_budget(curve, n_out, paths, *, used=()):
    """The D-GEX study's Figs. 2 and 3: neurons per tower, and in all, against tower count.

    ``curve`` is :func:`tower_budget_curve`'s result; ``paths`` the two PNGs
    (Fig. 2: neurons per tower; Fig. 3: total neurons); ``used`` the
    ``(towers, width, neurons)`` of the preset's own networks, drawn as
    points (at the study's shape, the widths of its Table 1). As in the study,
    the dashed line is the number of output neurons and the shaded band the
    tower count whose towers are closest in width to it.
    """
    plt = _pyplot()
    towers = [t for t, _, _ in curve]
    closest = min(curve, key=lambda point: abs(point[1] - n_out))[0]
    written = []
    for column, path, label, title in (
        (1, paths[0], "neurons per tower (each hidden layer)", "Neurons per tower"),
        (2, paths[1], "neurons in all (hidden and output)", "Total neurons"),
    ):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        ax.plot(towers, [point[column] for point in curve], marker="o", label="budget solver")
        if used:
            ax.scatter(
                [point[0] for point in used],
                [point[column] for point in used],
                color="#d62728",
                zorder=3,
                label="the preset's networks",
            )
        ax.axhline(n_out, color="black", linestyle="--", linewidth=1, label="output neurons")
        ax.axvspan(closest - 0.5, closest + 0.5, color="#cccccc", alpha=0.6, linewidth=0)
        ax.set_xticks(towers)
        ax.set_xlabel("towers")
        ax.set_ylabel(label)
        ax.set_title(f"{title} against the number of towers at one weight budget", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        written.append(_save(fig, path))
    return written


def iterations_per_second(result):
    """Optimizer steps per second of training of a network (None when unknown)."""
    return result.details.get("iterations_per_s")


def plot_training_efficiency(results, path):
    """Iterations per second and thousands of parameters per network (the MLP study's Fig. 3).

    An iteration is one optimizer step (one batch); the time is that of the
    training steps only, as for the samples/s of the table.
    """
    plt = _pyplot()
    networks = [r for r in results if r.is_network and iterations_per_second(r)][::-1]
    height = max(3.0, 0.35 * len(networks) + 1.2)
    fig, (ax_speed, ax_size) = plt.subplots(1, 2, figsize=(10, height), sharey=True)
    names = [r.model for r in networks]
    colours = [KIND_COLOURS[r.kind] for r in networks]
    ax_speed.barh(names, [iterations_per_second(r) for r in networks], color=colours)
    ax_speed.set_xlabel("training iterations / s")
    ax_size.barh(names, [(r.n_parameters or 0) / 1e3 for r in networks], color=colours)
    ax_size.set_xlabel("parameters (thousands)")
    for ax in (ax_speed, ax_size):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Training efficiency and model complexity")
    return _save(fig, path)


def significance_matrix(results, *, alpha):
    """Models (best MMAE first) and the matrix of the pairwise Wilcoxon signed-rank tests.

    ``matrix[i, j]`` is +1 when model ``i`` has significantly lower per-sample
    MAE than model ``j`` at ``alpha`` (two-sided test, no correction, as in the
    D-GEX study), -1 when significantly higher, else 0.
    """
    from sklearn_dgex.stats import pairwise_wilcoxon

    ordered = ranked(results)
    outcome = pairwise_wilcoxon({r.model: r.per_sample_mae for r in ordered}, alpha=alpha)
    return list(outcome.names), np.asarray(outcome.significance, dtype=int), outcome.pvalues
