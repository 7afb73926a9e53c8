"""The machine a benchmark ran on, described in one line by every script."""

import math
import os
import platform


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    """The 1-minute load average, NaN where the system keeps none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def machine_description(device="cpu", *, load=False):
    """One line: system, CPU, cores, Python, NumPy and torch versions, torch threads, GPU.

    Parameters
    ----------
    device : str, default="cpu"
        The device the benchmark runs on; a CUDA device adds the GPU's name.
    load : bool, default=False
        Add the 1-minute load average, which says whether other processes
        competed for the cores when timings were taken.

    Returns
    -------
    str
        For example ``"Linux-6.18.0-x86_64-with-glibc2.41, AMD EPYC 7B13, 2 CPU cores,
        Python 3.12.3, NumPy 2.4.0, torch 2.13.0+cpu (2 threads), load average 1.4"``.
    """
    import numpy as np
    import torch

    text = (
        f"{platform.platform()}, {cpu_model()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if str(device).startswith("cuda") and torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(torch.device(device))}"
    if load:
        text += f", load average {load_average():.1f}"
    return text
