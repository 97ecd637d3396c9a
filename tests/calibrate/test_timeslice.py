"""The time slice: turns of two busy processes on one core, read from the gaps in a spin loop."""

import os

import pytest

from gnnsim.calibrate import timeslice


def test_spin_runs_are_the_stretches_between_pauses(monkeypatch):
    # a clock that ticks 1 us per read, and jumps 4 ms (the other process's turn) after
    # every 3 ms of reads
    state = {"t": 0.0, "since": 0.0}

    def clock():
        state["t"] += 1e-6
        if state["t"] - state["since"] >= 3e-3:
            state["t"] += 4e-3
            state["since"] = state["t"]
        return state["t"]

    monkeypatch.setattr(timeslice.time, "perf_counter", clock)
    runs = timeslice.spin_runs(0.05)
    assert len(runs) >= 5
    assert runs == pytest.approx([3e-3] * len(runs), abs=2e-6)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_two_busy_processes_on_one_core_take_turns_of_a_plausible_length():
    slice_s = timeslice.measure_time_slice(0.2)
    # pinned to one core they must alternate; Linux: a scheduler tick (1-10 ms) or its
    # base slice (0.75-3 ms)
    assert slice_s is not None and 1e-4 < slice_s < 0.1
