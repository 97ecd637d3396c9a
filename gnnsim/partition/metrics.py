"""How good a partition is, all vectorized over the CSR.

The CSR row ``v`` lists the neighbours node ``v`` aggregates from, so the part that owns
``v`` must read their features. From that:

- **edge cut**: undirected edges whose ends lie in different parts (stored edges that
  cross, halved); ``edge_cut_fraction`` = crossing stored edges / all stored edges.
- **communication volume**: for each node, the number of distinct *remote* parts among
  its neighbours, summed (METIS's ``totalv``: a node's features are sent once to each
  other part that needs them). For a symmetric graph it equals the sum of 1-hop halos.
- **halo nodes** of part ``p``: nodes it does not own whose features it needs. 1-hop:
  neighbours of ``p``'s nodes; 2-hop: also neighbours of those (what 2-layer sampling
  can touch). The 2-hop count includes the 1-hop one.
- **balance** (max / mean over parts, 1.0 is perfect) of nodes, edges and train nodes.
  A part's edges are the stored edges it aggregates over (the rows it owns); for a
  vertex cut, the edges it holds, counted in both directions.
- **replication factor**: mean copies per node. For a vertex cut, the parts holding at
  least one of the node's edges (isolated nodes count once). For a node partition, the
  owner's copy plus one halo copy per part whose 1-hop halo has the node, i.e.
  ``1 + sum(halo_1hop) / n`` (DistDGL keeps such halo copies in each partition).

Halos are computed as sparse-times-dense products against the part indicator matrix,
``PART_CHUNK`` parts at a time so memory stays ``O(n * PART_CHUNK)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gnnsim.graph.graph import Graph

PART_CHUNK = 16  # parts whose indicator columns are processed together (memory n * 16 * 4 bytes)


@dataclass(frozen=True)
class PartitionMetrics:
    edge_cut: int  # undirected edges whose ends lie in different parts
    edge_cut_fraction: float
    node_balance: float  # max part size / mean part size
    train_balance: float
    nodes_per_part: list[int]
    train_per_part: list[int]
    comm_volume: int = 0
    halo_nodes: list[int] = field(default_factory=list)  # 1-hop halo per part
    halo_nodes_2hop: list[int] = field(default_factory=list)  # within 2 hops, includes the 1-hop halo
    edges_per_part: list[int] = field(default_factory=list)
    edge_balance: float = 0.0
    replication_factor: float = 1.0
    time_s: float = 0.0  # partitioning time, when known
    num_parts: int = 0
    is_vertex_cut: bool = False  # the partition assigns edges (replication_factor is from them)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """The compact form ``gnnsim partition --json`` writes."""
        return {
            "num_parts": self.num_parts,
            "edge_cut": self.edge_cut,
            "edge_cut_fraction": self.edge_cut_fraction,
            "comm_volume": self.comm_volume,
            "halo_nodes": self.halo_nodes,
            "halo_nodes_2hop": self.halo_nodes_2hop,
            "balance": {"nodes": self.node_balance, "edges": self.edge_balance, "train": self.train_balance},
            "replication_factor": self.replication_factor,
            "vertex_cut": self.is_vertex_cut,
            "nodes_per_part": self.nodes_per_part,
            "edges_per_part": self.edges_per_part,
            "train_per_part": self.train_per_part,
            "time_s": self.time_s,
        }


def _balance(counts: np.ndarray) -> float:
    mean = counts.mean()
    return float(counts.max() / mean) if mean > 0 else 0.0


def halo_and_volume(graph: Graph, assignment: np.ndarray, num_parts: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(1-hop halo per part, 2-hop halo per part, communication volume)."""
    csr = graph.csr
    at = csr.T  # (A^T @ X)[u] sums X over the rows v that list u: the parts that need u
    halo1 = np.zeros(num_parts, dtype=np.int64)
    halo2 = np.zeros(num_parts, dtype=np.int64)
    volume = 0
    for c0 in range(0, num_parts, PART_CHUNK):
        parts = np.arange(c0, min(num_parts, c0 + PART_CHUNK))
        own = assignment[:, None] == parts[None, :]
        indicator = own.astype(np.float32)
        need1 = (at @ indicator) > 0
        halo1[parts] = (need1 & ~own).sum(axis=0)
        need2 = (at @ (need1 | own).astype(np.float32)) > 0
        halo2[parts] = ((need2 | need1) & ~own).sum(axis=0)
        # Remote parts among each node's own neighbours (row view), for the volume.
        reach = (csr @ indicator) > 0
        volume += int((reach & ~own).sum())
    return halo1, halo2, volume


