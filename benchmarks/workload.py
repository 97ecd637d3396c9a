"""How fast gnnsim samples mini-batches and builds workloads.

Prints figures, asserts nothing (speed is not a test). Run from the repository root:

    python benchmarks/workload.py            # ogbn-products-like graph at full scale (2.45M nodes)
    python benchmarks/workload.py --quick    # 5% scale, a few seconds

Figures:

1. Sampler throughput on one core, in sampled edges per second: ``--batches`` batches
   of 1024 seeds with fan-outs [15, 10, 5] (hop-from-seed first, PyG order; DGL would
   write [5, 10, 15]), with the linear-time relabel and, for comparison, the sort-based
   ``np.unique`` relabel it replaced (identical batches).
2. Time to build ``--iterations`` iterations of work for one trainer (batch 512, the
   same fan-outs, GraphSAGE, hidden 256): ``build_workload`` alone, without generating or
   partitioning the graph (those are in ``benchmarks/partition.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the sampler runs per worker

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gnnsim.config import scenario_from_dict  # noqa: E402
from gnnsim.graph.build import build_graph  # noqa: E402
from gnnsim.partition.registry import partition_graph  # noqa: E402
from gnnsim.pipeline import cluster_for  # noqa: E402
from gnnsim.rng import rng_for  # noqa: E402
from gnnsim.workload import sampler  # noqa: E402
from gnnsim.workload.builder import build_workload  # noqa: E402

FANOUTS = [15, 10, 5]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def sampler_throughput(graph, batches: int, relabel) -> tuple[float, float, int]:
    """(edges/s, seconds, edges) sampling ``batches`` batches of 1024 seeds."""
    rng_seeds = rng_for(0, "bench-seeds")
    seed_sets = [rng_seeds.choice(graph.train_ids, 1024, replace=False) for _ in range(batches)]
    original = sampler.to_block
    sampler.to_block = relabel
    try:
        rng = rng_for(0, "bench-sampler")
        start = time.perf_counter()
        edges = sum(sampler.sample_minibatch(graph.indptr, graph.indices, s, FANOUTS, rng).num_sampled_edges
                    for s in seed_sets)
        seconds = time.perf_counter() - start
    finally:
        sampler.to_block = original
    return edges / seconds, seconds, edges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5%% scale graph")
    ap.add_argument("--scale", type=float, default=None, help="ogbn-products scale (default 1, or 0.05 with --quick)")
    ap.add_argument("--batches", type=int, default=30, help="batches for the sampler throughput")
    ap.add_argument("--iterations", type=int, default=200, help="iterations for the workload build")
    args = ap.parse_args()
    scale = args.scale if args.scale is not None else (0.05 if args.quick else 1.0)
    scenario = scenario_from_dict({
        "name": "bench-workload",
        "graph": {"source": "preset:ogbn-products", "scale": scale},
        "partition": {"method": "random"},
        "model": {"hidden_dim": 256},
        "training": {"batch_size": 512, "fanouts": FANOUTS},
        "cluster": {"profile": "a100-2x8-eth100", "num_nodes": 1, "trainers_per_node": 1},
        "simulation": {"iterations": args.iterations, "seed": 0},
    })
    graph, t_graph = timed(lambda: build_graph(scenario))
    print(f"graph preset:ogbn-products scale={scale:g}: {graph.num_nodes:,} nodes, {graph.num_edges:,} directed edges "
          f"({t_graph:.1f} s to generate)")

    print(f"sampler, one core, batches of 1024 seeds, fan-outs {FANOUTS} (hop-from-seed first):")
    for name, relabel in (("linear relabel", sampler.to_block), ("np.unique relabel", sampler._to_block_sorted)):
        rate, seconds, edges = sampler_throughput(graph, args.batches, relabel)
        print(f"  {name:<18} {rate / 1e6:6.2f} M sampled edges/s  ({edges:,} edges in {seconds:.2f} s, "
              f"{seconds / args.batches * 1e3:.1f} ms per batch)")

    cluster = cluster_for(scenario)
    partition, t_part = timed(lambda: partition_graph(graph, "random", cluster.num_trainers, seed=0))
    workload, t_build = timed(lambda: build_workload(scenario, graph, partition, cluster))
    print(f"build_workload: {workload.iterations} iterations x {workload.num_ranks} trainer, batch 512, "
          f"{workload.batch_stats['sampled_edges_mean']:,.0f} sampled edges per batch: {t_build:.1f} s "
          f"({t_build / max(1, workload.iterations) * 1e3:.1f} ms per iteration; partition {t_part:.1f} s not included)")
    peak = max(workload.memory["peak_bytes"]) / 2**30
    print(f"  memory estimate: peak {peak:.2f} GiB per GPU, fits={workload.memory['fits']}")
    _ = np  # numpy is imported first so OMP_NUM_THREADS applies


if __name__ == "__main__":
    main()
