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

All of it comes from passes over the CSR in blocks of rows (``BLOCK`` stored edges at a
time), never from a copy of the edge list: the first pass counts cut edges, edges per
part and each node's *reach*, the set of parts among its neighbours, as a bit mask (one
bit per part, ``WORD_BITS`` parts per pass); the second ORs the neighbours' reach for the
2-hop halo. Memory is two masks per node (2 bytes each for 16 parts) plus a block's
temporaries, so full ogbn-papers100M (3.2 B stored edges) is measured in about 1 GB.
A graph not known to be undirected has its halos counted on the transpose (the parts
whose rows list a node), which scipy builds.

From :data:`PARALLEL_MIN_EDGES` stored edges (two blocks) up, each pass's blocks are
shared out over forked workers, one per core (:func:`~gnnsim.graph.forked.worker_pool`):
they read the CSR and the masks inherited through the fork, write the reach into shared
memory and send back a block's counts, whose sums do not depend on the order. Full
ogbn-products (124 M stored edges, 16 parts) is measured in 1.2 s instead of 2.0-2.2 s
on two cores; at 37 M stored edges 0.34 s instead of 0.41 s, and below two blocks the
fork cost more than it saved (0.25 s against 0.21 s at 19 M).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise

import numpy as np

from gnnsim.graph.csr import row_block_bounds
from gnnsim.graph.forked import shared_empty, usable_cores, worker_pool
from gnnsim.graph.graph import Graph
from gnnsim.progress import progress

BLOCK = 1 << 24  # stored edges per block of rows in a pass
WORD_BITS = 64  # parts per pass: one uint64 bit mask per node
PARALLEL_MIN_EDGES = 1 << 25  # stored edges from which the passes' blocks are shared out over forked workers


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


def _mask_dtype(width: int) -> np.dtype:
    return np.dtype(next(t for b, t in ((8, "<u1"), (16, "<u2"), (32, "<u4")) if width <= b) if width <= 32 else "<u8")


def _bit_counts(masks: np.ndarray, width: int) -> np.ndarray:
    """How many of ``masks`` have each of the low ``width`` bits set."""
    out = np.zeros(width, dtype=np.int64)
    size = masks.dtype.itemsize
    for s in range(0, masks.size, 1 << 20):
        bits = np.unpackbits(masks[s:s + (1 << 20)].view(np.uint8).reshape(-1, size), axis=1, bitorder="little")
        out += bits[:, :width].sum(axis=0, dtype=np.int64)
    return out


def _own_masks(assignment: np.ndarray, g0: int, width: int, dtype: np.dtype) -> np.ndarray:
    """Bit ``p - g0`` for a node of part ``p`` in ``[g0, g0 + width)``, else 0 (in chunks: no int64 copy)."""
    own = np.zeros(assignment.size, dtype=dtype)
    for s in range(0, assignment.size, 1 << 22):
        local = assignment[s:s + (1 << 22)].astype(np.int64) - g0
        inside = (local >= 0) & (local < width)
        own[s:s + (1 << 22)][inside] = np.left_shift(np.uint64(1), local[inside].astype(np.uint64)).astype(dtype)
    return own


def _or_rows(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """For rows ``r0..r1``: the OR of ``values`` over each row's neighbours (0 for an empty row)."""
    s, e = int(indptr[r0]), int(indptr[r1])
    out = np.zeros(r1 - r0, dtype=values.dtype)
    if e > s:
        starts = indptr[r0:r1] - s
        full = np.flatnonzero(indptr[r0 + 1:r1 + 1] > indptr[r0:r1])
        out[full] = np.bitwise_or.reduceat(values[indices[s:e]], starts[full])
    return out


def metrics_processes(stored_edges: int) -> int:
    """Processes that run the passes: one per usable core from :data:`PARALLEL_MIN_EDGES` up, else one."""
    return usable_cores() if stored_edges >= PARALLEL_MIN_EDGES else 1


# The passes' tasks, one block of rows ``(r0, r1)`` each, run by gnnsim.graph.forked.worker_pool:
# they read the CSR and masks in ``shared`` (inherited through the fork) and return a few counts.

def _cut_block(shared: dict, rows: tuple[int, int]) -> tuple[int, np.ndarray]:
    """(stored edges of the rows whose ends lie in different parts, those edges per owning part)."""
    r0, r1 = rows
    indptr, indices, assignment = shared["csr"].indptr, shared["csr"].indices, shared["assignment"]
    s, e = int(indptr[r0]), int(indptr[r1])
    degree = np.diff(indptr[r0:r1 + 1])
    owner = assignment[r0:r1]
    cross = int(np.count_nonzero(np.repeat(owner, degree) != assignment[indices[s:e]]))
    return cross, np.bincount(owner, weights=degree, minlength=shared["num_parts"]).astype(np.int64)


def _reach_block(shared: dict, rows: tuple[int, int]) -> np.ndarray:
    """1-hop halo counts of the view's rows; their reach (own part and the parts that list them) goes to shared memory."""
    r0, r1 = rows
    own, view = shared["own"], shared["view"]
    mask = _or_rows(view.indptr, view.indices, own, r0, r1)
    shared["reach"][r0:r1] = mask | own[r0:r1]
    return _bit_counts(mask & ~own[r0:r1], shared["width"])


def _volume_block(shared: dict, rows: tuple[int, int]) -> int:
    """Remote parts among the rows' own neighbours (the volume, when the view is a transpose)."""
    r0, r1 = rows
    own, csr = shared["own"], shared["csr"]
    return int(_bit_counts(_or_rows(csr.indptr, csr.indices, own, r0, r1) & ~own[r0:r1], shared["width"]).sum())


def _halo2_block(shared: dict, rows: tuple[int, int]) -> np.ndarray:
    """2-hop halo counts of the view's rows, from every node's reach."""
    r0, r1 = rows
    view = shared["view"]
    mask = _or_rows(view.indptr, view.indices, shared["reach"], r0, r1)
    return _bit_counts(mask & ~shared["own"][r0:r1], shared["width"])


def _blocks(bounds: np.ndarray) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in pairwise(bounds)]


