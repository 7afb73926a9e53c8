"""fit refuses a configuration that cannot fit in memory before allocating it."""

import numpy as np
import pytest
import torch

from sklearn_dgex import DGEXRegressor
from sklearn_dgex._fit import memory_guard
from sklearn_dgex._torch import net as glue
from sklearn_dgex.nn import memory


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((32, 10)).astype(np.float32), rng.standard_normal((32, 6))


def test_fit_refuses_early_with_the_estimate_and_a_batch_size_that_fits(monkeypatch):
    X, Y = _data()
    estimator = DGEXRegressor(arch="dense", width=64, batch_size=32, max_epochs=1, device="cpu")
    module_class, kwargs = estimator._module_class_and_kwargs(10, 6)
    with torch.device("meta"):
        net = module_class(n_in=10, n_out=6, **kwargs)
    needed = memory.estimate_training_memory(net, 32, "nadam").total + 4 * 32 * 16
    budget = memory.estimate_training_memory(net, 8, "nadam").total + 4 * 32 * 16
    assert budget < needed
    monkeypatch.setattr(memory, "available_memory", lambda device: budget)
    built = []
    monkeypatch.setattr(glue.InMemoryNet, "initialize", lambda self: built.append(self))
    with pytest.raises(MemoryError, match=r"would run out of memory.*batch_size=(8|9) would fit"):
        estimator.fit(X, Y)
    assert built == []  # refused before any network was built
    assert not hasattr(estimator, "nets_")


def test_fit_that_fits_is_not_refused(monkeypatch):
    X, Y = _data()
    calls = []
    original = memory_guard.refuse_if_too_large
    monkeypatch.setattr(memory_guard, "refuse_if_too_large", lambda *a: calls.append(original(*a)))
    DGEXRegressor(arch="dense", width=8, max_epochs=1, device="cpu").fit(X, Y)
    assert len(calls) == 1 and calls[0].total > 0
