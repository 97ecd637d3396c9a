"""Kernel sweeps timed in turns (timing.mean_times_interleaved, timing.time_cases)."""

import time

import pytest

from gnnsim.calibrate import memory_state, timing
from gnnsim.workload import kernels as m


def test_calls_in_turns_each_get_their_runs_spread_over_the_sweep(monkeypatch):
    monkeypatch.setattr(timing, "INTERLEAVED_MAX_REPEATS", 40)
    monkeypatch.setattr(timing, "SHAPE_BUDGET_S", 0.01)
    log: list[str] = []

    def quick():
        log.append("quick")

    def slow():  # about 2 ms: the budget gives it only the minimum runs
        log.append("slow")
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    (q_mean, _), (s_mean, _) = timing.mean_times_interleaved([quick, slow], repeats=5, warmup=2)
    assert s_mean > 10 * q_mean > 0
    # two warm-up calls each, then every timed run follows an untimed run of the same call
    timed = log[4:]
    assert timed.count("quick") == 2 * 40 and timed.count("slow") == 2 * 5
    assert all(a == b for a, b in zip(timed[::2], timed[1::2]))
    # the slow call's five runs are spread over the 40 rounds, not bunched at the start
    slow_at = [i for i, name in enumerate(timed[::2]) if name == "slow"]
    assert slow_at[-1] > 0.8 * len(timed) / 2 and slow_at[0] < 0.3 * len(timed) / 2


def test_cases_keep_their_labels_and_demands_in_order():
    pytest.importorskip("torch")  # its cases are torch kernels
    made = []

    def case(label, n):
        def make():
            made.append(label)
            return lambda: sum(range(n))
        return (label, m.elementwise(n), make)

    cases = [case("a", 10), case("b", 1000), case("c", 100)]
    for in_turns in (False, True):
        made.clear()
        out = timing.time_cases(cases, repeats=3, device="cpu", in_turns=in_turns)
        assert out.shapes == ["a", "b", "c"] and made == ["a", "b", "c"]
        assert [k.bytes for k in out.kernels] == [k.bytes for _, k, _ in cases]
        assert all(t > 0 for t in out.times_s)


def test_cpu_kernels_run_on_a_steady_heap_after_an_eviction_each(monkeypatch):
    """Every timed CPU run follows one eviction and none of glibc's trims (a steady heap);
    a cold run trims before each."""
    calls = {"evict": 0, "trim": 0}
    monkeypatch.setattr(timing, "evict_all_caches", lambda: calls.__setitem__("evict", calls["evict"] + 1))
    monkeypatch.setattr(timing, "RELEASE_FREE_MEMORY", lambda *_: calls.__setitem__("trim", calls["trim"] + 1))
    monkeypatch.setattr(timing, "EVICTED_MAX_REPEATS", 7)
    cases = [("a", m.elementwise(10), lambda: (lambda: None)), ("b", m.elementwise(20), lambda: (lambda: None))]
    for in_turns in (False, True):
        calls.update(evict=0, trim=0)
        timing.time_cases(cases, repeats=3, device="cpu", in_turns=in_turns)
        assert calls == {"evict": 2 * 7, "trim": 0}  # a microsecond call gets the most runs an eviction allows
    calls.update(evict=0, trim=0)
    timing.mean_time(lambda: None, repeats=3, cold=True)
    assert calls["trim"] == timing.MAX_REPEATS and calls["evict"] == 0


def test_cache_sizes_come_from_sysfs_or_a_default():
    assert memory_state.cache_bytes(3) > 0
    assert memory_state.cache_bytes(99, default=123) == 123  # no such cache level


def test_an_eviction_streams_twice_the_last_level_cache_but_never_a_socket_s_worth(monkeypatch):
    monkeypatch.setattr(memory_state, "cache_bytes", lambda index=3, default=0: 8 * 2**20)
    assert memory_state.evict_stream_bytes() == 16 * 2**20
    monkeypatch.setattr(memory_state, "cache_bytes", lambda index=3, default=0: 480 * 2**20)  # a VM reporting its host's
    assert memory_state.evict_stream_bytes() == memory_state.EVICT_STREAM_MAX_BYTES


def test_the_optimizer_step_is_timed_after_a_stand_in_for_the_rest_of_an_iteration(monkeypatch):
    """Adam's step runs once per iteration: each timed run follows other code (a forward
    and backward of gnnsim's own GraphSAGE, its gradients zeroed) and an eviction, never
    a back-to-back step whose own code stays hot."""
    torch = pytest.importorskip("torch")
    from gnnsim.calibrate import bench

    evictions, steps = [], []
    monkeypatch.setattr(timing, "evict_caches", lambda: evictions.append(len(steps)))
    real_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: (steps.append(1), real_step(self, *a, **k))[1])
    timing.after_other_stages("cpu")
    model = timing._STAND_IN["cpu"][0]
    assert evictions == [0] and all(p.grad is not None and not p.grad.any() for p in model.parameters())
    monkeypatch.setattr(timing, "EVICTED_MAX_REPEATS", 4)
    monkeypatch.setattr(bench, "sweep", lambda device, cpu, gpu: [64])
    evictions.clear()
    steps.clear()
    samples = bench.bench_optimizer(quick=True, repeats=1)
    assert len(samples.times_s) == 2 and all(t > 0 for t in samples.times_s)
    # the two warm-up steps of each shape run as they come; every timed one after a stand-in
    assert len(evictions) == 2 * 4 and len(steps) == 2 * (2 + 4)
    assert evictions == [6 * shape + 2 + run for shape in (0, 1) for run in range(4)]
