"""Persistence: pickle and joblib round trips, and the safe save/load format."""

import hashlib
import json
import pickle
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import tiny_estimators
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

import sklearn_dgex
from sklearn_dgex import FlexibleMLPRegressor, load
from sklearn_dgex.datasets import make_expression
from sklearn_dgex.persistence import FORMAT_NAME, FORMAT_VERSION, save

N_SAMPLES, N_FEATURES, N_TARGETS = 40, 6, 5
tiny_dgex, tiny_mlp = tiny_estimators(max_epochs=2, batch_size=16, linear_shortcut=False)


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return tiny_dgex(validation_fraction=0.25).fit(X, Y)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("saved") / "model.dgex")


# ----------------------------------------------------------------------------
# pickle and joblib
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [tiny_dgex, tiny_mlp])
def test_pickle_and_joblib_round_trips(make, data, tmp_path):
    X, Y = data
    model = make(early_stopping=True).fit(X, Y)
    expected = model.predict(X)
    from_pickle = pickle.loads(pickle.dumps(model))
    joblib.dump(model, tmp_path / "model.joblib")
    from_joblib = joblib.load(tmp_path / "model.joblib")
    for loaded in (from_pickle, from_joblib):
        np.testing.assert_array_equal(loaded.predict(X), expected)
        assert loaded.history_ == model.history_


def test_unpickled_model_continues_training(data):
    X, Y = data
    model = tiny_mlp(warm_start=True).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(model))
    loaded.fit(X, Y)
    assert len(loaded.history_) == 4 and len(model.history_) == 2


# ----------------------------------------------------------------------------
# save / load: round trips
# ----------------------------------------------------------------------------
CONFIGURATIONS = {
    "dgex": lambda: tiny_dgex(),
    "dgex-1d-target": lambda: tiny_dgex(),
    "dgex-splits-ensemble": lambda: tiny_dgex(n_target_splits=2, n_ensemble=2),
    "mlp-batch-norm": lambda: tiny_mlp(batch_norm=True, hidden_layer_sizes=(8, 4)),
    "mlp-linear-shortcut": lambda: tiny_mlp(linear_shortcut=True),
    "mlp-nan-targets": lambda: tiny_mlp(allow_nan_targets=True, validation_fraction=0.25),
    "mlp-frame": lambda: tiny_mlp(early_stopping=True),
}


def _fit(name, X, Y):
    model = CONFIGURATIONS[name]()
    if name == "dgex-1d-target":
        Y = Y[:, 0]
    if name == "mlp-nan-targets":
        Y = Y.astype(np.float64)
        Y[::3, 2] = np.nan
    if name == "mlp-frame":
        X = pd.DataFrame(X, columns=[f"g{i}" for i in range(N_FEATURES)])
    return model.fit(X, Y), X


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_loaded_estimator_predicts_identically(name, data, tmp_path):
    model, X = _fit(name, *data)
    path = model.save(tmp_path / "model.dgex")
    state = torch.random.get_rng_state()
    loaded = load(path)
    assert torch.equal(torch.random.get_rng_state(), state)  # loading draws no random numbers
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for attribute in ("n_features_in_", "n_outputs_", "history_", "best_epoch_", "n_parameters_"):
        assert getattr(loaded, attribute) == getattr(model, attribute), attribute
    for attribute in ("input_mean_", "input_scale_", "target_mean_", "target_scale_"):
        np.testing.assert_array_equal(getattr(loaded, attribute), getattr(model, attribute))
    if hasattr(model, "feature_names_in_"):
        np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
        assert loaded.feature_names_in_.dtype == model.feature_names_in_.dtype
    assert len(loaded.ensemble_) == len(model.ensemble_) and loaded.net_ is loaded.nets_[0]