def partition_metrics(graph: Graph, assignment: np.ndarray, num_parts: int, *, time_s: float = 0.0,
                      vertex_cut=None) -> PartitionMetrics:
    """Edge cut, communication volume, halos, balance and replication of a partition.

    ``vertex_cut`` (a :class:`~gnnsim.partition.registry.VertexCut`, as in
    ``Partition.vertex_cut``) switches edges-per-part and the replication factor to the
    edge assignment.

    Examples
    --------
    A path 0-1-2-3 split in the middle: one cut edge; parts {0,1} and {2,3} each need one
    remote node (1-hop) and two (2-hop).

    >>> from gnnsim.graph.graph import Graph, csr_from_edges
    >>> csr = csr_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 4)
    >>> g = Graph(csr, 4, 2, np.array([0, 3]), np.zeros(4, dtype=np.int64))
    >>> m = partition_metrics(g, np.array([0, 0, 1, 1]), 2)
    >>> m.edge_cut, m.comm_volume, m.halo_nodes, m.halo_nodes_2hop, m.replication_factor
    (1, 2, [1, 1], [2, 2], 1.5)
    """
    assignment = np.asarray(assignment)
    csr = graph.csr
    rows = np.repeat(np.arange(graph.num_nodes), np.diff(csr.indptr))
    cross = assignment[rows] != assignment[csr.indices]
    # Each undirected edge is stored in both directions; count a directed edge as half.
    directed_cut = int(cross.sum())
    total = csr.nnz
    nodes = np.bincount(assignment, minlength=num_parts)
    train = np.bincount(assignment[graph.train_ids], minlength=num_parts)
    halo1, halo2, volume = halo_and_volume(graph, assignment, num_parts)
    if vertex_cut is not None:
        from gnnsim.partition.registry import replication_factor

        edges = 2 * np.bincount(vertex_cut.edge_parts, minlength=num_parts)
        replication = replication_factor(graph.num_nodes, vertex_cut, num_parts)
    else:
        edges = np.bincount(assignment, weights=np.diff(csr.indptr), minlength=num_parts).astype(np.int64)
        replication = 1.0 + float(halo1.sum()) / max(graph.num_nodes, 1)
    return PartitionMetrics(
        edge_cut=directed_cut // 2,
        edge_cut_fraction=directed_cut / total if total else 0.0,
        node_balance=_balance(nodes),
        train_balance=_balance(train),
        nodes_per_part=nodes.tolist(),
        train_per_part=train.tolist(),
        comm_volume=volume,
        halo_nodes=halo1.tolist(),
        halo_nodes_2hop=halo2.tolist(),
        edges_per_part=[int(e) for e in edges],
        edge_balance=_balance(edges),
        replication_factor=float(replication),
        time_s=float(time_s),
        num_parts=int(num_parts),
        is_vertex_cut=vertex_cut is not None,
    )


def metrics_of(graph: Graph, partition) -> PartitionMetrics:
    """:func:`partition_metrics` of a :class:`~gnnsim.partition.registry.Partition` (time and vertex cut included)."""
    return partition_metrics(graph, partition.assignment, partition.num_parts, time_s=partition.time_s,
                             vertex_cut=partition.vertex_cut)
