"""How much slower a core computes right after it sat idle (the warm-up after idling).

    python benchmarks/idle_warmup.py [--repeats 8]

One process pinned to core 0, one torch thread. For each idle time it sleeps, then runs
an op back to back for 30 ms, and prints the first three calls' times and the extra
time paid over the first 5 ms and the whole 30 ms of work, against the same stretch run
with no idle before it (medians of the repeats). Two ops: a small one (relu of a 2000x64
@ 64x64 GEMM, ~0.1 ms, 0.5 MB) and the training-like step the calibration times
(``gnnsim.calibrate.warmup``, ~3 ms, ~20 MB).

Measured on the 2-vCPU dev VM (session 6): the first call after 30 ms idle takes 0.20
ms and after 100 ms 0.40 ms against 0.09 ms; the extra over the stretch is within noise
up to ~10 ms idle, +0.3 ms after 30 ms and +0.7 ms after 100 ms, recovered within ~10-15
ms of work. A 3 ms training-like step after 30 ms idle took 5.1 ms (3.1 back to back).
The training-like step pays far more: +0.8-2.1 ms over 30 ms of work after 30 ms idle.
The calibration fits that curve and the simulator charges it (``sim/cpu.py``); the
shaped-link scenarios wait ~30 ms in every fetch, and their compute stages ran 20-35%
slower than on loopback (forward 2.35 against 1.37 ms at 200 Mbit/s).
"""

from __future__ import annotations

import argparse

import numpy as np

from gnnsim.calibrate.warmup import FIRST_S, IDLES_S, excess, measure_warmup, probe_op, small_op


def report(name: str, runs: dict) -> None:
    first = {idle: [float(np.median([t[k] for _, t in rs])) for k in range(3)] for idle, rs in runs.items()}
    early = {idle: float(np.median([excess(s, t, FIRST_S) for s, t in rs])) for idle, rs in runs.items()}
    total = {idle: float(np.median([excess(s, t) for s, t in rs])) for idle, rs in runs.items()}
    print(f"{name}: {np.median(first[0.0]) * 1e6:.0f} us back to back; extra against the no-idle stretch:")
    print(f"{'idle ms':>8} {'1st us':>8} {'2nd us':>8} {'3rd us':>8} {'first 5 ms':>11} {'30 ms':>8}")
    for idle in IDLES_S:
        print(f"{idle * 1e3:8.0f} " + " ".join(f"{t * 1e6:8.0f}" for t in first[idle])
              + f" {(early[idle] - early[0.0]) * 1e6:+10.0f}us {(total[idle] - total[0.0]) * 1e6:+7.0f}us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=8, help="stretches per idle time (the median is kept)")
    args = parser.parse_args()
    report("small op", measure_warmup(args.repeats, small_op))
    report("training-like step", measure_warmup(args.repeats, probe_op))


if __name__ == "__main__":
    main()
