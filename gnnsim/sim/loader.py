"""The placed loader's steps in the replay: GPU and UVA sampling, the worker pool's host
gather, the GPU's UVA gather (the task kinds of :mod:`gnnsim.workload.loader`).

- ``gpu_sample``: the sampler's kernels on the trainer's GPU, in closed form
  (:mod:`gnnsim.cost.placement`), on the ``gpusampler`` track, plus the framework
  loader's per-batch host work (the software profile's ``per_iteration_us``), which
  runs in the training process wherever the batch is sampled.
- ``uva_sample``: the same kernels, but the structure reads are a flow over the GPU's
  PCIe route (through its PCIe switch, if it shares one), so GPUs that sample or copy
  through the same switch at once slow each other; the flow does the work of its bytes
  at the link's UVA read rate (``work = bytes x link rate / UVA rate``, as a calibrated
  collective does in :mod:`gnnsim.sim.network`).
- ``host_gather``: the uncached rows gathered on the CPU by the trainer's worker pool
  into pinned buffers; like sampling, W workers deliver a batch's gather every t / W
  (at most the node's cores per trainer, and as far as the prefetch queue lets batches
  run ahead), on the ``workers`` track.
- ``main_gather`` and ``prefetch_gather``: the training process gathers the rows itself
  (after the batch arrives, serial with compute, or in a prefetch thread ahead of it),
  with torch's ``index_select``, whose chunks (the task's ``workers``) run on its
  intra-op threads: by default one per physical core of the node (PyTorch's default
  ``torch.get_num_threads()``; DGL's prefetch thread sets the same), at most the
  chunks. On a GPU node those threads are a flow on the node's cores channel, so they
  take what the other processes leave; a CPU trainer uses its own threads.
- ``uva_gather``: the GPU reads the uncached rows' sectors over its PCIe route (zero
  copy), a flow like the UVA sampler's.
- ``pinned_copy``: the H2D copy of the pinned batch, a flow over the PCIe route.
- ``pageable_copy``: the same copy of rows the training process gathered itself into a
  fresh pageable tensor (``gather: main``, ``x[idx].to(device)``): the driver stages it
  through a pinned buffer with a host memcpy, so the flow is capped at the link's
  ``pageable_h2d_gbps`` as well as shared on the route.
- ``pool_sample``: the batch sampled by one of the node's sampler GPUs
  (``training.sampler_gpus``, :mod:`gnnsim.sim.sampler_gpus`).

CPU sampling (:func:`cpu_sample_time`, for the engine's sampler too) is the framework's
sampler, or the whole sampler of an older loader generation where the scenario names one
(:func:`~gnnsim.workload.frameworks.legacy_sampler_scale`), plus, where
``training.loader.workers`` are worker processes, the hand-off of the sampled batch to
the training process: the worker's queue copies each array into fresh shared memory, priced
as the node's host copy (``host.gather`` rate, every page first-touched; :func:`handoff_s`).

Where the node profile gives its host memory bandwidth (``host_mem_bw_gbps``), a placed
loader's replay adds one ``node<i>/dram`` channel per node, and every host gather
(reads and writes), UVA read and H2D copy of the node's trainers also flows through it,
so eight GPUs' loaders that outrun the node's DRAM slow each other and the bottleneck
line names ``memory``. A node without the key has no such channel, and an unplaced
loader never uses one (its results stay as they were).

Rows in the device cache are assembled on the device after any of them, as in the
feature exchange. A span's ``via`` names the PCIe channel that limited a UVA flow when
the flow was most of the step, so the bottleneck line can name a shared PCIe switch.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gnnsim.cost.model import CostModel, kernel_time
from gnnsim.cost.placement import (gpu_sampling_fixed_s, gpu_sampling_work, structure_read_s, uva_gather_bytes,
                                   uva_read_rate)
from gnnsim.errors import ProfileError
from gnnsim.hardware.profiles import Cluster
from gnnsim.hardware.topology import Channel, Topology, _optional_yaml
from gnnsim.workload.frameworks import handoff_size
from gnnsim.workload.kernels import Kernel
from gnnsim.workload.tasks import Kind, Task
from gnnsim.sim.sampler_gpus import SamplerGpus
from gnnsim.sim.settings import LoaderSettings

if TYPE_CHECKING:  # the engine imports this module
    from gnnsim.sim.engine import Simulator


def handoff_s(cost: CostModel, task: Task) -> float:
    """Seconds a loader worker spends handing ``task``'s sampled batch to the training
    process (:func:`~gnnsim.workload.frameworks.handoff_size`): each array copied into
    fresh shared memory, at the node's host copy rate with every page first-touched (shared
    memory is never reused from the heap), one launch per array."""
    w = task.sampling
    size, tensors = handoff_size(w.nodes, w.edges, w.hops)
    rate = replace(cost.cluster.node.host_gather, first_touch_above_bytes=0.0)
    return kernel_time(rate, Kernel("gather", 0.0, 2.0 * size, "batch_handoff", size)) + (tensors - 1) * rate.launch_s


def cpu_sample_time(cost: CostModel, task: Task, loader: LoaderSettings) -> float:
    """One batch's CPU sampling on one core: the framework's sampler (``cost.sample_time``),
    or an older loader generation's whole sampler (gnnsim's sampler times its
    :func:`~gnnsim.workload.frameworks.legacy_sampler_scale`, plus the framework's
    per-iteration loader work), and the batch's hand-off where worker processes sample."""
    scale = loader.legacy_sampler_scale
    if scale > 0:
        seconds = cost.bare_sample_time(task) * scale + cost.framework_overhead_s("sample")
    else:
        seconds = cost.sample_time(task)
    if loader.workers and loader.sampling_device == "cpu":
        seconds += handoff_s(cost, task)
    return seconds


