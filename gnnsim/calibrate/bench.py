"""Micro-benchmarks of the operations the real trainer runs, on this machine's CPU or GPU.

Each benchmark times one operation on a sweep of shapes and records, for each shape,
the demands (FLOPs and bytes) that the workload builder would assign to it, computed by
the very same functions (:mod:`gnnsim.workload.kernels`). The fit then relates demands to
seconds. How a call is timed (repeats, warm-up, the heap and the caches before each
run, a GPU's queued batches) is :mod:`gnnsim.calibrate.timing`; the sweeps reach the
larger shapes a GPU trains on.
"""

from __future__ import annotations


import numpy as np

from gnnsim.calibrate.memory_state import evict_caches
from gnnsim.calibrate.timing import (Samples, after_other_stages, device_sync, mean_time, synchronised, time_cases,
                                     train_step_s)
from gnnsim.workload import kernels as m
from gnnsim.workload.models import MODELS


# The widths the sweeps time. Besides square layers they reach the narrow ends of a model,
# down to a classifier of 4 classes (the validation graphs'): its outputs n, its input
# gradient's inner k, its weight gradient's rows m, and GCN's aggregation after it. A fit
# extrapolated from widths of 8 up priced those 1.5-2x too slow (docs/calibration-notes.md).
GEMM_KN = [(128, 128), (128, 8), (8, 128), (256, 256), (64, 64), (512, 128), (64, 256), (64, 4), (256, 4), (4, 64),
           (4, 256)]  # forward GEMMs' (k, n)
GEMM_KN_QUICK = [(128, 128), (128, 8), (256, 256), (32, 64), (64, 4)]
GEMM_TN_MN = [(128, 128), (128, 8), (8, 128), (256, 256), (64, 64), (512, 128), (256, 64), (4, 64), (4, 256),
              (64, 4)]  # weight-gradient GEMMs' (m, n): a layer's outputs and inputs
GEMM_TN_MN_QUICK = [(128, 128), (128, 8), (32, 64), (4, 64)]
AGGREGATE_DIMS = [4, 16, 64, 128, 256]
AGGREGATE_DIMS_QUICK = [4, 16, 128]


def sweep(device: str, cpu: list, cuda: list) -> list:
    """The shapes to benchmark: a GPU trains on batches tens of times larger."""
    return cpu if device == "cpu" else cuda


def bench_gemm(quick: bool, repeats: int, device: str = "cpu") -> Samples:
    """Forward GEMMs as a linear layer runs them: ``x @ W^T`` with W stored out x in
    (``nn.Linear``), the layout training uses, whose speed differs from a k x n matrix
    stored as is; a backward ``dy @ W`` (W stored as is) is priced by the same sweep."""
    import torch

    ms = sweep(device, [64, 1024, 8192] if quick else [64, 512, 2048, 8192, 32768],
               [256, 8192, 131072] if quick else [256, 2048, 16384, 65536, 262144])
    kns = GEMM_KN_QUICK if quick else GEMM_KN
    cases = []
    for mm in ms:
        for k, n in kns:
            def make(mm=mm, k=k, n=n):
                a, w = torch.randn(mm, k, device=device), torch.randn(n, k, device=device)
                return lambda: torch.mm(a, w.t())
            cases.append((f"{mm}x{k}x{n}", m.gemm(mm, k, n), make))
    return time_cases(cases, repeats, device)