def halo_and_volume(graph: Graph, assignment: np.ndarray, num_parts: int,
                    processes: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """(1-hop halo per part, 2-hop halo per part, communication volume), by passes over row blocks
    (on ``processes`` forked workers; the sums are the same in any order)."""
    csr = graph.csr
    # A node's halo parts are those whose rows list it: its own row for an undirected graph.
    view = csr if graph.undirected else csr.T.tocsr()
    bounds = _blocks(row_block_bounds(csr.indptr, BLOCK))
    view_bounds = bounds if view is csr else _blocks(row_block_bounds(view.indptr, BLOCK))
    halo1 = np.zeros(num_parts, dtype=np.int64)
    halo2 = np.zeros(num_parts, dtype=np.int64)
    volume = 0
    passes = (2 + (view is not csr)) * -(-num_parts // WORD_BITS)
    with progress("partition metrics: halos", total=passes * len(bounds), unit="blocks") as p:
        for g0 in range(0, num_parts, WORD_BITS):
            width = min(WORD_BITS, num_parts - g0)
            dtype = _mask_dtype(width)
            shared = {"csr": csr, "view": view, "own": _own_masks(assignment, g0, width, dtype), "width": width,
                      "reach": shared_empty(graph.num_nodes, dtype)}  # written by the first pass, read by the last
            with worker_pool(processes, shared) as pool:
                for counts in pool.imap(_reach_block, view_bounds):
                    halo1[g0:g0 + width] += counts
                    p.update()
                if view is not csr:  # the volume counts remote parts among a node's own row
                    for count in pool.imap(_volume_block, bounds):
                        volume += count
                        p.update()
                for counts in pool.imap(_halo2_block, view_bounds):
                    halo2[g0:g0 + width] += counts
                    p.update()
    if view is csr:
        volume = int(halo1.sum())  # symmetric: the parts that need v are those among v's neighbours
    return halo1, halo2, volume


def _cut_and_edges(graph: Graph, assignment: np.ndarray, num_parts: int, processes: int = 1) -> tuple[int, np.ndarray]:
    """(stored edges whose ends lie in different parts, stored edges per owning part), one pass."""
    cross = 0
    edges = np.zeros(num_parts, dtype=np.int64)
    shared = {"csr": graph.csr, "assignment": assignment, "num_parts": num_parts}
    with worker_pool(processes, shared) as pool:
        for block_cross, block_edges in pool.imap(_cut_block, _blocks(row_block_bounds(graph.csr.indptr, BLOCK))):
            cross += block_cross
            edges += block_edges
    return cross, edges


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
    processes = metrics_processes(graph.num_edges)
    directed_cut, owned_edges = _cut_and_edges(graph, assignment, num_parts, processes)
    # Each undirected edge is stored in both directions; count a directed edge as half.
    total = graph.num_edges
    nodes = np.bincount(assignment, minlength=num_parts)
    train = np.bincount(assignment[graph.train_ids], minlength=num_parts)
    halo1, halo2, volume = halo_and_volume(graph, assignment, num_parts, processes)
    if vertex_cut is not None:
        from gnnsim.partition.registry import replication_factor

        edges = 2 * np.bincount(vertex_cut.edge_parts, minlength=num_parts)
        replication = replication_factor(graph.num_nodes, vertex_cut, num_parts)
    else:
        edges = owned_edges
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
