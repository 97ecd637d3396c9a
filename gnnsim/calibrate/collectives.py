"""Gloo collective micro-benchmarks on loopback: all-reduce and all-to-all vs message size.

Two processes (started like a real run, in their own session and killed on timeout)
time each collective after a barrier; rank 0 writes the medians. This module is what
runs in the ranks (:func:`_worker`) and what starts them (:func:`run_collectives`); the
fits of the rows it writes are :mod:`gnnsim.calibrate.collective_fit`.

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
# How long the ranks computed since their previous collective (the busy-gap sweep: gloo
# stalls more often after longer compute), and the spread of their extra compute on top
# (so that they enter apart, as after unequal work)
GAPS_S = (0.0, 0.5e-3, 1e-3, 2e-3, 4e-3, 8e-3)
GAP_SKEW_S = 3e-4
TIGHT_S = 10e-6  # chained entries this close measure the together level
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


def _worker(port: int, rank: int, world: int, out: str, quick: bool, crowded: bool = False,
            share: float = 1.0) -> None:
    import torch
    import torch.distributed as dist

    from gnnsim.realrun.affinity import pin_to_own_cores

    pin_to_own_cores(rank, 1)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    # A round of several spread over a calibration times ``share`` of a whole run's calls,
    # but all of the tight chained ones and the wake-up's: cheap, and their means are set by
    # how many stall (a binomial count over a 3.5 ms slice each)
    whole = 9 if quick else 21
    repeats = max(3, round(whole * share))
    # a stall (2-10 ms) hits some small collectives: their mean needs many calls, and
    # they are cheap
    small_repeats = 4 * repeats
    # In training a collective follows memory-heavy work (gathers, aggregation), so every
    # rank does the same such work before each call of the size sweep (after a barrier).
    # Every call is timed on the host's one monotonic clock (shared by all processes,
    # also across network namespaces): its *skew* is how far apart the ranks entered it
    # (last start - first start) and its *cost* the time from the last entry to the last
    # exit, the collective's own time, which the simulator adds after its barrier has
    # waited for the last arrival (and which includes a stall on either rank's side).
    # With more processes than cores (``crowded``) the cost is the slowest rank's own
    # time instead: there the ranks wait for peers that sit descheduled behind another
    # process on their core, a wait that is the collective's cost and that no barrier of
    # the simulator sees. Size rows keep the mean cost (stalls included, what the fit
    # uses) and the median.
    #
    # gloo stalls for a scheduler time slice far more often when the ranks enter within a
    # few tens of microseconds of each other, as a chain of collectives (a feature
    # exchange's three all-to-alls, a halo exchange) enters them; the size sweep's
    # barrier-and-gather entry leaves them much further apart. So the skew sweep times the ``SPREAD_BYTES`` message both ways, back to back
    # (chained) and after the barrier and gather, each with one rank ``SPREADS_S`` late
    # (a chain then enters about that far apart, from 10 us), and keeps every call's
    # (skew, cost) for the fit of alpha's factor against the skew
    # (:func:`gnnsim.calibrate.collective_fit.fit_spread`, :meth:`gnnsim.hardware.profiles.Collective.latency_factor`).
    table = torch.randn(PRE_WORK_ROWS, 128)
    rows = torch.from_numpy(np.random.default_rng(rank).integers(0, PRE_WORK_ROWS, PRE_WORK_ROWS // 8))

    jitter = np.random.default_rng(1000 + rank)

    def timed(op, calls: int, late_by: float = 0.0, chained: bool = False,
              work_s: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per call after two warm-ups: (skew, cost) in seconds, the same on every rank.
        With ``work_s`` every rank computes that long plus up to ``GAP_SKEW_S`` more (its
        own draw) before each call, chained."""
        starts, ends = [], []
        if chained or work_s is not None:
            dist.barrier()
        for i in range(calls + 2):
            if work_s is not None:
                _compute(table, rows, work_s + jitter.uniform(0.0, GAP_SKEW_S))
            elif not chained:
                dist.barrier()
                table.index_select(0, rows)
            if rank == 0 and late_by > 0:
                _busy(late_by)
            start = time.perf_counter()
            op()
            if i >= 2:
                starts.append(start)
                ends.append(time.perf_counter())
        first_in = -torch.tensor(starts, dtype=torch.float64)
        last_in = torch.tensor(starts, dtype=torch.float64)
        last_out = torch.tensor(ends, dtype=torch.float64)
        own = last_out - last_in
        for t in (first_in, last_in, last_out, own):
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        skew = last_in + first_in
        return skew, (own if crowded else last_out - last_in)

    results: dict[str, list] = {"allreduce": [], "alltoall": [], "skew": {"allreduce": [], "alltoall": []}}
    for size in sizes_bytes(quick):
        n = size // 4
        buf = torch.randn(n)
        per_peer = max(1, n // world)
        send = torch.randn(per_peer * world)
        recv = torch.empty_like(send)
        ops = (("allreduce", lambda: dist.all_reduce(buf)), ("alltoall", lambda: dist.all_to_all_single(recv, send)))
        for name, op in ops:
            _, cost = timed(op, small_repeats if size < 2**20 else repeats)
            sent = size if name == "allreduce" else alltoall_sent_bytes(size, world)
            # bytes, mean, median
            results[name].append([float(sent), float(cost.mean().item()), float(cost.median().item())])
            results.setdefault("calls", {}).setdefault(name, []).append([float(c) for c in cost.tolist()])
        if size == SPREAD_BYTES and not crowded:
            # (crowded ranks enter as the scheduler lets them: their skews say nothing of
            # gloo's entry)
            for name, op in ops:
                # the tight chained points carry the together level (alpha itself): a third
                # of such calls stall for ~3 ms, so their mean needs hundreds of calls
                pairs = [timed(op, 4 * 4 * whole // 2 if chained and late_by <= TIGHT_S else small_repeats // 2,
                               late_by, chained)
                         for chained in (True, False) for late_by in SPREADS_S]
                results["skew"][name] = [[float(a), float(b)] for skew, cost in pairs
                                         for a, b in zip(skew.tolist(), cost.tolist())]
                # the busy-gap sweep: [[compute since the last collective, skew, cost]]
                results.setdefault("gap", {})[name] = [
                    [gap, float(a), float(b)] for gap in GAPS_S
                    for a, b in zip(*(t.tolist() for t in timed(op, small_repeats, work_s=gap)))]
    results.setdefault("calls", {})["wakeup"] = []
    results["wakeup"] = _wakeup(dist, torch, rank, 9 if quick else 60, results["calls"]["wakeup"])
    if rank == 0:
        Path(out).write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


WAKEUP_DELAYS_S = (0.0, 1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)
BUSY_S = 2e-3
BASE_CALLS = 3  # the wake-up's no-delay row times this many times the calls of the others


def _compute(table, rows, seconds: float) -> None:
    """Gather rows of ``table`` for ``seconds``: a rank computing between collectives."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        table.index_select(0, rows)


def _busy(seconds: float) -> None:
    """Spin (not sleep) for ``seconds``: a rank still computing."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _wakeup(dist, torch, rank: int, repeats: int, raw: list | None = None) -> list[list[float]]:
    """Extra time a rank pays in a small all-reduce after idling ``d`` seconds for a late peer.

    Both ranks compute, then rank 1 computes ``d`` longer; rank 0's all-reduce time minus
    ``d`` is the collective's own time plus any wake-up cost of the idle rank.
    """
    buf = torch.zeros(64)
    rows = []
    for delay in WAKEUP_DELAYS_S:
        times = []
        # the no-delay row is every penalty's reference: three times the calls
        for _ in range(repeats * (BASE_CALLS if delay == 0 else 1)):
            dist.barrier()
            _busy(BUSY_S + (delay if rank == 1 else 0.0))
            start = time.perf_counter()
            dist.all_reduce(buf)
            times.append(time.perf_counter() - start - (delay if rank == 0 else 0.0))
        # the mean: with a third to a half of the calls stalled, the median flips between
        # the stalled and the clean time
        if raw is not None:  # rank 0's every call (the benchmark's analysis reads them)
            raw.append([float(x) for x in times])
        t = torch.tensor([float(np.mean(times))])
        dist.broadcast(t, src=0)
        rows.append([delay, float(t.item())])
    return rows


def run_collectives(world: int, quick: bool, timeout_s: float = 300.0, netns=None,
                    crowded: bool = False, share: float = 1.0) -> dict[str, list[list[float]]]:
    """Run the collective benchmark on ``world`` local processes and return its rows
    ([[bytes, mean s, median s]] per collective, plus the wake-up rows). With ``netns``
    (a :class:`gnnsim.realrun.netns.NetnsSetup`) each rank runs in its own namespace and
    the traffic crosses its shaped link. ``crowded`` says the processes share cores
    (each call is then timed as its slowest rank saw it, see :func:`_worker`); ``share``
    scales every sweep's calls (a round of several,
    :func:`~gnnsim.calibrate.collective_fit.median_rounds`)."""
    with tempfile.TemporaryDirectory(prefix="gnnsim-calib-") as tmp:
        out = Path(tmp) / "collectives.json"
        port = procs_mod.free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        helpers = netns.start_rendezvous(port) if netns is not None else []
        procs = procs_mod.spawn(
            [(netns.command_prefix(r) if netns is not None else [])
             + [sys.executable, "-m", "gnnsim.calibrate.collectives", str(port), str(r), str(world), str(out),
                "1" if quick else "0", "crowded" if crowded else "own", str(share)] for r in range(world)],
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
            len(sys.argv) > 6 and sys.argv[6] == "crowded", float(sys.argv[7]) if len(sys.argv) > 7 else 1.0)
