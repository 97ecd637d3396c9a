"""Every partitioner behind one registry and one signature.

A partitioner is a plain function ``f(graph, num_parts, *, seed) -> np.ndarray`` that
returns an int32 assignment, one part id per node. New methods register themselves with
:func:`register` and the rest of gnnsim never changes; the package's ``__init__``
imports the modules that hold them (a new module is one import there).

Two kinds of partitioner share the registry:

- **Edge cut** (``random``, ``range``, ``metis``, ``ldg``, ``fennel``): each node goes to
  one part; an edge whose ends lie in different parts is *cut*.
- **Vertex cut** (``random-edge``, ``hdrf``, ``grid2d``): each undirected edge goes to one
  part and a node is *replicated* in every part that holds one of its edges (PowerGraph).
  They register with :func:`register_vertex_cut`, which also registers the node-owner
  view under the same name, so every name in :data:`PARTITIONERS` keeps the node
  signature. A node's owner, the trainer that takes it as a seed, is the part holding
  most of its edges (ties: the lowest part id); nodes without edges are dealt round-robin
  by id. :func:`partition_graph` keeps the edge assignment in ``Partition.vertex_cut``
  so metrics can report the replication factor.

Method names may carry options, as graph specs do: ``metis?balance_train=true``.
``file:PATH`` reads an assignment someone else computed (see
:mod:`gnnsim.partition.from_file`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gnnsim import specs
from gnnsim.errors import PartitionError, did_you_mean
from gnnsim.graph.graph import Graph

Partitioner = Callable[..., np.ndarray]
PARTITIONERS: dict[str, Partitioner] = {}
EDGE_PARTITIONERS: dict[str, Partitioner] = {}
CACHE_TOKENS: dict[str, Callable[[Graph, dict], dict]] = {}
FILE_PREFIX = "file:"


def register(name: str, *, cache_token: Callable[[Graph, dict], dict] | None = None,
             ) -> Callable[[Partitioner], Partitioner]:
    """Register ``name``; ``cache_token(graph, options)`` names what else decides its output on
    this machine (which METIS library runs), so that the partition cache keys it too."""
    def wrap(fn: Partitioner) -> Partitioner:
        PARTITIONERS[name] = fn
        if cache_token is not None:
            CACHE_TOKENS[name] = cache_token
        return fn
    return wrap


def cache_token(graph: Graph, method: str) -> dict:
    """What besides ``method`` decides its partition of ``graph`` here ({} for most methods)."""
    if method.startswith(FILE_PREFIX):
        return {}
    name, options = parse_method(method)
    token = CACHE_TOKENS.get(name)
    return token(graph, options) if token is not None else {}


@dataclass(frozen=True)
class VertexCut:
    """An edge partition: undirected edge ``(src[i], dst[i])`` (``src < dst``) lives on ``edge_parts[i]``."""

    src: np.ndarray
    dst: np.ndarray
    edge_parts: np.ndarray  # int32


DENSE_REPLICA_LIMIT = 50_000_000  # n * k cells above which replica counts stay sparse (memory)


def node_replicas(num_nodes: int, cut: VertexCut, num_parts: int) -> sp.csr_matrix:
    """``(num_nodes, num_parts)`` counts: how many of node v's edges part p holds."""
    nodes = np.concatenate([cut.src, cut.dst])
    parts = np.concatenate([cut.edge_parts, cut.edge_parts]).astype(np.int64)
    counts = sp.csr_matrix((np.ones(nodes.size, dtype=np.int32), (nodes, parts)), shape=(num_nodes, num_parts))
    counts.sum_duplicates()
    return counts


def replica_count_table(num_nodes: int, cut: VertexCut, num_parts: int) -> np.ndarray | None:
    """Dense ``(n, k)`` edge counts by one bincount, or None when ``n * k`` is too large."""
    if num_nodes * num_parts > DENSE_REPLICA_LIMIT:
        return None
    keys = np.concatenate([cut.src, cut.dst]) * num_parts + np.concatenate([cut.edge_parts, cut.edge_parts])
    return np.bincount(keys, minlength=num_nodes * num_parts).reshape(num_nodes, num_parts)


def replication_factor(num_nodes: int, cut: VertexCut, num_parts: int) -> float:
    """Mean copies per node: parts holding at least one of its edges (an isolated node counts once)."""
    table = replica_count_table(num_nodes, cut, num_parts)
    if table is not None:
        copies = np.count_nonzero(table, axis=1)
    else:
        copies = np.diff(node_replicas(num_nodes, cut, num_parts).indptr)
    return float(np.maximum(copies, 1).sum() / max(num_nodes, 1))


def owners_from_edges(num_nodes: int, cut: VertexCut, num_parts: int) -> np.ndarray:
    """Each node's owner: the part holding most of its edges (ties: lowest id); isolated nodes round-robin.

    >>> cut = VertexCut(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([1, 1, 0], dtype=np.int32))
    >>> owners_from_edges(4, cut, 2).tolist()
    [1, 0, 0, 0]
    """
    table = replica_count_table(num_nodes, cut, num_parts)
    if table is not None:
        owner = table.argmax(axis=1).astype(np.int32)  # argmax returns the first (lowest) part on ties
        isolated = np.flatnonzero(table.sum(axis=1) == 0)
    else:
        counts = node_replicas(num_nodes, cut, num_parts)
        owner = np.asarray(counts.argmax(axis=1)).ravel().astype(np.int32)
        isolated = np.flatnonzero(np.diff(counts.indptr) == 0)
    owner[isolated] = (np.arange(isolated.size) % num_parts).astype(np.int32)
    return owner


