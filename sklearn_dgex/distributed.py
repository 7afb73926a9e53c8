"""Hyperparameter sweeps of the estimators on Dask and Ray clusters.

scikit-learn already knows how to spread a sweep: ``GridSearchCV(n_jobs=...)``
hands its trials to joblib, and joblib hands them to whatever backend is active.
This module adds no scheduler of its own; it is a thin, documented layer over
joblib's own ``"dask"`` and ``"ray"`` backends:

- :func:`sweep_backend` opens the right backend from a single string
  (``"local"``, ``"dask://HOST:PORT"``, ``"ray://HOST:PORT"``) or a Dask
  client, optionally giving every trial its own GPU;
- :func:`resolve_device`, :func:`worker_torch_threads`, :func:`free_gpu_memory`
  and :func:`trial_scope` are what a trial does on the worker: pick the
  worker's own device, size torch's thread pool to the worker's share of the
  cores, and hand cached GPU memory back when training ends.

Dask (``dask[distributed]``, the ``[distributed]`` extra) and Ray are optional:
they are imported only when a scheduler asks for them. torch is imported only
by the functions that act on a trial.

See the "Sweeps on a cluster" page of the documentation for recipes (Dask,
dask-cuda, Ray) and pitfalls.
"""

import contextlib
import gc
import logging
import math
import re
import sys
from numbers import Integral, Real

import joblib

from ._optional import import_optional
from ._torch import device as _device

__all__ = [
    "free_gpu_memory",
    "resolve_device",
    "sweep_backend",
    "trial_scope",
    "worker_torch_threads",
]

logger = logging.getLogger(__name__)

_SCHEDULER_FORMS = (
    '"local", "dask", "dask://HOST:PORT", "ray", "ray://HOST:PORT", '
    "a dask.distributed.Client or a Dask cluster object"
)
_HOST_PORT = re.compile(r"^[^\s/:]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$")


def _parse_scheduler(scheduler):
    """Split a scheduler spec into ``(kind, target)``.

    kind is "local", "dask" or "ray"; target is None (use what is running or
    start locally), an address string, or a Dask client / cluster object.
    """
    if scheduler is None or (isinstance(scheduler, str) and scheduler == "local"):
        return "local", None
    if isinstance(scheduler, str):
        if scheduler in ("dask", "ray"):
            return scheduler, None
        for kind, scheme in (("dask", "dask://"), ("ray", "ray://")):
            if scheduler.startswith(scheme):
                host_port = scheduler[len(scheme) :]
                if not _HOST_PORT.match(host_port):
                    break
                # Dask speaks tcp:// on the wire; Ray's client keeps its ray:// scheme.
                return kind, ("tcp://" if kind == "dask" else "ray://") + host_port
        raise ValueError(f"scheduler must be one of {_SCHEDULER_FORMS}; got {scheduler!r}.")
    if _is_dask_client(scheduler) or hasattr(scheduler, "scheduler_address"):
        return "dask", scheduler
    raise TypeError(
        f"scheduler must be one of {_SCHEDULER_FORMS}; got an object of type "
        f"{type(scheduler).__name__}."
    )


def _is_dask_client(obj):
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(obj, distributed.Client)


def _check_gpus_per_trial(gpus_per_trial):
    if (
        isinstance(gpus_per_trial, bool)
        or not isinstance(gpus_per_trial, Real)
        or not gpus_per_trial >= 0
    ):
        raise ValueError(
            f"gpus_per_trial must be a number >= 0 (0: CPU trials); got {gpus_per_trial!r}."
        )