def bench_gemm_tn(quick: bool, repeats: int, device: str = "cpu") -> Samples:
    """Weight-gradient GEMMs as autograd runs them: ``dy^T @ x`` with dy (K x M) and x
    (K x N), K the batch rows, M the layer's outputs and N its inputs (see
    ``workload.kernels.weight_grad``)."""
    import torch

    ks = sweep(device, [1024, 8192, 32768] if quick else [512, 2048, 8192, 16384, 32768],
               [1024, 32768, 262144] if quick else [1024, 8192, 32768, 131072, 262144])
    mns = GEMM_TN_MN_QUICK if quick else GEMM_TN_MN
    cases = []
    for k in ks:
        for mm, n in mns:
            def make(k=k, mm=mm, n=n):
                dy, x = torch.randn(k, mm, device=device), torch.randn(k, n, device=device)
                return lambda: torch.mm(dy.t(), x)
            cases.append((f"{mm}x{k}x{n}", m.gemm(mm, k, n, cls="gemm_tn"), make))
    return time_cases(cases, repeats, device)


def bench_optimizer(quick: bool, repeats: int, device: str = "cpu", most: int | None = None) -> Samples:
    """Adam's step plus zero_grad on T equal tensors, each after a stand-in for the rest of
    an iteration (:func:`~gnnsim.calibrate.timing.after_other_stages`); ``most`` caps each
    shape's runs (one round of several, :data:`gnnsim.calibrate.rounds.ROUNDS`)."""
    import torch

    out = Samples()
    counts = [2, 8] if quick else [2, 6, 12]
    sizes = sweep(device, [64, 16_384, 1_000_000] if quick else [64, 4_096, 65_536, 262_144, 1_000_000],
                  [64, 65_536, 4_000_000] if quick else [64, 16_384, 262_144, 1_000_000, 4_000_000])
    for count in counts:
        for n in sizes:
            params = [torch.nn.Parameter(torch.randn(n, device=device)) for _ in range(count)]
            for p in params:
                p.grad = torch.randn(n, device=device)
            opt = torch.optim.Adam(params, lr=1e-3)

            def step():
                opt.step()
                opt.zero_grad(set_to_none=False)

            # the step runs once per iteration, after backward and the all-reduce: other code
            # has run since its last call and the caches hold other data (on a GPU too: its
            # step is host work issuing small kernels, timed up to its end as the optimizer
            # stage is). The heap stays warm: the step's temporaries have the parameters'
            # sizes, reusing last step's pages
            t, cv = mean_time(synchronised(step, device), repeats, before=lambda: after_other_stages(device),
                              cold=False, most=most)
            # the model charges count + 1 launches (one per tensor, one for the step), the
            # bytes of all tensors and the step's item: one sample per launch unit
            kernels = m.optimizer_kernels(n * count, count, "adam")

            def per_unit(demand: str) -> float:
                return sum(getattr(k, demand) for k in kernels) / len(kernels)

            unit = m.Kernel("optimizer", per_unit("flops"), per_unit("bytes"), items=per_unit("items"))
            out.add(unit, t / len(kernels), f"{count}x{n}", cv)
    return out


