"""Training faults, checkpoints and resumption, pickling across devices, determinism."""

import copy
import hashlib
import io
import json
import os
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from _helpers import tiny_estimators
from skorch.exceptions import DeviceWarning

from sklearn_dgex import DGEXRegressor, load
from sklearn_dgex._torch import net as glue
from sklearn_dgex._torch.losses import MaskedLoss
from sklearn_dgex.datasets import make_expression
from sklearn_dgex.nn import memory

N_SAMPLES, N_FEATURES, N_TARGETS, BATCH = 40, 6, 5, 16  # 3 batches per epoch
tiny_dgex, tiny_mlp = tiny_estimators(
    max_epochs=5, batch_size=BATCH, linear_shortcut=False, dgex=dict(lr_schedule=None)
)


def weights(model):
    """Every network's state, in a flat dict."""
    nets = [net for member in model.ensemble_ for net in member]
    return {
        f"{i}.{name}": value.clone()
        for i, net in enumerate(nets)
        for name, value in net.module_.state_dict().items()
    }


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.fixture
def on_batch(monkeypatch):
    """Run ``action(net, epoch, batch)`` after every training step; count the steps.

    Each call replaces the previous action and returns a fresh step counter.
    """
    original = glue.InMemoryNet.train_step

    def install(action):
        calls = {"steps": 0}
        seen = {}

        def train_step(net, batch, **kwargs):
            epoch = len(net.history)
            key = (id(net), epoch)
            seen[key] = seen.get(key, 0) + 1
            step = original(net, batch, **kwargs)
            calls["steps"] += 1
            action(net, epoch, seen[key])
            return step

        monkeypatch.setattr(glue.InMemoryNet, "train_step", train_step)
        return calls

    return install


def poison_weights(net):
    with torch.no_grad():
        next(net.module_.parameters()).fill_(float("nan"))


# ----------------------------------------------------------------------------
# Non-finite loss
# ----------------------------------------------------------------------------
def test_divergence_names_the_epoch_and_suggests_a_lower_learning_rate(data):
    X, Y = data
    model = tiny_mlp(optimizer="sgd", lr=1e3, weight_decay=0.0)
    with pytest.raises(FloatingPointError) as info:
        model.fit(X, Y)
    message = str(info.value)
    assert re.match(r"Training diverged at epoch \d+: the training loss is (nan|inf)", message)
    assert "Lower the learning rate (lr=1000; try lr=100)" in message
    assert "on_nonfinite='restore'" in message
    assert not hasattr(model, "n_features_in_")  # nothing half-done


@pytest.mark.parametrize("make", [tiny_dgex, tiny_mlp])
def test_restore_keeps_the_last_finite_epoch(make, data, on_batch):
    X, Y = data
    clean = make(max_epochs=2).fit(X, Y)
    on_batch(lambda net, epoch, batch: poison_weights(net) if (epoch, batch) == (3, 1) else None)
    model = make(on_nonfinite="restore")
    with pytest.warns(RuntimeWarning, match="diverged at epoch 3.*restored the weights of epoch 2"):
        model.fit(X, Y)
    assert len(model.history_) == 2 and model.n_iter_ == 2
    assert_same_weights(weights(model), weights(clean))
    np.testing.assert_array_equal(model.predict(X), clean.predict(X))


def test_restore_at_the_first_epoch_keeps_the_initial_weights(data, on_batch):
    X, Y = data
    initial = tiny_mlp(max_epochs=0).fit(X, Y)
    on_batch(lambda net, epoch, batch: poison_weights(net) if epoch == 1 else None)
    model = tiny_mlp(on_nonfinite="restore")
    with pytest.warns(RuntimeWarning, match="restored the initial weights"):
        model.fit(X, Y)
    assert model.history_ == []
    assert_same_weights(weights(model), weights(initial))