@contextlib.contextmanager
def sweep_backend(scheduler="local", *, gpus_per_trial=0, n_jobs=None, wait_for_workers_timeout=30):
    """Run the joblib-parallel work inside the block on a local pool, Dask or Ray.

    Wrap ``GridSearchCV(...).fit``, ``cross_validate`` or any other
    scikit-learn call that takes ``n_jobs`` in this context manager to send
    its trials to a cluster. Each trial (one fit and score of one candidate on
    one fold) becomes one Dask task or one Ray actor call; the estimator and
    the data are pickled to the worker, so the estimator must be importable
    there (see Notes).

    Parameters
    ----------
    scheduler : str, dask.distributed.Client or Dask cluster, default="local"
        Where the trials run:

        - ``"local"`` or None: joblib's own process pool (loky) on this machine.
        - ``"dask://HOST:PORT"``: connect a new ``dask.distributed.Client`` to
          the scheduler at ``tcp://HOST:PORT`` (closed on exit).
        - ``"dask"``: the Dask client already made in this process.
        - a ``Client``, or a cluster object such as ``LocalCluster`` or
          dask-cuda's ``LocalCUDACluster`` (a client to it is opened and closed).
        - ``"ray://HOST:PORT"``: connect to a Ray cluster through Ray Client.
        - ``"ray"``: the Ray runtime already initialised in this process, else
          the cluster named by ``RAY_ADDRESS``, else a new local Ray instance.
          Ray is shut down on exit only when it was started here.
    gpus_per_trial : float, default=0
        GPUs reserved by each trial. Dask: submitted with
        ``resources={"GPU": gpus_per_trial}``, so the workers must declare a
        ``GPU`` resource (``dask worker --resources GPU=1`` or
        ``LocalCUDACluster(resources={"GPU": 1})``). Ray: the pool actors ask
        for ``num_gpus=gpus_per_trial`` and Ray sets ``CUDA_VISIBLE_DEVICES``
        for each. Not available with ``"local"``, whose processes all see the
        same devices.
    n_jobs : int, default=None
        Default number of concurrent trials for calls made with
        ``n_jobs=None``. None: all the cluster's slots for Dask and Ray (-1),
        and joblib's own default (1, sequential) for ``"local"``. An explicit
        ``n_jobs`` given to ``GridSearchCV`` takes precedence, as joblib decides.
    wait_for_workers_timeout : float, default=30
        Seconds to wait for at least one Dask worker before failing.

    Yields
    ------
    None
        The backend is active for joblib inside the ``with`` block.

    Raises
    ------
    ValueError
        If ``scheduler`` is not one of the forms above, ``gpus_per_trial`` is
        negative, or no Dask worker offers the requested GPU resource.
    ImportError
        If the scheduler needs Dask or Ray and it is not installed.

    See Also
    --------
    trial_scope : What a trial does on its worker (device, threads, memory).
    joblib.parallel_config : The joblib context this function enters.

    Notes
    -----
    - Trials are pickled to the workers: estimator classes and any torch
      module class they reference must live in an importable module (the
      estimators of this package do), not in ``__main__`` or a notebook cell,
      and the workers must have the same version of this package installed.
    - With Ray and ``gpus_per_trial > 0``, ``n_jobs=-1`` means as many
      concurrent trials as the cluster has GPUs for (joblib's Ray backend
      would otherwise start one actor per CPU and wait forever for GPUs).
    - joblib runs a call in the calling process when its backend reports a
      single worker; the backends opened here report at least two, so that a
      one-GPU cluster still runs the trials on its worker, one at a time.
    - On exit from a Dask block, :func:`free_gpu_memory` runs on every
      worker, so that no worker keeps GPU memory cached after the sweep.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_dgex.distributed import sweep_backend
    >>> X = [[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]
    >>> y = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    >>> search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2)
    >>> with sweep_backend("local"):
    ...     _ = search.fit(X, y)
    >>> search.best_params_
    {'alpha': 0.1}

    On a Dask cluster (not run here)::

        with sweep_backend("dask://scheduler.example.org:8786", gpus_per_trial=1):
            search.fit(X, Y)
    """
    _check_gpus_per_trial(gpus_per_trial)
    kind, target = _parse_scheduler(scheduler)
    if kind == "local":
        if gpus_per_trial:
            raise ValueError(
                "gpus_per_trial needs a cluster that gives each worker its own GPU; "
                "joblib's local processes all see the same devices. Use "
                'dask_cuda.LocalCUDACluster(resources={"GPU": 1}) or scheduler="ray".'
            )
        with joblib.parallel_config(backend="loky", n_jobs=n_jobs):
            yield
        return
    n_jobs = -1 if n_jobs is None else n_jobs
    if kind == "dask":
        with _dask_backend(target, gpus_per_trial, n_jobs, wait_for_workers_timeout):
            yield
    else:
        with _ray_backend(target, gpus_per_trial, n_jobs):
            yield


