"""How many cores' worth of compute the node really has: its *effective cores*.

``nproc`` counts what the operating system offers, not what runs at once. On a VM whose
two vCPUs are hyperthreads of one core, or whose host grants it one core's time, two
busy processes each run at half speed: the node has two vCPUs and one effective core.
The simulator shares a node's effective cores among the CPU work that runs at the same
moment (:mod:`gnnsim.sim.cpu`), so calibration times kernels alone and measures the
capacity once, here.

1. start ``k`` twins running a fixed training-like load
   (:func:`gnnsim.calibrate.twin.training_like_step`) on the other trainers' cores;
2. time the same load, pinned as trainer 0, in rounds that alternate between the twins
   paused (alone) and running (together), so that a slow drift of the machine (other
   VMs on the host) hits both alike; keep the median of each pair's slow-down (together
   over alone), pooled over the pairs timed at the start and at the end of a calibration
   (the capacity itself drifts).

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
import signal
import time

import numpy as np

from gnnsim.calibrate.twin import training_like_step, twins
from gnnsim.realrun.affinity import pinned

ROUND_S = 0.2  # each timed round runs the load for about this long alone
# Timed rounds per condition, the median of the pairs' slow-downs kept: adjacent rounds
# share the machine's phase, and 12 pairs outvote a few seconds of a slow one
ROUNDS = 12


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _steps_per_round(step, round_s: float) -> int:
    """Warm ``step`` up (allocator and caches), then how many steps fill ``round_s``."""
    for _ in range(3):
        step()
    start = time.perf_counter()
    step()
    return max(3, int(round_s / max(time.perf_counter() - start, 1e-6)))


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


def measure_capacity(others: int, threads: int, quick: bool = False, progress=print,
                     earlier: list[tuple[float, float]] | None = None) -> dict:
    """Time the load alone and beside ``others`` twins; return the ``cpu_sharing`` block.

    ``earlier`` holds (alone, together) step seconds of round pairs timed before
    (:func:`capacity_rounds`, e.g. at the start of a calibration): they are pooled with
    this measurement's, so that the capacity speaks for more than one moment. This
    process pins itself as trainer 0 while it times, like the kernel benchmarks, and the
    twins pin themselves to the other trainers' cores.
    """
    processes = others + 1
    demand = min(processes * threads, usable_cores())
    progress(f"calibrate: node capacity: a training-like load alone and beside {others} busy twin(s) ...",
             end=" ", flush=True)
    pairs = list(earlier or []) + capacity_rounds(others, threads, quick)
    alone_s, together_s = pooled(pairs)
    capacity = effective_cores(processes, threads, alone_s, together_s)
    slowdowns = [t / a for a, t in pairs]
    progress(f"{capacity:.2f} effective cores for {processes} processes of {threads} thread(s) "
             f"({alone_s * 1e3:.2f} ms a step alone, {together_s * 1e3:.2f} ms together; "
             f"{len(pairs)} round pairs, slow-down {min(slowdowns):.2f}-{max(slowdowns):.2f})")
    return {"effective_cores": float(f"{capacity:.3g}"), "demand_cores": demand, "processes": processes,
            "threads": threads, "alone_ms": float(f"{alone_s * 1e3:.4g}"),
            "together_ms": float(f"{together_s * 1e3:.4g}")}


def pooled(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Step seconds alone (the median round) and together (that times the median
    slow-down of a round beside the twins over the round alone just before it): adjacent
    rounds share the machine's phase, so a drift between them cancels.

    >>> pooled([(2.0, 4.0), (1.0, 2.2), (2.0, 4.4), (9.0, 9.0)])
    (2.0, 4.2)
    """
    alone = np.array([a for a, _ in pairs])
    together = np.array([t for _, t in pairs])
    alone_s = float(np.median(alone))
    return alone_s, alone_s * float(np.median(together / alone))


def capacity_rounds(others: int, threads: int, quick: bool = False) -> list[tuple[float, float]]:
    """Seconds per load step alone and beside ``others`` busy twins, one (alone,
    together) pair per round, the rounds alternating.

    The twins run throughout and are paused (SIGSTOP) for the rounds alone, so a slow
    drift of the machine (other VMs on the host) hits both conditions alike. They are
    started before this process pins itself as trainer 0: a child inherits its parent's
    affinity, and twins started from a pinned process would all land on trainer 0's
    cores and measure one core shared by all, whatever the machine."""
    import torch

    if others < 1:
        raise ValueError("the capacity measurement needs at least one twin (others >= 1)")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rounds = 4 if quick else ROUNDS
    try:
        with twins(others, threads) as procs, pinned(0, threads):
            step = training_like_step()
            _pause(procs, True)
            steps = _steps_per_round(step, ROUND_S)
            pairs = []
            for _ in range(rounds):
                _pause(procs, True)
                alone = _round_times(step, steps, 1)[0]
                _pause(procs, False)
                pairs.append((alone / steps, _round_times(step, steps, 1)[0] / steps))
    finally:
        torch.set_num_threads(old_threads)
    return pairs


def _pause(procs, stop: bool) -> None:
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGSTOP if stop else signal.SIGCONT)


TURN_PROCESSES_PER_CORE = 2  # busy processes per core block when the turns' cost is measured


def turn_slowdown(world: int, threads: int, quick: bool = False) -> float:
    """The training-like load's median slow-down (together over alone) with
    :data:`TURN_PROCESSES_PER_CORE` busy processes on each of ``world`` core blocks of
    ``threads`` cores, pinned round-robin as a real run pins more trainers than cores;
    alone, the others are paused (:func:`capacity_rounds`)."""
    with pinned(0, world * threads):  # the twins inherit these cores and share them
        pairs = capacity_rounds(TURN_PROCESSES_PER_CORE * world - 1, threads, quick)
    alone_s, together_s = pooled(pairs)  # together: alone times the median slow-down
    return together_s / alone_s


def turn_speed(slowdown: float, alone_slowdown: float = 1.0, per_core: int = TURN_PROCESSES_PER_CORE) -> float:
    """The speed, against its speed with a core to itself, at which a process computes on
    a core that ``per_core`` busy processes share in turns, from their slow-down
    ``slowdown`` and the one with a busy process on every core (``alone_slowdown``,
    the capacity measurement's together over alone): fair turns alone would make it
    ``per_core x alone_slowdown``; the rest is the turns' cost (each turn starts with
    caches full of the other process's data).

    >>> round(turn_speed(2.5), 6), round(turn_speed(2.5, 1.05), 6)
    (0.8, 0.84)
    >>> turn_speed(1.9)   # no slower than fair turns: full speed
    1.0
    """
    return min(1.0, per_core * alone_slowdown / slowdown)


def reference_step_s(threads: int = 1, rounds: int = 5, round_s: float = 0.1) -> float:
    """Seconds per step of the training-like load alone on trainer 0's cores, measured as
    ``cpu_sharing.alone_ms`` is (the median of rounds' means), but without twins.

    Timed again long after a calibration, the ratio to that ``alone_ms`` says how much
    faster or slower the machine runs now (other VMs on the host) than when it was
    calibrated: the validation harness times it before and after each real run.
    """
    import torch

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with pinned(0, threads):
            step = training_like_step()
            steps = _steps_per_round(step, round_s)
            times = _round_times(step, steps, rounds)
    finally:
        torch.set_num_threads(old_threads)
    return float(np.median(times)) / steps