def test_non_finite_weights_after_a_finite_loss_are_caught(data, on_batch):
    X, Y = data
    # The last step of epoch 2 breaks the weights after its loss was computed.
    on_batch(lambda net, epoch, batch: poison_weights(net) if (epoch, batch) == (2, 3) else None)
    with pytest.raises(FloatingPointError, match="epoch 2: the weights hold NaN or infinite"):
        tiny_dgex().fit(X, Y)


def test_a_huge_finite_loss_is_a_divergence(data, on_batch):
    X, Y = data

    def blow_up(net, epoch, batch):
        if (epoch, batch) == (2, 3):  # after epoch 2's last step: epoch 3 sees huge outputs
            with torch.no_grad():
                for parameter in net.module_.parameters():
                    parameter.mul_(1e4)

    on_batch(blow_up)
    with pytest.raises(FloatingPointError, match=r"epoch 3: the training loss is .*e\+\d+, more "):
        tiny_mlp(hidden_layer_sizes=(8, 8), lr=1e-12).fit(X, Y)


def test_batch_norm_with_batches_of_one_row_is_a_clear_error(data):
    X, Y = data
    with pytest.raises(ValueError, match=r"batch_norm=True needs training batches of at least 2"):
        tiny_mlp(batch_norm=True, batch_size=1).fit(X, Y)
    with pytest.raises(ValueError, match=r"and 1 training row\(s\)"):
        tiny_mlp(batch_norm=True, validation_fraction=0.5).fit(X[:2], Y[:2])


# ----------------------------------------------------------------------------
# Gradient clipping
# ----------------------------------------------------------------------------
def test_gradient_clip_bounds_every_step(data):
    X, Y = data
    sgd = dict(optimizer="sgd", momentum=0.0, weight_decay=0.0, lr=0.1, max_epochs=2)
    start = weights(tiny_mlp(**{**sgd, "max_epochs": 0}).fit(X, Y))

    def distance(model):
        now = weights(model)
        return float(torch.sqrt(sum(((now[k] - start[k]) ** 2).sum() for k in start)))

    n_steps, clip = 2 * 3, 1e-3
    # Plain SGD moves by lr * gradient, so each clipped step moves at most lr * clip.
    assert distance(tiny_mlp(**sgd, gradient_clip=clip).fit(X, Y)) <= n_steps * 0.1 * clip * 1.001
    assert distance(tiny_mlp(**sgd).fit(X, Y)) > 10 * n_steps * 0.1 * clip


# ----------------------------------------------------------------------------
# Out of memory
# ----------------------------------------------------------------------------
@pytest.fixture
def oom_with_free_memory(monkeypatch, on_batch):
    def install(free_bytes, error=None):
        error = error or torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        def fail(net, epoch, batch):
            raise error

        on_batch(fail)
        monkeypatch.setattr(memory, "available_memory", lambda device="cpu": free_bytes)

    return install


def _estimate(model, batch_size):
    module_class, kwargs = model._module_class_and_kwargs(N_FEATURES, N_TARGETS)
    with torch.device("meta"):
        module = module_class(n_in=N_FEATURES, n_out=N_TARGETS, **kwargs)
    return memory.estimate_training_memory(module, batch_size, model.optimizer, model.precision)


DATA_BYTES = 4 * N_SAMPLES * (N_FEATURES + N_TARGETS)


@pytest.mark.parametrize("make", [tiny_dgex, tiny_mlp])
def test_out_of_memory_gives_the_estimate_and_a_batch_size_that_fits(
    make, data, oom_with_free_memory
):
    X, Y = data
    model = make()
    free = _estimate(model, 5).total + DATA_BYTES  # room for batches of 5 by the estimate
    oom_with_free_memory(free)
    with pytest.raises(MemoryError) as info:
        model.fit(X, Y)
    assert isinstance(info.value, torch.OutOfMemoryError)  # either except clause catches it
    message = str(info.value)
    # Refused before training: the injected error is never reached.
    assert f"{type(model).__name__} would run out of memory: training one network" in message
    assert "at batch_size=16" in message
    assert "batch_size=5 would fit" in message
    assert memory.format_bytes(_estimate(model, BATCH).total) in message
    assert "Training memory (" in message and "Original error" not in message
    assert not hasattr(model, "n_features_in_")


