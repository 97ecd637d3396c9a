"""Host CPUs shared by CPU trainers: processor sharing worked out by hand."""

import math
from dataclasses import replace

import pytest
import simpy

from gnnsim.cost.model import CostModel
from gnnsim.hardware.profiles import HostEffects, load_cluster
from gnnsim.sim.cpu import HostCpus
from gnnsim.sim.engine import simulate_workload

from .conftest import synthetic_workload

MS = 1e-3


def cpu_cluster(trainers: int, cores: float, nodes: int = 1, nodes_per_host: int = 1):
    """``trainers`` one-thread CPU trainers per node whose host has ``cores`` effective cores."""
    c = load_cluster("localhost-cpu", num_nodes=nodes, trainers_per_node=trainers)
    node = replace(c.node, host_cpu_cores=2, cpu_efficiency=cores / 2)
    return replace(c, node=node, nodes_per_host=nodes_per_host)


def ends(cluster, work):
    """work: (rank, start_s, seconds alone, cores) -> the end time of each, in that order."""
    env = simpy.Environment()
    cpus = HostCpus(env, cluster)
    out = {}

    def piece(i, rank, start, seconds, cores):
        yield env.timeout(start)
        out[i] = (yield cpus.run(rank, seconds, cores)).end_s

    for i, w in enumerate(work):
        env.process(piece(i, *w))
    env.run()
    return [out[i] for i in range(len(work))]


def test_two_ranks_on_one_core_at_the_same_moment_each_take_twice_as_long():
    assert ends(cpu_cluster(2, 1.0), [(0, 0.0, 3 * MS, 1), (1, 0.0, 3 * MS, 1)]) == pytest.approx([6 * MS, 6 * MS])


def test_staggered_overlap_is_piecewise():
    # rank 0 alone for 1 ms (1 of its 3 ms done); then both at half speed: rank 1's 1 ms of
    # work takes 2 ms (ends at 3 ms) while rank 0 does 1 ms more; rank 0's last 1 ms alone
    assert ends(cpu_cluster(2, 1.0), [(0, 0.0, 3 * MS, 1), (1, 1 * MS, 1 * MS, 1)]) == pytest.approx([4 * MS, 3 * MS])


@pytest.mark.parametrize("cores", [2.0, 2.5])
def test_enough_cores_give_the_times_alone(cores):
    work = [(0, 0.0, 3 * MS, 1), (1, 0.5 * MS, 1 * MS, 1)]
    assert ends(cpu_cluster(2, cores), work) == pytest.approx([3 * MS, 1.5 * MS])


def test_two_ranks_on_two_vcpus_worth_one_core_share_it_without_turns():
    # a trainer per nominal core: no time slices, but the two vCPUs are one effective
    # core: both at half speed until the 1 ms piece ends at 2 ms, then the other alone
    work = [(r, 0.0, (r + 1) * MS, 1) for r in range(2)]
    assert ends(cpu_cluster(2, 1.0), work) == pytest.approx([2 * MS, 3 * MS])


def test_more_trainers_than_cores_take_their_core_in_turns():
    # 4 trainers pinned round-robin on 2 cores: ranks 0 and 2 share core 0, 1 and 3 core 1.
    # 1, 2, 3, 4 ms alone, all wanting their core at 0: the first on each core runs at full
    # speed, the second after it (first come, first served), not all four at half speed
    work = [(r, 0.0, (r + 1) * MS, 1) for r in range(4)]
    assert ends(cpu_cluster(4, 2.0), work) == pytest.approx([1 * MS, 2 * MS, 4 * MS, 6 * MS])


def ends_in_sequence(cluster, work):
    """work: (rank, start_s, [seconds of each piece, back to back]) -> each rank's end."""
    env = simpy.Environment()
    cpus = HostCpus(env, cluster)
    out = {}

    def pieces(i, rank, start, seconds):
        yield env.timeout(start)
        for s in seconds:
            yield cpus.run(rank, s, 1)
        out[i] = env.now

    for i, w in enumerate(work):
        env.process(pieces(i, *w))
    env.run()
    return [out[i] for i in range(len(work))]


