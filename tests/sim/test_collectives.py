"""Collectives executed as flows reproduce their closed forms when nothing else runs."""

import numpy as np
import pytest
import simpy

from gnnsim.cost.collectives import (allgather_time, alltoall_time, hierarchical_allreduce_time, ring_allreduce_time,
                                     tree_allreduce_time)
from gnnsim.cost.model import CostModel
from gnnsim.hardware.profiles import Collective, Stalls, load_cluster
from gnnsim.sim.collectives import Collectives
from gnnsim.sim.network import Network


def elapsed(cost, body):
    env = simpy.Environment()
    topo = cost.topology
    net = Network(env, topo.capacities, topo.names)
    coll = Collectives(env, net, topo, cost)
    finished = []

    def runner():
        yield from body(coll)
        finished.append(env.now)  # not env.now after run(): superseded finish timers may fire later

    env.process(runner())
    env.run()
    return finished[0], net


@pytest.mark.parametrize("trainers", [2, 4, 8])
def test_ring_allreduce_matches_closed_form(trainers):
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=trainers))
    link = cost.cluster.node.intra_link
    size = 64e6
    t, net = elapsed(cost, lambda c: c.allreduce(size, "ring", "allreduce"))
    n, alpha, bw = trainers, link.latency_s, link.bytes_per_s
    assert t == pytest.approx(2 * (n - 1) / n * size / bw + 2 * (n - 1) * alpha, rel=1e-9)
    assert t == pytest.approx(ring_allreduce_time(size, n, alpha, bw), rel=1e-9)
    # every ring edge carried 2(n-1)/n of the buffer
    assert sum(net.bytes) == pytest.approx(n * 2 * (n - 1) / n * size * 2)  # up and down channel of each edge


def test_calibrated_collective_bandwidth_is_used_even_above_the_link():
    c = load_cluster("localhost-cpu")
    node = c.node
    faster = Collective(alpha_s=100e-6, bytes_per_s=node.intra_link.bytes_per_s * 1.7)
    from dataclasses import replace
    cost = CostModel(replace(c, node=replace(node, collective=faster)))
    t, _ = elapsed(cost, lambda col: col.allreduce(10e6, "auto", "allreduce"))
    assert t == pytest.approx(ring_allreduce_time(10e6, 2, faster.alpha_s, faster.bytes_per_s), rel=1e-9)
    assert t == pytest.approx(cost.allreduce_time(10e6), rel=1e-9)


@pytest.mark.parametrize("trainers", [2, 3, 7, 8])
def test_tree_allreduce_matches_closed_form(trainers):
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=trainers))
    link = cost.cluster.node.intra_link
    t, _ = elapsed(cost, lambda c: c.allreduce(8e6, "tree", "allreduce"))
    assert t == pytest.approx(tree_allreduce_time(8e6, trainers, link.latency_s, link.bytes_per_s), rel=1e-9)
    assert t == pytest.approx(cost.allreduce_time(8e6, "tree"), rel=1e-9)


@pytest.mark.parametrize("nodes", [2, 4])
def test_hierarchical_allreduce_matches_closed_form(nodes):
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=nodes))
    node, net = cost.cluster.node, cost.cluster.network
    t, _ = elapsed(cost, lambda c: c.allreduce(100e6, "auto", "allreduce"))
    expected = hierarchical_allreduce_time(100e6, node.trainers, nodes, node.intra_link.latency_s,
                                           node.intra_link.bytes_per_s, net.latency_s, net.bytes_per_s)
    assert t == pytest.approx(expected, rel=1e-9)
    assert t == pytest.approx(cost.allreduce_time(100e6), rel=1e-9)


def test_allgather_matches_closed_form():
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=1))
    link = cost.cluster.node.intra_link
    t, _ = elapsed(cost, lambda c: c.allgather(32e6, "x"))
    assert t == pytest.approx(allgather_time(32e6, 8, link.latency_s, link.bytes_per_s), rel=1e-9)


def test_alltoall_two_ranks_is_latency_plus_larger_direction():
    cost = CostModel(load_cluster("localhost-cpu"))
    link = cost.cluster.node.intra_link
    m = np.array([[0.0, 3e6], [1e6, 0.0]])
    t, net = elapsed(cost, lambda c: c.alltoall(m, "fetch"))
    assert t == pytest.approx(link.latency_s + 3e6 / link.bytes_per_s, rel=1e-9)
    assert t == pytest.approx(alltoall_time(m, link.latency_s, link.bytes_per_s), rel=1e-9)
    assert sum(net.bytes) == pytest.approx(2 * 4e6)  # each byte crosses a sender's up and a receiver's down port


def test_uniform_alltoall_matches_pairwise_closed_form():
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=1))
    link = cost.cluster.node.intra_link
    m = np.full((8, 8), 2e6)
    t, _ = elapsed(cost, lambda c: c.alltoall(m, "fetch"))
    assert t == pytest.approx(alltoall_time(m, link.latency_s, link.bytes_per_s), rel=1e-9)


