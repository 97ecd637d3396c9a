"""Calibration pieces timed in rounds spread over a full CPU calibration.

A whole sweep of Adam's step (:func:`gnnsim.calibrate.bench.bench_optimizer`), timed in
one or two passes a minute apart, fitted steps 0.5-1.3 ms from one calibration to the next
on the dev VM while the trainers' measured optimizer stage held within 10-17%, and the
calibration's host-speed probe did not track it; PyG's loader overhead swung alike. So a
full CPU calibration times these pieces in several rounds at points minutes apart
(:class:`Rounds`, called by :func:`gnnsim.calibrate.run._measure_cpu`) and keeps each
shape's median round (:func:`gnnsim.calibrate.timing.median_of_rounds`,
:func:`gnnsim.calibrate.pyg.loader_points`). The numbers: ``docs/calibration-notes.md``,
"Optimizer and loader rounds".
"""

from __future__ import annotations

import numpy as np

from gnnsim.calibrate import bench
from gnnsim.calibrate.profile_blocks import JITTER_MIN_TIME_S
from gnnsim.calibrate.pyg import LoaderBench
from gnnsim.calibrate.timing import EVICTED_MAX_REPEATS, Samples, median_of_rounds

# A CPU's kernel sweeps run twice, a minute apart, each shape keeping the mean of both,
# so that no class is fitted in one slow phase of the machine (half the repeats each)
KERNEL_PASSES = 2
# A full CPU calibration times the optimizer's sweep in this many rounds spread over its
# timed-alone part (the kernel passes' runs shared among them), each shape keeping its
# median round, and PyG's loader in LOADER_ROUNDS rounds of LOADER_ROUND_BATCHES batches
# a shape: a whole sweep of either swung x1.3-2 from one calibration to the next, apart
# from the host-speed probe (docs/calibration-notes.md, "Optimizer and loader rounds")
OPTIMIZER_ROUNDS = 5
OPTIMIZER_ROUND_RUNS = KERNEL_PASSES * EVICTED_MAX_REPEATS // OPTIMIZER_ROUNDS
LOADER_ROUNDS, LOADER_ROUND_BATCHES = 4, 4


class Rounds:
    """The calibration's pieces timed in rounds spread over it (:data:`OPTIMIZER_ROUNDS`):
    each :meth:`run` times one more round of those not done yet."""

    def __init__(self, repeats: int, loader: bool):
        self.repeats, self.loader_on = repeats, loader
        self.optimizer: list[Samples] = []
        self.loader: list[dict] = []
        self.loader_rounds = 0
        self.loaders: LoaderBench | None = None  # made at the first round, drawn from by every round

    def run(self) -> None:
        if len(self.optimizer) < OPTIMIZER_ROUNDS:
            self.optimizer.append(bench.bench_optimizer(False, -(-self.repeats // OPTIMIZER_ROUNDS), "cpu",
                                                        most=OPTIMIZER_ROUND_RUNS))
        if self.loader_on and self.loader_rounds < LOADER_ROUNDS:
            if self.loaders is None:
                self.loaders = LoaderBench(False, LOADER_ROUNDS * LOADER_ROUND_BATCHES)
            self.loader += self.loaders.round(LOADER_ROUND_BATCHES, self.loader_rounds)
            self.loader_rounds += 1

    def optimizer_samples(self) -> Samples:
        """The optimizer's sweep: each shape's median over the rounds timed so far."""
        return median_of_rounds(self.optimizer)


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
