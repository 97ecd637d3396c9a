"""Strict profile checking, and calibrated profiles standing in for datasheet devices."""

from __future__ import annotations


import numpy as np
import pytest
import yaml

from gnnsim.errors import ProfileError
from gnnsim.hardware.profiles import ALLOWED_KEYS, allow_keys, list_profiles, load_cluster, load_device, load_link, load_node



def test_negative_bandwidth_names_file_key_and_fix(catalog):
    catalog.edit("links/ib-hdr.yaml", lambda d: d.update(bw_gbps=-25, bw_basis=None))
    with pytest.raises(ProfileError) as err:
        load_link("ib-hdr")
    msg = str(err.value)
    assert "ib-hdr.yaml" in msg and "'bw_gbps'" in msg and "> 0" in msg and "Fix" in msg


def test_unknown_key_suggests_the_spelling(catalog):
    def misspell(d):
        d["mem_bw_gpbs"] = d.pop("mem_bw_gbps")
    catalog.edit("devices/t4-16gb.yaml", misspell)
    with pytest.raises(ProfileError) as err:
        load_device("t4-16gb")
    msg = str(err.value)
    assert "t4-16gb.yaml" in msg and "unknown key 'mem_bw_gpbs'" in msg and "Did you mean 'mem_bw_gbps'" in msg


def test_unknown_nested_key_is_named_with_its_path(catalog):
    catalog.edit("devices/l4-24gb.yaml", lambda d: d["kernels"]["gemm"].update(lanch_us=3))
    with pytest.raises(ProfileError, match=r"l4-24gb.yaml: unknown key 'kernels.gemm.lanch_us'.*launch_us"):
        load_device("l4-24gb")
    catalog.edit("devices/l4-24gb.yaml", lambda d: (d["kernels"]["gemm"].pop("lanch_us"),
                                                     d["peak_tflops"].update(fp16=1)))
    with pytest.raises(ProfileError, match=r"peak_tflops.fp16.*float16"):
        load_device("l4-24gb")


def test_missing_sources(catalog):
    catalog.edit("nodes/g5.8xlarge.yaml", lambda d: d.pop("sources"))
    with pytest.raises(ProfileError, match=r"g5.8xlarge.yaml: missing 'sources:'"):
        load_node("g5.8xlarge")


def test_number_without_a_source(catalog):
    catalog.edit("links/nvlink4.yaml", lambda d: d.update(measured_bw_gbps=400))
    with pytest.raises(ProfileError, match=r"nvlink4.yaml: no source covers measured_bw_gbps"):
        load_link("nvlink4")


def test_source_covering_a_missing_key(catalog):
    catalog.edit("links/nvlink4.yaml", lambda d: d["sources"][0]["covers"].append("measured_bw_gbps"))
    with pytest.raises(ProfileError, match=r"cover measured_bw_gbps, which is not a number"):
        load_link("nvlink4")


def test_source_needs_a_basis(catalog):
    catalog.edit("links/nvlink4.yaml", lambda d: d["sources"][0].update(basis="datasheet"))
    with pytest.raises(ProfileError, match=r"sources\[0\]: 'basis' must be one of nominal, measured"):
        load_link("nvlink4")


def test_bw_basis_must_name_the_figure_used(catalog):
    catalog.edit("links/pcie4-x16.yaml", lambda d: d.update(bw_gbps=32))
    with pytest.raises(ProfileError, match=r"bw_basis is measured but bw_gbps \(32.0\) is not measured_bw_gbps"):
        load_link("pcie4-x16")


def test_efficiency_above_one(catalog):
    catalog.edit("devices/t4-16gb.yaml", lambda d: d["kernels"]["gather"].update(memory_eff=1.5))
    with pytest.raises(ProfileError, match=r"kernels.gather: 'memory_eff' is a share of peak"):
        load_device("t4-16gb")


def test_plain_string_sources_still_load(catalog):
    """Calibration runs and older profiles give sources as strings: no coverage check."""
    catalog.edit("links/ib-ndr.yaml", lambda d: d.update(sources=["a datasheet"]))
    assert load_link("ib-ndr").sources == ("a datasheet",)


