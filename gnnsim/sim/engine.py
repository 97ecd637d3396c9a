"""The discrete-event replay of a workload (simpy).

Think of each trainer as a worker walking down its checklist for every iteration:
sample a batch on its CPU, fetch features, compute forward and backward on its device,
join the gradient all-reduce, step the optimizer. Devices are simpy resources, so two
tasks never use one device at the same time. Collective tasks (the feature exchange and
the all-reduce) are barriers: a trainer waits there until every trainer has arrived,
then each leaves after the duration the cost model gives it. The waiting is part of the
collective's span, exactly as a ``perf_counter`` around the call in a real run sees it.

This is the only module of gnnsim with mutable, time-dependent state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from gnnsim.cost.model import CostModel
from gnnsim.workload.builder import Task, Workload


@dataclass(frozen=True)
class Span:
    rank: int
    resource: str
    stage: str
    iteration: int
    start_s: float
    end_s: float
    bytes: float = 0.0
    flops: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class Timeline:
    spans: list[Span] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)  # resource -> class
    iteration_end_s: list[float] = field(default_factory=list)
    events: int = 0


class _Collective:
    """A reusable barrier: the last arrival computes every rank's duration."""

    def __init__(self, env: simpy.Environment, size: int):
        self.env, self.size = env, size
        self.arrived: dict[int, Task] = {}
        self.done = env.event()
        self.durations: list[float] = []

    def join(self, rank: int, task: Task, durations_of) -> simpy.Event:
        self.arrived[rank] = task
        done = self.done
        if len(self.arrived) == self.size:
            self.durations = durations_of([self.arrived[r] for r in range(self.size)])
            self.arrived = {}
            self.done = self.env.event()
            done.succeed(self.durations)
        return done


class Simulator:
    def __init__(self, workload: Workload, cost: CostModel):
        self.workload, self.cost = workload, cost
        self.env = simpy.Environment()
        n = workload.num_ranks
        self.devices = [simpy.Resource(self.env, 1) for _ in range(n)]
        self.samplers = [simpy.Resource(self.env, 1) for _ in range(n)]
        self.collectives = {"fetch": _Collective(self.env, n), "allreduce": _Collective(self.env, n)}
        self.timeline = Timeline()
        node = cost.cluster.node
        self.device_name = f"{node.trainer_device.kind}:{node.trainer_device.name}"
        self.last_end = [0.0] * workload.iterations

    def _resource(self, rank: int, task: Task) -> str:
        node = self.cost.cluster.node_of(rank)
        if task.stage == "sample":
            return f"node{node}/cpu-sampler{rank}"
        if task.stage == "h2d":
            return f"node{node}/pcie{rank}"
        if task.kind == "collective":
            nodes = self.cost.cluster.num_nodes
            link = self.cost.cluster.network if nodes > 1 else self.cost.cluster.node.intra_link
            return f"net/{link.kind}:{link.name}"
        return f"node{node}/{self.device_name}{rank}"

    def _record(self, rank: int, task: Task, it: int, start: float) -> None:
        res = self._resource(rank, task)
        self.timeline.resources.setdefault(res, task.kind)
        flops = sum(k.flops for k in task.kernels)
        self.timeline.spans.append(Span(rank, res, task.stage, it, start, self.env.now, task.bytes, flops))
        self.timeline.events += 1
        self.last_end[it] = max(self.last_end[it], self.env.now)

    def _trainer(self, rank: int):
        for it, per_rank in enumerate(self.workload.tasks):
            for task in per_rank[rank]:
                start = self.env.now
                if task.kind == "collective":
                    timing = self.cost.fetch_times if task.stage == "fetch" else self._allreduce_times
                    durations = yield self.collectives[task.stage].join(rank, task, timing)
                    yield self.env.timeout(durations[rank])
                else:
                    resource = self.samplers[rank] if task.stage == "sample" else self.devices[rank]
                    with resource.request() as req:
                        yield req
                        yield self.env.timeout(self._duration(task))
                self._record(rank, task, it, start)

    def _allreduce_times(self, tasks: list[Task]) -> list[float]:
        t = self.cost.allreduce_time(tasks[0].bytes)
        return [t] * len(tasks)

    def _duration(self, task: Task) -> float:
        if task.stage == "sample":
            return self.cost.sample_time(task)
        if task.stage == "h2d":
            return self.cost.h2d_time(task)
        return self.cost.compute_time(task)

    def run(self) -> Timeline:
        for r in range(self.workload.num_ranks):
            self.env.process(self._trainer(r))
        self.env.run()
        self.timeline.iteration_end_s = list(self.last_end)
        return self.timeline


def simulate_workload(workload: Workload, cost: CostModel) -> Timeline:
    return Simulator(workload, cost).run()
