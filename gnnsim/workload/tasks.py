"""The workload's types: a :class:`Task` is one step of one trainer's iteration, a
:class:`Workload` every trainer's chain of tasks for the simulated iterations, plus the
steps every training mode shares (the gradient all-reduce, the memory report).

The stages (``STAGES``) are the names simulator, real runs and reports share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.workload import model as m
from gnnsim.workload.cache import FeatureCache
from gnnsim.workload.memory import footprint, memory_report

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
    # fetch: input rows found in the device cache; uncached rows from trainers on the same
    # node (peer) and on other nodes (remote). local_rows + peer + remote + cached = inputs
    cached_rows: int = 0
    peer_rows: int = 0
    remote_rows: int = 0
    workers: int = 1  # sample: CPU sampler workers of the trainer
    graph_nodes: int = 0  # sample: nodes of the graph sampled on (bigger graphs miss caches more)
    rounds: int = 0  # sample collective: request round trips (one per hop); h2d: separate copies
    layers: int = 0  # forward/backward: the GNN layers this task computes (0: all of them)
    # sample: the sampler's hops, draw rounds and duplicate checks (workload.sampler.sampling_work)
    hops: int = 0
    draws: int = 0
    checks: float = 0.0


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
    memory: dict = field(default_factory=dict)  # see gnnsim.workload.memory.memory_report
    hit_rate: list[list[float]] = field(default_factory=list)  # [iteration][rank] feature-cache hit rate
    prefetch_depth: int = 0  # batches the loader may prepare ahead (training.prefetch_depth)
    sampler_workers: int = 1
    # parameters per layer, input layer first (the DDP bucket split needs each layer's share)
    layer_params: list[int] = field(default_factory=list)


def compute_kind(cluster: Cluster) -> str:
    return "gpu_kernel" if cluster.node.trainer_device.kind == "gpu" else "cpu_compute"


def gradient_allreduce(param_count: int, param_tensors: int, dtype_bytes: int, num_ranks: int) -> Task:
    """The all-reduce of every gradient, with the copies into and out of its flat buffer
    (:func:`gnnsim.workload.model.gradient_copy_kernels`, run on the trainer's device).
    A lone trainer has nothing to average and copies nothing, as the real one."""
    copies = m.gradient_copy_kernels(param_count, param_tensors, dtype_bytes) if num_ranks > 1 else []
    return Task("allreduce", "collective", bytes=float(param_count * dtype_bytes), kernels=tuple(copies))


def batches_memory(scenario: Scenario, graph: Graph, cluster: Cluster, param_count: int,
            per_rank_batches: list[list[tuple[list[tuple[int, int, int]], int, int]]],
            caches: list[FeatureCache | None], graph_on_gpu: bool, resident: dict[str, int] | None = None) -> dict:
    """Peak footprint per trainer over its simulated batches: (blocks, input rows, edges),
    with what the loader's placement keeps resident (``resident``) added to each."""
    t = scenario.training
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(t.fanouts))
    dtype_bytes = m.DTYPE_BYTES[scenario.model.dtype]
    row_bytes = graph.feature_dim * m.DTYPE_BYTES[scenario.graph.feature_dtype]
    per_rank = []
    for r, batches in enumerate(per_rank_batches):
        cache_bytes = caches[r].bytes if caches[r] is not None else 0
        best: dict[str, int] = {}
        for shapes, input_rows, edges in batches:
            fp = footprint(scenario.model.name, dims, shapes, scenario.model.heads, param_count, t.optimizer,
                           dtype_bytes, input_rows, row_bytes, cache_bytes, edges if graph_on_gpu else 0,
                           param_bytes=m.PARAM_BYTES)
            fp.update(resident or {})
            if not best or sum(fp.values()) > sum(best.values()):
                best = fp
        per_rank.append(best)
    dev = cluster.node.trainer_device
    return memory_report(per_rank, dev.memory_bytes, dev.kind)
