"""Load twins: processes that keep the node's other cores busy with a training-like load.

A twin aggregates a sampled block, projects it and activates it, again and again, pinned
to its own core(s) as trainer ``rank`` of the node would be. Two things use it:

- :mod:`gnnsim.calibrate.capacity` times the same load alone and beside ``k`` busy
  twins, which measures how many cores' worth of compute the node really has (one
  where two vCPUs share a core).
- ``gnnsim calibrate --twin-load`` (the old mode) times every kernel beside
  ``trainers - 1`` twins, so the fitted rates are the rates of an always-busy
  neighbourhood. By default kernels are timed alone, and the simulator shares the
  measured capacity among the ranks that compute at the same moment.

Usage (internal): ``python -m gnnsim.calibrate.twin THREADS MAX_SECONDS RANK [READY_FILE]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from gnnsim.errors import GnnsimError
from gnnsim.realrun import procs as procs_mod

TWIN_EDGES, TWIN_DIM = 25_000, 128  # a mid-sized sampled block, like a trainer's first layer
MAX_SECONDS = 600.0  # a twin stops on its own after this long
READY_TIMEOUT_S = 120.0  # importing torch on a loaded small host takes a few seconds


def training_like_step() -> Callable[[], object]:
    """One step of what a trainer does all the time: aggregate a block, project, activate.

    A steady load (rather than a replay of the benchmark suite, which drifts out of phase)
    is the same at every moment, so a measurement beside it repeats."""
    import numpy as np
    import torch

    from gnnsim.realrun.layers import aggregate_sum

    rng = np.random.default_rng(7)
    num_dst, num_src = TWIN_EDGES // 5, TWIN_EDGES * 4 // 5
    src = torch.from_numpy(rng.integers(0, num_src, TWIN_EDGES))
    dst = torch.from_numpy(np.sort(rng.integers(0, num_dst, TWIN_EDGES)))
    h, w = torch.randn(num_src, TWIN_DIM), torch.randn(TWIN_DIM, TWIN_DIM)
    return lambda: torch.relu(aggregate_sum(h, src, dst, num_dst) @ w)


def training_like_load(deadline: float, ready: Path | None = None) -> None:
    """Run :func:`training_like_step` until ``deadline`` (``time.monotonic``); touch
    ``ready`` once the first step is done, so a caller knows the load has begun."""
    step = training_like_step()
    step()
    if ready is not None:
        ready.touch()
    while time.monotonic() < deadline:
        step()


@contextmanager
def twins(count: int, threads: int):
    """Run ``count`` twin processes (ranks 1..count) for the duration of the block; the
    block starts once every twin is busy, and the twins are always stopped.

    Enter it *before* pinning this process: a twin inherits its parent's affinity and
    picks its cores among those, so twins started from a process pinned to trainer 0's
    cores would share them with it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory(prefix="gnnsim-twin-") as tmp:
        ready = [Path(tmp) / f"ready{rank}" for rank in range(1, count + 1)]
        procs = procs_mod.spawn([[sys.executable, "-m", "gnnsim.calibrate.twin", str(threads), str(MAX_SECONDS),
                                  str(rank), str(path)] for rank, path in enumerate(ready, start=1)], [env] * count)
        try:
            _wait_ready(procs, ready)
            yield procs
        finally:
            procs_mod.kill(procs)


def _wait_ready(procs, ready: list[Path]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(path.exists() for path in ready):
        failed = [p for p in procs if p.poll() is not None]
        if failed or time.monotonic() > deadline:
            why = procs_mod.stderr_tail(failed[0]) if failed else f"not busy after {READY_TIMEOUT_S:.0f} s"
            raise GnnsimError(f"calibrate: a load twin (python -m gnnsim.calibrate.twin) did not start: {why}. "
                              "Check that this Python can import torch and that the machine is not out of memory.")
        time.sleep(procs_mod.POLL_S / 4)


def main() -> None:
    import torch

    from gnnsim.realrun.affinity import pin_to_own_cores

    threads, seconds, rank = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    ready = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    pin_to_own_cores(rank, threads)  # as trainer `rank` of the node, like a real run
    torch.set_num_threads(threads)
    training_like_load(time.monotonic() + seconds, ready)


if __name__ == "__main__":
    main()
