"""Host CPUs shared by the CPU trainers that compute at the same moment.

Picture a host's CPU as one more pipe, whose capacity is its *effective cores*
(:attr:`gnnsim.hardware.profiles.Node.compute_cores` times the nodes on the host; a
calibration measures them, see :mod:`gnnsim.calibrate.capacity`). A piece of CPU work
that takes ``t`` seconds alone on ``c`` cores pours ``t x c`` core-seconds through that
pipe, never faster than its ``c`` cores. When ``j`` pieces run at once they share the
cores fairly: each gets ``min(c, capacity / j)`` (processor sharing), and whoever
finishes first leaves its share to the others. On a host with one effective core two
ranks that compute at once each take twice as long; a rank that computes while the
other waits at a collective runs at full speed.

That holds while every trainer has cores of its own. With more trainers than cores
(``trainers x threads`` over the host's cores), the OS pins them round-robin and runs
the ones that share a core in turns, each for a time slice; a trainer that blocks at a
collective hands the core to the next. A stage then runs at full speed once it holds
the core, and the wait falls to whoever queued behind it (often a rank just out of a
collective), not the halving that processor sharing gives (docs/calibration-notes.md
has the measurement). So there each core (a
block of ``threads`` cores) is a *slot* that its trainers take in turns, first come,
first served, each at the speed it would have alone among the busy slots. A trainer
keeps its slot while it computes piece after piece (a backward pass in segments) and
gives it up when it waits for anything else, or where its time slice ends while others
wait (the host effects' ``time_slice_s``, measured by calibration; one 250 Hz tick where
none was): mid-piece, as the OS preempts a running process, and the rest of the piece
queues behind the others. Stages shorter than a slice mostly run whole (the own
trainer's, 1.3-1.4x their 2-rank time with 4 ranks on 2 cores); longer ones are cut at
the slice ends, so each of them carries its share of the wait (PyG's 3 ms forward and
backward, about 2x). A piece that follows another trainer's work on its core computes
at the host effects' ``turn_speed`` (measured by calibration) of its speed alone: the
turn starts with the other trainer's data in the caches.

A core that sat idle computes slower for a while when work comes back (its clock,
caches and the hypervisor's scheduling recover): where the node's host effects carry a
calibrated :class:`gnnsim.hardware.host_effects.Warmup`, the work that follows an idle
core (a rank's own cores, or a shared slot) carries ``extra(idle)`` more seconds, paid
over its first ``ramp`` of work (:class:`gnnsim.sim.host_effects.WarmupDebt`).

This is exactly how flows share a link, so a :class:`HostCpus` is a
:class:`gnnsim.sim.network.Network` whose channels are the hosts' CPUs, whose flows
carry core-seconds, and whose per-flow rate cap is the cores a process can use. With
nothing else computing on the host, every piece takes its closed-form time from
:class:`gnnsim.cost.model.CostModel`, alone.

>>> import simpy
>>> from gnnsim.hardware.profiles import load_cluster
>>> from dataclasses import replace
>>> c = load_cluster("localhost-cpu")                    # 2 trainers, 2 nominal cores
>>> c = replace(c, node=replace(c.node, cpu_efficiency=0.5))   # as if measured: 1 effective core
>>> env = simpy.Environment()
>>> cpus = HostCpus(env, c)
>>> a, b = cpus.run(0, 1e-3, cores=1), cpus.run(1, 1e-3, cores=1)
>>> env.run()
>>> round(a.value.end_s * 1e3, 9), round(b.value.end_s * 1e3, 9)   # 1 ms alone, 2 ms together
(2.0, 2.0)
>>> c = load_cluster("localhost-cpu", trainers_per_node=4)   # 4 trainers, 2 cores
>>> env = simpy.Environment()
>>> cpus = HostCpus(env, c)
>>> pieces = [cpus.run(rank, 1e-3, cores=1) for rank in (0, 1, 2, 3)]   # ranks 0, 2 on core 0
>>> env.run()
>>> [round(p.value.end_s * 1e3, 9) for p in pieces]   # in turns, not 4 ms each
[1.0, 1.0, 2.0, 2.0]
"""

from __future__ import annotations

import simpy

from gnnsim.hardware.profiles import Cluster
from gnnsim.sim.host_effects import time_slice_s, turn_speed, warmup_debt
from gnnsim.sim.network import Network


class _Slot:
    """A block of cores that trainers take in turns (see the module's docstring)."""

    def __init__(self, env: simpy.Environment):
        self.cores = simpy.Resource(env, capacity=1)
        self.turn: simpy.Event | None = None  # the holder's granted request
        self.holder: int | None = None
        self.since = 0.0  # when the holder took it
        self.last: int | None = None  # the rank that computed on it last