def test_out_of_memory_when_not_even_one_row_fits(data, oom_with_free_memory):
    X, Y = data
    cpu_error = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 10 GB")
    oom_with_free_memory(1000, cpu_error)
    with pytest.raises(MemoryError, match="Not even batch_size=1 fits"):
        tiny_mlp().fit(X, Y)


def test_out_of_memory_although_the_estimate_fits(data, oom_with_free_memory):
    X, Y = data
    oom_with_free_memory(2**40)
    with pytest.raises(MemoryError, match=r"By the estimate batch_size=16 fits.*try batch_size=8"):
        tiny_mlp().fit(X, Y)


def test_other_runtime_errors_pass_unchanged(data, on_batch):
    X, Y = data

    def fail(net, epoch, batch):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    on_batch(fail)
    with pytest.raises(RuntimeError, match=r"^mat1 and mat2") as info:
        tiny_mlp().fit(X, Y)
    assert not isinstance(info.value, MemoryError)


# ----------------------------------------------------------------------------
# Checkpoints: a fault at epoch k, then resume -> the uninterrupted weights
# ----------------------------------------------------------------------------
RESUME_CASES = {
    # dropout, the study's stepped schedule (scaled to 6 epochs), Nadam
    "dgex-dropout-schedule": (tiny_dgex, dict(lr_schedule="dgex", max_epochs=6)),
    # early stopping state, a plateau schedule, a validation split
    "mlp-early-stopping-plateau": (
        tiny_mlp,
        dict(early_stopping=True, lr_schedule="plateau", n_iter_no_change=20, max_epochs=6),
    ),
    # two networks (the crash hits the second) and two ensemble members
    "dgex-splits-ensemble": (tiny_dgex, dict(n_target_splits=2, n_ensemble=2, max_epochs=4)),
    "mlp-linear-shortcut": (tiny_mlp, dict(linear_shortcut=True, max_epochs=6, dropout=0.2)),
}


def _crash_then_resume(make, params, directory, on_batch, crash_epoch, crash_net=0):
    nets_started = []

    def crash(net, epoch, batch):
        if id(net) not in nets_started:
            nets_started.append(id(net))
        if len(nets_started) - 1 == crash_net and (epoch, batch) == (crash_epoch, 2):
            raise RuntimeError("injected crash")

    calls = on_batch(crash)
    with pytest.raises(RuntimeError, match="injected crash"):
        make(checkpoint_dir=directory, checkpoint_every=2, **params).fit(*DATA)
    steps_before = calls["steps"]
    calls = on_batch(lambda net, epoch, batch: None)
    resumed = make(checkpoint_dir=directory, checkpoint_every=2, **params).fit(*DATA)
    return resumed, steps_before, calls["steps"]


def _without_timings(history):
    return [
        {k: v for k, v in row.items() if "time" not in k and "per_s" not in k} for row in history
    ]


DATA = make_expression(
    n_samples=N_SAMPLES, n_landmarks=N_FEATURES, n_targets=N_TARGETS, random_state=0
)


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resumed_fit_ends_with_the_uninterrupted_weights(case, tmp_path, on_batch):
    make, params = RESUME_CASES[case]
    X, Y = DATA
    reference = make(**params).fit(X, Y)
    crash_net = 1 if "splits" in case else 0
    resumed, _, _ = _crash_then_resume(
        make,
        params,
        tmp_path / "ckpt",
        on_batch,
        crash_epoch=4 if "splits" not in case else 3,
        crash_net=crash_net,
    )
    assert_same_weights(weights(resumed), weights(reference))
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))
    assert _without_timings(resumed.history_) == _without_timings(reference.history_)
    assert resumed.best_epoch_ == reference.best_epoch_


