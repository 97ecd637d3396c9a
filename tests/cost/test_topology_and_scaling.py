"""Routes from the topology, the fetch plan's closed form, and what-if scaling."""

from dataclasses import replace

import numpy as np
import pytest

from gnnsim.cost.collectives import alltoall_time, ring_allreduce_time, tree_allreduce_time
from gnnsim.cost.model import CostModel, Exchange, HostWork
from gnnsim.cost.scaling import ScalingError, scale_cluster
from gnnsim.errors import ProfileError
from gnnsim.hardware.profiles import load_cluster
from gnnsim.hardware.topology import build_topology
from gnnsim.workload.builder import ID_BYTES, Task
from gnnsim.workload.tasks import Rows


def names(topo, route):
    return [topo.channels[c].name for c in route.channels]


def test_gpus_sharing_a_pcie_switch_share_its_uplink():
    topo = build_topology(load_cluster("a100-2x8-eth100"), gpus_per_pcie_switch=2)
    assert names(topo, topo.h2d_route(0)) == ["node0/pcie-switch0.down", "node0/pcie0.down"]
    assert names(topo, topo.h2d_route(1)) == ["node0/pcie-switch0.down", "node0/pcie1.down"]
    assert names(topo, topo.h2d_route(2))[0] == "node0/pcie-switch1.down"
    assert names(topo, topo.h2d_route(9)) == ["node1/pcie-switch0.down", "node1/pcie1.down"]


def test_own_pcie_link_without_a_switch():
    topo = build_topology(load_cluster("a100-2x8-eth100"), gpus_per_pcie_switch=1)
    assert names(topo, topo.h2d_route(3)) == ["node0/pcie3.down"]


def test_gpus_in_a_node_talk_over_their_fabric_ports():
    topo = build_topology(load_cluster("a100-2x8-eth100"))
    kind = topo.cluster.node.intra_link.kind
    r = topo.rank_route(1, 6)
    assert names(topo, r) == [f"node0/{kind}1.up", f"node0/{kind}6.down"]
    assert r.latency_s == topo.cluster.node.intra_link.latency_s


def test_single_switch_route_between_nodes():
    c = load_cluster("a100-2x8-eth100", num_nodes=3)
    topo = build_topology(c)
    r = topo.rank_route(0, 17)
    assert names(topo, r) == ["node0/nic.up", "node2/nic.down"]
    assert r.latency_s == c.network.latency_s
    assert topo.capacity_of(r) == c.network.bytes_per_s


def test_fat_tree_crosses_the_oversubscribed_uplinks():
    c = load_cluster("a100-2x8-eth100", num_nodes=8)
    topo = build_topology(c, fat_tree={"oversubscription": 2, "nodes_per_leaf": 4})
    assert names(topo, topo.node_route(0, 3)) == ["node0/nic.up", "node3/nic.down"]  # same leaf
    far = topo.node_route(1, 6)
    assert names(topo, far) == ["node1/nic.up", "net/leaf0.up", "net/leaf1.down", "node6/nic.down"]
    uplink = topo.channels[far.channels[1]].capacity
    assert uplink == pytest.approx(4 * c.network.bytes_per_s / 2)
    up_near, up_far, down_near, down_far = topo.node_halves(1)
    assert names(topo, type(far)(up_far, 0)) == ["node1/nic.up", "net/leaf0.up"]
    assert names(topo, type(far)(down_far, 0)) == ["net/leaf0.down", "node1/nic.down"]


def test_route_by_endpoint_names():
    topo = build_topology(load_cluster("a100-2x8-eth100"), gpus_per_pcie_switch=2)
    assert names(topo, topo.route("node1/host", "rank9")) == names(topo, topo.h2d_route(9))
    assert names(topo, topo.route("rank0", "rank8")) == ["node0/nic.up", "node1/nic.down"]


def test_bad_optional_key_is_a_profile_error(tmp_path, monkeypatch):
    import shutil

    from gnnsim.hardware.profiles import profile_root
    from gnnsim.hardware.topology import topology_for

    root = tmp_path / "hw"
    shutil.copytree(profile_root(), root)
    path = root / "clusters" / "a100-2x8-eth100.yaml"
    path.write_text(path.read_text() + "\nfat_tree: 3\n")
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(root))
    with pytest.raises(ProfileError, match="fat_tree"):
        topology_for(load_cluster("a100-2x8-eth100"))


