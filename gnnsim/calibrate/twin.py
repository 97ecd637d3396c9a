"""Load twins: the other trainers of a node, running the same kernels during calibration.

In a real run every trainer of a node computes at once, sharing memory bandwidth, the
last-level cache and the kernel's page-fault path. Calibrating one process on an idle
machine would measure a faster machine than the one training runs on. So while the
calibrating process times its kernels, ``trainers - 1`` twins run the very same
benchmark suite beside it; their timings are thrown away.

Usage (internal): ``python -m gnnsim.calibrate.twin QUICK THREADS MAX_ROUNDS RANK``
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager

MAX_ROUNDS = 3  # a twin stops on its own after this many passes over the suite


def suite(quick: bool, repeats: int) -> None:
    from gnnsim.calibrate import bench

    for fn in (bench.bench_gemm, bench.bench_gemm_tn, bench.bench_aggregate, bench.bench_gather,
               bench.bench_elementwise, bench.bench_optimizer, bench.bench_sampler):
        fn(quick, repeats)


@contextmanager
def twins(count: int, quick: bool, threads: int):
    """Run ``count`` twin processes for the duration of the block; always stop them."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, "-m", "gnnsim.calibrate.twin", "1" if quick else "0", str(threads),
                               str(MAX_ROUNDS), str(rank)], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for rank in range(1, count + 1)]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main() -> None:
    import torch

    from gnnsim.realrun.affinity import pin_to_own_cores

    quick, threads, rounds, rank = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    pin_to_own_cores(rank, threads)  # as trainer `rank` of the node, like a real run
    torch.set_num_threads(threads)
    for _ in range(rounds):
        suite(quick, 5 if quick else 11)


if __name__ == "__main__":
    main()
