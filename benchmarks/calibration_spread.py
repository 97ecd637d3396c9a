"""How much the optimizer and PyG-loader calibration pieces swing from one calibration to the next.

    flock /tmp/gnnsim-timing.lock python benchmarks/calibration_spread.py [N] [--rounds] [--json OUT]

Each of N repeats times the host-speed probe (the training-like step that ``cpu_sharing.alone_ms``
and the validation harness's *host speed* time, :func:`~gnnsim.calibrate.capacity.reference_step_s`),
then the optimizer sweep as a full calibration ran it before issue 22's fix (two passes back to
back, each shape's mean), fits it and prices the own trainer's Adam step (GraphSAGE's six
tensors), then the PyG ``NodeLoader`` benchmark (one round), fitted and priced on a ``pyg-sage``
batch, then the probe again. With ``--rounds`` each repeat times both as a full calibration
now does (:class:`gnnsim.calibrate.rounds.Rounds`: five optimizer rounds, four loader rounds,
each round scaled to the probe's median around them, each shape's median round; the profile is
then at that host speed, the "probe" column), the rounds ``FILLER_S`` of the probe's load apart (a calibration
spreads them over minutes of other work). Pinned to core 0, one thread, as
calibration times kernels. Prints one line per round and the spread (max/min, CV) of each number,
and how each tracks the probe (correlation over the rounds).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gnnsim.calibrate import bench, pyg
from gnnsim.calibrate.capacity import reference_step_s
from gnnsim.calibrate.profile_blocks import fit_class
from gnnsim.calibrate.rounds import KERNEL_PASSES, ROUNDS, Rounds, scaled
from gnnsim.calibrate.timing import merged
from gnnsim.realrun.affinity import pinned
from gnnsim.workload import kernels as m

STEP_PARAMS, STEP_TENSORS = 8772, 6  # the own trainer's GraphSAGE (docs/architecture.md)
BATCH_NODES, BATCH_EDGES = 1785, 7859  # a pyg-sage batch (batch 256, fan-outs [8, 4]; pyg_minibatch's counts)
REPEATS = 11  # a full calibration's
FILLER_S = 5.0  # the probe's load between two rounds (--rounds)


def predict_step(rates: dict, params: int = STEP_PARAMS, tensors: int = STEP_TENSORS) -> float:
    """Seconds the fitted optimizer rates charge an Adam step (as ``cost.model`` prices it)."""
    from pathlib import Path

    from gnnsim.cost.model import kernel_time
    from gnnsim.hardware.loaders import _rate_from

    rate = _rate_from(rates, Path("optimizer"), float("inf"), rates["gbps"] * 1e9)
    return sum(kernel_time(rate, kern) for kern in m.optimizer_kernels(params, tensors, "adam"))


def optimizer_round(repeats: int = REPEATS, rounds=None) -> dict:
    if rounds:  # each round scaled to the probe's median over them, as a calibration reads them
        passes = [scaled(s, f) for s, f in zip(rounds.optimizer, rounds.factors())]
        s = rounds.optimizer_samples()
    else:
        passes = [bench.bench_optimizer(False, -(-repeats // KERNEL_PASSES)) for _ in range(KERNEL_PASSES)]
        s = merged(passes)
    rates, res = fit_class("optimizer", s, cpu=True)
    per_pass = [predict_step(fit_class("optimizer", p, cpu=True)[0]) for p in passes]
    return {"step_us": predict_step(rates) * 1e6, "pass_step_us": [t * 1e6 for t in per_pass],
            "launch_us": rates["launch_us"], "per_item_ns": rates["per_item_ns"], "kfold": res["kfold_mape"]}


def loader_round(repeats: int = REPEATS, rounds=None) -> dict:
    rows = rounds.loader_rows() if rounds else pyg.bench_loader(False, repeats)
    loader, _ = pyg.fit_loader(rows)
    extra = (loader["per_iteration_us"] + loader["loader_per_node_ns"] * BATCH_NODES * 1e-3
             + loader["loader_per_edge_ns"] * BATCH_EDGES * 1e-3)
    return {"batch_us": extra, **loader,
            "median_extra_us": float(np.median([(r["loader"] - r["bare"]) * 1e6 for r in rows]))}


def spread_rounds() -> tuple[Rounds, list[float]]:
    """The optimizer's and the loader's rounds as a full calibration times them, with the
    probe's load between them; and the probe's readings."""
    rounds, probes, busy = Rounds(REPEATS, loader=True), [], 0.0
    for _ in range(ROUNDS):
        probes.append(reference_step_s() * 1e3)
        start = time.perf_counter()
        with pinned(0, 1):
            rounds.run()
        busy += time.perf_counter() - start
        reference_step_s(rounds=max(1, int(FILLER_S / 0.1)))
    rounds.busy_s = busy
    return rounds, probes


def main(repeats: int, out: str | None, spread: bool) -> None:
    import torch

    torch.set_num_threads(1)
    rows = []
    for r in range(repeats):
        start = time.perf_counter()
        if spread:
            rounds, probes = spread_rounds()
            ref0 = ref1 = rounds.reference_s() * 1e3  # the host speed the pieces are scaled to
            ref2 = reference_step_s() * 1e3
            opt, ld = optimizer_round(rounds=rounds), loader_round(rounds=rounds)
            pieces_s = rounds.busy_s
        else:
            ref0 = reference_step_s() * 1e3
            t0 = time.perf_counter()
            with pinned(0, 1):
                opt = optimizer_round()
            t1 = time.perf_counter()
            ref1 = reference_step_s() * 1e3
            t2 = time.perf_counter()
            with pinned(0, 1):
                ld = loader_round()
            pieces_s = t1 - t0 + time.perf_counter() - t2
            ref2 = reference_step_s() * 1e3
        row = {"round": r, "ref_ms": [ref0, ref1, ref2], "optimizer": opt, "loader": ld,
               "wall_s": time.perf_counter() - start, "pieces_s": pieces_s}
        rows.append(row)
        print(f"round {r}: probe {ref0:.2f}/{ref1:.2f}/{ref2:.2f} ms; Adam step {opt['step_us']:.0f} us "
              f"(passes {'/'.join(f'{t:.0f}' for t in opt['pass_step_us'])}; launch {opt['launch_us']:g} us, "
              f"step item {opt['per_item_ns'] / 1e3:.0f} us); loader +{ld['batch_us']:.0f} us a batch "
              f"(fixed {ld['per_iteration_us']:g} us, {ld['loader_per_node_ns']:g} ns/node; median raw "
              f"+{ld['median_extra_us']:.0f}); {row['wall_s']:.0f} s, {pieces_s:.0f} s of it timing the two", flush=True)
    summary(rows)
    if out:
        with open(out, "w") as f:
            json.dump(rows, f, indent=1)


def spread(xs) -> str:
    xs = np.asarray(xs, dtype=float)
    return f"{xs.min():.0f}-{xs.max():.0f} (x{xs.max() / xs.min():.2f}, CV {xs.std() / xs.mean():.0%})"


def summary(rows: list[dict]) -> None:
    probe = np.array([np.mean(r["ref_ms"][:2]) for r in rows])
    probe_l = np.array([np.mean(r["ref_ms"][1:]) for r in rows])
    if len(rows) < 2:
        return
    step = np.array([r["optimizer"]["step_us"] for r in rows])
    batch = np.array([r["loader"]["batch_us"] for r in rows])
    print(f"probe (ms x1000): {spread(probe * 1e3)}")
    print(f"Adam step priced (us): {spread(step)}; corr with probe {np.corrcoef(step, probe)[0, 1]:+.2f}; "
          f"per ms of probe step {spread(step / probe)}")
    print(f"loader overhead a batch (us): {spread(batch)}; corr with probe {np.corrcoef(batch, probe_l)[0, 1]:+.2f}; "
          f"per ms of probe step {spread(batch / probe_l)}")


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repeats", nargs="?", type=int, default=6, help="calibrations' pieces to time (default 6)")
    ap.add_argument("--rounds", action="store_true", help="time them in rounds, as a full calibration now does")
    ap.add_argument("--json", metavar="OUT", help="also write every repeat's rows as JSON")
    args = ap.parse_args()
    main(args.repeats, args.json, args.rounds)


if __name__ == "__main__":
    cli()
