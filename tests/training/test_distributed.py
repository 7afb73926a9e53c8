"""Sweeps on Dask and Ray: sklearn_dgex.distributed and the estimators on a cluster."""

import concurrent.futures
import importlib.util
import os

import joblib
import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

from sklearn_dgex import distributed as dist

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

# Bounds so that a broken cluster fails the test instead of hanging the suite.
CLUSTER_START_TIMEOUT_S = 60
SWEEP_TIMEOUT_S = 600
# The scheduler always serves HTTP (metrics, even without a dashboard); with
# dashboard_address=None it binds port 8787 on the scheduler's host, which for
# an in-process cluster is the machine's public address. Keep it on loopback.
LOOPBACK_HTTP = "127.0.0.1:0"

# Tiny D-GEX configurations: every architecture family the grid can reach, kept
# small enough that the whole sweep takes seconds.
DGEX_PARAMS = dict(
    width=16,
    n_hidden_layers=2,
    max_epochs=3,
    batch_size=16,
    random_state=0,
    device="cpu",
    linear_shortcut=False,  # the networks themselves, so that each configuration scores its own
)
DGEX_GRID = {"arch": ["t", "cr"], "towers": [1, 2]}


def _expression_like_data():
    rng = np.random.default_rng(0)
    X = rng.normal(6.0, 1.0, size=(48, 6)).astype(np.float32)
    Y = np.tanh(X @ rng.normal(0.0, 0.3, size=(6, 4))) + rng.normal(0.0, 0.05, size=(48, 4))
    return X, Y.astype(np.float32)


def _dgex_search(n_jobs):
    from sklearn_dgex import DGEXRegressor

    # The "pid" pseudo-score records which process ran each trial. A lambda is
    # pickled by value, so workers need not import this test module.
    scoring = {"r2": "r2", "pid": lambda estimator, X, y: float(os.getpid())}
    return GridSearchCV(
        DGEXRegressor(**DGEX_PARAMS), DGEX_GRID, cv=2, n_jobs=n_jobs, scoring=scoring, refit="r2"
    )


def _trial_pids(search):
    return {int(search.cv_results_[f"split{k}_test_pid"][i]) for k in range(2) for i in range(4)}


def _assert_same_scores_elsewhere(on_cluster, sequential):
    expected = sequential.cv_results_["mean_test_r2"]
    got = on_cluster.cv_results_["mean_test_r2"]
    assert np.all(np.isfinite(got))
    # Different configurations must score differently, or equality proves little.
    assert len(np.unique(np.round(expected, 6))) == len(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert on_cluster.best_params_ == sequential.best_params_
    assert _trial_pids(sequential) == {os.getpid()}
    assert os.getpid() not in _trial_pids(on_cluster), "trials ran in the test process"


def _in_dask_worker():
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def _fit_within(scheduler, search, X, Y, **backend_kwargs):
    """Fit ``search`` inside ``sweep_backend(scheduler)``, failing after SWEEP_TIMEOUT_S."""

    def run():
        # joblib's backend configuration is thread-local: enter it in this thread.
        with dist.sweep_backend(scheduler, **backend_kwargs):
            return search.fit(X, Y)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=SWEEP_TIMEOUT_S)