def test_topology_keys_are_allowed(catalog):
    catalog.edit("nodes/dgx-h100.yaml", lambda d: d.update(gpus_per_pcie_switch=2))
    catalog.edit("clusters/h100-4x8-ib-ndr.yaml",
         lambda d: (d.update(fat_tree={"oversubscription": 2, "nodes_per_leaf": 2}),
                    d["sources"][0]["covers"].extend(["fat_tree"])))
    data = yaml.safe_load((catalog / "nodes/dgx-h100.yaml").read_text())
    data["sources"][0]["covers"].append("gpus_per_pcie_switch")
    (catalog / "nodes/dgx-h100.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_cluster("h100-4x8-ib-ndr").num_trainers == 32


def test_allow_keys_extends_a_place(catalog):
    catalog.edit("clusters/p4d-2-efa.yaml", lambda d: d.update(placement_group="cluster"))
    with pytest.raises(ProfileError, match="placement_group"):
        load_cluster("p4d-2-efa")
    allow_keys("clusters", "placement_group")
    try:
        assert load_cluster("p4d-2-efa").num_nodes == 2
    finally:
        ALLOWED_KEYS["clusters"].discard("placement_group")


# -- calibrated profiles ------------------------------------------------------------------

GPU_CAL = {
    "name": "gpu-box",
    "device": {
        "name": "calibrated-gpu-box", "kind": "gpu", "memory_bytes": 80 * 2**30, "mem_bw_gbps": 1800.0,
        "peak_tflops": {"float32": 17.0},
        "kernels": {cls: {"launch_us": 6.0, "tflops": 12.0, "gbps": 1500.0}
                    for cls in ("gemm", "aggregate", "gather", "elementwise")},
    },
    "sources": ["gnnsim calibrate --device cuda on a test box (measured)"],
    "sampler": {"per_batch_us": 100.0, "per_node_ns": 50.0, "per_edge_ns": 20.0},
    "h2d_link": {"bw_gbps": 22.0, "latency_us": 12.0},
    "intra_link": {"kind": "nvlink", "bw_gbps": 250.0, "latency_us": 5.0},
    "allreduce": {"alpha_us": 20.0, "gbps": 180.0, "over": "nvlink"},
}


def test_calibrated_gpu_profile_stands_in_for_the_datasheet_device(catalog):
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(GPU_CAL))
    c = load_cluster("a100-8x8-ib-hdr", device_profile="calibrated/gpu-box")
    node = c.node
    assert node.trainer_device.name == "calibrated-gpu-box" and node.trainer_device.kind == "gpu"
    assert node.trainer_device.kernel("gemm").flops_per_s == 12e12
    assert node.sampler.per_edge_s == pytest.approx(20e-9)
    assert node.h2d_link.bw_gbps == 22.0 and node.h2d_link.kind == "pcie"
    # measured over NVLink: applies to the node's NVSwitch (same fabric), keeps the node's link kind
    assert node.intra_link.bw_gbps == 250.0 and node.intra_link.kind == "nvswitch"
    assert node.collective.alpha_s == pytest.approx(20e-6) and node.collective.bytes_per_s == 180e9
    # the network and node layout stay the catalog's
    assert c.num_trainers == 64 and c.network.bw_gbps == 200.0


def test_gloo_calibration_never_replaces_nvlink(catalog):
    cpu = {**GPU_CAL, "intra_link": {"bw_gbps": 1.0, "latency_us": 90.0},
           "allreduce": {"alpha_us": 80.0, "gbps": 1.5}}  # no kind/over: measured on loopback
    (catalog / "calibrated/laptop.yaml").write_text(yaml.safe_dump(cpu))
    node = load_node("dgx-a100-80gb", device_override="calibrated/laptop")
    assert node.intra_link.name == "nvswitch-a100" and node.intra_link.bw_gbps == 300.0
    assert node.collective is None
    assert node.sampler.per_batch_s == pytest.approx(100e-6)  # host costs do carry over
    # ...while on a loopback node (the CPU validation path) they apply as before
    local = load_node("localhost", device_override="calibrated/laptop")
    assert local.intra_link.bw_gbps == 1.0 and local.collective.bytes_per_s == 1.5e9


