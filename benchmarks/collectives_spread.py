"""How much the gloo collectives' calibration swings from one run to the next (issue 22).

    flock /tmp/gnnsim-timing.lock python benchmarks/collectives_spread.py [N] [--rounds] [--json OUT]
    python benchmarks/collectives_spread.py N --interleave [--json OUT]   (takes the lock per round)

Each of N repeats reads the host-speed probe (:func:`~gnnsim.calibrate.capacity.reference_step_s`),
runs the collectives piece of a full CPU calibration on 2 processes
(:func:`~gnnsim.calibrate.collectives.run_collectives`), fits it as the calibration does
(:func:`~gnnsim.calibrate.profile_blocks.collective_blocks`, :func:`~gnnsim.calibrate.collective_fit.fit_wakeup`),
then reads the probe again. Prints per repeat the profile's numbers (all-reduce alpha and
bandwidth, wake-up, all-to-all alpha) and what they are made of: the size sweep's alpha
fitted to each size's mean and to its median, the tight chained skew bin's mean, median and
stalled share (calls over 1 ms) that sets alpha's peak factor; then the spread (max/min,
CV) of each over the repeats. ``--json`` keeps every repeat's raw rows (every call). With
``--rounds`` each repeat runs the benchmark as a full calibration now does (three rounds of
half its calls but all the tight chained and wake-up ones, ``FILLER_S`` of the probe's load
apart, each size's median round); without it, once whole, as a calibration ran it before.
``--interleave`` runs N such calibrations' rounds interleaved, minutes apart (see
:func:`interleaved`). The numbers: ``docs/calibration-notes.md``, "Collective rounds".
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gnnsim.calibrate.capacity import reference_step_s
from gnnsim.calibrate.collective_fit import fit_wakeup, median_rounds
from gnnsim.calibrate.collectives import TIGHT_S, run_collectives
from gnnsim.calibrate.profile_blocks import collective_blocks, fit_collective
from gnnsim.calibrate.rounds import (
    COLLECTIVE_ROUNDS,
    COLLECTIVE_SHARE,
    CollectiveRounds,
)

WORLD = 2
FILLER_S = 8.0  # the probe's load between two rounds (--rounds)
GAP_S = 25.0  # between two rounds, without the lock (--interleave)
LOCK = "/tmp/gnnsim-timing.lock"
STALL_S = 1e-3  # a call this slow counts as stalled (a clean 1 KB collective takes 0.1-0.2 ms)


def decompose(coll: dict) -> dict:
    """The profile's collective numbers from one run and what they are made of."""
    residuals: dict = {}
    intra, ar = collective_blocks(coll, WORLD, residuals, "")
    wake_s, _ = fit_wakeup(coll["wakeup"])
    out = {"ar_alpha_us": ar["alpha_us"], "ar_gbps": ar["gbps"], "wakeup_us": wake_s * 1e6,
           "a2a_alpha_us": intra["latency_us"], "a2a_gbps": intra["bw_gbps"]}
    for name, steps, wire in (("allreduce", 2.0, 1.0), ("alltoall", 1.0, 1.0)):
        rows = np.asarray(coll[name])
        short = "ar" if name == "allreduce" else "a2a"
        out[f"{short}_sweep_alpha_mean_us"] = fit_collective(rows.tolist(), steps, wire).coef[0] * 1e6
        out[f"{short}_sweep_alpha_median_us"] = fit_collective(rows[:, [0, 2, 2]].tolist(), steps, wire).coef[0] * 1e6
        # the skew sweep's tight chained calls (the first condition: chained, on time)
        pairs = np.concatenate([np.asarray(r["skew"][name]).reshape(-1, 2) for r in coll.get("rounds", [coll])])
        tight = pairs[pairs[:, 0] <= 2 * TIGHT_S, 1]
        out[f"{short}_tight_mean_us"] = float(tight.mean() * 1e6)
        out[f"{short}_tight_median_us"] = float(np.median(tight) * 1e6)
        out[f"{short}_tight_stalled"] = float((tight > STALL_S).mean())
        calls = coll.get("calls", {}).get(name, [])
        out[f"{short}_size_stalled"] = [float((np.asarray(c) > STALL_S + 3 * np.median(c)).mean()) for c in calls]
        out[f"{short}_size_mean_over_median"] = [float(r[1] / r[2]) for r in coll[name]]
    return out


