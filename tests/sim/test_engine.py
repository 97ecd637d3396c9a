"""The simulator: reduction to the closed forms, pipelining, buckets, and track invariants."""

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.cost.model import CostModel, kernel_time
from gnnsim.hardware.profiles import Collective, HostEffects, Stalls, load_cluster
from gnnsim.sim.engine import simulate_workload
from gnnsim.workload.kernels import GRAD_PACK, Kernel, gradient_copy_kernels, sage_param_tensors

from .conftest import synthetic_workload


def reference_ends(workload, cost):
    """Iteration end times of a plain loop, worked out from the closed forms alone:
    sample, then the exchange once every rank is there, compute, the all-reduce once every
    rank is there, the optimizer."""
    t = np.zeros(workload.num_ranks)
    ends = []
    for chains in workload.tasks:
        by = [{task.stage: task for task in chain} for chain in chains]
        a = t + np.array([cost.sample_time(c["sample"]) for c in by])
        b = a.max() + np.array(cost.fetch_times([c["fetch"] for c in by]))
        if "h2d" in by[0]:
            b = b + np.array([cost.h2d_time(c["h2d"]) for c in by])
        c_ = b + np.array([cost.compute_time(c["forward"]) + cost.compute_time(c["backward"]) for c in by])
        ar = by[0]["allreduce"]  # with its gradient copies (if any) before and after the collective
        pack, unpack = (cost.compute_time(replace(ar, kernels=tuple(k for k in ar.kernels if (k.name == GRAD_PACK) == before)))
                        for before in (True, False))
        d = (c_ + pack).max() + cost.allreduce_time(ar.bytes) + unpack
        t = d + np.array([cost.compute_time(c["optimizer"]) for c in by])
        ends.append(t.max())
    return ends


@pytest.mark.parametrize("calibrated", [False, True])
def test_localhost_reduces_to_the_closed_forms(calibrated):
    cluster = load_cluster("localhost-cpu")
    if calibrated:  # a collective library faster than the point-to-point link, as calibration can find
        coll = Collective(alpha_s=126e-6, bytes_per_s=cluster.node.intra_link.bytes_per_s * 1.1)
        cluster = replace(cluster, node=replace(cluster.node, collective=coll))
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 6, seed=3)
    tl = simulate_workload(w, cost)
    assert tl.iteration_end_s == pytest.approx(reference_ends(w, cost), rel=1e-9)


def test_collectives_after_long_compute_take_the_busy_factor_on_alpha():
    """The calibrated library stalls more after its ranks computed long since their last
    collective: the all-reduce, which follows forward and backward, pays more alpha; an
    all-to-all right after another (the feature exchange's chain) pays almost none."""
    cluster = load_cluster("localhost-cpu")
    coll = Collective(alpha_s=400e-6, bytes_per_s=1e9)
    busy = HostEffects(allreduce=Stalls(busy_rise=1.0, busy_s=1e-3))
    stage = {}
    for name, effects in (("plain", None), ("busy", busy)):
        cost = CostModel(replace(cluster, node=replace(cluster.node, collective=coll, host_effects=effects)))
        tl = simulate_workload(synthetic_workload(cluster, 4, seed=3), cost)
        per = defaultdict(float)
        for s in tl.spans:
            if s.rank == 0:
                per[s.stage] += s.duration_s
        stage[name] = per
    gap_s = stage["plain"]["forward"] / 4 + stage["plain"]["backward"] / 4  # compute since the fetch, per iteration
    extra = 2 * 400e-6 * (1 - np.exp(-gap_s / 1e-3)) * 4  # two ring steps of alpha, four iterations
    assert stage["busy"]["allreduce"] - stage["plain"]["allreduce"] == pytest.approx(extra, rel=0.1)
    assert stage["busy"]["forward"] == pytest.approx(stage["plain"]["forward"])


def test_gradient_copies_run_before_and_after_the_allreduce_in_its_stage():
    cluster = load_cluster("localhost-cpu")
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 4, seed=5)
    plain = simulate_workload(w, cost)
    copies = tuple(gradient_copy_kernels(w.param_count, sage_param_tensors(2)))
    for chains in w.tasks:
        for chain in chains:
            chain[:] = [replace(t, kernels=copies) if t.stage == "allreduce" else t for t in chain]
    tl = simulate_workload(w, cost)
    assert tl.iteration_end_s == pytest.approx(reference_ends(w, cost), rel=1e-9)
    stage = defaultdict(float)
    for timeline, sign in ((tl, 1), (plain, -1)):
        for s in timeline.spans:
            if s.stage == "allreduce" and s.rank == 0:
                stage[s.iteration] += sign * s.duration_s
    # every iteration's allreduce stage grows by exactly the copies' compute time
    copy_s = cost.compute_time(replace(w.tasks[0][0][0], stage="allreduce", kernels=copies))
    assert copy_s > 0
    assert list(stage.values()) == pytest.approx([copy_s] * 4, rel=1e-6)


