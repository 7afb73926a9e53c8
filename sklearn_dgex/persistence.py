"""Safe persistence of fitted estimators: a JSON configuration plus tensors, no pickle.

:func:`save` writes a fitted :class:`~sklearn_dgex.DGEXRegressor` or
:class:`~sklearn_dgex.FlexibleMLPRegressor` to one zip file with two members:

- ``config.json``: the format name and version, the versions of the packages
  that wrote it, the estimator's class name and parameters, its fitted
  attributes that are not tensors (scaling statistics are tensors; feature
  and target names, ``n_features_in_``, ``history_`` and the like are JSON), a
  description of each network (its module's keyword arguments, history and
  shuffling seed) and the SHA-256 of the tensor payload. It names no
  Python module: networks and their wrappers are named by their public class
  names in :mod:`sklearn_dgex.nn`, records such as the fit's settings by a
  versioned tag (``"fit_settings.v1"``), so that the package's private
  modules may move without breaking saved models;
- ``tensors.safetensors``: every array and network weight, in the
  ``safetensors`` format (raw little-endian numbers behind a JSON header).

:func:`load` never runs code from the file: JSON and ``safetensors`` cannot
hold code, the class named in the file must be one of this package's
estimators, the network classes must be this package's modules, and the
networks are rebuilt by the estimator from its parameters. It refuses, with
a clear error, a file that is not such a zip, a format version it does not
know, a tensor payload whose SHA-256 differs from the configuration's, and
tensors whose names, shapes or dtypes do not match the rebuilt networks.
The SHA-256 detects corruption and mismatched halves of a file; it is not a
signature (someone who edits the file can recompute it), so the guarantee
against malicious files is the format itself: the worst a crafted file can do
is fail to load or describe a wrong model.

Pickle (``pickle``, ``joblib``) also works for the estimators, including a
model trained on a GPU and unpickled on a CPU-only machine, but loading a
pickle runs code from the file: use it only for files you trust.
"""

import dataclasses
import errno
import hashlib
import inspect
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import _registry, _schema
from ._files import json_default, write_atomically
from ._fit.target_blocks import split_sizes
from .nn import LinearShortcut

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

#: Name written into, and required from, every file.
FORMAT_NAME = "sklearn-dgex-estimator"
#: Version of the layout of the file; :func:`load` reads this version and older ones.
#: Version 1 named the fit's settings by their Python import path; version 2 by a tag.
FORMAT_VERSION = 2

_CONFIG = "config.json"
_TENSORS = "tensors.safetensors"
_MAX_CONFIG_BYTES = 256 * 2**20
# Module wrappers that an estimator puts around the network its parameters
# describe, by public class name: (class, attributes passed back to the constructor).
_WRAPPERS = {"LinearShortcut": (LinearShortcut, ("n_in", "n_out", "trainable"))}


def _record_types():
    """Dataclasses a file may hold, by the tag that names them in the file.

    A tag names what a record means, never where its class lives. A new or
    removed field is a new tag (``.v2``), read beside the old one.
    """
    from ._fit.settings import Settings

    return {_schema.SETTINGS_RECORD: Settings}


def _safetensors():
    from ._optional import import_optional

    return import_optional(
        "safetensors.torch", "save() and load()", install="safetensors", extra="persist"
    )


