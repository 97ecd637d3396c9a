"""The workload's types: a :class:`Task` is one step of one trainer's iteration, a
:class:`Workload` every trainer's chain of tasks for the simulated iterations, plus the
steps every training mode shares (the gradient all-reduce, the memory report).

A task's ``stage`` (:class:`Stage`: the names simulator, real runs and reports share) and
``kind`` (:class:`Kind`: the resource that serves it, which the simulator dispatches
on) are enums; a sampling step carries a :class:`Sampling`, an exchange of rows a
:class:`Rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.workload import kernels as m
from gnnsim.workload.cache import FeatureCache
from gnnsim.workload.memory import footprint, memory_report
from gnnsim.workload.models import get_model

ID_BYTES = 8  # int64 node ids in a feature request


class Stage(StrEnum):
    """The stage a task belongs to: the names simulator, real runs and reports share
    (a str, so it prints and serializes as its name)."""

    SAMPLE = "sample"
    FETCH = "fetch"
    H2D = "h2d"
    FORWARD = "forward"
    BACKWARD = "backward"
    HALO = "halo"
    ALLREDUCE = "allreduce"
    OPTIMIZER = "optimizer"


STAGES = tuple(str(s) for s in Stage)  # plain names, for reports and files


class Kind(StrEnum):
    """Which resource serves a task, which the simulator dispatches on."""

    CPU_COMPUTE = "cpu_compute"  # kernels on the trainer's CPU cores
    CPU_SAMPLE = "cpu_sample"  # the sampler on host cores (the trainer's sampler workers)
    GPU_KERNEL = "gpu_kernel"  # kernels on the trainer's GPU
    TRANSFER = "transfer"  # a host-to-device copy
    COLLECTIVE = "collective"  # every trainer joins (fetch, halo, all-reduce, sampling requests)
    # a placed loader's steps (gnnsim.workload.loader)
    GPU_SAMPLE = "gpu_sample"  # sampling kernels on the trainer's GPU
    UVA_SAMPLE = "uva_sample"  # the same, reading the structure from pinned host memory
    POOL_SAMPLE = "pool_sample"  # sampled by one of the node's sampler GPUs (training.sampler_gpus)
    HOST_GATHER = "host_gather"  # rows gathered by the worker pool into pinned buffers
    UVA_GATHER = "uva_gather"  # rows gathered by a GPU kernel over the host link
    MAIN_GATHER = "main_gather"  # rows gathered by the training process itself (training.loader.gather: main)
    PREFETCH_GATHER = "prefetch_gather"  # by the training process's prefetch thread, ahead (gather: prefetch)
    PINNED_COPY = "pinned_copy"  # the pinned buffers' copy to the GPU
    PAGEABLE_COPY = "pageable_copy"  # the training process's freshly gathered rows copied from pageable memory

    @property
    def placed(self) -> bool:
        """A placed loader's step (run by :mod:`gnnsim.sim.loader`)."""
        return self in _PLACED


_PLACED = frozenset({Kind.GPU_SAMPLE, Kind.UVA_SAMPLE, Kind.POOL_SAMPLE, Kind.HOST_GATHER, Kind.UVA_GATHER,
                     Kind.MAIN_GATHER, Kind.PREFETCH_GATHER, Kind.PINNED_COPY, Kind.PAGEABLE_COPY})


@dataclass(frozen=True)
class Sampling:
    """What a ``sample`` task draws: its seeds, the sampled nodes and edges, the graph
    sampled on (bigger graphs miss caches more) and the sampler's hops, draw rounds
    and duplicate checks (:func:`gnnsim.workload.sampler.sampling_work`)."""

    seeds: int = 0
    nodes: int = 0
    edges: int = 0
    graph_nodes: int = 0
    hops: int = 0
    draws: int = 0
    checks: float = 0.0

    @property
    def examined(self) -> float:
        """Neighbours a LABOR batch read and compared: its checks (a neighbour sampler's
        checks are Floyd's comparisons, and come with draws)."""
        return self.checks if self.draws == 0 else 0.0


@dataclass(frozen=True)
class Rows:
    """The rows an exchange moves: per owner rank, the rows (or sampling requests) a
    trainer receives (``rows_from``) of ``row_bytes`` each. A fetch also says where its
    input rows are: its own partition (``local_rows``), the device cache, and uncached
    rows of trainers on the same node (peer) and on other nodes (remote);
    ``local_rows + peer + remote + cached`` = its input rows, and ``table_rows`` how many
    rows the trainer's own feature table holds (its gathers cost less from a small one)."""

    rows_from: tuple[int, ...] = ()
    row_bytes: int = 0
    local_rows: int = 0
    cached_rows: int = 0
    peer_rows: int = 0
    remote_rows: int = 0
    table_rows: int = 0  # rows of the feature table the local rows are gathered from (0: unknown)


@dataclass(frozen=True)
class Task:
    """One step of one trainer's iteration: its stage, the resource that serves it
    (``kind``), and what it does: kernels, bytes copied or reduced, and the payload of
    a sampling step (``sampling``) or an exchange of rows (``rows``)."""

    stage: Stage
    kind: Kind
    kernels: tuple[m.Kernel, ...] = ()
    bytes: float = 0.0
    rounds: int = 0  # sampling requests: round trips (one per hop); h2d: separate copies
    layers: int = 0  # forward/backward: the GNN layers this task computes (0: all of them)
    workers: int = 1  # sample, placed gathers: the loader's worker processes of the trainer
    sampling: Sampling | None = None
    rows: Rows | None = None

    def __post_init__(self) -> None:  # names as plain strings are accepted
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "kind", Kind(self.kind))


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
    # parameters per layer, input layer first (the DDP bucket split needs each layer's share);
    # left empty: the scenario's model's (the model registry)
    layer_params: list[int] = field(default_factory=list)
    host_memory: dict = field(default_factory=dict)  # see gnnsim.workload.memory.host_memory_report

    def __post_init__(self) -> None:
        if not self.layer_params or sum(self.layer_params) <= 0:
            s = self.scenario
            dims = m.layer_dims(s.graph.feature_dim, s.model.hidden_dim, s.graph.num_classes, len(s.training.fanouts))
            self.layer_params = get_model(s.model.name).layer_param_counts(dims, s.model.heads)


def compute_kind(cluster: Cluster) -> Kind:
    return Kind.GPU_KERNEL if cluster.node.trainer_device.kind == "gpu" else Kind.CPU_COMPUTE


def gradient_allreduce(param_count: int, param_tensors: int, dtype_bytes: int, num_ranks: int) -> Task:
    """The all-reduce of every gradient, with the copies into and out of its flat buffer
    (:func:`gnnsim.workload.kernels.gradient_copy_kernels`, run on the trainer's device).
    A lone trainer has nothing to average and copies nothing, as the real one."""
    copies = m.gradient_copy_kernels(param_count, param_tensors, dtype_bytes) if num_ranks > 1 else []
    return Task(Stage.ALLREDUCE, Kind.COLLECTIVE, bytes=float(param_count * dtype_bytes), kernels=tuple(copies))


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