def test_shortcut_buffers_have_the_layout_a_loaded_model_has(tmp_path):
    # Matmul kernels (and so the last bits of predictions) depend on the memory
    # layout of their operands: a module must hold its tensors as a loaded one does.
    X, Y = make_expression(n_samples=60, n_landmarks=40, n_targets=8, random_state=0)
    model = tiny_mlp(linear_shortcut=True).fit(X, Y)
    loaded = load(model.save(tmp_path / "model.dgex"))
    for original, restored in zip(model.nets_, loaded.nets_, strict=True):
        layouts = {
            k: (v.stride(), v.is_contiguous()) for k, v in original.module_.state_dict().items()
        }
        assert "input_basis" in layouts
        assert layouts == {
            k: (v.stride(), v.is_contiguous()) for k, v in restored.module_.state_dict().items()
        }
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_loaded_estimator_continues_training(data, tmp_path):
    X, Y = data
    model = tiny_dgex(warm_start=True, lr_schedule="dgex").fit(X, Y)
    loaded = load(model.save(tmp_path / "model.dgex"))
    loaded.fit(X, Y)
    assert [row["epoch"] for row in loaded.history_] == [1, 2, 3, 4]


def test_the_file_holds_json_and_safetensors(fitted, saved):
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["config.json", "tensors.safetensors"]
        config = json.loads(archive.read("config.json"))
        payload = archive.read("tensors.safetensors")
    assert config["format"] == FORMAT_NAME and config["format_version"] == FORMAT_VERSION
    assert config["written_by"]["sklearn_dgex"] == sklearn_dgex.__version__
    assert config["estimator"] == "DGEXRegressor"
    assert config["params"]["towers"] == 2 and config["params"]["arch"] == "cr"
    assert config["attributes"]["n_features_in_"] == fitted.n_features_in_
    assert config["tensors_sha256"] == hashlib.sha256(payload).hexdigest()
    assert len(config["nets"]) == 1 and config["nets"][0]["module"] == "DGEXNet"


def test_the_file_names_no_python_module(saved):
    # Private modules may move: a saved model refers to public class names and tags only.
    with zipfile.ZipFile(saved) as archive:
        text = archive.read("config.json").decode()
    assert "sklearn_dgex." not in text and "torch." not in text
    config = json.loads(text)
    assert config["attributes"]["_settings"]["__record__"] == "fit_settings.v1"


def test_save_function_and_method_agree(fitted, data, tmp_path):
    X, _ = data
    path = save(fitted, str(tmp_path / "function.dgex"))
    np.testing.assert_array_equal(load(path, device="cpu").predict(X), fitted.predict(X))


def test_model_saved_for_a_gpu_loads_on_the_cpu(data, tmp_path):
    X, Y = data
    model = tiny_mlp().fit(X, Y)
    model.set_params(device="cuda")  # as if trained on a GPU
    path = model.save(tmp_path / "model.dgex")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.warns(UserWarning, match="device='cuda', which this machine does not have"):
        loaded = load(path)
    assert torch.device(loaded.net_.device).type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_save_refuses_what_it_cannot_store(data, tmp_path):
    with pytest.raises(NotFittedError):
        tiny_mlp().save(tmp_path / "x.dgex")
    with pytest.raises(TypeError, match=r"save\(\) stores .*got a Ridge"):
        save(Ridge().fit(*data), tmp_path / "x.dgex")

    class MyRegressor(FlexibleMLPRegressor):  # a user's subclass: load() could not rebuild it
        pass

    with pytest.raises(TypeError, match=r"save\(\) stores .*got a MyRegressor"):
        save(MyRegressor(**tiny_mlp().get_params()).fit(*data), tmp_path / "x.dgex")
    model = tiny_mlp().fit(*data)
    model.custom_ = object()
    with pytest.raises(TypeError, match="cannot save custom_ \\(of type object\\)"):
        model.save(tmp_path / "x.dgex")
    assert not (tmp_path / "x.dgex").exists()


# ----------------------------------------------------------------------------
# save / load: tampered, mismatched and malicious files
# ----------------------------------------------------------------------------
def _rewrite(path, target, config=None, payload=None, fix_hash=True):
    with zipfile.ZipFile(path) as archive:
        old_config = json.loads(archive.read("config.json"))
        old_payload = archive.read("tensors.safetensors")
    config = old_config if config is None else config(old_config)
    payload = old_payload if payload is None else payload
    if fix_hash:
        config["tensors_sha256"] = hashlib.sha256(payload).hexdigest()
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("tensors.safetensors", payload)
    return target


