"""benchmarks/real_data.py: the defaults against the baselines on a user's file, through run.py."""

import numpy as np
import pandas as pd
import pytest

from sklearn_dgex.datasets import load_l1000_landmarks


@pytest.fixture
def expression_file(tmp_path):
    """40 profiles of 20 L1000 landmarks (by symbol) and 6 other genes, nonlinear in them."""
    rng = np.random.default_rng(0)
    landmarks = list(load_l1000_landmarks()["symbol"][:20])
    X = rng.normal(6.0, 1.0, size=(40, 20))
    Y = np.tanh(X[:, :6] - 6.0) + 0.1 * rng.normal(size=(40, 6))
    columns = [*landmarks, *(f"GENE{i}" for i in range(6))]
    path = tmp_path / "mine.csv"
    pd.DataFrame(np.hstack([X, Y]), columns=columns).to_csv(path)
    return path


def test_run_py_hands_the_real_data_preset_to_its_script(expression_file, tmp_path, capsys):
    from benchmarks import run

    assert run.handed_off_preset(["--preset", "real-data", "--folds", "2"]) == (
        "real-data",
        ["--folds", "2"],
    )
    assert "real-data" in run.list_presets()
    argv = ["--preset", "real-data", "--data", str(expression_file), "--folds", "2"]
    argv += ["--models", "RidgeCV (raw),KNN,FlexibleMLP", "--out", str(tmp_path / "out")]
    argv += ["--set", "hidden_layer_sizes=[8]", "--set", "max_epochs=2"]
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    assert "mine.csv (40 profiles, 20 -> 6)" in printed
    table = printed.split("\n\n")[-1]
    assert "vs min(RidgeCV, KNN)" in table
    rows = {line.split()[1]: line for line in table.splitlines()[2:]}
    assert set(rows) == {"RidgeCV", "KNN", "FlexibleMLP"}
    assert "%)" in rows["FlexibleMLP"] and "%)" not in rows["KNN"]
    assert (tmp_path / "out" / "real_data.json").exists()


def test_networks_are_compared_with_the_better_of_ridge_and_knn():
    from benchmarks.real_data import best_baseline, format_table

    def row(model, mmae):
        return dict(dataset="d", model=model, mmae_mean=mmae, mmae_std=0.0, fit_s=1.0, epochs="")

    rows = [row("RidgeCV (raw)", 0.30), row("KNN", 0.25), row("DGEX", 0.24)]
    rows.append(row("LinearRegression", 0.10))  # not a baseline of the comparison
    assert best_baseline(rows) == (0.25, "KNN")
    dgex = next(line for line in format_table(rows).splitlines() if " DGEX " in line)
    assert dgex.endswith("-0.010000 (-4.00%)")


def test_a_missing_shared_data_set_is_a_clear_error(monkeypatch, tmp_path):
    from benchmarks import real_data

    monkeypatch.setattr(real_data, "SHARED_DATA", tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        real_data.load_dataset("pbmc")
    with pytest.raises(ValueError, match="unknown dataset"):
        real_data.load_dataset("nope")


def test_median_knn_predicts_the_neighbours_median_and_tunes_k():
    from sklearn.model_selection import GridSearchCV

    from benchmarks.small_data import MODELS, MedianKNNRegressor
    from sklearn_dgex.metrics import mmae_scorer

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 4)), rng.exponential(size=(30, 3))
    model = MedianKNNRegressor(n_neighbors=3).fit(X, Y)
    rows = np.argsort(((X[:2, None, :] - X[None]) ** 2).sum(-1), axis=1)[:, :3]
    np.testing.assert_allclose(model.predict(X[:2]), np.median(Y[rows], axis=1))
    grid = {"n_neighbors": [1, 5]}
    search = GridSearchCV(MedianKNNRegressor(), grid, scoring=mmae_scorer, cv=3).fit(X, Y)
    assert search.best_params_["n_neighbors"] in (1, 5)
    tuned = MODELS["KNN (median)"]().fit(X, Y)
    assert tuned.model_.best_params_["n_neighbors"] <= 20
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(k=2)