def loader_depth(loader: LoaderSettings, depth: int) -> int:
    """Batches the loader may prepare ahead: none when CPU sampling runs in the training
    process itself (``training.loader.workers: 0``), else ``depth``."""
    if loader.workers == 0 and loader.sampling_device == "cpu":
        return 0
    return depth


def loader_startup_s(loader: LoaderSettings, worker_start_s: float) -> float | None:
    """Seconds a placed loader spends starting its workers at each epoch's start (each
    trainer forks its own, one after another, all trainers at once), or None for an
    unplaced loader, whose results carry no per-epoch fixed costs. The workers are
    ``training.loader.workers`` where set, else ``sampler_workers`` where the pool has
    work (CPU sampling or host gathers); persistent workers start once per run, not per
    epoch.

    >>> from gnnsim.sections import TrainingConfig
    >>> from gnnsim.sim.settings import loader_settings
    >>> def startup(**training): return loader_startup_s(loader_settings(TrainingConfig(**training)), 0.09)
    >>> startup(loader={"workers": 4}), startup()
    (0.36, None)
    >>> startup(sampling={"device": "gpu"}, features={"placement": "uva"})
    0.0
    """
    if not loader.placed:
        return None
    if loader.persistent_workers:
        return 0.0
    workers = loader.workers
    if workers is None:
        busy = loader.sampling_device == "cpu" or loader.features_placement == "host"
        workers = loader.sampler_workers if busy else 0
    return round(workers * worker_start_s, 12)


def with_host_memory(topo: Topology, cluster: Cluster, loader: LoaderSettings) -> tuple[Topology, list[int]]:
    """``topo`` with one host-memory channel per node (``node<i>/dram``, the node
    profile's ``host_mem_bw_gbps``) when the loader is placed and the profile has it,
    and those channels' indices (empty: ``topo`` unchanged)."""
    if not loader.placed:
        return topo, []
    value = _optional_yaml("nodes", cluster.node.name).get("host_mem_bw_gbps")
    if value is None:
        return topo, []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ProfileError(f"hwprofiles/nodes/{cluster.node.name}.yaml: host_mem_bw_gbps must be a positive number "
                           f"(GB/s of the host's DRAM), got {value!r}")
    first = len(topo.channels)
    dram = [Channel(f"node{n}/dram", "memory", float(value) * 1e9, 0.0, n) for n in range(cluster.num_nodes)]
    return replace(topo, channels=[*topo.channels, *dram]), list(range(first, first + len(dram)))