# --------------------------------------------------------------------------
# Encoding: JSON with a few one-key tags; arrays and weights go to the tensors
# --------------------------------------------------------------------------
class _Encoder:
    """Turn fitted attributes into JSON, collecting tensors and nets on the way."""

    def __init__(self):
        self.tensors = {}
        self.nets = []

    def net_index(self, net):
        for index, known in enumerate(self.nets):
            if known is net:
                return index
        self.nets.append(net)
        return len(self.nets) - 1

    def encode(self, value, where):
        from ._torch.net import InMemoryNet

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, InMemoryNet):
            return {"__net__": self.net_index(value)}
        if isinstance(value, list):
            return [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, tuple):
            return {
                "__tuple__": [self.encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
            }
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            tags = {cls: tag for tag, cls in _record_types().items()}
            if type(value) in tags:
                fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                return {"__record__": tags[type(value)], "fields": self.encode(fields, where)}
        raise TypeError(
            f"cannot save {where} (of type {type(value).__name__}) in the safe format; "
            "pickle or joblib can store it, for files you trust."
        )

    def _array(self, array, where):
        if array.dtype.kind in "biuf":
            key = f"attributes/{where}"
            self.tensors[key] = torch.from_numpy(np.ascontiguousarray(array)).clone()
            return {"__array__": key}
        if array.dtype.kind in "OU" and all(isinstance(item, str) for item in array.ravel()):
            return {
                "__strings__": array.tolist(),
                "dtype": "object" if array.dtype.kind == "O" else "str",
            }
        raise TypeError(f"cannot save {where}: an array of dtype {array.dtype} in the safe format.")


class _Decoder:
    def __init__(self, tensors, nets=None, format_version=FORMAT_VERSION):
        self.tensors = tensors
        self.nets = nets
        self.format_version = format_version

    def decode(self, value):
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, list):
            return [self.decode(item) for item in value]
        if not isinstance(value, dict) or len(value) not in (1, 2):
            raise _corrupt(f"unexpected JSON value {str(value)[:80]!r}")
        if set(value) == {"__tuple__"}:
            return tuple(self.decode(item) for item in value["__tuple__"])
        if set(value) == {"__dict__"}:
            return {key: self.decode(item) for key, item in _expect_dict(value["__dict__"]).items()}
        if set(value) == {"__array__"}:
            return self._tensor(value["__array__"]).numpy()
        if set(value) == {"__strings__", "dtype"}:
            return np.asarray(
                value["__strings__"], dtype=object if value["dtype"] == "object" else str
            )
        if set(value) == {"__net__"}:
            if self.nets is None:
                raise _corrupt("a network reference where none is expected")
            return self.nets[_expect_index(value["__net__"], len(self.nets))]
        if set(value) == {"__record__", "fields"}:
            return _record(value["__record__"], self.decode(value["fields"]))
        if set(value) == {"__dataclass__", "fields"} and self.format_version == 1:
            tag = _schema.V1_DATACLASS_TAGS.get(value["__dataclass__"])
            return _record(tag or value["__dataclass__"], self.decode(value["fields"]))
        raise _corrupt(f"unknown JSON tag(s) {sorted(value)}")

    def _tensor(self, key):
        if key not in self.tensors:
            raise _corrupt(f"the tensor {key!r} named by the configuration is missing")
        return self.tensors[key]


def _record(tag, fields):
    """An instance of the dataclass that ``tag`` names (never any other class)."""
    cls = _record_types().get(tag)
    if cls is None:
        raise _corrupt(f"{tag!r} is not a record a model file may hold")
    fields = _expect_dict(fields)
    names = {field.name for field in dataclasses.fields(cls)}
    if set(fields) != names:
        raise _corrupt(f"{tag!r} has the fields {sorted(names)}, not {sorted(fields)[:8]}")
    return cls(**fields)


def _expect_dict(value):
    if not isinstance(value, dict):
        raise _corrupt(f"expected a JSON object, got {type(value).__name__}")
    return value


def _expect_index(value, size):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < size:
        raise _corrupt(f"network reference {value!r} out of range")
    return value


class _CorruptFile(ValueError):
    pass


# What a malformed file may make the decoding or the networks raise where the
# checks above do not reach; the file is then reported as invalid, by name.
_MALFORMED = (_CorruptFile, _schema.SchemaError, TypeError, KeyError, IndexError, RuntimeError)


def _corrupt(message):
    return _CorruptFile(message)


# --------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------
def _jsonable(value):
    return json.loads(json.dumps(_Encoder().encode(value, "module argument")))


def _module_wrappers(net):
    """The wrappers around the module that ``net``'s parameters describe, outermost first."""
    wrappers, module = [], net.module_
    while type(module) is not net.module and _is_wrapper(module):
        _, attributes = _WRAPPERS[type(module).__name__]
        spec = {"class": type(module).__name__}
        spec.update({name: getattr(module, name) for name in attributes})
        wrappers.append(spec)
        module = module.inner
    if type(module) is not net.module:
        raise TypeError(
            f"cannot save a network whose module is a {type(module).__name__} wrapping "
            f"{net.module.__name__}; pickle or joblib can store it, for files you trust."
        )
    return wrappers


def _is_wrapper(module):
    return _WRAPPERS.get(type(module).__name__, (None,))[0] is type(module)


