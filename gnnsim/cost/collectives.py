"""Closed forms of the collectives, in the alpha-beta model.

A message of ``s`` bytes over a link costs ``alpha + s / bw``. Each algorithm below is
the time of one collective over ``n`` participants when nothing else uses the links;
the simulator (:mod:`gnnsim.sim.collectives`) executes the same algorithms as flows, so
with no contention it reproduces these numbers, and with contention it is slower.

- **Ring all-reduce** (reduce-scatter then all-gather around a ring): ``2(n-1)`` steps
  of ``alpha``; every link carries ``2(n-1)/n`` of the buffer.
- **Tree all-reduce** (binary tree, pipelined): reduce up the tree then broadcast down;
  ``2 depth`` latencies, and a parent with two children moves ``2S`` through its port
  in each phase.
- **Hierarchical all-reduce**: reduce-scatter inside each node (NVLink), an all-reduce
  of the node's shard across nodes (the ``p`` shard rings share the node's NIC, so the
  NIC carries the whole buffer's share), all-gather inside the node.
- **All-gather / reduce-scatter** (ring): ``n-1`` steps, ``(n-1)/n`` of the total.
- **All-to-all** (pairwise exchange: in round ``k`` rank ``i`` sends to ``i+k``):
  ``n-1`` latencies plus the busiest port's bytes over the bandwidth (exact for two
  ranks and for uniform traffic; a lower bound otherwise).

>>> round(ring_allreduce_time(100e6, 4, 1e-5, 10e9), 9)  # 6 steps of 10 us + 1.5 x 100 MB / 10 GB/s
0.01506
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class Fabric:
    """What an all-reduce's closed form reads: ranks per node and nodes, and alpha (s) and
    bandwidth (B/s) inside a node and across nodes."""

    per_node: int
    nodes: int
    alpha_in_s: float
    bw_in: float
    alpha_net_s: float
    bw_net: float

    @property
    def flat(self) -> tuple[int, float, float]:
        """One flat ring or tree over every rank: the slowest hop sets the pace."""
        if self.nodes > 1:
            return (self.per_node * self.nodes, max(self.alpha_in_s, self.alpha_net_s), min(self.bw_in, self.bw_net))
        return self.per_node, self.alpha_in_s, self.bw_in


@dataclass(frozen=True)
class AllreduceAlgorithm:
    """One registry entry: the closed form (time alone) and the name of the flow plan
    (:class:`gnnsim.sim.collectives.Collectives` method) that runs it on the topology."""

    name: str
    time: Callable[[float, Fabric], float]
    plan: str


# The registry: a new all-reduce is one entry (its closed form here, its plan a
# method of gnnsim.sim.collectives.Collectives); simulation.allreduce chooses one.
ALLREDUCE: dict[str, AllreduceAlgorithm] = {
    "ring": AllreduceAlgorithm("ring", lambda size, f: ring_allreduce_time(size, *f.flat), "ring_allreduce"),
    "tree": AllreduceAlgorithm("tree", lambda size, f: tree_allreduce_time(size, *f.flat), "tree_allreduce_all"),
    "hierarchical": AllreduceAlgorithm(
        "hierarchical", lambda size, f: hierarchical_allreduce_time(size, f.per_node, f.nodes, f.alpha_in_s, f.bw_in,
                                                                    f.alpha_net_s, f.bw_net), "hierarchical_allreduce"),
}
ALLREDUCE_ALGORITHMS = ("auto", *ALLREDUCE)  # auto: ring inside one node, hierarchical across nodes


def ring_allreduce_time(size_bytes: float, n: int, alpha_s: float, bytes_per_s: float) -> float:
    """Ring all-reduce: 2(n-1) steps of alpha, 2(n-1)/n of the buffer over each link."""
    if n <= 1 or size_bytes <= 0:
        return 0.0
    return 2 * (n - 1) * alpha_s + 2 * (n - 1) / n * size_bytes / bytes_per_s


def tree_depth(n: int) -> int:
    """Depth of the heap-ordered binary tree over ``n`` ranks (rank 0 is the root)."""
    return int(math.floor(math.log2(n))) if n > 1 else 0


def tree_allreduce_time(size_bytes: float, n: int, alpha_s: float, bytes_per_s: float) -> float:
    """Binary-tree all-reduce: reduce to the root, then broadcast, each phase pipelined.

    >>> tree_allreduce_time(1e6, 2, 1e-5, 1e9)  # one edge: 2 alpha + 2 S/bw
    0.00202
    """
    if n <= 1 or size_bytes <= 0:
        return 0.0
    children = 2 if n >= 3 else 1
    return 2 * tree_depth(n) * alpha_s + 2 * children * size_bytes / bytes_per_s


def allgather_time(total_bytes: float, n: int, alpha_s: float, bytes_per_s: float) -> float:
    """Ring all-gather (or reduce-scatter) of ``total_bytes`` gathered on every rank."""
    if n <= 1 or total_bytes <= 0:
        return 0.0
    return (n - 1) * alpha_s + (n - 1) / n * total_bytes / bytes_per_s


def hierarchical_allreduce_time(size_bytes: float, per_node: int, nodes: int, alpha_in_s: float,
                                bw_in: float, alpha_net_s: float, bw_net: float) -> float:
    """Reduce-scatter inside, all-reduce of the shards across nodes, all-gather inside."""
    return (ring_allreduce_time(size_bytes, per_node, alpha_in_s, bw_in)
            + ring_allreduce_time(size_bytes, nodes, alpha_net_s, bw_net))


def alltoall_time(matrix: np.ndarray, alpha_s: float, bytes_per_s: float) -> float:
    """Pairwise-exchange all-to-all of ``matrix[src, dst]`` bytes among ``n`` ports.

    >>> alltoall_time(np.array([[0, 4e6], [2e6, 0]]), 1e-5, 1e9)
    0.00401
    """
    n = matrix.shape[0]
    if n <= 1:
        return 0.0
    off = np.where(np.eye(n, dtype=bool), 0.0, matrix)
    return (n - 1) * alpha_s + float(max(off.sum(1).max(), off.sum(0).max())) / bytes_per_s
