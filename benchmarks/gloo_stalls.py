"""When gloo's small collectives stall on this machine: by the ranks' arrival spread, and
call by call in the real trainer's feature-exchange pattern.

    python benchmarks/gloo_stalls.py [--calls 200]

Two processes on loopback (127.0.0.1 only), each pinned to its own core. Prints, for a
68 KB all-reduce entered after 1 ms of work with rank 1 late by 0-200 us, the mean and
median time of the late rank and the share of calls over 2 ms; then the three
all-to-alls of a feature exchange (counts, ids, rows) and an all-reduce after 2 ms of
identical work on both ranks. Measured on the 2-vCPU dev VM: 37% of calls stall at 0 us,
14% at 25 us, 4% at 50 us; the exchange's three all-to-alls stall at 14%, 22% and 23%.
A day later the same run gave 9% at 0 us and 8% at 50 us: the stall rate drifts. The
calibration measures the collectives with the ranks together and with one rank late,
every time, and the simulator scales alpha by the arrival spread it sees; see
docs/architecture.md, "Collective stalls, and when they strike". Every loop is bounded;
the group is killed after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SKEWS_S = (0.0, 10e-6, 25e-6, 50e-6, 100e-6, 200e-6)
ALLREDUCE_FLOATS = 17_000  # 68 KB: a small GNN's gradients
STALL_S = 2e-3  # a call this long stalled


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _summary(times_s) -> dict:
    v = np.asarray(times_s) * 1e3
    return {"mean_ms": float(v.mean()), "median_ms": float(np.median(v)), "stalled": float((v > STALL_S * 1e3).mean())}


def _worker(port: int, rank: int, calls: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    from gnnsim.realrun.affinity import pin_to_own_cores

    pin_to_own_cores(rank, 1)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    buf = torch.randn(ALLREDUCE_FLOATS)
    result: dict = {"skew": [], "exchange": {}}
    for skew in SKEWS_S:
        times = []
        for i in range(calls + 10):
            dist.barrier()
            _spin(1e-3 + (skew if rank == 1 else 0.0))
            start = time.perf_counter()
            dist.all_reduce(buf)
            if i >= 10:
                times.append(time.perf_counter() - start)
        t = torch.tensor(times)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the collective ends when the slower rank is done
        result["skew"].append({"skew_us": skew * 1e6, **_summary(t.numpy())})
    local = torch.randn(4000, 64)
    rng = np.random.default_rng(rank)
    phases: dict[str, list[float]] = {"counts": [], "ids": [], "rows": [], "allreduce": []}
    for i in range(calls + 10):
        dist.barrier()
        _spin(0.6e-3)  # sampling
        marks = [time.perf_counter()]
        dist.all_to_all_single(torch.empty(2, dtype=torch.int64), torch.tensor([300, 300]))
        marks.append(time.perf_counter())
        wanted = torch.empty(600, dtype=torch.int64)
        dist.all_to_all_single(wanted, torch.from_numpy(rng.integers(0, 4000, 600)))
        marks.append(time.perf_counter())
        served = local.index_select(0, wanted)  # the rows the peer asked for
        start = time.perf_counter()
        dist.all_to_all_single(torch.empty_like(served), served)
        rows_s = time.perf_counter() - start
        _spin(2e-3)  # forward and backward
        start = time.perf_counter()
        dist.all_reduce(buf)
        if i >= 10:
            phases["counts"].append(marks[1] - marks[0])
            phases["ids"].append(marks[2] - marks[1])
            phases["rows"].append(rows_s)
            phases["allreduce"].append(time.perf_counter() - start)
    for name, times in phases.items():
        t = torch.tensor(times)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        result["exchange"][name] = _summary(t.numpy())
    if rank == 0:
        Path(out).write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per point (default 200)")
    parser.add_argument("--timeout", type=float, default=300.0, help="kill both ranks after this many seconds")
    args = parser.parse_args()
    from gnnsim.realrun import procs

    with tempfile.TemporaryDirectory(prefix="gnnsim-stalls-") as tmp:
        out = Path(tmp) / "stalls.json"
        port = procs.free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        ranks = procs.spawn([[sys.executable, __file__, "--worker", str(port), str(r), str(args.calls), str(out)]
                             for r in range(2)], [env, env])
        timed_out = procs.wait(ranks, args.timeout)
        if not out.exists():
            print(f"gloo_stalls: no result ({'timed out' if timed_out else 'a rank failed'}): "
                  + " | ".join(procs.stderr_tail(p, 2) for p in ranks), file=sys.stderr)
            return 1
        result = json.loads(out.read_text())
    print(f"68 KB all-reduce after 1 ms of work, rank 1 late by the skew ({args.calls} calls each):")
    print("   skew     mean    median   calls over 2 ms")
    for row in result["skew"]:
        print(f"  {row['skew_us']:4.0f} us  {row['mean_ms']:5.2f} ms  {row['median_ms']:5.2f} ms   {row['stalled']:5.0%}")
    print("feature exchange (after 0.6 ms of sampling) and all-reduce (after 2 ms of equal work):")
    for name, row in result["exchange"].items():
        print(f"  {name:<10} {row['mean_ms']:5.2f} ms mean  {row['median_ms']:5.2f} ms median  "
              f"{row['stalled']:4.0%} over 2 ms")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
