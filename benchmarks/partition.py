"""How fast gnnsim builds graphs, reads edge lists, partitions and measures partitions.

Prints figures, asserts nothing (speed is not a test). Run from the repository root:

    python benchmarks/partition.py            # full: ogbn-products at scale 1 (2.45M nodes)
    python benchmarks/partition.py --quick    # small sizes, a few seconds
    python benchmarks/partition.py --sizes 1M,10M,full --parts 16   # every partitioner: time and memory

``--sizes`` takes the ogbn-papers100M preset at 1 M nodes (scale 0.009), 10 M (0.09) and
full size (``full``, 111 M nodes, 3.2 B stored edges). The graph is built once into a
temporary cache; then every partitioner runs in a fresh process that loads it, under an
address-space limit (``--limit-gb``, default 19) and a time limit (``--timeout``), and
prints partition and metrics seconds, the peak RSS and the peak above the loaded graph,
or why it did not finish (time, memory). Run it alone: it is meant to fill the machine.

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

METHODS = ["random", "range", "metis", "metis?library=system", "metis?balance_train=true&balance_edges=true", "ldg",
           "fennel", "ldg?batch_size=1", "random-edge", "hdrf", "grid2d"]


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


SIZES = {"1M": 0.009, "10M": 0.09, "full": 1.0}  # scales of ogbn-papers100M (111,059,956 nodes)
SIZED_METHODS = ["random", "range", "ldg", "fennel", "metis", "metis?library=system", "random-edge", "hdrf", "grid2d"]
ONE = ("import json, resource, sys, time\n"
       "from gnnsim.config import Scenario\nfrom gnnsim.graph.build import build_graph\n"
       "from gnnsim.partition import metrics_of, partition_graph\n"
       "scale, method, parts = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])\n"
       "t = time.perf_counter()\n"
       "g = build_graph(Scenario.model_validate({'graph': {'source': 'preset:ogbn-papers100M', 'scale': scale}}))\n"
       "out = {'graph_s': round(time.perf_counter() - t, 1), 'graph_rss_gb': resource.getrusage(0).ru_maxrss / 1e6}\n"
       "if method != '-':\n"
       "    p = partition_graph(g, method, parts, seed=0)\n"
       "    t = time.perf_counter(); m = metrics_of(g, p)\n"
       "    out.update(partition_s=round(p.time_s, 1), metrics_s=round(time.perf_counter() - t, 1),\n"
       "               cut=round(m.edge_cut_fraction, 4), node_balance=round(m.node_balance, 3))\n"
       "out['peak_rss_gb'] = resource.getrusage(0).ru_maxrss / 1e6\n"
       "print(json.dumps(out))\n")


def bench_sizes(sizes: list[str], parts: int, methods: list[str], timeout: float, limit_gb: float) -> None:
    import json
    import os
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 1e9), int(limit_gb * 1e9)))

    def run(scale: float, method: str, env: dict) -> str:
        try:
            done = subprocess.run([sys.executable, "-c", ONE, str(scale), method, str(parts)], env=env,
                                  capture_output=True, text=True, timeout=timeout, preexec_fn=limit)
        except subprocess.TimeoutExpired:
            return f"did not finish in {timeout:.0f} s"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            if "MemoryError" in done.stderr or "out of memory" in done.stderr:
                return "over the memory limit"
            return f"failed: {last[:100]}"
        r = json.loads(done.stdout.strip().splitlines()[-1])
        if method == "-":
            return f"built in {r['graph_s']} s, peak {r['peak_rss_gb']:.2f} GB"
        return (f"partition {r['partition_s']:>7.1f} s  metrics {r['metrics_s']:>6.1f} s  peak {r['peak_rss_gb']:5.2f} GB "
                f"(+{r['peak_rss_gb'] - r['graph_rss_gb']:4.2f} over the graph)  cut {r['cut']:.1%}  "
                f"balance {r['node_balance']:.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GNNSIM_CACHE=tmp)
        for size in sizes:
            scale = SIZES[size]
            print(f"\nogbn-papers100M at scale {scale:g} ({size} nodes), {parts} parts, limit {limit_gb:g} GB", flush=True)
            print(f"  {'graph':<20} {run(scale, '-', env)}", flush=True)
            for method in methods:
                print(f"  {method:<20} {run(scale, method, env)}", flush=True)
            subprocess.run([sys.executable, "-m", "gnnsim", "cache", "clear"], env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--sizes", help=f"comma-separated of {', '.join(SIZES)}: every partitioner's time and memory")
    parser.add_argument("--methods", default=",".join(SIZED_METHODS), help="with --sizes: which partitioners")
    parser.add_argument("--timeout", type=float, default=900.0, help="with --sizes: seconds per partitioner")
    parser.add_argument("--limit-gb", type=float, default=19.0, help="with --sizes: address-space limit per process")
    args = parser.parse_args()
    if args.sizes:
        bench_sizes(args.sizes.split(","), args.parts, args.methods.split(","), args.timeout, args.limit_gb)
        return
    bench_generators(args.quick)
    bench_reader(args.quick)
    bench_partitioners(args.quick, args.parts)


if __name__ == "__main__":
    main()
