"""Gloo collective micro-benchmarks on loopback: all-reduce and all-to-all vs message size.

Two processes (started like a real run, in their own session and killed on timeout)
time each collective after a barrier; rank 0 writes the medians.

Usage (internal): ``python -m gnnsim.calibrate.collectives PORT RANK WORLD OUT.json QUICK``
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gnnsim.errors import RealRunError
from gnnsim.realrun import procs as procs_mod


PRE_WORK_ROWS = 30_000  # rows of the table each rank gathers from before a timed collective
SPREADS_S = (0.0, 10e-6, 25e-6, 50e-6, 100e-6, 200e-6, 400e-6, 1e-3)  # how late the last rank arrives (spread sweep)
SPREAD_BYTES = 2**10  # the message size of the spread sweep (one of every sweep's sizes)


def sizes_bytes(quick: bool) -> list[int]:
    exps = [10, 14, 17, 20, 22, 24] if quick else [8, 10, 12, 14, 16, 18, 20, 21, 22, 23, 24]
    return [2**e for e in exps]


def alltoall_sent_bytes(size: int, world: int) -> int:
    """Bytes one rank sends to its peers in the benchmark's all-to-all of a ``size``-byte
    buffer (float32, split evenly over the ``world`` ranks, its own share stays home).

    >>> alltoall_sent_bytes(4096, 2), alltoall_sent_bytes(4, 4)
    (2048, 12)
    """
    return max(1, size // 4 // world) * 4 * (world - 1)


def _worker(port: int, rank: int, world: int, out: str, quick: bool, crowded: bool = False) -> None:
    import torch
    import torch.distributed as dist

    from gnnsim.realrun.affinity import pin_to_own_cores

    pin_to_own_cores(rank, 1)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    repeats = 9 if quick else 21
    # a stall (3-10 ms) hits some small collectives: their mean needs many calls, and
    # they are cheap
    small_repeats = 4 * repeats
    # In training a collective follows memory-heavy work (gathers, aggregation), so every
    # rank does the same such work before each call. The sweep over sizes sends the ranks
    # in together (after a barrier), as a feature exchange's all-to-alls are entered
    # (measured in a 2-rank run: 12 us apart at the median); the sweep over arrival
    # spreads then delays one rank, as the ranks reach an all-reduce after unequal
    # backward passes (107 us apart at the median, 500 us at the 90th percentile). gloo
    # stalls most when the ranks arrive together (on the dev VM 30% of small calls in
    # one hour, 9% in another), so the simulator scales alpha by the spread it sees
    # (:meth:`gnnsim.hardware.profiles.Collective.latency_factor`). Each call's time is
    # the one of the rank that arrived last (the minimum over ranks): the collective's
    # own time, which the simulator adds after its barrier has waited for the last
    # arrival. With more processes than cores (``crowded``) it is the slowest rank's
    # instead: there the ranks wait for peers that sit descheduled behind another
    # process on their core, a wait that is the collective's cost and that no barrier
    # of the simulator sees (taking the last arrival's time there put the 4-rank
    # scenario at -28% instead of -8 to -12%). Rows keep the mean (stalls included,
    # what the fit uses) and the median.
    table = torch.randn(PRE_WORK_ROWS, 128)
    rows = torch.from_numpy(np.random.default_rng(rank).integers(0, PRE_WORK_ROWS, PRE_WORK_ROWS // 8))

    def own_times(op, calls: int, late_by: float = 0.0) -> torch.Tensor:
        times = []
        for i in range(calls + 2):
            dist.barrier()
            table.index_select(0, rows)
            if rank == 0 and late_by > 0:
                _busy(late_by)
            start = time.perf_counter()
            op()
            if i >= 2:
                times.append(time.perf_counter() - start)
        last = torch.tensor(times)
        # per call: the rank that arrived last, or when crowded the slowest
        dist.all_reduce(last, op=dist.ReduceOp.MAX if crowded else dist.ReduceOp.MIN)
        return last

    results: dict[str, list[list[float]]] = {"allreduce": [], "alltoall": [], "spread": []}
    for size in sizes_bytes(quick):
        n = size // 4
        buf = torch.randn(n)
        per_peer = max(1, n // world)
        send = torch.randn(per_peer * world)
        recv = torch.empty_like(send)
        ops = (("allreduce", lambda: dist.all_reduce(buf)), ("alltoall", lambda: dist.all_to_all_single(recv, send)))
        for name, op in ops:
            last = own_times(op, small_repeats if size < 2**20 else repeats)
            sent = size if name == "allreduce" else alltoall_sent_bytes(size, world)
            # bytes, mean, median
            results[name].append([float(sent), float(last.mean().item()), float(last.median().item())])
        if size == SPREAD_BYTES:
            for late_by in SPREADS_S:
                means = [float(own_times(op, small_repeats, late_by).mean().item()) for _, op in ops]
                results["spread"].append([late_by, *means])  # seconds late, all-reduce, all-to-all
    results["wakeup"] = _wakeup(dist, torch, rank, 9 if quick else 21)
    if rank == 0:
        Path(out).write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


WAKEUP_DELAYS_S = (0.0, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)
BUSY_S = 2e-3


def _busy(seconds: float) -> None:
    """Spin (not sleep) for ``seconds``: a rank still computing."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _wakeup(dist, torch, rank: int, repeats: int) -> list[list[float]]:
    """Extra time a rank pays in a small all-reduce after idling ``d`` seconds for a late peer.

    Both ranks compute, then rank 1 computes ``d`` longer; rank 0's all-reduce time minus
    ``d`` is the collective's own time plus any wake-up cost of the idle rank.
    """
    buf = torch.zeros(64)
    rows = []
    for delay in WAKEUP_DELAYS_S:
        times = []
        for _ in range(repeats):
            dist.barrier()
            _busy(BUSY_S + (delay if rank == 1 else 0.0))
            start = time.perf_counter()
            dist.all_reduce(buf)
            times.append(time.perf_counter() - start - (delay if rank == 0 else 0.0))
        t = torch.tensor([float(np.median(times))])
        dist.broadcast(t, src=0)
        rows.append([delay, float(t.item())])
    return rows


