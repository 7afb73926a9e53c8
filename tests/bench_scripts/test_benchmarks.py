"""benchmarks/run.py: the smoke preset end to end, the user's own data, Ctrl-C, the presets."""

import contextlib
import csv
import json
import math
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import run as bench_run  # noqa: E402
from benchmarks._models import _EpochLineReader, select_knn_k  # noqa: E402
from benchmarks.presets import PRESETS, STUDY_TOWERS  # noqa: E402

# One xdist worker runs the module: the smoke run is shared by its tests.
pytestmark = pytest.mark.xdist_group("benchmarks")

FIGURES = (
    "best_error.png",
    "convergence.png",
    "epochs_to_threshold.png",
    "speed_vs_parameters.png",
    "towers.png",
    "wilcoxon.png",
    "beats_linear.png",
    # The flexible-MLP study's Fig. 3; the D-GEX study's Figs. 2, 3, 5 and 6.
    "training_efficiency.png",
    "tower_widths.png",
    "tower_neurons.png",
    "wilcoxon_towers.png",
    "wilcoxon_architectures.png",
)
FILES = (
    "results.json",
    "results.csv",
    "results.md",
    "histories.json",
    "histories.csv",
    "per_sample_mae.csv",
    "wilcoxon.csv",
    "wilcoxon_pvalues.csv",
)
FINITE_FIELDS = (
    "mmae",
    "mmae_ci_low",
    "mmae_ci_high",
    "rmse",
    "val_mmae",
    "val_rmse",
    "fit_time_s",
    "predict_time_s",
    "train_samples_per_s",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    status = bench_run.main(["--preset", "smoke", "--out", str(out), "--quiet"])
    payload = json.loads((out / "results.json").read_text())
    return status, out, payload


def _records(payload):
    return {record["model"]: record for record in payload["models"]}


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_smoke_writes_every_file(smoke):
    status, out, _ = smoke
    assert status == 0
    for name in FILES:
        assert (out / name).stat().st_size > 0, name


def test_smoke_has_every_model_with_finite_numbers(smoke):
    _, out, payload = smoke
    expected = [spec.name for spec in PRESETS["smoke"].models]
    records = _records(payload)
    assert list(records) == expected
    assert [row["model"] for row in _read_csv(out / "results.csv")] == expected
    for name, record in records.items():
        for field in FINITE_FIELDS:
            assert math.isfinite(record[field]), (name, field)
        assert record["mmae_ci_low"] <= record["mmae"] <= record["mmae_ci_high"], name
        # RMSE >= MAE over the same entries (power-mean inequality).
        assert record["rmse"] >= record["mmae"] > 0, name
    for spec in PRESETS["smoke"].models:
        record = records[spec.name]
        if spec.is_network:
            assert record["epochs"] == PRESETS["smoke"].epochs
            assert 1 <= record["best_epoch"] <= record["epochs"]
            assert record["n_parameters"] > 0 and record["n_neurons"] > 0
        if spec.name != "LinearRegression":
            assert 0.0 <= record["genes_beating_linear"] <= 1.0
    assert records["KNN-GE"]["details"]["k"] in (1, 3, 5)


def test_smoke_numbers_agree_with_the_written_errors(smoke):
    _, out, payload = smoke
    records = _records(payload)
    per_sample = pd.read_csv(out / "per_sample_mae.csv")
    assert list(per_sample.columns) == list(records)
    assert len(per_sample) == payload["meta"]["data"]["n_test"]
    for name, record in records.items():
        # 6 significant digits are written per sample.
        assert per_sample[name].mean() == pytest.approx(record["mmae"], rel=1e-4)
    wilcoxon = pd.read_csv(out / "wilcoxon.csv", index_col=0)
    assert sorted(wilcoxon.index) == sorted(records)
    assert np.array_equal(wilcoxon.to_numpy(), -wilcoxon.to_numpy().T)


def test_smoke_histories_and_epochs_to_threshold(smoke):
    _, out, payload = smoke
    threshold = payload["meta"]["threshold"]["value"]
    linear_val = min(r["val_rmse"] for r in payload["models"] if r["kind"] in ("linear", "ridge"))
    assert threshold == pytest.approx(linear_val)
    rows = _read_csv(out / "histories.csv")
    histories = json.loads((out / "histories.json").read_text())
    for record in payload["models"]:
        if record["kind"] not in ("mlp", "dgex"):
            assert record["model"] not in histories
            continue
        curve = [float(r["valid_rmse"]) for r in rows if r["model"] == record["model"]]
        assert len(curve) == record["epochs"] == len(histories[record["model"]])
        reached = [epoch for epoch, value in enumerate(curve, 1) if value <= threshold]
        assert record["epochs_to_threshold"] == (reached[0] if reached else None)


def test_smoke_figures_are_non_empty_pngs(smoke):
    import matplotlib.image

    _, out, _ = smoke
    for name in FIGURES:
        path = out / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 200, name
        assert image[..., :3].std() > 0.01, f"{name} is blank"


def test_smoke_paired_test_of_the_best_model_against_the_reference(smoke):
    import scipy.stats

    _, out, payload = smoke
    comparison = payload["meta"]["paired_test"]
    records = _records(payload)
    others = {name: r["mmae"] for name, r in records.items() if name != "D-GEX-dense"}
    assert comparison["reference"] == "D-GEX-dense"
    assert comparison["model"] == min(others, key=others.get)
    per_sample = pd.read_csv(out / "per_sample_mae.csv")
    expected = scipy.stats.ttest_rel(per_sample[comparison["model"]], per_sample["D-GEX-dense"])
    # 6 significant digits are written per sample.
    assert comparison["t_statistic"] == pytest.approx(expected.statistic, rel=1e-3)
    assert comparison["mean_difference"] == pytest.approx(
        records[comparison["model"]]["mmae"] - records["D-GEX-dense"]["mmae"], abs=1e-9
    )
    assert f"{comparison['model']} against D-GEX-dense" in (out / "results.md").read_text()


def test_paired_comparison_falls_back_to_the_best_and_to_linear_regression():
    from benchmarks import report
    from benchmarks._results import ModelResult

    rng = np.random.default_rng(0)
    base = rng.gamma(4.0, 0.03, size=200)
    common = dict(
        rmse=0.6,
        mmae_ci_low=0.0,
        mmae_ci_high=1.0,
        val_mmae=0.5,
        val_rmse=0.7,
        fit_time_s=1.0,
        predict_time_s=0.1,
        train_samples_per_s=10.0,
    )
    results = [
        ModelResult(name, kind, mmae=float(np.mean(e)), per_sample_mae=e, **common)
        for name, kind, e in (
            ("LinearRegression", "linear", 1.3 * base),
            ("net-a", "mlp", 0.9 * base + rng.normal(0, 0.01, 200)),
            ("net-b", "mlp", 1.1 * base),
        )
    ]
    chosen = report.paired_comparison(results, model="absent", reference="absent")
    assert (chosen["model"], chosen["reference"]) == ("net-a", "LinearRegression")
    named = report.paired_comparison(results, model="net-b", reference="net-a")
    assert (named["model"], named["reference"]) == ("net-b", "net-a")
    assert named["t_statistic"] > 0 and named["t_pvalue"] < 1e-6
    assert report.paired_comparison(results[1:], reference="absent") is None


def test_smoke_iterations_per_second(smoke):
    _, _, payload = smoke
    n_train = payload["meta"]["data"]["n_train"]
    for record in payload["models"]:
        if record["kind"] in ("mlp", "dgex"):
            details = record["details"]
            assert details["batch_size"] == 32
            # Every epoch is ceil(n_train / batch) steps of the one network.
            steps = math.ceil(n_train / 32)
            expected = record["train_samples_per_s"] * steps / n_train
            assert details["iterations_per_s"] == pytest.approx(expected, rel=1e-9)


def _fake_result(name, kind, errors, **details):
    from benchmarks._results import ModelResult

    return ModelResult(
        name,
        kind,
        mmae=float(np.mean(errors)),
        rmse=1.0,
        mmae_ci_low=0.0,
        mmae_ci_high=1.0,
        val_mmae=0.5,
        val_rmse=0.7,
        fit_time_s=1.0,
        predict_time_s=0.1,
        train_samples_per_s=10.0,
        per_sample_mae=np.asarray(errors),
        details=details,
    )


def test_wilcoxon_figures_by_tower_count_and_by_architecture(monkeypatch):
    from benchmarks import report

    drawn = []
    monkeypatch.setattr(report, "_save", lambda fig, path: drawn.append(fig) or path)
    base = np.random.default_rng(0).gamma(4.0, 0.03, size=300)
    results = [
        _fake_result(
            f"{arch}-{towers}", "dgex", base * (1 + 0.05 * towers), arch=arch, towers=towers
        )
        for arch, counts in (("t", (1, 2, 4)), ("cr", (2, 4)), ("c", (4,)))
        for towers in counts
    ]
    report.plot_wilcoxon_towers(results, "unused.png", alpha=1e-4)
    panels = [ax for ax in drawn[0].axes if ax.get_visible()]
    # Fig. 5: one matrix per architecture run at two or more tower counts.
    assert [ax.get_title() for ax in panels] == ["T-D-GEX", "CR-D-GEX"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["1", "2", "4"]
    # Fewer towers err less here: row 1 is better (+1, black) than column 4.
    assert panels[0].images[0].get_array()[0, 2] == 1
    report.plot_wilcoxon_architectures(results, "unused.png", alpha=1e-4)
    panels = [ax for ax in drawn[1].axes if ax.get_visible()]
    # Fig. 6: one matrix per tower count with two or more architectures.
    assert [ax.get_title() for ax in panels] == ["2 towers", "4 towers"]
    labels = [t.get_text() for t in panels[1].get_xticklabels()]
    assert labels == ["T-D-GEX", "C-D-GEX", "CR-D-GEX"]
    assert report.plot_wilcoxon_architectures(results[:3], "unused.png", alpha=1e-4) is None


def test_towers_figure_shades_the_towers_closest_to_the_outputs(monkeypatch):
    from benchmarks import report

    drawn = []
    monkeypatch.setattr(report, "_save", lambda fig, path: drawn.append(fig) or path)
    errors = np.full(10, 0.2)
    # Table 1's widths: 5 towers of 4,615 neurons are the closest to 4,759 outputs.
    results = [
        _fake_result(f"T-{t}", "dgex", errors, arch="t", towers=t, width=w)
        for t, w in ((1, 10000), (4, 5157), (5, 4615), (6, 4211))
    ]
    assert report.closest_tower_count(results, 4759) == 5
    report.plot_towers(results, "unused.png", n_out=4759)
    (band,) = [p for p in drawn[0].axes[0].patches if "closest" in p.get_label()]
    assert band.get_x() == 4.5 and band.get_width() == 1.0


def test_tower_budget_curve_is_the_solvers():
    from study_tables import TABLE_1

    from benchmarks import report
    from sklearn_dgex.nn.budget import dense_budget

    curve = report.tower_budget_curve(942, 4759, dense_budget(942, 4759, 10000))
    assert [towers for towers, _, _ in curve] == list(range(1, 13))
    # The solver gives Table 1's widths for one and two towers (and a few more neurons
    # for more towers, see solve_width).
    for towers, width, neurons in curve[:2]:
        assert (width, neurons) == TABLE_1[towers][:2]
    widths = [width for _, width, _ in curve]
    assert widths == sorted(set(widths), reverse=True)
    # Tower counts whose towers no longer fit are left out.
    small = report.tower_budget_curve(24, 40, dense_budget(24, 40, 4), max_towers=12)
    assert 1 <= len(small) < 12


def test_threshold_rmse_option_fixes_the_threshold(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--preset", "smoke", "--models", "RidgeCV,MLP-AdamW", "--threshold-rmse", "50"]
    assert bench_run.main([*argv, "--out", str(out), "--quiet"]) == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["meta"]["threshold"]["value"] == 50.0
    assert _records(payload)["MLP-AdamW"]["epochs_to_threshold"] == 1
    with pytest.raises(SystemExit):
        bench_run.main(["--preset", "smoke", "--threshold-rmse", "-1"])
    assert "positive number" in capsys.readouterr().err


def test_smoke_markdown_table(smoke, capsys):
    _, out, payload = smoke
    text = (out / "results.md").read_text()
    assert "| Model |" in text and payload["meta"]["command"] in text
    for record in payload["models"]:
        assert f"| {record['model']} |" in text


def _write_user_csv(path, landmarks, n_samples=90, n_targets=15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(8.0, 1.0, size=(n_samples, len(landmarks)))
    weights = rng.normal(size=(len(landmarks), n_targets)) / np.sqrt(len(landmarks))
    Y = 6.0 + np.tanh(X - 8.0) @ weights + 0.1 * rng.normal(size=(n_samples, n_targets))
    # Targets first, so that landmarks are matched by name and not by position.
    targets = [f"GENE{i}" for i in range(n_targets)]
    frame = pd.DataFrame(np.hstack([Y, X]), columns=targets + list(landmarks))
    frame.index = [f"sample{i}" for i in range(n_samples)]
    frame.to_csv(path)


def test_user_data_and_landmark_file(tmp_path):
    from sklearn_dgex.datasets import MissingLandmarksWarning, load_l1000_landmarks

    symbols = list(load_l1000_landmarks()["symbol"][:12])
    _write_user_csv(tmp_path / "expr.csv", symbols)
    # Two landmarks the data lacks: reported, not fatal.
    (tmp_path / "landmarks.txt").write_text("\n".join([*symbols, "NOTAGENE1", "NOTAGENE2"]))
    out = tmp_path / "out"
    models = "LinearRegression,RidgeCV,KNN-GE,MLP-AdamW,CR-D-GEX-2"
    argv = [
        "--preset",
        "smoke",
        "--data",
        str(tmp_path / "expr.csv"),
        "--landmarks",
        str(tmp_path / "landmarks.txt"),
        "--models",
        models,
        "--out",
        str(out),
        "--quiet",
    ]
    with pytest.warns(MissingLandmarksWarning):
        assert bench_run.main(argv) == 0
    payload = json.loads((out / "results.json").read_text())
    data = payload["meta"]["data"]
    assert (data["n_landmarks"], data["n_targets"]) == (12, 15)
    assert data["n_train"] + data["n_val"] + data["n_test"] == 90
    assert data["landmark_match"]["missing"] == ["NOTAGENE1", "NOTAGENE2"]
    assert [r["model"] for r in payload["models"]] == models.split(",")
    assert all(math.isfinite(r["mmae"]) for r in payload["models"])
    assert (out / "wilcoxon.png").read_bytes()[:8] == PNG_SIGNATURE


def test_user_npz_with_probe_level_gene_column(tmp_path):
    from sklearn_dgex.datasets import MissingLandmarksWarning, load_l1000_landmarks

    rng = np.random.default_rng(1)
    symbols = list(load_l1000_landmarks()["symbol"][:6])
    # Probe-level file: two probes per landmark gene, averaged by split_landmarks.
    probe_symbols = [*symbols, *symbols, "T1", "T2", "T3"]
    np.savez(
        tmp_path / "probes.npz",
        X=rng.normal(7.0, 1.0, size=(40, len(probe_symbols))).astype(np.float32),
        genes=np.array([f"probe{i}_at" for i in range(len(probe_symbols))]),
        symbols=np.array(probe_symbols),
    )
    out = tmp_path / "out"
    argv = [
        "--preset",
        "smoke",
        "--data",
        str(tmp_path / "probes.npz"),
        "--gene-column",
        "symbols",
        "--models",
        "LinearRegression,RidgeCV",
        "--out",
        str(out),
        "--quiet",
    ]
    with pytest.warns(MissingLandmarksWarning):  # 6 of the 978 L1000 genes
        assert bench_run.main(argv) == 0
    data = json.loads((out / "results.json").read_text())["meta"]["data"]
    assert (data["n_landmarks"], data["n_targets"]) == (6, 3)
    assert data["landmark_match"]["n_collapsed"] == 6


def test_ctrl_c_keeps_the_finished_models(tmp_path, monkeypatch):
    real = bench_run.fit_and_evaluate

    def interrupted_in_mlp(spec, *args, **kwargs):
        if spec.name == "MLP-AdamW":
            # A real SIGINT that the training loop swallows (skorch ends its
            # fit quietly on KeyboardInterrupt): the model must still be dropped.
            with contextlib.suppress(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(bench_run, "fit_and_evaluate", interrupted_in_mlp)
    out = tmp_path / "out"
    argv = [
        "--preset",
        "smoke",
        "--models",
        "LinearRegression,KNN-GE,MLP-AdamW,CR-D-GEX-2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert bench_run.main(argv) == bench_run.EXIT_INTERRUPTED
    payload = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in payload["models"]] == ["LinearRegression", "KNN-GE"]
    assert payload["meta"]["interrupted"] is True
    assert "interrupted" in (out / "results.md").read_text()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_bad_options_get_clear_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_run.main(["--preset", "smoke", "--models", "NoSuchModel", "--quiet"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "NoSuchModel" in error and "RidgeCV" in error
    with pytest.raises(SystemExit):
        bench_run.main(["--preset", "nope"])
    with pytest.raises(SystemExit):
        bench_run.main(["--preset", "smoke", "--landmarks", "x.txt"])
    assert "--landmarks needs --data" in capsys.readouterr().err


def test_model_patterns_select_in_preset_order():
    preset = PRESETS["paper"]
    chosen = bench_run.select_models(preset, "cr-d-gex-1*,T-D-GEX-5,ridgecv")
    assert [spec.name for spec in chosen] == [
        "RidgeCV",
        "T-D-GEX-5",
        "CR-D-GEX-1",
        "CR-D-GEX-10",
        "CR-D-GEX-12",
    ]


def test_list_prints_every_preset(capsys):
    assert bench_run.main(["--list"]) == 0
    text = capsys.readouterr().out
    for name in PRESETS:
        assert f"{name}:" in text


def test_knn_selection_equals_scikit_learn_per_k(rng):
    from sklearn.neighbors import KNeighborsRegressor

    X = rng.normal(size=(80, 5))
    Y = np.sin(X[:, :3]) + 0.1 * rng.normal(size=(80, 3))
    best, scores = select_knn_k(X[:60], Y[:60], X[60:], Y[60:], k_grid=(1, 2, 5, 9, 500))
    assert sorted(scores) == [1, 2, 5, 9]  # k larger than the training set is dropped
    for k, score in scores.items():
        predicted = KNeighborsRegressor(n_neighbors=k).fit(X[:60], Y[:60]).predict(X[60:])
        assert score == pytest.approx(np.abs(predicted - Y[60:]).mean(), rel=1e-12)
    assert scores[best] == min(scores.values())


def test_epoch_bar_follows_the_estimators_verbose_lines():
    class Bar:
        n = 0
        postfix = None

        def update(self, k):
            self.n += k

        def set_postfix_str(self, text, refresh=True):
            self.postfix = text

    bar = Bar()
    reader = _EpochLineReader(bar)
    reader.write("epoch    1/3  train_loss 1.0  valid_rmse 0.50000  lr 1e-3\nepoch    2/3")
    assert bar.n == 1 and bar.postfix == "val RMSE 0.50000"
    reader.write("  train_loss 0.9\nnet 2/2  epoch    1/3  valid_rmse 0.4\nnoise\n")
    assert bar.n == 3 and bar.postfix == "val RMSE 0.4"


class _FakeData:
    n_landmarks = 942
    n_targets = 9518


def _estimator_for(spec, preset):
    from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor

    params = bench_run.network_params(spec, preset, _FakeData(), epochs=None, device="cpu", seed=0)
    cls = DGEXRegressor if spec.kind == "dgex" else FlexibleMLPRegressor
    estimator = cls(**params)
    estimator._validate_params()  # every preset parameter is a valid estimator parameter
    return estimator


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_valid_estimators(name):
    preset = PRESETS[name]
    for candidate in (preset, bench_run.scaled_preset(preset, "cuda")):
        for spec in candidate.models:
            if spec.is_network:
                estimator = _estimator_for(spec, candidate)
                # The protocol: the studies' networks; the full epoch budget, except
                # that the MLP study trains until convergence (best weights restored).
                assert estimator.early_stopping is (name == "mlp-study")
                assert estimator.linear_shortcut is False
                assert estimator.max_epochs == candidate.epochs


def test_paper_preset_is_the_dgex_study():
    preset = PRESETS["paper"]
    data = preset.data
    assert (data.n_samples, data.n_landmarks, data.n_targets) == (126_102, 942, 9518)
    assert preset.epochs == 600
    networks = [spec for spec in preset.models if "towers" in spec.params]
    grid = {(spec.params["arch"], spec.params["towers"]) for spec in networks}
    assert grid == {(a, t) for a in ("t", "c", "tr", "cr") for t in STUDY_TOWERS}
    # The reference networks of the study's Table 2: D-GEX with TAAFs and the original D-GEX.
    taaf = _estimator_for(next(s for s in preset.models if s.name == "D-GEX-TAAFo-3x9000"), preset)
    assert (taaf.arch, taaf.width, taaf.n_hidden_layers) == ("dense", 9000, 3)
    assert (taaf.activation, taaf.output_activation) == ("taaf_sigmoid", "taaf_sigmoid")
    tanh = _estimator_for(next(s for s in preset.models if s.name == "D-GEX-tanh-1x9000"), preset)
    assert (tanh.arch, tanh.width, tanh.n_hidden_layers) == ("dense", 9000, 1)
    assert (tanh.activation, tanh.output_activation) == ("tanh", "identity")
    for estimator in (taaf, tanh):
        assert estimator.n_target_splits == 2 and estimator.max_epochs == 600
    assert preset.paired_test == ("CR-D-GEX-5", "D-GEX-TAAFo-3x9000")
    for spec in networks:
        estimator = _estimator_for(spec, preset)
        assert estimator.param_budget == "study"
        assert estimator.n_target_splits == 2
        assert (estimator.optimizer, estimator.lr, estimator.lr_schedule) == ("nadam", 5e-4, "dgex")
        assert estimator.max_epochs == 600 and estimator.dropout == 0.25
        # The study's TAAF neurons, output layer included (its TAAFo).
        assert (estimator.activation, estimator.output_activation) == ("taaf_sigmoid",) * 2
    assert round(preset.val_size * 126_102) == 18_895
    assert round(preset.test_size * 126_102) == 18_951


def test_mlp_study_preset_has_the_six_configurations():
    models = {spec.name: spec for spec in PRESETS["mlp-study"].models if spec.is_network}
    assert len(models) == 6
    baseline = _estimator_for(models["MLP-baseline"], PRESETS["mlp-study"])
    assert baseline.hidden_layer_sizes == (256, 256, 256, 256)
    assert (baseline.activation, baseline.output_activation) == ("leaky_relu(0.1)", "elu(0.01)")
    assert (baseline.optimizer, baseline.lr, baseline.batch_size) == ("adam", 1e-4, 27)
    # Targets in [0, 1], where the ELU(0.01) output can reach all of them.
    assert baseline.target_scaling == "minmax"
    adamw = _estimator_for(models["MLP-AdamW"], PRESETS["mlp-study"])
    assert adamw.hidden_layer_sizes == (256, 128)
    assert (adamw.optimizer, adamw.lr, adamw.weight_decay) == ("adamw", 1e-3, 0.01)
    # "Standard configuration for other parameters": Adam 1e-3, no weight decay.
    for name in ("MLP-wider", "MLP-dropout", "MLP-deeper", "MLP-batchnorm"):
        other = _estimator_for(models[name], PRESETS["mlp-study"])
        assert (other.optimizer, other.lr, other.weight_decay) == ("adam", 1e-3, 0.0), name
    sizes = {name: tuple(spec.params["hidden_layer_sizes"]) for name, spec in models.items()}
    assert sizes["MLP-wider"] == (512, 512) and sizes["MLP-deeper"] == (256, 128, 64)
    assert models["MLP-dropout"].params["dropout"] == 0.2
    assert models["MLP-batchnorm"].params["batch_norm"] is True


def test_default_and_towers_compare_architectures_at_one_budget():
    for name in ("default", "towers"):
        preset = PRESETS[name]
        budgets = {
            _estimator_for(spec, preset).param_budget
            for spec in preset.models
            if spec.kind == "dgex"
        }
        assert len(budgets) == 1, name


def test_convergence_figure_draws_one_curve_per_network(monkeypatch):
    from benchmarks import report
    from benchmarks._results import ModelResult

    drawn = []
    monkeypatch.setattr(report, "_save", lambda fig, path: drawn.append(fig) or path)
    history = [{"epoch": e, "valid_rmse": 1.0 / e} for e in (1, 2, 3)]
    common = dict(
        mmae=0.5,
        rmse=0.6,
        mmae_ci_low=0.4,
        mmae_ci_high=0.6,
        val_mmae=0.5,
        val_rmse=0.7,
        fit_time_s=1.0,
        predict_time_s=0.1,
        train_samples_per_s=10.0,
    )
    results = [
        ModelResult("net-a", "mlp", history=history, epochs=3, **common),
        ModelResult("net-b", "dgex", history=history[:2], epochs=2, **common),
        ModelResult("RidgeCV", "ridge", **common),
    ]
    report.plot_convergence(results, "unused.png", threshold=0.5)
    lines = {line.get_label(): line for line in drawn[0].axes[0].lines}
    assert list(lines["net-a"].get_xdata()) == [1, 2, 3]
    assert list(lines["net-b"].get_ydata()) == [1.0, 0.5]
    assert {"RidgeCV", "threshold"} <= set(lines)