def test_a_trainer_keeps_its_core_while_it_computes_piece_after_piece():
    # rank 0 computes 1 + 1 ms (a backward pass in segments); rank 2, on the same core,
    # wants it from 0.5 ms: it waits for both pieces, not just the first
    work = [(0, 0.0, [1 * MS, 1 * MS]), (2, 0.5 * MS, [1 * MS])]
    assert ends_in_sequence(cpu_cluster(4, 2.0), work) == pytest.approx([2 * MS, 3 * MS])


def test_a_trainer_gives_up_its_core_after_a_time_slice_when_others_wait():
    # rank 0: 3 pieces of 3 ms. Its 4 ms slice ends 1 ms into the second piece; rank 2,
    # waiting since 1 ms, takes the core there for its 1 ms (4-5 ms); rank 0 runs the
    # second piece's last 2 ms and its third piece after it (5-10 ms)
    c = cpu_cluster(4, 2.0)
    c = replace(c, node=replace(c.node, host_effects=HostEffects(time_slice_s=4 * MS)))
    work = [(0, 0.0, [3 * MS] * 3), (2, 1 * MS, [1 * MS])]
    assert ends_in_sequence(c, work) == pytest.approx([10 * MS, 5 * MS])
    # with nobody waiting it keeps the core throughout; with a slice of 7 ms it is
    # preempted 1 ms into its third piece (rank 2 runs 7-8 ms)
    assert ends_in_sequence(c, work[:1]) == pytest.approx([9 * MS])
    c = replace(c, node=replace(c.node, host_effects=HostEffects(time_slice_s=7 * MS)))
    assert ends_in_sequence(c, work) == pytest.approx([10 * MS, 8 * MS])


def test_a_long_stage_is_preempted_at_each_slice_end_while_another_rank_waits():
    # as the OS's scheduler does (issue 22: 4 PyG ranks on 2 cores measured their 3 ms
    # forward and backward each about twice their 2-rank time). Ranks 0 and 2 share core
    # 0, each with one 10 ms piece from 0; slices of 4 ms: 0 runs 0-4, 2 runs 4-8,
    # 0 runs 8-12, 2 runs 12-16, 0 ends 16-18, 2 ends 18-20
    c = cpu_cluster(4, 2.0)
    c = replace(c, node=replace(c.node, host_effects=HostEffects(time_slice_s=4 * MS)))
    assert ends_in_sequence(c, [(0, 0.0, [10 * MS]), (2, 0.0, [10 * MS])]) == pytest.approx([18 * MS, 20 * MS])
    # alone, the piece runs through its slices
    assert ends_in_sequence(c, [(0, 0.0, [10 * MS])]) == pytest.approx([10 * MS])


def test_a_piece_after_another_ranks_turn_runs_at_the_calibrated_turn_speed():
    # as test_a_long_stage_is_preempted..., at 80% speed once the other rank has run: 0
    # runs 0-4 (first on the core: full speed, 6 ms left), 2 runs 4-8 (12.5 on the shared
    # core), 0 8-12 (6 / 0.8 = 7.5 left: 3.5), 2 12-16 (4.5), 0 16-19.5, 2 19.5-24
    c = cpu_cluster(4, 2.0)
    c = replace(c, node=replace(c.node, host_effects=HostEffects(time_slice_s=4 * MS, turn_speed=0.8)))
    assert ends_in_sequence(c, [(0, 0.0, [10 * MS]), (2, 0.0, [10 * MS])]) == pytest.approx([19.5 * MS, 24 * MS])
    # one rank alone keeps its speed, and so do ranks with cores of their own
    assert ends_in_sequence(c, [(0, 0.0, [10 * MS])]) == pytest.approx([10 * MS])
    own = cpu_cluster(2, 2.0)
    own = replace(own, node=replace(own.node, host_effects=HostEffects(turn_speed=0.8)))
    assert ends_in_sequence(own, [(0, 0.0, [10 * MS]), (1, 0.0, [10 * MS])]) == pytest.approx([10 * MS, 10 * MS])