def fit_wakeup(rows: list[list[float]]) -> tuple[float, float]:
    """(wake-up seconds, idle threshold seconds) from [[delay, time]] rows.

    The penalty is the time above the no-delay time; the threshold lies halfway between
    the last delay without a penalty and the first with one.

    >>> fit_wakeup([[0, 1e-4], [1e-4, 1e-4], [5e-4, 1e-4], [1e-3, 2.1e-3], [2e-3, 2.1e-3]])
    (0.002, 0.00075)
    """
    delays = np.array([r[0] for r in rows])
    extra = np.array([r[1] for r in rows]) - rows[0][1]
    long_waits = extra[delays >= 1e-3]
    penalty = float(np.median(long_waits)) if long_waits.size else 0.0
    if penalty < MIN_WAKEUP_S:
        return 0.0, 0.0
    paid = np.flatnonzero(extra > penalty / 2)
    first = int(paid[0]) if paid.size else len(delays) - 1
    threshold = (delays[first] + delays[max(first - 1, 0)]) / 2
    return round(penalty, 9), round(float(threshold), 9)


MIN_WAKEUP_S = 5e-5


def fit_spread(rows: list[list[float]], together_s: tuple[float, float] | None = None) -> tuple[float, float]:
    """(floor, scale seconds) of ``factor(d) = floor + (1 - floor) exp(-d / scale)``, the
    small collectives' time with the last rank ``d`` late over their time when all arrive
    together, from [[d, all-reduce s, all-to-all s]] rows (both collectives pooled).
    ``together_s`` is that time as the size sweep's alpha-beta fit predicts it for each
    collective (default: the rows' own first point, d = 0); anchoring at the fit makes
    ``alpha x factor`` reproduce the measured times of late arrivals, the steadier end
    (the first point is a single, stall-prone mean). (1.0, 0.0), no dependence, when the
    rows do not show one.

    >>> d = [0.0, 25e-6, 100e-6, 300e-6, 1e-3]
    >>> f, scale = fit_spread([[x, 1e-3 * (0.4 + 0.6 * np.exp(-x / 5e-5)), 5e-4 * (0.4 + 0.6 * np.exp(-x / 5e-5))]
    ...                        for x in d])
    >>> round(f, 3), round(scale * 1e6, 1)
    (0.4, 50.0)
    """
    from scipy.optimize import least_squares

    table = np.asarray(rows, dtype=float)
    if table.shape[0] < 3:
        return 1.0, 0.0
    late = table[:, 0]
    ratios = table[:, 1:] / (np.asarray(together_s, dtype=float) if together_s is not None else table[0, 1:])

    def residual(p):
        floor, log_scale = p
        model = floor + (1.0 - floor) * np.exp(-late / np.exp(log_scale))
        return (ratios - model[:, None]).ravel()

    # the scale stays within the spreads measured: beyond the latest arrival the sweep saw,
    # a floor is an extrapolation (one calibration here fitted a floor of 0 with a 9.5 ms
    # scale to a factor that had only fallen to 0.9 at 1 ms, so alpha vanished for ranks
    # arriving more than a few ms apart)
    longest = max(float(late.max()), 2e-6)
    sol = least_squares(residual, [0.5, np.log(min(5e-5, longest / 2))],
                        bounds=([0.0, np.log(1e-6)], [1.0, np.log(longest)]))
    floor, scale = float(sol.x[0]), float(np.exp(sol.x[1]))
    if floor >= 0.95:
        return 1.0, 0.0
    return round(floor, 4), round(scale, 9)


def run_collectives(world: int, quick: bool, timeout_s: float = 300.0, netns=None,
                    crowded: bool = False) -> dict[str, list[list[float]]]:
    """Run the collective benchmark on ``world`` local processes and return its rows
    ([[bytes, mean s, median s]] per collective, plus the wake-up rows). With ``netns``
    (a :class:`gnnsim.realrun.netns.NetnsSetup`) each rank runs in its own namespace and
    the traffic crosses its shaped link. ``crowded`` says the processes share cores
    (each call is then timed as its slowest rank saw it, see :func:`_worker`)."""
    with tempfile.TemporaryDirectory(prefix="gnnsim-calib-") as tmp:
        out = Path(tmp) / "collectives.json"
        port = procs_mod.free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        helpers = netns.start_rendezvous(port) if netns is not None else []
        procs = procs_mod.spawn(
            [(netns.command_prefix(r) if netns is not None else [])
             + [sys.executable, "-m", "gnnsim.calibrate.collectives", str(port), str(r), str(world), str(out),
                "1" if quick else "0", "crowded" if crowded else "own"] for r in range(world)],
            [{**env, **(netns.rank_env(r) if netns is not None else {})} for r in range(world)])
        timed_out = procs_mod.wait(procs, timeout_s, also_kill=helpers)
        if not out.exists():
            where = f" over {netns.shape.describe()}" if netns is not None else ""
            errs = " | ".join(procs_mod.stderr_tail(p, 1) for p in procs if p.returncode not in (0, -signal.SIGKILL))
            raise RealRunError(f"gloo collective benchmark{where} failed: "
                               f"{errs or (f'timed out after {timeout_s:.0f} s' if timed_out else 'no output')}")
        return json.loads(out.read_text())


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1",
            len(sys.argv) > 6 and sys.argv[6] == "crowded")