def with_host_cores(topo: Topology, cluster: Cluster, loader: LoaderSettings) -> tuple[Topology, list[int]]:
    """``topo`` with one ``node<i>/cores`` channel per node when a placed loader's
    trainers are GPUs: its capacity is the node's effective cores
    (:attr:`~gnnsim.hardware.profiles.Node.compute_cores`) and its flows carry
    core-seconds, so the worker pools of all the node's trainers share the cores max-min
    fair instead of each taking a static ``cores / trainers``. Empty: ``topo`` unchanged
    (CPU trainers share their cores through :mod:`gnnsim.sim.cpu` already)."""
    if not loader.placed or cluster.node.trainer_device.kind != "gpu":
        return topo, []
    first = len(topo.channels)
    cores = [Channel(f"node{n}/cores", "cpu", float(cluster.node.compute_cores), 0.0, n)
             for n in range(cluster.num_nodes)]
    return replace(topo, channels=[*topo.channels, *cores]), list(range(first, first + len(cores)))


def pool_parallelism(depth: int, workers: int) -> int:
    """Batches a trainer's worker pool prepares at once, and so the cores it can use:
    its workers, as far as the prefetch queue lets batches run ahead (one without a queue).

    >>> pool_parallelism(2, 8), pool_parallelism(4, 2), pool_parallelism(0, 8)
    (3, 2, 1)
    """
    return 1 if depth <= 0 else max(1, min(workers, depth + 1))


