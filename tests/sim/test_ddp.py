"""DDP as users run it (gnnsim.sim.ddp): no barrier per iteration, buckets as DDP fills them.

Hand-worked timelines on two GPU ranks whose every step takes a round number of
milliseconds (a cost model that reads each step's time off its task), so each
expected value below is worked out on paper from the steps' times and the all-reduce's.
"""

import json
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.config import Scenario, scenario_from_dict
from gnnsim.cost.model import CostModel, HostWork
from gnnsim.hardware.profiles import load_cluster
from gnnsim.sim.engine import simulate_workload
from gnnsim.sim.settings import DDP_FIRST_BUCKET_BYTES, sim_settings
from gnnsim.workload.builder import Task, Workload
from gnnsim.workload.tasks import Rows, Sampling
from gnnsim.workload.kernels import Kernel

MS = 1e-3
MiB = 2**20


class HandCost(CostModel):
    """Every step takes what its task says, in ms: a sample its ``seeds``, a feature
    gather its ``local_rows`` (no exchange), a compute step its kernels' ``flops``."""

    def compute_time(self, task: Task) -> float:
        return sum(k.flops for k in task.kernels) * MS

    def sample_time(self, task: Task) -> float:
        return task.sampling.seeds * MS

    def fetch_plan(self, tasks: list[Task]) -> list:
        return [HostWork("local", np.array([t.rows.local_rows * MS for t in tasks]), barrier=False)]


def _chain(rank: int, sample: int, fetch: int, forward: int, backward: tuple[int, ...], optimizer: int,
           grad_bytes: float) -> list[Task]:
    """One iteration of one rank; ``backward`` gives each layer's ms, output layer first,
    as that many like kernels of 1 ms (the engine splits backward at a bucket by the
    device's time of the kernels on each side: like kernels split it exactly)."""
    layers = len(backward)
    return [
        Task("sample", "cpu_sample", sampling=Sampling(seeds=sample)),
        Task("fetch", "collective", rows=Rows(tuple(fetch if r == rank else 0 for r in range(2)), local_rows=fetch)),
        Task("forward", "gpu_kernel", kernels=(Kernel("gemm", float(forward), 0.0, "L0.fwd"),)),
        Task("backward", "gpu_kernel",
             kernels=tuple(Kernel("gemm", 1.0, 0.0, f"L{layers - 1 - i}.bwd", layer=layers - 1 - i)
                           for i, ms in enumerate(backward) for _ in range(ms))),
        Task("allreduce", "collective", bytes=grad_bytes),
        Task("optimizer", "gpu_kernel", kernels=(Kernel("elementwise", float(optimizer), 0.0, "adam"),)),
    ]


def _workload(ranks: list[dict], iterations: int, grad_bytes: float = 1e5,
              layer_params: list[int] | None = None) -> Workload:
    scenario = Scenario.model_validate({"training": {"mode": "single-node-multigpu"}})
    tasks = [[_chain(r, **spec, grad_bytes=grad_bytes) for r, spec in enumerate(ranks)] for _ in range(iterations)]
    return Workload(scenario, 2, iterations, iterations, tasks, int(grad_bytes // 4), [1, 1],
                    layer_params=layer_params or [])


def _cost() -> HandCost:
    cluster = load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=2)
    assert cluster.node.trainer_device.jitter_cv == 0  # the timelines below are exact
    return HandCost(cluster)


def _stage(tl, rank: int, stage: str) -> list[float]:
    """Per iteration, the seconds ``rank`` spent in ``stage``."""
    out = defaultdict(float)
    for s in tl.spans:
        if s.rank == rank and s.stage == stage:
            out[s.iteration] += s.duration_s
    return [out[i] for i in sorted(out)]


FAST = dict(sample=1, fetch=1, forward=2, backward=(4,), optimizer=1)
SLOW = dict(sample=1, fetch=1, forward=4, backward=(8,), optimizer=2)  # compute 2x slower


