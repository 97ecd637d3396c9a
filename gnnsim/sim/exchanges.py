"""The collectives a trainer joins, as the simulator runs them: every rank arrives at a
barrier keyed by (stage, iteration, index); when the last one arrives the collective
runs once for all of them (the feature exchange's phases, the gradient all-reduce, the
halo exchanges) on the flow network, and each rank leaves at its own end.

:class:`Exchanges` is the part of :class:`gnnsim.sim.engine.Simulator` that does this;
it reads the simulator's clock, network, topology and cost model.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from gnnsim.cost.model import HostWork
from gnnsim.workload.tasks import ID_BYTES, Stage, Task

HOST_GATHER = "host:gather"  # the part of a feature exchange spent in host-side gathers and copies


class _Barrier:
    """Ranks arrive one by one; the last arrival starts the collective."""

    def __init__(self, size: int):
        self.size = size
        self.tasks: dict[int, Task] = {}
        self.arrival: dict[int, tuple[float, int]] = {}  # rank -> (time, pred span)
        self.done: simpy.Event | None = None

    def last_pred(self) -> int:
        return max(self.arrival.values(), key=lambda a: a[0])[1]


class Exchanges:
    """Barriers and collectives of the replay (mixed into the simulator)."""

    # -- barriers and collectives ------------------------------------------------------
    def _join(self, key: tuple[str, int, int], rank: int, task: Task, pred: int, run) -> simpy.Event:
        b = self.barriers.get(key)
        if b is None:
            b = self.barriers[key] = _Barrier(self.n)
            b.done = self.env.event()
        b.tasks[rank] = task
        b.arrival[rank] = (self.env.now, pred)
        if len(b.tasks) == self.n:
            del self.barriers[key]
            tasks = [b.tasks[r] for r in range(self.n)]
            done = b.done

            arrivals = np.array([b.arrival[r][0] for r in range(self.n)])

            def starter(env=self.env) -> Generator[Any, Any, None]:
                ends, via, parts = yield from run(tasks, float(arrivals.max() - arrivals.min()))
                done.succeed((ends, self._wakeups(arrivals), via, b.last_pred(), parts))

            self.env.process(starter())
        return b.done

    def _latency_factor(self, spread_s: float, kind: str = "allreduce") -> float:
        """Alpha's factor for a collective (``allreduce`` or ``alltoall``) starting now,
        whose last rank arrived ``spread_s`` after the first: 1 unless the host's effects
        stall its library (:class:`gnnsim.sim.host_effects.CollectiveStalls`)."""
        return 1.0 if self.stalls is None else self.stalls.latency_factor(self.env.now, spread_s, kind)

    def _collective_ended(self) -> None:
        if self.stalls is not None:
            self.stalls.ended(self.env.now)

    def _wakeups(self, arrivals: np.ndarray) -> np.ndarray | None:
        """Per rank, the wake-up a rank pays after idling at the barrier (None: none)."""
        return None if self.stalls is None else self.stalls.wakeups(arrivals)

    def _fetch(self, tasks: list[Task], arrival_spread: float = 0.0) -> Generator[Any, Any, tuple[list, str, list]]:
        """Execute the cost model's fetch plan: exchanges as flows, host work on the hosts.

        Each exchange's alpha takes the factor for the spread of its ranks' readiness
        (:meth:`_latency_factor`); the first one's ranks are at least as far apart as they
        arrived at the barrier (``arrival_spread``).

        Returns per rank its end (a time, or an event while its last host work still
        runs), the channel that limited the longest exchange, and per rank the seconds
        spent in each phase (exchanges by their limiting channel, host work and waiting
        for it as ``host:gather``; a mapping that the last host work adds to as it ends).
        """
        n = len(tasks)
        clock = np.full(n, self.env.now)
        via, longest = "", -1.0
        parts: list[dict[str, float]] = [{} for _ in range(n)]

        def charge(name: str, seconds: np.ndarray) -> None:
            for r in np.flatnonzero(seconds > 0):
                parts[r][name] = parts[r].get(name, 0.0) + float(seconds[r])

        own: list[HostWork] = []  # host work each rank does on its own, in order, until the next sync
        for phase in self.cost.fetch_plan(tasks):
            if isinstance(phase, HostWork) and not phase.barrier:
                own.append(phase)
                continue
            ends = self._host_work(own + ([phase] if isinstance(phase, HostWork) else []), clock, parts)
            own = []
            if ends and isinstance(ends[0], simpy.Event):
                yield self.env.all_of(ends)
            clock = np.array([e.value if isinstance(e, simpy.Event) else e for e in ends], dtype=float)
            if isinstance(phase, HostWork):  # a barrier: every rank waits for the slowest one's host work
                charge(HOST_GATHER, clock.max() - clock)
                clock[:] = clock.max()
                continue
            start = float(clock.max())
            spread, arrival_spread = max(arrival_spread, start - float(clock.min())), 0.0
            charge(HOST_GATHER, start - clock)  # waiting for the slowest rank's host work
            if start > self.env.now:
                yield self.env.timeout(start - self.env.now)
            last = yield from self.coll.alltoall(phase.matrix, tag="fetch",
                                                  latency_scale=self._latency_factor(spread, "alltoall"))
            self._collective_ended()
            took = self.env.now - start
            charge(self._via(last) or "latency", np.full(n, took))
            clock[:] = self.env.now
            if took > longest:
                longest, via = took, self._via(last)
        return self._host_work(own, clock, parts), via, parts

    def _host_work(self, phases: list[HostWork], clock: np.ndarray, parts: list[dict[str, float]]) -> list:
        """Each rank does its share of ``phases`` in order, from its ``clock`` on, and
        charges the time to ``host:gather``. Returns per rank its end: a time in closed
        form on GPU nodes, else an event (its process), as the host's cores are shared."""
        if self.cpus is None or not phases:
            ends = clock + sum((np.asarray(p.seconds, dtype=float) for p in phases), np.zeros(len(clock)))
            for r, t in enumerate(ends - clock):
                if t > 0:
                    parts[r][HOST_GATHER] = parts[r].get(HOST_GATHER, 0.0) + float(t)
            return list(ends)

        def worker(rank: int, start: float) -> Generator[Any, Any, float]:
            if start > self.env.now:
                yield self.env.timeout(start - self.env.now)
            for phase in phases:
                yield self._compute(rank, float(phase.seconds[rank]))
            if self.env.now > start:
                parts[rank][HOST_GATHER] = parts[rank].get(HOST_GATHER, 0.0) + (self.env.now - start)
            return self.env.now

        return [self.env.process(worker(r, float(clock[r]))) for r in range(len(clock))]

    def _allreduce(self, size: float, spread: float = 0.0) -> Generator[Any, Any, tuple[np.ndarray, str, None]]:
        last = yield from self.coll.allreduce(size, self.algorithm, tag="allreduce",
                                              latency_scale=self._latency_factor(spread))
        self._collective_ended()
        return np.full(self.n, self.env.now), self._via(last), None

    def _exchange_even(self, stage: str):
        """A collective the simulator has no plan for: each rank sends its bytes evenly to the others."""
        def run(tasks: list[Task], spread: float = 0.0) -> Generator[Any, Any, tuple[np.ndarray, str, None]]:
            out = np.array([t.bytes for t in tasks]) / max(1, self.n - 1)
            last = yield from self.coll.alltoall(np.repeat(out[:, None], self.n, axis=1), tag=stage,
                                                 latency_scale=self._latency_factor(spread, "alltoall"))
            self._collective_ended()
            return np.full(self.n, self.env.now), self._via(last), None
        return run

    def _row_copies(self, rows: np.ndarray, row_bytes: np.ndarray) -> list[simpy.Event]:
        """Each rank copies its ``rows`` rows of ``row_bytes`` on its device (an
        ``index_select`` or ``index_copy``, priced as a gather): one event per rank."""
        return [self._compute(r, self.cost.device_gather_time(rows[r], row_bytes[r])) for r in range(len(rows))]

    def _rows_exchange(self, stage: Stage):
        """A collective whose tasks say how many rows each rank receives from each peer
        (``rows_from``): a halo exchange (the owners send ``row_bytes`` per row), or remote
        sampling requests (ids out to the owners, sampled edges back, once per round).

        A halo exchange also packs the rows each rank sends into one buffer before the
        all-to-all (every rank must have packed before it starts) and places the rows it
        received after it, each rank on its own, as the real trainer's ``index_select`` and
        ``index_copy`` do; the stage lasts until a rank's own rows are in place."""
        def run(tasks: list[Task], spread: float = 0.0) -> Generator[Any, Any, tuple[list, str, None]]:
            n = self.n
            rows = np.array([t.rows.rows_from for t in tasks], dtype=float).reshape(n, n)  # [receiver, owner]
            np.fill_diagonal(rows, 0.0)
            width = np.array([t.rows.row_bytes for t in tasks], dtype=float)
            if stage is Stage.HALO:
                yield self.env.all_of(self._row_copies(rows.sum(0), width))
            if stage is Stage.SAMPLE:
                rounds = max(1, tasks[0].rounds)
                asked = rows.sum(1)
                back = np.array([max(0.0, t.bytes - ID_BYTES * a) for t, a in zip(tasks, asked)])
                share = rows / np.maximum(asked, 1.0)[:, None]
                phases = [rows * ID_BYTES / rounds, (share * back[:, None]).T / rounds] * rounds
            else:
                phases = [(rows * width[:, None]).T]
            via, longest = "", -1.0
            for matrix in phases:  # the ranks enter the later phases together
                start, scale, spread = self.env.now, self._latency_factor(spread, "alltoall"), 0.0
                last = yield from self.coll.alltoall(matrix, tag=str(stage), latency_scale=scale)
                self._collective_ended()
                if self.env.now - start > longest:
                    longest, via = self.env.now - start, self._via(last)
            if stage is Stage.HALO:
                return self._row_copies(rows.sum(1), width), via, None
            return list(np.full(n, self.env.now)), via, None
        return run

    def _collective(self, rank: int, task: Task, it: int, index: int, track: str,
                    pred: int) -> Generator[Any, Any, int]:
        start = self.env.now
        if task.stage is Stage.FETCH:
            run = self._fetch
        elif task.stage is Stage.ALLREDUCE:
            size = task.bytes
            run = lambda tasks, spread: self._allreduce(size, spread)  # noqa: E731
        elif task.rows is not None and len(task.rows.rows_from) == self.n:
            run = self._rows_exchange(task.stage)
        else:
            run = self._exchange_even(str(task.stage))
        ends, wakeups, via, last_pred, parts = yield self._join((task.stage, it, index), rank, task, pred, run)
        end = ends[rank]
        if isinstance(end, simpy.Event):  # its last host work still runs on shared cores
            yield end
        elif end > self.env.now:
            yield self.env.timeout(end - self.env.now)
        if wakeups is not None and wakeups[rank] > 0:
            yield self.env.timeout(wakeups[rank])
        return self._span(rank, track, task.stage, it, start, self.env.now, bytes_=task.bytes, pred=last_pred, via=via,
                          parts=tuple(sorted(parts[rank].items())) if parts else ())