def _net_config(net, encoder, index):
    wrappers = _module_wrappers(net)
    state = net.module_.state_dict()
    prefix = f"nets/{index}/"
    for name, tensor in state.items():
        encoder.tensors[prefix + name] = tensor.detach().to("cpu", copy=True).contiguous()
    return {
        "module": net.module.__name__,
        "module_kwargs": _jsonable(net.get_params_for("module")),
        "wrappers": wrappers,
        "shuffle_seed": net.shuffle_seed,
        "history": json.loads(json.dumps(list(net.history), default=json_default)),
        "tensors": sorted(state),
    }


def _wrap(inner, spec, saved):
    """Rebuild one wrapper around ``inner``.

    Keyword arguments of the wrapper's constructor that are also tensors of its
    own saved state (``weight``, ``bias``, ...) are passed those tensors, so that
    every buffer is created with its saved shape; ``load_state_dict`` then sets
    all values exactly.
    """
    cls, attributes = _WRAPPERS.get(spec.get("class"), (None, None))
    if cls is None or set(spec) != {"class", *attributes}:
        raise _corrupt(f"unknown module wrapper {spec!r}")
    keywords = inspect.signature(cls).parameters
    tensors = {name: saved[name] for name in keywords if name in saved and "." not in name}
    n_in, n_out, trainable = (spec[name] for name in attributes)
    return cls(inner, n_in, n_out, trainable=trainable, **tensors)


def _rebuild_net(estimator, new_net, config, tensors, index, device):
    from skorch.history import History

    from ._torch.net import seeded_torch

    saved_kwargs = config.get("module_kwargs")
    kwargs = _expect_dict(_Decoder({}).decode(saved_kwargs))
    n_in, n_out = kwargs.get("n_in"), kwargs.get("n_out")
    if n_in != estimator.n_features_in_ or n_out not in range(1, estimator.n_outputs_ + 1):
        raise _corrupt(
            f"network {index} maps {n_in!r} inputs to {n_out!r} outputs; the model has "
            f"{estimator.n_features_in_} features and {estimator.n_outputs_} targets"
        )
    net = new_net(
        estimator, kwargs.get("n_in"), kwargs.get("n_out"), config.get("shuffle_seed"), device
    )
    if net.module.__name__ != config.get("module"):
        raise _corrupt(
            f"network {index} is a {config.get('module')!r} in the file, but the parameters "
            f"build a {net.module.__name__!r}"
        )
    if _jsonable(net.get_params_for("module")) != saved_kwargs:
        raise _corrupt(f"network {index}'s module arguments do not match the parameters")
    _check_architecture(net, tensors, f"nets/{index}/" + "inner." * len(config["wrappers"]), index)
    with seeded_torch(0, device):  # loading leaves the global random state alone
        net.initialize()
        module = net.module_
        wrappers = config.get("wrappers", [])
        prefix = f"nets/{index}/"
        saved = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        for depth in reversed(range(len(wrappers))):  # innermost first
            own = "inner." * depth
            state = {k[len(own) :]: v for k, v in saved.items() if k.startswith(own)}
            module = _wrap(module, _expect_dict(wrappers[depth]), state)
        net.module_ = module.to(device)
    net.initialize_optimizer()
    for group in net.optimizer_.param_groups:  # so that a warm start continues the schedule
        group.setdefault("initial_lr", group["lr"])
    _load_weights(net.module_, tensors, f"nets/{index}/", index)
    net.history = History(config.get("history", []))
    return net


