"""Flow-level network: closed forms worked out by hand, and conservation properties."""

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnsim.sim.network import Network

GB = 1e9


def run(capacities, flows):
    """flows: (start_s, route, size, latency) -> the finished Flow objects in that order, and the network."""
    env = simpy.Environment()
    net = Network(env, capacities, [f"c{i}" for i in range(len(capacities))], record=True)
    finished = {}

    def starter(i, start, route, size, latency):
        yield env.timeout(start)
        finished[i] = yield net.transfer(route, size, latency)

    for i, f in enumerate(flows):
        env.process(starter(i, *f))
    env.run()
    return [finished[i] for i in range(len(flows))], net


def test_one_flow_takes_latency_plus_size_over_bandwidth():
    (f,), _ = run([10 * GB], [(0.0, (0,), 5e9, 20e-6)])
    assert f.end_s == pytest.approx(20e-6 + 0.5, rel=1e-12)


def test_two_flows_on_one_link_each_get_half_the_rate():
    (a, b), _ = run([1 * GB], [(0.0, (0,), 1e9, 0.0), (0.0, (0,), 1e9, 0.0)])
    assert a.end_s == pytest.approx(2.0) and b.end_s == pytest.approx(2.0)


def test_short_flow_leaves_and_the_long_one_speeds_up():
    # both at 0.5 GB/s until the 1 GB flow ends at 2 s; the 3 GB flow has 2 GB left at 1 GB/s
    (a, b), _ = run([1 * GB], [(0.0, (0,), 1e9, 0.0), (0.0, (0,), 3e9, 0.0)])
    assert a.end_s == pytest.approx(2.0) and b.end_s == pytest.approx(4.0)


def test_late_flow_shares_from_its_start():
    # a alone for 1 s (1 GB sent, 1 GB left), then both at 0.5: a ends at 3 s; b has 1 GB of 2 left then 1 GB/s
    (a, b), _ = run([1 * GB], [(0.0, (0,), 2e9, 0.0), (1.0, (0,), 2e9, 0.0)])
    assert a.end_s == pytest.approx(3.0) and b.end_s == pytest.approx(4.0)


def test_max_min_fairness_gives_unused_share_to_others():
    # f1 on A (1 GB/s), f2 on A and B (2 GB/s), f3 on B: A splits 0.5/0.5, f3 takes B's remaining 1.5
    env = simpy.Environment()
    net = Network(env, [1 * GB, 2 * GB], ["A", "B"])
    net.transfer((0,), 1e9)
    net.transfer((0, 1), 1e9)
    f3 = net.transfer((1,), 3e9)
    env.run(until=1e-9)
    rates = sorted(f.rate for c in (0, 1) for f in net.on[c].values())
    assert rates == pytest.approx(sorted([0.5 * GB, 0.5 * GB, 0.5 * GB, 1.5 * GB]))
    env.run()
    # f3: 1.5 GB/s until 2 s (3 GB sent... exactly 3 GB) -> ends at 2 s
    assert f3.value.end_s == pytest.approx(2.0)


def test_full_duplex_directions_are_independent():
    # a duplex link is two channels (up, down): opposite flows do not share
    (a, b), _ = run([1 * GB, 1 * GB], [(0.0, (0,), 1e9, 0.0), (0.0, (1,), 1e9, 0.0)])
    assert a.end_s == pytest.approx(1.0) and b.end_s == pytest.approx(1.0)


def test_zero_byte_flow_takes_its_latency():
    (f,), net = run([1 * GB], [(0.0, (0,), 0.0, 7e-6)])
    assert f.end_s == pytest.approx(7e-6) and net.bytes[0] == 0.0


def test_work_scales_time_but_not_bytes():
    env = simpy.Environment()
    net = Network(env, [1 * GB], ["A"], record=True)
    done = net.transfer((0,), 1e9, 0.0, work_bytes=2e9)  # a library at half the link's speed
    env.run()
    assert done.value.end_s == pytest.approx(2.0)
    assert net.bytes[0] == 1e9 and sum(s.bytes for s in net.segments) == pytest.approx(1e9)


flow_strategy = st.tuples(
    st.floats(0.0, 2.0),  # start
    st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True).map(tuple),  # route over 4 channels
    st.floats(0.0, 5e9),  # bytes
    st.floats(0.0, 1e-3),  # latency
)


@settings(max_examples=60, deadline=None)
@given(st.lists(flow_strategy, min_size=1, max_size=12), st.lists(st.floats(0.5, 4.0), min_size=4, max_size=4))
def test_bytes_are_conserved_and_link_slices_never_overlap(flows, caps_gbps):
    caps = [c * GB for c in caps_gbps]
    done, net = run(caps, flows)
    assert len(done) == len(flows)
    for c in range(4):
        routed = sum(size for (_, route, size, _) in flows if c in route)
        assert net.bytes[c] == pytest.approx(routed, rel=1e-9, abs=1.0)
        segs = sorted((s for s in net.segments if s.channel == c), key=lambda s: s.start_s)
        # the integral of the channel's rate over time equals the bytes that crossed it
        assert sum(s.bytes for s in segs) == pytest.approx(routed, rel=1e-6, abs=1e3)
        for s1, s2 in zip(segs, segs[1:]):
            assert s1.end_s <= s2.start_s + 1e-12
        # a channel never carries more than its capacity
        for s in segs:
            assert s.bytes / (s.end_s - s.start_s) <= caps[c] * (1 + 1e-6)
    for f, (start, route, size, latency) in zip(done, flows):
        alone = latency + size / min(caps[c] for c in route)
        assert f.end_s >= start + alone * (1 - 1e-9) - 1e-12