def test_resume_runs_only_the_missing_epochs(tmp_path, on_batch):
    X, Y = DATA
    resumed, steps_before, steps_after = _crash_then_resume(
        tiny_mlp, dict(max_epochs=6), tmp_path / "ckpt", on_batch, crash_epoch=5
    )
    # Crashed in the 2nd batch of epoch 5: 4 epochs + 2 steps ran; the checkpoint of
    # epoch 4 (every 2 epochs) leaves epochs 5 and 6 to train: 2 x 3 steps.
    assert steps_before == 4 * 3 + 2 and steps_after == 2 * 3
    assert len(resumed.history_) == 6
    # The checkpoint now says finished: a third fit trains nothing and gives the same model.
    calls = on_batch(lambda net, epoch, batch: None)
    again = tiny_mlp(max_epochs=6, checkpoint_dir=tmp_path / "ckpt", checkpoint_every=2).fit(X, Y)
    assert calls["steps"] == 0
    assert_same_weights(weights(again), weights(resumed))


def test_resume_with_random_state_none_uses_the_recorded_seeds(tmp_path, on_batch):
    X, Y = DATA
    params = dict(random_state=None, max_epochs=4, dropout=0.3)
    # random_state=None draws the seeds from numpy's global (legacy) generator.
    np.random.seed(123)  # noqa: NPY002
    reference = tiny_mlp(**params).fit(X, Y)
    np.random.seed(123)  # noqa: NPY002 (the crashed fit draws the reference's seeds)
    resumed, _, _ = _crash_then_resume(tiny_mlp, params, tmp_path / "c", on_batch, crash_epoch=3)
    assert_same_weights(weights(resumed), weights(reference))


