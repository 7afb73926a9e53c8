"""Labelled outputs: target names remembered at fit, predictions as DataFrames, h5ad writer."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor, load
from sklearn_dgex.datasets import (
    make_expression,
    read_expression,
    read_h5ad,
    write_expression,
    write_h5ad,
)

FAST = dict(max_epochs=1, batch_size=16, device="cpu", random_state=0, linear_shortcut=False)


@pytest.fixture(scope="module")
def frames():
    X, Y = make_expression(n_samples=30, n_landmarks=6, n_targets=4, random_state=0, as_frame=True)
    X.index = Y.index = [f"sample{i}" for i in range(len(X))]
    return X, Y


@pytest.fixture(scope="module")
def fitted(frames):
    return FlexibleMLPRegressor(hidden_layer_sizes=(8,), **FAST).fit(*frames)


def test_target_names_come_from_the_columns_of_y(fitted, frames):
    X, Y = frames
    assert fitted.target_names_in_.tolist() == list(Y.columns)
    assert fitted.target_names_in_.dtype == object
    assert fitted.feature_names_in_.tolist() == list(X.columns)


@pytest.mark.parametrize(
    "make_y", [lambda Y: Y.to_numpy(), lambda Y: Y.set_axis(range(Y.shape[1]), axis=1)]
)
def test_no_target_names_without_string_columns(frames, make_y):
    X, Y = frames
    model = FlexibleMLPRegressor(hidden_layer_sizes=(8,), **FAST).fit(X, Y)
    assert hasattr(model, "target_names_in_")
    model.fit(X, make_y(Y))  # a refit forgets the names of the previous targets
    assert not hasattr(model, "target_names_in_")
    assert list(model.predict_frame(X).columns) == list(range(Y.shape[1]))


def test_predict_frame_labels_the_values_of_predict(fitted, frames):
    X, Y = frames
    rows = X.iloc[[3, 0, 7]]
    frame = fitted.predict_frame(rows)
    assert list(frame.index) == ["sample3", "sample0", "sample7"]
    assert list(frame.columns) == list(Y.columns)
    np.testing.assert_array_equal(frame.to_numpy(), fitted.predict(rows))
    # An array has no sample ids: the rows are numbered.
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        assert list(fitted.predict_frame(rows.to_numpy()).index) == [0, 1, 2]


def test_warm_start_refuses_other_targets(frames):
    X, Y = frames
    model = DGEXRegressor(towers=2, width=4, warm_start=True, **FAST).fit(X, Y)
    model.fit(X, Y)  # the same targets continue
    renamed = Y.set_axis([f"other{i}" for i in range(Y.shape[1])], axis=1)
    with pytest.raises(ValueError, match="y's columns differ from the target names"):
        model.fit(X, renamed)
    assert model.target_names_in_.tolist() == list(Y.columns)


def test_saved_model_keeps_feature_and_target_names(fitted, frames, tmp_path):
    X, _ = frames
    loaded = load(fitted.save(tmp_path / "model.dgex"))
    assert loaded.feature_names_in_.tolist() == fitted.feature_names_in_.tolist()
    assert loaded.target_names_in_.tolist() == fitted.target_names_in_.tolist()
    pd.testing.assert_frame_equal(loaded.predict_frame(X), fitted.predict_frame(X))


def test_a_file_saved_without_names_still_loads(fitted, frames, tmp_path):
    X, _ = frames
    path = fitted.save(tmp_path / "model.dgex")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    for name in ("feature_names_in_", "target_names_in_"):
        del config["attributes"][name]
    members["config.json"] = json.dumps(config).encode()
    old = tmp_path / "old.dgex"
    with zipfile.ZipFile(old, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    loaded = load(old)
    assert not hasattr(loaded, "target_names_in_")
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), fitted.predict(X))


def test_write_h5ad_round_trip_with_annotations(frames, tmp_path):
    _, Y = frames
    genes = pd.DataFrame({"symbol": [f"S{i}" for i in range(Y.shape[1])]}, index=Y.columns)
    samples = pd.DataFrame({"plate": ["p1"] * len(Y)}, index=Y.index)
    path = tmp_path / "out.h5ad"
    write_h5ad(Y, path, gene_meta=genes, sample_meta=samples)
    data, meta = read_h5ad(path, return_meta=True)
    pd.testing.assert_frame_equal(data, Y.astype(np.float32))
    assert meta.genes["symbol"].tolist() == genes["symbol"].tolist()
    assert meta.samples["plate"].tolist() == ["p1"] * len(Y)


@pytest.mark.parametrize(
    "name", ["o.gctx", "o.gct", "o.gct.gz", "o.csv", "o.tsv.gz", "o.parquet", "o.h5ad", "o.npz"]
)
def test_write_expression_round_trips_every_format(frames, tmp_path, name):
    _, Y = frames
    write_expression(Y, tmp_path / name)
    pd.testing.assert_frame_equal(read_expression(tmp_path / name), Y.astype(np.float32))


def test_write_expression_leaves_its_input_alone_and_refuses_unknown_formats(frames, tmp_path):
    _, Y = frames
    before = Y.copy()
    write_expression(Y, tmp_path / "o.parquet")
    pd.testing.assert_frame_equal(Y, before)
    with pytest.raises(ValueError, match="cannot infer the format"):
        write_expression(Y, tmp_path / "o.xlsx")
    with pytest.raises(ValueError, match="format='excel' is not a known"):
        write_expression(Y, tmp_path / "o.csv", format="excel")


def test_a_failed_fit_keeps_the_target_names(frames):
    X, Y = frames
    model = FlexibleMLPRegressor(hidden_layer_sizes=(8,), **FAST).fit(X, Y)
    renamed = Y.set_axis([f"other{i}" for i in range(Y.shape[1])], axis=1)
    with pytest.raises(ValueError, match="n_target_splits"):
        model.set_params(n_target_splits=100).fit(X, renamed)
    assert model.target_names_in_.tolist() == list(Y.columns)
