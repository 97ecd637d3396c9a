"""Build the workload: per iteration and per trainer, the tasks and their demands.

The demands come from really sampling every simulated iteration on the graph, with the
same sampler ``gnnsim realrun`` trains on. Three training modes (``training.mode``):

- ``minibatch`` (default, DistDGL style): trainer ``r`` owns partition ``r``, takes its
  seeds from the train nodes of that partition, samples on the whole graph, reads the
  input features it owns locally and pulls the rest from their owners. Every trainer
  runs the same number of iterations per epoch (synchronous all-reduce):
  ``ceil(max_r train_r / batch_size)``; a trainer with fewer seeds wraps around its own.
  With ``training.graph_store: partitioned`` each trainer holds only its part of the
  graph structure, so sampling a node owned by another part is a remote request to its
  owner (a ``sample`` collective: ids out, sampled edges back, one round per hop).
- ``single-node-multigpu`` (PyG/DGL on one machine): the train nodes are dealt evenly
  to the GPUs, all features sit in host memory, and every uncached input row crosses
  PCIe (``h2d``); no rows come from peers.
- ``full-batch``: each trainer computes its whole partition every iteration (one
  iteration per epoch). Before each layer but the first it exchanges the boundary
  embeddings its neighbouring parts need (a ``halo`` collective; the input features of
  halo nodes are replicated once at load, as BNS-GCN and PipeGCN do), and the backward
  pass sends the halo rows' gradients back to their owners. Each layer computes on the
  inner nodes (destinations) with the inner + halo nodes as sources.

A mini-batch iteration is a chain of tasks (sample -> fetch -> h2d -> forward ->
backward -> allreduce -> optimizer); fetch and allreduce are collective over all
trainers. Input rows in the trainer's feature cache (:mod:`gnnsim.workload.cache`) skip
the fetch and the copy; the fetch task records where every row came from (cache, own
host, a peer on the same node, another node). Samplers (``training.sampler``):
``neighbor`` (fan-outs, with or without replacement), ``full`` (every neighbour) and
``cluster-gcn`` (batches of METIS clusters, the induced subgraph as every layer's block).

A full-batch chain (:mod:`gnnsim.workload.fullbatch`) runs its layers one task each, as autograd does: forward layer by
layer with a halo exchange before each but the first, then backward from the output
layer, each layer's gradient for the halo rows sent back to their owners before the
layer below computes (``Task.layers`` = 1 charges a framework's per-layer overhead once
per layer). The all-reduce's buckets are issued by the last backward task (a large
model's earlier buckets would start sooner in DDP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.partition.registry import Partition
from gnnsim.rng import rng_for
from gnnsim.workload import kernels as m
from gnnsim.workload.batches import (BatchCounts, Counted, batch_counts, cached_counts, copy_sizes,  # noqa: F401
                                     counts_spec, input_bitmap, recount_cached, remote_sampling, sampler_fanouts,
                                     trainer_counts)
from gnnsim.workload.cache import FeatureCache, build_cache
from gnnsim.workload.frameworks import framework_model, pyg_minibatch, pyg_subgraph
from gnnsim.workload.labor import labor_minibatch
from gnnsim.workload.loader import check_placement, placed, placed_tasks, resident_bytes
from gnnsim.workload.fullbatch import build_fullbatch_workload, fullbatch_halo_nodes, halo_matrix  # noqa: F401
from gnnsim.workload.models import get_model
from gnnsim.workload.sampler import MiniBatch, induced_minibatch, sample_minibatch, seed_batches
# the workload's types live in tasks.py; importing them from here keeps working
from gnnsim.workload.tasks import (ID_BYTES, STAGES, Kind, Rows, Sampling, Stage, Task, Workload,  # noqa: F401
                                   batches_memory, compute_kind, gradient_allreduce)

def rank_seeds(graph: Graph, partition: Partition, num_ranks: int) -> list[np.ndarray]:
    """Train nodes owned by each trainer's partition (trainer r owns part r)."""
    owner = partition.assignment[graph.train_ids]
    return [graph.train_ids[owner == r] for r in range(num_ranks)]


def split_seeds(graph: Graph, num_ranks: int, seed: int) -> list[np.ndarray]:
    """single-node-multigpu: the train nodes shuffled once and dealt in equal chunks (sorted)."""
    order = rng_for(seed, "split").permutation(graph.train_ids)
    return [np.sort(chunk) for chunk in np.array_split(order, num_ranks)]


