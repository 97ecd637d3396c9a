"""How long the OS lets a busy process run before a process that shares its core gets a turn.

Where a host's trainers outnumber its cores, the simulator gives each core to its
trainers in turns and lets a trainer that computes on keep it for one time slice while
others wait (:mod:`gnnsim.sim.cpu`). The slice is the scheduler's, and it differs by
kernel and configuration (the tick rate, the scheduler's base slice), so it is measured:
two processes pinned to one core spin for a while, each logging the moments its clock
jumps (the other one ran then); the median stretch between two jumps is the slice
(about one scheduler tick).

Usage (internal): ``python -m gnnsim.calibrate.timeslice CORE SECONDS OUT.json``
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gnnsim.realrun import procs as procs_mod

GAP_S = 30e-6  # a pause this long in the spin loop means the other process ran
SPIN_S = 0.5  # how long each process spins (the full calibration; --quick spins less)
MIN_TURNS = 10  # fewer turns than this measure nothing (the processes never met)


def spin_runs(seconds: float, gap_s: float = GAP_S) -> list[float]:
    """Spin for ``seconds``; the lengths of the stretches between pauses of ``gap_s`` or
    more, the first and the last (cut by the start and the end) left out."""
    runs: list[float] = []
    start = last = began = time.perf_counter()
    while last - began < seconds:
        now = time.perf_counter()
        if now - last > gap_s:
            runs.append(last - start)
            start = now
        last = now
    return runs[1:]


def measure_time_slice(seconds: float = SPIN_S) -> float | None:
    """Median seconds a busy process runs before the other busy process on its core gets
    its turn; None where processes cannot be pinned or did not take turns."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="gnnsim-slice-") as tmp:
        outs = [Path(tmp) / f"runs{i}.json" for i in range(2)]
        procs = procs_mod.spawn([[sys.executable, "-m", "gnnsim.calibrate.timeslice", str(core), str(seconds), str(out)]
                                 for out in outs], [dict(os.environ)] * 2)
        procs_mod.wait(procs, timeout_s=10 * seconds + 30)
        runs = [r for out in outs if out.exists() for r in json.loads(out.read_text())]
    return float(np.median(runs)) if len(runs) >= MIN_TURNS else None


def main() -> None:
    core, seconds, out = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    os.sched_setaffinity(0, {core})
    out.write_text(json.dumps(spin_runs(seconds)))


if __name__ == "__main__":
    main()
