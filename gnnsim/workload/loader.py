"""The data loader's tasks when sampling and features are placed (``training.sampling``,
``training.features``, ``training.loader``).

A scenario that sets none of them keeps the chain of :func:`gnnsim.workload.builder.
iteration_tasks` as it is: sampling in ``training.sampler_workers`` CPU workers and the
feature gather as one serial stream in the fetch. Setting any of them places the
loader's steps (:func:`placed_tasks` rewrites that chain):

- ``sample``: ``cpu`` in ``training.loader.workers`` worker processes (``cpu_sample``);
  ``gpu`` and ``uva`` as GPU kernels (``gpu_sample``, ``uva_sample``; priced by
  :mod:`gnnsim.cost.placement`), whose sampled blocks are born on the device, so the
  H2D copy carries no edge indices.
- ``fetch`` of a single-node job (every row in this node's host memory): ``host`` is a
  gather by the worker pool into pinned buffers (``host_gather``) followed by the H2D
  copy (``pinned_copy``); ``uva`` a GPU gather over PCIe (``uva_gather``, no copy); ``gpu`` no loader step
  at all: the rows are resident and the forward pass starts with a device gather of its
  input rows. A distributed job's fetch stays the feature exchange (its rows arrive in
  host memory), so there only ``host`` is allowed.
- ``training.loader.gather`` says who gathers host rows: the worker pool (``workers``:
  ``host_gather``, a batch per worker), or the training process (``main``:
  ``main_gather``, after the batch arrives; ``prefetch``: ``prefetch_gather``, in a
  thread ahead of training). The training process gathers with torch's ``index_select``
  or indexing, which ``at::parallel_for`` splits into :func:`gather_chunks` chunks over
  its intra-op threads, so those tasks carry the chunks as their ``workers`` and the
  replay runs them on as many threads as the node gives (:mod:`gnnsim.sim.loader`).
- rows in ``training.cache`` skip all of this for any placement and are assembled on the
  device, as before.
- with ``training.sampler_gpus: k`` (GNNLab's factored design) ``k`` GPUs of each node
  only sample: the node's other GPUs are its trainers (:func:`training_gpus`), their
  ``sample`` tasks become ``pool_sample`` (run by whichever sampler GPU of the node is
  free, through a queue: :mod:`gnnsim.sim.sampler_gpus`), and the sampled blocks reach
  the trainer through host memory, so its H2D copy carries them. The structure lives in
  the sampler GPUs' memory (``gpu``), not the trainers'.

:func:`check_placement` turns a placement the cluster cannot run into a
:class:`~gnnsim.errors.ScenarioError`; :func:`resident_bytes` is what a placement keeps
in GPU memory for the whole run (the memory report adds it).
"""

from __future__ import annotations

from dataclasses import replace

from gnnsim.config import Scenario
from gnnsim.errors import ScenarioError
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.sections import TrainingConfig
from gnnsim.workload import kernels as m
from gnnsim.workload.batches import BatchCounts, copy_sizes
from gnnsim.workload.memory import host_footprint, host_memory_report, structure_bytes
from gnnsim.workload.sampler import MiniBatch
from gnnsim.workload.tasks import Kind, Stage

GIB = 2**30
ID_BYTES = 8  # int64 ids, as gnnsim.workload.builder.ID_BYTES
SAMPLE_KINDS = {"gpu": Kind.GPU_SAMPLE, "uva": Kind.UVA_SAMPLE}
GATHER_KINDS = {"host": Kind.HOST_GATHER, "uva": Kind.UVA_GATHER}
POOL_SAMPLE = Kind.POOL_SAMPLE  # sampled by one of the node's sampler GPUs (training.sampler_gpus)
MAIN_GATHER = Kind.MAIN_GATHER  # host rows gathered by the training process itself (training.loader.gather: main)
PROCESS_GATHERS = {"main": MAIN_GATHER, "prefetch": Kind.PREFETCH_GATHER}  # the training process's gathers
# at::internal::GRAIN_SIZE: index_select on dim 0 of rows shorter than this many elements runs
# at::parallel_for over the rows with a grain of GRAIN_SIZE / row elements rows
# (aten/src/ATen/native/TensorAdvancedIndexing.cpp, index_select_out_cpu_)
TORCH_GRAIN_SIZE = 32768
LOADER_KINDS = frozenset(k for k in Kind if k.placed)
FEATURE_GATHER = "features.gather"  # the forward pass's device gather of resident input rows


def placed(training: TrainingConfig) -> bool:
    """Whether the scenario places its loader (sets any of sampling, features, loader)."""
    return (training.loader.workers is not None or training.sampling.device != "cpu"
            or training.features.placement != "host" or training.loader.gather != "workers")


