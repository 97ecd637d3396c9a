"""Calibration pieces timed in rounds spread over a full CPU calibration.

A whole sweep of Adam's step (:func:`gnnsim.calibrate.bench.bench_optimizer`), timed in
one or two passes a minute apart, fitted steps 0.5-1.3 ms from one calibration to the next
on the dev VM while the trainers' measured optimizer stage held within 10-17%, and the
calibration's host-speed probe did not track it; PyG's loader overhead swung alike. So a
full CPU calibration times these pieces in several rounds at points minutes apart
(:class:`Rounds`, called by :func:`gnnsim.calibrate.measure.measure_cpu`) and keeps each
shape's median round (:func:`gnnsim.calibrate.timing.median_of_rounds`,
:func:`gnnsim.calibrate.pyg.loader_points`). The numbers: ``docs/calibration-notes.md``,
"Optimizer and loader rounds".
"""

from __future__ import annotations

import numpy as np

from gnnsim.calibrate import bench
from gnnsim.calibrate.collective_fit import median_rounds
from gnnsim.calibrate.collectives import run_collectives
from gnnsim.calibrate.profile_blocks import JITTER_MIN_TIME_S
from gnnsim.calibrate.pyg import LoaderBench
from gnnsim.calibrate.timing import EVICTED_MAX_REPEATS, Samples, median_of_rounds

# A CPU's kernel sweeps run twice, a minute apart, each shape keeping the mean of both,
# so that no class is fitted in one slow phase of the machine (half the repeats each)
KERNEL_PASSES = 2
# A full CPU calibration times the optimizer's sweep and PyG's loader (ROUND_BATCHES
# batches a shape) in this many rounds spread over its timed-alone part (the kernel
# passes' runs shared among the optimizer's rounds), each round between two readings of
# the host-speed probe and scaled to their median over the rounds, each shape keeping its
# median round: a whole sweep of either swung x1.3-2 from one calibration to the next,
# with the host's speed (docs/calibration-notes.md, "Optimizer and loader rounds")
ROUNDS = 5
OPTIMIZER_ROUND_RUNS = KERNEL_PASSES * EVICTED_MAX_REPEATS // ROUNDS
ROUND_BATCHES = 4
PROBE_ROUNDS, PROBE_ROUND_S = 3, 0.05  # each reading of the probe (capacity.reference_step_s)
# A full CPU calibration runs gloo's collective benchmark in this many rounds (at its start,
# after the kernels, at its end), each timing this share of a whole run's calls; each
# size, wake-up delay and factor keeps its median round: whole runs a minute apart fitted
# alphas x1.5-2 apart (docs/calibration-notes.md, "Collective rounds")
COLLECTIVE_ROUNDS, COLLECTIVE_SHARE = 3, 0.5


def scaled(s: Samples, factor: float) -> Samples:
    """``s`` with every time multiplied by ``factor``."""
    return Samples(list(s.kernels), [t * factor for t in s.times_s], list(s.shapes), list(s.cvs))


class Rounds:
    """The calibration's pieces timed in rounds spread over it (:data:`ROUNDS`): each
    :meth:`run` times one more round, between two readings of the host-speed probe
    (:func:`~gnnsim.calibrate.capacity.reference_step_s`, the load ``cpu_sharing.alone_ms``
    and the validation harness's host speed time); once all are done the pieces are read
    scaled to the probe's median over the rounds (:meth:`reference_s`)."""

    def __init__(self, repeats: int, loader: bool, threads: int = 1):
        self.repeats, self.loader_on, self.threads = repeats, loader, threads
        self.optimizer: list[Samples] = []
        self.loader: list[list[dict]] = []
        self.probes: list[float] = []  # seconds per probe step around each round
        self.loaders: LoaderBench | None = None  # made at the first round, drawn from by every round

    def done(self) -> bool:
        return len(self.probes) >= ROUNDS

    def run(self) -> None:
        from gnnsim.calibrate.capacity import reference_step_s

        if self.done():
            return
        before = reference_step_s(self.threads, PROBE_ROUNDS, PROBE_ROUND_S)
        self.optimizer.append(bench.bench_optimizer(False, -(-self.repeats // ROUNDS), "cpu",
                                                    most=OPTIMIZER_ROUND_RUNS))
        if self.loader_on:
            if self.loaders is None:
                self.loaders = LoaderBench(False, ROUNDS * ROUND_BATCHES)
            self.loader.append(self.loaders.round(ROUND_BATCHES, len(self.probes)))
        self.probes.append((before + reference_step_s(self.threads, PROBE_ROUNDS, PROBE_ROUND_S)) / 2)

    def reference_s(self) -> float:
        """The probe's median step over the rounds: the host speed the pieces are read at."""
        return float(np.median(self.probes))

    def factors(self) -> list[float]:
        """Per round, the reference over the probe around it (> 1: the round ran fast)."""
        return [self.reference_s() / p for p in self.probes]

    def optimizer_samples(self) -> Samples:
        """The optimizer's sweep: each shape's median over the rounds, each round scaled."""
        return median_of_rounds([scaled(s, f) for s, f in zip(self.optimizer, self.factors())])

    def loader_rows(self) -> list[dict]:
        """The loader's rows, the loader's and bare sampler's times of each round scaled
        (the evicted bare sampler's not: its scale is fitted against the sampler block,
        timed unscaled)."""
        return [{**r, "loader": r["loader"] * f, "bare": r["bare"] * f}
                for rows, f in zip(self.loader, self.factors()) for r in rows]


class CollectiveRounds:
    """gloo's collective benchmark on ``world`` local processes in rounds spread over a
    calibration (:data:`COLLECTIVE_ROUNDS`; a quick calibration's rounds are whole quick
    runs, about 5.5 s each: one alone put the loopback all-to-all's alpha anywhere in
    1250-3290 us, and a CI run's real-run check failed on it): each
    :meth:`run` times one more round, :meth:`result` runs any left and gives the rows
    with each size's median round (:func:`~gnnsim.calibrate.collective_fit.median_rounds`)."""

    def __init__(self, world: int, quick: bool):
        self.world, self.quick = world, quick
        self.rounds: list[dict] = []

    def planned(self) -> int:
        return COLLECTIVE_ROUNDS

    def run(self) -> None:
        if len(self.rounds) < self.planned():
            self.rounds.append(run_collectives(self.world, self.quick,
                                               share=1.0 if self.quick else COLLECTIVE_SHARE))

    def result(self) -> dict:
        while len(self.rounds) < self.planned():
            self.run()
        return median_rounds(self.rounds)


def kernel_jitter(samples: dict) -> float:
    """The mean run-to-run CV of the kernel classes' shapes of at least
    :data:`JITTER_MIN_TIME_S` in ``samples`` (as :func:`~gnnsim.calibrate.profile_blocks.fit_sweeps` reports it).

    >>> kernel_jitter({"gemm": [{"seconds": 0.002, "cv": 0.1}, {"seconds": 1e-5, "cv": 0.9}],
    ...                "optimizer": [{"seconds": 0.004, "cv": 0.3}], "sampler": [{"seconds": 1.0}]})
    0.2
    """
    cvs = [r["cv"] for cls, _ in bench.KERNEL_BENCHMARKS for r in samples.get(cls, [])
           if r["seconds"] >= JITTER_MIN_TIME_S]
    return float(np.mean(cvs)) if cvs else 0.0
