"""Checkpoints of a fit: written while it trains, resumed from by a later fit.

Private module of the estimators (see :mod:`sklearn_dgex._base`):
:class:`Checkpoints` and :class:`CheckpointCallback` implement
``checkpoint_dir``, written every ``checkpoint_every`` epochs, at the best
validation loss and at the end, and resumed from by a later ``fit`` with the
same parameters and data.

Checkpoints are written with ``torch.save`` and read with
``torch.load(weights_only=True)``, which refuses to run code from the file.
"""

import hashlib
import json
import math
import numbers
import os
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from .._files import json_default, write_atomically
from .callbacks import any_stopped

CHECKPOINT_FORMAT = "sklearn-dgex-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
#: Parameters that may differ between an interrupted fit and the fit that resumes it.
RESUME_MAY_CHANGE = frozenset(
    {"verbose", "device", "checkpoint_dir", "checkpoint_every", "warm_start"}
)
_MANIFEST = "manifest.json"
_LAST = "last.pt"
_BEST = "best.pt"
# Callback state a resumed fit needs, by callback name in the estimators' lists.
_EARLY_STOPPING_STATE = ("best_score_", "best_epoch_", "misses_", "dynamic_threshold_")


def canonical_value(value):
    """A JSON form of a parameter value in which equal settings are equal.

    Numpy scalars are their Python numbers (``np.int64(2)`` is ``2``), arrays,
    tuples and lists are lists of their values, path-likes their path, and a
    random generator is the SHA-256 of its state, so that a different seed
    or an advanced generator differ. Non-finite floats are written as text
    (JSON's NaN never equals itself). Other objects are their type and
    ``repr``.
    """
    if value is None or isinstance(value, (bool, str, np.bool_)):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return [canonical_value(item) for item in value]
    if isinstance(value, (list, tuple)):
        return [canonical_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): canonical_value(item) for key, item in sorted(value.items(), key=str)}
    if isinstance(value, np.random.RandomState):
        _, keys, position, has_gauss, gauss = value.get_state()
        state = (keys.tobytes(), position, has_gauss, gauss)
        return {"RandomState": hashlib.sha256(repr(state).encode()).hexdigest()}
    if isinstance(value, np.random.Generator):
        state = json.dumps(value.bit_generator.state, sort_keys=True, default=str)
        return {"Generator": hashlib.sha256(state.encode()).hexdigest()}
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}", "repr": repr(value)}


def resume_params(params):
    """The parameters (``get_params(deep=False)``) that identify a fit for resuming it.

    In canonical form. Take them before the fit draws seeds from a
    ``random_state`` generator, which advances it.
    """
    return {
        name: canonical_value(value)
        for name, value in sorted(params.items())
        if name not in RESUME_MAY_CHANGE
    }


def _plain(value):
    """``value`` with numpy scalars as Python numbers, for ``torch.load(weights_only=True)``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def data_fingerprint(arrays):
    """SHA-256 over the shapes, dtypes and bytes of ``arrays`` (None allowed)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none;")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _cpu_tree(value):
    """Copy of a nested dict/list/tuple with every tensor copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _cpu_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_tree(item) for item in value)
    return value


def _rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return state


def _set_rng_state(state, device):
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], torch.device(device))


def _callback_states(net):
    callbacks = dict(net.callbacks_)
    states = {}
    schedule = callbacks.get("lr_schedule")
    if schedule is not None and getattr(schedule, "lr_scheduler_", None) is not None:
        states["lr_schedule"] = schedule.lr_scheduler_.state_dict()
    stopping = callbacks.get("early_stopping")
    if stopping is not None:
        state = {key: getattr(stopping, key) for key in _EARLY_STOPPING_STATE}
        state["best_model_weights_"] = stopping.best_model_weights_
        states["early_stopping"] = state
    return states


def _restore_callback_states(net, states):
    callbacks = dict(net.callbacks_)
    if "lr_schedule" in states and "lr_schedule" in callbacks:
        callbacks["lr_schedule"].lr_scheduler_.load_state_dict(states["lr_schedule"])
    if "early_stopping" in states and "early_stopping" in callbacks:
        stopping = callbacks["early_stopping"]
        state = dict(states["early_stopping"])
        weights = state.pop("best_model_weights_")
        for key, value in state.items():
            setattr(stopping, key, value)
        stopping.best_model_weights_ = (
            None if weights is None else {k: v.to(net.device) for k, v in weights.items()}
        )


def read_checkpoint(path):
    """Load a checkpoint file without running code from it (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} is not a readable sklearn-dgex checkpoint ({type(exc).__name__}: {exc}); "
            "delete it, or the whole checkpoint_dir, to start anew."
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a sklearn-dgex checkpoint.")
    if state.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format version {state.get('format_version')!r}; this "
            f"version of sklearn-dgex reads version {CHECKPOINT_FORMAT_VERSION}."
        )
    return state


