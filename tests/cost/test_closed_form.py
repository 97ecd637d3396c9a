import pytest

from gnnsim.cost.collectives import ring_allreduce_time
from gnnsim.cost.model import CostModel
from gnnsim.hardware.profiles import Link, load_cluster


def test_transfer_is_latency_plus_size_over_bandwidth():
    link = Link("l", "ethernet", bw_gbps=12.5, latency_us=10.0)
    assert link.transfer_time_s(125e6) == pytest.approx(10e-6 + 0.01)
    assert link.transfer_time_s(0) == 0.0


def test_ring_allreduce_closed_form():
    n, size, alpha, bw = 8, 64e6, 5e-6, 100e9
    assert ring_allreduce_time(size, n, alpha, bw) == pytest.approx(2 * (n - 1) * alpha + 2 * (n - 1) / n * size / bw)
    assert ring_allreduce_time(size, 1, alpha, bw) == 0.0


def test_single_node_allreduce_uses_intra_link():
    c = load_cluster("localhost-cpu")
    link = c.node.intra_link
    expected = ring_allreduce_time(1e6, 2, link.latency_s, link.bytes_per_s)
    assert CostModel(c).allreduce_time(1e6) == pytest.approx(expected)
