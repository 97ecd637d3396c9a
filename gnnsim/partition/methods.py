"""The built-in offline node partitioners: random, range and METIS (pymetis).

- ``random`` is DGL's ``part_method='random'``: no locality, perfect expected balance,
  the baseline every other method is judged against.
- ``range`` cuts the id space into equal contiguous ranges. It is as good as the id
  order: excellent when ids follow a BFS or community order, random-like otherwise.
- ``metis`` minimises the edge cut under a balance constraint. By default it balances
  node counts. ``balance_train=true`` adds the constraints DGL builds from
  ``balance_ntypes=train_mask`` (train and non-train nodes each balanced, so every
  trainer gets the same number of seeds); ``balance_edges=true`` adds DGL's
  ``balance_edges`` constraint (the degree sum, so each part does similar aggregation
  work). Constraints become METIS multi-constraint vertex weights (``ncon`` > 1).

Every METIS run calls the METIS library that pymetis bundles through ctypes, as
pymetis would (recursive bisection up to 8 parts, k-way above; seed, 0-based numbering,
METIS's default imbalance tolerance) and with the same parts, but without its work on
the side: pymetis converts the arrays again and hands the parts back as a Python list
(millions of ints), and its ``part_graph`` passes one constraint only (extra weight
columns are silently misread), so multi-constraint runs (always k-way) need the direct
call anyway. The graph goes in as it is stored (int32 where it fits; a generated graph
is already symmetric, so no symmetric copy is made) and is converted once, to METIS's
64-bit ``idx_t``; ``metis?library=system`` calls the system's ``libmetis`` instead
(32-bit ids in Debian's build: no conversion, half the memory).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from gnnsim.errors import PartitionError
from gnnsim.graph.graph import Graph
from gnnsim.partition.registry import register
from gnnsim.progress import progress
from gnnsim.rng import rng_for

T = TypeVar("T")


@register("random")
def random_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """Each node goes to a uniformly random part (seeded), as DGL's ``part_method='random'``.

    >>> from gnnsim.graph import sbm
    >>> random_partition(sbm(100, 2, 4.0, 0.9), 3, seed=0).shape
    (100,)
    """
    rng = rng_for(seed, "partition")
    return rng.integers(0, num_parts, size=graph.num_nodes).astype(np.int32)


@register("range")
def range_partition(graph: Graph, num_parts: int, *, seed: int = 0) -> np.ndarray:
    """Contiguous id ranges of equal size (part sizes differ by at most one node).

    >>> from gnnsim.graph import sbm
    >>> range_partition(sbm(7, 1, 2.0, 1.0), 3).tolist()
    [0, 0, 0, 1, 1, 2, 2]
    """
    n = graph.num_nodes
    return (np.arange(n, dtype=np.int64) * num_parts // n).astype(np.int32)


def metis_vertex_weights(graph: Graph, *, balance_train: bool, balance_edges: bool) -> np.ndarray | None:
    """METIS multi-constraint weights, one row per node (None = plain node balance).

    Columns follow DGL: ``balance_train`` gives [non-train, train] indicator columns (their
    sum keeps node balance); ``balance_edges`` adds the node degree. Columns whose total
    is zero (say, every node is a train node) are dropped: METIS rejects them.
    """
    columns = []
    if balance_train:
        is_train = np.zeros(graph.num_nodes, dtype=np.int64)
        is_train[graph.train_ids] = 1
        columns += [1 - is_train, is_train]
    else:
        columns.append(np.ones(graph.num_nodes, dtype=np.int64))
    if balance_edges:
        columns.append(np.maximum(np.diff(graph.symmetric.indptr), 1).astype(np.int64))
    columns = [c for c in columns if c.sum() > 0]
    if len(columns) == 1 and not balance_edges and not balance_train:
        return None
    return np.stack(columns, axis=1)


METIS_NOPTIONS = 40  # metis.h: size of the options array
METIS_OPTION_NITER, METIS_OPTION_SEED, METIS_OPTION_NUMBERING = 6, 8, 17  # metis.h enum moptions (METIS 5.1)
METIS_OK, METIS_ERROR_MEMORY = 1, -3  # metis.h rstatus_et


AUTO_SYSTEM_MIN_EDGES = 1 << 24  # stored edges from which a 64-bit METIS needs GBs (about 50 bytes each)


def resolve_metis_library(graph: Graph, library: str = "auto") -> str:
    """``auto``: the system's METIS for a graph of 2^24 stored edges or more when one is installed, else pymetis's.

    A 32-bit METIS takes half the memory and about two thirds of the time on large graphs
    (see :func:`metis_partition`); small graphs keep pymetis's, so their partitions are the
    same on every machine.
    """
    if library != "auto":
        return library
    stored = graph.num_edges * (1 if graph.undirected else 2)  # the symmetric CSR METIS reads, at most
    if AUTO_SYSTEM_MIN_EDGES <= stored < 2**31 and ctypes.util.find_library("metis") is not None:
        return "system"
    return "pymetis"


def metis_cache_token(graph: Graph, options: dict) -> dict:
    """The METIS library a partition of ``graph`` runs on: part of the partition cache's key."""
    return {"metis_library": resolve_metis_library(graph, str(options.get("library", "auto")))}


