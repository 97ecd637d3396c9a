"""Analysis: interval coverage, critical path, exposed time, epoch estimate, sensitivity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.analysis.breakdown import analyze, epoch_estimate
from gnnsim.analysis.critical_path import critical_path
from gnnsim.analysis.sensitivity import applicable_classes, sensitivity
from gnnsim.analysis.utilization import covered
from gnnsim.cost.model import CostModel
from gnnsim.hardware.profiles import load_cluster
from gnnsim.sim.engine import simulate_workload
from sim.conftest import synthetic_workload


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 10)), min_size=0, max_size=8),
       st.tuples(st.floats(0, 100), st.floats(0, 50)))
def test_covered_matches_a_fine_grid(intervals, query):
    # disjoint sorted union from arbitrary intervals: merge them
    merged = []
    for s, d in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], s + d)
        else:
            merged.append([s, s + d])
    u0 = np.array([m[0] for m in merged])
    u1 = np.array([m[1] for m in merged])
    a, b = query[0], query[0] + query[1]
    got = covered(np.array([a]), np.array([b]), u0, u1)[0]
    exact = sum(max(0.0, min(b, e) - max(a, s)) for s, e in merged)
    assert got == pytest.approx(exact, abs=1e-9)


def test_epoch_estimate_plain_pipelined_and_complete():
    ends = np.array([1.0, 2.0, 3.0, 4.0])
    assert epoch_estimate(ends, 4, False) == (4.0, 4.0, 4.0, False)
    est, lo, hi, ex = epoch_estimate(ends, 10, False)
    assert (est, lo, hi, ex) == (pytest.approx(10.0), pytest.approx(10.0), pytest.approx(10.0), True)
    # a pipeline fill of 3 s, then 1 s per iteration: 3 + 9 x 1
    est, *_ = epoch_estimate(np.array([3.0, 4.0, 5.0, 6.0]), 10, True)
    assert est == pytest.approx(12.0)
    est, lo, hi, _ = epoch_estimate(np.array([1.0, 3.0, 4.0, 6.0]), 10, False)
    assert lo < est < hi


def test_critical_path_charges_add_up_to_the_makespan():
    cluster = load_cluster("a100-2x8-eth100", num_nodes=2, trainers_per_node=2)
    w = synthetic_workload(cluster, 3, seed=1)
    for depth in (0, 1):
        tl = simulate_workload(w, CostModel(cluster), prefetch_depth=depth)
        path = critical_path(tl)
        assert sum(t for _, t in path) == pytest.approx(max(s.end_s for s in tl.spans), rel=1e-12)
        assert all(t >= 0 for _, t in path)
        # no slack: a step starts when its predecessor ends (a collective's starts at the
        # rank's arrival, before the last arrival that released it)
        for idx, _ in path:
            span = tl.spans[idx]
            if span.pred < 0:
                continue
            before = tl.spans[span.pred].end_s
            if span.stage in ("fetch", "allreduce"):
                assert before >= span.start_s - 1e-12
            else:
                assert before == pytest.approx(span.start_s, abs=1e-12)


def test_bottleneck_follows_the_slow_side_of_a_pipeline():
    cluster = load_cluster("localhost-cpu", trainers_per_node=1)
    cost = CostModel(cluster)
    w = synthetic_workload(cluster, 1, seed=1, scale=3.0)
    w.tasks = w.tasks * 6
    w.iterations = w.iterations_per_epoch = 6
    a = analyze(simulate_workload(w, cost, prefetch_depth=1), 1, 6)
    assert a.bottleneck["stage"] in ("forward", "backward")
    assert a.bottleneck["resource"] == "cpu compute"
    share = sum(r["share"] for r in a.critical_path["by_stage_resource"])
    assert share == pytest.approx(1.0)


def test_no_overlap_means_everything_is_exposed():
    cluster = load_cluster("localhost-cpu")
    w = synthetic_workload(cluster, 3, seed=2)
    a = analyze(simulate_workload(w, CostModel(cluster)), 2, 3)
    for row in a.breakdown.values():
        assert row["exposed_s"] == pytest.approx(row["busy_s"], rel=1e-9, abs=1e-15)
    assert 0 < a.utilization["cpu compute"]["max"] <= 1.0


def test_sensitivity_classes_and_direction():
    cluster = load_cluster("localhost-cpu")
    cost = CostModel(cluster)
    assert set(applicable_classes(cost)) == {"cpu compute", "nvlink", "cpu sampling", "cpu gather"}
    gpu = CostModel(load_cluster("a100-2x8-eth100"))
    assert set(applicable_classes(gpu)) == {"gpu compute", "pcie", "nvlink", "network", "cpu sampling",
                                                  "cpu gather"}
    w = synthetic_workload(cluster, 3, seed=2)
    sens = sensitivity(w, cost)
    assert all(row["change"] <= 1e-12 for row in sens.values())  # faster never makes it slower here
    assert sens["cpu compute"]["change"] < -0.1  # CPU trainers: compute dominates
