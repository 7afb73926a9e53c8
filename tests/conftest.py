"""Shared test set-up."""

import os

import numpy as np
import pytest

# Two xdist workers share 2 cores: one torch thread each avoids oversubscription.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # metrics and stats tests run without torch
        pass

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def shared_data_dir():
    """Path of ``../shared/data`` beside the checkout; skips the test when absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def rng():
    return np.random.default_rng(0)
