"""Diagnostics for the CUDA path: which effects a one-GPU training step pays that the
per-kernel calibration does not see. Prints figures only; run on a machine with a GPU.

    python benchmarks/cuda_diag.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from gnnsim.calibrate.memory_state import evict_caches
from gnnsim.realrun.models import GraphSAGE

dev = torch.device("cuda")
torch.set_num_threads(1)
sync = torch.cuda.synchronize


def timed(fn, n=20, before=None):
    ts = []
    for i in range(n + 3):
        if before:
            before()
        sync()
        t = time.perf_counter()
        fn()
        sync()
        if i >= 3:
            ts.append(time.perf_counter() - t)
    return np.mean(ts) * 1e3


def main():
    rng = np.random.default_rng(0)
    print("== h2d copy of 60 MB (ms)")
    n = 15_000_000
    reused = torch.randn(n)
    print(f"reused pageable {timed(lambda: reused.to(dev)):.2f}")
    print(f"fresh pageable (alloc+fill each time) {timed(lambda: torch.ones(n).to(dev)):.2f}  "
          f"(fill alone {np.mean([timed(lambda: torch.ones(n), 5)]):.2f})")
    pinned = torch.randn(n).pin_memory()
    print(f"pinned {timed(lambda: pinned.to(dev, non_blocking=True)):.2f}")
    print(f"reused pageable after cache eviction {timed(lambda: reused.to(dev), before=evict_caches):.2f}")

    print("== host gather of 150k rows x 100 (ms): index_select + index_copy into fresh matrix")
    for rows_in_table in (60_000, 245_000, 1_000_000):
        table = torch.randn(rows_in_table, 100)
        idx = torch.from_numpy(rng.integers(0, rows_in_table, 150_000))
        pos = torch.arange(150_000)

        def gather():
            x = torch.empty(150_000, 100)
            x.index_copy_(0, pos, table.index_select(0, idx))
            return x
        print(f"table {rows_in_table} rows: select {timed(lambda: table.index_select(0, idx)):.2f}, "
              f"select+place {timed(gather):.2f}")

    print("== GraphSAGE 2 layers (256 hidden, 100 in) on a tiny and a real-sized block (ms)")
    model = GraphSAGE(100, 256, 47, 2).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for seeds, per in ((8, 2), (1024, 10)):
        n1 = seeds * per
        n0 = n1 * 5
        blocks = []
        for ns, nd, f in ((n0, n1, 5), (n1, seeds, per)):
            e = nd * f
            src = torch.from_numpy(rng.integers(0, ns, e)).to(dev)
            dst = torch.from_numpy(np.repeat(np.arange(nd), f)).to(dev)
            inv = torch.full((nd, 1), 1.0 / f, device=dev)
            blocks.append((src, dst, nd, inv))
        x = torch.randn(n0, 100, device=dev)
        y = torch.randint(0, 47, (seeds,), device=dev)
        with torch.no_grad():
            fwd_nograd = timed(lambda: model(blocks, x))
        fwd = timed(lambda: model(blocks, x))
        state = {}

        def fb():
            state["loss"] = torch.nn.functional.cross_entropy(model(blocks, x), y)
            state["loss"].backward()
        fb_t = timed(fb)

        def step():
            opt.step()
            opt.zero_grad(set_to_none=False)
        st = timed(step)
        st_cold = timed(step, before=evict_caches)
        fwd_cold = timed(lambda: model(blocks, x), before=evict_caches)
        print(f"seeds {seeds}: forward no-grad {fwd_nograd:.3f}, forward {fwd:.3f} (cold host caches {fwd_cold:.3f}), "
              f"forward+backward {fb_t:.3f}, optimizer {st:.3f} (cold {st_cold:.3f})")


if __name__ == "__main__":
    import argparse
    import sys

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    if not torch.cuda.is_available():
        sys.exit("cuda_diag: no CUDA device here (torch.cuda.is_available() is False); run it on a machine with a GPU")
    main()