def _check_architecture(net, tensors, prefix, index):
    """Compare the saved tensors with the network the parameters build, before building it.

    The network is built on the meta device (no memory), so that parameters
    describing a huge network fail here instead of allocating it: what is
    built afterwards is no larger than the file's tensors.
    """
    with torch.device("meta"):
        probe = net.module(**net.get_params_for("module"))
    expected = {name: tuple(t.shape) for name, t in probe.state_dict().items()}
    saved = {k[len(prefix) :]: tuple(t.shape) for k, t in tensors.items() if k.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - set(saved)), sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise _corrupt(
            f"network {index}'s tensors do not match its architecture "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for name, shape in expected.items():
        if saved[name] != shape:
            raise _corrupt(
                f"network {index}'s tensor {name!r} has shape {saved[name]}; the architecture "
                f"needs {shape}"
            )


def _load_weights(module, tensors, prefix, index):
    expected = module.state_dict()
    state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise _corrupt(
            f"network {index}'s tensors do not match its architecture "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for name, tensor in state.items():
        target = expected[name]
        if tuple(tensor.shape) != tuple(target.shape) or tensor.dtype != target.dtype:
            raise _corrupt(
                f"network {index}'s tensor {name!r} has shape {tuple(tensor.shape)} and dtype "
                f"{tensor.dtype}; the architecture needs {tuple(target.shape)} and {target.dtype}"
            )
    module.load_state_dict(state)


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------
def _json_params(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = value.tolist()  # e.g. hidden_layer_sizes from a grid of arrays
        if isinstance(value, np.generic):
            value = value.item()
        if name == "random_state" and not (value is None or isinstance(value, int)):
            warnings.warn(
                f"random_state={value!r} cannot be saved; the loaded estimator has "
                "random_state=None (its fitted model is unaffected).",
                UserWarning,
                stacklevel=3,
            )
            value = None
        params[name] = _Encoder().encode(value, f"parameter {name}")
    return params


def _versions():
    import sklearn
    import skorch

    from . import __version__

    return {
        "sklearn_dgex": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
    }


def save(estimator, path):
    """Write a fitted estimator to ``path`` in the safe format (JSON and safetensors).

    Parameters
    ----------
    estimator : DGEXRegressor or FlexibleMLPRegressor
        A fitted estimator.
    path : str or path-like
        File to write; an existing file is replaced atomically (a crash
        while writing leaves the old one).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``estimator`` is not one of this package's estimators, or holds
        something the format cannot store (say, a custom module).
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_dgex import DGEXRegressor
    >>> from sklearn_dgex.datasets import make_expression
    >>> from sklearn_dgex.persistence import load, save
    >>> X, Y = make_expression(n_samples=50, n_landmarks=8, n_targets=6, random_state=0)
    >>> model = DGEXRegressor(towers=2, width=8, max_epochs=2, random_state=0).fit(X, Y)
    >>> path = save(model, os.path.join(tempfile.mkdtemp(), "model.dgex"))
    >>> np.array_equal(load(path).predict(X), model.predict(X))
    True
    """
    from sklearn.utils.validation import check_is_fitted

    entry = _registry.entry(type(estimator).__name__)
    if entry is None or entry.cls is not type(estimator):
        raise TypeError(
            f"save() stores sklearn_dgex's estimators ({', '.join(_registry.names())}); got a "
            f"{type(estimator).__name__}. Use pickle or joblib for other objects."
        )
    check_is_fitted(estimator)
    params = estimator.get_params(deep=False)
    encoder = _Encoder()
    attributes = {
        name: encoder.encode(value, name)
        for name, value in vars(estimator).items()
        if name not in params
    }
    nets = [_net_config(net, encoder, i) for i, net in enumerate(encoder.nets)]
    payload = _safetensors().save(encoder.tensors)
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "written_by": _versions(),
        "estimator": type(estimator).__name__,
        "params": _json_params(estimator),
        "attributes": attributes,
        "nets": nets,
        "tensors": {
            key: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape)}
            for key, t in sorted(encoder.tensors.items())
        },
        "tensors_sha256": hashlib.sha256(payload).hexdigest(),
    }
    text = json.dumps(config, indent=1, allow_nan=True).encode()
    return _write_zip(Path(path), text, payload)


def _write_zip(path, config_bytes, payload):
    def write(stream):
        with zipfile.ZipFile(stream, "w") as archive:
            # Stored, not compressed: weights hardly compress and loading stays fast.
            archive.writestr(_CONFIG, config_bytes, compress_type=zipfile.ZIP_STORED)
            archive.writestr(_TENSORS, payload, compress_type=zipfile.ZIP_STORED)

    return write_atomically(path, write)