def bench_aggregate(quick: bool, repeats: int, device: str = "cpu") -> Samples:
    import torch

    from gnnsim.realrun.layers import aggregate_sum

    rng = np.random.default_rng(0)
    edges = sweep(device, [2_000, 25_000, 150_000] if quick else [1_000, 5_000, 15_000, 30_000, 60_000, 150_000, 400_000],
                  [5_000, 150_000, 2_000_000] if quick else [5_000, 30_000, 150_000, 600_000, 2_000_000, 4_000_000])
    dims = AGGREGATE_DIMS_QUICK if quick else AGGREGATE_DIMS
    cases = []
    for index, e in enumerate(edges):
        # sampled blocks have a few edges per destination and about one new source per edge
        per_dst = (5, 10)[index % 2]
        num_dst, num_src = max(1, e // per_dst), max(2, e * 4 // 5)
        src, dst = rng.integers(0, num_src, e), np.sort(rng.integers(0, num_dst, e))
        for d in dims:
            def make(src=src, dst=dst, num_src=num_src, num_dst=num_dst, d=d):
                h = torch.randn(num_src, d, device=device)
                s, t = torch.from_numpy(src).to(device), torch.from_numpy(dst).to(device)
                return lambda: aggregate_sum(h, s, t, num_dst)
            cases.append((f"E{e}xd{d}", m.aggregate(e, num_dst, d), make))
    return time_cases(cases, repeats, device)


def bench_gather(quick: bool, repeats: int, device: str = "cpu", host_for_gpu: bool = False) -> Samples:
    """Row gathers ``table[idx]``: on the trainer's device, or (``host_for_gpu``) in the host
    memory of a GPU trainer, whose batches of tens to hundreds of thousands of rows come
    from the whole graph's feature table (larger than the last-level cache).

    Timed in steady state, as every CPU sweep is
    (:data:`~gnnsim.calibrate.timing.STEADY_HEAP`): a batch's matrix reuses the memory
    the previous batch freed as long as it is under glibc's mmap threshold
    (:data:`~gnnsim.realrun.heap.MMAP_THRESHOLD_MAX_BYTES`), and is mapped afresh, page
    faults and all, above it. The fit charges first touch only above that size.
    """
    import torch

    rng = np.random.default_rng(1)
    table_rows = sweep(device, [400_000 if host_for_gpu else GATHER_TABLE_ROWS], [2_000_000])[0]
    if host_for_gpu:
        rows = [1_000, 30_000, 150_000] if quick else [1_000, 10_000, 30_000, 80_000, 150_000, 250_000]
    else:
        rows = sweep(device, [100, 5_000, 40_000] if quick else [100, 1_000, 5_000, 20_000, 60_000],
                     [1_000, 50_000, 1_000_000] if quick else [1_000, 10_000, 50_000, 200_000, 1_000_000])
    dims = [16, 128] if quick else ([32, 100, 256] if host_for_gpu else [16, 64, 128, 256])
    shapes = [(r, d) for d in dims for r in rows]
    if device == "cpu" and not (host_for_gpu or quick):
        # outputs far above the mmap threshold pin the first-touch term; none between 32
        # and 64 MiB, where an output fits in the heap's free top or not
        shapes += [(150_000, 128), (150_000, 256)]
    cases = []
    tables: dict[int, object] = {}  # the table of the latest width (the calls hold theirs)
    for r, d in shapes:
        def make(d=d, idx=rng.integers(0, table_rows, r)):
            if d not in tables:
                tables.clear()
                tables[d] = torch.randn(table_rows, d, device=device)
            table, index = tables[d], torch.from_numpy(idx).to(device)
            return lambda: table.index_select(0, index)
        cases.append((f"{r}x{d}", m.gather(r, d), make))
    return time_cases(cases, repeats, device, in_turns=True)


GATHER_TABLE_ROWS = 60_000  # the CPU gather sweep's table (bench_gather), beyond the caches at most widths
SMALL_TABLE_BYTES = 2 * 2**20  # bench_gather_small_table's table: within a core's L2 and the TLB's reach


def bench_gather_small_table(quick: bool, repeats: int) -> Samples:
    """Row gathers ``table[idx]`` from a table of :data:`SMALL_TABLE_BYTES` at every width,
    timed as :func:`bench_gather` times its (caches flushed before each call): the feature
    table of a small graph, or of one rank's part of it, which random rows of a
    60,000-row table over-price (TLB misses and memory pages of a table many times the size).
    Rows are distinct while the table has enough of them, as a batch's input nodes are."""
    import torch

    rng = np.random.default_rng(2)
    rows = [500, 3_000, 10_000] if quick else [200, 1_000, 3_000, 6_000, 12_000]
    dims = [16, 128] if quick else [16, 64, 128, 256]
    cases, tables = [], {}
    for d in dims:
        table_rows = SMALL_TABLE_BYTES // (4 * d)
        for r in (r for r in rows if r * d <= 12_000 * 64):  # outputs of at most 3 MiB, as a small graph's batches
            idx = rng.permutation(table_rows)[:r] if r <= table_rows else rng.integers(0, table_rows, r)

            def make(d=d, idx=idx, table_rows=table_rows):
                if d not in tables:
                    tables.clear()
                    tables[d] = torch.randn(table_rows, d)
                table, index = tables[d], torch.from_numpy(idx)
                return lambda: table.index_select(0, index)
            cases.append((f"{r}x{d}/small", m.gather(r, d), make))
    return time_cases(cases, repeats, "cpu", in_turns=True)


def bench_elementwise(quick: bool, repeats: int, device: str = "cpu") -> Samples:
    """Elementwise ops of the kinds the model runs: activation, add, scale, zero-fill."""
    import torch

    sizes = sweep(device, [100, 10_000, 300_000, 3_000_000] if quick else [10, 1_000, 10_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000],
                  [1_000, 300_000, 30_000_000] if quick else [1_000, 30_000, 300_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000])
    cases = []
    for n in sizes:
        def make(op, n=n):
            x, y = torch.randn(n, device=device), torch.randn(n, device=device)
            # the models scale by a broadcast tensor (a row's 1/degree), never by a Python
            # number, which costs a scalar tensor's creation per call
            factor = torch.full((1,), 0.5, device=device)
            return {"relu": lambda: torch.relu(x), "add": lambda: x + y, "scale": lambda: x * factor,
                    "zero": lambda: torch.zeros(n, device=device)}[op]
        cases += [(f"{op}{n}", m.elementwise(n, reads=reads), lambda op=op, make=make: make(op))
                  for op, reads in (("relu", 1), ("add", 2), ("scale", 1), ("zero", 0))]
    return time_cases(cases, repeats, device, in_turns=True)


SAMPLER_GRAPH_NODES = (8_000, 60_000, 250_000)  # the smallest is the reference size
SAMPLER_FEATURES = 7  # 1, sampled nodes, sampled edges, edges x graph doublings, hops, draws, checks


def bench_sampler(quick: bool, repeats: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sampler timings with their (1, sampled nodes, sampled edges, edges x log2(graph /
    smallest graph), hops, draw rounds, duplicate checks) features
    (``workload.sampler.sampling_work``), on graphs of several sizes (cache locality)."""
    from gnnsim.graph.generators import sbm
    from gnnsim.workload.sampler import sample_minibatch, sampling_work

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
                features.append([1.0, mb.num_sampled_nodes, e, e * doublings, *sampling_work(graph.indptr, mb, fanouts)])
                times.append(t)
                shapes.append(f"n{nodes}b{bs}f{fanouts}")
    return np.array(features), np.array(times), shapes


def tiny_blocks(seeds: int = 8, fanout: int = 2) -> list:
    """A two-layer sampled block pair on which every kernel's own work is negligible."""
    from gnnsim.workload.sampler import Block

    blocks, dst = [], seeds
    for _ in range(2):
        src = dst + dst * fanout  # the destinations, then one new source per edge
        edge_dst = np.repeat(np.arange(dst), fanout)
        blocks.append(Block(np.arange(src, dtype=np.int64), dst, dst + np.arange(dst * fanout), edge_dst))
        dst = src
    return blocks[::-1]  # input layer first


FRAMEWORK_MODELS = tuple(MODELS)  # every model of the registry
TINY_DIMS = (32, 32, 8)  # input features, hidden width, classes
FRAMEWORK_REPEATS = 30  # a step of about a millisecond spreads by 10-20% from run to run


def bench_framework(repeats: int, device: str = "cpu") -> dict[str, dict[str, tuple[float, list]]]:
    """Forward and backward of every model on a tiny block: the host's time per step.

    With a handful of rows, a kernel's own work is negligible and what remains is what
    the host pays to issue it: Python and module calls, argument checks, the recording
    and replay of autograd's graph. Each step is timed alone, from a synchronised start
    to its end, repeated without evicting the host's caches: the kernel benchmarks that
    the residual is taken against run warm too, so a cold-cache cost would otherwise be
    charged to every kernel at every shape. Returns, per model and stage, (mean
    seconds, the workload model's kernels for that stage), so the fit can subtract what
    the kernel rates already cover.
    """
    import torch

    from gnnsim.realrun.blocks import block_tensors
    from gnnsim.realrun.models import build_model

    blocks = tiny_blocks()
    in_dim, hidden, classes = TINY_DIMS
    sync = device_sync(device)
    out = {}
    for name in FRAMEWORK_MODELS:
        torch.manual_seed(0)
        model = build_model(name, in_dim, hidden, classes, len(blocks), heads=2).to(device)
        tensors = block_tensors(blocks, device)
        x = torch.randn(blocks[0].num_src, in_dim, device=device)
        y = torch.randint(0, classes, (blocks[-1].num_dst,), device=device)
        fwd, bwd = [], []
        for i in range(max(repeats, FRAMEWORK_REPEATS) + 2):
            forward, backward = train_step_s(lambda: model(tensors, x), y, model, sync)
            if i >= 2:
                fwd.append(forward)
                bwd.append(backward)
        kernels = framework_kernels(name)
        out[name] = {"forward": (float(np.mean(fwd)), kernels["forward"]),
                     "backward": (float(np.mean(bwd)), kernels["backward"])}
    return out


def framework_kernels(name: str) -> dict[str, list]:
    """The workload model's forward and backward kernels of model ``name`` on the tiny
    block pair that :func:`bench_framework` times (what the kernel rates already price)."""
    from gnnsim.workload import models as workload_models

    blocks = tiny_blocks()
    shapes = [(b.num_src, b.num_dst, b.num_edges) for b in blocks]
    in_dim, hidden, classes = TINY_DIMS
    dims = m.layer_dims(in_dim, hidden, classes, len(blocks))
    spec = workload_models.get_model(name)
    return {"forward": spec.forward_kernels(shapes, dims, 4, 2),
            "backward": spec.backward_kernels(shapes, dims, blocks[-1].num_dst, classes, 4, 2)}


COPY_DIRECTIONS = ("h2d_pageable", "h2d_pinned", "d2h_pageable", "d2h_pinned")


def bench_copies(quick: bool, repeats: int, device: str = "cuda") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Host-to-device and device-to-host copies, from pageable and from pinned host memory.

    For each direction, the (bytes, seconds) of a sweep of sizes. A trainer copies the
    batch it just gathered: a fresh, pageable tensor, which the driver stages through a
    pinned buffer of its own (slower than a copy from pinned memory, which DMA reads
    directly). Each copy is timed alone up to its completion, as the ``h2d`` stage is.
    """
    import torch

    sizes = [2**12, 2**20, 2**24, 2**28] if quick else [2**12, 2**16, 2**20, 2**22, 2**24, 2**26, 2**28]
    out = {}
    for direction in COPY_DIRECTIONS:
        pinned = direction.endswith("pinned")
        xs, ts = [], []
        for size in sizes:
            n = size // 4
            if direction.startswith("h2d"):
                src = torch.randn(n).pin_memory() if pinned else torch.randn(n)

                def copy(src=src):
                    return src.to(device, non_blocking=pinned)
            else:
                src = torch.randn(n, device=device)
                dst = torch.empty(n).pin_memory() if pinned else torch.empty(n)

                def copy(src=src, dst=dst):
                    return dst.copy_(src, non_blocking=pinned)

            t, _ = mean_time(synchronised(copy, device), repeats, cold=False)
            xs.append(float(size))
            ts.append(t)
        out[direction] = (np.array(xs), np.array(ts))
    return out


# the kernel classes in the order they are swept, each with its benchmark
KERNEL_BENCHMARKS = (("gemm", bench_gemm), ("gemm_tn", bench_gemm_tn), ("aggregate", bench_aggregate),
                     ("gather", bench_gather), ("elementwise", bench_elementwise),
                     ("optimizer", bench_optimizer))