def _crowded_cpu(catalog, crowded) -> None:
    cpu = {**GPU_CAL, "intra_link": {"bw_gbps": 1.0, "latency_us": 500.0},
           "allreduce": {"alpha_us": 400.0, "gbps": 1.0, "wakeup_us": 60.0, "idle_threshold_us": 300.0},
           "oversubscribed": crowded}
    (catalog / "calibrated/crowded.yaml").write_text(yaml.safe_dump(cpu))


def test_oversubscribed_collectives_apply_when_trainers_outnumber_cores(catalog):
    _crowded_cpu(catalog, {"processes": 4, "cores": 2, "intra_link": {"latency_us": 1000.0, "bw_gbps": 1.0},
                           "allreduce": {"alpha_us": 450.0, "gbps": 0.8}})
    two = load_cluster("localhost-cpu", device_profile="calibrated/crowded")  # 2 trainers, 2 cores
    assert two.node.intra_link.latency_us == 500.0
    assert two.node.collective.alpha_s == pytest.approx(400e-6) and two.node.host_effects.wakeup_s == pytest.approx(60e-6)
    four = load_cluster("localhost-cpu", trainers_per_node=4, device_profile="calibrated/crowded")
    assert four.node.intra_link.latency_us == pytest.approx(1000.0)
    assert four.node.collective.alpha_s == pytest.approx(450e-6) and four.node.collective.bytes_per_s == pytest.approx(0.8e9)
    assert four.node.host_effects.wakeup_s == 0.0  # part of the crowded means
    three = load_cluster("localhost-cpu", trainers_per_node=3, device_profile="calibrated/crowded")
    assert three.node.intra_link.latency_us == pytest.approx(750.0)
    eight = load_cluster("localhost-cpu", trainers_per_node=8, device_profile="calibrated/crowded")
    assert eight.node.collective.alpha_s == pytest.approx(450e-6)  # held at the measured crowding


def test_malformed_oversubscribed_block_names_the_file_and_the_fix(catalog):
    _crowded_cpu(catalog, {"processes": 2, "cores": 2, "intra_link": {"latency_us": 1.0, "bw_gbps": 1.0},
                           "allreduce": {"alpha_us": 1.0, "gbps": 1.0}})
    with pytest.raises(ProfileError, match=r"crowded.yaml: oversubscribed.*'processes' must exceed 'cores'"):
        load_cluster("localhost-cpu", device_profile="calibrated/crowded")
    _crowded_cpu(catalog, [4, 2])
    with pytest.raises(ProfileError, match=r"crowded.yaml.*'oversubscribed' must be a mapping.*Recalibrate"):
        load_cluster("localhost-cpu", device_profile="calibrated/crowded")


def test_calibrated_device_reads_top_level_sources(catalog):
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(GPU_CAL))
    assert load_device("calibrated/gpu-box").sources == GPU_CAL["sources"]


def test_shipped_calibrated_profiles_work_in_a_gpu_cluster():
    from gnnsim.hardware.profiles import list_profiles

    for name in list_profiles().get("calibrated", []):
        c = load_cluster("dgx-a100-80gb-1", device_profile=f"calibrated/{name}")
        assert c.node.trainer_device.name and c.node.intra_link.kind == "nvswitch"


def test_framework_cost_per_kernel_is_read_and_checked(catalog):
    with_cost = {**GPU_CAL, "device": {**GPU_CAL["device"], "framework_us_per_kernel": {"forward": 40.0, "backward": 55.0}}}
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(with_cost))
    device = load_device("calibrated/gpu-box")
    assert device.framework_s("forward") == pytest.approx(40e-6) and device.framework_s("backward") == pytest.approx(55e-6)
    assert device.framework_s("optimizer") == 0.0  # not measured: nothing added
    bad = {**GPU_CAL, "device": {**GPU_CAL["device"], "framework_us_per_kernel": {"forwards": 40.0}}}
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ProfileError, match=r"gpu-box.yaml.*'framework_us_per_kernel.forwards'.*forward"):
        load_device("calibrated/gpu-box")
    negative = {**GPU_CAL, "device": {**GPU_CAL["device"], "framework_us_per_kernel": {"forward": -3.0}}}
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(negative))
    with pytest.raises(ProfileError, match="forward"):
        load_device("calibrated/gpu-box")


