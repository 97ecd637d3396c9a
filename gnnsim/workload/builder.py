"""Build the workload: per iteration and per trainer, the tasks and their demands.

Mini-batch data-parallel GraphSAGE, DistDGL style: trainer ``r`` owns partition ``r``,
takes its seeds from the train nodes of that partition, samples on the whole graph,
reads the input features it owns locally and pulls the rest from their owners. The
demands come from really sampling every simulated iteration on the graph.

Every trainer runs the same number of iterations per epoch (synchronous all-reduce):
``ceil(max_r train_r / batch_size)``; a trainer with fewer seeds wraps around its own.
Each iteration is a chain of tasks (sample -> fetch -> h2d -> forward -> backward ->
allreduce -> optimizer); fetch and allreduce are collective over all trainers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.partition.registry import Partition
from gnnsim.rng import rng_for
from gnnsim.workload import model as m
from gnnsim.workload.sampler import MiniBatch, sample_minibatch, seed_batches

STAGES = ("sample", "fetch", "h2d", "forward", "backward", "halo", "allreduce", "optimizer")
ID_BYTES = 8  # int64 node ids in a feature request


@dataclass(frozen=True)
class Task:
    """One step of one trainer's iteration. ``kind`` says which resource serves it."""

    stage: str
    kind: str  # cpu_compute | gpu_kernel | transfer | collective
    kernels: tuple[m.Kernel, ...] = ()
    seeds: int = 0
    nodes: int = 0
    edges: int = 0
    bytes: float = 0.0
    # fetch only: rows read from the trainer's own partition and, per owner rank, rows pulled
    local_rows: int = 0
    rows_from: tuple[int, ...] = ()
    row_bytes: int = 0


@dataclass
class Workload:
    scenario: Scenario
    num_ranks: int
    iterations_per_epoch: int
    iterations: int  # simulated per rank
    tasks: list[list[list[Task]]]  # [iteration][rank] -> chain of tasks
    param_count: int
    train_per_rank: list[int]
    batch_stats: dict[str, float] = field(default_factory=dict)


def rank_seeds(graph: Graph, partition: Partition, num_ranks: int) -> list[np.ndarray]:
    """Train nodes owned by each trainer's partition (trainer r owns part r)."""
    owner = partition.assignment[graph.train_ids]
    return [graph.train_ids[owner == r] for r in range(num_ranks)]


def iterations_per_epoch(seeds: list[np.ndarray], batch_size: int) -> int:
    return max(1, max(-(-s.size // batch_size) for s in seeds))


def rank_minibatches(graph: Graph, seeds: np.ndarray, rank: int, scenario: Scenario, num_batches: int,
                     epoch_iterations: int) -> list[MiniBatch]:
    """The first ``num_batches`` mini-batches trainer ``rank`` trains on (same in sim and real run)."""
    seed = scenario.simulation.seed
    batches = seed_batches(seeds, scenario.training.batch_size, max(num_batches, 1), rng_for(seed, "seeds", rank))
    rng = rng_for(seed, "sampler", rank)
    return [sample_minibatch(graph.indptr, graph.indices, b, scenario.training.fanouts, rng) for b in batches[:num_batches]]


def iteration_tasks(mb: MiniBatch, assignment: np.ndarray, rank: int, num_ranks: int, scenario: Scenario,
                    graph: Graph, cluster: Cluster, param_count: int) -> list[Task]:
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(scenario.training.fanouts))
    dtype_bytes = m.DTYPE_BYTES[scenario.model.dtype]
    shapes = [(b.num_src, b.num_dst, b.num_edges) for b in mb.blocks]
    owners = np.bincount(assignment[mb.input_nodes], minlength=num_ranks)
    row_bytes = graph.feature_dim * dtype_bytes
    on_gpu = cluster.node.trainer_device.kind == "gpu"
    compute_kind = "gpu_kernel" if on_gpu else "cpu_compute"
    tasks = [
        Task("sample", "cpu_compute", seeds=int(mb.seeds.size), nodes=mb.num_sampled_nodes, edges=mb.num_sampled_edges),
        Task("fetch", "collective", local_rows=int(owners[rank]), rows_from=tuple(int(x) for x in owners),
             row_bytes=row_bytes, bytes=float(owners.sum() - owners[rank]) * row_bytes),
    ]
    if on_gpu:
        tasks.append(Task("h2d", "transfer", bytes=float(mb.input_nodes.size) * row_bytes))
    tasks += [
        Task("forward", compute_kind, kernels=tuple(m.sage_forward(shapes, dims, dtype_bytes))),
        Task("backward", compute_kind, kernels=tuple(m.sage_backward(shapes, dims, int(mb.seeds.size), graph.num_classes, dtype_bytes))),
        Task("allreduce", "collective", bytes=float(param_count * dtype_bytes)),
        Task("optimizer", compute_kind, kernels=tuple(m.optimizer_kernels(param_count, m.sage_param_tensors(len(dims)), scenario.training.optimizer))),
    ]
    return tasks


def build_workload(scenario: Scenario, graph: Graph, partition: Partition, cluster: Cluster) -> Workload:
    """Sample ``simulation.iterations`` real mini-batches per trainer and turn them into tasks."""
    num_ranks = cluster.num_trainers
    seeds = rank_seeds(graph, partition, num_ranks)
    per_epoch = iterations_per_epoch(seeds, scenario.training.batch_size)
    k = min(scenario.simulation.iterations, per_epoch)
    fanouts = scenario.training.fanouts
    params = m.sage_param_count(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(fanouts))
    tasks: list[list[list[Task]]] = [[[] for _ in range(num_ranks)] for _ in range(k)]
    edges, inputs = [], []
    for r in range(num_ranks):
        for i, mb in enumerate(rank_minibatches(graph, seeds[r], r, scenario, k, per_epoch)):
            tasks[i][r] = iteration_tasks(mb, partition.assignment, r, num_ranks, scenario, graph, cluster, params)
            edges.append(mb.num_sampled_edges)
            inputs.append(mb.input_nodes.size)
    stats = {"sampled_edges_mean": float(np.mean(edges)), "input_nodes_mean": float(np.mean(inputs))}
    return Workload(scenario, num_ranks, per_epoch, k, tasks, params, [int(s.size) for s in seeds], stats)
