"""How many cores' worth of compute the node really has: its *effective cores*.

``nproc`` counts what the operating system offers, not what runs at once. On a VM whose
two vCPUs are hyperthreads of one core, or share one core's time slice, two busy
processes each run at half speed: the node has two vCPUs and one effective core. The
simulator shares a node's effective cores among the CPU ranks that compute at the same
moment (:mod:`gnnsim.sim.cpu`), so calibration times kernels alone and measures the
capacity once, here:

1. time a fixed training-like load (:func:`gnnsim.calibrate.twin.training_like_step`)
   alone, pinned as trainer 0;
2. start ``k`` twins running the same load on the other trainers' cores, and time the
   load again beside them;
3. time it alone once more (the mean of 1 and 3 cancels a slow drift of the machine).

With ``k + 1`` processes of ``threads`` threads each, every one gets
``capacity / (k + 1)`` cores while all are busy, so

    capacity = (k + 1) x threads x alone / together     (in cores)

The result is recorded in the calibrated profile as ``cpu_sharing`` with the demand the
measurement put on the machine (``demand_cores``, ``(k + 1) x threads`` up to the cores
this process may use). A capacity close to the demand means the cores do not interfere;
the measurement cannot see further than the demand (two processes on a 64-core host
measure at most two cores).
"""

from __future__ import annotations

import os
import time

import numpy as np

from gnnsim.calibrate.twin import training_like_step, twins
from gnnsim.realrun.affinity import pinned

ROUND_S = 0.25  # each timed round runs the load for about this long alone
ROUNDS = 5  # timed rounds per condition; the median is kept


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _round_times(step, steps: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    return times


def effective_cores(processes: int, threads: int, alone_s: float, together_s: float) -> float:
    """Cores' worth of compute that ``processes`` busy processes of ``threads`` threads
    shared, from one process's time alone and beside the others.

    >>> effective_cores(2, 1, 1.0, 2.0)   # two processes, each at half speed: one core
    1.0
    >>> effective_cores(2, 1, 1.0, 1.0)   # no slow-down: both cores
    2.0
    """
    return processes * threads * alone_s / together_s


def measure_capacity(others: int, threads: int, quick: bool = False, progress=print) -> dict:
    """Time the load alone and beside ``others`` twins; return the ``cpu_sharing`` block.

    This process pins itself as trainer 0 for the measurement, like the kernel
    benchmarks, so the twins land on the other trainers' cores.
    """
    if others < 1:
        raise ValueError("measure_capacity needs at least one twin (others >= 1)")
    processes = others + 1
    demand = min(processes * threads, usable_cores())
    with pinned(0, threads):
        alone_s, together_s = _alone_and_together(others, threads, quick, progress)
    capacity = effective_cores(processes, threads, alone_s, together_s)
    progress(f"{capacity:.2f} effective cores for {processes} processes of {threads} thread(s) "
             f"({alone_s * 1e3:.2f} ms a step alone, {together_s * 1e3:.2f} ms together)")
    return {"effective_cores": float(f"{capacity:.3g}"), "demand_cores": demand, "processes": processes,
            "threads": threads, "alone_ms": float(f"{alone_s * 1e3:.4g}"),
            "together_ms": float(f"{together_s * 1e3:.4g}")}


def _alone_and_together(others: int, threads: int, quick: bool, progress) -> tuple[float, float]:
    """Seconds per load step alone (before and after) and beside ``others`` twins."""
    import torch

    torch.set_num_threads(threads)
    step = training_like_step()
    for _ in range(3):  # warm up allocator and caches
        step()
    start = time.perf_counter()
    step()
    per_step = time.perf_counter() - start
    steps = max(3, int(ROUND_S / max(per_step, 1e-6)))
    rounds = 3 if quick else ROUNDS
    progress(f"calibrate: node capacity: a training-like load alone and beside {others} busy twin(s) ...",
             end=" ", flush=True)
    before = _round_times(step, steps, rounds)
    with twins(others, threads):
        together = _round_times(step, steps, rounds)
    after = _round_times(step, steps, rounds)
    return float(np.median(before + after)) / steps, float(np.median(together)) / steps
