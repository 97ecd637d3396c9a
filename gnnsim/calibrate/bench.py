"""Micro-benchmarks of the operations the real trainer runs, on this machine's CPU.

Each benchmark times one operation on a sweep of shapes and records, for each shape,
the demands (FLOPs and bytes) that the workload builder would assign to it, computed by
the very same functions (:mod:`gnnsim.workload.model`). The fit then relates demands to
seconds. The times are means of several repeats after a warm-up, taken while the node's
other trainers run a training-like load beside them (see :mod:`gnnsim.calibrate.twin`).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gnnsim.workload import model as m


@dataclass
class Samples:
    """The kernels of one class's sweep and their measured seconds."""

    kernels: list[m.Kernel] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    cvs: list[float] = field(default_factory=list)  # run-to-run spread of each shape

    def add(self, kernel: m.Kernel, t: float, shape: str, cv: float) -> None:
        self.kernels.append(kernel)
        self.times_s.append(t)
        self.shapes.append(shape)
        self.cvs.append(cv)


def _release_free_memory() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, or a no-op where there is no glibc."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except OSError:
        return lambda *_: 0


RELEASE_FREE_MEMORY = _release_free_memory()


SHAPE_BUDGET_S = 0.01  # time each shape's timed runs should add up to, at most MAX_REPEATS runs
MAX_REPEATS = 200


def mean_time(fn: Callable[[], object], repeats: int, warmup: int = 2, cold: bool = True,
              before: Callable[[], object] | None = None) -> tuple[float, float]:
    """Mean wall time of ``fn`` over at least ``repeats`` runs, and the coefficient of
    variation of those runs.

    Short calls run more often, until the runs add up to about ``SHAPE_BUDGET_S`` (at
    most ``MAX_REPEATS``): a 5 us kernel spreads by 50-70% from run to run on this VM
    (timer, interrupts), so 11 runs leave its mean 20% uncertain, and 200 runs 5%.

    The mean, not the median: the model predicts mean stage times, and the occasional
    slow run (a page-fault storm, a descheduled core) is part of what training pays.

    With ``cold`` (the default) freed memory goes back to the OS before every run, so the
    kernel's output lands on fresh pages as in training, where PyTorch's CPU allocator
    does not cache and every batch's tensors differ in size: measured here, a 10 MB
    output costs about 2 ms more in page faults than on reused pages.
    """
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    per_call = (time.perf_counter() - start) / max(warmup, 1)
    runs = int(min(MAX_REPEATS, max(repeats, SHAPE_BUDGET_S / max(per_call, 1e-9))))
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        if cold:
            RELEASE_FREE_MEMORY(0)
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    mean = float(np.mean(times))
    return mean, float(np.std(times) / mean) if mean > 0 else 0.0


def bench_gemm(quick: bool, repeats: int) -> Samples:
    import torch

    out = Samples()
    ms = [64, 1024, 8192] if quick else [64, 512, 2048, 8192, 32768]
    kns = [(128, 128), (128, 8), (256, 256), (32, 64)] if quick else [(128, 128), (128, 8), (8, 128), (256, 256), (64, 64), (512, 128)]
    for mm in ms:
        for k, n in kns:
            a, b = torch.randn(mm, k), torch.randn(k, n)
            t, cv = mean_time(lambda: torch.mm(a, b), repeats)
            out.add(m.gemm(mm, k, n), t, f"{mm}x{k}x{n}", cv)
    return out


def bench_gemm_tn(quick: bool, repeats: int) -> Samples:
    """Weight-gradient GEMMs: ``x^T @ dy`` with x (K x M) and dy (K x N), K the batch rows."""
    import torch

    out = Samples()
    ks = [1024, 8192, 32768] if quick else [512, 2048, 8192, 16384, 32768]
    mns = [(128, 128), (128, 8), (32, 64)] if quick else [(128, 128), (128, 8), (8, 128), (256, 256), (64, 64), (512, 128)]
    for k in ks:
        for mm, n in mns:
            x, dy = torch.randn(k, mm), torch.randn(k, n)
            t, cv = mean_time(lambda: torch.mm(x.t(), dy), repeats)
            out.add(m.gemm(mm, k, n, cls="gemm_tn"), t, f"{mm}x{k}x{n}", cv)
    return out


_EVICT: list = []


