"""Collectives executed as flows on the topology, so they contend with other traffic.

Each algorithm here is the flow-level version of a closed form in
:mod:`gnnsim.cost.collectives`: with nothing else on the links it takes exactly that
time, and when feature traffic or another collective shares a link, max-min fairness
slows both.

- **Ring** (all-reduce, all-gather, reduce-scatter): a pipelined ring keeps every ring
  link busy for the whole collective, so it is one flow per ring edge carrying that
  edge's share (``2(n-1)/n`` of the buffer for an all-reduce), after ``2(n-1)`` step
  latencies.
- **Tree**: a reduce phase (one flow per child -> parent edge, pipelined, after
  ``depth`` latencies), then a broadcast phase down the same edges.
- **Hierarchical**: ring reduce-scatter inside every node, then one ring across the
  nodes' NICs (the ``p`` shard rings of a node share its NIC and have identical routes,
  so they are one flow per node with their summed bytes), then ring all-gather inside.
- **All-to-all**: pairwise exchange — in round ``k`` participant ``i`` sends to
  ``i+k`` and receives from ``i-k``, and starts round ``k+1`` once both are done. It
  runs among the ranks of each node over the peer fabric and, at the same time, among
  the nodes over the network with the node-to-node totals.

A calibrated collective library (``Node.collective``) has its own alpha and bandwidth;
its flows carry ``work = bytes x link_bw / library_bw`` so that alone they take
``bytes / library_bw`` (see :mod:`gnnsim.sim.network`).

Every method is a simpy process body: ``yield from`` it; it returns the flow that
finished last (whose bottleneck channel names what limited the collective).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from gnnsim.cost.collectives import tree_depth
from gnnsim.cost.model import CostModel
from gnnsim.hardware.topology import Route, Topology
from gnnsim.sim.network import Flow, Network

Proc = Generator[Any, Any, "Flow | None"]


def _last(flows: list[Flow | None]) -> Flow | None:
    real = [f for f in flows if f is not None]
    return max(real, key=lambda f: (f.end_s, f.size)) if real else None


class Collectives:
    def __init__(self, env: simpy.Environment, net: Network, topo: Topology, cost: CostModel):
        self.env, self.net, self.topo, self.cost = env, net, topo, cost
        self.per_node = topo.per_node
        self.nodes = cost.cluster.num_nodes
        self.alpha_in, self.bw_in = cost.intra_alpha_bw()
        self.net_link = cost.cluster.network
        self._route_cache: dict[tuple[str, int, int], Route] = {}

    # -- helpers -------------------------------------------------------------------
    def _rank_route(self, a: int, b: int) -> Route:
        key = ("r", a, b)
        r = self._route_cache.get(key)
        if r is None:
            r = self._route_cache[key] = self.topo.rank_route(a, b)
        return r

    def _node_route(self, a: int, b: int) -> Route:
        key = ("n", a, b)
        r = self._route_cache.get(key)
        if r is None:
            r = self._route_cache[key] = self.topo.node_route(a, b)
        return r

    def _collective_flow(self, src: int, dst: int, size: float, latency_s: float, tag: str) -> simpy.Event:
        """A flow of the collective library between two ranks; inside a node it runs at the
        library's bandwidth (``work`` scaled), across nodes at the network's."""
        route = self._rank_route(src, dst)
        work = size
        if self.topo.node_of(src) == self.topo.node_of(dst):
            work = size * self.topo.capacity_of(route) / self.bw_in
        return self.net.transfer(route.channels, size, latency_s, work, tag)

    def _wait_all(self, events: list[simpy.Event]) -> Proc:
        if not events:
            return None
        yield self.env.all_of(events)
        return _last([e.value for e in events])

    # -- all-reduce -----------------------------------------------------------------
    def allreduce(self, size: float, algorithm: str, tag: str) -> Proc:
        algo = self.cost.allreduce_algorithm(algorithm)
        n = self.cost.num_ranks
        if n <= 1 or size <= 0:
            return None
        if algo == "hierarchical":
            return (yield from self.hierarchical_allreduce(size, tag))
        alpha = self.alpha_in if self.nodes == 1 else max(self.alpha_in, self.net_link.latency_s)
        ranks = list(range(n))
        if algo == "tree":
            return (yield from self.tree_allreduce(ranks, size, alpha, tag))
        return (yield from self.ring(ranks, 2 * (n - 1) / n * size, 2 * (n - 1) * alpha, tag))

    def ring(self, ranks: list[int], edge_bytes: float, latency_s: float, tag: str) -> Proc:
        """One pipelined ring over ``ranks``: every edge carries ``edge_bytes``."""
        n = len(ranks)
        if n <= 1:
            return None
        events = [self._collective_flow(ranks[i], ranks[(i + 1) % n], edge_bytes, latency_s, tag)
                  for i in range(n)]
        return (yield from self._wait_all(events))

    def tree_allreduce(self, ranks: list[int], size: float, alpha: float, tag: str) -> Proc:
        n = len(ranks)
        latency = tree_depth(n) * alpha
        edges = [(ranks[c], ranks[(c - 1) // 2]) for c in range(1, n)]  # child -> parent (heap order)
        up = [self._collective_flow(c, p, size, latency, tag) for c, p in edges]
        yield from self._wait_all(up)
        down = [self._collective_flow(p, c, size, latency, tag) for c, p in edges]
        return (yield from self._wait_all(down))

    def hierarchical_allreduce(self, size: float, tag: str) -> Proc:
        p, nodes = self.per_node, self.nodes
        local = [list(range(k * p, (k + 1) * p)) for k in range(nodes)]

        def inside() -> list[simpy.Event]:
            if p <= 1:
                return []
            return [self._collective_flow(g[i], g[(i + 1) % p], (p - 1) / p * size,
                                          (p - 1) * self.alpha_in, tag) for g in local for i in range(p)]

        yield from self._wait_all(inside())  # reduce-scatter
        across = [self.net.transfer(self._node_route(k, (k + 1) % nodes).channels, 2 * (nodes - 1) / nodes * size,
                                    2 * (nodes - 1) * self.net_link.latency_s, tag=tag) for k in range(nodes)]
        last_net = yield from self._wait_all(across)
        last_in = yield from self._wait_all(inside())  # all-gather
        return _last([last_net, last_in]) if last_net is not None else last_in

    def allgather(self, total_bytes: float, tag: str) -> Proc:
        """Ring all-gather of ``total_bytes`` (every rank ends with all of it)."""
        n = self.cost.num_ranks
        alpha = self.alpha_in if self.nodes == 1 else max(self.alpha_in, self.net_link.latency_s)
        return (yield from self.ring(list(range(n)), (n - 1) / n * total_bytes, (n - 1) * alpha, tag))

    # -- all-to-all -------------------------------------------------------------------
    def alltoall(self, matrix: np.ndarray, tag: str) -> Proc:
        """Pairwise exchange of ``matrix[src, dst]`` bytes among all ranks (see module doc)."""
        n = matrix.shape[0]
        if n <= 1:
            return None
        p, nodes = self.per_node, self.nodes
        m = np.where(np.eye(n, dtype=bool), 0.0, matrix)
        procs = []
        intra_latency = self.cost.cluster.node.intra_link.latency_s
        for k in range(nodes):
            block = m[k * p:(k + 1) * p, k * p:(k + 1) * p]
            procs.append(self.env.process(self._pairwise(
                block, lambda a, b, base=k * p: self._rank_route(base + a, base + b), intra_latency, tag)))
        if nodes > 1:
            by_node = m.reshape(nodes, p, nodes, p).sum(axis=(1, 3))
            procs.append(self.env.process(self._pairwise(by_node, self._node_route, self.net_link.latency_s, tag)))
        yield self.env.all_of(procs)
        return _last([pr.value for pr in procs])

    def _pairwise(self, block: np.ndarray, route_of: Callable[[int, int], Route], latency_s: float,
                  tag: str) -> Proc:
        m = block.shape[0]
        if m <= 1:
            return None
        env = self.env
        arrived = [[env.event() for _ in range(m)] for _ in range(m)]  # [round][sender]
        sizes = block.tolist()

        def participant(i: int) -> Generator[Any, Any, None]:
            for k in range(1, m):
                dst, src = (i + k) % m, (i - k) % m
                send = self.net.transfer(route_of(i, dst).channels, sizes[i][dst], latency_s, tag=tag)
                send.callbacks.append(lambda ev, slot=arrived[k][i]: slot.succeed(ev.value))
                yield env.all_of([arrived[k][i], arrived[k][src]])

        yield env.all_of([env.process(participant(i)) for i in range(m)])
        return _last([arrived[k][i].value for k in range(1, m) for i in range(m)])
