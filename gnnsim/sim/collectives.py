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
- **All-to-all**: a *coflow* of port flows. On a non-blocking switch (NVSwitch, a
  network switch) the only shared resources are the ports, so inside a node each rank
  sends its row total out of its fabric port and receives its column total into it;
  across nodes each node sends its off-node total up from its NIC (and on through its
  leaf's uplink for the part that leaves the leaf) and receives its total down the same
  way. Every port flow waits ``(m-1)`` latencies first, as a pairwise exchange of
  ``m`` participants does. Alone this is exactly the closed form ``(m-1) alpha +
  busiest port / bw``; with other traffic the ports are shared fairly. It is ``O(ranks)``
  flows instead of ``O(ranks^2)`` pair flows — what makes 1024 trainers simulable — at
  the price of not tracking which pair's bytes are late.

A calibrated collective library (``Node.collective``) has its own alpha and bandwidth;
its flows carry ``work = bytes x link_bw / library_bw`` so that alone they take
``bytes / library_bw`` (see :mod:`gnnsim.sim.network`).

Every method is a simpy process body: ``yield from`` it; it returns the flow that
finished last (whose bottleneck channel names what limited the collective).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from gnnsim.cost.collectives import ALLREDUCE, tree_depth
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
    def allreduce(self, size: float, algorithm: str, tag: str, latency_scale: float = 1.0) -> Proc:
        """All-reduce of ``size`` bytes; ``latency_scale`` multiplies its alpha (the
        calibrated library's factor for ranks that arrived apart, see
        :meth:`gnnsim.sim.host_effects.CollectiveStalls.latency_factor`)."""
        if self.cost.num_ranks <= 1 or size <= 0:
            return None
        plan = getattr(self, ALLREDUCE[self.cost.allreduce_algorithm(algorithm)].plan)  # the registry's flow plan
        return (yield from plan(size, tag, latency_scale))

    def _flat_alpha(self, latency_scale: float) -> float:
        """Alpha of one flat ring or tree over every rank: the slowest hop's."""
        return latency_scale * (self.alpha_in if self.nodes == 1 else max(self.alpha_in, self.net_link.latency_s))

    def ring_allreduce(self, size: float, tag: str, latency_scale: float = 1.0) -> Proc:
        """One ring over every rank: 2(n-1) steps, 2(n-1)/n of the buffer over each edge."""
        n = self.cost.num_ranks
        return (yield from self.ring(list(range(n)), 2 * (n - 1) / n * size, 2 * (n - 1) * self._flat_alpha(latency_scale),
                                     tag))

    def tree_allreduce_all(self, size: float, tag: str, latency_scale: float = 1.0) -> Proc:
        """A binary tree over every rank (:meth:`tree_allreduce`)."""
        return (yield from self.tree_allreduce(list(range(self.cost.num_ranks)), size, self._flat_alpha(latency_scale),
                                               tag))

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

    def hierarchical_allreduce(self, size: float, tag: str, latency_scale: float = 1.0) -> Proc:
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
    def alltoall(self, matrix: np.ndarray, tag: str, latency_scale: float = 1.0) -> Proc:
        """All-to-all of ``matrix[src, dst]`` bytes among all ranks, as a coflow of port flows.

        Inside each node every rank sends its row total out of its fabric port and
        receives its column total into it; across nodes every node sends its off-node
        total up the tree from its NIC and receives its total down to its NIC (see
        the module docstring). Alone, it takes the pairwise-exchange closed form.
        ``latency_scale`` multiplies its latencies (as for :meth:`allreduce`).
        """
        n = matrix.shape[0]
        if n <= 1:
            return None
        p, nodes = self.per_node, self.nodes
        m = np.where(np.eye(n, dtype=bool), 0.0, matrix)
        node_of = np.arange(n) // p
        same = node_of[:, None] == node_of[None, :]
        intra = np.where(same, m, 0.0)
        events = []
        if p > 1:
            latency = latency_scale * (p - 1) * self.cost.cluster.node.intra_link.latency_s
            out_b, in_b = intra.sum(1).tolist(), intra.sum(0).tolist()
            for r in range(n):
                up, down = self.topo.peer_port(r)
                events.append(self.net.transfer((up,), out_b[r], latency, tag=tag))
                events.append(self.net.transfer((down,), in_b[r], latency, tag=tag))
        if nodes > 1:
            inter = np.where(same, 0.0, m)
            by_node = inter.reshape(nodes, p, nodes, p).sum(axis=(1, 3))
            latency = latency_scale * (nodes - 1) * self.net_link.latency_s
            events += self._tree_halves(by_node, latency, tag)
        return (yield from self._wait_all(events))

    def _tree_halves(self, by_node: np.ndarray, latency: float, tag: str) -> list[simpy.Event]:
        """Node-to-node traffic split into each node's path up to the switch level it needs
        and each node's path down from it (the up and down channels of a tree are disjoint)."""
        events = []
        leaf_of = self.topo.leaf_of
        nodes = by_node.shape[0]
        leaves = np.array([leaf_of(k) for k in range(nodes)])
        cross = leaves[:, None] != leaves[None, :]
        near_out = np.where(cross, 0.0, by_node).sum(1).tolist()
        far_out = np.where(cross, by_node, 0.0).sum(1).tolist()
        near_in = np.where(cross, 0.0, by_node).sum(0).tolist()
        far_in = np.where(cross, by_node, 0.0).sum(0).tolist()
        for k in range(nodes):
            up_near, up_far, down_near, down_far = self.topo.node_halves(k)
            for route, size in ((up_near, near_out[k]), (up_far, far_out[k]), (down_near, near_in[k]),
                                (down_far, far_in[k])):
                if size > 0 or route is up_near or route is down_near:
                    events.append(self.net.transfer(route, size, latency, tag=tag))
        return events
