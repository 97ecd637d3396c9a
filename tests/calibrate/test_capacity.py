"""The node-capacity measurement's arithmetic and the block it writes (no timing here)."""

from contextlib import nullcontext

import pytest

pytest.importorskip("torch")  # the calibration and the real ranks run torch

from gnnsim.calibrate import capacity


def test_capacity_block_from_alone_and_together_rounds(monkeypatch):
    # rounds alternate alone / together; a step of 2 ms alone and 4.4 ms beside one twin
    # (a slow pair, the machine drifting, is outvoted by the median slow-down; a round
    # alone in a fast phase slows its pair's together round alike): 2 x 2 / 4.4 = 0.909 cores
    times = iter([[0.2], [0.44], [0.9], [0.9], [0.2], [0.44], [0.1], [0.22], [0.2], [0.44]]
                 + [[0.2], [0.44]] * (capacity.ROUNDS - 5))
    monkeypatch.setattr(capacity, "_round_times", lambda step, steps, n: next(times))
    monkeypatch.setattr(capacity, "twins", lambda others, threads: nullcontext([]))
    monkeypatch.setattr(capacity, "training_like_step", lambda: (lambda: None))
    monkeypatch.setattr(capacity, "ROUND_S", 0.0)  # 3 steps a round: the times above are per round
    block = capacity.measure_capacity(1, 1, progress=lambda *a, **k: None)
    assert block["effective_cores"] == pytest.approx(2 * 0.2 / 0.44, rel=1e-3)
    assert block["alone_ms"] == pytest.approx(0.2 / 3 * 1e3, rel=1e-3)
    assert block["processes"] == 2 and block["threads"] == 1
    assert block["demand_cores"] == min(2, capacity.usable_cores())
    # rounds timed earlier are pooled: a slow-down of 1.1 in each of 2 * ROUNDS pairs
    # before outvotes this measurement's 2.2
    times = iter([[0.2], [0.44]] * capacity.ROUNDS)
    earlier = [(0.002, 0.0022)] * (2 * capacity.ROUNDS)
    block = capacity.measure_capacity(1, 1, progress=lambda *a, **k: None, earlier=earlier)
    assert block["effective_cores"] == pytest.approx(2 / 1.1, rel=3e-3)


def test_capacity_needs_a_twin():
    with pytest.raises(ValueError, match="at least one twin"):
        capacity.measure_capacity(0, 1)


def test_turn_slowdown_runs_two_busy_processes_per_core_block(monkeypatch):
    # 2 trainers' core blocks: 3 twins beside this process; slow-downs 2.4 (median of 3)
    seen = {}

    def rounds(others, threads, quick):
        seen["others"] = others
        return [(1.0, 2.4), (1.0, 2.2), (1.0, 2.6)]
    monkeypatch.setattr(capacity, "capacity_rounds", rounds)
    assert capacity.turn_slowdown(2, 1) == pytest.approx(2.4)
    assert seen["others"] == 3
    # 2.4x where fair turns give 2x (2.1x with the 1.05x of one busy process per core)
    assert capacity.turn_speed(2.4) == pytest.approx(2 / 2.4)
    assert capacity.turn_speed(2.4, 1.05) == pytest.approx(2.1 / 2.4)