@pytest.mark.parametrize("name", ["netns-veth-200mbit-1ms", "netns-veth-1gbit"])
def test_two_cpu_nodes_over_a_shaped_link_reduce_to_the_closed_forms(name):
    # the validation's two-namespace clusters: one CPU trainer per node, a veth "network"
    from gnnsim.hardware.profiles import list_profiles

    if name not in list_profiles().get("clusters", []):
        pytest.skip(f"{name} is not in this catalog")
    cluster = load_cluster(name)
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 4, seed=7)
    assert simulate_workload(w, cost).iteration_end_s == pytest.approx(reference_ends(w, cost), rel=1e-9)


def test_one_gpu_per_pcie_switch_reduces_to_the_closed_forms():
    # a single node of GPUs with their own PCIe links and no other traffic during h2d
    cluster = load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=1)
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 4, seed=5)
    assert simulate_workload(w, cost).iteration_end_s == pytest.approx(reference_ends(w, cost), rel=1e-9)


def one_rank_loop(repeat: int, scale: float):
    cluster = load_cluster("localhost-cpu", trainers_per_node=1)
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 1, seed=1, scale=scale)
    w.tasks = w.tasks * repeat
    w.iterations = w.iterations_per_epoch = repeat
    chain = {t.stage: t for t in w.tasks[0][0]}
    loader = cost.sample_time(chain["sample"]) + cost.fetch_times([chain["fetch"]])[0]
    trainer = sum(cost.compute_time(chain[s]) for s in ("forward", "backward", "optimizer"))
    return w, cost, loader, trainer


@pytest.mark.parametrize("scale", [0.2, 3.0])
def test_pipelined_loop_steady_state_is_its_slowest_stage(scale):
    w, cost, loader, trainer = one_rank_loop(8, scale)
    plain = np.diff(simulate_workload(w, cost, prefetch_depth=0).iteration_end_s)
    assert plain == pytest.approx([loader + trainer] * 7, rel=1e-9)
    piped = np.diff(simulate_workload(w, cost, prefetch_depth=2).iteration_end_s)
    assert piped[2:] == pytest.approx([max(loader, trainer)] * 5, rel=1e-9)


def test_prefetch_hides_loading_in_exposed_time():
    from gnnsim.analysis.breakdown import analyze

    w, cost, loader, trainer = one_rank_loop(8, 0.2)
    a = analyze(simulate_workload(w, cost, prefetch_depth=1), 1, 8)
    assert a.breakdown["sample"]["exposed_s"] < 0.5 * a.breakdown["sample"]["busy_s"]
    assert a.breakdown["forward"]["exposed_s"] == pytest.approx(a.breakdown["forward"]["busy_s"])


def test_ddp_buckets_overlap_backward_and_conserve_gradient_bytes():
    cluster = load_cluster("a100-2x8-eth100", num_nodes=2, trainers_per_node=2)
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 2, seed=2)
    grad_bytes = w.param_count * 4
    # buckets fill layer by layer (output layer first): a bucket smaller than the output layer's
    # gradients closes after each layer
    tl = simulate_workload(w, cost, bucket_bytes=4000)
    per = defaultdict(list)
    for s in tl.spans:
        if s.stage == "allreduce":
            per[(s.rank, s.iteration)].append(s)
    assert len(per) == 4 * 2
    for spans in per.values():
        assert len(spans) > 1
        assert sum(s.bytes for s in spans) == pytest.approx(grad_bytes)
    # the first bucket of rank 0 starts before its backward ends
    back_end = max(s.end_s for s in tl.spans if s.stage == "backward" and s.rank == 0 and s.iteration == 0)
    assert min(s.start_s for s in per[(0, 0)]) < back_end


def test_same_workload_same_timeline():
    cluster = load_cluster("a100-2x8-eth100", num_nodes=2, trainers_per_node=4)
    w = synthetic_workload(cluster, 3, seed=9)
    a = simulate_workload(w, CostModel(cluster), prefetch_depth=1, record_links=True)
    b = simulate_workload(w, CostModel(cluster), prefetch_depth=1, record_links=True)
    assert a.spans == b.spans and a.link_spans == b.link_spans


def test_shared_pcie_switch_slows_concurrent_copies():
    # 2 GPUs per PCIe switch: two h2d copies at once share the switch uplink
    cluster = load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=2)
    cost = CostModel(cluster)
    assert cost.topology.gpus_per_pcie_switch == 2
    w = synthetic_workload(cluster, 1, seed=4)
    h2d = [s for s in simulate_workload(w, cost).spans if s.stage == "h2d"]
    alone = [cost.h2d_time(next(t for t in w.tasks[0][s.rank] if t.stage == "h2d")) for s in h2d]
    assert max(s.duration_s for s in h2d) > 1.5 * min(alone)