def test_fetch_times_evaluates_the_plan():
    cost = CostModel(load_cluster("localhost-cpu"))
    tasks = [Task("fetch", "collective", rows=Rows((100, 40), 512, local_rows=100)),
             Task("fetch", "collective", rows=Rows((10, 70), 512, local_rows=70))]
    plan = cost.fetch_plan(tasks)
    assert [type(p) for p in plan][:3] == [Exchange, Exchange, HostWork]
    link = cost.cluster.node.intra_link
    a2a = [alltoall_time(p.matrix, link.latency_s, link.bytes_per_s) for p in plan if isinstance(p, Exchange)]
    rows = np.array([[0, 40], [10, 0]], dtype=float)
    assert plan[1].matrix == pytest.approx(rows * ID_BYTES)
    g = cost.gather_time
    shared = sum(a2a) + max(g(10, 512), g(40, 512))
    expected = [shared + 2 * g(100, 512) + g(40, 512), shared + 2 * g(70, 512) + g(10, 512)]
    assert cost.fetch_times(tasks) == pytest.approx(expected, rel=1e-12)


def test_allreduce_algorithms_closed_forms():
    cost = CostModel(load_cluster("a100-2x8-eth100", num_nodes=1))
    link = cost.cluster.node.intra_link
    assert cost.allreduce_algorithm() == "ring"
    assert cost.allreduce_time(1e8) == pytest.approx(ring_allreduce_time(1e8, 8, link.latency_s, link.bytes_per_s))
    assert cost.allreduce_time(1e8, "tree") == pytest.approx(tree_allreduce_time(1e8, 8, link.latency_s,
                                                                                   link.bytes_per_s))
    # binary tree on 8 ranks: depth 3, parents with two children move 2S per phase
    assert tree_allreduce_time(1e8, 8, 1e-5, 1e10) == pytest.approx(6e-5 + 4 * 1e8 / 1e10)
    with pytest.raises(ValueError):
        cost.allreduce_time(1.0, "butterfly")


def test_scaling_knobs():
    c = load_cluster("a100-2x8-eth100")
    fast = scale_cluster(c, {"network.bw": 2, "gpu.peak": 1.5, "pcie.bw": 2, "cpu.sampling": 4})
    assert fast.network.bw_gbps == 2 * c.network.bw_gbps
    assert fast.node.h2d_link.bw_gbps == 2 * c.node.h2d_link.bw_gbps
    k0, k1 = c.node.trainer_device.kernels["gemm"], fast.node.trainer_device.kernels["gemm"]
    assert k1.flops_per_s == pytest.approx(1.5 * k0.flops_per_s) and k1.bytes_per_s == k0.bytes_per_s
    assert fast.node.sampler.per_edge_s == pytest.approx(c.node.sampler.per_edge_s / 4)
    with pytest.raises(ScalingError, match="network.bw"):
        scale_cluster(c, {"network.bandwidth": 2})
    with pytest.raises(ScalingError):
        scale_cluster(c, {"network.bw": 0})


def test_intra_latency_knob_scales_the_collectives_alpha():
    from gnnsim.hardware.profiles import Collective

    c = load_cluster("localhost-cpu")
    c = replace(c, node=replace(c.node, collective=Collective(4e-4, 1e9)))
    slow = scale_cluster(c, {"intra.latency": 0.5})  # collectives twice as slow to start
    assert slow.node.collective.alpha_s == pytest.approx(8e-4) and slow.node.collective.bytes_per_s == 1e9
    assert slow.node.intra_link.latency_us == pytest.approx(2 * c.node.intra_link.latency_us)
    assert slow.network.latency_us == pytest.approx(2 * c.network.latency_us)  # one node: the same path


def test_scaled_cost_model_halves_compute():
    from gnnsim.workload import kernels as m

    c = load_cluster("a100-2x8-eth100")
    task = Task("forward", "gpu_kernel", kernels=(m.gemm(4096, 512, 512), m.aggregate(100000, 4096, 512)))
    base = CostModel(c)
    assert base.scaled({"gpu.compute": 2}).compute_time(task) == pytest.approx(base.compute_time(task) / 2)


def test_faster_compute_also_shrinks_a_kernels_fixed_costs():
    """A whole machine running faster (the validation harness's drift correction) speeds
    up an aggregation's cost per edge and a gather's first touch, and every term of the
    sampler, not only the rates."""
    from gnnsim.hardware.profiles import SamplerCost

    c = load_cluster("a100-2x8-eth100")
    dev = c.node.trainer_device
    kernels = {cls: replace(k, per_item_s=2e-8, first_touch_s_per_byte=1e-10) for cls, k in dev.kernels.items()}
    sampler = SamplerCost(1e-4, 1e-8, 5e-8, per_edge_doubling_s=1e-8, reference_nodes=8000)
    c = replace(c, node=replace(c.node, trainer_device=replace(dev, kernels=kernels), sampler=sampler))
    fast = scale_cluster(c, {"gpu.compute": 2, "cpu.sampling": 2})
    agg = fast.node.trainer_device.kernels["aggregate"]
    assert agg.per_item_s == pytest.approx(1e-8) and agg.first_touch_s_per_byte == pytest.approx(5e-11)
    assert fast.node.sampler.per_edge_doubling_s == pytest.approx(5e-9)
    assert fast.node.sampler.edge_cost_s(32000) == pytest.approx(c.node.sampler.edge_cost_s(32000) / 2)