def test_one_rank_alone_on_a_host_with_fewer_cores_than_threads_takes_its_time_alone():
    # its closed-form time was measured on the cores there are; two of them share those
    assert ends(cpu_cluster(2, 1.0), [(0, 0.0, 2 * MS, 4)]) == pytest.approx([2 * MS])
    assert ends(cpu_cluster(2, 1.0), [(0, 0.0, 2 * MS, 4), (1, 0.0, 2 * MS, 4)]) == pytest.approx([4 * MS, 4 * MS])


@pytest.mark.parametrize("nodes_per_host, expected", [(1, 3 * MS), (2, 6 * MS)])
def test_nodes_on_one_host_share_its_cpu(nodes_per_host, expected):
    # two one-trainer nodes of 0.5 effective cores each: apart each runs alone; as namespaces
    # of one machine they share its one core
    c = cpu_cluster(1, 0.5, nodes=2, nodes_per_host=nodes_per_host)
    assert ends(c, [(0, 0.0, 3 * MS, 1), (1, 0.0, 3 * MS, 1)]) == pytest.approx([expected, expected])


# -- in the engine -------------------------------------------------------------------------

def lockstep_workload(cluster, iterations=2):
    """Every rank runs rank 0's chain (same samples, same kernels, same rows per peer)."""
    w = synthetic_workload(cluster, iterations, seed=11)
    n = cluster.num_trainers
    for it, chains in enumerate(w.tasks):
        chain = chains[0]
        fetch = next(t for t in chain if t.stage == "fetch")
        even = tuple([sum(fetch.rows.rows_from) // n] * n)
        w.tasks[it] = [[replace(t, rows=replace(t.rows, rows_from=even, local_rows=even[0])) if t.stage == "fetch" else t for t in chain]
                       for _ in range(n)]
    return w


def stage_means(tl):
    out = {}
    for s in tl.spans:
        out.setdefault(s.stage, []).append(s.duration_s)
    return {k: sum(v) / len(v) for k, v in out.items()}


@pytest.mark.parametrize("trainers, cores", [(2, 1.0), (2, 1.5)])
def test_ranks_in_lockstep_take_their_share_of_the_cores(trainers, cores):
    crowded, roomy = cpu_cluster(trainers, cores), cpu_cluster(trainers, float(trainers))
    w = lockstep_workload(crowded)
    slow = stage_means(simulate_workload(w, CostModel(crowded)))
    fast = stage_means(simulate_workload(w, CostModel(roomy)))
    share = trainers / cores  # each rank gets cores / trainers of a core
    for stage in ("sample", "forward", "backward", "optimizer"):
        assert slow[stage] == pytest.approx(share * fast[stage], rel=1e-9), stage
    # the exchange's host gathers are shared too; its all-to-alls are not CPU work
    assert fast["fetch"] < slow["fetch"] < share * fast["fetch"]


def test_crowded_ranks_in_lockstep_run_their_stages_at_full_speed_in_turns():
    crowded = cpu_cluster(4, 2.0)
    w = lockstep_workload(crowded, iterations=1)
    cost = CostModel(crowded)
    spans = {}
    for s in simulate_workload(w, cost).spans:
        spans.setdefault(s.stage, []).append(s.duration_s)
    forward = next(t for t in w.tasks[0][0] if t.stage == "forward")
    alone = cost.compute_time(forward)
    # the rank that holds its core computes at full speed (it may first wait out its
    # core-mate's last gather); the core-mate waits for its turn, here the whole forward
    # and backward pass of the first; processor sharing would give 2x alone to all
    assert min(spans["forward"]) < 1.25 * alone
    assert max(spans["forward"]) > 2.0 * alone


def test_a_rank_that_computes_while_the_other_waits_runs_at_full_speed():
    c = cpu_cluster(2, 1.0)
    w = lockstep_workload(c, iterations=1)
    cost = CostModel(c)
    # rank 1 has no forward or backward work: rank 0 computes them alone
    w.tasks[0][1] = [replace(t, kernels=()) if t.stage in ("forward", "backward") else t for t in w.tasks[0][1]]
    spans = {(s.rank, s.stage): s.duration_s for s in simulate_workload(w, cost).spans}
    forward = next(t for t in w.tasks[0][0] if t.stage == "forward")
    assert spans[(0, "forward")] == pytest.approx(cost.compute_time(forward), rel=1e-9)
    sample = next(t for t in w.tasks[0][0] if t.stage == "sample")
    assert spans[(0, "sample")] == pytest.approx(2 * cost.sample_time(sample), rel=1e-9)  # both sample at once


def test_gpu_trainers_do_not_share_the_host_cpu():
    c = load_cluster("a100-2x8-eth100", num_nodes=1, trainers_per_node=2)
    c = replace(c, node=replace(c.node, cpu_efficiency=0.01))
    w = lockstep_workload(c, iterations=1)
    cost = CostModel(c)
    spans = {(s.rank, s.stage): s.duration_s for s in simulate_workload(w, cost).spans}
    forward = next(t for t in w.tasks[0][0] if t.stage == "forward")
    assert spans[(0, "forward")] == pytest.approx(cost.compute_time(forward), rel=1e-9)


# -- warm-up after idling ---------------------------------------------------------------

def test_work_after_an_idle_core_pays_the_calibrated_warm_up_over_its_ramp():
    from gnnsim.hardware.profiles import Warmup

    c = cpu_cluster(2, 2.0)
    c = replace(c, node=replace(c.node, host_effects=HostEffects(warmup=Warmup(max_s=1 * MS, idle_s=10 * MS,
                                                                               ramp_s=1 * MS))))
    env = simpy.Environment()
    cpus = HostCpus(env, c)
    ends = []

    def rank0():
        yield cpus.run(0, 1 * MS, 1)            # no history: no warm-up
        ends.append(env.now)
        yield env.timeout(20 * MS)               # the core idles 20 ms
        yield cpus.run(0, 1 * MS, 1)
        ends.append(env.now)
        yield cpus.run(0, 1 * MS, 1)             # straight on: pays what is still owed
        ends.append(env.now)

    env.process(rank0())
    env.run()
    debt = 1 * MS * (1 - math.exp(-2.0))         # 20 ms idle, scale 10 ms
    first = debt * (1 - math.exp(-1.0))           # 1 ms of work, ramp 1 ms
    second = (debt - first) * (1 - math.exp(-1.0))
    assert ends == pytest.approx([1 * MS, 22 * MS + first, 23 * MS + first + second])


def test_without_a_calibrated_warm_up_idling_costs_nothing():
    c = cpu_cluster(2, 2.0)
    assert c.node.host_effects is None
    env = simpy.Environment()
    cpus = HostCpus(env, c)

    def rank0():
        yield cpus.run(0, 1 * MS, 1)
        yield env.timeout(50 * MS)
        yield cpus.run(0, 1 * MS, 1)

    env.process(rank0())
    env.run()
    assert env.now == pytest.approx(52 * MS)


@pytest.mark.parametrize("depth", [0, 2])
def test_crowded_ranks_with_a_prefetching_loader_finish_every_iteration(depth):
    # each rank's loader samples ahead while its trainer computes: both take the rank's
    # core in turns, and the run ends with every iteration done
    crowded = cpu_cluster(4, 2.0)
    w = lockstep_workload(crowded, iterations=3)
    tl = simulate_workload(w, CostModel(crowded), prefetch_depth=depth)
    assert {(s.rank, s.iteration) for s in tl.spans if s.stage == "optimizer"} == {(r, i) for r in range(4)
                                                                                  for i in range(3)}