CLUSTERS = [("localhost-cpu", None, None), ("a100-2x8-eth100", 1, 4), ("a100-2x8-eth100", 2, 2),
            ("a100-2x8-eth100", 3, 2)]


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(CLUSTERS), st.integers(0, 2), st.sampled_from([1e4, 1e5, 3e7]), st.integers(1, 3),
       st.integers(0, 1000))
def test_spans_on_one_track_never_overlap(spec, depth, bucket, iterations, seed):
    name, nodes, per_node = spec
    cluster = load_cluster(name, num_nodes=nodes, trainers_per_node=per_node)
    w = synthetic_workload(cluster, iterations, seed=seed)
    tl = simulate_workload(w, CostModel(cluster), prefetch_depth=depth, bucket_bytes=bucket, record_links=True)
    tracks = defaultdict(list)
    for s in tl.spans + tl.link_spans:
        assert s.end_s >= s.start_s
        tracks[s.resource].append((s.start_s, s.end_s))
    for spans in tracks.values():
        spans.sort()
        for (_, e1), (s2, _) in zip(spans, spans[1:]):
            assert e1 <= s2 + 1e-12
    # every rank finishes every stage of every iteration
    assert len([s for s in tl.spans if s.stage == "optimizer"]) == cluster.num_trainers * iterations
    # bytes conservation on the links: what the trace shows equals what the channels counted
    for name_, ch in tl.channels.items():
        shown = sum(s.bytes for s in tl.link_spans if s.resource == name_)
        assert shown == pytest.approx(ch["bytes"], rel=1e-6, abs=1.0)


def test_halo_exchange_moves_the_rows_each_rank_receives():
    from gnnsim.workload.tasks import Rows, Task

    cluster = load_cluster("localhost-cpu")
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 1)
    # rank 0 receives 100 rows of 512 B from rank 1, rank 1 receives 300 from rank 0
    w.tasks = [[[Task("halo", "collective", rows=Rows((0, 100), 512))],
                [Task("halo", "collective", rows=Rows((300, 0), 512))]]]
    tl = simulate_workload(w, cost)
    link = cluster.node.intra_link

    def copy(rows):  # packing the rows to send, or placing the rows received (a gather each)
        return kernel_time(cost.device.kernel("gather"), Kernel("gather", 0.0, 2.0 * rows * 512, "x", rows * 512.0,
                                                                float(rows)))
    exchange = copy(300) + link.latency_s + 300 * 512 / link.bytes_per_s  # every rank waits for the larger pack
    assert [s.duration_s for s in tl.spans] == pytest.approx([exchange + copy(100), exchange + copy(300)])
    assert tl.channels["node0/loopback0.up"]["bytes"] == 300 * 512


def test_a_collective_not_every_rank_joins_is_a_clear_error():
    from gnnsim.sim.engine import SimulationError

    cluster = load_cluster("localhost-cpu")
    w = synthetic_workload(cluster, 1)
    w.tasks[0][1] = [t for t in w.tasks[0][1] if t.stage != "fetch"]  # rank 1 never joins the exchange
    with pytest.raises(SimulationError, match="fetch of iteration 0"):
        simulate_workload(w, CostModel(cluster))


def test_buckets_follow_the_workloads_layer_parameter_counts():
    cluster = load_cluster("localhost-cpu")
    w = synthetic_workload(cluster, 1)
    w.layer_params = [1, 3]  # the output layer holds 3/4 of the gradients
    grad_bytes = w.param_count * 4
    tl = simulate_workload(w, CostModel(cluster), bucket_bytes=grad_bytes / 2)
    buckets = sorted((s.start_s, s.bytes) for s in tl.spans if s.stage == "allreduce" and s.rank == 0)
    assert [b for _, b in buckets] == pytest.approx([0.75 * grad_bytes, 0.25 * grad_bytes])


def test_sampler_workers_speed_up_sampling_only_with_prefetch():
    from gnnsim.config import scenario_from_dict
    from gnnsim.pipeline import simulate

    base = {"graph": {"num_nodes": 3000, "avg_degree": 6}, "cluster": {"profile": "a100-2x8-eth100"},
            "training": {"batch_size": 32, "sampler_workers": 4}, "simulation": {"iterations": 3}}
    no_prefetch = simulate(scenario_from_dict(base), sensitivity=False)
    prefetch = simulate(scenario_from_dict({**base, "training": {**base["training"], "prefetch_depth": 3}}),
                        sensitivity=False)
    one_worker = simulate(scenario_from_dict({**base, "training": {**base["training"], "prefetch_depth": 3,
                                                                   "sampler_workers": 1}}), sensitivity=False)
    t = lambda r: r.analysis.breakdown["sample"]["time_s"]  # noqa: E731
    # 4 workers with 3 batches of prefetch: each batch costs a quarter of one worker's time
    assert t(prefetch) == pytest.approx(t(one_worker) / 4, rel=1e-9)
    assert t(no_prefetch) == pytest.approx(t(one_worker), rel=1e-9)
