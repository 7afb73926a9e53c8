"""The sklearn-dgex command line, end to end on small files of every format."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor, load
from sklearn_dgex.cli import build_parser, main
from sklearn_dgex.datasets import make_expression, read_expression, write_expression
from sklearn_dgex.metrics import mmae, rmse

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ["gctx", "gct", "gct.gz", "csv", "tsv", "csv.gz", "parquet", "h5ad", "npz"]
N_LANDMARKS, N_TARGETS = 12, 6
TINY = [
    "--estimator", "mlp", "--hidden-layer-sizes", "8", "--max-epochs", "1",
    "--linear-shortcut", "false", "--n-ensemble", "1", "--random-state", "0",
    "--device", "cpu", "-q",
]  # fmt: skip


@pytest.fixture(scope="module")
def profiles():
    X, Y = make_expression(
        n_samples=50, n_landmarks=N_LANDMARKS, n_targets=N_TARGETS, random_state=0, as_frame=True
    )
    data = X.join(Y)
    data.index = [f"CPC006_A375_6H:BRD-{i:03d}" for i in range(len(data))]
    # Targets first: matching must go by id, not by position.
    return data[[*Y.columns, *X.columns]].astype(np.float32)


@pytest.fixture(scope="module")
def files(profiles, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    train, test = profiles.iloc[:30], profiles.iloc[30:]
    paths = {"train": folder / "train.gctx"}
    write_expression(train, paths["train"])
    for extension in FORMATS:
        paths[extension] = folder / f"test.{extension}"
        write_expression(test, paths[extension])
    return paths


@pytest.fixture(scope="module")
def model_path(files):
    path = files["train"].with_name("model.dgex")
    assert main(["fit", str(files["train"]), "-o", str(path), *TINY]) == 0
    return path


def _run(argv, capsys):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_fit_splits_by_id_and_saves_the_ids(model_path, profiles):
    model = load(model_path)
    assert isinstance(model, FlexibleMLPRegressor)
    assert model.hidden_layer_sizes == 8 and model.max_epochs == 1
    landmarks = list(profiles.columns[N_TARGETS:])
    assert list(model.feature_names_in_) == landmarks
    assert list(model.target_names_in_) == list(profiles.columns[:N_TARGETS])
    assert model.n_samples_fit_ == 30


@pytest.mark.parametrize("extension", FORMATS)
def test_fit_reads_every_format(files, extension, tmp_path, capsys):
    path = tmp_path / "m.dgex"
    status, _, err = _run(["fit", files[extension], "-o", path, *TINY[:-1]], capsys)
    assert status == 0, err
    assert f"{N_LANDMARKS}/978 landmarks matched" in err
    assert load(path).n_samples_fit_ == 20


@pytest.mark.parametrize("extension", FORMATS)
def test_predict_writes_every_format_with_the_input_ids(
    model_path, files, profiles, extension, tmp_path, capsys
):
    out = tmp_path / f"pred.{extension}"
    status, _, err = _run(
        ["predict", model_path, files["csv"], "-o", out, "--chunk-size", 7], capsys
    )
    assert status == 0, err
    assert "predicted 14 samples" in err  # three chunks of at most 7 of the 20
    predicted = read_expression(out)
    test = profiles.iloc[30:]
    assert list(predicted.index) == list(test.index)
    assert list(predicted.columns) == list(profiles.columns[:N_TARGETS])
    expected = load(model_path).predict_frame(test[profiles.columns[N_TARGETS:]])
    np.testing.assert_allclose(predicted.to_numpy(), expected.to_numpy(), rtol=1e-6)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".partial")]


@pytest.mark.parametrize("extension", FORMATS)
def test_predict_reads_every_format_in_chunks(
    model_path, files, profiles, extension, tmp_path, capsys
):
    out = tmp_path / "pred.gctx"
    argv = ["predict", model_path, files[extension], "-o", out, "--chunk-size", 3, "-q"]
    status, _, err = _run(argv, capsys)
    assert status == 0, err
    predicted = read_expression(out)
    test = profiles.iloc[30:]
    expected = load(model_path).predict_frame(test[profiles.columns[N_TARGETS:]])
    assert list(predicted.index) == list(test.index)
    np.testing.assert_allclose(predicted.to_numpy(), expected.to_numpy(), rtol=1e-6)


def test_predict_can_keep_the_landmarks(model_path, files, profiles, tmp_path, capsys):
    out = tmp_path / "full.csv"
    argv = ["predict", model_path, files["gctx"], "-o", out, "--include-landmarks", "-q"]
    assert _run(argv, capsys)[0] == 0
    full = read_expression(out)
    landmarks = list(profiles.columns[N_TARGETS:])
    assert list(full.columns) == landmarks + list(profiles.columns[:N_TARGETS])
    pd.testing.assert_frame_equal(full[landmarks], profiles.iloc[30:][landmarks])


def test_evaluate_scores_the_model_and_the_baselines(model_path, files, profiles, tmp_path, capsys):
    per_gene, per_sample = tmp_path / "genes.csv", tmp_path / "samples.csv"
    argv = [
        "evaluate", model_path, files["parquet"], "--baselines", files["train"],
        "--per-gene", per_gene, "--per-sample", per_sample, "--json", "-q",
    ]  # fmt: skip
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    scores = json.loads(out)
    test = profiles.iloc[30:]
    truth = test[profiles.columns[:N_TARGETS]].to_numpy(dtype=np.float64)
    predicted = load(model_path).predict(test[profiles.columns[N_TARGETS:]])
    assert scores["n_samples"] == 20 and scores["n_targets"] == N_TARGETS
    assert scores["model"]["mmae"] == pytest.approx(mmae(truth, predicted))
    assert scores["model"]["rmse"] == pytest.approx(rmse(truth, predicted))
    assert set(scores) >= {"linear", "knn"}
    genes = pd.read_csv(per_gene, index_col=0)
    samples = pd.read_csv(per_sample, index_col=0)
    assert list(genes.index) == list(profiles.columns[:N_TARGETS])
    assert list(samples.index) == list(test.index)
    assert {"model_mae", "linear_rmse", "knn_mae"} <= set(genes.columns)
    np.testing.assert_allclose(genes["model_mae"], np.abs(truth - predicted).mean(axis=0))


def test_info_describes_the_model(model_path, capsys):
    status, out, _ = _run(["info", model_path, "--json"], capsys)
    assert status == 0
    info = json.loads(out)
    assert info["estimator"] == "FlexibleMLPRegressor"
    assert info["training_data"] == {"n_samples": 30, "n_landmarks": 12, "n_targets": 6}
    assert len(info["landmarks"]) == 12 and len(info["targets"]) == 6
    assert {"sklearn_dgex", "torch", "scikit-learn", "skorch"} <= set(info["versions"])
    assert info["params"]["hidden_layer_sizes"] == 8
    status, text, _ = _run(["info", model_path], capsys)
    assert status == 0 and "trained on 30 samples: 12 landmarks -> 6 targets" in text


def test_every_estimator_parameter_is_an_option():
    options = {
        action.dest.removeprefix("param_")
        for group in build_parser()._subparsers._group_actions[0].choices["fit"]._actions
        for action in [group]
        if action.dest.startswith("param_")
    }
    for cls in (DGEXRegressor, FlexibleMLPRegressor):
        assert set(cls().get_params()) <= options


def test_options_reach_the_dgex_estimator_with_their_types(files, tmp_path, capsys):
    path = tmp_path / "cr.dgex"
    argv = [
        "fit", files["train"], "-o", path, "--arch", "cr", "--towers", "3", "--width", "4",
        "--dropout", "0.1", "--lr-schedule", "none", "--max-epochs", "1", "--n-ensemble", "1",
        "--linear-shortcut", "false", "--device", "cpu", "-q",
    ]  # fmt: skip
    assert _run(argv, capsys)[0] == 0
    model = load(path)
    assert (model.arch, model.towers, model.width, model.dropout) == ("cr", 3, 4, 0.1)
    assert model.lr_schedule is None and model.linear_shortcut is False


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_params_file(files, tmp_path, capsys, suffix):
    params = {"hidden_layer_sizes": [5, 4], "max_epochs": 1, "n_ensemble": 1}
    path = tmp_path / f"params{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(params))
    else:
        yaml = pytest.importorskip("yaml")
        path.write_text(yaml.safe_dump(params))
    model_path = tmp_path / "m.dgex"
    argv = ["fit", files["train"], "-o", model_path, "--estimator", "mlp", "--params", path]
    argv += ["--hidden-layer-sizes", "5, 4"] if suffix == ".json" else []
    # An option overrides the file.
    status, _, err = _run([*argv, "--max-epochs", "2", "--linear-shortcut", "false", "-q"], capsys)
    assert status == 0, err
    model = load(model_path)
    assert model.hidden_layer_sizes == (5, 4) and model.max_epochs == 2


def _write_text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "{missing}", "-o", "{tmp}/m.dgex"], "expression file not found"),
        (["fit", "{not_gctx}", "-o", "{tmp}/m.dgex"], "is not a GCTX file"),
        (["fit", "{train}", "-o", "{tmp}/m.dgex", "--towers", "many"], "--towers: 'many'"),
        (["fit", "{train}", "-o", "{tmp}/m.dgex", "--towers", "0"], "'towers' parameter"),
        (["fit", "{train}", "-o", "{tmp}/m.dgex", "--layer-norm", "true"], "not of DGEXRegressor"),
        (["fit", "{train}", "-o", "{tmp}/m.dgex", "--params", "{bad_json}"], "not valid JSON"),
        (["fit", "{train}", "-o", "{tmp}/m.dgex", "--params", "{unknown}"], "has no parameter"),
        (["fit", "{unrelated}", "-o", "{tmp}/m.dgex"], "none of the 978 landmarks"),
        (["predict", "{tmp}/none.dgex", "{csv}", "-o", "{tmp}/o.csv"], "model file not found"),
        (["predict", "{not_model}", "{csv}", "-o", "{tmp}/o.csv"], "not a sklearn-dgex model"),
        (["predict", "{model}", "{csv}", "-o", "{tmp}/o.xlsx"], "cannot infer the format"),
        (["predict", "{model}", "{partial}", "-o", "{tmp}/o.csv"], "lacks 3 of the 12 landmarks"),
        (["predict", "{model}", "{csv}", "-o", "{tmp}/o.csv", "--chunk-size", "0"], "positive"),
        (["predict", "{model}", "{csv}", "-o", "{tmp}/no/o.csv"], "does not exist"),
        (["fit", "{train}", "-o", "{tmp}/no/m.dgex"], "does not exist"),
        (["predict", "{model}", "{bad_values}", "-o", "{tmp}/o.csv"], "non-numeric value 'abc'"),
        (["predict", "{model}", "{nan_values}", "-o", "{tmp}/o.csv"], "1 landmark value(s) are"),
        (["evaluate", "{model}", "{nan_values}"], "gene 'ACD' of sample 'CPC006_A375_6H:BRD-004'"),
        (["predict", "{model}", "{bad_gct}", "-o", "{tmp}/o.csv"], "is not a GCT file"),
        (["evaluate", "{model}", "{no_targets}"], "none of the 6 target genes"),
        (["evaluate", "{model}", "{csv}", "--baselines", "{partial}"], "lacks 3 of the 12"),
        (["info", "{not_model}"], "not a sklearn-dgex model file"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    argv, message, model_path, files, profiles, tmp_path, capsys
):
    landmarks = list(profiles.columns[N_TARGETS:])
    partial = tmp_path / "partial.csv"
    write_expression(profiles.drop(columns=landmarks[3:6]), partial)
    no_targets = tmp_path / "no_targets.csv"
    write_expression(profiles[landmarks], no_targets)
    unrelated = tmp_path / "unrelated.csv"
    write_expression(
        profiles.set_axis([f"G{i}" for i in range(profiles.shape[1])], axis=1), unrelated
    )
    bad_values = tmp_path / "bad_values.csv"
    write_expression(profiles, bad_values)
    text = bad_values.read_text().splitlines()
    nan_values = tmp_path / "nan_values.csv"
    text[5] = text[5].rsplit(",", 1)[0] + ",NaN"  # the last column is the landmark ACD
    nan_values.write_text("\n".join(text) + "\n")
    text[5] = text[5].rsplit(",", 1)[0] + ",abc"
    bad_values.write_text("\n".join(text) + "\n")
    names = {
        "tmp": tmp_path,
        "bad_values": bad_values,
        "nan_values": nan_values,
        "bad_gct": _write_text(tmp_path / "bad.gct", "#1.4\n1\t1\n"),
        "missing": tmp_path / "absent.gctx",
        "not_gctx": _write_text(tmp_path / "text.gctx", "not hdf5"),
        "not_model": _write_text(tmp_path / "m.dgex", "not a zip"),
        "bad_json": _write_text(tmp_path / "p.json", "{max_epochs: 1"),
        "unknown": _write_text(tmp_path / "u.json", '{"bogus": 1}'),
        "train": files["train"],
        "csv": files["csv"],
        "model": model_path,
        "partial": partial,
        "no_targets": no_targets,
        "unrelated": unrelated,
    }
    status, _, err = _run([part.format(**names) for part in argv], capsys)
    assert status == 2
    assert message in err
    assert "Traceback" not in err and err.count("error:") == 1, err
    assert err.strip().splitlines()[-1].startswith(f"sklearn-dgex {argv[0]}: error: ")
    assert not (tmp_path / "o.csv").exists()


def test_missing_landmarks_are_summarised_not_listed(model_path, profiles, tmp_path, capsys):
    many = FlexibleMLPRegressor(hidden_layer_sizes=(4,), max_epochs=1, n_ensemble=1)
    X, Y = make_expression(n_samples=30, n_landmarks=40, n_targets=3, random_state=0, as_frame=True)
    path = many.fit(X, Y).save(tmp_path / "forty.dgex")
    data = tmp_path / "few.csv"
    write_expression(X.iloc[:, :2].join(Y), data)
    status, _, err = _run(["predict", path, data, "-o", tmp_path / "o.csv"], capsys)
    assert status == 2
    assert "lacks 38 of the 40 landmarks" in err and "(30 more)" in err


def test_python_dash_m_and_the_console_script_entry(model_path):
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_dgex", "info", str(model_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FlexibleMLPRegressor")
    with open(ROOT / "pyproject.toml", "rb") as handle:
        scripts = tomllib.load(handle)["project"]["scripts"]
    module, _, function = scripts["sklearn-dgex"].partition(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), function))


def test_files_with_todays_symbols(model_path, files, profiles, tmp_path, capsys):
    # The landmark list says AARS; today's HGNC symbol is AARS1.
    assert "AARS" in profiles.columns
    today = profiles.rename(columns={"AARS": "AARS1"})
    test_today = tmp_path / "today.gctx"
    write_expression(today.iloc[30:], test_today)
    out = tmp_path / "pred.csv"
    status, _, err = _run(["predict", model_path, test_today, "-o", out], capsys)
    assert status == 0, err
    landmarks = list(profiles.columns[N_TARGETS:])
    expected = load(model_path).predict_frame(profiles.iloc[30:][landmarks])
    np.testing.assert_allclose(read_expression(out).to_numpy(), expected.to_numpy(), rtol=1e-6)
    # Training on today's symbols: the model keeps the listed ids; AARS1 is no target.
    train_today = tmp_path / "train_today.h5ad"
    write_expression(today.iloc[:30], train_today)
    model = tmp_path / "today.dgex"
    status, _, err = _run(["fit", train_today, "-o", model, *TINY[:-1]], capsys)
    assert status == 0, err
    assert "1 through an alias: AARS1" in err
    fitted = load(model)
    assert list(fitted.feature_names_in_) == landmarks
    assert "AARS1" not in fitted.target_names_in_


def test_a_model_of_symbols_reads_a_file_of_entrez_ids(model_path, profiles, tmp_path, capsys):
    from sklearn_dgex.datasets import load_l1000_landmarks

    entrez = dict(zip(*load_l1000_landmarks().astype(str).to_numpy().T))
    by_entrez = profiles.rename(columns=entrez)  # L1000 GCTX files name genes by Entrez id
    assert by_entrez.columns[-1].isdigit()
    data = tmp_path / "entrez.gctx"
    write_expression(by_entrez.iloc[30:], data)
    out = tmp_path / "pred.csv"
    status, _, err = _run(["predict", model_path, data, "-o", out, "-q"], capsys)
    assert status == 0, err
    landmarks = list(profiles.columns[N_TARGETS:])
    expected = load(model_path).predict_frame(profiles.iloc[30:][landmarks])
    np.testing.assert_allclose(read_expression(out).to_numpy(), expected.to_numpy(), rtol=1e-6)
    # The targets keep their own ids, so the file evaluates the model too.
    status, _, err = _run(["evaluate", model_path, data, "-q"], capsys)
    assert status == 0, err