class _Marker:
    """Unpickling this creates a file: proof that code from a file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_pickle_payload_is_refused_without_running_it(saved, tmp_path):
    marker = tmp_path / "marker"
    evil = pickle.dumps(_Marker(marker))
    path = _rewrite(saved, tmp_path / "evil.dgex", payload=evil)  # with a matching SHA-256
    with pytest.raises(ValueError, match="tensor payload is not a valid safetensors file"):
        load(path)
    assert not marker.exists()
    pickle.loads(evil)  # the payload is live: unpickling it runs code
    assert marker.exists()


@pytest.mark.parametrize("container", ["pickle", "torch.save", "joblib"])
def test_a_pickle_in_place_of_the_model_file_is_refused(container, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "model.dgex"
    if container == "pickle":
        path.write_bytes(pickle.dumps(_Marker(marker)))
    elif container == "torch.save":
        torch.save({"model": _Marker(marker)}, path)  # a zip holding data.pkl
    else:
        joblib.dump(_Marker(marker), path)
    with pytest.raises(ValueError, match="is not a sklearn-dgex model file"):
        load(path)
    assert not marker.exists()


def test_modified_tensors_are_refused(saved, tmp_path):
    with zipfile.ZipFile(saved) as archive:
        payload = bytearray(archive.read("tensors.safetensors"))
    payload[-1] ^= 0xFF
    path = _rewrite(saved, tmp_path / "flipped.dgex", payload=bytes(payload), fix_hash=False)
    with pytest.raises(ValueError, match=r"SHA-256 .* differs .* corrupt or was modified"):
        load(path)


def _set(key, value):
    def edit(config):
        config[key] = value
        return config

    return edit


def _set_param(name, value):
    def edit(config):
        config["params"][name] = value
        return config

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            _set("format_version", 99),
            rf"format version 99.*reads format version {FORMAT_VERSION}.*Upgrade",
        ),
        (_set("format_version", "1"), r"invalid format version '1'"),
        (_set("format", "something-else"), r"not a sklearn-dgex model file \(format name\)"),
        (_set("estimator", "os.system"), r"class 'os.system' is not one of"),
        (_set_param("width", 9), r"network 0's module arguments do not match the parameters"),
        (_set_param("arch", "t"), r"module arguments do not match"),
        (_set_param("bogus", 1), r"parameters \['bogus'\] are unknown"),
        (_set_param("towers", -1), r"'towers' parameter of DGEXRegressor must be an int"),
        (_set("nets", []), r"network reference 0 out of range"),
    ],
)
def test_mismatched_or_invalid_configuration_is_refused(saved, tmp_path, edit, message):
    path = _rewrite(saved, tmp_path / "edited.dgex", config=edit)
    with pytest.raises(ValueError, match=message):
        load(path)


def _nested(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def _set_attribute(name, value):
    def edit(config):
        config["attributes"][name] = value
        return config

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("unknown_key", 1), r"config has unknown key\(s\) \['unknown_key'\]"),
        (_set("written_by", "me"), r"config\['written_by'\] must be an object"),
        (_set("nets", {"0": 1}), r"config\['nets'\] must be a list"),
        (_set_attribute("input_mean_", "zero"), r"\['input_mean_'\] must be an object"),
        (_set_attribute("n_outputs_", True), r"\['n_outputs_'\] must be an integer"),
        (
            _set_attribute("n_outputs_", 7),
            r"target_mean_ and target_scale_ must hold 7 finite floats",
        ),
        (_set_attribute("evil_", 1), r"unknown key\(s\) \['evil_'\]"),
        (_set_attribute("n_features_in_", 10**9), r"network 0 maps 6 inputs"),
        (_set_param("width", 10**9), r"module arguments do not match the parameters"),
        (_set_attribute("history_", _nested(40)), r"nests deeper than 32 levels"),
        (
            _set_attribute(
                "_settings", {"__record__": "fit_settings.v1", "fields": {"__dict__": {}}}
            ),
            r"'fit_settings.v1' has the fields",
        ),
        (
            _set_attribute("_settings", {"__record__": "sklearn_dgex.x.Y", "fields": {}}),
            r"\['__record__'\] must be one of",
        ),
        (
            _set_attribute("_settings", {"__dataclass__": "sklearn_dgex.x.Y", "fields": {}}),
            r"\['__dataclass__'\] must be one of",
        ),
        (
            # Format version 1 named the settings by import path; version 2 files may not.
            _set_attribute(
                "_settings",
                {"__dataclass__": "sklearn_dgex._small_data.Settings", "fields": {"__dict__": {}}},
            ),
            r"unknown JSON tag\(s\) \['__dataclass__', 'fields'\]",
        ),
    ],
)
def test_crafted_configurations_are_refused_by_the_schema(saved, tmp_path, edit, message):
    path = _rewrite(saved, tmp_path / "edited.dgex", config=edit)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_a_huge_architecture_is_refused_before_it_is_built(saved, tmp_path, monkeypatch):
    # Parameters and module arguments that agree on a network far larger than
    # the file's tensors: refused from the shapes alone.
    def edit(config):
        config["params"]["width"] = 100_000
        for net in config["nets"]:
            net["module_kwargs"]["__dict__"]["width"] = 100_000
        return config

    path = _rewrite(saved, tmp_path / "huge.dgex", config=edit)
    with pytest.raises(ValueError, match=r"has shape .* the architecture needs"):
        load(path)


def test_missing_files_directories_and_broken_zips(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load(tmp_path / "missing.dgex")
    with pytest.raises(ValueError, match="not a sklearn-dgex model file \\(not a file\\)"):
        load(tmp_path)
    data = saved.read_bytes()
    for name, content in [("cut", data[: len(data) // 2]), ("tail", data[:-30])]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="model file"):
            load(tmp_path / name)
    deep = tmp_path / "deep.dgex"
    with zipfile.ZipFile(deep, "w") as archive:
        archive.writestr("config.json", "[" * 100_000 + "]" * 100_000)
        archive.writestr("tensors.safetensors", b"")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        load(deep)
    compressed = tmp_path / "deflated.dgex"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(compressed, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(ValueError, match="is compressed or encrypted"):
        load(compressed)


def test_tensors_of_the_wrong_shape_are_refused(saved, tmp_path):
    import safetensors.torch

    with zipfile.ZipFile(saved) as archive:
        config = json.loads(archive.read("config.json"))
        tensors = safetensors.torch.load(archive.read("tensors.safetensors"))
    name = next(key for key in tensors if key.startswith("nets/0/"))
    tensors[name] = torch.zeros(3, 3)
    config["tensors"][name] = {"dtype": "float32", "shape": [3, 3]}
    payload = safetensors.torch.save(tensors)
    path = _rewrite(saved, tmp_path / "shape.dgex", config=lambda _: config, payload=payload)
    with pytest.raises(ValueError, match=r"has shape \(3, 3\).*the architecture needs"):
        load(path)
    # Listing and payload that disagree are refused too.
    config["tensors"][name] = {"dtype": "float32", "shape": [9]}
    path = _rewrite(saved, tmp_path / "listing.dgex", config=lambda _: config, payload=payload)
    with pytest.raises(ValueError, match="does not have the shape and dtype listed"):
        load(path)


def test_extra_or_missing_members_are_refused(saved, tmp_path):
    path = tmp_path / "extra.dgex"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
        target.writestr("hook.py", "print('hello')")
    with pytest.raises(ValueError, match=r"not exactly \['config.json', 'tensors.safetensors'\]"):
        load(path)


# ----------------------------------------------------------------------------
# Documentation examples
# ----------------------------------------------------------------------------
def test_reliability_page_examples():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "reliability.rst"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    failures, attempted = doctest.testfile(str(page), module_relative=False, optionflags=flags)
    assert attempted > 20 and failures == 0


def test_docstring_examples_of_the_reliability_modules():
    import doctest

    from sklearn_dgex import _base, persistence
    from sklearn_dgex._torch import losses

    for module in (persistence, losses, _base):
        failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert attempted > 0 and failures == 0, module.__name__
