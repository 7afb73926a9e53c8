"""Shared test set-up for every folder of tests."""

import os
import sys

# Two xdist workers share 2 cores: one BLAS/torch thread each avoids oversubscription,
# which made small operations up to 8x slower. Set before numpy loads OpenBLAS.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import numpy as np
import pytest

from sklearn_dgex.datasets import make_expression

# The test modules live in folders by area and share _helpers.py and study_tables.py from here.
# pytest's default import mode puts this folder on the path because of this conftest.py, but
# --import-mode=importlib does not; adding it here keeps ``from _helpers import ...`` working.
_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
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


@pytest.fixture(scope="module")
def data():
    """Raw log2 expression: 40 profiles, 6 landmarks -> 5 targets (once per module).

    The persistence and reliability tests fit their tiny networks on it; their
    ``N_SAMPLES, N_FEATURES, N_TARGETS`` name the same sizes. A module that defines
    its own ``data`` fixture uses that one instead.
    """
    return make_expression(n_samples=40, n_landmarks=6, n_targets=5, random_state=0)
