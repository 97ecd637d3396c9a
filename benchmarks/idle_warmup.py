"""How much slower a core computes right after it sat idle (the warm-up after idling).

    python benchmarks/idle_warmup.py [--repeats 8]

One process pinned to core 0, one torch thread. For each idle time it sleeps, then runs
a small fixed op (relu of a 2000x64 @ 64x64 GEMM, ~0.1 ms) back to back for 30 ms, and
prints the first three calls' times and the extra time paid over the first 5 ms and the
whole 30 ms of work, against the same stretch run with no idle before it (medians of the
repeats; the stretches' own noise is in the no-idle row).

Measured on the 2-vCPU dev VM (session 6): the first call after 30 ms idle takes 0.20
ms and after 100 ms 0.40 ms against 0.09 ms; the extra over the stretch is within noise
up to ~10 ms idle, +0.3 ms after 30 ms and +0.7 ms after 100 ms, recovered within ~10-15
ms of work. A 3 ms training-like step after 30 ms idle took 5.1 ms (3.1 back to back).
The simulator does not charge it: the suite's loopback ranks idle a few ms at a time,
but the shaped-link scenarios wait ~30 ms in every fetch, and their compute stages come
out 20-35% slower than on loopback (forward 2.35 against 1.37 ms at 200 Mbit/s), about
a third of which this warm-up explains.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

IDLES_S = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1)
BUSY_S = 0.03
FIRST_S = 0.005


def busy_after(op, idle_s: float, busy_s: float = BUSY_S) -> tuple[np.ndarray, np.ndarray]:
    """Sleep ``idle_s``, then run ``op`` back to back for ``busy_s``: each call's start
    (busy seconds since the wake-up) and duration. Bounded by ``busy_s``."""
    if idle_s > 0:
        time.sleep(idle_s)
    starts, times = [], []
    begin = time.perf_counter()
    while (start := time.perf_counter()) - begin < busy_s:
        op()
        starts.append(start - begin)
        times.append(time.perf_counter() - start)
    return np.array(starts), np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=8, help="stretches per idle time (the median is kept)")
    args = parser.parse_args()

    import torch

    from gnnsim.realrun.affinity import pinned

    torch.set_num_threads(1)
    with pinned(0, 1):
        x, w = torch.randn(2000, 64), torch.randn(64, 64)

        def op():
            return torch.relu(x @ w)

        for _ in range(50):
            op()
        rows = {}
        for idle in IDLES_S:
            runs = [busy_after(op, idle) for _ in range(args.repeats)]
            rows[idle] = {
                "first": [float(np.median([t[k] for _, t in runs])) for k in range(3)],
                "total": float(np.median([t.sum() - len(t) * np.median(t[len(t) * 2 // 3:]) for _, t in runs])),
                "early": float(np.median([t[:np.searchsorted(s, FIRST_S)].sum()
                                          - np.searchsorted(s, FIRST_S) * np.median(t[len(t) * 2 // 3:])
                                          for s, t in runs])),
            }
    base = rows[0.0]
    print(f"op back to back: {np.median(base['first']) * 1e6:.0f} us; extra against the no-idle stretch:")
    print(f"{'idle ms':>8} {'1st us':>8} {'2nd us':>8} {'3rd us':>8} {'first 5 ms':>11} {'30 ms':>8}")
    for idle, r in rows.items():
        print(f"{idle * 1e3:8.0f} " + " ".join(f"{t * 1e6:8.0f}" for t in r["first"])
              + f" {(r['early'] - base['early']) * 1e6:+10.0f}us {(r['total'] - base['total']) * 1e6:+7.0f}us")


if __name__ == "__main__":
    main()
