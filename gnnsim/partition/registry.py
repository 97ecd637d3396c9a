"""Every partitioner behind one registry and one signature.

A partitioner is a plain function ``f(graph, num_parts, *, seed) -> np.ndarray`` that
returns an int32 assignment, one part id per node. New methods register themselves with
:func:`register` and the rest of gnnsim never changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gnnsim.errors import PartitionError, did_you_mean
from gnnsim.graph.graph import Graph

Partitioner = Callable[..., np.ndarray]
PARTITIONERS: dict[str, Partitioner] = {}


def register(name: str) -> Callable[[Partitioner], Partitioner]:
    def wrap(fn: Partitioner) -> Partitioner:
        PARTITIONERS[name] = fn
        return fn
    return wrap


@dataclass(frozen=True)
class Partition:
    assignment: np.ndarray  # int32, node -> part
    num_parts: int
    method: str
    time_s: float

    def nodes_of(self, part: int) -> np.ndarray:
        return np.flatnonzero(self.assignment == part)


def check_assignment(assignment: np.ndarray, graph: Graph, num_parts: int, source: str = "assignment") -> np.ndarray:
    """Validate an assignment against a graph; return it as int32."""
    a = np.asarray(assignment)
    if a.ndim != 1 or a.shape[0] != graph.num_nodes:
        raise PartitionError(f"{source}: has {a.shape[0] if a.ndim == 1 else a.shape} entries but the graph has "
                             f"{graph.num_nodes} nodes; it must hold one part id per node of this graph")
    if a.size and (a.min() < 0 or a.max() >= num_parts):
        raise PartitionError(f"{source}: part ids must lie in [0, {num_parts - 1}], found {a.min()}..{a.max()}")
    return a.astype(np.int32, copy=False)


def partition_graph(graph: Graph, method: str, num_parts: int, *, seed: int = 0) -> Partition:
    """Partition ``graph`` into ``num_parts`` with the named method.

    >>> from gnnsim.graph import sbm
    >>> p = partition_graph(sbm(200, 2, 6.0, 0.9, seed=0), "random", 2, seed=0)
    >>> p.assignment.shape, sorted(set(p.assignment.tolist()))
    ((200,), [0, 1])
    """
    import gnnsim.partition.methods  # noqa: F401  (registers the built-in partitioners)

    if method not in PARTITIONERS:
        raise PartitionError(f"unknown partition method '{method}'. Known: {', '.join(sorted(PARTITIONERS))}."
                             f"{did_you_mean(method, PARTITIONERS)}")
    if num_parts < 1 or num_parts > graph.num_nodes:
        raise PartitionError(f"num_parts must be between 1 and the node count {graph.num_nodes}, got {num_parts}")
    start = time.perf_counter()
    assignment = PARTITIONERS[method](graph, num_parts, seed=seed)
    elapsed = time.perf_counter() - start
    return Partition(check_assignment(assignment, graph, num_parts, method), num_parts, method, elapsed)
