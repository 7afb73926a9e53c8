"""Training-memory estimates against what torch really allocates."""

import doctest
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from sklearn_dgex.nn import DGEXNet, FlexibleMLP
from sklearn_dgex.nn.budget import STUDY_WIDTHS, count_parameters
from sklearn_dgex.nn.memory import (
    MemoryEstimate,
    _saved_tensors,
    check_training_memory,
    estimate_training_memory,
    format_bytes,
    max_batch_size_that_fits,
)

N_IN, N_OUT = 24, 30


def _networks():
    return {
        "dense": DGEXNet(N_IN, N_OUT, width=16),
        "checkerboard-skip": DGEXNet(
            N_IN, N_OUT, arch="checkerboard", towers=3, width=7, skip=True
        ),
        "tower-tanh-linear-out": DGEXNet(
            N_IN,
            N_OUT,
            arch="tower",
            towers=2,
            width=9,
            activation="tanh",
            output_activation="identity",
        ),
        "mlp-batchnorm-dropout": FlexibleMLP(
            N_IN, N_OUT, hidden_layer_sizes=(32, 16), batch_norm=True, dropout=0.1
        ),
        "mlp-layernorm-taaf": FlexibleMLP(
            N_IN, N_OUT, hidden_layer_sizes=(16,), layer_norm=True, activation="taaf_relu"
        ),
    }


NETWORKS = list(_networks())

OPTIMIZERS = [
    ("adam", torch.optim.Adam, {}),
    ("adamw", torch.optim.AdamW, {}),
    ("nadam", torch.optim.NAdam, {}),
    ("sgd", torch.optim.SGD, {}),
    ("sgd", torch.optim.SGD, {"momentum": 0.9}),
    ("rmsprop", torch.optim.RMSprop, {}),
    ("rmsprop", torch.optim.RMSprop, {"momentum": 0.9}),
    ("rmsprop", torch.optim.RMSprop, {"centered": True}),
    ("adagrad", torch.optim.Adagrad, {}),
]


def _train_step(net, optimizer, batch_size=8):
    net.train()
    loss = net(torch.randn(batch_size, N_IN)).square().mean()
    loss.backward()
    optimizer.step()


def _real_saved_bytes(module, x, bf16):
    """Bytes of the distinct storages autograd saves in a real CPU forward pass."""
    state = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    storages = {x.untyped_storage().data_ptr(): x.untyped_storage().nbytes()}

    def pack(tensor):
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in state:
            storages[pointer] = tensor.untyped_storage().nbytes()
        return tensor

    module.train()
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
    ):
        module(x)
    return sum(storages.values())


@pytest.mark.parametrize("name", NETWORKS)
def test_parameter_and_gradient_bytes_are_exact(name):
    net = _networks()[name]
    est = estimate_training_memory(net, batch_size=4)
    n_values = sum(p.numel() for p in net.parameters())
    n_buffer_bytes = sum(b.nbytes for b in net.buffers())
    assert est.parameters == 4 * n_values + n_buffer_bytes
    _train_step(net, torch.optim.SGD(net.parameters(), lr=0.1))
    assert est.gradients == sum(p.grad.nbytes for p in net.parameters())


@pytest.mark.parametrize(("name", "cls", "kwargs"), OPTIMIZERS)
def test_optimizer_state_equals_torchs_state_after_a_step(name, cls, kwargs):
    net = _networks()["checkerboard-skip"]
    optimizer = cls(net.parameters(), lr=1e-3, **kwargs)
    _train_step(net, optimizer)
    actual = sum(
        value.nbytes
        for state in optimizer.state.values()
        for value in state.values()
        if torch.is_tensor(value)
    )
    options = {k: v for k, v in kwargs.items() if k in ("momentum", "centered")}
    est = estimate_training_memory(net, 4, optimizer=name, **options)
    assert est.optimizer_state == actual


def test_adam_like_optimizers_hold_two_buffers_sgd_with_momentum_one():
    net = nn.Linear(1000, 1000)
    param_bytes = 4 * 1_001_000
    state = {
        (name, momentum): estimate_training_memory(net, 1, name, momentum=momentum).optimizer_state
        for name in ("adam", "adamw", "nadam", "sgd", "rmsprop")
        for momentum in (0.0, 0.9)
    }
    # Beyond the full-size buffers, only 4-byte step / mu_product scalars per tensor.
    assert state["adam", 0.0] - 2 * param_bytes == 2 * 4
    assert state["nadam", 0.0] - 2 * param_bytes == 2 * 2 * 4
    assert state["adamw", 0.0] == state["adam", 0.0]
    assert state["sgd", 0.0] == 0
    assert state["sgd", 0.9] == param_bytes
    assert state["rmsprop", 0.0] - param_bytes == 2 * 4
    assert state["rmsprop", 0.9] - 2 * param_bytes == 2 * 4


@pytest.mark.parametrize("precision", ["float32", "bf16"])
@pytest.mark.parametrize("name", NETWORKS)
def test_saved_activations_on_meta_equal_a_real_cpu_forward(name, precision):
    net = _networks()[name]
    batch_size = 12
    real = _real_saved_bytes(net, torch.randn(batch_size, N_IN), bf16=precision == "bf16")
    saved, _ = _saved_tensors(net, batch_size, N_IN, precision)
    assert sum(t.nbytes for t in saved.values()) == real