def _metis_library(library: str = "pymetis"):
    """``(ctypes library, idx_t dtype)``: pymetis's bundled METIS, or the system's libmetis."""
    if library == "system":
        name = ctypes.util.find_library("metis")
        if name is None:
            raise PartitionError("metis?library=system: no METIS library (libmetis.so) on this system; install "
                                 "one (Debian/Ubuntu: apt install libmetis5) or drop the option (pymetis's METIS)")
        lib = ctypes.CDLL(name)
        probe = np.zeros(2 * METIS_NOPTIONS, dtype=np.int32)  # METIS sets its options to -1: count the words
        lib.METIS_SetDefaultOptions(probe.ctypes.data_as(ctypes.c_void_p))
        return lib, np.int32 if int((probe == -1).sum()) == METIS_NOPTIONS else np.int64
    if library != "pymetis":
        raise ValueError(f"library must be 'auto', 'pymetis' or 'system', got {library!r}")
    from pymetis import _internal

    try:
        lib = ctypes.CDLL(_internal.__file__)
        return lib, np.int64 if _internal._idx_type_width() == 64 else np.int32
    except OSError as exc:
        raise PartitionError(f"metis: cannot load the METIS library that pymetis bundles ({exc}); "
                             "reinstall pymetis or use another partition method") from None


