"""Model files written by earlier versions load and predict as they did when written.

``tests/data`` holds small files of every format version, each written once by
the code of its version (``tools/make_model_fixtures.py``) and committed with
the inputs and predictions of the model that wrote it. A change that breaks
old files fails here.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor, load
from sklearn_dgex.persistence import FORMAT_VERSION

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.glob("*.dgex"))
#: Predictions must agree to the rounding of the float32 networks: another CPU or
#: BLAS may sum in another order and change the last bits, while anything a
#: format change breaks (a weight, a scaling statistic, the wiring of the
#: networks) moves them by orders of magnitude more.
FLOAT32_ULPS = 32


def _expected(path):
    with np.load(path.with_suffix(".npz")) as arrays:  # no pickled objects
        return {name: arrays[name] for name in arrays.files}


def _format_version(path):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["format_version"]


def test_every_format_version_has_files_of_both_estimators():
    versions = {}
    for path in FILES:
        versions.setdefault(_format_version(path), set()).add(path.name.split("_format")[0])
    assert set(versions) == set(range(1, FORMAT_VERSION + 1))
    assert all(names == {"dgex_regressor", "flexible_mlp_regressor"} for names in versions.values())


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_a_committed_model_file_predicts_as_when_it_was_written(path):
    expected = _expected(path)
    model = load(path)
    assert isinstance(model, (DGEXRegressor, FlexibleMLPRegressor))
    kinds = {"dgex_regressor": "DGEXRegressor", "flexible_mlp_regressor": "FlexibleMLPRegressor"}
    assert type(model).__name__ == kinds[path.name.split("_format")[0]]
    X = pd.DataFrame(expected["X"], index=expected["sample_ids"], columns=expected["feature_names"])
    predictions = model.predict(X)
    tolerance = FLOAT32_ULPS * np.finfo(np.float32).eps * np.abs(expected["predictions"]).max()
    np.testing.assert_allclose(predictions, expected["predictions"], rtol=0, atol=tolerance)
    # The ids survive: landmarks and targets by name, and the frame's rows and columns.
    np.testing.assert_array_equal(model.feature_names_in_, expected["feature_names"])
    np.testing.assert_array_equal(model.target_names_in_, expected["target_names"])
    frame = model.predict_frame(X)
    assert list(frame.columns) == list(expected["target_names"])
    assert frame.index.equals(X.index)
    attributes = json.loads(str(expected["attributes"]))
    for name, value in attributes.items():
        loaded = json.dumps(getattr(model, name), default=lambda v: v.item())
        assert json.loads(loaded) == value, name


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_a_committed_model_file_continues_training(path):
    # What a loaded model is for besides predicting: a warm start from its networks.
    expected = _expected(path)
    model = load(path).set_params(warm_start=True, max_epochs=1)
    X = pd.DataFrame(expected["X"], columns=expected["feature_names"])
    Y = pd.DataFrame(expected["predictions"], columns=expected["target_names"])
    model.fit(X, Y)
    assert model.predict(X).shape == Y.shape