@pytest.mark.parametrize("barrier", [True, False])
def test_a_rank_twice_as_slow_sets_the_pace_with_or_without_the_barrier(barrier):
    """Rank 1 computes twice as slowly (forward 4, backward 8, optimizer 2 ms against
    2, 4, 1), both sample and gather 1 ms; c = the all-reduce.

    With the barrier the ranks meet at the feature gather: rank 0, whose optimizer ends
    1 ms earlier, waits 1 ms there from the second iteration on, and 6 ms (its quicker
    forward and backward) in its all-reduce. Each iteration is the slow rank's 16 ms plus c.

    Without it, rank 0 runs on: it starts its next batch 1 ms ahead, gathers on its own
    (1 ms), and waits 6 + 1 = 7 ms inside its all-reduce instead, from the second
    iteration on; the period is the same 16 ms + c."""
    cost = _cost()
    c = cost.allreduce_time(1e5)
    tl = simulate_workload(_workload([FAST, SLOW], 4), cost, iteration_barrier=barrier)
    assert np.diff([0.0, *tl.iteration_end_s]) == pytest.approx([16 * MS + c] * 4, rel=1e-9)
    assert _stage(tl, 1, "allreduce") == pytest.approx([c] * 4, rel=1e-9)  # the last to arrive waits for no one
    assert _stage(tl, 1, "fetch") == pytest.approx([1 * MS] * 4, rel=1e-9)
    if barrier:
        assert _stage(tl, 0, "fetch") == pytest.approx([1 * MS, 2 * MS, 2 * MS, 2 * MS], rel=1e-9)
        assert _stage(tl, 0, "allreduce") == pytest.approx([6 * MS + c] * 4, rel=1e-9)
    else:
        assert _stage(tl, 0, "fetch") == pytest.approx([1 * MS] * 4, rel=1e-9)
        assert _stage(tl, 0, "allreduce") == pytest.approx([6 * MS + c] + [7 * MS + c] * 3, rel=1e-9)
    # the skew is carried: rank 0 starts its second batch when its own optimizer is done
    # (10 + c), and its forward 1 ms earlier without the barrier (12 + c) than with it (13 + c)
    sample = next(s for s in tl.spans if s.rank == 0 and s.stage == "sample" and s.iteration == 1)
    forward = next(s for s in tl.spans if s.rank == 0 and s.stage == "forward" and s.iteration == 1)
    assert sample.start_s == pytest.approx(15 * MS + c, rel=1e-9)
    assert forward.start_s == pytest.approx((17 if not barrier else 18) * MS + c, rel=1e-9)


def test_without_the_barrier_imbalance_in_different_stages_cancels():
    """Rank 0 samples slowly (5 ms) and computes fast (2 + 4 ms), rank 1 the other way
    round (1 ms; 4 + 8 ms); both gather 1 ms and step 1 ms. With the barrier the ranks
    meet after sampling, so the iteration adds up the slowest of each part: 5 + 1 + 12 +
    c + 1 = 19 ms + c. Without it each rank reaches the all-reduce on its own: rank 0
    after 5 + 1 + 6 = 12 ms, rank 1 after 1 + 1 + 12 = 14 ms, so 14 + c + 1 = 15 ms + c."""
    cost = _cost()
    c = cost.allreduce_time(1e5)
    ranks = [dict(FAST, sample=5), dict(SLOW, optimizer=1)]
    with_barrier = simulate_workload(_workload(ranks, 3), cost, iteration_barrier=True)
    ddp = simulate_workload(_workload(ranks, 3), cost, iteration_barrier=False)
    assert np.diff([0.0, *with_barrier.iteration_end_s]) == pytest.approx([19 * MS + c] * 3, rel=1e-9)
    assert np.diff([0.0, *ddp.iteration_end_s]) == pytest.approx([15 * MS + c] * 3, rel=1e-9)
    assert _stage(ddp, 0, "allreduce") == pytest.approx([2 * MS + c] * 3, rel=1e-9)