def test_ctrl_c_then_resume(tmp_path, on_batch):
    X, Y = DATA
    reference = tiny_mlp(max_epochs=4).fit(X, Y)

    def interrupt(net, epoch, batch):
        if (epoch, batch) == (3, 2):
            raise KeyboardInterrupt

    on_batch(interrupt)
    model = tiny_mlp(max_epochs=4, checkpoint_dir=tmp_path, checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    saved = torch.load(tmp_path / "member-0" / "net-0" / "last.pt", weights_only=True)
    assert saved["epoch"] == 2 and not saved["finished"]  # not the interrupted epoch's weights
    on_batch(lambda net, epoch, batch: None)
    resumed = tiny_mlp(max_epochs=4, checkpoint_dir=tmp_path, checkpoint_every=1).fit(X, Y)
    assert_same_weights(weights(resumed), weights(reference))


def test_checkpoint_files(tmp_path):
    X, Y = DATA
    model = tiny_mlp(
        max_epochs=5, validation_fraction=0.25, checkpoint_dir=str(tmp_path), checkpoint_every=2
    ).fit(X, Y)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["estimator"] == "FlexibleMLPRegressor" and manifest["params"]["max_epochs"] == 5
    assert "checkpoint_dir" not in manifest["params"] and len(manifest["data_sha256"]) == 64
    folder = tmp_path / "member-0" / "net-0"
    last = torch.load(folder / "last.pt", weights_only=True)  # never runs code
    assert last["finished"] and last["epoch"] == 5
    assert {"module", "optimizer", "rng", "history", "callbacks"} <= set(last)
    best = torch.load(folder / "best.pt", weights_only=True)
    losses = [row["valid_loss"] for row in model.history_]
    assert best["epoch"] == 1 + int(np.argmin(losses))
    assert best["valid_loss"] == min(losses)


def test_checkpoint_of_another_fit_is_refused(tmp_path):
    X, Y = DATA
    tiny_mlp(max_epochs=2, checkpoint_dir=tmp_path).fit(X, Y)
    with pytest.raises(ValueError, match=r"different fit \(lr=0\.001, now 0\.01\)"):
        tiny_mlp(max_epochs=2, lr=0.01, checkpoint_dir=tmp_path).fit(X, Y)
    with pytest.raises(ValueError, match="different training or validation data"):
        tiny_mlp(max_epochs=2, checkpoint_dir=tmp_path).fit(X[:30], Y[:30])
    # Verbosity and checkpoint frequency may change.
    tiny_mlp(max_epochs=2, checkpoint_dir=tmp_path, checkpoint_every=5, verbose=0).fit(X, Y)


def test_numpy_valued_parameters_identify_the_fit_by_value(tmp_path):
    X, Y = DATA
    short = tiny_mlp(max_epochs=np.int64(2), checkpoint_dir=tmp_path / "a").fit(X, Y)
    with pytest.raises(ValueError, match=r"different fit \(max_epochs=2, now 5\)"):
        tiny_mlp(max_epochs=np.int64(5), checkpoint_dir=tmp_path / "a").fit(X, Y)
    # The same values as Python numbers are the same fit: it is resumed (already finished).
    again = tiny_mlp(max_epochs=2, checkpoint_dir=tmp_path / "a").fit(X, Y)
    assert_same_weights(weights(again), weights(short))
    tiny_mlp(hidden_layer_sizes=np.array([8]), checkpoint_dir=tmp_path / "b").fit(X, Y)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\[8\], now \[8, 4\]"):
        tiny_mlp(hidden_layer_sizes=np.array([8, 4]), checkpoint_dir=tmp_path / "b").fit(X, Y)


def test_numpy_float_learning_rate_resumes(tmp_path, on_batch):
    params = dict(lr=np.float32(1e-3), max_epochs=6, tol=np.float64(0.0), early_stopping=True)
    reference = tiny_mlp(**params).fit(*DATA)
    resumed, _, _ = _crash_then_resume(tiny_mlp, params, tmp_path / "c", on_batch, crash_epoch=4)
    assert_same_weights(weights(resumed), weights(reference))
    # The same learning rate as a Python float trains the same network.
    assert_same_weights(
        weights(tiny_mlp(**{**params, "lr": float(params["lr"])}).fit(*DATA)), weights(reference)
    )


def test_random_state_generators_identify_the_fit_by_their_state(tmp_path):
    X, Y = DATA
    first = tiny_mlp(random_state=np.random.RandomState(7), checkpoint_dir=tmp_path).fit(X, Y)
    again = tiny_mlp(random_state=np.random.RandomState(7), checkpoint_dir=tmp_path).fit(X, Y)
    assert_same_weights(weights(again), weights(first))
    with pytest.raises(ValueError, match=r"different fit \(random_state="):
        tiny_mlp(random_state=np.random.RandomState(8), checkpoint_dir=tmp_path).fit(X, Y)


def test_a_file_as_checkpoint_dir_is_a_clear_error(tmp_path):
    X, Y = DATA
    (tmp_path / "file").write_text("not a directory")
    for directory in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(ValueError, match=r"checkpoint_dir=.*file"):
            tiny_mlp(checkpoint_dir=directory).fit(X, Y)


# ----------------------------------------------------------------------------
# Warm start: new optimizer settings apply, other networks are refused
# ----------------------------------------------------------------------------
def test_warm_start_trains_with_the_new_optimizer_settings():
    X, Y = DATA
    model = tiny_mlp(max_epochs=2, warm_start=True).fit(X, Y)
    model.set_params(lr=0.05, weight_decay=0.01, loss="mae", batch_size=8, max_epochs=3)
    model.fit(X, Y)
    net = model.net_
    assert [row["lr"] for row in model.history_] == [1e-3] * 2 + [0.05] * 3
    group = net.optimizer_.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)
    assert isinstance(net.criterion_, torch.nn.L1Loss) and net.batch_size == 8
    model.set_params(optimizer="sgd", momentum=0.5, lr=0.01, max_epochs=1).fit(X, Y)
    assert isinstance(model.net_.optimizer_, torch.optim.SGD)
    assert model.net_.optimizer_.param_groups[0]["momentum"] == 0.5
    assert model.history_[-1]["lr"] == 0.01 and len(model.history_) == 6


