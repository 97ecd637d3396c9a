"""What the cache stores: a built graph's CSR and split, a partition's assignment and metrics.

A graph entry is keyed by the scenario's whole ``graph`` section (with the keys the user
set, which decide preset defaults), ``simulation.seed`` and :data:`GRAPH_VERSION`; a
partition entry by its graph's key, the method with its options, the part count, the
seed and :data:`PARTITION_VERSION`. Bump a version whenever the code that builds a
graph or partition changes its output, and every older entry becomes stale.

Node ids and offsets are stored in 32 bits where they fit (``indices`` always below
2^31 nodes; ``indptr`` while the edge count does), so an entry of ogbn-products is
about 0.5 GB and of ogbn-papers100M about 13.8 GB; a graph of 2^31 stored edges or more
comes back as a :class:`~gnnsim.graph.csr.CompactCSR` (no 64-bit copy of its ids).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from gnnsim.cache import store
from gnnsim.graph.csr import make_csr
from gnnsim.graph.graph import Graph

GRAPH_VERSION = 5  # 5: local edges on a square lattice; 3-4: chunked generator (same distributions, other bytes); 2: fitted presets with local edges
PARTITION_VERSION = 1
BACKGROUND_SAVE_MIN_EDGES = 1 << 24  # stored edges from which a built graph is saved on a thread


def _small_int(array: np.ndarray) -> np.ndarray:
    """``array`` in 32 bits when its values fit, else unchanged."""
    if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        return array
    return array.astype(np.int32, copy=False)


def graph_arrays(graph: Graph) -> dict[str, np.ndarray]:
    return {"indptr": _small_int(graph.csr.indptr), "indices": _small_int(graph.csr.indices),
            "train_ids": _small_int(graph.train_ids), "labels": _small_int(graph.labels)}


def graph_from_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], key: str) -> Graph:
    indptr, indices = arrays["indptr"], arrays["indices"]
    csr = make_csr(indptr, indices, indptr.size - 1)
    return Graph(csr, int(meta["feature_dim"]), int(meta["num_classes"]), arrays["train_ids"].astype(np.int64),
                 arrays["labels"].astype(np.int64), name=str(meta["name"]), cache_key=key,
                 undirected=bool(meta.get("undirected", False)))


def cached_graph(spec: dict[str, Any] | None, build: Callable[[], Graph]) -> Graph:
    """The graph ``spec`` describes, from the cache when a sound entry exists, else built and stored."""
    if spec is None or store.cache_root() is None:
        return build()
    spec = {**spec, "graph_version": GRAPH_VERSION}
    key = store.spec_key("graph", spec)
    hit = store.load("graph", spec)
    if hit is not None:
        return graph_from_arrays(*hit, key)
    graph = build()
    graph.csr.sort_indices()
    meta = {"feature_dim": graph.feature_dim, "num_classes": graph.num_classes, "name": graph.name,
            "sorted_indices": True, "undirected": graph.undirected, "describe": f"{graph.name}: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges"}
    # a large graph is written while the caller goes on (to METIS, whose C call leaves the GIL)
    save = store.save_in_background if graph.num_edges >= BACKGROUND_SAVE_MIN_EDGES else store.save
    save("graph", spec, graph_arrays(graph), meta)
    return dataclasses.replace(graph, cache_key=key)


def cached_partition(graph: Graph, method: str, num_parts: int, seed: int, compute: Callable[[], tuple],
                     token: dict | None = None) -> tuple:
    """``(Partition, PartitionMetrics)`` from the cache, or from ``compute()`` (then stored).

    ``token`` adds what else decides the partition on this machine (the registry's
    :func:`~gnnsim.partition.registry.cache_token`) to the key.

    Only partitions of a cached graph are cached (the graph's key names the graph), and
    never ``file:`` assignments, which another program may rewrite.
    """
    if graph.cache_key is None or method.startswith("file:") or store.cache_root() is None:
        return compute()
    from gnnsim.partition.metrics import PartitionMetrics
    from gnnsim.partition.registry import Partition, VertexCut

    spec = {"graph": graph.cache_key, "method": method, "num_parts": int(num_parts), "seed": int(seed),
            "partition_version": PARTITION_VERSION, **(token or {})}
    hit = store.load("partition", spec)
    if hit is not None:
        arrays, meta = hit
        cut = None
        if "edge_parts" in arrays:
            cut = VertexCut(arrays["src"].astype(np.int64), arrays["dst"].astype(np.int64), arrays["edge_parts"])
        partition = Partition(arrays["assignment"], int(num_parts), method, float(meta["time_s"]), cut)
        return partition, PartitionMetrics(**meta["metrics"])
    partition, metrics = compute()
    arrays = {"assignment": partition.assignment.astype(np.int32, copy=False)}
    if partition.vertex_cut is not None:
        arrays.update(src=_small_int(partition.vertex_cut.src), dst=_small_int(partition.vertex_cut.dst),
                      edge_parts=partition.vertex_cut.edge_parts)
    store.save("partition", spec, arrays, {"time_s": partition.time_s, "metrics": metrics.to_dict(),
                                           "describe": f"{graph.name} / {method} / {num_parts} parts"})
    return partition, metrics