@contextlib.contextmanager
def _dask_backend(target, gpus_per_trial, n_jobs, wait_for_workers_timeout):
    distributed = import_optional(
        "distributed", "The Dask scheduler", install="'dask[distributed]'", extra="distributed"
    )
    with contextlib.ExitStack() as stack:
        if target is None:
            client = distributed.get_client()
        elif _is_dask_client(target):
            client = target
        else:  # an address or a cluster object: our own client, closed on exit
            client = distributed.Client(target, set_as_default=False)
            stack.callback(client.close)
        submit_kwargs = {}
        if gpus_per_trial:
            _check_dask_gpu_resource(client, gpus_per_trial, wait_for_workers_timeout)
            submit_kwargs["resources"] = {"GPU": gpus_per_trial}
        # Registered callbacks run last-in first-out: free memory before closing.
        stack.callback(_free_gpu_memory_on_workers, client)
        backend = _make_dask_backend(
            client=client, wait_for_workers_timeout=wait_for_workers_timeout, **submit_kwargs
        )
        stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=n_jobs))
        yield


def _make_dask_backend(**kwargs):
    """joblib's Dask backend, never falling back to this process on a one-slot cluster."""
    from joblib._dask import DaskDistributedBackend

    class _ClusterOnlyDaskBackend(DaskDistributedBackend):
        # joblib runs a call in the calling process when the backend reports
        # one worker (one dask-cuda worker on a single-GPU machine, say): the
        # trials would silently train on the client's devices. Reporting two
        # keeps them on the cluster, whose scheduler queues them.
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    return _ClusterOnlyDaskBackend(**kwargs)


def _check_dask_gpu_resource(client, gpus_per_trial, timeout):
    # A task whose resources no worker offers waits forever; fail fast instead.
    client.wait_for_workers(1, timeout=timeout)
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    offered = [w.get("resources", {}).get("GPU", 0) for w in workers]
    if max(offered, default=0) < gpus_per_trial:
        raise ValueError(
            f"gpus_per_trial={gpus_per_trial} but no Dask worker offers that many GPU "
            f"resources (offered: {offered}). Start workers with "
            '`dask worker ADDRESS --resources "GPU=1"` or '
            'dask_cuda.LocalCUDACluster(resources={"GPU": 1}).'
        )


def _free_gpu_memory_on_workers(client):
    # Best effort: a failure here must not hide an error raised by the sweep.
    try:
        client.run(free_gpu_memory)
    except Exception as exc:
        logger.warning("could not free GPU memory on the Dask workers: %s", exc)


@contextlib.contextmanager
def _ray_backend(target, gpus_per_trial, n_jobs):
    ray = import_optional("ray", "The Ray scheduler")
    with contextlib.ExitStack() as stack:
        if not ray.is_initialized():
            # address=None: RAY_ADDRESS if set, else a new local instance.
            ray.init(address=target)
            stack.callback(ray.shutdown)
        remote_args = {"num_cpus": 1}
        if gpus_per_trial:
            remote_args["num_gpus"] = gpus_per_trial
        backend = _make_ray_backend(remote_args)
        stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=n_jobs))
        yield


