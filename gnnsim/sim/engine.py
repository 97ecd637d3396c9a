"""The discrete-event replay of a workload (simpy).

Think of each trainer as two workers joined by a short conveyor belt. The *loader*
prepares batches: it samples on the CPU, joins the feature exchange with the other
trainers, and copies the batch to the device. The *trainer* takes a batch off the belt
and runs forward, backward and the optimizer on its device. The belt holds at most
``training.prefetch_depth`` ready batches; with the default of 0 there is no belt: the
loader starts a batch only when the trainer has finished the previous one, so every
iteration is one sequential chain, as in a plain training loop.

During backward the gradients fill DDP-style buckets of ``training.ddp_bucket_bytes``;
each full bucket is all-reduced on the trainer's communication stream while backward
goes on, and the optimizer waits for the last bucket. Without ``training.iteration_barrier``
(DDP as users run it) a trainer that holds every feature row gathers its own rows without
joining the others, and the first bucket is DDP's 1 MiB (:mod:`gnnsim.sim.ddp`); the
options the replay reads are :class:`gnnsim.sim.settings.SimSettings`.

Collective steps (the feature exchange, each bucket's all-reduce) are barriers: a
trainer waits there until every trainer has arrived, and the waiting is part of the
step's span, as a ``perf_counter`` around the call in a real run sees it. Then the
collective runs as flows on the topology (:mod:`gnnsim.sim.collectives`), sharing links
with whatever else is in flight: another trainer's host-to-device copy through the same
PCIe switch, the next batch's feature exchange under the current all-reduce. On a
shared-vCPU host whose profile carries them, the host's effects (gloo's stalls and
wake-ups, the OS's time slice, the warm-up after idling) come on top, applied in
:mod:`gnnsim.sim.host_effects` alone.

CPU trainers share their host's CPU: every piece of CPU work (sampling, forward,
backward, the optimizer, the host gathers inside the feature exchange) is a flow of
core-seconds through the host's effective cores (:mod:`gnnsim.sim.cpu`), so two ranks
that compute at once on a one-core host each take twice their time alone, and a rank
that computes while the others wait at a collective runs at full speed. GPU trainers'
work runs on their own devices and takes its closed-form time.

Every span remembers ``pred``, the span whose end let it start (its own previous step,
the batch it waited for, or the last trainer to reach a barrier), so the critical path
is a walk back along ``pred`` from the last span.

This module, :mod:`gnnsim.sim.network` and :mod:`gnnsim.sim.cpu` are the only places in
gnnsim with mutable, time-dependent state.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import numpy as np
import simpy

from gnnsim.cost.model import CostModel, kernel_time
from gnnsim.progress import Progress, progress
from gnnsim.rng import rng_for
from gnnsim.sim.collectives import Collectives
from gnnsim.sim.cpu import HostCpus
from gnnsim.sim.ddp import backward_segments, layer_grad_shares, local_fetch
from gnnsim.sim.exchanges import HOST_GATHER, Exchanges, _Barrier  # noqa: F401 (HOST_GATHER: analysis reads it here)
from gnnsim.sim.host_effects import collective_stalls
from gnnsim.sim.loader import (PlacedLoader, cpu_sample_time, loader_depth, loader_startup_s, with_host_cores,
                               with_host_memory)
from gnnsim.sim.network import Flow, Network
from gnnsim.sim.settings import SimSettings, sim_settings
from gnnsim.sim.timeline import SimulationError, Span, Timeline  # noqa: F401 (re-exported: analysis and reports read them here)
from gnnsim.workload.tasks import Kind, Stage, Task, Workload
from gnnsim.workload.kernels import GRAD_AVERAGE, GRAD_PACK

LOADER_STAGES = (Stage.SAMPLE, Stage.FETCH, Stage.H2D)
COMPUTE_STAGES = (Stage.FORWARD, Stage.BACKWARD, Stage.OPTIMIZER)


class Simulator(Exchanges):
    def __init__(self, workload: Workload, cost: CostModel, settings: SimSettings, *, record_links: bool = False):
        self.workload, self.cost, self.settings = workload, cost, settings
        loader = self.settings.loader
        self.depth = loader_depth(loader, self.settings.prefetch_depth)
        self.algorithm = self.settings.allreduce_algorithm
        self.env = simpy.Environment()
        self.topo, dram = with_host_memory(cost.topology, cost.cluster, loader)  # + DRAM for a placed loader
        self.topo, cores = with_host_cores(self.topo, cost.cluster, loader)  # + its GPU node's cores
        self.net = Network(self.env, self.topo.capacities, self.topo.names, record=record_links)
        self.coll = Collectives(self.env, self.net, self.topo, cost)
        # CPU trainers share their host's effective cores; GPU trainers compute on their devices
        self.cpus = HostCpus(self.env, cost.cluster, cost.device.threads) if cost.device.kind == "cpu" else None
        self.threads = cost.device.threads
        n, iters = workload.num_ranks, workload.iterations
        self.n, self.iters = n, iters
        self.per_node = cost.cluster.node.trainers
        self.timeline = Timeline(num_ranks=n, ranks_per_node=self.per_node, prefetch_depth=self.depth,
                                 loader_startup_s=loader_startup_s(loader, cost.worker_start_s),
                                 iteration_barrier=self.settings.iteration_barrier)
        self.barriers: dict[tuple[str, int, int], _Barrier] = {}
        self.last_end = [0.0] * iters
        self.device_track = "gpu" if cost.device.kind == "gpu" else "cpu"
        env = self.env
        self.load_ok = [[env.event() for _ in range(iters + 1)] for _ in range(n)]
        self.batch_ready = [[env.event() for _ in range(iters)] for _ in range(n)]
        self._grad_shares = layer_grad_shares(workload)
        self.done_iterations = [0] * n
        self.report: Progress = progress("simulation", enabled=False)  # run() opens the one it draws
        cv = cost.device.jitter_cv
        self.jitter_sigma = float(np.sqrt(np.log1p(cv * cv)))
        seed = self.settings.seed
        self.jitter_rng = [rng_for(seed, "jitter", r) for r in range(n)]
        self.stalls = collective_stalls(cost.cluster.node)  # a shared host's, else None (sim/host_effects.py)
        self.placed = PlacedLoader(self, dram, cores)  # GPU/UVA sampling, worker pools, UVA gathers (sim/loader.py)

    def _sampler_parallelism(self, task: Task) -> int:
        """How many batches a trainer's sampler workers produce at once: its workers, as
        far as the prefetch queue lets batches run ahead (depth + 1 in flight) and the
        node has cores for them. W workers then deliver a batch every t / W on average."""
        if self.depth <= 0:
            return 1
        node = self.cost.cluster.node
        cores = max(1, node.host_cpu_cores // max(1, node.trainers))
        return max(1, min(task.workers, self.depth + 1, cores))

    # -- run-to-run jitter -------------------------------------------------------------
    def _jittered(self, rank: int, seconds: float) -> float:
        """``seconds`` times a mean-one lognormal factor with the device's measured
        coefficient of variation (0 = deterministic). Trainers that each vary a little
        wait for the slowest at every collective; this is where that wait comes from.
        Each rank draws from its own seeded stream, so a run is reproducible."""
        if self.jitter_sigma <= 0 or seconds <= 0:
            return seconds
        return seconds * float(self.jitter_rng[rank].lognormal(-self.jitter_sigma ** 2 / 2, self.jitter_sigma))

    # -- CPU work --------------------------------------------------------------------
    def _compute(self, rank: int, seconds: float, cores: float | None = None) -> simpy.Event:
        """Work that takes ``seconds`` alone: on a CPU trainer's host it shares the
        effective cores with whatever else computes there (on ``cores`` cores at most,
        default the trainer's threads); on a GPU trainer's device it just takes its time."""
        if self.cpus is None or seconds <= 0:
            return self.env.timeout(max(0.0, seconds))
        return self.cpus.run(rank, seconds, self.threads if cores is None else cores)

    # -- bookkeeping -----------------------------------------------------------------
    def _name(self, rank: int, track: str) -> str:
        return f"node{rank // self.per_node}/{track}{rank % self.per_node}"

    def _span(self, rank: int, track: str, stage: str, it: int, start: float, end: float, *, bytes_: float = 0.0,
              flops: float = 0.0, pred: int = -1, via: str = "", parts: tuple = ()) -> int:
        res = self._name(rank, track)
        self.timeline.resources.setdefault(res, track)
        self.timeline.spans.append(Span(rank, res, str(stage), it, start, end, bytes_, flops, pred, via, parts))
        return len(self.timeline.spans) - 1

    def _latest(self, *ids: int) -> int:
        spans = self.timeline.spans
        best, best_end = -1, -1.0
        for i in ids:
            if i >= 0 and spans[i].end_s >= best_end:
                best, best_end = i, spans[i].end_s
        return best

    def _via(self, flow: Flow | None) -> str:
        if flow is None or flow.bottleneck < 0:
            return ""
        return self.topo.channels[flow.bottleneck].name

    # -- the two workers of a trainer ---------------------------------------------------
    def _split(self, chain: list[Task]) -> tuple[list[Task], list[Task]]:
        k = 0
        while k < len(chain) and chain[k].stage in LOADER_STAGES and chain[k].kind is not Kind.MAIN_GATHER:
            k += 1  # (rows the training process gathers itself, and what follows, are the trainer's)
        return chain[:k], chain[k:]

    def _loader(self, rank: int) -> Generator[Any, Any, None]:
        prev = -1
        for it in range(self.iters):
            cause = yield self.load_ok[rank][it]
            prev = self._latest(prev, cause if isinstance(cause, int) else -1)
            loader_tasks, _ = self._split(self.workload.tasks[it][rank])
            for task in loader_tasks:
                start = self.env.now
                if task.kind.placed:
                    prev = yield from self.placed.run(rank, task, it, prev)
                elif task.kind is Kind.COLLECTIVE and task.stage is Stage.FETCH and self.settings.local_fetch:
                    prev = yield from local_fetch(self, rank, it, task, prev)
                elif task.kind is Kind.COLLECTIVE:
                    prev = yield from self._collective(rank, task, it, 0, "loader", prev)
                elif task.kind is Kind.CPU_SAMPLE and self.placed.cores:  # the pools share the node's cores
                    prev = yield from self.placed.cpu_sample(rank, task, it, prev)
                elif task.kind is Kind.CPU_SAMPLE:
                    workers = self._sampler_parallelism(task)  # each on a core of its own
                    seconds = cpu_sample_time(self.cost, task, self.settings.loader) / workers
                    yield self._compute(rank, self._jittered(rank, seconds), cores=workers)
                    prev = self._span(rank, "sampler", "sample", it, start, self.env.now, pred=prev)
                elif task.kind is Kind.TRANSFER and self.cost.cluster.node.h2d_link is not None:
                    route = self.topo.h2d_route(rank)
                    latency = route.latency_s * max(1, task.rounds)  # one per separate copy
                    flow = yield self.net.transfer(route.channels, task.bytes, latency, tag=str(task.stage))
                    prev = self._span(rank, "loader", task.stage, it, start, self.env.now, bytes_=task.bytes, pred=prev,
                                      via=self._via(flow))
                else:
                    yield self._compute(rank, self._jittered(rank, self.cost.compute_time(task)))
                    prev = self._span(rank, "loader", task.stage, it, start, self.env.now, pred=prev)
            self.batch_ready[rank][it].succeed(prev)

    def _segment_seconds(self, task: Task, segments: list[Task]) -> list[float]:
        """The cost model's time of the whole task, split over segments by kernel time
        (so per-task overheads are charged once)."""
        total = self.cost.compute_time(task)
        if len(segments) == 1:
            return [total]
        dev = self.cost.device
        parts = np.array([sum(kernel_time(dev.kernel(k.cls), k) for k in seg.kernels) for seg in segments])
        return list(total * parts / parts.sum()) if parts.sum() > 0 else [total / len(segments)] * len(segments)

    def _bucket(self, rank: int, it: int, index: int, task: Task, after: simpy.Event | None,
                ready_span: int, share: float = 1.0) -> Generator[Any, Any, int]:
        """One gradient bucket's all-reduce (``share`` of the gradient bytes): its copy into
        the flat buffer, the collective after the bucket before it, and its copies back.
        Under DDP's reducer (:meth:`_ddp_reducer`) only the division and the collective:
        backward has packed the bucket and :meth:`_unpack_buckets` copies it back."""
        prev = ready_span
        if after is not None:
            prev_comm = yield after
            prev = self._latest(prev, prev_comm)
        if self._ddp_reducer:
            prev = yield from self._gradient_copies(rank, it, task, (GRAD_AVERAGE,), share, prev, "allreduce")
            return (yield from self._collective(rank, task, it, index, "comm", prev))
        prev = yield from self._gradient_copies(rank, it, task, (GRAD_PACK,), share, prev, "allreduce")
        span = yield from self._collective(rank, task, it, index, "comm", prev)
        after_names = tuple(k.name for k in task.kernels if k.name != GRAD_PACK)
        return (yield from self._gradient_copies(rank, it, task, after_names, share, span, "allreduce"))

    @property
    def _ddp_reducer(self) -> bool:
        """Whether the gradients are all-reduced as DDP's reducer does it (no iteration
        barrier: DDP as users run it). gnnsim's own trainer packs, all-reduces, averages
        and unpacks after backward, all timed as the allreduce stage. DDP copies each
        gradient into its bucket in backward's autograd hooks (``Reducer::mark_variable_ready``),
        its hook divides the bucket just before launching the collective
        (``default_hooks.allreduce_hook``), and ``Reducer::finalize_backward`` copies the
        reduced buckets back into the gradients before ``loss.backward()`` returns
        (torch 2.13, ``torch/csrc/distributed/c10d/reducer.cpp``): the copies are
        backward's, the division the all-reduce's."""
        return not self.settings.iteration_barrier

    def _ddp_wrapper_s(self, stage: str) -> float:
        """DistributedDataParallel's own host time in a forward or backward pass, where the
        model is wrapped in it: DDP's reducer on more than one rank."""
        return self.cost.ddp_overhead_s(stage) if self._ddp_reducer and self.workload.num_ranks > 1 else 0.0

    def _copy_seconds(self, task: Task, names: tuple[str, ...], share: float) -> float:
        """The cost model's seconds of ``share`` of ``task``'s gradient copies named ``names``."""
        kernels = tuple(k for k in task.kernels if k.name in names)
        return self.cost.compute_time(replace(task, kernels=kernels)) * share if kernels else 0.0

    def _gradient_copies(self, rank: int, it: int, task: Task, names: tuple[str, ...], share: float,
                         prev: int, stage: str) -> Generator[Any, Any, int]:
        """A bucket's share of the gradient copies named ``names``, computed on the
        trainer's device and counted in ``stage``."""
        seconds = self._copy_seconds(task, names, share)
        if seconds <= 0:
            return prev
        start = self.env.now
        yield self._compute(rank, self._jittered(rank, seconds))
        return self._span(rank, self.device_track, stage, it, start, self.env.now, pred=prev)

    def _unpack_buckets(self, rank: int, it: int, ar: Task | None, prev: int) -> Generator[Any, Any, int]:
        """DDP's ``finalize_backward``: every reduced bucket copied back into the
        gradients, after the last bucket's all-reduce, inside backward."""
        if ar is None or not self._ddp_reducer:
            return prev
        names = tuple(k.name for k in ar.kernels if k.name not in (GRAD_PACK, GRAD_AVERAGE))
        return (yield from self._gradient_copies(rank, it, ar, names, 1.0, prev, "backward"))

    def _trainer(self, rank: int) -> Generator[Any, Any, None]:
        prev = -1
        for it in range(self.iters):
            ready = yield self.batch_ready[rank][it]
            prev = self._latest(prev, ready)  # the batch is taken off the queue now: when both are done
            if self.depth > 0 and it + self.depth <= self.iters:
                self.load_ok[rank][it + self.depth].succeed(prev)
            _, chain = self._split(self.workload.tasks[it][rank])
            last_backward = max((i for i, t in enumerate(chain) if t.stage is Stage.BACKWARD), default=-1)
            first_forward = min((i for i, t in enumerate(chain) if t.stage is Stage.FORWARD), default=-1)
            pending: list[simpy.Process] = []
            reduced = None  # the gradient all-reduce whose buckets are pending
            for position, task in enumerate(chain):
                start = self.env.now
                if task.stage is Stage.ALLREDUCE and task.kind is Kind.COLLECTIVE:
                    continue  # issued by the backward buckets below
                if task.kind.placed:  # the training process's own gather and its copy
                    prev = yield from self.placed.run(rank, task, it, prev)
                elif task.kind is Kind.COLLECTIVE:  # a halo exchange: on its own track, apart from the buckets
                    prev = yield from self._collective(rank, task, it, 0, str(task.stage), prev)
                elif task.stage is Stage.BACKWARD and position == last_backward:  # (a full-batch chain has one per layer)
                    ar = next((t for t in chain if t.stage is Stage.ALLREDUCE and t.kind is Kind.COLLECTIVE), None)
                    segments = backward_segments(task, ar.bytes if ar else 0.0, self._grad_shares,
                                                 self.settings.first_bucket_bytes, self.settings.bucket_bytes)
                    factor = self._jittered(rank, 1.0)
                    seconds = [x * factor for x in self._segment_seconds(task, [seg for seg, _ in segments])]
                    if ar is not None and self._ddp_reducer:  # the hooks pack each bucket as its gradients come
                        seconds = [x + factor * self._copy_seconds(ar, (GRAD_PACK,), bucket / ar.bytes)
                                   for x, (_, bucket) in zip(seconds, segments)]
                        seconds[0] += factor * self._ddp_wrapper_s("backward")
                    for index, (seg, bucket) in enumerate(segments):
                        start = self.env.now
                        yield self._compute(rank, seconds[index])
                        flops = sum(k.flops for k in seg.kernels)
                        prev = self._span(rank, self.device_track, "backward", it, start, self.env.now, flops=flops,
                                          pred=prev)
                        if ar is not None and bucket > 0:
                            after = pending[-1] if pending else None
                            pending.append(self.env.process(
                                self._bucket(rank, it, index, replace(ar, bytes=bucket), after, prev, bucket / ar.bytes)))
                    if ar is not None and not pending:
                        pending.append(self.env.process(self._bucket(rank, it, 0, ar, None, prev)))
                    reduced = ar
                elif task.kind is Kind.TRANSFER and self.cost.cluster.node.h2d_link is not None:
                    route = self.topo.h2d_route(rank)
                    flow = yield self.net.transfer(route.channels, task.bytes, route.latency_s, tag=str(task.stage))
                    prev = self._span(rank, "loader", task.stage, it, start, self.env.now, bytes_=task.bytes,
                                      pred=prev, via=self._via(flow))
                else:
                    if task.stage is Stage.OPTIMIZER and pending:
                        yield self.env.all_of(pending)
                        prev = self._latest(prev, *[p.value for p in pending])
                        pending = []
                        prev = yield from self._unpack_buckets(rank, it, reduced, prev)
                        start = self.env.now
                    seconds = self.cost.compute_time(task)
                    if position == first_forward:
                        seconds += self._ddp_wrapper_s("forward")
                    yield self._compute(rank, self._jittered(rank, seconds))
                    flops = sum(k.flops for k in task.kernels)
                    prev = self._span(rank, self.device_track, task.stage, it, start, self.env.now, flops=flops,
                                      pred=prev)
            if pending:
                yield self.env.all_of(pending)
                prev = self._latest(prev, *[p.value for p in pending])
                prev = yield from self._unpack_buckets(rank, it, reduced, prev)
            self.last_end[it] = max(self.last_end[it], self.env.now)
            self.done_iterations[rank] += 1
            self.report.update()  # progress on stderr, per trainer iteration
            if self.depth == 0 and it + 1 <= self.iters:
                self.load_ok[rank][it + 1].succeed(prev)

    def run(self) -> Timeline:
        for r in range(self.n):
            for it in range(min(max(self.depth, 1), self.iters)):
                self.load_ok[r][it].succeed(-1)
            self.env.process(self._loader(r))
            self.env.process(self._trainer(r))
        # The run allocates millions of short-lived events and flows; Python's cyclic
        # collector would rescan the growing timeline again and again (a third of the
        # wall time at 1024 trainers). Nothing here needs it until the run is over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with progress("simulation", total=self.n * self.iters, unit="trainer iterations") as self.report:
                self.env.run()
        finally:
            if collecting:
                gc.enable()
        tl = self.timeline
        stuck = [r for r in range(self.n) if self.done_iterations[r] < self.iters]
        if stuck:
            waiting = "; ".join(f"{stage} of iteration {it} (collective #{idx}) reached by ranks {sorted(b.tasks)}"
                                for (stage, it, idx), b in sorted(self.barriers.items())[:3])
            raise SimulationError(
                f"the simulation stopped with {len(stuck)} of {self.n} trainers unfinished (first: rank {stuck[0]}, "
                f"{self.done_iterations[stuck[0]]} of {self.iters} iterations): {waiting or 'no barrier pending'}. "
                "Every trainer must have the same collective tasks in the same order in every iteration; "
                "check the workload builder's task chains.")
        tl.iteration_end_s = list(self.last_end)
        tl.makespan_s = max(self.last_end, default=0.0)
        tl.flows = self.net.flows_started
        tl.events = len(tl.spans) + self.net.flows_started + self.net.rate_updates
        if self.cpus is not None:
            tl.events += self.cpus.net.rate_updates
        for c, ch in enumerate(self.topo.channels):
            tl.channels[ch.name] = {"kind": ch.kind, "node": ch.node, "capacity_bytes_per_s": ch.capacity,
                                    "bytes": self.net.bytes[c], "busy_s": self.net.busy_s[c]}
        for seg in self.net.segments:
            ch = self.topo.channels[seg.channel]
            tl.link_spans.append(Span(ch.node, ch.name, seg.tag, -1, seg.start_s, seg.end_s, seg.bytes,
                                      float(seg.flows)))
        return tl


def simulate_workload(workload: Workload, cost: CostModel, *, prefetch_depth: int | None = None,
                      bucket_bytes: float | None = None, allreduce_algorithm: str | None = None,
                      record_links: bool = False, iteration_barrier: bool | None = None) -> Timeline:
    """Replay ``workload`` on the cost model's cluster and return the :class:`Timeline`.

    ``prefetch_depth``, ``bucket_bytes`` and ``iteration_barrier`` default to the
    scenario's (:func:`gnnsim.sim.settings.sim_settings`); ``record_links`` keeps one
    span per stretch of constant traffic on every channel (for traces).
    """
    settings = sim_settings(workload.scenario, prefetch_depth=prefetch_depth, bucket_bytes=bucket_bytes,
                            barrier=iteration_barrier, allreduce_algorithm=allreduce_algorithm)
    return Simulator(workload, cost, settings, record_links=record_links).run()
