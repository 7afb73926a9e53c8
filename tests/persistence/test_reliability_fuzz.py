"""Fuzzed model files and expression files: only the promised exception types, never a crash.

``load`` and the readers promise ``FileNotFoundError`` for a missing file and
``ValueError`` (naming the file) for anything malformed. These property-based
tests damage valid files at random (byte flips, truncations, edited
configurations and structures) and accept exactly those outcomes: a
``ValueError``, or a result that is still right. The models are fitted once
per module; each test is bounded by ``max_examples``.
"""

import contextlib
import hashlib
import io
import json
import os
import warnings
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_dgex import DGEXRegressor, FlexibleMLPRegressor, load
from sklearn_dgex.datasets import read_gct, read_gctx, read_table, write_gct, write_gctx

N_SAMPLES, N_FEATURES, N_TARGETS = 40, 6, 5
FAST = dict(max_epochs=2, batch_size=16, device="cpu", random_state=0)
# DGEX_FUZZ_EXAMPLES=2000 runs a deeper search than the test suite's.
FUZZ = settings(
    max_examples=int(os.environ.get("DGEX_FUZZ_EXAMPLES", 40)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FEW = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# The test matrix of the round trip: shortcut on and off, ensembles, target
# splits, missing targets, a 1-d target.
MODELS = {
    "mlp": lambda: FlexibleMLPRegressor(hidden_layer_sizes=(8,), linear_shortcut=False, **FAST),
    "mlp-shortcut-ensemble-splits": lambda: FlexibleMLPRegressor(
        hidden_layer_sizes=(8,), linear_shortcut=True, n_ensemble=2, n_target_splits=2, **FAST
    ),
    "mlp-nan-targets-shortcut": lambda: FlexibleMLPRegressor(
        hidden_layer_sizes=(8, 4), linear_shortcut=True, allow_nan_targets=True, **FAST
    ),
    "dgex-splits-ensemble": lambda: DGEXRegressor(
        arch="cr", towers=2, width=8, n_target_splits=2, n_ensemble=2, **FAST
    ),
    "dgex-1d-target": lambda: DGEXRegressor(arch="dense", width=8, linear_shortcut=False, **FAST),
}


def _training_data(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    Y = X @ rng.normal(size=(N_FEATURES, N_TARGETS)) + 0.1 * rng.normal(size=(N_SAMPLES, N_TARGETS))
    if "nan" in name:
        Y[::3, 1] = np.nan
    if "1d" in name:
        Y = Y[:, 0]
    return X, Y


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, make in MODELS.items():
        model = make().fit(*_training_data(name))
        path = model.save(folder / f"{name}.dgex")
        out[name] = (model, path, path.read_bytes())
    return out


def _load_or_value_error(path):
    """Load ``path``; None when it raises ValueError (the only error allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return load(path)
        except ValueError:
            return None


inputs = st.integers(1, 12).flatmap(
    lambda n: st.lists(
        st.floats(-1e3, 1e3, allow_nan=False, width=32),
        min_size=n * N_FEATURES,
        max_size=n * N_FEATURES,
    ).map(lambda values: np.asarray(values, dtype=np.float64).reshape(n, N_FEATURES))
)


# ----------------------------------------------------------------------------
# Round trip
# ----------------------------------------------------------------------------
@FEW
@given(name=st.sampled_from(sorted(MODELS)), X=inputs)
def test_loaded_models_predict_bit_for_bit_like_the_saved_ones(fitted, name, X):
    model, path, _ = fitted[name]
    np.testing.assert_array_equal(load(path).predict(X), model.predict(X))


# ----------------------------------------------------------------------------
# Damaged files
# ----------------------------------------------------------------------------
@FUZZ
@given(
    name=st.sampled_from(sorted(MODELS)),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4),
)
def test_byte_flips_are_value_errors_or_harmless(fitted, tmp_path, name, flips):
    model, _, data = fitted[name]
    damaged = bytearray(data)
    for where, mask in flips:
        damaged[int(where * len(damaged))] ^= mask
    path = tmp_path / "flipped.dgex"
    path.write_bytes(bytes(damaged))
    loaded = _load_or_value_error(path)
    if loaded is not None:  # the flips missed the content (zip metadata): the same model
        X, _ = _training_data(name)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), keep=st.floats(0, 1, exclude_max=True))
def test_truncated_files_are_value_errors(fitted, tmp_path, name, keep):
    _, _, data = fitted[name]
    path = tmp_path / "cut.dgex"
    path.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(ValueError, match=r"cut\.dgex"):
        load(path)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["__net__", "__array__", "__tuple__", "__dict__", "nets/0/inner.weight"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["__net__", "__array__", "__tuple__", "__dict__", "__strings__", "dtype"]
            )
            | st.text(max_size=4),
            children,
            max_size=2,
        )
    ),
    max_leaves=6,
)


def _edit(config, data):
    """Replace, delete or add one value at a random place of the configuration."""
    parent, key = None, None
    node = config
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans(), label="descend"):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, data.draw(st.sampled_from(keys), label="key")
        node = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if parent is None or (action == "add" and not isinstance(node, dict)):
        action = "add" if isinstance(node, dict) else "replace"
    if action == "replace" and parent is not None:
        parent[key] = data.draw(json_values, label="value")
    elif action == "delete" and parent is not None:
        del parent[key]
    elif isinstance(node, dict):
        node[data.draw(st.text(max_size=8), label="new key")] = data.draw(json_values)
    return config


def _rewritten(data_bytes, config):
    with zipfile.ZipFile(io.BytesIO(data_bytes)) as archive:
        payload = archive.read("tensors.safetensors")
    config["tensors_sha256"] = hashlib.sha256(payload).hexdigest()  # reach the deeper checks
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("tensors.safetensors", payload)
    return out.getvalue()


@FUZZ
@given(name=st.sampled_from(sorted(MODELS)), data=st.data())
def test_crafted_configurations_are_value_errors_or_usable_models(fitted, tmp_path, name, data):
    _, _, original = fitted[name]
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        config = json.loads(archive.read("config.json"))
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        config = _edit(config, data)
    path = tmp_path / "crafted.dgex"
    path.write_bytes(_rewritten(original, config))
    loaded = _load_or_value_error(path)
    if loaded is not None:  # whatever loads must predict, with the right shape
        X, Y = _training_data(name)
        assert loaded.predict(X).shape == Y.shape


# ----------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------
FRAME = pd.DataFrame(
    [[1.5, 2.0, -666.0], [3.25, np.nan, 4.0]], index=["s1", "s2"], columns=["g1", "g2", "g3"]
)
GENES = pd.DataFrame({"symbol": ["A", "B", "C"], "n": [1, 2, 3]}, index=FRAME.columns)


def _read_or_value_error(reader, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = reader(path)
        except ValueError:
            return None
    assert isinstance(result, pd.DataFrame)
    return result


def _damage(data, draw):
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3), label="damages")):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "drop line", "repeat line"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)), label="at")
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"\t", b"\n", b",", b"\xff", b"-666", b"x", b"\r"]))
        else:
            lines = bytes(data).split(b"\n")
            index = at % len(lines)
            lines[index : index + 1] = [] if kind == "drop line" else [lines[index]] * 2
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@FUZZ
@given(data=st.data(), gzip_it=st.booleans())
def test_damaged_gct_files_are_value_errors(tmp_path, data, gzip_it):
    import gzip

    path = tmp_path / "x.gct"
    write_gct(FRAME, path, gene_meta=GENES)
    damaged = _damage(path.read_bytes(), data.draw)
    path.write_bytes(gzip.compress(damaged) if gzip_it else damaged)
    _read_or_value_error(read_gct, path)


@FUZZ
@given(data=st.data())
def test_damaged_csv_files_are_value_errors(tmp_path, data):
    path = tmp_path / "x.csv"
    FRAME.to_csv(path)
    path.write_bytes(_damage(path.read_bytes(), data.draw))
    _read_or_value_error(read_table, path)


@FEW
@given(data=st.data())
def test_damaged_gctx_files_are_value_errors(tmp_path, data):
    path = tmp_path / "x.gctx"
    write_gctx(FRAME, path, gene_meta=GENES)
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        content[data.draw(st.integers(0, len(content) - 1))] ^= data.draw(st.integers(1, 255))
    if data.draw(st.booleans(), label="truncate"):
        del content[data.draw(st.integers(0, len(content) - 1)) :]
    path.write_bytes(bytes(content))
    _read_or_value_error(read_gctx, path)


GCTX_NODES = ["/0/DATA/0/matrix", "/0/META/ROW/id", "/0/META/COL/id", "/0/META/ROW/symbol"]
gctx_replacements = st.sampled_from(
    [
        np.zeros(7),
        np.zeros((2, 2)),
        np.zeros((3, 2)),
        np.zeros((2, 3, 1)),
        np.array([b"a", b"b"]),
        np.array([b"a", b"a", b"a"]),
        np.array([b"\xff\xfe", b"b", b"c"]),
        "group",
        np.float64(1.0),
    ]
)


@FUZZ
@given(node=st.sampled_from(GCTX_NODES), replacement=gctx_replacements)
def test_gctx_files_of_the_wrong_structure_are_value_errors(tmp_path, node, replacement):
    path = tmp_path / "x.gctx"
    write_gctx(FRAME, path, gene_meta=GENES)
    with h5py.File(path, "a") as handle:
        del handle[node]
        if isinstance(replacement, str):
            handle.create_group(node)
        else:
            handle[node] = replacement
    for return_meta in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(ValueError):
                read_gctx(path, return_meta=return_meta)
