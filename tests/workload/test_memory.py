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


# -- host memory: what each machine's RAM holds --------------------------------------------

def _graph():
    import numpy as np

    # 4 nodes with in-degrees 1, 2, 2, 1 (6 stored edges)
    return SimpleNamespace(num_nodes=4, num_edges=6, indptr=np.array([0, 1, 3, 5, 6]))


def _host(**kw):
    import numpy as np

    from gnnsim.workload.memory import host_footprint

    args = {"row_bytes": 10, "whole_table": False, "features_on_host": True, "structure_on_host": True,
            "replicated_structure": False, **kw}
    # 4 trainers, 2 per machine: parts 0,1 on machine 0 and parts 2,3 on machine 1
    return host_footprint(_graph(), np.array([0, 1, 3, 3]), 4, 2, **args)


def test_host_footprint_by_hand():
    # partitioned: machine 0 owns nodes 0, 1 (3 in-edges), machine 1 nodes 2, 3 (3 in-edges)
    assert _host() == [{"host_features": 20, "host_graph": 8 * (2 + 1 + 3)}] * 2
    # replicated structure: the whole CSR on every machine; a whole table: every row on each
    whole = _host(replicated_structure=True, whole_table=True)
    assert whole == [{"host_features": 40, "host_graph": 8 * (4 + 1 + 6)}] * 2
    # GPU-resident features and a GPU sampler's structure leave the host
    assert _host(features_on_host=False, structure_on_host=False) == [{"host_features": 0, "host_graph": 0}] * 2


def test_host_memory_report_fits_only_where_the_profile_gives_the_ram():
    from gnnsim.workload.memory import host_memory_report

    per = [{"host_features": 5, "host_graph": 1}, {"host_features": 9, "host_graph": 1}]
    r = host_memory_report(per, 8)
    assert r["peak_bytes"] == [6, 10] and r["worst_node"] == 1 and r["fits"] is False
    assert r["by_category"] == per[1]
    assert host_memory_report(per, None)["fits"] is None and host_memory_report(per, 10)["fits"] is True


def test_simulate_warns_when_the_features_exceed_the_hosts_ram():
    from gnnsim.config import scenario_from_dict
    from gnnsim.pipeline import simulate
    from gnnsim.report.table import result_table

    # g5.8xlarge (one GPU) has 128 GiB: 2000 rows of 2^26 float32 (256 MiB each) are 500 GiB in all
    s = scenario_from_dict({"graph": {"num_nodes": 2000, "num_communities": 4, "avg_degree": 6,
                                      "feature_dim": 2**26, "train_fraction": 0.2},
                            "training": {"batch_size": 64, "fanouts": [4, 3]}, "simulation": {"iterations": 1},
                            "cluster": {"profile": "g5-8x-8-eth25", "num_nodes": 2}})
    r = simulate(s, sensitivity=False)
    mem = r.to_dict()["host_memory"]
    assert mem["capacity_bytes"] == 128 * 2**30 and mem["fits"] is False
    assert sum(mem["peak_bytes"]) >= 2000 * 2**28  # every row held once over the two machines
    warning = next(line for line in result_table(r).splitlines() if line.startswith("WARNING   host memory"))
    assert "128 GiB" in warning and "more machines" in warning
    # on four machines each holds a quarter: it fits
    r4 = simulate(s.model_copy(update={"cluster": s.cluster.model_copy(update={"num_nodes": 4})}), sensitivity=False)
    assert r4.to_dict()["host_memory"]["fits"] is True