@pytest.mark.parametrize("barrier", [True, False])
def test_ddp_copies_its_gradients_inside_backward(barrier):
    """The all-reduce's gradient copies take 1 ms (the pack), 2 ms (the average) and
    3 ms (the unpack) on two like ranks (backward 4 ms). gnnsim's own trainer (with the
    barrier) does all three after backward, timed as the allreduce stage: backward 4 ms,
    allreduce 1 + c + 2 + 3 ms. DDP's reducer packs in backward's hooks and unpacks
    before ``loss.backward()`` returns, and its hook divides before the collective:
    backward 4 + 1 + 3 ms, allreduce 2 ms + c. The iteration is 15 ms + c either way."""
    from dataclasses import replace

    from gnnsim.workload.kernels import GRAD_AVERAGE, GRAD_PACK

    cost = _cost()
    c = cost.allreduce_time(1e5)
    copies = (Kernel("elementwise", 1.0, 0.0, GRAD_PACK), Kernel("elementwise", 2.0, 0.0, GRAD_AVERAGE),
              Kernel("elementwise", 3.0, 0.0, "grad.unpack"))
    w = _workload([FAST, FAST], 2)
    w.tasks = [[[replace(t, kernels=copies) if t.stage == "allreduce" else t for t in chain] for chain in it]
               for it in w.tasks]
    tl = simulate_workload(w, cost, iteration_barrier=barrier)
    assert np.diff([0.0, *tl.iteration_end_s]) == pytest.approx([15 * MS + c] * 2, rel=1e-9)
    for rank in (0, 1):
        assert _stage(tl, rank, "backward") == pytest.approx([(4 if barrier else 8) * MS] * 2, rel=1e-9)
        assert _stage(tl, rank, "allreduce") == pytest.approx([(6 if barrier else 2) * MS + c] * 2, rel=1e-9)
    if not barrier:  # DDP's unpack: after the collective, right before the optimizer's step
        first = [s for s in tl.spans if s.rank == 0 and s.iteration == 0]
        collective_end = max(s.end_s for s in first if s.stage == "allreduce")
        unpack = next(s for s in first if s.stage == "backward" and s.start_s >= collective_end)
        optimizer = next(s for s in first if s.stage == "optimizer")
        assert (unpack.duration_s, unpack.end_s) == pytest.approx((3 * MS, optimizer.start_s), rel=1e-9)


@pytest.mark.parametrize("barrier", [True, False])
def test_ddp_wrapper_time_is_charged_to_forward_and_backward_only_under_ddp(barrier):
    """A software profile's ``ddp_forward_us`` (0.5 ms) and ``ddp_backward_us`` (1.5 ms):
    DDP's own work in each pass of a model it wraps. Under DDP's reducer (no barrier) the
    forward takes 2 + 0.5 ms and the backward 4 + 1.5 ms on both like ranks; gnnsim's own
    trainer (with the barrier) wraps nothing and pays neither."""
    from gnnsim.hardware.software import SoftwareProfile

    cost = _cost().with_software(SoftwareProfile("p", "pyg", ddp_forward_s=0.5 * MS, ddp_backward_s=1.5 * MS), 1)
    tl = simulate_workload(_workload([FAST, FAST], 2), cost, iteration_barrier=barrier)
    for rank in (0, 1):
        assert _stage(tl, rank, "forward") == pytest.approx([(2 if barrier else 2.5) * MS] * 2, rel=1e-9)
        assert _stage(tl, rank, "backward") == pytest.approx([(4 if barrier else 5.5) * MS] * 2, rel=1e-9)


