"""What the workload needs from each sampled mini-batch: a few counts, sampled once.

A trainer's iteration costs what its batch touches: seeds, input rows and where each
comes from (cache, own part, a peer, another node), sampled nodes and edges, the
sampler's draws and checks, and each layer's shape. :func:`batch_counts` reduces a
:class:`~gnnsim.workload.sampler.MiniBatch` (hundreds of MB of ids on a large graph) to
a :class:`BatchCounts` of a few numbers per trainer, which is all
:func:`~gnnsim.workload.builder.iteration_tasks` reads; the cluster (its node size,
devices, links) comes in only after, when the counts become tasks.

:func:`trainer_counts` samples every trainer's batches and counts them, one trainer at a
time in each process: on a large graph the trainers are shared out over forked processes,
one per core (:data:`PARALLEL_MIN_EDGES`), so a core holds one trainer's batches at once. The counts are stored in the
on-disk cache (:mod:`gnnsim.cache.store`, kind ``batches``), keyed by everything that
decides them: the graph's cache key, a hash of the partition's
assignment, the trainer count, ``simulation.iterations`` and ``seed``, and the training
fields in :data:`COUNT_FIELDS` (sampler, fan-outs, batch size, mode, cache, framework
semantics). A second prediction of the same job, or of the same job on another cluster
with as many trainers, reads them back instead of sampling again; a cluster with another
trainer count partitions and samples anew. While they fit ``BITMAP_BYTES`` (64 MiB: a
bit per graph node per batch, 47 MB for ogbn-products x 16 trainers x 10 batches), the
entry also keeps each batch's input nodes as a bitmap and per owner, and the feature
cache leaves the key: a job that changes only the cache recounts its cached rows from
them (:func:`recount_cached`) instead of sampling again. Bump :data:`BATCH_VERSION` whenever the
sampler or the counting changes what it returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gnnsim.cache import store
from gnnsim.config import Scenario
from gnnsim.graph.forked import usable_cores, worker_pool
from gnnsim.graph.graph import Graph
from gnnsim.progress import progress
from gnnsim.workload.cache import FeatureCache
from gnnsim.workload.frameworks import training_shapes
from gnnsim.workload.sampler import MiniBatch, sampling_work

BATCH_VERSION = 1
# the training fields that decide a batch's counts (the rest price them: workers, placement, DDP ...)
COUNT_FIELDS = ("mode", "sampler", "replace", "graph_store", "cache", "num_clusters", "clusters_per_batch",
                "batch_size", "fanouts", "framework", "pyg_trim_to_layer", "pyg_loader", "labor_layer_dependency")
BITMAP_BYTES = 1 << 26  # every batch's input nodes kept as a bitmap while all of them fit this (64 MiB)
# stored edges from which trainers are sampled in forked processes (16 trainers of a products
# preset, 2 cores: 0.15 s forked against 0.20 s at 2^22 stored edges, 0.084 against 0.071 s at 2^20);
# up to 2^31, where a second sampler's temporaries still fit beside the graph (full
# ogbn-papers100M samples in one process)
PARALLEL_MIN_EDGES, PARALLEL_MAX_EDGES = 1 << 22, 1 << 31
_INTS = ("seeds", "inputs", "cached", "sampled_nodes", "sampled_edges", "block_edges", "num_blocks", "hops", "draws")


@dataclass(frozen=True)
class BatchCounts:
    """One trainer's mini-batch as the workload prices it.

    ``owners[q]`` counts the uncached input rows that trainer ``q`` holds (all of them the
    trainer's own in ``single-node-multigpu``); ``shapes`` is each layer's
    ``(num_src, num_dst, num_edges)`` as the framework computes it, input layer first;
    ``remote_nodes``/``remote_edges`` are the partitioned graph store's sampling
    requests per owner (empty when the graph is replicated).
    """

    seeds: int
    inputs: int
    cached: int
    owners: tuple[int, ...]
    sampled_nodes: int
    sampled_edges: int
    block_edges: int  # edges over all blocks (a shared cluster-GCN block counted per layer)
    num_blocks: int
    shapes: tuple[tuple[int, int, int], ...]
    hops: int
    draws: int
    checks: float
    nodes_per_hop: tuple[int, ...]
    remote_nodes: tuple[int, ...] = ()
    remote_edges: tuple[int, ...] = ()

    @property
    def missing(self) -> int:
        """Input rows not in the cache."""
        return self.inputs - self.cached


def copy_sizes(batch: MiniBatch | BatchCounts) -> tuple[int, int, int]:
    """``(edges over all blocks, blocks, seeds)`` of a batch or its counts: what its index copy moves."""
    if isinstance(batch, MiniBatch):
        return sum(b.num_edges for b in batch.blocks), len(batch.blocks), int(batch.seeds.size)
    return batch.block_edges, batch.num_blocks, batch.seeds


def remote_sampling(mb: MiniBatch, assignment: np.ndarray, rank: int, num_ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per owner: nodes whose neighbours another part's owner samples for us, and the
    edges it returns (``graph_store: partitioned``). Our own part's entries are zero."""
    nodes = np.zeros(num_ranks, dtype=np.int64)
    edges = np.zeros(num_ranks, dtype=np.int64)
    blocks = mb.blocks[:1] if mb.shared_blocks else mb.blocks
    for b in blocks:
        owner = assignment[b.src_nodes[:b.num_dst]]
        nodes += np.bincount(owner, minlength=num_ranks)
        edges += np.bincount(owner[b.edge_dst], minlength=num_ranks)
    nodes[rank] = edges[rank] = 0
    return nodes, edges


def sampler_fanouts(scenario: Scenario) -> list[int | None]:
    """Fan-outs as the sampler takes them: ``None`` (every neighbour) for ``sampler: full``."""
    t = scenario.training
    return [None] * len(t.fanouts) if t.sampler == "full" else list(t.fanouts)


def batch_counts(mb: MiniBatch, assignment: np.ndarray, rank: int, num_ranks: int, scenario: Scenario,
                 graph: Graph, cache: FeatureCache | None = None) -> BatchCounts:
    """The counts of ``mb``, trainer ``rank``'s batch, with its feature ``cache``."""
    t = scenario.training
    inputs = mb.input_nodes
    missing = inputs if cache is None or cache.rows == 0 else inputs[~cache.mask[inputs]]
    if t.mode == "single-node-multigpu":  # every row is in this node's host memory
        owners = np.zeros(num_ranks, dtype=np.int64)
        owners[rank] = missing.size
    else:
        owners = np.bincount(assignment[missing], minlength=num_ranks)
    hops, draws, checks = sampling_work(graph.indptr, mb, sampler_fanouts(scenario), t.replace)
    remote: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    if t.graph_store == "partitioned" and t.mode == "minibatch" and num_ranks > 1:
        r_nodes, r_edges = remote_sampling(mb, assignment, rank, num_ranks)
        remote = (tuple(int(x) for x in r_nodes), tuple(int(x) for x in r_edges))
    return BatchCounts(
        seeds=int(mb.seeds.size), inputs=int(inputs.size), cached=int(inputs.size - missing.size),
        owners=tuple(int(x) for x in owners), sampled_nodes=int(mb.num_sampled_nodes),
        sampled_edges=int(mb.num_sampled_edges), block_edges=sum(b.num_edges for b in mb.blocks),
        num_blocks=len(mb.blocks), shapes=tuple(tuple(int(v) for v in s) for s in training_shapes(mb, t)),
        hops=int(hops), draws=int(draws), checks=float(checks), nodes_per_hop=tuple(int(x) for x in mb.nodes_per_hop),
        remote_nodes=remote[0], remote_edges=remote[1])


def sampling_processes(num_ranks: int, stored_edges: int) -> int:
    """How many processes sample the trainers: one per usable core on a large graph, else one."""
    if not PARALLEL_MIN_EDGES <= stored_edges < PARALLEL_MAX_EDGES:
        return 1
    return max(1, min(num_ranks, usable_cores()))


def _count(shared: dict, rank: int) -> list:
    return shared["count_rank"](rank)


def trainer_counts(count_rank: Callable[[int], list[BatchCounts]], num_ranks: int,
                   stored_edges: int = 0) -> list[list[BatchCounts]]:
    """``count_rank(r)`` for every trainer, in rank order, with progress on stderr.

    On a graph of ``stored_edges`` from :data:`PARALLEL_MIN_EDGES` up, the trainers are
    shared out over forked processes, one per core (:func:`~gnnsim.graph.forked.worker_pool`;
    threads gained nothing: the sampler holds the GIL for most of its work). ``count_rank``
    and the graph it reads are inherited through the fork; only each trainer's counts
    come back. Each trainer's batches come from its own seeded generator, so the counts
    are the same as one process's. The pool is terminated on any error or interrupt, so
    no process outlives the call.
    """
    processes = sampling_processes(num_ranks, stored_edges)
    if processes > 1:
        store.wait_for_saves()  # no cache write on another thread while the process forks
    out = []
    with progress("workload: sampling", total=num_ranks, unit="trainers") as p, \
            worker_pool(processes, {"count_rank": count_rank}) as pool:
        for counts in pool.imap(_count, range(num_ranks)):
            out.append(counts)
            p.update()
    return out


# -- the on-disk cache ----------------------------------------------------------------------

def keeps_bitmaps(num_nodes: int, num_ranks: int, iterations: int) -> bool:
    """Whether the entry also holds every batch's input nodes (one bit per graph node)."""
    return -(-num_nodes // 8) * num_ranks * iterations <= BITMAP_BYTES


def counts_spec(scenario: Scenario, graph: Graph, assignment: np.ndarray, num_ranks: int) -> dict | None:
    """What decides every trainer's counts (None when the graph is not a cached one).

    An entry that holds the batches' input-node bitmaps (:func:`keeps_bitmaps`) leaves
    the feature cache out of its key: another cache recounts the cached rows from them.
    """
    if graph.cache_key is None:
        return None
    t = scenario.training
    digest = hashlib.sha256(memoryview(np.ascontiguousarray(assignment)).cast("B")).hexdigest()[:32]
    fields = {name: getattr(t, name) for name in COUNT_FIELDS}
    bitmaps = keeps_bitmaps(graph.num_nodes, num_ranks, scenario.simulation.iterations)
    if bitmaps:
        del fields["cache"]
    else:
        fields["cache"] = t.cache.model_dump(mode="json")
    return {"graph": graph.cache_key, "assignment": f"{assignment.dtype}:{digest}", "num_ranks": int(num_ranks),
            "iterations": int(scenario.simulation.iterations), "seed": int(scenario.simulation.seed),
            "feature_dtype": scenario.graph.feature_dtype, "training": fields, "input_bitmaps": bitmaps,
            "batch_version": BATCH_VERSION}


def input_bitmap(input_nodes: np.ndarray, assignment: np.ndarray, num_ranks: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch's input nodes as packed bits (uint8, one bit per graph node), and how many
    of them each trainer owns (the uncached rows per owner when there is no feature cache)."""
    bits = np.zeros(assignment.size, dtype=bool)
    bits[input_nodes] = True
    return np.packbits(bits), np.bincount(assignment[input_nodes], minlength=num_ranks)


def recount_cached(counts: list[list[BatchCounts]], inputs_of: dict[str, np.ndarray], caches: list,
                   assignment: np.ndarray, scenario: Scenario) -> list[list[BatchCounts]]:
    """``counts`` with the cached rows and the uncached rows per owner taken anew, for ``caches``,
    from each batch's input bitmap (``inputs_of["bitmaps"]``, rows in rank-major order) or,
    without a cache, from its inputs per owner (``inputs_of["owners_all"]``)."""
    num_ranks, n = len(counts), assignment.size
    out = []
    for r, rank in enumerate(counts):
        cache = caches[r]
        fresh = []
        for i, c in enumerate(rank):
            row = r * len(rank) + i
            if cache is None or cache.rows == 0:  # every input row is fetched
                missing_count, owners = c.inputs, inputs_of["owners_all"][row]
            else:
                inputs = np.flatnonzero(np.unpackbits(inputs_of["bitmaps"][row], count=n))
                missing = inputs[~cache.mask[inputs]]
                missing_count, owners = missing.size, np.bincount(assignment[missing], minlength=num_ranks)
            if scenario.training.mode == "single-node-multigpu":
                owners = np.zeros(num_ranks, dtype=np.int64)
                owners[r] = missing_count
            fresh.append(dataclasses.replace(c, cached=int(c.inputs - missing_count),
                                             owners=tuple(int(x) for x in owners)))
        out.append(fresh)
    return out


def counts_arrays(counts: list[list[BatchCounts]]) -> dict[str, np.ndarray]:
    flat = [c for rank in counts for c in rank]
    arrays = {"ints": np.array([[getattr(c, f) for f in _INTS] for c in flat], dtype=np.int64).reshape(-1, len(_INTS)),
              "checks": np.array([c.checks for c in flat], dtype=np.float64),
              "owners": np.array([c.owners for c in flat], dtype=np.int64).reshape(len(flat), -1),
              "shapes": np.array([c.shapes for c in flat], dtype=np.int64).reshape(len(flat), -1, 3),
              "per_hop": np.array([c.nodes_per_hop for c in flat], dtype=np.int64).reshape(len(flat), -1)}
    if flat and flat[0].remote_nodes:
        arrays["remote"] = np.array([(c.remote_nodes, c.remote_edges) for c in flat], dtype=np.int64)
    return arrays


def counts_from_arrays(arrays: dict[str, np.ndarray], num_ranks: int) -> list[list[BatchCounts]]:
    ints, owners, shapes, per_hop = arrays["ints"], arrays["owners"], arrays["shapes"], arrays["per_hop"]
    remote = arrays.get("remote")
    flat = []
    for i in range(ints.shape[0]):
        values = dict(zip(_INTS, (int(x) for x in ints[i])))
        flat.append(BatchCounts(
            **values, checks=float(arrays["checks"][i]), owners=tuple(int(x) for x in owners[i]),
            shapes=tuple(tuple(int(v) for v in s) for s in shapes[i]), nodes_per_hop=tuple(int(x) for x in per_hop[i]),
            remote_nodes=tuple(int(x) for x in remote[i, 0]) if remote is not None else (),
            remote_edges=tuple(int(x) for x in remote[i, 1]) if remote is not None else ()))
    k = len(flat) // max(1, num_ranks)
    return [flat[r * k:(r + 1) * k] for r in range(num_ranks)]


# a batch's counts and, where kept, its input bitmap and inputs per owner (input_bitmap)
Counted = tuple[BatchCounts, tuple[np.ndarray, np.ndarray] | None]


def cached_counts(spec: dict | None, num_ranks: int, compute: Callable[[], tuple[list[list[Counted]], int]],
                  cache_config: dict, describe: str = "") -> tuple[list[list[BatchCounts]], int, dict | None]:
    """``(counts per trainer, iterations per epoch, inputs or None)`` from the cache, or from
    ``compute()`` (then stored). Read back for another feature cache than ``cache_config``, the
    counts come with their batches' inputs (bitmaps and per owner), which
    :func:`recount_cached` recounts; else the inputs are None."""
    if spec is None or store.cache_root() is None:
        counted, per_epoch = compute()
        return [[c for c, _ in rank] for rank in counted], per_epoch, None
    hit = store.load("batches", spec)
    if hit is not None:
        arrays, meta = hit
        counts = counts_from_arrays(arrays, num_ranks)
        same_cache = meta.get("cache_config") == json.loads(json.dumps(cache_config))
        inputs = {k: arrays[k] for k in ("bitmaps", "owners_all") if k in arrays}
        return counts, int(meta["iterations_per_epoch"]), None if same_cache or len(inputs) < 2 else inputs
    counted, per_epoch = compute()
    counts = [[c for c, _ in rank] for rank in counted]
    arrays = counts_arrays(counts)
    kept = [x for rank in counted for _, x in rank]
    if kept and all(x is not None for x in kept):
        arrays["bitmaps"] = np.stack([bits for bits, _ in kept])
        arrays["owners_all"] = np.stack([owners for _, owners in kept]).astype(np.int64)
    k = len(counts[0]) if counts else 0
    store.save("batches", spec, arrays, {"iterations_per_epoch": per_epoch, "cache_config": cache_config,
                                         "describe": f"{describe}{num_ranks} trainers x {k} batches"})
    return counts, per_epoch, None
