"""The timing harness of the micro-benchmarks: how a call is timed on a CPU or a GPU.

On the CPU the times are means of several repeats after a warm-up, each run with the
heap in steady state and the caches emptied of data before it, as an op runs in a
training step (:data:`STEADY_HEAP`, :data:`EVICT_BEFORE_KERNELS`), taken alone on the
calibrating process's core (``gnnsim calibrate --twin-load`` takes them beside busy
twins, :mod:`gnnsim.calibrate.twin`). On a GPU (``device="cuda"``) kernels are queued
back to back and the device is synchronised once per batch of calls
(:func:`mean_time_queued`), as a training step queues them. The state of memory a run
finds (the heap's offset, the caches emptied) is set by :mod:`gnnsim.calibrate.memory_state`;
the benchmarks themselves are in :mod:`gnnsim.calibrate.bench`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gnnsim.calibrate.memory_state import RELEASE_FREE_MEMORY, HeapShift, evict_all_caches, evict_caches
from gnnsim.workload import kernels as m


@dataclass
class Samples:
    """The kernels of one class's sweep and their measured seconds."""

    kernels: list[m.Kernel] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    cvs: list[float] = field(default_factory=list)  # run-to-run spread of each shape

    def add(self, kernel: m.Kernel, t: float, shape: str, cv: float) -> None:
        self.kernels.append(kernel)
        self.times_s.append(t)
        self.shapes.append(shape)
        self.cvs.append(cv)


def merged(passes: list[Samples]) -> Samples:
    """One sweep from several passes over the same shapes: each shape's mean time and CV
    over the passes.

    >>> k = m.elementwise(10)
    >>> a, b = Samples([k], [1.0], ["s"], [0.1]), Samples([k], [3.0], ["s"], [0.3])
    >>> s = merged([a, b]); s.times_s, s.shapes, [round(c, 2) for c in s.cvs]
    ([2.0], ['s'], [0.2])
    """
    first = passes[0]
    if any(p.shapes != first.shapes for p in passes):
        raise ValueError("passes of a sweep must time the same shapes in the same order")
    return Samples(list(first.kernels), [float(np.mean(ts)) for ts in zip(*(p.times_s for p in passes))],
                   list(first.shapes), [float(np.mean(cs)) for cs in zip(*(p.cvs for p in passes))])


def median_of_rounds(rounds: list[Samples]) -> Samples:
    """One sweep from rounds of it timed apart (minutes): each shape's median time over the
    rounds and its mean CV. A round that lands in a slow spell of the machine, or whatever
    slows a whole round at once, moves the mean of all rounds; the median of three or more
    ignores it (``docs/calibration-notes.md``, "Optimizer rounds").

    >>> k = m.elementwise(10)
    >>> r = [Samples([k], [t], ["s"], [0.1]) for t in (1.0, 1.1, 2.4)]
    >>> median_of_rounds(r).times_s
    [1.1]
    """
    first = rounds[0]
    if any(r.shapes != first.shapes for r in rounds):
        raise ValueError("rounds of a sweep must time the same shapes in the same order")
    return Samples(list(first.kernels), [float(np.median(ts)) for ts in zip(*(r.times_s for r in rounds))],
                   list(first.shapes), [float(np.mean(cs)) for cs in zip(*(r.cvs for r in rounds))])


# Time kernels with the heap in steady state (``cold=False``), as a training step runs:
# freed blocks under glibc's mmap threshold are reused, larger outputs are mapped afresh,
# so the fits charge first touch above the threshold only (``first_touch_above_mb``).
STEADY_HEAP = True
# Time a CPU kernel after its data have left the caches and its code has run again
# (:func:`~gnnsim.calibrate.memory_state.evict_all_caches`), as an op in a step reads what others wrote long ago.
EVICT_BEFORE_KERNELS = True
EVICTED_MAX_REPEATS = 100  # runs of a kernel timed after an eviction (each costs a few ms)
# Time each shape's timed runs should add up to (at most MAX_REPEATS runs, at least the
# sweep's repeats): millisecond kernels spread widely from run to run, and their means
# need about this much time to settle.
SHAPE_BUDGET_S = 0.1
MAX_REPEATS = 200