def test_buckets_fill_in_reverse_layer_order_and_launch_during_backward():
    """8 MiB of gradients: the input layer 3.5 MiB, the hidden 4 MiB, the output 0.5 MiB
    (a Linear 896->1024->1024->128 without biases, in float32). DDP's rebuilt buckets for
    that model are [4.5 MiB, 3.5 MiB] (``rebuilt_bucket_sizes`` of torch 2.13's DDP, see
    the test below): the output layer's 0.5 MiB is under the first bucket's 1 MiB, so the
    hidden layer's 4 MiB joins it and closes it; the input layer's 3.5 MiB are the last
    bucket. Backward takes 1, 2, 3 ms for the output, hidden and input layers, so the
    first bucket's all-reduce starts 3 ms into backward, while the input layer's runs."""
    cost = _cost()
    ranks = [dict(FAST, backward=(1, 2, 3)), dict(FAST, backward=(1, 2, 3))]
    w = _workload(ranks, 1, grad_bytes=8 * MiB, layer_params=[7, 8, 1])
    ddp = simulate_workload(w, cost, iteration_barrier=False)
    buckets = sorted((s.start_s, s.bytes) for s in ddp.spans if s.stage == "allreduce" and s.rank == 0)
    assert [b for _, b in buckets] == pytest.approx([4.5 * MiB, 3.5 * MiB])
    backward_start = min(s.start_s for s in ddp.spans if s.stage == "backward" and s.rank == 0)
    assert buckets[0][0] == pytest.approx(backward_start + 3 * MS, rel=1e-9)
    first_end = min(s.end_s for s in ddp.spans if s.stage == "allreduce" and s.rank == 0)
    # the second bucket starts when backward ends and the first bucket's all-reduce is done
    assert buckets[1][0] == pytest.approx(max(backward_start + 6 * MS, first_end), rel=1e-9)
    # with the barrier (gnnsim's trainer) the buckets are ddp_bucket_bytes from the first: one of 8 MiB
    own = simulate_workload(w, cost, iteration_barrier=True)
    assert [s.bytes for s in own.spans if s.stage == "allreduce" and s.rank == 0] == [8 * MiB]


