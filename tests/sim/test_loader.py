"""The placed loader in the replay: closed forms alone, PCIe switches shared, workers."""

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.cost.placement import (gpu_sampling_fixed_s, gpu_sampling_s, gpu_sampling_work, uva_gather_bytes,
                                   uva_read_rate)
from gnnsim.pipeline import simulate
from gnnsim.sim.engine import Simulator
from gnnsim.sim.settings import sim_settings

BASE = {"graph": {"num_nodes": 3000, "num_communities": 4, "avg_degree": 8, "feature_dim": 32},
        "training": {"mode": "single-node-multigpu", "batch_size": 64, "fanouts": [5, 4]},
        "simulation": {"iterations": 3}, "cluster": {"profile": "dgx-a100-80gb-1", "trainers_per_node": 1}}


def run(trainers=1, graph=None, **training):
    s = scenario_from_dict({**BASE, "graph": {**BASE["graph"], **(graph or {})},
                            "training": {**BASE["training"], **training},
                            "cluster": {**BASE["cluster"], "trainers_per_node": trainers}})
    return simulate(s, sensitivity=False)


def spans(result, stage, rank=0):
    return [sp for sp in result.timeline.spans if sp.stage == stage and sp.rank == rank]


def test_gpu_sampling_alone_takes_its_closed_form():
    r = run(sampling={"device": "gpu"})
    dev, link = r.cluster.node.trainer_device, r.cluster.node.h2d_link
    for sp, chain in zip(spans(r, "sample"), [r.workload.tasks[i][0] for i in range(r.workload.iterations)]):
        t = chain[0]
        assert sp.resource.endswith("gpusampler0")
        assert sp.duration_s == pytest.approx(gpu_sampling_s(t.sampling.nodes, t.sampling.edges, t.sampling.hops, dev, link, uva=False))


def test_gpu_sampling_pays_the_framework_loaders_host_work_per_batch():
    # DGL samples on a GPU only in the training process, which still wraps each batch's blocks
    r = run(sampling={"device": "gpu"}, framework="dgl")
    dev, link = r.cluster.node.trainer_device, r.cluster.node.h2d_link
    host = r.cost.framework_overhead_s("sample")
    assert host > 0
    t = r.workload.tasks[0][0][0]
    kernels = gpu_sampling_s(t.sampling.nodes, t.sampling.edges, t.sampling.hops, dev, link, uva=False)
    assert spans(r, "sample")[0].duration_s == pytest.approx(kernels + host)


def test_uva_sampling_of_two_gpus_shares_their_pcie_switch():
    # batches large enough that reading their structure over PCIe outlasts the kernels' launches
    big_batches = {"graph": {"num_nodes": 20_000, "avg_degree": 40}, "batch_size": 1024, "fanouts": [20, 20]}
    r = run(trainers=2, sampling={"device": "uva"}, **big_batches)  # a DGX A100 puts two GPUs on each PCIe switch
    link, dev = r.cluster.node.h2d_link, r.cluster.node.trainer_device
    first = [r.workload.tasks[0][rank][0] for rank in range(2)]
    works = [gpu_sampling_work(t.sampling.nodes, t.sampling.edges, t.sampling.hops) for t in first]
    both = sum(w.structure_bytes for w in works) / uva_read_rate(link)  # the switch carries both flows' reads
    big = max(range(2), key=lambda k: works[k].structure_bytes)
    sp = spans(r, "sample", big)[0]
    assert sp.start_s == 0.0
    assert sp.duration_s == pytest.approx(both + gpu_sampling_fixed_s(works[big], dev, link))
    assert sp.via == "node0/pcie-switch0.down"
    alone = run(trainers=1, sampling={"device": "uva"}, **big_batches)
    assert spans(alone, "sample")[0].via == "node0/pcie-switch0.down"  # a lone GPU: its switch and its link tie
    assert spans(alone, "sample")[0].duration_s < sp.duration_s


def test_uva_features_cross_pcie_with_no_copy():
    r = run(features={"placement": "uva"})
    link = r.cluster.node.h2d_link
    launch = r.cluster.node.trainer_device.kernel("gather").launch_s
    for sp, chain in zip(spans(r, "fetch"), [r.workload.tasks[i][0] for i in range(r.workload.iterations)]):
        fetch = next(t for t in chain if t.stage == "fetch")
        assert sp.duration_s == pytest.approx(launch + uva_gather_bytes(fetch.rows.local_rows, 128) / uva_read_rate(link))
    assert all(t.bytes == pytest.approx(sum(x.bytes for x in r.workload.tasks[i][0] if x.stage == "h2d"))
               for i, t in enumerate(spans(r, "h2d")))


def test_worker_pool_divides_the_host_gather_and_zero_workers_end_prefetch():
    def fetch_time(result):
        return [sp.duration_s for sp in spans(result, "fetch")]

    one = run(loader={"workers": 1}, prefetch_depth=4)
    four = run(loader={"workers": 4}, prefetch_depth=4)
    assert fetch_time(four) == pytest.approx([t / 4 for t in fetch_time(one)])
    assert all(sp.resource.endswith("workers0") for sp in spans(four, "fetch"))
    serial = run(loader={"workers": 0}, prefetch_depth=4)  # in the training process: nothing runs ahead
    sim = Simulator(serial.workload, serial.cost, sim_settings(serial.workload.scenario))
    assert sim.depth == 0
    assert fetch_time(serial) == pytest.approx(fetch_time(one))
    gpu = run(loader={"workers": 0}, prefetch_depth=4, sampling={"device": "gpu"})
    # a GPU sampler prefetches from the main process
    assert Simulator(gpu.workload, gpu.cost, sim_settings(gpu.workload.scenario)).depth == 4


def test_host_memory_is_a_shared_channel_only_for_placed_loaders(monkeypatch):
    from gnnsim.sim import loader

    plain = run()
    assert not any(name.endswith("/dram") for name in plain.timeline.channels)  # unplaced: as before
    assert "node0/dram" in run(loader={"workers": 2}).timeline.channels  # the DGX A100 profile's 409.6 GB/s
    # a host whose DRAM moves 0.2 GB/s: the worker pool's gathers and the copies wait for it
    monkeypatch.setattr(loader, "_optional_yaml", lambda kind, name: {"host_mem_bw_gbps": 0.2})
    slow = run(trainers=2, loader={"workers": 2})
    fetch = spans(slow, "fetch")
    assert all(sp.via == "node0/dram" for sp in fetch)
    assert all(sp.duration_s >= 2 * sp.bytes / 0.2e9 * (1 - 1e-9) for sp in fetch)  # rows read and written
    assert slow.analysis.bottleneck["resource"] == "memory"
    assert slow.analysis.bottleneck["instance"] == "node0/dram"