def mean_time(fn: Callable[[], object], repeats: int, warmup: int = 2, cold: bool = not STEADY_HEAP,
              before: Callable[[], object] | None = None, most: int | None = None) -> tuple[float, float]:
    """Mean wall time of ``fn`` over at least ``repeats`` runs, and the coefficient of
    variation of those runs.

    Short calls run more often, until the runs add up to about ``SHAPE_BUDGET_S`` (at
    most ``MAX_REPEATS``): a microsecond kernel spreads widely from run to run (timer,
    interrupts), and many runs narrow its mean.

    The mean, not the median: the model predicts mean stage times, and the occasional
    slow run (a page-fault storm, a descheduled core) is part of what training pays.

    By default the heap is in steady state, as in training (see :data:`STEADY_HEAP`):
    an output under glibc's mmap threshold reuses memory an earlier run freed, a larger
    one is mapped afresh and pays its page faults. With ``cold`` freed memory goes back
    to the OS before every run, so every output lands on fresh pages, and the heap is
    shifted by a random few KB for each run (:class:`~gnnsim.calibrate.memory_state.HeapShift`). ``most`` caps the runs
    below the default (a sweep split into rounds that share the runs).
    """
    runs = _runs_for(fn, repeats, warmup, most or (MAX_REPEATS if before is None else EVICTED_MAX_REPEATS))
    times = []
    shift = HeapShift() if cold else contextlib.nullcontext()
    for _ in range(runs):
        times.append(_timed_run(fn, before, cold, shift))
    return _mean_cv(times)


def _timed_run(fn: Callable[[], object], before: Callable[[], object] | None, cold: bool, shift) -> float:
    """Seconds of one run of ``fn``: after ``before`` (if any) and, ``cold``, with freed
    memory given back to the OS first; inside ``shift`` (the heap's offset, or nothing)."""
    if before is not None:
        before()
    if cold:
        RELEASE_FREE_MEMORY(0)
    with shift:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


def _runs_for(fn: Callable[[], object], repeats: int, warmup: int, most: int = MAX_REPEATS) -> int:
    """Run ``fn`` ``warmup`` times; how many timed runs it gets: at least ``repeats``, more
    for a short call, until its runs add up to about ``SHAPE_BUDGET_S`` (at most ``most``)."""
    per_call = float("inf")
    for _ in range(max(warmup, 1)):  # the last warm-up call: the first may pay one-off set-up
        start = time.perf_counter()
        fn()
        per_call = time.perf_counter() - start
    return int(min(most, max(repeats, SHAPE_BUDGET_S / max(per_call, 1e-9))))


INTERLEAVED_MAX_REPEATS = 1000


def mean_times_interleaved(fns: list[Callable[[], object]], repeats: int, warmup: int = 2,
                           seed: int = 0, cold: bool = not STEADY_HEAP,
                           before: Callable[[], object] | None = None) -> list[tuple[float, float]]:
    """Mean time and CV of each call in ``fns`` (as :func:`mean_time`, steady or ``cold``),
    the calls timed in turns: each round runs every call that still needs runs once, in a
    seeded random order.

    Back to back, a microsecond call's mean swings with the phases of the machine (the
    share of runs that land on a fresh page, an interrupt); in turns, the calls of a sweep
    share the phases. Each timed run follows an untimed run of the same call: in training
    an op reads what the op before it has just written, so its inputs are in cache.
    Short calls get up to
    ``INTERLEAVED_MAX_REPEATS`` runs, and a longer call's fewer runs are spread evenly
    over the rounds."""
    most = INTERLEAVED_MAX_REPEATS if before is None else EVICTED_MAX_REPEATS
    targets = np.array([_runs_for(fn, repeats, warmup, most) for fn in fns])
    times: list[list[float]] = [[] for _ in fns]
    rng = np.random.default_rng(seed)
    shift = HeapShift(seed) if cold else contextlib.nullcontext()
    rounds = int(targets.max(initial=0))
    for r in range(rounds):
        # a call with fewer runs than there are rounds runs in evenly spaced rounds
        due = np.flatnonzero((r + 1) * targets // rounds > r * targets // rounds)
        for j in rng.permutation(due):
            fns[j]()  # untimed: its inputs in cache, as an op reads what the op before it wrote
            times[j].append(_timed_run(fns[j], before, cold, shift))
    return [_mean_cv(t) for t in times]


def _mean_cv(times: list[float]) -> tuple[float, float]:
    mean = float(np.mean(times))
    return mean, float(np.std(times) / mean) if mean > 0 else 0.0


def mean_time_queued(fn: Callable[[], object], repeats: int, sync: Callable[[], object],
                     before: Callable[[], object] | None = None) -> tuple[float, float]:
    """Seconds per call of ``fn`` on an asynchronous device, and the spread of the batches.

    A training step queues its kernels without waiting for each; the host's launch cost
    then hides behind the device's work and the other way round. So the calls run back
    to back in batches (about ``SHAPE_BUDGET_S / repeats`` of work each, at most
    ``MAX_REPEATS`` calls), with one ``sync`` at the end of each batch, and a call's time
    is its batch's time over its size. A lone call plus a synchronisation would add a
    round trip (about 10 us) that training pays once per stage, not once per kernel.
    """
    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    per_call = time.perf_counter() - start
    inner = int(min(MAX_REPEATS, max(1, SHAPE_BUDGET_S / max(repeats, 1) / max(per_call, 1e-9))))
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
            sync()
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - start) / inner)
    return _mean_cv(times)


