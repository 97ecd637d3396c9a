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
"""

from __future__ import annotations

import simpy

from gnnsim.hardware.profiles import Cluster
from gnnsim.sim.network import Network


class HostCpus:
    """One shared CPU per host; :meth:`run` starts a piece of CPU work on a rank's host."""

    def __init__(self, env: simpy.Environment, cluster: Cluster):
        node = cluster.node
        self.per_node = node.trainers
        self.nodes_per_host = max(1, cluster.nodes_per_host)
        hosts = -(-cluster.num_nodes // self.nodes_per_host)
        nodes_on = [min(self.nodes_per_host, cluster.num_nodes - h * self.nodes_per_host) for h in range(hosts)]
        self.capacity = [node.compute_cores * k for k in nodes_on]  # effective cores per host
        self.net = Network(env, self.capacity, [f"host{h}/cpu" for h in range(hosts)])

    def host_of(self, rank: int) -> int:
        return rank // self.per_node // self.nodes_per_host

    def run(self, rank: int, seconds: float, cores: float, tag: str = "") -> simpy.Event:
        """CPU work of ``rank`` that takes ``seconds`` alone on ``cores`` cores; the event
        fires (with the :class:`gnnsim.sim.network.Flow`) when it is done.

        Alone it runs on as many of its cores as the host has, ``min(cores, capacity)``,
        at the speed its closed-form ``seconds`` were measured or computed for.
        """
        host = self.host_of(rank)
        own = min(float(cores), self.capacity[host])
        return self.net.transfer((host,), seconds * own, max_rate=own, tag=tag)

    @property
    def core_seconds(self) -> list[float]:
        """Core-seconds of work each host has finished."""
        return list(self.net.bytes)