def test_activations_grow_linearly_with_the_batch_and_nothing_else_does():
    net = _networks()["checkerboard-skip"]
    estimates = [estimate_training_memory(net, b) for b in (1, 2, 4, 8, 16)]
    per_row = estimates[1].activations - estimates[0].activations
    assert per_row > 0
    for est in estimates:
        assert est.activations == est.batch_size * per_row
        assert est.fixed == estimates[0].fixed
    assert estimates[-1].total > estimates[0].total


def test_estimate_neither_moves_nor_changes_the_module():
    net = _networks()["mlp-batchnorm-dropout"].eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    estimate_training_memory(net, 32, precision="bf16")
    assert not any(m.training for m in net.modules())
    for key, value in net.state_dict().items():
        assert value.device.type == "cpu"
        assert torch.equal(value, before[key])


def test_a_module_built_on_meta_gives_the_same_estimate():
    kwargs = {"arch": "checkerboard", "towers": 4, "width": 10, "skip": True}
    real = DGEXNet(N_IN, N_OUT, **kwargs)
    with torch.device("meta"):
        meta = DGEXNet(N_IN, N_OUT, **kwargs)
    assert estimate_training_memory(meta, 64, "nadam") == estimate_training_memory(
        real, 64, "nadam"
    )


@pytest.mark.parametrize(("arch", "towers"), [("dense", 1), ("checkerboard", 5), ("tower", 12)])
def test_study_networks_cost_table_1_times_four_bytes(arch, towers):
    with torch.device("meta"):
        net = DGEXNet(942, 4759, arch=arch, towers=towers, width=STUDY_WIDTHS[towers])
    est = estimate_training_memory(net, 256, "nadam")
    n_params = count_parameters(942, 4759, towers=towers, width=STUDY_WIDTHS[towers])
    assert est.parameters == est.gradients == 4 * n_params
    # Hidden activations at batch 256 are a small share next to 257M parameters.
    assert est.activations < 0.2 * est.fixed


def test_max_batch_size_is_the_boundary_of_the_estimate():
    net = _networks()["dense"]
    budget = estimate_training_memory(net, 100).total + 10
    best = max_batch_size_that_fits(net, budget)
    assert best >= 100
    assert estimate_training_memory(net, best).total <= budget
    assert estimate_training_memory(net, best + 1).total > budget
    assert max_batch_size_that_fits(net, estimate_training_memory(net, 1).fixed) == 0
    assert max_batch_size_that_fits(net, 2**40, upper=512) == 512


def test_check_refuses_with_the_estimate_and_a_batch_size_that_fits(monkeypatch):
    import sklearn_dgex.nn.memory as memory

    net = _networks()["dense"]
    free = estimate_training_memory(net, 50).total
    monkeypatch.setattr(memory, "available_memory", lambda device: free)
    assert isinstance(check_training_memory(net, 50), MemoryEstimate)
    with pytest.raises(MemoryError, match=r"batch_size=50 would fit") as info:
        check_training_memory(net, 400)
    assert "optimizer state" in str(info.value)
    monkeypatch.setattr(memory, "available_memory", lambda device: 1000)
    with pytest.raises(MemoryError, match="Not even batch_size=1 fits"):
        check_training_memory(net, 1)


def test_readable_string_lists_every_component():
    text = str(estimate_training_memory(nn.Linear(100, 100), 8, "sgd", momentum=0.9))
    for word in ("parameters", "gradients", "optimizer state", "activations (batch 8)", "total"):
        assert word in text
    assert "sgd, float32" in text
    assert format_bytes(1536) == "1.50 KiB"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"batch_size": 2.0}, "batch_size must be a positive int"),
        ({"batch_size": 2, "optimizer": "lbfgs"}, r"optimizer must be one of \['adagrad'"),
        ({"batch_size": 2, "precision": "fp16"}, r"precision must be one of \['bf16'"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate_training_memory(nn.Linear(3, 3), **kwargs)


def test_input_width_must_be_given_when_it_cannot_be_inferred():
    net = nn.Sequential(nn.Tanh())
    with pytest.raises(ValueError, match="pass n_features"):
        estimate_training_memory(net, 2)
    assert estimate_training_memory(net, 2, n_features=5).activations > 0


_PEAK_SCRIPT = textwrap.dedent(
    """
    import torch
    from sklearn_dgex.nn import DGEXNet
    from sklearn_dgex.nn.memory import estimate_training_memory

    torch.set_num_threads(1)

    def rss(key):
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) * 1024 for l in status if l.startswith(key))

    net = DGEXNet(200, 1000, arch="checkerboard", towers=4, width=128)
    optimizer = torch.optim.Adam(net.parameters())

    def step(batch_size):
        optimizer.zero_grad(set_to_none=False)
        x, y = torch.randn(batch_size, 200), torch.randn(batch_size, 1000)
        torch.nn.functional.l1_loss(net(x), y).backward()
        optimizer.step()

    step(2)  # gradients and optimizer state now exist
    before = rss("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the current RSS
    step(2048)
    print((rss("VmHWM") - before) / estimate_training_memory(net, 2048).activations)
    """
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.access("/proc/self/clear_refs", os.W_OK),
    reason="needs Linux's resettable peak RSS (/proc/self/clear_refs)",
)
def test_activation_estimate_matches_the_measured_peak_of_a_training_step():
    # A small mmap threshold makes glibc return every freed tensor at once, so the
    # peak RSS measures live tensors rather than the allocator's cache.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    ratio = float(result.stdout.strip().splitlines()[-1])
    assert 0.75 < ratio < 1.33, ratio


def test_performance_page_examples_run():
    page = Path(__file__).resolve().parents[2] / "docs" / "performance.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