def device_sync(device: str) -> Callable[[], object]:
    """Wait for what is queued on ``device`` (nothing to wait for on the CPU)."""
    if device == "cpu":
        return lambda: None
    import torch

    return torch.cuda.synchronize


def timer(device: str) -> Callable[..., tuple[float, float]]:
    """``mean_time`` on the CPU, :func:`mean_time_queued` on a CUDA device (same call form)."""
    if device == "cpu":
        return mean_time
    sync = device_sync(device)

    def queued(fn, repeats, before=None, **_):
        return mean_time_queued(fn, repeats, sync, before)
    return queued


def synchronised(fn: Callable[[], object], device: str) -> Callable[[], object]:
    """``fn`` followed by waiting for the device (``fn`` itself on the CPU)."""
    if device == "cpu":
        return fn
    sync = device_sync(device)

    def run():
        fn()
        sync()
    return run


# a shape's label, its demands, and what makes its inputs and returns the call to time
Case = tuple[str, m.Kernel, Callable[[], Callable[[], object]]]


def time_cases(cases: list[Case], repeats: int, device: str, cold: bool = not STEADY_HEAP,
               in_turns: bool = False) -> Samples:
    """Time each case's call: with ``in_turns``, the calls on the CPU in turns
    (:func:`mean_times_interleaved`, every case's inputs made first); otherwise one shape
    after the other (:func:`timer`), each shape's inputs made just before it is timed and
    freed after it (a GPU sweep's inputs add up to more than a 16 GB device holds).

    Turns suit the memory-bound sweeps of microsecond calls (gathers, elementwise ops),
    whose back-to-back means swing with the machine's phases; GEMMs and aggregations stay
    back to back, as their library calls keep per-shape state (packing buffers, kernel
    choices) that another shape in between throws away."""
    before = evict_all_caches if device == "cpu" and EVICT_BEFORE_KERNELS else None
    if device == "cpu" and in_turns:
        timed = mean_times_interleaved([make() for _, _, make in cases], repeats, cold=cold, before=before)
    else:
        time_it = timer(device)
        timed = [time_it(make(), repeats, cold=cold, before=before) for _, _, make in cases]
    out = Samples()
    for (shape, kernel, _), (t, cv) in zip(cases, timed):
        out.add(kernel, t, shape, cv)
    return out


# The stand-in for the rest of an iteration (after_other_stages): a two-layer GraphSAGE
# of gnnsim's own on a random subgraph of this many nodes and edges, 64 features wide
STAND_IN_NODES, STAND_IN_EDGES, STAND_IN_WIDTH = 2048, 4096, 64
_STAND_IN: dict = {}


def after_other_stages(device: str = "cpu") -> None:
    """Leave the host as the rest of a training iteration leaves it for a stage that runs
    once per iteration, such as the optimizer's step: other code has run since its last
    call (a forward and backward of gnnsim's own GraphSAGE on a small random subgraph)
    and the caches hold other data (:func:`~gnnsim.calibrate.memory_state.evict_caches`). Timed back to back, a step of
    many small Python-issued ops keeps its own code (the optimizer's Python, the
    dispatcher's paths for its ops) hot, which a training loop never does: here Adam's
    step on six tensors took 0.54 ms after this against 0.38 ms after the eviction alone
    (``docs/architecture.md``, the calibration's ``optimizer`` row)."""
    import torch

    from gnnsim.realrun.blocks import with_degrees
    from gnnsim.realrun.models import build_model

    if device not in _STAND_IN:
        rng = np.random.default_rng(0)
        src, dst = (torch.from_numpy(rng.integers(0, STAND_IN_NODES, STAND_IN_EDGES)).to(device) for _ in range(2))
        model = build_model("graphsage", STAND_IN_WIDTH, STAND_IN_WIDTH, 4, 2).to(device)
        blocks = with_degrees([(src, dst, STAND_IN_NODES)] * 2, model.uses_inverse_degree)
        x = torch.randn(STAND_IN_NODES, STAND_IN_WIDTH, device=device)
        y = torch.zeros(STAND_IN_NODES // 8, dtype=torch.long, device=device)
        _STAND_IN[device] = (model, blocks, x, y)
    model, blocks, x, y = _STAND_IN[device]
    torch.nn.functional.cross_entropy(model(blocks, x)[:y.numel()], y).backward()
    model.zero_grad(set_to_none=False)
    device_sync(device)()
    evict_caches()


def train_step_s(step: Callable, target, model, sync: Callable[[], None]) -> tuple[float, float]:
    """Seconds of one training step's forward (``step()`` returns the logits) and backward
    (cross-entropy against ``target``), each fenced by ``sync``; the gradients are zeroed
    after, keeping their buffers as a training loop does."""
    import torch

    sync()
    start = time.perf_counter()
    out = step()
    sync()
    mid = time.perf_counter()
    torch.nn.functional.cross_entropy(out, target).backward()
    sync()
    end = time.perf_counter()
    model.zero_grad(set_to_none=False)
    return mid - start, end - mid