def test_first_touch_applies_only_above_its_threshold(catalog):
    box = {**GPU_CAL, "host_gather": {"launch_us": 5.0, "gbps": 10.0, "first_touch_us_per_mb": 500.0,
                                      "first_touch_above_mb": 32.0}}
    (catalog / "calibrated/gpu-box.yaml").write_text(yaml.safe_dump(box))
    gather = load_node("dgx-a100-80gb", device_override="calibrated/gpu-box").host_gather
    from gnnsim.workload.kernels import aggregate, gather as gather_rows
    assert gather.first_touch_s(gather_rows(78_125, 64)) == 0.0  # 20 MB: reused heap memory
    assert gather.first_touch_s(gather_rows(156_250, 64)) == pytest.approx(40 * 500e-6)  # 40 MB: mapped afresh
    # a kernel's allocations are judged one by one: an aggregation's 38.4 MB of gathered
    # rows fault, its 3.8 MB accumulator does not
    assert gather.first_touch_s(aggregate(150_000, 15_000, 64)) == pytest.approx(38.4 * 500e-6)


# -- CPU sharing: a calibrated node's effective cores, nodes that share a host ----------------

def with_cpu_sharing(catalog, block) -> None:
    cpu = {**GPU_CAL, "device": {**GPU_CAL["device"], "kind": "cpu"}, "cpu_sharing": block}
    (catalog / "calibrated/vm.yaml").write_text(yaml.safe_dump(cpu))


def test_cpu_sharing_gives_the_node_its_measured_effective_cores(catalog):
    # two busy processes measured 0.95 cores' worth: each of the node's cores is worth 0.475
    with_cpu_sharing(catalog, {"effective_cores": 0.95, "demand_cores": 2, "processes": 2, "threads": 1})
    assert load_node("localhost", device_override="calibrated/vm").compute_cores == pytest.approx(0.95)
    # a measurement above the demand is noise: a core is never worth more than one
    with_cpu_sharing(catalog, {"effective_cores": 2.1, "demand_cores": 2})
    assert load_node("localhost", device_override="calibrated/vm").compute_cores == pytest.approx(2.0)
    # without the block (datasheet nodes, old calibrations) the nominal cores
    assert load_node("localhost").compute_cores == 2.0


def test_a_measured_warm_up_after_idling_is_read(catalog):
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2, "warmup_us": 2000, "warmup_idle_ms": 50,
                               "warmup_ramp_ms": 5})
    w = load_node("localhost", device_override="calibrated/vm").host_effects.warmup
    assert (w.max_s, w.idle_s, w.ramp_s) == pytest.approx((2e-3, 0.05, 5e-3))
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2})
    assert load_node("localhost", device_override="calibrated/vm").host_effects is None
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2, "warmup_us": 2000, "warmup_idle_ms": 50})
    with pytest.raises(ProfileError, match=r"vm.yaml: cpu_sharing: missing key 'warmup_ramp_ms'"):
        load_node("localhost", device_override="calibrated/vm")


def test_a_measured_time_slice_replaces_the_default(catalog):
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2, "time_slice_ms": 1.0})
    assert load_node("localhost", device_override="calibrated/vm").host_effects.time_slice_s == pytest.approx(1e-3)
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2})
    assert load_node("localhost", device_override="calibrated/vm").host_effects is None  # the default slice


def test_a_measured_turn_speed_reaches_the_host_effects(catalog):
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2, "time_slice_ms": 4.0, "turn_slowdown": 2.4,
                               "turn_speed": 0.85})
    effects = load_node("localhost", device_override="calibrated/vm").host_effects
    assert (effects.time_slice_s, effects.turn_speed) == pytest.approx((4e-3, 0.85))
    with_cpu_sharing(catalog, {"effective_cores": 2.0, "demand_cores": 2, "time_slice_ms": 4.0, "turn_speed": 1.2})
    assert load_node("localhost", device_override="calibrated/vm").host_effects is None  # never faster: no effect