def _read_zip(path):
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "sklearn-dgex model file not found", os.fspath(path))
    if not path.is_file():
        raise ValueError(f"{os.fspath(path)!r} is not a sklearn-dgex model file (not a file).")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{os.fspath(path)!r} is not a sklearn-dgex model file (not a zip archive). "
            "Files written by pickle or joblib are read with those, and only if you trust them."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_members(path, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable sklearn-dgex model file (a corrupt zip "
            f"archive: {exc})."
        ) from exc


def _read_members(path, archive):
    names = [info.filename for info in archive.infolist()]
    if sorted(names) != sorted([_CONFIG, _TENSORS]):
        raise ValueError(
            f"{os.fspath(path)!r} is not a sklearn-dgex model file: it holds "
            f"{sorted(names)[:5]}, not exactly {[_CONFIG, _TENSORS]}."
        )
    for info in archive.infolist():
        # save() stores its members uncompressed: nothing to inflate, no zip bomb.
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ValueError(
                f"{os.fspath(path)!r} is not a sklearn-dgex model file: its {info.filename} "
                "is compressed or encrypted."
            )
    if archive.getinfo(_CONFIG).file_size > _MAX_CONFIG_BYTES:
        raise ValueError(f"{os.fspath(path)!r}: its {_CONFIG} is implausibly large.")
    return archive.read(_CONFIG), archive.read(_TENSORS)


def _parse_config(path, config_bytes):
    try:
        config = json.loads(config_bytes)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{os.fspath(path)!r}: {_CONFIG} is not valid JSON ({exc}).") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise ValueError(f"{os.fspath(path)!r} is not a sklearn-dgex model file (format name).")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{os.fspath(path)!r} has an invalid format version {version!r}.")
    if version > FORMAT_VERSION:
        written_by = config.get("written_by")
        written_by = written_by.get("sklearn_dgex") if isinstance(written_by, dict) else None
        written_by = written_by if isinstance(written_by, str) else "a newer version"
        raise ValueError(
            f"{os.fspath(path)!r} has format version {version}, written by sklearn-dgex "
            f"{written_by}; this version reads format version {FORMAT_VERSION} and older. "
            "Upgrade sklearn-dgex to load it."
        )
    try:
        _schema.check_config(config)
    except _schema.SchemaError as exc:
        raise ValueError(f"{os.fspath(path)!r} does not describe a valid model: {exc}.") from exc
    return config


def _read_tensors(path, config, payload):
    digest = hashlib.sha256(payload).hexdigest()
    if digest != config.get("tensors_sha256"):
        raise _corrupt(
            f"the tensor payload's SHA-256 ({digest[:12]}...) differs from the one its "
            "configuration records: the file is corrupt or was modified"
        )
    try:
        tensors = _safetensors().load(payload)
    except Exception as exc:  # safetensors raises its own error types
        raise _corrupt(
            f"the tensor payload is not a valid safetensors file ({type(exc).__name__}: {exc})"
        ) from exc
    listed = _expect_dict(config.get("tensors"))
    if set(listed) != set(tensors):
        raise _corrupt("the tensors in the payload differ from those the configuration lists")
    for key, tensor in tensors.items():
        spec = _expect_dict(listed[key])
        if spec.get("shape") != list(tensor.shape) or spec.get("dtype") != str(
            tensor.dtype
        ).removeprefix("torch."):
            raise _corrupt(f"tensor {key!r} does not have the shape and dtype listed")
    return tensors


def _resolve_load_device(saved_device, device):
    from ._torch.device import resolve_device

    if device is not None:
        return resolve_device(device)
    try:
        return resolve_device(saved_device if isinstance(saved_device, str) else "cpu")
    except ValueError:
        warnings.warn(
            f"The model was saved with device={saved_device!r}, which this machine does not "
            "have; loading it on the CPU (pass device= to choose).",
            UserWarning,
            stacklevel=3,
        )
        return "cpu"


def _make_estimator(config):
    """The estimator the file names, with its parameters, and its registry entry."""
    name = config.get("estimator")
    entry = _registry.entry(name)
    if entry is None:
        raise _corrupt(f"the estimator class {name!r} is not one of sklearn_dgex's estimators")
    cls = entry.cls
    decoder = _Decoder({})
    params = {k: decoder.decode(v) for k, v in _expect_dict(config.get("params")).items()}
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise _corrupt(f"parameters {unknown} are unknown to this version of {name}")
    estimator = cls(**params)
    estimator._validate_params()  # a file's parameters are checked as fit checks them
    return estimator, entry