def _make_ray_backend(ray_remote_args):
    """joblib's Ray backend, with ``n_jobs`` capped to the trials the cluster can host."""
    import ray
    from ray.util.joblib.ray_backend import RayBackend

    class _SlotCappedRayBackend(RayBackend):
        # RayBackend turns n_jobs=-1 into one pool actor per CPU; actors that ask
        # for a GPU the cluster lacks then never start, and the sweep hangs.
        def _slots(self):
            resources = ray.cluster_resources()
            slots = math.inf
            for key, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
                need = (self.ray_remote_args or {}).get(key)
                if need:
                    slots = min(slots, math.floor(resources.get(resource, 0) / need))
            if slots < 1:
                raise ValueError(
                    f"the Ray cluster ({resources}) cannot host one trial asking for "
                    f"{self.ray_remote_args}."
                )
            return slots

        def _capped(self, n_jobs):
            slots = self._slots()
            if n_jobs is None or n_jobs == 0:
                return 1
            if n_jobs < 0:
                return max(1, slots + 1 + n_jobs)
            return min(n_jobs, slots)

        def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **kwargs):
            slots = self._capped(n_jobs)
            if slots > 1 or n_jobs == 1:
                return super().configure(slots, parallel, prefer, require, **kwargs)
            # One slot (say, one GPU): joblib would run every trial in this
            # process, on this machine's devices. Build the one-actor pool it
            # refuses to build and report two workers: the pool queues the
            # trials on its actor.
            from joblib.pool import MemmappingPool, PicklingPool
            from ray.util.multiprocessing.pool import Pool

            PicklingPool.__bases__ = (Pool,)  # what RayBackend.configure does too
            self._pool = MemmappingPool(
                1, ray_remote_args=self.ray_remote_args, **self.backend_kwargs
            )
            self.parallel = parallel
            return 2

        def effective_n_jobs(self, n_jobs):
            return max(2, self._capped(n_jobs)) if n_jobs != 1 else 1

    return _SlotCappedRayBackend(ray_remote_args=ray_remote_args)


# -- what a trial does on its worker -------------------------------------------------


def resolve_device(device="auto"):
    """Return the torch device a trial should train on, as a string.

    ``"auto"`` picks the worker's own GPU when it sees one, else the CPU.
    Cluster tools give each GPU worker its device by setting
    ``CUDA_VISIBLE_DEVICES`` (dask-cuda puts the worker's own GPU first, Ray
    lists only the GPUs it assigned), so "the worker's own GPU" is visible
    device 0, or the device selected with ``torch.cuda.set_device``. Call this
    in ``fit``, on the worker, never in ``__init__`` or on the client, whose
    devices may differ. The estimators resolve their ``device`` by the same
    rule.

    Parameters
    ----------
    device : str, default="auto"
        ``"auto"``, ``"cpu"``, ``"mps"``, ``"cuda"`` or ``"cuda:N"``. Anything
        but ``"auto"`` is returned unchanged when this machine has it.

    Returns
    -------
    device : str
        ``"cuda:N"`` or ``"cpu"`` for ``"auto"``; otherwise ``device``.

    Raises
    ------
    ValueError
        If ``device`` is not one of the forms above, or names a CUDA or MPS
        device that torch does not see on this worker.

    See Also
    --------
    trial_scope : Resolves the device, sizes threads and frees GPU memory.

    Examples
    --------
    >>> from sklearn_dgex.distributed import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") in {"cpu", "cuda:0"}
    True
    """
    return _device.resolve_device(device)


