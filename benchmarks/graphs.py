"""Presets against their published figures, and what building and caching them costs.

Prints figures, asserts nothing (speed and fidelity at full size are not unit tests).
Each case runs in a fresh subprocess so that its peak memory (ru_maxrss) is its own:

    python benchmarks/graphs.py                                   # products 1.0, papers100M 0.05
    python benchmarks/graphs.py ogbn-products:0.25 ogbn-papers100M:0.01
    python benchmarks/graphs.py --cache ogbn-products:1.0         # cold build + store, then load
    python benchmarks/graphs.py --simulate random ogbn-papers100M:1.0   # then partition and simulate 16 GPUs

A case prints build seconds, peak RSS, mean/std/max degree, the share of edge endpoints on
the top 1% of nodes, the sampled average clustering coefficient, and unique input nodes
per mini-batch for fan-outs [10, 10, 10] and batch 1024 (mean of 8 batches) beside the
published GraphBolt count where one exists (products 517,522; papers100M 664,303).
With ``--simulate METHOD`` the same process then partitions the graph for 16 GPUs (two
DGX A100, ``a100-2x8-eth100``) with METHOD, measures the partition and simulates 10
iterations of GraphSAGE [15, 10, 5], batch 1024: partition and simulate seconds, and
the peak RSS then covers the whole prediction. Run big cases under a hard limit, e.g.
``prlimit --as=19000000000 python benchmarks/graphs.py ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

PUBLISHED_INPUTS = {"ogbn-products": 517_522, "ogbn-papers100M": 664_303}


def simulate_case(g, name: str, scale: float, method: str) -> dict:
    import gnnsim
    from gnnsim.config import Scenario

    scenario = Scenario.model_validate({
        "graph": {"source": f"preset:{name}", "scale": scale}, "partition": {"method": method},
        "model": {"name": "graphsage", "hidden_dim": 256},
        "training": {"batch_size": 1024, "fanouts": [15, 10, 5]},
        "cluster": {"profile": "a100-2x8-eth100"}, "simulation": {"iterations": 10, "seed": 0}})
    start = time.perf_counter()
    result = gnnsim.simulate(scenario, graph=g, sensitivity=False)
    m = result.partition_metrics
    return {"method": method, "partition_s": round(m.time_s, 2), "predict_s": round(time.perf_counter() - start, 2),
            "edge_cut_fraction": round(m.edge_cut_fraction, 4), "epoch_time_s": round(result.analysis.epoch_time_s, 3)}


def run_case(name: str, scale: float, cache: bool, method: str | None = None) -> dict:
    import numpy as np

    import gnnsim.pipeline  # noqa: F401  (everything imported before the long build)
    import gnnsim.partition.registry
    gnnsim.partition.registry.load_builtins()

    from gnnsim.config import Scenario
    from gnnsim.graph.build import build_graph
    from gnnsim.graph.degrees import average_clustering, degree_statistics
    from gnnsim.workload.sampler import sample_minibatch

    scenario = Scenario.model_validate({"graph": {"source": f"preset:{name}", "scale": scale}})
    start = time.perf_counter()
    g = build_graph(scenario)
    out = {"case": f"{name}@{scale:g}", "nodes": g.num_nodes, "nnz": g.num_edges,
           "build_s": round(time.perf_counter() - start, 2)}
    if cache:
        start = time.perf_counter()
        build_graph(scenario)
        out["cached_load_s"] = round(time.perf_counter() - start, 2)
    out.update({k: round(v, 4) for k, v in degree_statistics(g.csr).items()})
    out["clustering"] = round(average_clustering(g.csr, 2000, np.random.default_rng(0)), 3)
    rng = np.random.default_rng(1)
    counts = [sample_minibatch(g.indptr, g.indices, rng.choice(g.train_ids, 1024, replace=False), [10, 10, 10],
                               rng).input_nodes.size for _ in range(8)]
    out["inputs_per_batch"] = round(float(np.mean(counts)))
    if name in PUBLISHED_INPUTS:
        out["published"] = PUBLISHED_INPUTS[name]
        out["vs_published"] = f"{out['inputs_per_batch'] / PUBLISHED_INPUTS[name] - 1:+.1%}"
    out["build_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    if method:
        out.update(simulate_case(g, name, scale, method))
    out["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", default=["ogbn-products:1.0", "ogbn-papers100M:0.05"], help="NAME:SCALE")
    ap.add_argument("--cache", action="store_true", help="use a fresh cache folder and time a second, cached build")
    ap.add_argument("--simulate", metavar="METHOD", help="then partition with METHOD and simulate 16 GPUs")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        name, scale = args.one.rsplit(":", 1)
        print(json.dumps(run_case(name, float(scale), args.cache, args.simulate)))
        return
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["GNNSIM_CACHE"] = tmp if args.cache else "off"
        for case in args.cases:
            cmd = [sys.executable, __file__, "--one", case] + (["--cache"] if args.cache else [])
            cmd += ["--simulate", args.simulate] if args.simulate else []
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            print(done.stdout.strip() or done.stderr.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