class PlacedLoader:
    """Runs a trainer's placed loader steps on the simulator's clock and links."""

    def __init__(self, sim: Simulator, dram: list[int], cores: list[int] | None = None):
        self.sim = sim
        self.link = sim.cost.cluster.node.h2d_link
        self.dram = dram  # host-memory channel per node (see with_host_memory); empty: none
        self.cores = cores or []  # the node's cores as a channel (see with_host_cores); empty: static shares
        k = sim.settings.loader.sampler_gpus
        self.sampler_gpus = SamplerGpus(sim, k) if k else None  # GNNLab's samplers (gnnsim.sim.sampler_gpus)

    def _dram(self, rank: int) -> tuple[int, ...]:
        return (self.dram[self.sim.topo.node_of(rank)],) if self.dram else ()

    def run(self, rank: int, task: Task, it: int, prev: int) -> Generator[Any, Any, int]:
        """Run ``task`` for ``rank``'s iteration ``it``; returns its span's index."""
        start = self.sim.env.now
        kind = task.kind
        if kind is Kind.POOL_SAMPLE and self.sampler_gpus is not None:
            return (yield from self.sampler_gpus.run(rank, task, it, prev))
        if kind is Kind.GPU_SAMPLE or kind is Kind.UVA_SAMPLE:
            via = yield from self._gpu_sample(rank, task)
            return self.sim._span(rank, "gpusampler", "sample", it, start, self.sim.env.now, pred=prev, via=via)
        if kind is Kind.HOST_GATHER or kind is Kind.MAIN_GATHER or kind is Kind.PREFETCH_GATHER:
            rows = task.rows
            workers = self._parallelism(task) if kind is Kind.HOST_GATHER else self._threads(task)
            seconds = self.sim._jittered(rank, self.sim.cost.gather_time(rows.local_rows, rows.row_bytes) / workers)
            via = ""
            if (self.dram or self.cores) and self.sim.cpus is None and seconds > 0:
                flows = []
                if self.cores:  # the pool's core-seconds, shared with the node's other pools
                    flows.append(self.sim.net.transfer(self._cores(rank), seconds * workers, tag="fetch",
                                                       max_rate=workers))
                if self.dram:  # rows read once and written once
                    moved = 2.0 * rows.local_rows * rows.row_bytes
                    flows.append(self.sim.net.transfer(self._dram(rank), moved, tag="fetch", max_rate=moved / seconds))
                done = yield self.sim.env.all_of(flows)
                last = max((ev.value for ev in done.events), key=lambda f: f.end_s)
                via = self.sim._via(last)
            else:
                yield self.sim._compute(rank, seconds, cores=workers)
            yield from self._cached_rows(task)
            return self.sim._span(rank, "workers" if kind is Kind.HOST_GATHER else "loader", "fetch", it, start,
                                  self.sim.env.now, pred=prev, via=via, bytes_=float(rows.local_rows * rows.row_bytes))
        if kind is Kind.PINNED_COPY or kind is Kind.PAGEABLE_COPY:
            route = self.sim.topo.h2d_route(rank)
            latency = route.latency_s * max(1, task.rounds)  # one per separate copy
            # from pageable memory the driver's staging memcpy caps each copy (Link.pageable_h2d_gbps)
            cap = self.link.pageable_bytes_per_s if kind is Kind.PAGEABLE_COPY else math.inf
            flow = yield self.sim.net.transfer(route.channels + self._dram(rank), task.bytes, latency,
                                               tag=str(task.stage), max_rate=cap)
            via = self.sim._via(flow)
            track = "staging" if kind is Kind.PAGEABLE_COPY and not via else "loader"  # capped by its own staging
            return self.sim._span(rank, track, task.stage, it, start, self.sim.env.now, bytes_=task.bytes,
                                  pred=prev, via=via)
        if kind is Kind.UVA_GATHER:
            size = uva_gather_bytes(task.rows.local_rows, task.rows.row_bytes)
            launch = self.sim.cost.device.kernel("gather").launch_s
            via = (yield from self._uva_flow(rank, size, launch, "fetch")) if size > 0 else ""
            yield from self._cached_rows(task)
            return self.sim._span(rank, "loader", "fetch", it, start, self.sim.env.now, pred=prev, via=via,
                                  bytes_=size)
        raise ValueError(f"not a placed loader task: {task.kind!r}")

    def _cores(self, rank: int) -> tuple[int, ...]:
        return (self.cores[self.sim.topo.node_of(rank)],)

    def _parallelism(self, task: Task) -> int:
        """The pool's batches in flight: capped by the node's cores per trainer where they
        are static shares, by the cores channel's max-min share where they are not."""
        if not self.cores:
            return self.sim._sampler_parallelism(task)
        return pool_parallelism(self.sim.depth, task.workers)

    def _threads(self, task: Task) -> int:
        """The training process's intra-op threads on a gather of ``task.workers`` chunks:
        the node's physical cores on a GPU node (torch's default), the trainer's own
        threads on a CPU trainer."""
        node = self.sim.cost.cluster.node
        threads = node.host_cpu_cores if self.sim.cpus is None else self.sim.threads
        return max(1, min(task.workers, threads))

    def cpu_sample(self, rank: int, task: Task, it: int, prev: int) -> Generator[Any, Any, int]:
        """CPU sampling in the trainer's worker pool, its core-seconds a flow on the node's
        cores (``with_host_cores``); returns the span's index."""
        start = self.sim.env.now
        workers = self._parallelism(task)
        on_one_core = cpu_sample_time(self.sim.cost, task, self.sim.settings.loader)
        seconds = self.sim._jittered(rank, on_one_core)
        flow = yield self.sim.net.transfer(self._cores(rank), seconds, tag="sample", max_rate=workers)
        return self.sim._span(rank, "sampler", "sample", it, start, self.sim.env.now, pred=prev,
                              via=self.sim._via(flow))

    def _gpu_sample(self, rank: int, task: Task) -> Generator[Any, Any, str]:
        dev = self.sim.cost.device
        work = gpu_sampling_work(task.sampling.nodes, task.sampling.edges, task.sampling.hops, task.sampling.examined)
        # the framework loader's per-batch host work (block objects, collation) runs in the training
        # process whatever device samples: DGL and PyG sample on a GPU only without worker processes
        host = self.sim.cost.framework_overhead_s("sample")
        fixed = self.sim._jittered(rank, gpu_sampling_fixed_s(work, dev, self.link) + host)
        via = ""
        if task.kind is Kind.UVA_SAMPLE:
            started = self.sim.env.now
            link_via = yield from self._uva_flow(rank, work.structure_bytes, 0.0, "sample")
            via = link_via if self.sim.env.now - started >= fixed else ""
        else:
            fixed += structure_read_s(work, dev, self.link, over_link=False)
        yield self.sim.env.timeout(fixed)
        return via

    def _uva_flow(self, rank: int, size: float, latency: float, tag: str) -> Generator[Any, Any, str]:
        """GPU kernels reading ``size`` bytes of pinned host memory over the rank's PCIe
        route: alone at the link's UVA read rate, shared max-min with other flows."""
        route = self.sim.topo.h2d_route(rank)
        work = size * self.link.bytes_per_s / uva_read_rate(self.link)
        flow = yield self.sim.net.transfer(route.channels + self._dram(rank), size, latency, work_bytes=work, tag=tag)
        return self.sim._via(flow)

    def _cached_rows(self, task: Task) -> Generator[Any, Any, None]:
        seconds = self.sim.cost.cached_rows_time(task.rows.cached_rows, task.rows.row_bytes)
        if seconds > 0:
            yield self.sim.env.timeout(seconds)