def trainer_seeds(graph: Graph, partition: Partition, num_ranks: int, scenario: Scenario) -> list[np.ndarray]:
    """Each trainer's seeds for the scenario's mode."""
    if scenario.training.mode == "single-node-multigpu":
        return split_seeds(graph, num_ranks, scenario.simulation.seed)
    return rank_seeds(graph, partition, num_ranks)


def iterations_per_epoch(seeds: list[np.ndarray], batch_size: int) -> int:
    return max(1, max(-(-s.size // batch_size) for s in seeds))


# -- cluster-gcn --------------------------------------------------------------------------

@dataclass(frozen=True)
class Clusters:
    """Cluster-GCN's clusters: nodes of cluster c are ``order[starts[c]:starts[c+1]]``;
    trainer r trains on the clusters ``per_rank[r]``."""

    order: np.ndarray
    starts: np.ndarray
    per_rank: list[np.ndarray]

    def nodes(self, cluster_ids: np.ndarray) -> np.ndarray:
        from gnnsim.workload.sampler import segment_arange
        ids = np.asarray(cluster_ids, dtype=np.int64)
        return self.order[segment_arange(self.starts[ids], self.starts[ids + 1] - self.starts[ids])]


def num_clusters_for(scenario: Scenario, num_nodes: int, num_ranks: int) -> int:
    """``training.num_clusters``, or clusters of about batch_size / clusters_per_batch nodes."""
    t = scenario.training
    if t.num_clusters is not None:
        return int(t.num_clusters)
    return int(max(num_ranks, min(num_nodes, -(-num_nodes * t.clusters_per_batch // t.batch_size))))


def graph_clusters(graph: Graph, scenario: Scenario, num_ranks: int) -> Clusters:
    """METIS clusters of the whole graph, shuffled and dealt round-robin to the trainers."""
    from gnnsim.partition.registry import partition_graph

    k = num_clusters_for(scenario, graph.num_nodes, num_ranks)
    assignment = partition_graph(graph, "metis", k, seed=scenario.simulation.seed).assignment
    order = np.argsort(assignment, kind="stable").astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(np.bincount(assignment, minlength=k))]).astype(np.int64)
    dealt = rng_for(scenario.simulation.seed, "clusters").permutation(k)
    return Clusters(order, starts, [np.sort(dealt[r::num_ranks]) for r in range(num_ranks)])


def cluster_iterations_per_epoch(clusters: Clusters, clusters_per_batch: int) -> int:
    return max(1, max(-(-c.size // clusters_per_batch) for c in clusters.per_rank))


# -- batches ------------------------------------------------------------------------------

def rank_minibatches(graph: Graph, seeds: np.ndarray, rank: int, scenario: Scenario, num_batches: int,
                     epoch_iterations: int, clusters: Clusters | None = None,
                     purpose: str = "") -> list[MiniBatch]:
    """The first ``num_batches`` mini-batches trainer ``rank`` trains on (same in sim and real run).

    ``clusters`` is needed for ``sampler: cluster-gcn``; ``purpose`` picks other random
    streams (the cache's pre-sampling uses ``"presample"`` so training batches stay the same).
    """
    seed = scenario.simulation.seed
    t = scenario.training
    tag = ("seeds", "sampler") if not purpose else (f"{purpose}-seeds", f"{purpose}-sampler")
    if t.sampler == "cluster-gcn":
        if clusters is None:
            raise ValueError("sampler cluster-gcn needs the graph's clusters (graph_clusters)")
        picks = seed_batches(clusters.per_rank[rank], t.clusters_per_batch, max(num_batches, 1),
                             rng_for(seed, tag[0], rank))
        train = np.zeros(graph.num_nodes, dtype=bool)
        train[graph.train_ids] = True
        out = []
        for ids in picks[:num_batches]:
            nodes = clusters.nodes(ids)
            out.append(induced_minibatch(graph.indptr, graph.indices, nodes, nodes[train[nodes]], len(t.fanouts)))
        return out
    batches = seed_batches(seeds, t.batch_size, max(num_batches, 1), rng_for(seed, tag[0], rank))
    rng = rng_for(seed, tag[1], rank)
    fanouts = sampler_fanouts(scenario)
    if t.sampler == "labor":
        return [labor_minibatch(graph.indptr, graph.indices, b, fanouts, rng, t.labor_layer_dependency)
                for b in batches[:num_batches]]
    if pyg_subgraph(t):  # pyg-lib's sampling: each hop expands only the nodes the last one added
        return [pyg_minibatch(graph.indptr, graph.indices, b, fanouts, rng, t.replace) for b in batches[:num_batches]]
    if t.sampler == "neighbor" and not t.replace:  # the original call, unchanged
        return [sample_minibatch(graph.indptr, graph.indices, b, fanouts, rng) for b in batches[:num_batches]]
    return [sample_minibatch(graph.indptr, graph.indices, b, fanouts, rng, t.replace) for b in batches[:num_batches]]


# -- mini-batch iterations ------------------------------------------------------------------

def table_rows(graph: Graph, part_sizes: np.ndarray, rank: int, mode: str) -> int:
    """Rows of the feature table a trainer gathers its own rows from: every row where each
    rank holds them all (``single-node-multigpu``, PyG's ``x[n_id]``), else its partition's
    (``part_sizes``: rows per part)."""
    if mode == "single-node-multigpu":
        return int(graph.num_nodes)
    return int(part_sizes[rank]) if rank < part_sizes.size else 0


def h2d_task(mb: MiniBatch | BatchCounts, feature_bytes: int, cached: bool) -> Task:
    """The copy of a batch to its GPU: the uncached feature rows, then each block's edge
    index pair and the seed ids (int64), as a trainer moves them. ``rounds`` counts the
    separate copies (the rows' positions too, when some rows came from the cache)."""
    edges, blocks, seeds = copy_sizes(mb)
    index_bytes = ID_BYTES * (2 * edges + seeds)
    copies = 2 * blocks + 1 + (feature_bytes > 0) * (2 if cached else 1)
    return Task(Stage.H2D, Kind.TRANSFER, bytes=float(feature_bytes + index_bytes), rounds=int(copies))


def iteration_tasks(mb: MiniBatch, assignment: np.ndarray, rank: int, num_ranks: int, scenario: Scenario,
                    graph: Graph, cluster: Cluster, param_count: int, cache: FeatureCache | None = None) -> list[Task]:
    """Trainer ``rank``'s chain of tasks for batch ``mb`` (:func:`counts_tasks` of its counts)."""
    counts = batch_counts(mb, assignment, rank, num_ranks, scenario, graph, cache)
    table = table_rows(graph, np.bincount(assignment, minlength=num_ranks), rank, scenario.training.mode)
    return counts_tasks(counts, rank, num_ranks, scenario, graph, cluster, param_count, table)


def counts_tasks(c: BatchCounts, rank: int, num_ranks: int, scenario: Scenario, graph: Graph, cluster: Cluster,
                 param_count: int, table: int = 0) -> list[Task]:
    """Trainer ``rank``'s chain of tasks for a batch with counts ``c`` on ``cluster``; the
    trainer gathers its own rows from a feature table of ``table`` rows (0: unknown)."""
    t = scenario.training
    spec = framework_model(scenario.model.name, t.framework)  # PyG's GCN projects first (workload.frameworks)
    heads = scenario.model.heads
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(t.fanouts))
    dtype_bytes = m.DTYPE_BYTES[scenario.model.dtype]
    shapes = [tuple(s) for s in c.shapes]  # what the framework's layers compute (gnnsim.workload.frameworks)
    owners = np.asarray(c.owners, dtype=np.int64)
    cached = c.cached
    per_node = cluster.node.trainers
    same_node = np.arange(num_ranks) // per_node == rank // per_node
    feature_bytes = m.DTYPE_BYTES[scenario.graph.feature_dtype]
    row_bytes = graph.feature_dim * feature_bytes
    on_gpu = cluster.node.trainer_device.kind == "gpu"
    kind = compute_kind(cluster)
    tasks = [Task(Stage.SAMPLE, Kind.CPU_SAMPLE, workers=t.sampler_workers,
                  sampling=Sampling(c.seeds, c.sampled_nodes, c.sampled_edges,
                                    scenario.graph.stands_for_nodes or graph.num_nodes, c.hops, c.draws, c.checks))]
    if t.graph_store == "partitioned" and t.mode == "minibatch" and num_ranks > 1:
        # every trainer joins the request exchange, also when it needs nothing remote
        r_nodes, r_edges = np.asarray(c.remote_nodes, dtype=np.int64), np.asarray(c.remote_edges, dtype=np.int64)
        tasks.append(Task(Stage.SAMPLE, Kind.COLLECTIVE, rows=Rows(tuple(int(x) for x in r_nodes)),
                          bytes=float(ID_BYTES * (r_nodes.sum() + 2 * r_edges.sum())),
                          rounds=c.hops))  # one request round per hop (a cluster-GCN batch: one)
    tasks.append(Task(Stage.FETCH, Kind.COLLECTIVE, bytes=float(owners.sum() - owners[rank]) * row_bytes,
                      rows=Rows(tuple(int(x) for x in owners), row_bytes, local_rows=int(owners[rank]),
                                cached_rows=cached, peer_rows=int(owners[same_node].sum() - owners[rank]),
                                remote_rows=int(owners[~same_node].sum()), table_rows=table)))
    if on_gpu:
        tasks.append(h2d_task(c, c.missing * row_bytes, cached > 0))
    tasks += [
        Task(Stage.FORWARD, kind, kernels=(*m.feature_cast(c.inputs, graph.feature_dim, feature_bytes, dtype_bytes),
                                           *spec.forward_kernels(shapes, dims, dtype_bytes, heads))),
        Task(Stage.BACKWARD, kind, kernels=tuple(spec.backward_kernels(shapes, dims, c.seeds, graph.num_classes,
                                                                   dtype_bytes, heads))),
        gradient_allreduce(param_count, spec.param_tensors(len(dims)), m.PARAM_BYTES, num_ranks),
        Task(Stage.OPTIMIZER, kind, kernels=tuple(m.optimizer_kernels(param_count, spec.param_tensors(len(dims)),
                                                                      t.optimizer))),
    ]
    if placed(t):  # sampling, features or loader workers placed (gnnsim.workload.loader)
        tasks = placed_tasks(tasks, scenario, c, c.missing, cached, t.mode == "single-node-multigpu", row_bytes)
    return tasks


def trainer_caches(scenario: Scenario, graph: Graph, seeds: list[np.ndarray], clusters: Clusters | None,
                   per_epoch: int) -> list[FeatureCache | None]:
    """Each trainer's feature cache (None everywhere for ``policy: none``)."""
    cfg = scenario.training.cache
    if cfg.policy == "none":
        return [None] * len(seeds)
    row_bytes = graph.feature_dim * m.DTYPE_BYTES[scenario.graph.feature_dtype]
    degree = graph.degrees()
    if cfg.policy in ("degree", "random"):  # the same static set on every trainer: build it once
        cache = build_cache(cfg, degree, row_bytes, seed=scenario.simulation.seed)
        return [cache] * len(seeds)
    return [build_cache(cfg, degree, row_bytes,
                        lambda n, r=r: [mb.input_nodes for mb in rank_minibatches(
                            graph, seeds[r], r, scenario, n, per_epoch, clusters, purpose="presample")])
            for r in range(len(seeds))]


def build_workload(scenario: Scenario, graph: Graph, partition: Partition, cluster: Cluster) -> Workload:
    """Sample ``simulation.iterations`` real mini-batches per trainer and turn them into tasks
    (or, for ``training.mode: full-batch``, one full-graph iteration per trainer)."""
    if scenario.training.mode == "full-batch":
        return build_fullbatch_workload(scenario, graph, partition, cluster)
    t = scenario.training
    num_ranks = cluster.num_trainers
    seeds = trainer_seeds(graph, partition, num_ranks, scenario)
    spec = get_model(scenario.model.name)
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(t.fanouts))
    params = spec.param_count(dims, scenario.model.heads)
    built: dict[str, list] = {}

    spec_key = counts_spec(scenario, graph, partition.assignment, num_ranks)
    bits = spec_key is not None and spec_key["input_bitmaps"]

    def sample() -> tuple[list[list[Counted]], int]:
        clusters = graph_clusters(graph, scenario, num_ranks) if t.sampler == "cluster-gcn" else None
        per_epoch = (cluster_iterations_per_epoch(clusters, t.clusters_per_batch) if clusters is not None
                     else iterations_per_epoch(seeds, t.batch_size))
        k = min(scenario.simulation.iterations, per_epoch)
        caches = built["caches"] = trainer_caches(scenario, graph, seeds, clusters, per_epoch)
        check_placement(scenario, graph, cluster, max((c.bytes for c in caches if c is not None), default=0))

        def count_rank(r: int) -> list[Counted]:
            return [(batch_counts(mb, partition.assignment, r, num_ranks, scenario, graph, caches[r]),
                     input_bitmap(mb.input_nodes, partition.assignment, num_ranks) if bits else None)
                    for mb in rank_minibatches(graph, seeds[r], r, scenario, k, per_epoch, clusters)]
        return trainer_counts(count_rank, num_ranks, graph.num_edges), per_epoch

    # the batches' counts: from the disk cache when this graph, partition and sampling ran before
    counts, per_epoch, stored_inputs = cached_counts(
        spec_key, num_ranks, sample, t.cache.model_dump(mode="json"),
        f"{graph.name} / {partition.method} / {t.sampler} {t.fanouts} x {t.batch_size}: ")
    k = len(counts[0]) if counts else 0
    caches = built.get("caches")
    if caches is None:  # read from the cache: the feature caches are cheap, except pre-sampled ones
        presampled_clusters = t.sampler == "cluster-gcn" and t.cache.policy == "presample"
        clusters = graph_clusters(graph, scenario, num_ranks) if presampled_clusters else None
        caches = trainer_caches(scenario, graph, seeds, clusters, per_epoch)
        check_placement(scenario, graph, cluster, max((c.bytes for c in caches if c is not None), default=0))
    if stored_inputs is not None:  # counted for another feature cache: recount the cached rows for this one
        counts = recount_cached(counts, stored_inputs, caches, partition.assignment, scenario)
    tasks: list[list[list[Task]]] = [[[] for _ in range(num_ranks)] for _ in range(k)]
    hit_rate = [[0.0] * num_ranks for _ in range(k)]
    edges, inputs, hops = [], [], []
    sources = np.zeros(4)  # cached, local, peer, remote rows
    shapes_by_rank: list[list] = [[] for _ in range(num_ranks)]
    part_sizes = np.bincount(partition.assignment, minlength=num_ranks)
    for r in range(num_ranks):
        table = table_rows(graph, part_sizes, r, t.mode)
        for i, c in enumerate(counts[r]):
            chain = counts_tasks(c, r, num_ranks, scenario, graph, cluster, params, table)
            tasks[i][r] = chain
            fetch = next((x.rows for x in chain if x.stage is Stage.FETCH), None)
            if fetch is None:  # features resident on the GPU: every row is the trainer's own
                sources[1] += c.inputs
            else:
                sources += (fetch.cached_rows, fetch.local_rows, fetch.peer_rows, fetch.remote_rows)
                hit_rate[i][r] = fetch.cached_rows / max(1, c.inputs)
            edges.append(c.sampled_edges)
            inputs.append(c.inputs)
            hops.append(c.nodes_per_hop)
            shapes_by_rank[r].append(([tuple(s) for s in c.shapes], c.inputs, c.block_edges))
    stats = {"sampled_edges_mean": float(np.mean(edges)), "input_nodes_mean": float(np.mean(inputs))}
    if (t.mode, t.sampler, t.replace, t.cache.policy, t.graph_store, scenario.model.name) != (
            "minibatch", "neighbor", False, "none", "replicated", "graphsage"):
        total = max(1.0, float(sources.sum()))
        stats.update({
            "nodes_per_hop_mean": [float(x) for x in np.mean(np.array(hops, dtype=float), axis=0)],
            "rows_cached_share": float(sources[0] / total), "rows_local_share": float(sources[1] / total),
            "rows_peer_share": float(sources[2] / total), "rows_remote_share": float(sources[3] / total),
            "cache_hit_rate_mean": float(np.mean(hit_rate)) if hit_rate else 0.0,
        })
        if t.cache.policy != "none":  # per iteration, mean over the trainers
            stats["cache_hit_rate_per_iteration"] = [float(np.mean(row)) for row in hit_rate]
    memory = batches_memory(scenario, graph, cluster, params, shapes_by_rank, caches,
                     graph_on_gpu=cluster.node.trainer_device.kind == "gpu", resident=resident_bytes(scenario, graph))
    return Workload(scenario, num_ranks, per_epoch, k, tasks, params,
                    [int(s.size) for s in seeds], stats, memory, hit_rate, t.prefetch_depth, t.sampler_workers,
                    spec.layer_param_counts(dims, scenario.model.heads))
