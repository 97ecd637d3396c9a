"""How fast gnnsim builds graphs, reads edge lists, partitions and measures partitions.

Prints figures, asserts nothing (speed is not a test). Run from the repository root:

    python benchmarks/partition.py            # full: ogbn-products at scale 1 (2.45M nodes)
    python benchmarks/partition.py --quick    # small sizes, a few seconds

Each line: what was built or run, its size, and wall-clock seconds (one run, cold caches
for the graph, so the figures include allocation).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from gnnsim.graph import chung_lu, preset_graph, read_edge_list, rmat, sbm
from gnnsim.partition import metrics_of, partition_graph

METHODS = ["random", "range", "metis", "metis?balance_train=true&balance_edges=true", "ldg", "fennel",
           "ldg?batch_size=1", "random-edge", "hdrf", "grid2d"]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_generators(quick: bool) -> None:
    print("graph generation (vectorized)")
    scale = 0.01 if quick else 1.0
    cases = [
        (f"preset:ogbn-arxiv scale={scale:g}", lambda: preset_graph("ogbn-arxiv", scale=scale)),
        (f"preset:ogbn-products scale={scale:g}", lambda: preset_graph("ogbn-products", scale=scale)),
        (f"preset:reddit scale={scale:g}", lambda: preset_graph("reddit", scale=scale)),
        ("preset:ogbn-papers100M scale=0.001" if quick else "preset:ogbn-papers100M scale=0.01",
         lambda: preset_graph("ogbn-papers100M", scale=0.001 if quick else 0.01)),
        ("rmat 2^18 nodes, degree 32" if not quick else "rmat 2^14 nodes, degree 32",
         lambda: rmat(2**14 if quick else 2**18, 32.0)),
        ("chung-lu 1M nodes, degree 20" if not quick else "chung-lu 50k nodes, degree 20",
         lambda: chung_lu(50_000 if quick else 1_000_000, 20.0)),
        ("sbm 1M nodes, degree 20" if not quick else "sbm 50k nodes, degree 20",
         lambda: sbm(50_000 if quick else 1_000_000, 16, 20.0, 0.9)),
    ]
    for name, fn in cases:
        g, t = timed(fn)
        print(f"  {name:<40} {g.num_nodes:>12,} nodes {g.num_edges:>14,} stored edges {t:8.2f} s")


def bench_reader(quick: bool) -> None:
    edges = 200_000 if quick else 10_000_000
    rng = np.random.default_rng(0)
    table = rng.integers(0, edges // 10, size=(edges, 2))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edges.txt"
        np.savetxt(path, table, fmt="%d")
        size_mb = path.stat().st_size / 1e6
        (src, _), t = timed(lambda: read_edge_list(path))
        print(f"\nedge-list reader: {src.size:,} edges, {size_mb:.0f} MB of text: {t:.2f} s "
              f"({size_mb / t:.0f} MB/s)")


def bench_partitioners(quick: bool, parts: int) -> None:
    scale = 0.005 if quick else 0.1
    g, t = timed(lambda: preset_graph("ogbn-products", scale=scale))
    print(f"\npartitioners on preset:ogbn-products scale={scale:g} ({g.num_nodes:,} nodes, "
          f"{g.num_edges:,} stored edges, built in {t:.1f} s), {parts} parts")
    print(f"  {'method':<46} {'partition_s':>11} {'metrics_s':>9} {'cut':>7} {'comm vol':>11} {'nodes':>6} "
          f"{'edges':>6} {'train':>6} {'repl':>5}")
    for method in METHODS:
        p = partition_graph(g, method, parts, seed=0)
        m, tm = timed(lambda: metrics_of(g, p))
        print(f"  {method:<46} {p.time_s:>11.2f} {tm:>9.2f} {m.edge_cut_fraction:>7.1%} {m.comm_volume:>11,} "
              f"{m.node_balance:>6.3f} {m.edge_balance:>6.3f} {m.train_balance:>6.3f} {m.replication_factor:>5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--parts", type=int, default=8)
    args = parser.parse_args()
    bench_generators(args.quick)
    bench_reader(args.quick)
    bench_partitioners(args.quick, args.parts)


if __name__ == "__main__":
    main()