def test_warm_start_with_a_new_learning_rate_matches_a_fresh_optimizer_step():
    # The schedule restarts from the new learning rate at the epoch reached.
    X, Y = DATA
    model = tiny_mlp(max_epochs=2, warm_start=True, lr_schedule="cosine").fit(X, Y)
    model.set_params(lr=0.01, max_epochs=4).fit(X, Y)
    lrs = [row["lr"] for row in model.history_[2:]]
    assert lrs[0] == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi * 2 / 4)))
    assert lrs == sorted(lrs, reverse=True)


@pytest.mark.parametrize(
    ("make", "params", "name"),
    [
        (tiny_mlp, dict(hidden_layer_sizes=(16,)), "hidden_layer_sizes"),
        (tiny_mlp, dict(hidden_layer_sizes=np.array([8, 4])), "hidden_layer_sizes"),
        (tiny_mlp, dict(dropout=0.2), "dropout"),
        (tiny_mlp, dict(activation="tanh"), "activation"),
        (tiny_mlp, dict(batch_norm=True), "batch_norm"),
        (tiny_mlp, dict(n_target_splits=2), "n_target_splits"),
        (tiny_mlp, dict(linear_shortcut=True), "linear_shortcut"),
        (tiny_dgex, dict(width=12), "width"),
        (tiny_dgex, dict(towers=3), "towers"),
        (tiny_dgex, dict(arch="dense"), "arch"),
        (tiny_dgex, dict(width=None, param_budget=500), "param_budget"),
    ],
)
def test_warm_start_refuses_parameters_of_other_networks(make, params, name, tmp_path):
    X, Y = DATA
    model = make(max_epochs=1, warm_start=True).fit(X, Y)
    before = model.predict(X)
    width = getattr(model, "width_", None)
    with pytest.raises(ValueError, match=rf"warm_start=True .* but {name}="):
        model.set_params(**params).fit(X, Y)
    assert getattr(model, "width_", None) == width
    np.testing.assert_array_equal(model.predict(X), before)
    model.set_params(warm_start=False).fit(X, Y)  # a new fit takes the new parameters
    np.testing.assert_array_equal(
        load(model.save(tmp_path / "m.dgex")).predict(X), model.predict(X)
    )


def test_warm_start_may_switch_missing_targets_on_and_off():
    X, Y = DATA
    model = tiny_mlp(max_epochs=1, warm_start=True).fit(X, Y)
    Y_missing = Y.copy()
    Y_missing[::4, 1] = np.nan
    model.set_params(allow_nan_targets=True).fit(X, Y_missing)
    assert isinstance(model.net_.criterion_, MaskedLoss)
    assert all(np.isfinite(row["train_loss"]) for row in model.history_)
    model.set_params(allow_nan_targets=False).fit(X, Y)
    assert not isinstance(model.net_.criterion_, MaskedLoss) and len(model.history_) == 3


def test_a_failed_warm_start_puts_back_the_previous_optimizer(on_batch):
    X, Y = DATA
    model = tiny_mlp(max_epochs=2, warm_start=True).fit(X, Y)
    optimizer, state = model.net_.optimizer_, copy.deepcopy(model.net_.optimizer_.state_dict())

    def fail(net, epoch, batch):
        raise RuntimeError("injected")

    on_batch(fail)
    with pytest.raises(RuntimeError, match="injected"):
        model.set_params(optimizer="sgd", lr=0.1, loss="huber").fit(X, Y)
    assert model.net_.optimizer_ is optimizer and model.net_.lr == 1e-3
    assert not isinstance(model.net_.criterion_, torch.nn.HuberLoss)
    assert_same_weights(optimizer.state_dict()["state"][0], state["state"][0])