def worker_torch_threads(n_threads=None):
    """Number of torch threads a trial should use on this worker.

    torch sizes its thread pool from the whole machine (or from
    ``OMP_NUM_THREADS``), not from the share a cluster gave this worker;
    several trials on one machine then fight over the same cores. The share is:

    1. ``n_threads``, when given;
    2. inside a Dask task: the worker's ``nthreads`` divided by the number of
       trials that can run on it at once (``nthreads``, or fewer when the
       task's resources, such as one ``GPU``, allow fewer), at least 1;
    3. inside a Ray task or actor: the CPUs Ray assigned to it (at least 1);
    4. elsewhere (a sequential run, joblib's local processes, which set
       ``OMP_NUM_THREADS`` themselves): torch's current setting, unchanged.

    Parameters
    ----------
    n_threads : int, default=None
        Explicit number of threads; overrides the detection.

    Returns
    -------
    n_threads : int
        The number of threads, at least 1.

    Raises
    ------
    ValueError
        If ``n_threads`` is given and is not a positive integer.

    See Also
    --------
    trial_scope : Applies this number for the duration of a fit.

    Examples
    --------
    >>> from sklearn_dgex.distributed import worker_torch_threads
    >>> worker_torch_threads(2)
    2
    >>> worker_torch_threads() >= 1
    True
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer; got {n_threads!r}.")
        return int(n_threads)
    for detect in (_dask_worker_threads, _ray_worker_threads):
        detected = detect()
        if detected is not None:
            return detected
    import torch

    return torch.get_num_threads()


def _dask_worker_threads():
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not running inside a Dask task
        return None
    state = worker.state
    nthreads = state.nthreads
    concurrent = nthreads
    task = state.tasks.get(worker.get_current_task())
    restrictions = getattr(task, "resource_restrictions", None) or {}
    for resource, need in restrictions.items():
        total = state.total_resources.get(resource, 0)
        if need > 0:
            concurrent = min(concurrent, max(1, math.floor(total / need)))
    return max(1, nthreads // concurrent)


def _ray_worker_threads():
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    try:
        context = ray.get_runtime_context()
        if context.worker.mode != ray.WORKER_MODE:
            return None  # the driver, not a task or an actor
        cpus = context.get_assigned_resources().get("CPU")
    except (AttributeError, RuntimeError):  # e.g. a Ray Client driver has no local worker
        return None
    # Ray's own rule for OMP_NUM_THREADS: floor of the assigned CPUs, at least 1.
    return max(1, math.floor(cpus or 1))


def free_gpu_memory():
    """Release the GPU memory that torch keeps cached in this process.

    torch's caching allocator keeps freed blocks reserved for reuse; on a
    shared worker that memory stays unavailable to the next trial's process,
    to other users, and to ``nvidia-smi``. This runs the garbage collector
    (so that dead models release their tensors) and empties the cache. It
    does nothing when torch is not imported or CUDA was never used.

    Returns
    -------
    reserved : int
        Bytes still reserved by torch on the current device afterwards (memory
        of live tensors); 0 without CUDA.

    See Also
    --------
    trial_scope : Calls this when a fit ends.

    Examples
    --------
    >>> from sklearn_dgex.distributed import free_gpu_memory
    >>> free_gpu_memory() >= 0
    True
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return 0
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    return int(torch.cuda.memory_reserved())


@contextlib.contextmanager
def trial_scope(device="auto", n_threads=None):
    """Set up one training run on whatever worker it landed on.

    Meant for an estimator's ``fit``: resolves ``device`` on the worker
    (:func:`resolve_device`), sets torch's threads to the worker's share of
    the cores (:func:`worker_torch_threads`) and restores them afterwards,
    and, on a GPU, hands cached memory back (:func:`free_gpu_memory`) on entry
    (what earlier trials on this worker left) and on exit.

    Parameters
    ----------
    device : str, default="auto"
        The estimator's ``device`` parameter.
    n_threads : int, default=None
        Explicit torch thread count; None detects the worker's share.

    Yields
    ------
    device : str
        The resolved device, e.g. ``"cuda:0"`` or ``"cpu"``.

    See Also
    --------
    sweep_backend : Sends the trials to the workers.

    Examples
    --------
    >>> import torch
    >>> from sklearn_dgex.distributed import trial_scope
    >>> with trial_scope("cpu", n_threads=1) as device:
    ...     inside = torch.get_num_threads()
    >>> device, inside
    ('cpu', 1)
    """
    resolved = resolve_device(device)
    threads = worker_torch_threads(n_threads)
    import torch

    if resolved.startswith("cuda"):
        # A previous trial's model may still sit in a reference cycle on this
        # worker: collect it before this one allocates, not after an OOM.
        free_gpu_memory()
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield resolved
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
        if resolved.startswith("cuda"):
            free_gpu_memory()