def interruptible(call: Callable[[], T]) -> T:
    """``call()`` on a daemon thread, waited for in short steps: ctypes lets go of the GIL
    while C runs, so Ctrl-C stops gnnsim at once instead of when METIS returns (tens of
    seconds on a large graph); the thread dies with the process."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=run, name="gnnsim-metis", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in out:
        raise out["error"]
    return out["value"]


def _metis_call(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray | None, num_parts: int, seed: int,
                recursive: bool, niter: int | None = None, library: str = "pymetis") -> np.ndarray:
    """METIS k-way or recursive bisection, through ctypes into pymetis's METIS.

    The CSR goes in as METIS's ``idx_t`` (64-bit in pymetis's build: one conversion; a
    32-bit library takes the stored int32 arrays as they are), no Python lists, and the
    parts come back as an array. ``weights`` (n x ncon) adds balance constraints; None
    balances node counts.
    """
    lib, idx = _metis_library(library)
    if idx == np.int32 and max(indptr.size, indices.size) >= 2**31:
        raise PartitionError(f"metis?library=system: this METIS has 32-bit ids, but the graph has {indices.size:,} "
                             "stored edges (2^31 or more); drop the option (pymetis's 64-bit METIS) or use ldg")
    name = "METIS_PartGraphRecursive" if recursive else "METIS_PartGraphKway"
    fn = getattr(lib, name, None)
    if fn is None:
        raise PartitionError(f"metis: this pymetis build does not export {name}; use another partition method")
    n = indptr.size - 1
    ncon = 1 if weights is None else weights.shape[1]
    arrays = {
        "nvtxs": np.array([n], dtype=idx), "ncon": np.array([ncon], dtype=idx),
        "xadj": np.ascontiguousarray(indptr, dtype=idx), "adjncy": np.ascontiguousarray(indices, dtype=idx),
        "nparts": np.array([num_parts], dtype=idx), "options": np.full(METIS_NOPTIONS, -1, dtype=idx),
        "objval": np.zeros(1, dtype=idx), "part": np.zeros(n, dtype=idx),
    }
    if weights is not None:
        arrays["vwgt"] = np.ascontiguousarray(weights, dtype=idx)
    arrays["options"][METIS_OPTION_SEED] = seed
    arrays["options"][METIS_OPTION_NUMBERING] = 0
    if niter is not None:
        arrays["options"][METIS_OPTION_NITER] = niter
    ptr = {k: v.ctypes.data_as(ctypes.c_void_p) for k, v in arrays.items()}
    status = interruptible(lambda: fn(ptr["nvtxs"], ptr["ncon"], ptr["xadj"], ptr["adjncy"], ptr.get("vwgt"), None,
                                      None, ptr["nparts"], None, None, ptr["options"], ptr["objval"], ptr["part"]))
    if status == METIS_ERROR_MEMORY:
        raise PartitionError(f"metis ran out of memory ({name} status {status}) on {n:,} nodes and "
                             f"{indices.size:,} stored edges; at this size use ldg, fennel or random "
                             "(benchmarks/partition.py --sizes measures each)")
    if status != METIS_OK:
        raise PartitionError(f"{name} failed with status {status} on {n} nodes, {ncon} constraints")
    return arrays["part"].astype(np.int32)


@register("metis", cache_token=metis_cache_token)
def metis_partition(graph: Graph, num_parts: int, *, seed: int = 0, balance_train: bool = False,
                    balance_edges: bool = False, niter: int | None = None, library: str = "auto") -> np.ndarray:
    """METIS k-way edge-cut minimisation (pymetis), optionally balancing train nodes and edges.

    ``niter`` sets METIS's refinement iterations per level (default: METIS's own, 10).
    ``metis?niter=3`` on full ogbn-products into 16 parts cut 6.56% of the edges against
    6.57% with the default, in 38 and 46 s (two runs) against 47 s (a shared 2-core VM,
    whose timings vary by 20%): the later iterations rarely move a node.

    ``library`` picks the METIS: ``pymetis`` (its bundled METIS 5.1 with 64-bit ids),
    ``system`` (the ``libmetis`` the system's loader finds, METIS 5.1's option layout;
    Debian's ``libmetis5`` has 32-bit ids, so the stored int32 CSR goes in without a copy
    and METIS's own arrays are half the size) or ``auto`` (default: the system's from 2^24
    stored edges up where one is installed, else pymetis's; :func:`resolve_metis_library`).
    On full ogbn-products into 16 parts (shared 2-core VM) the system's 32-bit METIS took
    20.7-24.5 s and 3.8-4.1 GB peak (graph included), pymetis's 27-58 s and 7.6-8.6 GB,
    for cuts within a point of each other. The partitions differ (another build draws
    other random numbers), so the resolved library is part of the partition's cache key.

    Examples
    --------
    >>> from gnnsim.graph import sbm
    >>> g = sbm(400, 4, 8.0, 0.95, seed=0)
    >>> a = metis_partition(g, 4, seed=0, balance_train=True)
    >>> sorted(set(a.tolist()))
    [0, 1, 2, 3]
    """
    if niter is not None and (not isinstance(niter, int) or niter < 1):
        raise ValueError(f"niter must be a whole number >= 1, got {niter!r}")
    if num_parts == 1:
        return np.zeros(graph.num_nodes, dtype=np.int32)
    sym = graph.symmetric  # METIS needs a symmetric graph without self loops (a generated graph is one: no copy)
    weights = metis_vertex_weights(graph, balance_train=balance_train, balance_edges=balance_edges)
    # pymetis's choice: recursive bisection up to 8 parts, k-way above (multi-constraint runs: k-way)
    resolved = resolve_metis_library(graph, library)
    if library == "auto" and resolved == "pymetis" and sym.indices.size >= AUTO_SYSTEM_MIN_EDGES:
        # the one case where installing a package halves a prediction's memory
        print(f"gnnsim: note: metis: no system libmetis found, so pymetis's 64-bit METIS partitions these "
              f"{sym.indices.size:,} stored edges (about twice the memory and 1.3-2x the time; "
              "Debian/Ubuntu: apt install libmetis5)", file=sys.stderr)
    library = resolved
    with progress(f"partition: metis ({library}), {graph.num_nodes:,} nodes into {num_parts} parts"):  # one C call
        return _metis_call(sym.indptr, sym.indices, weights, num_parts, seed,
                           recursive=weights is None and num_parts <= 8, niter=niter, library=library)
