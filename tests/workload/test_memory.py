"""GPU memory footprint: closed forms by hand, and the out-of-memory warning."""

from types import SimpleNamespace

import pytest

from gnnsim.errors import GnnsimError

from gnnsim.workload.memory import activation_elements, footprint, memory_report


def test_activation_elements_by_hand():
    block = (10, 4, 20)  # num_src, num_dst, num_edges
    assert activation_elements("graphsage", block, 8, 2, False) == 4 * 8 + 2 * 4 * 2
    assert activation_elements("gcn", block, 8, 2, False) == 10 * 2 + 4 * 2 + 4 * 2  # projects first: width 2
    assert activation_elements("gcn", block, 2, 8, False) == 10 * 2 + 4 * 2 + 4 * 8
    assert activation_elements("gin", block, 8, 2, False) == 2 * 4 * 8 + 3 * 4 * 2
    # GAT hidden layer, 2 heads of 4/2: z 10*4, scores+attention 2*20*2, messages 20*4, sums 4*4, out 4*4
    assert activation_elements("gat", block, 8, 4, False, heads=2) == 40 + 80 + 80 + 16 + 16
    with pytest.raises(GnnsimError, match="model.name: unknown model"):
        activation_elements("mlp", block, 8, 2, False)


def test_footprint_sgd_keeps_no_state_and_graph_is_two_int64_per_edge():
    fp = footprint("gcn", [(8, 2)], [(10, 4, 20)], 1, 18, "sgd", 4, 10, 32, 1000, 20)
    assert fp["optimizer_state"] == 0 and fp["parameters"] == fp["gradients"] == 72
    assert fp["graph"] == 2 * 8 * 20 and fp["cached_features"] == 1000 and fp["input_features"] == 320


def test_simulate_table_warns_when_out_of_memory():
    from gnnsim.report.table import memory_lines

    mem = memory_report([{"activations": 3 * 2**30, "parameters": 2**20}], 2 * 2**30, "gpu")
    lines = memory_lines(SimpleNamespace(workload=SimpleNamespace(memory=mem)))
    assert len(lines) == 2 and lines[1].startswith("WARNING") and "out of memory" in lines[1]
    assert "activations" in lines[1]
    ok = memory_report([{"activations": 2**20}], 2 * 2**30, "gpu")
    assert len(memory_lines(SimpleNamespace(workload=SimpleNamespace(memory=ok)))) == 1
