"""``gnnsim partition``: partition a graph, measure the partition, compare partitioners."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gnnsim.commands import count, fraction, positive_int, save

EPILOG = """examples:
  gnnsim partition --graph preset:ogbn-products?scale=0.01 --method metis --parts 8 --out parts.npy --json m.json
  gnnsim partition --graph edges.csv.gz --method fennel --parts 4
  gnnsim partition --graph dataset/ogbn_arxiv --parts 8 --compare metis,random,ldg,fennel,hdrf
  gnnsim partition --graph g.npz --method file:parts.npy --parts 8      # measure an existing assignment
  gnnsim partition --graph 'sbm?num_nodes=10000' --method 'metis?balance_train=true' --parts 4

--graph takes a file or folder (edge list, .npz, OGB raw folder, PyG partition folder;
detected, or forced with --format), preset:NAME?scale=S (ogbn-arxiv, ogbn-products,
reddit, ogbn-papers100M), or a generator spec: sbm?..., rmat?..., chung-lu?...
Methods: random, range, metis, ldg, fennel, random-edge, hdrf, grid2d, file:PATH."""


def write_npy_atomic(path: str | Path, array) -> None:
    """Save ``array`` as .npy through a temporary file renamed into place (never half a file)."""
    import numpy as np

    from gnnsim.outputs import write_atomic_with

    write_atomic_with(path, lambda fh: np.save(fh, array), binary=True)


def _fmt_row(name: str, m) -> str:
    halo = sum(m.halo_nodes)
    return (f"{name:<32} {m.edge_cut_fraction:>7.1%} {m.comm_volume:>11,} {halo:>11,} {m.node_balance:>6.3f} "
            f"{m.edge_balance:>6.3f} {m.train_balance:>6.3f} {m.replication_factor:>6.2f} {m.time_s:>8.3f}")


HEADER = (f"{'method':<32} {'cut':>7} {'comm vol':>11} {'halo(1hop)':>11} {'nodes':>6} {'edges':>6} {'train':>6} "
          f"{'repl':>6} {'time_s':>8}")


def cmd_partition(args: argparse.Namespace) -> int:
    from gnnsim.errors import PartitionError
    from gnnsim.graph.load import load_graph
    from gnnsim.graph.readers import EdgeOptions
    from gnnsim.partition.metrics import metrics_of
    from gnnsim.partition.registry import partition_graph

    if not args.method and not args.compare:
        raise PartitionError("gnnsim partition: give --method NAME (or --compare m1,m2,...); "
                          "see gnnsim partition --help for the methods")
    if args.compare and args.out:
        raise PartitionError("gnnsim partition: --out writes one assignment; with --compare, run the chosen method "
                          "again with --method NAME --out FILE")
    options = EdgeOptions(symmetrize=not args.directed, self_loops=args.self_loops, dedup=not args.keep_duplicates)
    graph = load_graph(args.graph, fmt=args.format, seed=args.seed, feature_dim=args.feature_dim,
                       train_fraction=args.train_fraction, options=options)
    print(f"graph     {graph.name}: {graph.num_nodes:,} nodes, {graph.num_edges:,} stored edges "
          f"({graph.num_edges / max(graph.num_nodes, 1):.1f} per node), {graph.train_ids.size:,} train nodes, "
          f"{graph.feature_dim} features")
    if args.parts > graph.num_nodes:
        raise PartitionError(f"--parts {args.parts}: more parts than the graph's {graph.num_nodes:,} nodes; give at "
                             f"most {graph.num_nodes}")
    methods = [m.strip() for m in args.compare.split(",") if m.strip()] if args.compare else [args.method]
    results = []
    for method in methods:
        partition = partition_graph(graph, method, args.parts, seed=args.seed)
        results.append((method, partition, metrics_of(graph, partition)))
    if args.compare:
        results.sort(key=lambda r: (r[2].comm_volume, r[2].edge_cut))
        print(f"\n{args.parts} parts, ranked by communication volume (lower is better); balance = max/mean\n")
    else:
        print(f"\n{args.parts} parts\n")
    print(HEADER)
    for method, _, m in results:
        print(_fmt_row(method, m))
    if not args.compare:
        m = results[0][2]
        print(f"\nhalo nodes per part (1-hop): {m.halo_nodes}\nhalo nodes per part (2-hop): {m.halo_nodes_2hop}")
    # Write only now: every input was read and every method ran.
    if args.json:
        if args.compare:
            payload = {"graph": graph.name, "parts": args.parts,
                       "ranking": [{"method": name, **m.summary()} for name, _, m in results]}
        else:
            payload = {"graph": graph.name, "method": methods[0], **results[0][2].summary()}
        save(args.json, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    if args.out:
        write_npy_atomic(args.out, results[0][1].assignment.astype("int32"))
        print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("partition", help="partition a graph and measure edge cut, halo, balance, replication",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", required=True, metavar="PATH_OR_SPEC",
                   help="graph file/folder, preset:NAME?scale=S, or sbm?/rmat?/chung-lu?key=value")
    p.add_argument("--method", metavar="NAME", help="partitioner, options as NAME?key=value, or file:PATH")
    p.add_argument("--parts", type=positive_int, required=True, metavar="K", help="number of parts (1..nodes)")
    p.add_argument("--compare", metavar="M1,M2,...", help="run several methods and print one ranked table")
    p.add_argument("--out", metavar="PARTS.npy", help="write the int32 assignment (one part id per node)")
    p.add_argument("--json", metavar="METRICS.json", help="write the metrics as JSON")
    p.add_argument("--format", choices=["edgelist", "npz", "ogb", "pyg", "dgl"], help="force the file format")
    p.add_argument("--seed", type=count, default=0, help="seed of generators and randomized partitioners (default 0)")
    p.add_argument("--feature-dim", type=positive_int, help="feature width where the file does not give it (default 128)")
    p.add_argument("--train-fraction", type=fraction, help="train share where the file has no split (default 0.5)")
    p.add_argument("--directed", action="store_true", help="do not add reverse edges (default: symmetrize)")
    p.add_argument("--self-loops", action="store_true", help="keep v->v edges (default: drop)")
    p.add_argument("--keep-duplicates", action="store_true", help="keep repeated edges (default: one copy)")
    p.set_defaults(func=cmd_partition)