def test_checkpoint_dir_and_a_warm_start_continuation_are_exclusive(tmp_path):
    X, Y = DATA
    model = tiny_mlp(max_epochs=1, warm_start=True).fit(X, Y)
    model.set_params(checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot be combined with a warm_start continuation"):
        model.fit(X, Y)


class _Marker:
    """Unpickling this creates a file: proof that code from a file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_tampered_checkpoint_is_refused_without_running_it(tmp_path):
    X, Y = DATA
    tiny_mlp(max_epochs=4, checkpoint_dir=tmp_path, checkpoint_every=2).fit(X, Y)
    last = tmp_path / "member-0" / "net-0" / "last.pt"
    marker = tmp_path / "marker"
    torch.save({"format": "sklearn-dgex-checkpoint", "evil": _Marker(marker)}, last)
    with pytest.raises(ValueError, match="not a readable sklearn-dgex checkpoint"):
        tiny_mlp(max_epochs=4, checkpoint_dir=tmp_path, checkpoint_every=2).fit(X, Y)
    assert not marker.exists()
    torch.load(last, weights_only=False)  # the payload is live: unpickling it runs code
    assert marker.exists()


# ----------------------------------------------------------------------------
# Pickling across devices
# ----------------------------------------------------------------------------
def _tensors_outside_device_mapped_payload(model):
    """Tensors and optimizers that pickle would store outside skorch's ``torch.save`` payload.

    skorch pickles a net's module, optimizer and criterion through
    ``torch.save`` with a device map; any tensor elsewhere keeps its device
    and cannot be unpickled on a machine without it.
    """
    found = []

    class Spy(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, (torch.Tensor, torch.optim.Optimizer)):
                found.append(type(obj).__name__)
            return NotImplemented

    Spy(io.BytesIO()).dump(model)
    return found


@pytest.mark.parametrize("make", [tiny_dgex, tiny_mlp])
def test_fitted_nets_keep_no_device_bound_state_outside_skorch_payload(make):
    X, Y = DATA
    model = make(early_stopping=True, lr_schedule="plateau", n_target_splits=2).fit(X, Y)
    assert _tensors_outside_device_mapped_payload(model) == []
    assert [name for name, _ in model.net_.callbacks_] == ["epoch_timer"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_gpu_trained_pickle_loads_on_a_cpu_only_machine():
    X, Y = DATA
    model = tiny_dgex(early_stopping=True, lr_schedule="dgex").fit(X, Y)
    expected = model.predict(X)
    # What a GPU-trained estimator looks like to pickle: nets whose device is CUDA.
    model.set_params(device="cuda")
    for net in model.nets_:
        net.device = "cuda"
    with pytest.warns(DeviceWarning, match="no CUDA devices are available"):
        loaded = pickle.loads(pickle.dumps(model))
    assert all(torch.device(net.device).type == "cpu" for net in loaded.nets_)
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), expected)


# ----------------------------------------------------------------------------
# Determinism on CPU
# ----------------------------------------------------------------------------
DETERMINISM = dict(
    arch="cr",
    towers=2,
    width=8,
    dropout=0.3,
    max_epochs=3,
    batch_size=BATCH,
    validation_fraction=0.25,
    n_target_splits=2,
    device="cpu",
    linear_shortcut=False,
)


def _predictions_digest(random_state):
    X, Y = DATA
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = DGEXRegressor(**DETERMINISM, random_state=random_state).fit(X, Y)
        return hashlib.sha256(model.predict(X).tobytes()).hexdigest()
    finally:
        torch.set_num_threads(threads)


def test_same_random_state_same_predictions_in_process_and_across_processes():
    digest = _predictions_digest(7)
    assert _predictions_digest(7) == digest
    assert _predictions_digest(8) != digest  # the seed does matter
    script = (
        "import sys; sys.path[:0] = ['tests/training', 'tests']\n"
        "import torch; torch.set_num_threads(1)\n"
        "from test_reliability_training import _predictions_digest\n"
        "print(_predictions_digest(7))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = {**os.environ, "PYTHONHASHSEED": "123", "OMP_NUM_THREADS": "1"}
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert output.strip().splitlines()[-1] == digest


def test_fit_does_not_warn_on_clean_data():
    X, Y = DATA
    with warnings.catch_warnings():
        # Our own warnings (divergence, devices, saving) are these kinds.
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("error", UserWarning)
        tiny_mlp(max_epochs=2).fit(X, Y)