def register_vertex_cut(name: str) -> Callable[[Partitioner], Partitioner]:
    """Register an edge partitioner ``f(graph, num_parts, *, seed) -> int32 per undirected edge``.

    The edges are ``graph.undirected_edges()`` in that order.
    """
    def wrap(fn: Partitioner) -> Partitioner:
        EDGE_PARTITIONERS[name] = fn

        def owners(graph: Graph, num_parts: int, *, seed: int = 0, **options) -> np.ndarray:
            return owners_from_edges(graph.num_nodes, _vertex_cut(fn, graph, num_parts, seed, options), num_parts)

        owners.__doc__ = f"Node owners of the {name!r} vertex cut (the part holding most of each node's edges)."
        owners.__name__ = f"{fn.__name__}_owners"
        PARTITIONERS[name] = owners
        return fn
    return wrap


def _vertex_cut(fn: Partitioner, graph: Graph, num_parts: int, seed: int, options: dict) -> VertexCut:
    src, dst = graph.undirected_edges()
    parts = np.asarray(fn(graph, num_parts, seed=seed, **options))
    if parts.shape != src.shape:
        raise PartitionError(f"edge partitioner returned {parts.shape} part ids for {src.size} undirected edges")
    return VertexCut(src, dst, parts.astype(np.int32, copy=False))


@dataclass(frozen=True)
class Partition:
    assignment: np.ndarray  # int32, node -> part (the owner, for vertex cuts)
    num_parts: int
    method: str
    time_s: float
    vertex_cut: VertexCut | None = None  # the edge assignment of vertex-cut methods

    def nodes_of(self, part: int) -> np.ndarray:
        return np.flatnonzero(self.assignment == part)


def check_assignment(assignment: np.ndarray, graph: Graph, num_parts: int, source: str = "assignment") -> np.ndarray:
    """Validate an assignment against a graph; return it as int32."""
    a = np.asarray(assignment)
    if a.ndim != 1 or a.shape[0] != graph.num_nodes:
        raise PartitionError(f"{source}: has {a.shape[0] if a.ndim == 1 else a.shape} entries but the graph has "
                             f"{graph.num_nodes} nodes; it must hold one part id per node of this graph")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise PartitionError(f"{source}: part ids must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= num_parts):
        raise PartitionError(f"{source}: part ids must lie in [0, {num_parts - 1}], found {a.min()}..{a.max()}")
    return a.astype(np.int32, copy=False)


def load_builtins() -> None:
    """Nothing left to do: the package's ``__init__`` imports the modules whose
    decorators fill the registry (kept for callers of older versions)."""


def known_methods() -> list[str]:
    return sorted(PARTITIONERS) + [f"{FILE_PREFIX}PATH"]


def parse_method(method: str) -> tuple[str, dict]:
    """Split ``name?key=value&...`` into the name and typed options.

    >>> parse_method("metis?balance_train=true&balance_edges=false")
    ('metis', {'balance_train': True, 'balance_edges': False})
    """
    return specs.parse_spec(method, PartitionError, "partition method")


def partition_graph(graph: Graph, method: str, num_parts: int, *, seed: int = 0, **options) -> Partition:
    """Partition ``graph`` into ``num_parts`` with the named method.

    ``method`` is a registered name (options may follow as ``name?key=value``, or be
    passed as keyword ``options``), or ``file:PATH`` to read an assignment.

    Raises
    ------
    PartitionError
        Unknown method (the message lists the known ones), ``num_parts`` outside
        ``[1, num_nodes]``, an unknown option, or an assignment file that does not fit.

    Examples
    --------
    >>> from gnnsim.graph import sbm
    >>> p = partition_graph(sbm(200, 2, 6.0, 0.9, seed=0), "random", 2, seed=0)
    >>> p.assignment.shape, sorted(set(p.assignment.tolist()))
    ((200,), [0, 1])
    """
    if not isinstance(num_parts, (int, np.integer)) or num_parts < 1 or num_parts > graph.num_nodes:
        raise PartitionError(f"num_parts must be between 1 and the node count {graph.num_nodes}, got {num_parts}")
    num_parts = int(num_parts)
    if method.startswith(FILE_PREFIX):
        from gnnsim.partition.from_file import read_assignment

        path = method[len(FILE_PREFIX):]
        start = time.perf_counter()
        assignment = read_assignment(path, graph, num_parts)
        return Partition(assignment, num_parts, method, time.perf_counter() - start)
    name, parsed = parse_method(method)
    options = {**parsed, **options}
    if name not in PARTITIONERS:
        known = known_methods()
        raise PartitionError(f"unknown partition method '{name}'. Known: {', '.join(known)}."
                             f"{did_you_mean(name, known)}")
    fn = EDGE_PARTITIONERS.get(name, PARTITIONERS[name])
    _check_options(name, fn, options)
    start = time.perf_counter()
    try:
        if name in EDGE_PARTITIONERS:
            cut = _vertex_cut(fn, graph, num_parts, seed, options)
            assignment = owners_from_edges(graph.num_nodes, cut, num_parts)
        else:
            cut = None
            assignment = fn(graph, num_parts, seed=seed, **options)
    except (TypeError, ValueError) as exc:
        raise PartitionError(f"partition method {method!r}: {exc}") from None
    elapsed = time.perf_counter() - start
    return Partition(check_assignment(assignment, graph, num_parts, name), num_parts, method, elapsed, cut)


def _check_options(name: str, fn: Partitioner, options: dict) -> None:
    import inspect

    params = inspect.signature(fn).parameters
    allowed = [p for p, v in params.items() if v.kind == v.KEYWORD_ONLY and p != "seed"]
    for key in options:
        if key not in allowed:
            raise PartitionError(f"partition method '{name}': unknown option '{key}'. "
                                 f"Options: {', '.join(allowed) or 'none'}.{did_you_mean(key, allowed)}")
