"""Software profiles: named framework overheads, and how the cost model charges them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gnnsim.config import scenario_from_dict
from gnnsim.cost.model import CostModel
from gnnsim.errors import ProfileError, ScenarioError
from gnnsim.hardware.profiles import SamplerCost, load_cluster
from gnnsim.hardware.software import SoftwareProfile, load_software
from gnnsim.workload.builder import Task
from gnnsim.workload.tasks import Sampling
from gnnsim.workload.kernels import Kernel

ROOT = Path(__file__).resolve().parents[2]


def test_torch_is_the_zero_reference():
    torch = load_software("torch")
    assert torch.iteration_overhead_s(2) == 0.0
    base = SamplerCost(3e-4, 1.5e-7, 4e-8)
    assert torch.sampler_cost(base) == base


def test_dgl_and_pyg_overheads_by_stage():
    for name in ("dgl", "pyg"):
        sw = load_software(name)
        data = yaml.safe_load((ROOT / f"hwprofiles/software/{name}.yaml").read_text())
        o, s = data["overheads"], data["sampler"]
        layers = 3
        assert sw.stage_overhead_s("forward", layers) == pytest.approx(o["per_layer_forward_us"] * layers * 1e-6)
        assert sw.stage_overhead_s("backward", layers) == pytest.approx(o["per_layer_backward_us"] * layers * 1e-6)
        # the per-iteration loader overhead is sampling work, not the optimizer's (issue 22)
        assert sw.stage_overhead_s("sample", layers) == pytest.approx(o["per_iteration_us"] * 1e-6)
        assert sw.iteration_overhead_s(layers) == pytest.approx(
            (o["per_iteration_us"] + layers * (o["per_layer_forward_us"] + o["per_layer_backward_us"])) * 1e-6)
        assert sw.sampler_scale == s["edge_scale"]
        assert all(sw.stage_overhead_s(st, layers) == 0.0 for st in ("optimizer", "fetch", "h2d", "allreduce"))


def test_cost_model_charges_the_overhead_to_its_stages():
    cluster = load_cluster("dgx-a100-80gb-1")
    plain = CostModel(cluster)
    dgl = load_software("dgl")
    framed = CostModel(cluster).with_software(dgl, 2)
    fwd = Task("forward", "gpu_kernel", kernels=(Kernel("gemm", 2e9, 4e6),))
    opt = Task("optimizer", "gpu_kernel", kernels=(Kernel("elementwise", 1e6, 8e6),))
    assert framed.compute_time(fwd) - plain.compute_time(fwd) == pytest.approx(2 * dgl.per_layer_forward_s)
    assert framed.compute_time(opt) == pytest.approx(plain.compute_time(opt))
    sample = Task("sample", "cpu_sample", sampling=Sampling(1024, nodes=10_000, edges=50_000))
    s = cluster.node.sampler
    expected = (s.per_batch_s + dgl.sampler_per_batch_s + s.per_node_s * dgl.sampler_node_scale * 10_000
                + s.per_edge_s * dgl.sampler_edge_scale * 50_000 + dgl.per_iteration_s)
    assert framed.sample_time(sample) == pytest.approx(expected)
    # a what-if copy keeps the framework
    assert framed.scaled({}).software is dgl


def test_torch_profile_leaves_every_duration_unchanged():
    cluster = load_cluster("localhost-cpu")
    plain, torch = CostModel(cluster), CostModel(cluster).with_software(load_software("torch"), 2)
    for task in (Task("forward", "cpu_compute", kernels=(Kernel("aggregate", 1e6, 1e7),)),
                 Task("optimizer", "cpu_compute", kernels=(Kernel("elementwise", 1e5, 1e6),)),
                 Task("sample", "cpu_sample", sampling=Sampling(64, nodes=500, edges=2000))):
        timing = plain.sample_time if task.stage == "sample" else plain.compute_time
        again = torch.sample_time if task.stage == "sample" else torch.compute_time
        assert timing(task) == again(task)


def test_scenario_framework_field():
    assert scenario_from_dict({}).training.framework == "torch"
    assert scenario_from_dict({"training": {"framework": "pyg"}}).training.framework == "pyg"
    with pytest.raises(ScenarioError, match="training.framework"):
        scenario_from_dict({"training": {"framework": "jax"}})


def test_bad_software_profile(catalog):
    catalog.edit("software/dgl.yaml", lambda d: d["overheads"].update(per_iteration_us=-5))
    with pytest.raises(ProfileError, match=r"dgl.yaml: overheads: 'per_iteration_us' must be >= 0"):
        load_software("dgl")
    catalog.edit("software/dgl.yaml", lambda d: d["overheads"].update(per_iteration_us=5, per_layer_us=5))
    with pytest.raises(ProfileError, match=r"unknown key 'overheads.per_layer_us'"):
        load_software("dgl")
    with pytest.raises(ProfileError, match=r"unknown software profile 'mxnet'"):
        load_software("mxnet")


def test_sampler_cost_closed_form():
    p = SoftwareProfile("x", "pyg", sampler_per_batch_s=2e-4, sampler_node_scale=2.0, sampler_edge_scale=0.25)
    out = p.sampler_cost(SamplerCost(1e-4, 1e-7, 8e-8))
    assert (out.per_batch_s, out.per_node_s, out.per_edge_s) == pytest.approx((3e-4, 2e-7, 2e-8))


def test_the_sampler_prices_its_hops_draws_and_checks_where_calibrated():
    from dataclasses import replace

    from gnnsim.workload.builder import Task

    plain = CostModel(load_cluster("localhost-cpu"))
    task = Task("sample", "cpu_sample", sampling=Sampling(nodes=1000, edges=8000, hops=2, draws=12, checks=5000.0))
    base = plain.sample_time(task)
    node = replace(plain.cluster.node, sampler=replace(plain.cluster.node.sampler, per_hop_s=1e-4, per_draw_s=2e-6,
                                                         per_check_s=3e-9))
    priced = CostModel(replace(plain.cluster, node=node)).sample_time(task)
    assert priced - base == pytest.approx(2 * 1e-4 + 12 * 2e-6 + 5000 * 3e-9)
    assert SamplerCost(1e-4, 1e-8, 1e-8, per_hop_s=1e-4).faster(2).per_hop_s == pytest.approx(5e-5)


def test_a_full_batch_chain_pays_the_per_layer_overheads_once_per_layer():
    """Full-batch runs each layer as its own task: a framework's per-layer overhead is
    charged once per layer, as for a mini-batch's one forward task of every layer."""
    from gnnsim.workload.builder import Task

    dgl = load_software("dgl")
    framed = CostModel(load_cluster("localhost-cpu")).with_software(dgl, 3)
    whole = Task("forward", "cpu_compute")
    per_layer = [Task("forward", "cpu_compute", layers=1) for _ in range(3)]
    assert sum(framed.compute_time(t) for t in per_layer) == pytest.approx(framed.compute_time(whole))
    assert framed.compute_time(whole) == pytest.approx(3 * dgl.per_layer_forward_s)