def evict_caches() -> None:
    """Stream over a table larger than the private caches, as training's gathers do."""
    import torch

    if not _EVICT:
        rows = EVICT_BYTES // (128 * 4)
        _EVICT.append((torch.randn(rows, 128), torch.from_numpy(np.random.default_rng(0).integers(0, rows, rows // 2))))
    table, idx = _EVICT[0]
    table.index_select(0, idx)


EVICT_BYTES = 32 * 2**20  # well above this machine's 2 MiB of L2 per core


def bench_optimizer(quick: bool, repeats: int) -> Samples:
    """Adam's step plus zero_grad on T equal tensors."""
    import torch

    out = Samples()
    counts = [2, 8] if quick else [2, 6, 12]
    sizes = [64, 16_384, 1_000_000] if quick else [64, 4_096, 65_536, 262_144, 1_000_000]
    for count in counts:
        for n in sizes:
            params = [torch.nn.Parameter(torch.randn(n)) for _ in range(count)]
            for p in params:
                p.grad = torch.randn(n)
            opt = torch.optim.Adam(params, lr=1e-3)

            def step():
                opt.step()
                opt.zero_grad(set_to_none=False)

            # the step runs right after backward and the all-reduce, with the caches full of
            # other data: evict them first (measured here: 2x the time of a warm step)
            t, cv = mean_time(step, repeats, before=evict_caches)
            # the model charges count + 1 launches (one per tensor, one for the step), the
            # bytes of all tensors and the step's item: one sample per launch unit
            kernels = m.optimizer_kernels(n * count, count, "adam")

            def per_unit(demand: str) -> float:
                return sum(getattr(k, demand) for k in kernels) / len(kernels)

            unit = m.Kernel("optimizer", per_unit("flops"), per_unit("bytes"), items=per_unit("items"))
            out.add(unit, t / len(kernels), f"{count}x{n}", cv)
    return out


def bench_aggregate(quick: bool, repeats: int) -> Samples:
    import torch

    from gnnsim.realrun.model import aggregate_sum

    out = Samples()
    rng = np.random.default_rng(0)
    edges = [2_000, 25_000, 150_000] if quick else [1_000, 5_000, 15_000, 30_000, 60_000, 150_000, 400_000]
    dims = [16, 128] if quick else [16, 64, 128, 256]
    for index, e in enumerate(edges):
        # sampled blocks have a few edges per destination and about one new source per edge
        per_dst = (5, 10)[index % 2]
        num_dst, num_src = max(1, e // per_dst), max(2, e * 4 // 5)
        src = torch.from_numpy(rng.integers(0, num_src, e))
        dst = torch.from_numpy(np.sort(rng.integers(0, num_dst, e)))
        for d in dims:
            h = torch.randn(num_src, d)
            t, cv = mean_time(lambda: aggregate_sum(h, src, dst, num_dst), repeats)
            out.add(m.aggregate(e, num_dst, d), t, f"E{e}xd{d}", cv)
    return out


def bench_gather(quick: bool, repeats: int) -> Samples:
    import torch

    out = Samples()
    rng = np.random.default_rng(1)
    table_rows = 60_000
    rows = [100, 5_000, 40_000] if quick else [100, 1_000, 5_000, 20_000, 60_000]
    dims = [16, 128] if quick else [16, 64, 128, 256]
    for d in dims:
        table = torch.randn(table_rows, d)
        for r in rows:
            idx = torch.from_numpy(rng.integers(0, table_rows, r))
            t, cv = mean_time(lambda: table.index_select(0, idx), repeats)
            out.add(m.gather(r, d), t, f"{r}x{d}", cv)
    return out


def bench_elementwise(quick: bool, repeats: int) -> Samples:
    """Elementwise ops of the kinds the model runs: activation, add, scale, zero-fill."""
    import torch

    out = Samples()
    sizes = [100, 10_000, 300_000, 3_000_000] if quick else [10, 1_000, 10_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]
    for n in sizes:
        x, y = torch.randn(n), torch.randn(n)
        for name, op, reads in (("relu", lambda: torch.relu(x), 1), ("add", lambda: x + y, 2),
                                ("scale", lambda: x * 0.5, 1), ("zero", lambda: torch.zeros(n), 0)):
            t, cv = mean_time(op, repeats)
            out.add(m.elementwise(n, reads=reads), t, f"{name}{n}", cv)
    return out


SAMPLER_GRAPH_NODES = (8_000, 60_000, 250_000)  # the smallest is the reference size


def bench_sampler(quick: bool, repeats: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sampler timings with their (1, sampled nodes, sampled edges, edges x log2(graph /
    smallest graph)) features, on graphs of several sizes (cache locality)."""
    from gnnsim.graph.generators import sbm
    from gnnsim.workload.sampler import sample_minibatch

    rng = np.random.default_rng(2)
    features, times, shapes = [], [], []
    batch_sizes = [32, 512, 2048] if quick else [16, 128, 512, 1024, 2048]
    fanout_sets = [[5], [10, 5], [15, 10]] if quick else [[5], [10, 5], [15, 10], [5, 5, 5], [10, 10, 5]]
    for nodes in SAMPLER_GRAPH_NODES[:2] if quick else SAMPLER_GRAPH_NODES:
        graph = sbm(nodes, 8, 12.0, 0.85, seed=3)
        doublings = float(np.log2(nodes / SAMPLER_GRAPH_NODES[0]))
        for bs in batch_sizes:
            for fanouts in fanout_sets:
                seeds = rng.choice(graph.train_ids, size=min(bs, graph.train_ids.size), replace=False)
                mb = sample_minibatch(graph.indptr, graph.indices, seeds, fanouts, rng)
                # a batch is sampled right after the optimizer step, caches full of other data
                t, _ = mean_time(lambda: sample_minibatch(graph.indptr, graph.indices, seeds, fanouts, rng), repeats,
                              before=evict_caches)
                e = mb.num_sampled_edges
                features.append([1.0, mb.num_sampled_nodes, e, e * doublings])
                times.append(t)
                shapes.append(f"n{nodes}b{bs}f{fanouts}")
    return np.array(features), np.array(times), shapes