def test_ddp_bucket_sizes_match_pytorch():
    """The model of the test above, in real DDP (one gloo rank): its rebuilt buckets are
    the ones gnnsim's bucketing gives for its layers' gradient bytes."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist

    from gnnsim.sim.ddp import backward_segments

    if dist.is_initialized():
        pytest.skip("a process group is already initialized in this process")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        sizes = {}
        for cap in (None, 4):
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(896, 1024, bias=False), torch.nn.Linear(1024, 1024, bias=False),
                                        torch.nn.Linear(1024, 128, bias=False))
            ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=cap)
            for _ in range(3):  # DDP rebuilds its buckets in gradient-ready order after the first iteration
                ddp(torch.randn(4, 896)).sum().backward()
            sizes[cap] = [int(x) for x in ddp._get_ddp_logging_data()["rebuilt_bucket_sizes"].split(",")]
    finally:
        dist.destroy_process_group()
    back = Task("backward", "gpu_kernel", kernels=tuple(Kernel("gemm", 1.0, 0.0, f"L{i}.bwd", layer=i) for i in (2, 1, 0)))
    shares = [3.5 / 8, 4 / 8, 0.5 / 8]
    default = backward_segments(back, 8 * MiB, shares, DDP_FIRST_BUCKET_BYTES, 25 * MiB)
    assert [b for _, b in default] == sizes[None] == [4.5 * MiB, 3.5 * MiB]
    # bucket_cap_mb passed explicitly: DDP caps the first bucket at it too (ddp_first_bucket_bytes = ddp_bucket_bytes)
    explicit = backward_segments(back, 8 * MiB, shares, 4 * MiB, 4 * MiB)
    assert [b for _, b in explicit] == sizes[4] == [4.5 * MiB, 3.5 * MiB]


def test_settings_resolve_the_framework_default_and_the_first_bucket():
    def resolved(**training):
        return sim_settings(scenario_from_dict({"training": training}))

    assert resolved().iteration_barrier and resolved().first_bucket_bytes == 25 * MiB
    pyg = resolved(framework="pyg", mode="single-node-multigpu")
    assert not pyg.iteration_barrier and pyg.local_fetch and pyg.first_bucket_bytes == MiB
    assert not resolved(framework="dgl").local_fetch  # minibatch: the exchange moves rows, every rank joins
    assert resolved(framework="pyg", iteration_barrier=True).iteration_barrier
    assert resolved(iteration_barrier=False, ddp_bucket_bytes=MiB // 2).first_bucket_bytes == MiB // 2
    assert resolved(iteration_barrier=False, ddp_first_bucket_bytes=4 * MiB).first_bucket_bytes == 4 * MiB


def test_an_unset_barrier_leaves_the_scenario_and_results_as_they_were():
    """Unset keys are not echoed, and a default scenario's JSON is the same whether the
    barrier is left unset or set to its default (byte for byte but the echoed key)."""
    from gnnsim.pipeline import simulate

    base = {"graph": {"num_nodes": 2000, "avg_degree": 6}, "cluster": {"profile": "localhost-cpu"},
            "simulation": {"iterations": 3}}
    unset = scenario_from_dict(base)
    assert "iteration_barrier" not in unset.model_dump()["training"]
    assert "ddp_first_bucket_bytes" not in unset.model_dump()["training"]
    explicit = scenario_from_dict({**base, "training": {"iteration_barrier": True}})
    a = simulate(unset, sensitivity=False).to_json()
    b = json.loads(simulate(explicit, sensitivity=False).to_json())
    assert b["scenario"]["training"].pop("iteration_barrier") is True
    assert a == json.dumps(b, indent=2, sort_keys=True)
    off = simulate(scenario_from_dict({**base, "training": {"iteration_barrier": False}}), sensitivity=False)
    assert '"iteration_barrier": false' in off.to_json()


CLUSTERS = [("localhost-cpu", None, None), ("a100-2x8-eth100", 1, 4), ("a100-2x8-eth100", 2, 2)]


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(CLUSTERS), st.integers(0, 2), st.sampled_from([1e4, 1e5, 3e7]), st.integers(1, 3),
       st.integers(0, 1000))
def test_without_the_barrier_tracks_never_overlap_and_every_rank_finishes(spec, depth, bucket, iterations, seed):
    """Random GraphSAGE-shaped batches, every rank holding every row (its gather is its
    own): each track's spans are sequential, every rank runs every step of every
    iteration, and each rank's buckets carry all of its gradient bytes."""
    from dataclasses import replace

    from .conftest import synthetic_workload

    name, nodes, per_node = spec
    cluster = load_cluster(name, num_nodes=nodes, trainers_per_node=per_node)
    w = synthetic_workload(cluster, iterations, seed=seed)
    n = cluster.num_trainers
    for chains in w.tasks:
        for r, chain in enumerate(chains):
            chain[:] = [replace(t, rows=replace(t.rows, rows_from=tuple(t.rows.local_rows if p == r else 0 for p in range(n))))
                        if t.stage == "fetch" else t for t in chain]
    w.scenario = w.scenario.model_copy(update={"training": w.scenario.training.model_copy(
        update={"mode": "single-node-multigpu"})})
    tl = simulate_workload(w, CostModel(cluster), prefetch_depth=depth, bucket_bytes=bucket, iteration_barrier=False)
    assert not any(s.stage == "fetch" and s.via for s in tl.spans)  # no exchange ran
    tracks = defaultdict(list)
    for s in tl.spans:
        tracks[s.resource].append((s.start_s, s.end_s))
    for spans in tracks.values():
        spans.sort()
        for (_, e1), (s2, _) in zip(spans, spans[1:]):
            assert e1 <= s2 + 1e-12
    assert len([s for s in tl.spans if s.stage == "optimizer"]) == n * iterations
    sent = defaultdict(float)
    for s in tl.spans:
        if s.stage == "allreduce" and s.bytes:
            sent[(s.rank, s.iteration)] += s.bytes
    assert list(sent.values()) == pytest.approx([w.param_count * 4] * n * iterations)