@pytest.mark.parametrize("block, expected", [
    ({"effective_core": 1.0, "demand_cores": 2}, r"vm.yaml: unknown key 'cpu_sharing.effective_core'.*effective_cores"),
    ({"effective_cores": 0, "demand_cores": 2}, r"vm.yaml: cpu_sharing: 'effective_cores' must be > 0"),
    ({"demand_cores": 2}, r"vm.yaml: cpu_sharing: missing key 'effective_cores'"),
    (1.0, r"vm.yaml: 'cpu_sharing' must be a mapping"),
    ({"effective_cores": 2.0, "demand_cores": 2, "time_slice_ms": -4}, r"vm.yaml: cpu_sharing: 'time_slice_ms' must be > 0"),
    ({"effective_cores": 2.0, "demand_cores": 2, "turn_speed": 0}, r"vm.yaml: cpu_sharing: 'turn_speed' must be > 0"),
])
def test_bad_cpu_sharing_names_the_file_and_key(catalog, block, expected):
    with_cpu_sharing(catalog, block)
    with pytest.raises(ProfileError, match=expected):
        load_node("localhost", device_override="calibrated/vm")


def test_nodes_per_host(catalog):
    assert load_cluster("netns-veth-1gbit").nodes_per_host == 2
    assert load_cluster("localhost-cpu").nodes_per_host == 1
    catalog.edit("clusters/netns-veth-1gbit.yaml", lambda d: d.update(nodes_per_host=0))
    with pytest.raises(ProfileError, match=r"netns-veth-1gbit.yaml: 'nodes_per_host' must be > 0"):
        load_cluster("netns-veth-1gbit")


def test_calibrated_arrival_spread_factor_is_read_and_checked(catalog):
    cpu = {**GPU_CAL, "intra_link": {"bw_gbps": 1.0, "latency_us": 500.0},
           "allreduce": {"alpha_us": 400.0, "gbps": 1.0, "spread_floor": 0.4, "spread_us": 30.0}}
    (catalog / "calibrated/spread.yaml").write_text(yaml.safe_dump(cpu))
    fx = load_node("localhost", device_override="calibrated/spread").host_effects
    assert fx.latency_factor(0.0, 0.0) == 1.0 and fx.latency_factor(1e-3, 0.0) == pytest.approx(0.4, abs=1e-6)
    assert fx.latency_factor(30e-6, 0.0) == pytest.approx(0.4 + 0.6 / np.e)
    # a profile from before the all-to-all's factor was measured apart gives it the all-reduce's
    assert fx.latency_factor(30e-6, 0.0, "alltoall") == fx.latency_factor(30e-6, 0.0)
    cpu["allreduce"].update(alltoall_spread_floor=0.1, alltoall_spread_us=10.0)
    (catalog / "calibrated/spread.yaml").write_text(yaml.safe_dump(cpu))
    fx = load_node("localhost", device_override="calibrated/spread").host_effects
    assert fx.latency_factor(1e-3, 0.0) == pytest.approx(0.4, abs=1e-6)
    assert fx.latency_factor(1e-3, 0.0, "alltoall") == pytest.approx(0.1, abs=1e-6)
    assert fx.latency_factor(10e-6, 0.0, "alltoall") == pytest.approx(0.1 + 0.9 / np.e)
    # the factor after long compute since the last collective, per collective
    assert fx.allreduce.busy_factor(1.0) == 1.0  # none calibrated
    cpu["allreduce"].update(busy_rise=0.5, busy_us=2000.0, alltoall_busy_rise=1.0, alltoall_busy_us=1000.0)
    (catalog / "calibrated/spread.yaml").write_text(yaml.safe_dump(cpu))
    fx = load_node("localhost", device_override="calibrated/spread").host_effects
    assert fx.allreduce.busy_factor(0.0) == 1.0 and fx.allreduce.busy_factor(1.0) == pytest.approx(1.5)
    assert fx.alltoall.busy_factor(1e-3) == pytest.approx(1 + (1 - 1 / np.e))
    for key in ("spread_floor", "alltoall_spread_floor"):
        bad = {**cpu, "allreduce": {**cpu["allreduce"], key: 1.5}}
        (catalog / "calibrated/spread.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ProfileError, match=rf"spread.yaml: allreduce.*'{key}' must be between 0 and 1"):
            load_node("localhost", device_override="calibrated/spread")


def test_no_catalog_cluster_carries_host_effects_without_a_calibration():
    """The shared host's effects come only from a calibrated profile that carries them."""
    for name in list_profiles()["clusters"]:
        assert load_cluster(name).node.host_effects is None, name
    two = load_cluster("localhost-cpu", device_profile="calibrated/localhost").node
    assert two.host_effects is not None and two.host_effects.wakeup_s > 0