KEYS = ("ar_alpha_us", "ar_gbps", "wakeup_us", "a2a_alpha_us", "a2a_gbps",
        "ar_sweep_alpha_mean_us", "ar_sweep_alpha_median_us", "ar_tight_mean_us", "ar_tight_median_us", "ar_tight_stalled",
        "a2a_sweep_alpha_mean_us", "a2a_sweep_alpha_median_us", "a2a_tight_mean_us", "a2a_tight_median_us",
        "a2a_tight_stalled")


def spread(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    if xs.min() <= 0:
        return f"{xs.min():.3g}-{xs.max():.3g}"
    return f"{xs.min():.3g}-{xs.max():.3g} (x{xs.max() / xs.min():.2f}, CV {xs.std() / xs.mean():.0%})"


def spread_rounds() -> dict:
    """The benchmark as a full calibration now runs it (:class:`~gnnsim.calibrate.rounds.CollectiveRounds`),
    its rounds ``FILLER_S`` of the probe's load apart (a calibration spreads them over minutes)."""
    rounds = CollectiveRounds(WORLD, False)
    for i in range(rounds.planned()):
        if i:
            reference_step_s(rounds=max(1, int(FILLER_S / 0.1)))
        rounds.run()
    return rounds.result()


def interleaved(n: int, out: str | None) -> None:
    """``n`` calibrations' rounds interleaved: 3n rounds, each under the timing lock and
    ``GAP_S`` apart without it (others' jobs run there, as a calibration's other pieces
    do); repeat ``i`` keeps rounds ``i``, ``i + n``, ``i + 2n`` (minutes apart, as in a
    calibration), each size's median round."""
    import fcntl

    per_round = []
    for k in range(COLLECTIVE_ROUNDS * n):
        if k:
            time.sleep(GAP_S)
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            start = time.perf_counter()
            per_round.append(run_collectives(WORLD, False, share=COLLECTIVE_SHARE))
            print(f"round {k} at {time.strftime('%H:%M:%S')}: {time.perf_counter() - start:.1f} s", flush=True)
    rows = []
    for i in range(n):
        coll = median_rounds(per_round[i::n])
        d = decompose(coll)
        rows.append({"repeat": i, "fit": d, "raw": coll})
        print(f"repeat {i}: " + ", ".join(f"{k} {d[k]:.3g}" for k in KEYS), flush=True)
    for k in KEYS:
        print(f"{k}: {spread([r['fit'][k] for r in rows])}")
    if out:
        with open(out, "w") as f:
            json.dump({"repeats": rows, "rounds": per_round}, f)


def main(n: int, out: str | None, spread_out: bool) -> None:
    rows = []
    for r in range(n):
        start = time.perf_counter()
        before = reference_step_s() * 1e3
        coll = spread_rounds() if spread_out else run_collectives(WORLD, False)
        took = time.perf_counter() - start
        after = reference_step_s() * 1e3
        d = decompose(coll)
        rows.append({"repeat": r, "probe_ms": [before, after], "seconds": took, "fit": d, "raw": coll})
        print(f"repeat {r}: probe {before:.2f}/{after:.2f} ms, {took:.0f} s; "
              + ", ".join(f"{k} {d[k]:.3g}" for k in KEYS), flush=True)
        print("   per size mean/median AR " + " ".join(f"{x:.2f}" for x in d["ar_size_mean_over_median"])
              + " | A2A " + " ".join(f"{x:.2f}" for x in d["a2a_size_mean_over_median"]), flush=True)
    if len(rows) > 1:
        for k in KEYS:
            print(f"{k}: {spread([r['fit'][k] for r in rows])}")
    if out:
        with open(out, "w") as f:
            json.dump(rows, f)


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repeats", nargs="?", type=int, default=5, help="benchmark runs to compare (default 5)")
    ap.add_argument("--rounds", action="store_true", help="each run in rounds, as a full calibration now does")
    ap.add_argument("--interleave", action="store_true",
                    help="run that many calibrations' rounds interleaved, minutes apart (takes the lock per round)")
    ap.add_argument("--json", metavar="OUT", help="also write every run's raw rows as JSON")
    args = ap.parse_args()
    if args.interleave:
        interleaved(args.repeats, args.json)
    else:
        main(args.repeats, args.json, args.rounds)


if __name__ == "__main__":
    cli()
