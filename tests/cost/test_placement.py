"""GPU/UVA sampling and UVA gathers priced from the profiles' measured rates, by hand."""

import pytest

from gnnsim.cost.placement import (
    DEFAULT_UVA_READ_SHARE, device_random_read_rate, gpu_sampling_s, gpu_sampling_work, structure_bytes,
    uva_gather_s, uva_read_rate,
)
from gnnsim.cost.scaling import scale_cluster
from gnnsim.hardware.profiles import load_cluster, load_device, load_link

A100 = load_device("a100-sxm4-80gb")
PCIE4 = load_link("pcie4-x16")
MIB = 2**20


def test_measured_rates_come_from_the_profiles():
    # DGL PR 6645 on A100 80GB: 426,864 MiB/s (rounded to 447.6 GB/s) in GPU memory, 18,193 MiB/s over PCIe 4
    assert device_random_read_rate(A100) == pytest.approx(447.6e9)
    assert uva_read_rate(PCIE4) == pytest.approx(18_193 * MIB, rel=1e-3)
    # a link without its own figure takes the A100 share of its H2D rate: 12 GB/s x 18,193 MiB/s / 25 GB/s
    assert uva_read_rate(load_link("pcie3-x16")) == pytest.approx(12e9 * 18_193 * MIB / 25e9)
    assert DEFAULT_UVA_READ_SHARE == pytest.approx(0.7631, abs=1e-4)


def test_gpu_sampling_by_hand():
    frontier, edges, hops = 1_000, 10_000, 2
    launches = 8 * hops * 8e-6  # 8 kernels per hop at the A100 gather launch of 8 us
    syncs = 2 * hops * 10e-6  # 2 count copies per hop at the PCIe 4 latency of 10 us
    relabel = 3 * edges * 32 / 447.6e9  # 3 hash-table sectors per edge
    output = 3 * 8 * edges / (2039e9 * 0.6)  # rows, cols, edge ids at the gather kernel's rate
    structure = (frontier + edges) * 32 / 447.6e9  # one sector per frontier node and per edge
    assert gpu_sampling_s(frontier, edges, hops, A100, PCIE4, uva=False) == pytest.approx(
        launches + syncs + relabel + output + structure)


def test_uva_sampling_slower_than_gpu_by_the_rate_ratio():
    frontier, edges, hops = 5_000, 80_000, 3
    gpu = gpu_sampling_s(frontier, edges, hops, A100, PCIE4, uva=False)
    uva = gpu_sampling_s(frontier, edges, hops, A100, PCIE4, uva=True)
    structure = gpu_sampling_work(frontier, edges, hops).structure_bytes
    assert structure == (frontier + edges) * 32
    # only the structure reads move: they take 447.6 / 19.08 = 23.5x longer over PCIe
    gpu_reads = structure / 447.6e9
    assert uva - gpu == pytest.approx(gpu_reads * (447.6e9 / uva_read_rate(PCIE4)) - gpu_reads)
    assert 447.6e9 / uva_read_rate(PCIE4) == pytest.approx(23.5, abs=0.1)


def test_uva_gather_moves_whole_sectors():
    # 100-float rows (400 B) cross as 13 sectors (416 B); 1-float rows as one 32 B sector
    assert uva_gather_s(10_000, 400, A100, PCIE4) == pytest.approx(8e-6 + 10_000 * 416 / uva_read_rate(PCIE4))
    assert uva_gather_s(10_000, 4, A100, PCIE4) == pytest.approx(8e-6 + 10_000 * 32 / uva_read_rate(PCIE4))
    assert uva_gather_s(0, 400, A100, PCIE4) == 0.0


def test_structure_bytes_count_indptr_and_indices():
    assert structure_bytes(2_449_029, 123_718_280) == 8 * (2_449_030 + 123_718_280)  # ogbn-products, int64


def test_faster_links_and_memory_speed_up_uva_and_gpu_reads():
    c = load_cluster("dgx-a100-80gb-1")
    fast = scale_cluster(c, {"pcie.bw": 2, "gpu.mem_bw": 2})
    assert uva_read_rate(fast.node.h2d_link) == pytest.approx(2 * uva_read_rate(c.node.h2d_link))
    assert device_random_read_rate(fast.node.trainer_device) == pytest.approx(
        2 * device_random_read_rate(c.node.trainer_device))
