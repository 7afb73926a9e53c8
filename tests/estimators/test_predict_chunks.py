"""predict streams over rows in chunks, with the predictions of one whole pass."""

import numpy as np
import pytest

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor, _base


@pytest.mark.parametrize(
    ("estimator", "one_dimensional"),
    [
        (DGEXRegressor(arch="c", towers=2, width=8, n_target_splits=2, n_ensemble=2), False),
        (FlexibleMLPRegressor(hidden_layer_sizes=(8,)), True),
    ],
)
def test_chunked_predict_equals_one_pass_bit_for_bit(monkeypatch, estimator, one_dimensional):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)).astype(np.float32)
    Y = rng.standard_normal((64, 1 if one_dimensional else 5))
    y = Y.ravel() if one_dimensional else Y
    estimator.set_params(max_epochs=1, device="cpu", random_state=0).fit(X, y)
    X_new = rng.standard_normal((1000, 6))
    monkeypatch.setattr(_base, "PREDICT_CHUNK_ROWS", 10**9)
    whole = estimator.predict(X_new)
    # Chunks that are multiples of the prediction batch (as PREDICT_CHUNK_ROWS is).
    monkeypatch.setattr(_base.glue, "PREDICT_BATCH_SIZE", 32)
    monkeypatch.setattr(_base, "PREDICT_CHUNK_ROWS", 3 * 32)
    chunked = estimator.predict(X_new)
    assert chunked.shape == whole.shape == ((1000,) if one_dimensional else (1000, 5))
    assert chunked.dtype == np.float64
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(chunked, _reference_predict(estimator, X_new))


def _reference_predict(estimator, X):
    """The whole-pass computation that predict did before it streamed, written out."""
    X = _base._standardize(X, estimator.input_mean_, estimator.input_scale_)
    members = getattr(estimator, "ensemble_", [estimator.nets_])
    Y = np.concatenate([net.predict(X) for net in members[0]], axis=1).astype(np.float64)
    for nets in members[1:]:
        Y += np.concatenate([net.predict(X) for net in nets], axis=1)
    Y /= len(members)
    Y *= estimator.target_scale_
    Y += estimator.target_mean_
    return Y.ravel() if estimator._target_is_1d else Y


def test_chunk_is_a_multiple_of_the_prediction_batch():
    assert _base.PREDICT_CHUNK_ROWS % _base.glue.PREDICT_BATCH_SIZE == 0