def test_cross_node_alltoall_runs_over_the_nics_with_node_totals():
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=2))
    net_link = cost.cluster.network
    m = np.zeros((16, 16))
    m[0, 8] = m[1, 9] = 5e6  # node 0 -> node 1: 10 MB through node 0's NIC
    t, net = elapsed(cost, lambda c: c.alltoall(m, "fetch"))
    intra = 7 * cost.cluster.node.intra_link.latency_s  # the (empty) rounds inside each node run meanwhile
    assert t == pytest.approx(max(intra, net_link.latency_s + 10e6 / net_link.bytes_per_s), rel=1e-9)
    nic_up = cost.topology.names.index("node0/nic.up")
    assert net.bytes[nic_up] == pytest.approx(10e6)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**31 - 1), st.booleans())
def test_alltoall_bytes_sent_equal_bytes_received(nodes, per_node, seed, fat_tree):
    from gnnsim.hardware.topology import build_topology

    cluster = load_cluster("a100-2x8-eth100", num_nodes=nodes, trainers_per_node=per_node)
    cost = CostModel(cluster)
    cost._topology = build_topology(cluster, fat_tree={"oversubscription": 3, "nodes_per_leaf": 1} if fat_tree else None)
    n = cluster.num_trainers
    m = np.random.default_rng(seed).integers(0, 10**6, size=(n, n)).astype(float)
    _, net = elapsed(cost, lambda c: c.alltoall(m, "fetch"))
    names = cost.topology.names
    node_of = np.arange(n) // per_node
    same = node_of[:, None] == node_of[None, :]
    intra = np.where(same & ~np.eye(n, dtype=bool), m, 0.0).sum()
    inter = np.where(same, 0.0, m).sum()
    by = {suffix: sum(b for name, b in zip(names, net.bytes) if name.endswith(suffix) and "/nic" in name)
          for suffix in (".up", ".down")}
    assert by[".up"] == pytest.approx(inter) and by[".down"] == pytest.approx(inter)
    kind = cluster.node.intra_link.kind
    fabric_up = sum(b for name, b in zip(names, net.bytes) if f"/{kind}" in name and name.endswith(".up"))
    fabric_down = sum(b for name, b in zip(names, net.bytes) if f"/{kind}" in name and name.endswith(".down"))
    assert fabric_up == pytest.approx(intra) and fabric_down == pytest.approx(intra)
    if fat_tree and nodes > 1:  # one node per leaf: every off-node byte crosses two leaf uplinks
        leaf = sum(b for name, b in zip(names, net.bytes) if name.startswith("net/leaf"))
        assert leaf == pytest.approx(2 * inter)


def test_oversubscribed_fat_tree_slows_a_uniform_alltoall():
    # 8 nodes, 4 per leaf, 2:1: each node sends S to each other node. Its NIC carries 7S,
    # but each leaf uplink carries 4 nodes x 4S = 16S at 4 x bw / 2: 8S / bw.
    from gnnsim.hardware.topology import build_topology

    cluster = load_cluster("a100-2x8-eth100", num_nodes=8, trainers_per_node=1)
    net_link = cluster.network
    s = 1e6
    m = np.full((8, 8), s)
    times = {}
    for oversub in (1, 2):
        cost = CostModel(cluster)
        cost._topology = build_topology(cluster, fat_tree={"oversubscription": oversub, "nodes_per_leaf": 4})
        times[oversub], _ = elapsed(cost, lambda c: c.alltoall(m, "fetch"))
    latency = 7 * net_link.latency_s
    assert times[1] == pytest.approx(latency + 7 * s / net_link.bytes_per_s, rel=1e-9)
    assert times[2] == pytest.approx(latency + 8 * s / net_link.bytes_per_s, rel=1e-9)


def test_latency_scale_multiplies_alpha_only():
    """A collective whose ranks arrived apart (``latency_scale`` < 1) saves on alpha, not
    on the bytes; the all-to-all's latencies scale the same way."""
    c = load_cluster("localhost-cpu")
    from dataclasses import replace
    coll = Collective(alpha_s=400e-6, bytes_per_s=1e9)
    stalls = Stalls(spread_floor=0.25, spread_s=50e-6)
    cost = CostModel(replace(c, node=replace(c.node, collective=coll)))
    together, _ = elapsed(cost, lambda col: col.allreduce(1e6, "auto", "allreduce"))
    apart, _ = elapsed(cost, lambda col: col.allreduce(1e6, "auto", "allreduce",
                                                       latency_scale=stalls.spread_factor(1.0)))
    assert together - apart == pytest.approx(2 * 400e-6 * 0.75, rel=1e-6)  # 2 steps of alpha, 3/4 of each saved
    matrix = np.array([[0.0, 1e5], [1e5, 0.0]])
    a2a_together, _ = elapsed(cost, lambda col: col.alltoall(matrix, "fetch"))
    a2a_apart, _ = elapsed(cost, lambda col: col.alltoall(matrix, "fetch", latency_scale=0.5))
    assert a2a_together - a2a_apart == pytest.approx(0.5 * c.node.intra_link.latency_s, rel=1e-6)