def load(path, *, device=None):
    """Read an estimator written by :func:`save` (or ``estimator.save``), running no code from it.

    Parameters
    ----------
    path : str or path-like
        The file.
    device : str, default=None
        Where to put the networks ("cpu", "cuda", "cuda:N", "auto"). None:
        the estimator's own ``device`` setting, or the CPU (with a warning)
        when it names a GPU this machine does not have.

    Returns
    -------
    estimator : DGEXRegressor or FlexibleMLPRegressor
        The fitted estimator; it predicts exactly as the saved one did.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For anything else wrong with the file, with a message naming it: not
        a file, not a sklearn-dgex model file, a newer format version, a
        damaged or truncated zip, a configuration outside the format's
        schema (unknown keys, wrong types, nesting deeper than 32 levels), or
        contents corrupted or modified (SHA-256 mismatch, tensors that do
        not fit the networks, unknown class names or parameters).

    See Also
    --------
    save : Write the file.

    Notes
    -----
    The optimizer's state is not stored: a ``warm_start`` fit of a loaded
    estimator continues from its weights, history and learning-rate
    schedule with fresh optimizer moments.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_dgex import FlexibleMLPRegressor, load
    >>> from sklearn_dgex.datasets import make_expression
    >>> X, Y = make_expression(n_samples=50, n_landmarks=8, n_targets=6, random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.dgex")
    >>> _ = FlexibleMLPRegressor(hidden_layer_sizes=(8,), max_epochs=1).fit(X, Y).save(path)
    >>> load(path).predict(X[:2]).shape
    (2, 6)
    """
    path = Path(path)
    config_bytes, payload = _read_zip(path)
    config = _parse_config(path, config_bytes)
    try:
        tensors = _read_tensors(path, config, payload)
        estimator, entry = _make_estimator(config)
        target = _resolve_load_device(estimator.device, device)
        _restore_fitted_state(estimator, entry.new_net, config, tensors, target)
    except _MALFORMED as exc:
        raise ValueError(
            f"{os.fspath(path)!r} does not describe a valid model: "
            f"{exc if isinstance(exc, ValueError) else f'{type(exc).__name__}: {exc}'}."
        ) from exc
    return estimator


def _restore_fitted_state(estimator, new_net, config, tensors, device):
    attributes = _expect_dict(config.get("attributes"))
    nets_config = config.get("nets")
    if not isinstance(nets_config, list):
        raise _corrupt("'nets' must be a list")
    # Attributes first (the networks are built from the estimator's fitted settings),
    # then the networks, then the attributes that refer to them.
    version = config["format_version"]
    plain = _Decoder(tensors, format_version=version)
    pending = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise _corrupt(f"invalid attribute name {name!r}")
        if "__net__" in json.dumps(value):
            pending[name] = value
        else:
            setattr(estimator, name, plain.decode(value))
    nets = [
        _rebuild_net(estimator, new_net, _expect_dict(spec), tensors, index, device)
        for index, spec in enumerate(nets_config)
    ]
    with_nets = _Decoder(tensors, nets, format_version=version)
    for name, value in pending.items():
        setattr(estimator, name, with_nets.decode(value))
    _check_fitted_state(estimator)


def _check_fitted_state(estimator):
    """The decoded attributes make one consistent model (the schema checked their types)."""
    n_in, n_out = estimator.n_features_in_, estimator.n_outputs_
    if n_in < 1 or n_out < 1:
        raise _corrupt(f"n_features_in_={n_in} and n_outputs_={n_out} must be positive")
    for name, size in (("input", n_in), ("target", n_out)):
        mean, scale = getattr(estimator, f"{name}_mean_"), getattr(estimator, f"{name}_scale_")
        for array in (mean, scale):
            if array.dtype.kind != "f" or array.shape != (size,) or not np.isfinite(array).all():
                raise _corrupt(f"{name}_mean_ and {name}_scale_ must hold {size} finite floats")
        if not (scale > 0).all():
            raise _corrupt(f"{name}_scale_ must be positive")
    for name, size in (("feature_names_in_", n_in), ("target_names_in_", n_out)):
        if hasattr(estimator, name) and np.shape(getattr(estimator, name)) != (size,):
            raise _corrupt(f"{name} must hold {size} names")
    if estimator._target_is_1d and n_out != 1:
        raise _corrupt("a model of a 1-d target must have one output")
    nets = estimator.nets_
    members = getattr(estimator, "ensemble_", [nets])
    if len(members[0]) != len(nets) or any(a is not b for a, b in zip(members[0], nets)):
        raise _corrupt("ensemble_[0] must be nets_")
    if hasattr(estimator, "net_") and (not nets or estimator.net_ is not nets[0]):
        raise _corrupt("net_ must be nets_[0]")
    sizes = split_sizes(n_out, estimator.n_target_splits)
    for member in members:
        if [net.get_params_for("module")["n_out"] for net in member] != sizes:
            raise _corrupt(f"the networks of each member must predict {sizes} targets")