def gather_chunks(rows: int, row_elements: int) -> int:
    """Chunks torch's CPU ``index_select`` of ``rows`` rows of ``row_elements`` elements
    splits into (``at::parallel_for`` with a grain of ``TORCH_GRAIN_SIZE // row_elements``
    rows): the most intra-op threads the gather can use.

    >>> gather_chunks(100_000, 100), gather_chunks(300, 100), gather_chunks(0, 100), gather_chunks(10, 40_000)
    (306, 1, 1, 10)
    """
    grain = max(1, TORCH_GRAIN_SIZE // max(1, row_elements))
    return max(1, -(-int(rows) // grain))


def training_gpus(scenario: Scenario, cluster: Cluster) -> int:
    """Trainers per node: the node's GPUs (``cluster``'s trainers per node) less
    ``training.sampler_gpus``, which must leave at least one."""
    k, gpus = scenario.training.sampler_gpus, cluster.node.trainers
    if k and k >= gpus:
        raise ScenarioError(f"training.sampler_gpus: {k} of the {gpus} GPUs per node of cluster '{cluster.name}' "
                            f"would sample, leaving none to train. Use at most {gpus - 1}, or more GPUs per node "
                            "(cluster.trainers_per_node counts all of them, samplers included)")
    return gpus - k


def loader_workers(training: TrainingConfig) -> int:
    """Worker processes per trainer: ``training.loader.workers``, else ``sampler_workers``."""
    return training.sampler_workers if training.loader.workers is None else training.loader.workers


def resident_bytes(scenario: Scenario, graph: Graph) -> dict[str, int]:
    """What the placement keeps in each GPU's memory for the whole run, by category:
    ``graph_structure`` (gpu sampling) and ``resident_features`` (gpu features); only
    the categories that are not zero, so the memory report of other jobs is unchanged."""
    t = scenario.training
    out = {}
    if t.sampling.device == "gpu" and not t.sampler_gpus:  # (sampler GPUs hold it instead)
        out["graph_structure"] = structure_bytes(graph.num_nodes, graph.num_edges)
    if t.features.placement == "gpu":
        out["resident_features"] = graph.num_nodes * graph.feature_dim * m.DTYPE_BYTES[scenario.graph.feature_dtype]
    return out


def host_memory_for(scenario: Scenario, graph: Graph, assignment, cluster: Cluster) -> dict:
    """What each machine's host memory holds for the whole run, against the node's RAM
    (:func:`gnnsim.workload.memory.host_footprint`): the features unless they are resident
    on the GPUs, the structure unless a GPU sampler holds it."""
    t = scenario.training
    per_machine = host_footprint(
        graph, assignment, cluster.num_trainers, cluster.node.trainers,
        row_bytes=graph.feature_dim * m.DTYPE_BYTES[scenario.graph.feature_dtype],
        whole_table=t.mode == "single-node-multigpu", features_on_host=t.features.placement != "gpu",
        structure_on_host=t.sampling.device != "gpu",
        replicated_structure=t.mode != "full-batch" and t.graph_store == "replicated")
    return host_memory_report(per_machine, cluster.node.host_memory_bytes)


def check_placement(scenario: Scenario, graph: Graph, cluster: Cluster, cache_bytes: int = 0) -> None:
    """Raise a :class:`ScenarioError` naming the key and the fix for a placement the
    cluster cannot run: GPU or UVA work on CPU trainers, UVA without a host link,
    resident features in a distributed job, or what must stay in GPU memory (the graph,
    the features, the cache) larger than the GPU."""
    t = scenario.training
    node = cluster.node
    dev = node.trainer_device
    wanted = [(key, value) for key, value, default in (("training.sampling.device", t.sampling.device, "cpu"),
                                                       ("training.features.placement", t.features.placement, "host"))
              if value != default]
    if dev.kind != "gpu" and wanted:
        key, value = wanted[0]
        raise ScenarioError(f"{key}: {value!r} needs GPU trainers, but cluster '{cluster.name}' trains on "
                            f"{dev.name} ({dev.kind}). Use {key}: {'cpu' if 'sampling' in key else 'host'}, or a "
                            "GPU cluster profile (gnnsim hw list)")
    uva = [key for key, value in wanted if value == "uva"]
    if uva and node.h2d_link is None:
        raise ScenarioError(f"{uva[0]}: 'uva' reads pinned host memory over the host link, and node '{node.name}' "
                            "has no h2d_link. Use gpu or the cpu/host default")
    if t.features.placement != "host" and t.mode == "minibatch" and cluster.num_trainers > 1:
        raise ScenarioError(f"training.features.placement: {t.features.placement!r} is modelled for one node's "
                            "trainers (training.mode: single-node-multigpu); a distributed minibatch job's fetch "
                            "brings rows from their owners into host memory. Use placement host, or mode "
                            "single-node-multigpu")
    if dev.kind != "gpu":
        return
    resident = resident_bytes(scenario, graph)
    capacity = dev.memory_bytes
    structure = structure_bytes(graph.num_nodes, graph.num_edges)
    if t.sampler_gpus and t.sampling.device == "gpu" and structure > capacity:
        raise ScenarioError(f"training.sampler_gpus: each sampler GPU holds the graph structure, "
                            f"{structure / GIB:.2f} GiB, more than the {capacity / GIB:.2f} GiB of {dev.name}. Use "
                            "training.sampling.device: uva (the samplers read it from pinned host memory)")
    if cache_bytes > capacity:
        raise ScenarioError(f"training.cache: the cache holds {cache_bytes / GIB:.2f} GiB of feature rows per GPU, "
                            f"more than the {capacity / GIB:.2f} GiB of {dev.name}. Lower training.cache.budget_bytes "
                            "or budget_fraction")
    needed = sum(resident.values()) + cache_bytes
    if needed > capacity:
        what = " and ".join(f"{k.replace('_', ' ')} {v / GIB:.2f} GiB" for k, v in resident.items())
        key = "training.features.placement" if "resident_features" in resident else "training.sampling.device"
        raise ScenarioError(f"{key}: each GPU would hold {what}{' and a cache' if cache_bytes else ''}: "
                            f"{needed / GIB:.2f} GiB, more than the {capacity / GIB:.2f} GiB of {dev.name}. Use "
                            "uva (pinned host memory read over PCIe), or features.placement host with a GPU cache "
                            "(training.cache) in front")


def placed_tasks(tasks: list, scenario: Scenario, mb: MiniBatch | BatchCounts, missing_rows: int, cached_rows: int,
                 single_node: bool, row_bytes: int) -> list:
    """The chain of :func:`~gnnsim.workload.builder.iteration_tasks` for batch ``mb``
    with the loader placed (see the module docstring); ``missing_rows`` of its input
    rows are not in the cache, ``cached_rows`` are; a feature row is ``row_bytes``."""
    t = scenario.training
    device, placement, workers = t.sampling.device, t.features.placement, loader_workers(t)
    inputs = int(mb.input_nodes.size) if isinstance(mb, MiniBatch) else mb.inputs
    out = []
    for task in tasks:
        if task.kind is Kind.CPU_SAMPLE:
            kind = POOL_SAMPLE if t.sampler_gpus else SAMPLE_KINDS.get(device, Kind.CPU_SAMPLE)
            task = replace(task, workers=workers, kind=kind)
        elif task.stage is Stage.FETCH and single_node:
            if placement == "gpu":
                continue
            process = PROCESS_GATHERS.get(t.loader.gather) if placement == "host" else None
            if process is None:
                task = replace(task, kind=GATHER_KINDS[placement], workers=workers)
            else:  # the training process's torch threads share the gather's chunks
                chunks = gather_chunks(missing_rows, row_bytes // m.DTYPE_BYTES[scenario.graph.feature_dtype])
                task = replace(task, kind=process, workers=chunks)
        elif task.stage is Stage.H2D:
            # blocks sampled on the host, or by a sampler GPU into the host queue, are copied up with the rows
            size, copies = placed_h2d(mb, missing_rows * row_bytes if placement == "host" else 0, cached_rows > 0,
                                      device == "cpu" or t.sampler_gpus > 0)
            if size <= 0:
                continue
            # rows the training process gathered itself (``x[idx].to(device)``) sit in a fresh pageable tensor
            pageable = placement == "host" and t.loader.gather == "main"
            task = replace(task, kind=Kind.PAGEABLE_COPY if pageable else Kind.PINNED_COPY, bytes=size, rounds=copies)
        elif task.stage is Stage.FORWARD and placement == "gpu":
            gather = m.Kernel("gather", 0.0, 2.0 * inputs * row_bytes, FEATURE_GATHER, float(inputs) * row_bytes,
                              float(inputs))
            task = replace(task, kernels=(gather, *task.kernels))
        out.append(task)
    return out


def placed_h2d(mb: MiniBatch | BatchCounts, feature_bytes: int, cached: bool,
               sampled_on_host: bool) -> tuple[float, int]:
    """Bytes and separate copies of a placed loader's H2D copy
    (:func:`gnnsim.workload.builder.h2d_task` copies both parts): the uncached feature
    rows (``feature_bytes``, 0 unless features are on the host, and their positions'
    copy when some rows were cached) and, when sampled on the host, each block's edge
    index pair and the seed ids. Zero bytes: nothing crosses.

    >>> import numpy as np
    >>> from gnnsim.workload.sampler import Block, MiniBatch
    >>> mb = MiniBatch(np.arange(2), [Block(np.arange(5), 2, np.zeros(4, int), np.zeros(4, int))])
    >>> placed_h2d(mb, 400, False, True), placed_h2d(mb, 400, True, False), placed_h2d(mb, 0, False, False)
    ((480.0, 4), (400.0, 2), (0.0, 0))
    """
    edges, blocks, seeds = copy_sizes(mb)
    index_bytes = ID_BYTES * (2 * edges + seeds) if sampled_on_host else 0
    copies = (2 * blocks + 1 if sampled_on_host else 0) + (feature_bytes > 0) * (2 if cached else 1)
    return float(feature_bytes + index_bytes), int(copies)