class CheckpointCallback(Callback):
    """Write one network's training state to ``directory``.

    ``last.pt`` (weights, optimizer, learning-rate schedule, early-stopping
    state, history, torch random state) every ``every`` epochs and when
    training ends (complete or stopped on purpose); ``best.pt`` (weights,
    epoch, validation loss) whenever the validation loss reaches a new low.
    Both are replaced atomically.
    """

    def __init__(self, directory, every=10, max_epochs=None):
        self.directory = directory
        self.every = every
        self.max_epochs = max_epochs

    def prepare_resume(self, state):
        """Hand over a checkpoint's callback states, restored at ``on_train_begin``."""
        self.resume_state_ = state

    def on_train_begin(self, net, **kwargs):
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        state = getattr(self, "resume_state_", None)
        self.resume_state_ = None
        self.best_score_ = math.inf if state is None else state["best_score"]
        if state is not None:
            # Runs after the other callbacks' on_train_begin, which reset their state.
            _restore_callback_states(net, state["callbacks"])

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        score = row.get("valid_loss")
        if score is not None and score < self.best_score_:
            self.best_score_ = score
            best = {
                "format": CHECKPOINT_FORMAT,
                "format_version": CHECKPOINT_FORMAT_VERSION,
                "epoch": row["epoch"],
                "valid_loss": score,
                "module": net.module_.state_dict(),
            }
            self._write(_BEST, best)
        if len(net.history) % self.every == 0:
            self._write(_LAST, self._state(net, finished=False))

    def on_train_end(self, net, **kwargs):
        # An interrupted epoch (Ctrl-C) leaves mid-epoch weights: keep the last
        # checkpoint written at an epoch boundary instead.
        finished = any_stopped(net) or (
            self.max_epochs is not None and len(net.history) >= self.max_epochs
        )
        if finished:
            self._write(_LAST, self._state(net, finished=True))

    def _state(self, net, finished):
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "epoch": len(net.history),
            "finished": finished,
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "callbacks": _callback_states(net),
            "best_score": self.best_score_,
            "history": json.dumps(list(net.history), default=json_default),
            "rng": _rng_state(net.device),
        }

    def _write(self, name, state):
        # A numpy scalar anywhere (an optimizer setting, an early-stopping score)
        # would make the file unreadable by the safe loader.
        state = _plain(state)
        write_atomically(Path(self.directory) / name, lambda stream: torch.save(state, stream))