@pytest.fixture(scope="module")
def dask_cluster():
    """Two single-threaded worker processes on loopback, closed whatever happens."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=LOOPBACK_HTTP,
        timeout=CLUSTER_START_TIMEOUT_S,
    )
    try:
        yield cluster
    finally:
        cluster.close(timeout=30)


# -- scheduler specs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("local", ("local", None)),
        (None, ("local", None)),
        ("dask", ("dask", None)),
        ("ray", ("ray", None)),
        ("dask://10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786")),
        ("dask://scheduler.example.org:8786", ("dask", "tcp://scheduler.example.org:8786")),
        ("ray://head-node:10001", ("ray", "ray://head-node:10001")),
    ],
)
def test_parse_scheduler_forms(spec, expected):
    assert dist._parse_scheduler(spec) == expected


@pytest.mark.parametrize("spec", ["", "dask:/host:1", "dask://", "slurm://host:1", "dask://a b:1"])
def test_bad_scheduler_string_names_the_argument(spec):
    with pytest.raises(ValueError, match="scheduler must be one of"), dist.sweep_backend(spec):
        pass


def test_bad_scheduler_type_names_the_argument():
    with (
        pytest.raises(TypeError, match=r"scheduler must be one of .* type int"),
        dist.sweep_backend(8786),
    ):
        pass


@pytest.mark.parametrize("gpus", [-1, "1", True, float("nan")])
def test_bad_gpus_per_trial(gpus):
    with (
        pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"),
        dist.sweep_backend("dask://localhost:1", gpus_per_trial=gpus),
    ):
        pass


def test_local_backend_refuses_gpus_per_trial():
    with (
        pytest.raises(ValueError, match="LocalCUDACluster"),
        dist.sweep_backend("local", gpus_per_trial=1),
    ):
        pass


def test_local_backend_is_joblibs_process_pool():
    with dist.sweep_backend("local", n_jobs=2):
        backend, n_jobs = joblib.parallel.get_active_backend()
    assert type(backend).__name__ == "LokyBackend"
    assert n_jobs == 2
    with dist.sweep_backend("local"):
        _, n_jobs = joblib.parallel.get_active_backend()
    assert n_jobs in (None, 1)  # joblib's default: sequential unless n_jobs is given


def test_local_backend_runs_a_search():
    X, Y = _expression_like_data()
    grid = {"alpha": [0.1, 10.0]}
    sequential = GridSearchCV(Ridge(), grid, cv=2).fit(X, Y)
    with dist.sweep_backend("local"):
        in_block = GridSearchCV(Ridge(), grid, cv=2).fit(X, Y)
    np.testing.assert_allclose(
        in_block.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )


# -- what a trial does on its worker ----------------------------------------------------


def test_resolve_device_passes_available_devices_through(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    for device in ["cpu", "cuda", "cuda:1", "mps"]:
        assert dist.resolve_device(device) == device


def test_resolve_device_refuses_devices_the_worker_lacks(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device, seen in [("cuda", "no CUDA device"), ("cuda:1", "no CUDA"), ("mps", "no MPS")]:
        with pytest.raises(ValueError, match=f"device='{device}' was requested.*{seen}"):
            dist.resolve_device(device)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"only 2 CUDA device\(s\) are visible"):
        dist.resolve_device("cuda:2")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "CUDA", 0, None])
def test_resolve_device_rejects_unknown_devices(device):
    with pytest.raises(ValueError, match="device must be"):
        dist.resolve_device(device)


def test_resolve_device_auto_follows_cuda_availability(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dist.resolve_device("auto") == "cpu"
    # A worker's visible device 0 is its own GPU (dask-cuda and Ray set
    # CUDA_VISIBLE_DEVICES); before CUDA is initialised that is the current one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert dist.resolve_device("auto") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert dist.resolve_device("auto") == "cuda:3"


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_worker_torch_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        dist.worker_torch_threads(bad)


def test_worker_torch_threads_outside_workers_keeps_torch_setting():
    torch = pytest.importorskip("torch")
    assert dist.worker_torch_threads() == torch.get_num_threads()
    assert dist.worker_torch_threads(3) == 3


def test_worker_torch_threads_follows_dask_worker_share():
    # One worker with 2 threads: two CPU trials share its cores (1 thread each);
    # a trial holding the worker's only GPU runs alone and gets both.
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            resources={"GPU": 1},
            dashboard_address=LOOPBACK_HTTP,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        shared = client.submit(dist.worker_torch_threads, pure=False)
        alone = client.submit(dist.worker_torch_threads, resources={"GPU": 1}, pure=False)
        assert shared.result(timeout=30) == 1
        assert alone.result(timeout=30) == 2


def test_trial_scope_sets_and_restores_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with dist.trial_scope("cpu", n_threads=wanted) as device:
        assert device == "cpu"
        assert torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before


def test_free_gpu_memory_without_cuda_is_a_no_op():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU-only path")
    assert dist.free_gpu_memory() == 0


# -- sweeps on clusters -------------------------------------------------------------------


@pytest.mark.xdist_group("dask_cluster")
def test_dask_refuses_gpu_trials_without_gpu_workers(dask_cluster):
    search = GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=2)
    X, Y = _expression_like_data()
    with pytest.raises(ValueError, match="no Dask worker offers"):
        _fit_within(dask_cluster, search, X, Y, gpus_per_trial=1)


@pytest.mark.xdist_group("dask_cluster")
def test_dgex_grid_search_on_dask_equals_sequential(dask_cluster):
    X, Y = _expression_like_data()
    sequential = _dgex_search(n_jobs=None).fit(X, Y)
    on_cluster = _fit_within(dask_cluster, _dgex_search(n_jobs=-1), X, Y)
    _assert_same_scores_elsewhere(on_cluster, sequential)
    assert len(_trial_pids(on_cluster)) == 2  # both worker processes took trials


def test_dask_one_slot_cluster_still_runs_trials_on_the_cluster():
    # joblib runs a call in the calling process when the backend reports one
    # worker; a single-GPU dask-cuda cluster must still get the trials.
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=LOOPBACK_HTTP
        ) as cluster,
        dist.sweep_backend(cluster),
    ):
        where = joblib.Parallel(n_jobs=-1)(joblib.delayed(_in_dask_worker)() for _ in range(3))
    assert where == [True, True, True]


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (optional, ~260 MB: pip install ray); the Dask test covers "
    "the same path",
)
def test_dgex_grid_search_on_ray_equals_sequential():
    import ray
    import torch

    X, Y = _expression_like_data()
    sequential = _dgex_search(n_jobs=None).fit(X, Y)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=80 * 2**20,
        log_to_driver=False,
    )
    try:
        on_cluster = _fit_within("ray", _dgex_search(n_jobs=-1), X, Y)
        one_cpu_trial = ray.remote(num_cpus=1)(dist.worker_torch_threads)
        assert ray.get(one_cpu_trial.remote(), timeout=60) == 1
        two_cpu_trial = ray.remote(num_cpus=2)(dist.worker_torch_threads)
        assert ray.get(two_cpu_trial.remote(), timeout=60) == 2
        assert dist.worker_torch_threads() == torch.get_num_threads()  # the driver
        # Room for one trial only (2 CPUs each on a 2-CPU instance, as one GPU
        # would be): the trials must still run in a Ray actor, not here.
        one_slot = dist._make_ray_backend({"num_cpus": 2})
        with joblib.parallel_config(backend=one_slot, n_jobs=-1):
            pids = joblib.Parallel()(joblib.delayed(os.getpid)() for _ in range(3))
    finally:
        ray.shutdown()
    _assert_same_scores_elsewhere(on_cluster, sequential)
    assert os.getpid() not in pids


# -- the "Sweeps on a cluster" page ---------------------------------------------------------


def test_docs_page_code_compiles_and_names_exist():
    import ast
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "distributed.rst"
    text = page.read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    assert len(blocks) >= 5
    for block in blocks:
        tree = ast.parse("\n".join(line[3:] for line in block.splitlines()))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "sklearn_dgex.distributed":
                for alias in node.names:
                    assert hasattr(dist, alias.name), alias.name
    for name in re.findall(r":func:`~sklearn_dgex\.distributed\.(\w+)`", text):
        assert name in dist.__all__, name
