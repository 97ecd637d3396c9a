"""How much slower a core computes right after it sat idle: the warm-up after idling.

A trainer that waits at a collective leaves its core idle. When it computes again, the
first milliseconds of work run slower: the core's clock, caches and the hypervisor's
scheduling have to come back, within milliseconds of work.

Runs whose ranks wait long (slow links, stalled collectives) pay this in the compute
that follows each wait. The kernel benchmarks run back to back and never see it.

The calibration sleeps for each of a few idle times, then runs a fixed op (the
training-like step, :func:`probe_op`) back to back for ``BUSY_S``. Each stretch's extra time is its calls' time over the steady
per-call time, minus the same stretch run with no idle before it (medians of the
repeats). From these it fits:
- ``extra(idle) = max (1 - exp(-idle / idle_scale))``;
- ``ramp``: the work time over which the extra is paid. After ``b`` seconds of busy
  work, ``exp(-b / ramp)`` of it is still to pay.

The simulator charges it to the CPU work that follows an idle core
(:class:`gnnsim.sim.cpu.HostCpus`).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import least_squares

from gnnsim.realrun.affinity import pinned

IDLES_S = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1)  # how long the core sits idle before the work
BUSY_S = 0.03  # how long the op then runs back to back
FIRST_S = 0.005  # the first stretch of work (what benchmarks/idle_warmup.py also prints)
REPEATS = 12  # stretches per idle time (the median is kept; ~4 s in all, --quick too: fewer were unstable)


def small_op():
    """relu of a 2000x64 @ 64x64 GEMM: ~0.1 ms on one core, a working set of 0.5 MB."""
    import torch

    x, w = torch.randn(2000, 64), torch.randn(64, 64)
    return lambda: torch.relu(x @ w)


def probe_op():
    """What the calibration times: the training-like step (:func:`training_like_step`,
    ~3 ms, a sampled block's aggregation, projection and activation). Its working set
    (~20 MB) pays far more after idling than a small op's: +0.8-2.1 ms after 30 ms idle
    against +0.3-0.45 ms (two runs each), as a training stage does."""
    from gnnsim.calibrate.twin import training_like_step

    return training_like_step()


def busy_after(op, idle_s: float, busy_s: float = BUSY_S) -> tuple[np.ndarray, np.ndarray]:
    """Sleep ``idle_s``, then run ``op`` back to back for ``busy_s``: each call's start
    (busy seconds since the wake-up) and duration."""
    if idle_s > 0:
        time.sleep(idle_s)
    starts, times = [], []
    begin = time.perf_counter()
    while (start := time.perf_counter()) - begin < busy_s:
        op()
        starts.append(start - begin)
        times.append(time.perf_counter() - start)
    return np.array(starts), np.array(times)


def excess(starts: np.ndarray, times: np.ndarray, within_s: float = BUSY_S) -> float:
    """Seconds the calls that started within ``within_s`` took over the stretch's steady
    per-call time (the median of its last third)."""
    steady = float(np.median(times[len(times) * 2 // 3:]))
    n = int(np.searchsorted(starts, within_s))
    return float(times[:n].sum() - n * steady)


def measure_warmup(repeats: int | None = None, op_factory=probe_op) -> dict[float, list[tuple[np.ndarray, np.ndarray]]]:
    """The stretches (starts, times) of ``op_factory()``'s op after each idle time in
    ``IDLES_S``, pinned as trainer 0."""
    import torch

    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pinned(0, 1):
            op = op_factory()
            for _ in range(20):
                op()
            n = repeats or REPEATS
            return {idle: [busy_after(op, idle) for _ in range(n)] for idle in IDLES_S}
    finally:
        torch.set_num_threads(old_threads)


def extras(runs: dict[float, list[tuple[np.ndarray, np.ndarray]]], within_s: float = BUSY_S) -> dict[float, float]:
    """Per idle time, the median extra seconds against the stretches with no idle."""
    med = {idle: float(np.median([excess(s, t, within_s) for s, t in rs])) for idle, rs in runs.items()}
    return {idle: med[idle] - med[0.0] for idle in runs if idle > 0}


def fit_warmup(idles_s: np.ndarray, extras_s: np.ndarray, ramp_s: float) -> dict | None:
    """The ``cpu_sharing`` keys: ``extra(idle) = max (1 - exp(-idle / scale))`` fitted to
    the measured extras, and the ramp; None where idling cost nothing measurable, or no
    recovery over the work was seen (a ramp of 0, which a profile may not hold).

    >>> idles = np.array([0.001, 0.003, 0.01, 0.03, 0.1])
    >>> fit = fit_warmup(idles, 8e-4 * (1 - np.exp(-idles / 0.04)), 0.005)
    >>> fit["warmup_us"], fit["warmup_idle_ms"], fit["warmup_ramp_ms"]
    (800.0, 40.0, 5.0)
    >>> fit_warmup(idles, 8e-4 * (1 - np.exp(-idles / 0.04)), 0.0) is None
    True
    """
    top = float(np.max(extras_s))
    if top <= 0 or ramp_s <= 0:
        return None

    def residual(p: np.ndarray) -> np.ndarray:
        return (np.exp(p[0]) * (1 - np.exp(-idles_s / np.exp(p[1]))) - extras_s) / top

    # bounded: a maximum near the largest extra measured, a scale within the idles swept
    low, high = np.log([0.5 * top, float(idles_s.min())]), np.log([3.0 * top, 10.0 * float(idles_s.max())])
    start = np.clip(np.log([top, float(np.median(idles_s))]), low, high)
    sol = least_squares(residual, start, bounds=(low, high))
    return {"warmup_us": float(f"{np.exp(sol.x[0]) * 1e6:.3g}"), "warmup_idle_ms": float(f"{np.exp(sol.x[1]) * 1e3:.3g}"),
            "warmup_ramp_ms": float(f"{ramp_s * 1e3:.3g}")}


def ramp_of(runs: dict[float, list[tuple[np.ndarray, np.ndarray]]]) -> float:
    """Busy seconds by which 63% of the longest idle's extra has been paid (against the
    no-idle stretches, so that the stretches' own noise cancels)."""
    longest = max(runs)
    grid = np.linspace(0.0, BUSY_S, 31)[1:]
    paid = np.array([extras(runs, b)[longest] for b in grid])
    if paid[-1] <= 0:
        return 0.0
    return float(grid[int(np.argmax(paid >= (1 - np.exp(-1)) * paid[-1]))])


def calibrate_warmup() -> dict | None:
    """Measure and fit: the ``cpu_sharing`` keys ``warmup_us``, ``warmup_idle_ms`` and
    ``warmup_ramp_ms``, or None where idling cost nothing measurable."""
    runs = measure_warmup()
    ex = extras(runs)
    idles = np.array(sorted(ex))
    return fit_warmup(idles, np.array([ex[i] for i in idles]), ramp_of(runs))