class Checkpoints:
    """The checkpoint directory of one fit: a manifest and one folder per network.

    The manifest records the estimator's class, its parameters (those in
    :data:`RESUME_MAY_CHANGE` excepted), a SHA-256 fingerprint of the training
    and validation data, and the random seeds of the fit. A fit finding a
    manifest resumes only when class, parameters and data are the same, and
    then uses the recorded seeds (so ``random_state=None`` resumes too).
    """

    def __init__(self, directory, every, max_epochs, manifest):
        self.directory = Path(directory)
        self.every = every
        self.max_epochs = max_epochs
        self.manifest = manifest

    @classmethod
    def open(cls, directory, every, estimator_name, params, arrays, seeds, max_epochs):
        """Create the directory's manifest, or check that it belongs to this fit.

        ``directory`` and ``every`` are the estimator's ``checkpoint_dir`` and
        ``checkpoint_every``; ``params`` its :func:`resume_params`, taken
        before the seeds were drawn; ``seeds`` has one row per ensemble member
        (the networks' seeds, then the validation split's); ``max_epochs`` is
        the number of epochs each network trains for.
        """
        directory = Path(os.fspath(directory))
        if directory.exists() and not directory.is_dir():
            raise ValueError(
                f"checkpoint_dir={os.fspath(directory)!r} is a file, not a directory; "
                "give a directory (it is created if missing)."
            )
        manifest = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "estimator": estimator_name,
            "params": params,
            "data_sha256": data_fingerprint(arrays),
            "seeds": np.asarray(seeds, dtype=np.int64).tolist(),
        }
        path = directory / _MANIFEST
        if path.exists():
            saved = _read_manifest(path)
            _check_same_fit(saved, manifest, directory)
            manifest["seeds"] = saved["seeds"]
        else:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:  # a file on the way
                raise ValueError(
                    f"checkpoint_dir={os.fspath(directory)!r} cannot be created: {exc}."
                ) from exc
            text = json.dumps(manifest, indent=1).encode()
            write_atomically(path, lambda stream: stream.write(text))
        return cls(directory, every, max_epochs, manifest)

    @property
    def seeds(self):
        """The fit's seeds, one row per ensemble member (as given to :meth:`open`)."""
        return np.asarray(self.manifest["seeds"], dtype=np.int64)

    def _net_directory(self, member, index):
        return self.directory / f"member-{member}" / f"net-{index}"

    def callback(self, member, index):
        """The checkpoint callback of network ``index`` of ensemble member ``member``."""
        directory = str(self._net_directory(member, index))
        return CheckpointCallback(directory, self.every, self.max_epochs)

    def resume(self, member, index, net):
        """Load a network's last checkpoint into ``net``; return the epochs left to run.

        Without a checkpoint, ``net`` is left alone and ``max_epochs`` is
        returned. Call inside the fit's seeded random state and after the
        callbacks are configured: the torch random state is set to the
        checkpoint's.
        """
        path = self._net_directory(member, index) / _LAST
        if not path.exists():
            return self.max_epochs
        state = read_checkpoint(path)
        if not net.initialized_:  # a linear shortcut initialises (and wraps) the module itself
            net.initialize()
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history = History(json.loads(state["history"]))
        _set_rng_state(state["rng"], net.device)
        dict(net.callbacks_)["checkpoint"].prepare_resume(state)
        return 0 if state["finished"] else max(self.max_epochs - state["epoch"], 0)


def _read_manifest(path):
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable checkpoint manifest: {exc}") from exc
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a sklearn-dgex checkpoint manifest.")
    return saved


def _check_same_fit(saved, current, directory):
    differences = []
    if saved.get("format_version") != current["format_version"]:
        differences.append(f"checkpoint format version {saved.get('format_version')!r}")
    if saved.get("estimator") != current["estimator"]:
        differences.append(f"estimator {saved.get('estimator')!r}, now {current['estimator']!r}")
    saved_params = saved.get("params", {})
    for name in sorted(set(saved_params) | set(current["params"])):
        before, now = saved_params.get(name, "<missing>"), current["params"].get(name, "<missing>")
        if before != now:
            differences.append(f"{name}={before!r}, now {now!r}")
    if saved.get("data_sha256") != current["data_sha256"]:
        differences.append("different training or validation data")
    if differences:
        raise ValueError(
            f"checkpoint_dir={os.fspath(directory)!r} holds the checkpoint of a different fit "
            f"({'; '.join(differences)}). Resume with the same parameters and data, or use "
            "another (or an empty) checkpoint_dir."
        )
