"""Every catalog profile loads, every number has a source, and the numbers agree with the
published figures in shared/reference/hardware-figures.jsonl where both give one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnnsim.hardware.catalog import catalog, describe
from gnnsim.hardware.profiles import (
    list_profiles, load_cluster, load_device, load_link, load_node, numeric_paths, parse_sources, read_profile,
)
from gnnsim.hardware.software import load_software

CATALOG = list_profiles()
STRUCTURED_KINDS = ("devices", "links", "nodes", "clusters", "software")
REFERENCE = Path("/work/shared/reference/hardware-figures.jsonl")
LOADERS = {"devices": load_device, "links": load_link, "nodes": load_node, "clusters": load_cluster,
           "software": load_software, "calibrated": lambda n: load_device(f"calibrated/{n}")}


def _reference() -> dict[str, dict]:
    if not REFERENCE.is_file():
        pytest.skip("shared/reference/hardware-figures.jsonl is not on this machine")
    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    return {r["item"]: r["values"] for r in rows}


@pytest.mark.parametrize("kind,name", [(k, n) for k, names in CATALOG.items() for n in names])
def test_every_profile_loads(kind, name):
    LOADERS[kind](name)


@pytest.mark.parametrize("kind,name", [(k, n) for k in STRUCTURED_KINDS for n in CATALOG.get(k, [])])
def test_every_number_has_a_source_with_a_basis(kind, name):
    data, path = read_profile(kind, name)
    sources = parse_sources(data, path)
    assert sources and all(s.basis for s in sources), f"{path}: give every source a basis (nominal, measured ...)"
    for key, _ in numeric_paths(data):
        backing = [s for s in sources if any(key == c or key.startswith(c + ".") for c in s.covers)]
        assert backing, f"{path}: {key} has no source"
    assert all(s.url or s.text for s in sources)


def test_catalog_has_what_the_issue_asks_for():
    for device in ("v100-sxm2-16gb", "v100-sxm2-32gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "a100-pcie-40gb",
                   "a100-pcie-80gb", "h100-sxm5-80gb", "h100-pcie-80gb", "h200-sxm-141gb", "l4-24gb", "t4-16gb",
                   "a10g-24gb", "rtx4090-24gb"):
        assert device in CATALOG["devices"]
    for link in ("pcie3-x16", "pcie4-x16", "pcie5-x16", "nvlink2", "nvlink3", "nvlink4", "nvswitch-a100",
                 "nvswitch-h100", "ethernet-10g", "ethernet-25g", "ethernet-50g", "ethernet-100g", "ethernet-200g",
                 "ethernet-400g", "ib-edr", "ib-hdr", "ib-ndr"):
        assert link in CATALOG["links"]
    for node in ("dgx1-v100", "dgx-a100-80gb", "dgx-h100", "p3.16xlarge", "p4d.24xlarge", "g4dn.metal",
                 "g5.8xlarge", "g5.24xlarge", "pcie-4gpu-server"):
        assert node in CATALOG["nodes"]
    for cluster in ("h100-4x8-ib-ndr", "a100-8x8-ib-hdr", "p4d-2-efa"):
        assert cluster in CATALOG["clusters"]
    assert set(CATALOG["software"]) >= {"torch", "dgl", "pyg"}


def test_gpu_memory_and_bandwidth_match_the_reference():
    ref = _reference()
    tb = 1000.0  # the reference gives HBM bandwidth in TB/s; profiles in GB/s
    expect = {
        "a100-sxm4-40gb": (ref["GPU: NVIDIA A100 40GB SXM4"]["hbm_bw_TBps"] * tb, 19.5),
        "a100-sxm4-80gb": (ref["GPU: NVIDIA A100 80GB SXM4"]["hbm_bw_TBps"] * tb, 19.5),
        "h100-sxm5-80gb": (ref["GPU: NVIDIA H100 SXM5 80GB"]["hbm_bw_TBps"] * tb,
                           ref["GPU: NVIDIA H100 SXM5 80GB"]["fp32_tflops"]),
        "h200-sxm-141gb": (ref["GPU: NVIDIA H200 (SXM)"]["hbm_bw_TBps"] * tb, 66.9),
        "v100-sxm2-16gb": (ref["GPU: NVIDIA V100 SXM2 (16/32GB)"]["hbm_bw_GBps"],
                           ref["GPU: NVIDIA V100 SXM2 (16/32GB)"]["fp32_tflops"]),
        "t4-16gb": (ref["GPU: NVIDIA T4 16GB"]["mem_bw_GBps"], 8.1),
        "l4-24gb": (ref["GPU: NVIDIA L4 24GB"]["mem_bw_GBps"], 30.3),
        "rtx4090-24gb": (ref["GPU: NVIDIA GeForce RTX 4090"]["mem_bw_GBps"],
                         ref["GPU: NVIDIA GeForce RTX 4090"]["fp32_tflops"]),
        "a10g-24gb": (ref["GPU: NVIDIA A10 / A10G (AWS G5) 24GB"]["mem_bw_GBps"], 31.2),
    }
    for name, (bw, fp32) in expect.items():
        d = load_device(name)
        assert d.mem_bw_gbps == pytest.approx(bw), name
        assert d.peak_tflops["float32"] == pytest.approx(fp32, rel=0.01), name
    assert load_device("a100-sxm4-80gb").mem_bw_gbps == 2039.0


def test_dense_tensor_peaks_are_half_the_sparse_ones():
    ref = _reference()
    h100 = ref["GPU: NVIDIA H100 SXM5 80GB"]
    d = load_device("h100-sxm5-80gb")
    assert d.peak_tflops["tf32"] == pytest.approx(h100["tf32_tensor_tflops_sparse"] / 2)
    assert d.peak_tflops["bfloat16"] == pytest.approx(h100["fp16_bf16_tensor_tflops_sparse"] / 2, rel=1e-3)
    # the reference calls H200's 1.97 PFLOPS "dense"; it is NVIDIA's with-sparsity figure
    h200 = ref["GPU: NVIDIA H200 (SXM)"]
    assert load_device("h200-sxm-141gb").peak_tflops["float16"] == pytest.approx(
        h200["fp16_bf16_tensor_dense_pflops"] * 1000 / 2, rel=0.01)
    a100 = ref["GPU: NVIDIA A100 40GB SXM4"]
    assert load_device("a100-sxm4-40gb").peak_tflops["tf32"] == a100["tf32_tensor_tflops_dense"]


def test_memory_sizes_are_whole_gib():
    for name, gib in (("a100-sxm4-80gb", 80), ("a100-sxm4-40gb", 40), ("v100-sxm2-32gb", 32), ("t4-16gb", 16),
                      ("l4-24gb", 24), ("h200-sxm-141gb", 141)):
        assert load_device(name).memory_bytes == gib * 2**30


def test_links_match_the_reference():
    ref = _reference()
    pcie = ref["Interconnect: PCIe x16 nominal bandwidth"]
    measured = ref["Measured: PCIe host->device bandwidth"]
    for gen, meas in ((3, measured["V100_ingress_GBps"]), (4, measured["A100_gen4_peak_measured_GBps"]),
                      (5, measured["H100_cluster_nvbandwidth_H2D_sm_GBps"])):
        link = load_link(f"pcie{gen}-x16")
        assert link.nominal_bw_gbps == pcie[f"gen{gen}_GBps_per_dir"]
        assert link.measured_bw_gbps == pytest.approx(meas)
        assert link.bw_gbps == link.measured_bw_gbps and link.bw_basis == "measured"
        nominal = load_link(f"pcie{gen}-x16-nominal")
        assert nominal.bw_gbps == nominal.nominal_bw_gbps == pcie[f"gen{gen}_GBps_per_dir"]
    nvlink = ref["Interconnect: NVLink per-GPU bandwidth by generation (bidirectional aggregate)"]
    for name, key in (("nvlink2", "NVLink2_V100_GBps"), ("nvlink3", "NVLink3_A100_GBps"),
                      ("nvlink4", "NVLink4_H100_H200_GBps"), ("nvswitch-a100", "NVLink3_A100_GBps"),
                      ("nvswitch-h100", "NVLink4_H100_H200_GBps")):
        assert load_link(name).bw_gbps == nvlink[key] / 2  # profiles hold one direction
    ib = ref["Network: InfiniBand link rates (4x port)"]
    for name, key in (("ib-edr", "EDR_Gbps"), ("ib-hdr", "HDR_Gbps"), ("ib-ndr", "NDR_Gbps")):
        assert load_link(name).bw_gbps == ib[key] / 8
    for gbit in (10, 25, 50, 100, 200, 400):
        assert load_link(f"ethernet-{gbit}g").bw_gbps == gbit / 8


def test_aws_node_network_matches_the_reference():
    ref = _reference()["Network: AWS instance network bandwidth (nominal)"]
    for node, key in (("g5.8xlarge", "g5.8xlarge"), ("g5.24xlarge", "g5.24xlarge")):
        n = load_node(node)
        gbit = float(ref[key].rstrip("Gbps"))
        assert n.nic.bw_gbps * n.nic_count == gbit / 8


def test_cluster_network_is_rails_times_the_slower_of_nic_and_switch():
    c = load_cluster("h100-4x8-ib-ndr")
    assert (c.num_nodes, c.num_trainers) == (4, 32)
    assert c.network.bw_gbps == 8 * 50.0  # 8 NDR rails of 400 Gb/s
    # the quickstart cluster wires each DGX A100 with one 100 GbE port instead of 8 HDR rails
    c = load_cluster("a100-2x8-eth100")
    assert c.network.bw_gbps == 12.5 and c.node.nic_count == 1
    assert c.price_per_hour == pytest.approx(2 * load_node("dgx-a100-80gb").price_per_hour)


def test_catalog_and_describe_are_consistent():
    cat = catalog()
    assert set(cat) == set(CATALOG)
    info = describe("pcie4-x16")
    rows = {r["key"]: r for r in info["numbers"]}
    assert rows["bw_gbps"]["value"] == 25 and rows["bw_gbps"]["basis"] == ["measured"]
    assert rows["nominal_bw_gbps"]["basis"] == ["nominal"]
    assert all(r["sources"] for r in info["numbers"])


def test_hw_cli_list_and_show(capsys):
    from gnnsim.cli import main

    assert main(["hw", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["devices"]["a100-sxm4-80gb"]["mem_bw_gbps"] == 2039.0
    assert "calibrated" in listed or not CATALOG.get("calibrated")
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    assert out.index("clusters (") < out.index("devices (") and "software (" in out
    assert main(["hw", "show", "h100-sxm5-80gb"]) == 0
    out = capsys.readouterr().out
    assert "3350" in out and "glennklockwood.com/garden/processors/h100" in out and "nominal" in out
    assert main(["hw", "show", "h100-sxm"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_hw_show_json_for_a_cluster_and_a_calibrated_profile(capsys):
    from gnnsim.cli import main

    assert main(["hw", "show", "clusters/p4d-2-efa", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["derived"]["trainers"] == 16
    assert info["derived"]["network_bw_gbps"] == 4 * 12.5  # 4 EFA interfaces of 100 Gb/s
    for name in CATALOG.get("calibrated", []):
        assert main(["hw", "show", f"calibrated/{name}", "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["kind"] == "calibrated" and info["sources"]
        assert set(info["derived"]["kernels"]) >= {"gemm", "aggregate", "gather", "elementwise"}


def test_hw_list_marks_a_broken_profile_and_fails(tmp_path, monkeypatch, capsys):
    import shutil

    from gnnsim.cli import main

    root = tmp_path / "hwprofiles"
    shutil.copytree(Path(__file__).resolve().parents[2] / "hwprofiles", root)
    monkeypatch.setenv("GNNSIM_HWPROFILES", str(root))
    (root / "links/ib-edr.yaml").write_text((root / "links/ib-edr.yaml").read_text().replace("latency_us: 5", "latency_us: -5"))
    assert main(["hw", "list"]) == 2
    out = capsys.readouterr().out
    assert "ib-edr" in out and "BROKEN" in out and "latency_us" in out and "ib-ndr " in out
