"""Flow-level network: transfers share links by max-min fairness.

Picture a set of pipes (channels, one per link direction), each with a capacity in
bytes per second. A *flow* is one transfer: it waits for its latency, then pours its
bytes through every pipe on its route at one rate. When several flows share a pipe they
split it fairly: **max-min fairness**, computed by *progressive filling* — raise every
flow's rate together until some pipe is full; the flows through it are frozen at that
rate; continue with the rest until every flow is frozen. A flow therefore runs at the
fair share of its most crowded pipe, and a flow that is held back elsewhere leaves its
unused share to the others.

Rates change only when a flow starts or ends, so between those events every flow
drains at a constant rate and its finish time is known. On each start or end the
network recomputes the rates of the flows *connected* to it (sharing a channel,
transitively); flows elsewhere keep their rates and their scheduled finish.

A flow may do more *work* than it moves bytes: a collective whose calibrated library
bandwidth differs from the link's moves ``bytes`` but occupies the link as if it moved
``work = bytes x link_bw / library_bw`` (so alone it takes ``bytes / library_bw`` and
under contention it slows like any other flow). Accounting (bytes per channel, busy
time, the trace's link slices) always counts real bytes.

A flow may also have a rate cap of its own (``max_rate``): progressive filling then
treats it as one more pipe that only this flow uses. :mod:`gnnsim.sim.cpu` builds the
hosts' CPUs on this: a compute task is a flow of core-seconds through its host's cores,
capped at the cores its process can use.

This module and :mod:`gnnsim.sim.engine` are the only places in gnnsim with mutable,
time-dependent state.

>>> import simpy
>>> env = simpy.Environment()
>>> net = Network(env, [1e9], ["link"])
>>> a = net.transfer((0,), 1e6, latency_s=1e-5)   # alone: 10 us + 1 ms
>>> b = net.transfer((0,), 1e6, latency_s=1e-5)   # with a: both at 0.5 GB/s
>>> env.run()
>>> round(a.value.end_s * 1e3, 6), round(b.value.end_s * 1e3, 6)
(2.01, 2.01)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import simpy

# Relative slack when deciding which channels are full in one filling round (float noise).
FILL_TOLERANCE = 1e-9


class Flow:
    """One transfer in flight. ``end_s`` is set when its last byte arrives."""

    __slots__ = ("id", "route", "size", "work", "remaining", "rate", "t_last", "version", "done", "tag",
                 "start_s", "end_s", "bottleneck", "max_rate", "_new_rate")

    def __init__(self, fid: int, route: tuple[int, ...], size: float, work: float, tag: str, done: simpy.Event,
                 start_s: float, max_rate: float = math.inf):
        self.id, self.route, self.size, self.work, self.tag, self.done = fid, route, size, work, tag, done
        self.remaining, self.rate, self.t_last, self.version = work, 0.0, start_s, 0
        self.start_s, self.end_s, self.bottleneck = start_s, start_s, -1  # bottleneck -1: its own cap (or none yet)
        self.max_rate = max_rate
        self._new_rate = 0.0


@dataclass(frozen=True)
class Segment:
    """A stretch of time during which one channel carried a constant set of flows."""

    channel: int
    start_s: float
    end_s: float
    flows: int
    bytes: float
    tag: str


class Network:
    """Channels with capacities (bytes/s) and the flows that share them."""

    def __init__(self, env: simpy.Environment, capacities: list[float], names: list[str], record: bool = False):
        self.env = env
        self.cap = [float(c) for c in capacities]
        self.names = list(names)
        n = len(self.cap)
        self.on: list[dict[int, Flow]] = [{} for _ in range(n)]
        self.bytes = [0.0] * n
        self.busy_s = [0.0] * n
        self._busy_since = [0.0] * n
        self.record = record
        self.segments: list[Segment] = []
        self._open: list[tuple[float, float, int, str] | None] = [None] * n  # start, bytes/s, flows, tags
        self._next_id = 0
        self._capped = False  # whether any flow has a max_rate (the links' flows never do)
        self.flows_started = 0
        self.rate_updates = 0

    # -- public ---------------------------------------------------------------------
    def transfer(self, route: tuple[int, ...], size_bytes: float, latency_s: float = 0.0,
                 work_bytes: float | None = None, tag: str = "", max_rate: float = math.inf) -> simpy.Event:
        """Start a flow now; the returned event fires (with the :class:`Flow`) when it is done.
        It never drains faster than ``max_rate`` work units per second."""
        done = self.env.event()
        work = size_bytes if work_bytes is None else work_bytes
        flow = Flow(self._next_id, tuple(route), float(size_bytes), float(work), tag, done, self.env.now,
                    float(max_rate))
        self._capped = self._capped or max_rate < math.inf
        self._next_id += 1
        self.flows_started += 1
        if latency_s > 0:
            self.env.timeout(latency_s).callbacks.append(lambda _ev: self._start(flow))
        else:
            self._start(flow)
        return done

    def utilization(self, makespan_s: float) -> list[float]:
        """Share of each channel's capacity used over ``[0, makespan_s]``."""
        return [b / (c * makespan_s) if makespan_s > 0 else 0.0 for b, c in zip(self.bytes, self.cap)]

    # -- internals -----------------------------------------------------------------
    def _start(self, flow: Flow) -> None:
        now = self.env.now
        flow.t_last = now
        if flow.work <= 0 or not flow.route:
            self._complete(flow)
            return
        for c in flow.route:
            on = self.on[c]
            if not on:
                self._busy_since[c] = now
            on[flow.id] = flow
        self._reallocate(flow.route, new=flow)

    def _complete(self, flow: Flow) -> None:
        flow.end_s = self.env.now
        flow.remaining = 0.0
        flow.done.succeed(flow)

    def _finish(self, flow: Flow, version: int) -> None:
        if flow.version != version or flow.id not in self.on[flow.route[0]]:
            return  # a newer rate rescheduled this flow
        now = self.env.now
        for c in flow.route:
            on = self.on[c]
            del on[flow.id]
            self.bytes[c] += flow.size
            if not on:
                self.busy_s[c] += now - self._busy_since[c]
        self._reallocate(flow.route, gone=flow)
        self._complete(flow)

    def _component(self, channels: tuple[int, ...]) -> tuple[list[Flow], list[int]]:
        seen = set(channels)
        stack = list(channels)
        chans: list[int] = []
        flows: dict[int, Flow] = {}
        while stack:
            c = stack.pop()
            chans.append(c)
            for fid, f in self.on[c].items():
                if fid not in flows:
                    flows[fid] = f
                    for c2 in f.route:
                        if c2 not in seen:
                            seen.add(c2)
                            stack.append(c2)
        return list(flows.values()), chans

    def _fill(self, flows: list[Flow], chans: list[int]) -> None:
        """Progressive filling: sets ``_new_rate`` and ``bottleneck`` of every flow (a flow's
        own ``max_rate`` acts as a private channel; it is the bottleneck -1)."""
        rem = {c: self.cap[c] for c in chans}
        cnt = {c: len(self.on[c]) for c in chans}
        live = [c for c in chans if cnt[c] > 0]
        pending = flows
        while pending:
            level = min(rem[c] / cnt[c] for c in live)
            if self._capped:
                level = min(level, min(f.max_rate for f in pending))
            limit = level * (1.0 + FILL_TOLERANCE)
            tight = {c for c in live if rem[c] / cnt[c] <= limit}
            still = []
            for f in pending:
                if f.max_rate <= limit:
                    neck = -1
                else:
                    neck = next((c for c in f.route if c in tight), None)
                    if neck is None:
                        still.append(f)
                        continue
                f._new_rate, f.bottleneck = level, neck
                for c2 in f.route:
                    rem[c2] = max(0.0, rem[c2] - level)
                    cnt[c2] -= 1
            pending = still
            live = [c for c in live if cnt[c] > 0 and c not in tight]

    def _reallocate(self, channels: tuple[int, ...], new: Flow | None = None, gone: Flow | None = None) -> None:
        now = self.env.now
        flows, chans = self._component(channels)
        if self.record:
            self._close_segments(chans, now)
        if flows:
            self._fill(flows, chans)
        self.rate_updates += 1
        for f in flows:
            if f._new_rate == f.rate and f is not new:
                continue
            if f is not new:
                f.remaining = max(0.0, f.remaining - f.rate * (now - f.t_last))
            f.t_last, f.rate = now, f._new_rate
            f.version += 1
            v = f.version
            self.env.timeout(f.remaining / f.rate).callbacks.append(lambda _ev, f=f, v=v: self._finish(f, v))
        if self.record:
            self._open_segments(chans, now)

    def _close_segments(self, chans: list[int], now: float) -> None:
        for c in chans:
            seg = self._open[c]
            if seg is None:
                continue
            start, rate, count, tags = seg
            self._open[c] = None
            if now > start and rate > 0:
                self.segments.append(Segment(c, start, now, count, rate * (now - start), tags))

    def _open_segments(self, chans: list[int], now: float) -> None:
        for c in chans:
            on = self.on[c]
            if on:
                rate = sum(f.rate * (f.size / f.work) for f in on.values())
                self._open[c] = (now, rate, len(on), "+".join(sorted({f.tag for f in on.values()})))
            else:
                self._open[c] = None