class HostCpus:
    """One shared CPU per host; :meth:`run` starts a piece of CPU work on a rank's host."""

    def __init__(self, env: simpy.Environment, cluster: Cluster, threads: int = 1):
        node = cluster.node
        self.env = env
        self.per_node = node.trainers
        self.nodes_per_host = max(1, cluster.nodes_per_host)
        hosts = -(-cluster.num_nodes // self.nodes_per_host)
        nodes_on = [min(self.nodes_per_host, cluster.num_nodes - h * self.nodes_per_host) for h in range(hosts)]
        self.capacity = [node.compute_cores * k for k in nodes_on]  # effective cores per host
        self.net = Network(env, self.capacity, [f"host{h}/cpu" for h in range(hosts)])
        # time slices where a host's trainers outnumber its slots (blocks of `threads` cores)
        slots = [max(1, node.host_cpu_cores * k // max(1, threads)) for k in nodes_on]
        self.slots = [[_Slot(env) for _ in range(n)] if node.trainers * k > n else [] for n, k in zip(slots, nodes_on)]
        self.time_slice_s = time_slice_s(node)
        self.turn_speed = turn_speed(node)
        self.warmup = warmup_debt(node)  # None: no warm-up after idling (the core model)
        self._running: dict[object, int] = {}  # per core (a rank's own, or a shared slot): pieces running on it

    def host_of(self, rank: int) -> int:
        return rank // self.per_node // self.nodes_per_host

    def slot_of(self, rank: int) -> _Slot | None:
        """The core block ``rank`` shares with others in turns, round-robin as the real
        runs pin them (:func:`gnnsim.realrun.affinity.cores_for`); None where every
        trainer has cores of its own."""
        slots = self.slots[self.host_of(rank)]
        if not slots:
            return None
        return slots[rank % (self.per_node * self.nodes_per_host) % len(slots)]

    def run(self, rank: int, seconds: float, cores: float, tag: str = "") -> simpy.Event:
        """CPU work of ``rank`` that takes ``seconds`` alone on ``cores`` cores; the event
        fires (with the :class:`gnnsim.sim.network.Flow`) when it is done.

        Alone it runs on as many of its cores as the host has, ``min(cores, capacity)``,
        at the speed its closed-form ``seconds`` were measured or computed for.
        """
        host = self.host_of(rank)
        own = min(float(cores), self.capacity[host])
        slot = self.slot_of(rank)
        if slot is None:
            seconds += self._start(rank, seconds)
            flow = self.net.transfer((host,), seconds * own, max_rate=own, tag=tag)
            flow.callbacks.append(lambda _: self._end(rank))
            return flow
        done = self.env.event()
        self.env.process(self._in_turn(slot, rank, host, seconds, own, tag, done))
        return done

    def _start(self, core: object, seconds: float) -> float:
        """A piece of ``seconds`` starts on ``core`` now: the warm-up it pays (0 without
        a calibrated warm-up, or when the core was not idle)."""
        running = self._running.get(core, 0)
        self._running[core] = running + 1
        return 0.0 if self.warmup is None else self.warmup.pay(core, seconds, self.env.now, idle=running == 0)

    def _end(self, core: object) -> None:
        self._running[core] -= 1
        if self._running[core] == 0 and self.warmup is not None:
            self.warmup.idle_from(core, self.env.now)

    def _in_turn(self, slot: _Slot, rank: int, host: int, seconds: float, rate: float, tag: str,
                 done: simpy.Event):
        """Take the slot (or keep it), run the piece, and hand the slot on unless the same
        rank starts its next piece at once (``done`` fires when the piece ends). A piece
        still running when its holder's time slice ends is preempted there if others
        wait, as the OS's scheduler does: the rest queues behind them."""
        env = self.env
        if slot.holder == rank and not self._busy(slot) and slot.cores.queue \
                and env.now - slot.since >= self.time_slice_s:
            self._give_up(slot)  # its time slice is over and others wait
        if slot.holder != rank or self._busy(slot):
            turn = slot.cores.request()
            yield turn
            slot.turn, slot.holder, slot.since = turn, rank, env.now
        seconds += self._start(slot, seconds)
        after_other = slot.last not in (None, rank)
        if after_other:  # another rank's data fills the caches: the piece runs at the turns' speed
            seconds /= self.turn_speed
        slot.last = rank
        while True:
            left = slot.since + self.time_slice_s - env.now
            if left <= 0:  # a new slice: nobody waited when the last one ended
                slot.since, left = env.now, self.time_slice_s
            chunk = min(seconds, left)
            flow = yield self.net.transfer((host,), chunk * rate, max_rate=rate, tag=tag)
            seconds -= chunk
            if seconds <= 1e-12:
                break
            if slot.cores.queue:  # preempted at the slice's end: the others run first
                self._end(slot)
                self._give_up(slot)
                turn = slot.cores.request()
                yield turn
                slot.turn, slot.holder, slot.since = turn, rank, env.now
                if not after_other:  # the others ran in between
                    seconds, after_other = seconds / self.turn_speed, True
                slot.last = rank
                self._start(slot, 0.0)
        self._end(slot)
        done.succeed(flow)
        # the rank resumes on `done` and, if it computes on, starts its next piece now,
        # before this zero wait ends (a new process starts ahead of a timeout)
        yield env.timeout(0)
        if not self._busy(slot) and slot.holder == rank:
            self._give_up(slot)

    def _busy(self, core: object) -> bool:
        """A piece runs on ``core`` now."""
        return self._running.get(core, 0) > 0

    @staticmethod
    def _give_up(slot: _Slot) -> None:
        slot.cores.release(slot.turn)
        slot.turn, slot.holder = None, None

    @property
    def core_seconds(self) -> list[float]:
        """Core-seconds of work each host has finished."""
        return list(self.net.bytes)
