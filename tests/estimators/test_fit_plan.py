"""A fit resolves its plan once: each network's width is solved once per block size."""

import numpy as np
import pytest

from sklearn_dgex import DGEXRegressor
from sklearn_dgex._fit.plan import MemberSeeds
from sklearn_dgex.nn import budget


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((60, 8)), rng.standard_normal((60, 7))


@pytest.mark.parametrize(("n_target_splits", "block_sizes"), [(1, [7]), (2, [4, 3]), (7, [1])])
def test_the_width_is_solved_once_per_block_size(monkeypatch, data, n_target_splits, block_sizes):
    X, Y = data
    solve_width, solved = budget.solve_width, []

    def counting(n_in, n_out, **kwargs):
        solved.append(n_out)
        return solve_width(n_in, n_out, **kwargs)

    monkeypatch.setattr(budget, "solve_width", counting)
    model = DGEXRegressor(
        arch="cr", towers=2, max_epochs=1, n_target_splits=n_target_splits, random_state=0
    )
    model.fit(X, Y)
    assert solved == block_sizes
    # width_ is that of the first, widest network, as it was built.
    assert model.nets_[0].get_params_for("module")["width"] == model.width_


def test_member_seeds_read_the_networks_seeds_then_the_split_seed():
    seeds = MemberSeeds.from_row(np.array([11, 12, 13], dtype=np.int64))
    assert seeds.networks == (11, 12) and seeds.split == 13
    assert all(type(seed) is int for seed in (*seeds.networks, seeds.split))
    assert seeds.as_row() == [11, 12, 13]
