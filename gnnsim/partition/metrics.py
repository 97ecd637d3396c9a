"""How good a partition is: edge cut and balance, all vectorized over the CSR."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gnnsim.graph.graph import Graph


@dataclass(frozen=True)
class PartitionMetrics:
    edge_cut: int  # undirected edges whose ends lie in different parts
    edge_cut_fraction: float
    node_balance: float  # max part size / mean part size
    train_balance: float
    nodes_per_part: list[int]
    train_per_part: list[int]

    def to_dict(self) -> dict:
        return asdict(self)


def _balance(counts: np.ndarray) -> float:
    mean = counts.mean()
    return float(counts.max() / mean) if mean > 0 else 0.0


def partition_metrics(graph: Graph, assignment: np.ndarray, num_parts: int) -> PartitionMetrics:
    """Edge cut (counted once per undirected edge) and node/train balance.

    >>> from gnnsim.graph.graph import Graph, csr_from_edges
    >>> csr = csr_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 4)
    >>> g = Graph(csr, 4, 2, np.array([0, 3]), np.zeros(4, dtype=np.int64))
    >>> partition_metrics(g, np.array([0, 0, 1, 1]), 2).edge_cut
    1
    """
    csr = graph.csr
    rows = np.repeat(np.arange(graph.num_nodes), np.diff(csr.indptr))
    cross = assignment[rows] != assignment[csr.indices]
    # Each undirected edge is stored in both directions; count a directed edge as half.
    directed_cut = int(cross.sum())
    total = csr.nnz
    nodes = np.bincount(assignment, minlength=num_parts)
    train = np.bincount(assignment[graph.train_ids], minlength=num_parts)
    return PartitionMetrics(
        edge_cut=directed_cut // 2,
        edge_cut_fraction=directed_cut / total if total else 0.0,
        node_balance=_balance(nodes),
        train_balance=_balance(train),
        nodes_per_part=nodes.tolist(),
        train_per_part=train.tolist(),
    )
