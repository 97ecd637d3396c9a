"""How fast is the simulator? Prints wall time and events per second (one core).

Two cases (targets from issue 5):

- 64 GPUs (8 DGX A100 nodes x 8) x 200 iterations: target < 10 s
- 1024 GPUs (128 nodes x 8) x 20 iterations: target < 60 s

Only ``simulate_workload`` is timed: the replay of the tasks through the flow-level
network, collectives and pipelines. Building the workload is timed separately and uses
a cheaper path than ``build_workload``: real mini-batches are sampled on the real graph
for a pool of ``--pool-ranks`` trainers, and trainer ``r`` replays the batches of pool
trainer ``r mod P`` with the owners rotated by ``r - r mod P`` (a multiple of the node
size, so each batch keeps its split of local, same-node and remote rows). The tasks are
real; only their number is not all independent samples.

    python benchmarks/simulate.py                 # both cases
    python benchmarks/simulate.py --case 64       # one case
    python benchmarks/simulate.py --placed        # UVA sampling and loader workers (more tasks, flows)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gnnsim.analysis.breakdown import analyze  # noqa: E402
from gnnsim.config import scenario_from_dict  # noqa: E402
from gnnsim.cost.model import CostModel  # noqa: E402
from gnnsim.graph.build import build_graph  # noqa: E402
from gnnsim.partition.registry import partition_graph  # noqa: E402
from gnnsim.pipeline import cluster_for  # noqa: E402
from gnnsim.sim.engine import simulate_workload  # noqa: E402
from gnnsim.workload import kernels as m  # noqa: E402
from gnnsim.workload.builder import (Workload, iteration_tasks, iterations_per_epoch, rank_minibatches,  # noqa: E402
                                     rank_seeds)

CASES = {"64": (8, 8, 200), "1024": (128, 8, 20), "tiny": (2, 2, 3)}  # nodes, GPUs per node, iterations ("tiny": a smoke test)


PLACED = {"sampling": {"device": "uva"}, "loader": {"workers": 4}}  # --placed: the GPU data path's tasks


def pooled_workload(nodes: int, per_node: int, iterations: int, pool_ranks: int, pool_batches: int,
                    graph_nodes: int, method: str, batch_size: int, placed: bool = False) -> Workload:
    scenario = scenario_from_dict({
        "name": f"bench-{nodes * per_node}",
        "graph": {"num_nodes": graph_nodes, "num_communities": 64, "avg_degree": 15, "feature_dim": 128,
                  "num_classes": 16, "train_fraction": 0.5},
        "partition": {"method": method},
        "training": {"batch_size": batch_size, "fanouts": [10, 5], **(PLACED if placed else {})},
        "cluster": {"profile": "a100-2x8-eth100", "num_nodes": nodes, "trainers_per_node": per_node},
        "simulation": {"iterations": iterations, "seed": 0},
    })
    cluster = cluster_for(scenario)
    n = cluster.num_trainers
    graph = build_graph(scenario)
    partition = partition_graph(graph, method, n, seed=0)
    seeds = rank_seeds(graph, partition, n)
    params = m.sage_param_count(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, 2)
    pool = []
    for r in range(min(pool_ranks, n)):
        mbs = rank_minibatches(graph, seeds[r], r, scenario, pool_batches, pool_batches)
        pool.append([iteration_tasks(mb, partition.assignment, r, n, scenario, graph, cluster, params) for mb in mbs])
    tasks = []
    for i in range(iterations):
        per_rank = []
        for r in range(n):
            base = r % len(pool)
            shift = r - base
            chain = pool[base][(i + r // len(pool)) % len(pool[base])]
            out = []
            for t in chain:
                if t.rows is not None and t.rows.rows_from:  # the exchange's owners, turned with the rank
                    t = replace(t, rows=replace(t.rows, rows_from=tuple(np.roll(np.asarray(t.rows.rows_from),
                                                                                shift).tolist())))
                out.append(t)
            per_rank.append(out)
        tasks.append(per_rank)
    return Workload(scenario, n, max(iterations, iterations_per_epoch(seeds, batch_size)), iterations, tasks, params,
                    [int(s.size) for s in seeds])


def run_case(name: str, args: argparse.Namespace) -> None:
    nodes, per_node, iterations = CASES[name]
    t0 = time.perf_counter()
    w = pooled_workload(nodes, per_node, iterations, args.pool_ranks, args.pool_batches, args.graph_nodes,
                        args.partition, args.batch_size, args.placed)
    t_build = time.perf_counter() - t0
    cost = CostModel(cluster_for(w.scenario))
    prof = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    tl = simulate_workload(w, cost)
    if prof:
        prof.disable()
    wall = time.perf_counter() - t0
    a = analyze(tl, w.num_ranks, w.iterations_per_epoch)
    print(f"{w.num_ranks:5d} GPUs ({nodes} nodes x {per_node}) x {iterations} iterations: "
          f"simulate {wall:7.2f} s, {tl.events:9d} events, {tl.events / wall:9.0f} events/s, "
          f"{tl.flows:8d} flows, {len(tl.spans):8d} spans | workload build {t_build:.1f} s | "
          f"simulated iteration {a.iteration_time_s * 1e3:.2f} ms, bottleneck {a.bottleneck['stage']} on "
          f"{a.bottleneck['resource']}", flush=True)
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=sorted(CASES), action="append", help="which case(s) to run (default both)")
    p.add_argument("--graph-nodes", type=int, default=400_000)
    p.add_argument("--partition", default="random", help="partitioner for the pool's ownership (random is fast)")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--pool-ranks", type=int, default=64)
    p.add_argument("--pool-batches", type=int, default=4)
    p.add_argument("--placed", action="store_true", help="UVA sampling and 4 loader workers per trainer (the placed "
                   "loader's extra tasks and flows) instead of the default loader")
    p.add_argument("--profile", action="store_true", help="print a cProfile of the simulation")
    args = p.parse_args()
    for name in args.case or ["64", "1024"]:  # "tiny" only when asked
        run_case(name, args)


if __name__ == "__main__":
    main()
