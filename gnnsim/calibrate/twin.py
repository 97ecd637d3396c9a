"""Load twins: the other trainers of a node, running the same kernels during calibration.

In a real run every trainer of a node computes at once, sharing memory bandwidth, the
last-level cache and the kernel's page-fault path. Calibrating one process on an idle
machine would measure a faster machine than the one training runs on. So while the
calibrating process times its kernels, ``trainers - 1`` twins run a steady,
training-like load beside it (aggregate a block, project it, activate, repeat).

Usage (internal): ``python -m gnnsim.calibrate.twin THREADS MAX_SECONDS RANK``
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from gnnsim.realrun import procs as procs_mod

TWIN_EDGES, TWIN_DIM = 25_000, 128  # a mid-sized sampled block, like a trainer's first layer
MAX_SECONDS = 600.0  # a twin stops on its own after this long


def training_like_load(deadline: float) -> None:
    """What another trainer does all the time: aggregate a block, project it, activate.

    A steady load (rather than a replay of the benchmark suite, which drifts out of phase)
    keeps the contention the same for every shape, so calibrations repeat."""
    import time

    import numpy as np
    import torch

    from gnnsim.realrun.model import aggregate_sum

    rng = np.random.default_rng(7)
    num_dst, num_src = TWIN_EDGES // 5, TWIN_EDGES * 4 // 5
    src = torch.from_numpy(rng.integers(0, num_src, TWIN_EDGES))
    dst = torch.from_numpy(np.sort(rng.integers(0, num_dst, TWIN_EDGES)))
    h, w = torch.randn(num_src, TWIN_DIM), torch.randn(TWIN_DIM, TWIN_DIM)
    while time.monotonic() < deadline:
        agg = aggregate_sum(h, src, dst, num_dst)
        torch.relu(agg @ w)


@contextmanager
def twins(count: int, threads: int):
    """Run ``count`` twin processes for the duration of the block; always stop them."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = procs_mod.spawn([[sys.executable, "-m", "gnnsim.calibrate.twin", str(threads), str(MAX_SECONDS), str(rank)]
                             for rank in range(1, count + 1)], [env] * count)
    try:
        yield procs
    finally:
        procs_mod.kill(procs)


def main() -> None:
    import time

    import torch

    from gnnsim.realrun.affinity import pin_to_own_cores

    threads, seconds, rank = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    pin_to_own_cores(rank, threads)  # as trainer `rank` of the node, like a real run
    torch.set_num_threads(threads)
    training_like_load(time.monotonic() + seconds)


if __name__ == "__main__":
    main()
