"""gloo's collective benchmark in rounds spread over a calibration (issue 22)."""

import numpy as np
import pytest

from gnnsim.calibrate import rounds as rounds_mod
from gnnsim.calibrate.collective_fit import median_rounds
from gnnsim.calibrate.profile_blocks import collective_blocks

SIZES = [2.0**e for e in (10, 14, 17, 20, 22, 24)]


def _round(alpha: float, stalled: float, seed: int) -> dict:
    """One round's rows: alpha-beta sizes (2 ranks, 1 GB/s), a wake-up of 1 ms past 1 ms of
    idling, and skew calls where ``stalled`` of the tight ones stall for 3 ms."""
    rng = np.random.default_rng(seed)
    ar = [[s, 2 * alpha + s / 1e9, 2 * alpha + s / 1e9] for s in SIZES]
    a2a = [[s / 2, alpha + s / 2 / 1e9, alpha + s / 2 / 1e9] for s in SIZES]
    wake = [[d, alpha + (1e-3 if d >= 1e-3 else 0.0)] for d in (0.0, 1e-4, 5e-4, 1e-3, 2e-3, 4e-3)]
    skew = np.concatenate([rng.uniform(0, 1e-5, 400), rng.uniform(2e-4, 1e-3, 400)])
    cost = alpha * 2 + 3e-3 * ((skew < 1e-5) & (rng.random(skew.size) < stalled))
    pairs = np.column_stack([skew, cost]).tolist()
    return {"allreduce": ar, "alltoall": a2a, "wakeup": wake, "skew": {"allreduce": pairs, "alltoall": pairs},
            "gap": {"allreduce": [], "alltoall": []}}


def test_each_size_keeps_its_median_round_so_one_slow_round_is_left_out():
    rounds = [_round(1e-4, 0.3, 0), _round(4e-4, 0.3, 1), _round(1e-4, 0.3, 2)]
    merged = median_rounds(rounds)
    assert np.allclose(merged["allreduce"], rounds[0]["allreduce"])
    assert np.allclose(merged["wakeup"], rounds[2]["wakeup"])
    assert len(merged["rounds"]) == 3 and set(merged["rounds"][0]) == {"skew", "gap"}
    assert median_rounds(rounds[:1]) is rounds[0]


def test_the_skew_factor_keeps_its_median_round():
    # the tight calls stall 30% of the time in two rounds and 70% in a slow one: the
    # profile's alpha (the size sweep's times the peak factor) is the usual rounds'
    usual = collective_blocks(_round(1e-4, 0.3, 0), 2, {}, "")
    slow = collective_blocks(_round(1e-4, 0.7, 1), 2, {}, "")
    both = collective_blocks(median_rounds([_round(1e-4, 0.3, 0), _round(1e-4, 0.7, 1), _round(1e-4, 0.3, 2)]),
                             2, {}, "")
    assert slow[1]["alpha_us"] > 1.5 * usual[1]["alpha_us"]
    assert both[1]["alpha_us"] == pytest.approx(usual[1]["alpha_us"], rel=0.15)
    assert both[0]["latency_us"] == pytest.approx(usual[0]["latency_us"], rel=0.15)


def test_a_full_calibration_runs_its_rounds_on_half_the_calls_and_a_quick_one_once(monkeypatch):
    calls = []

    def fake(world, quick, share=1.0):
        calls.append((world, quick, share))
        return _round(1e-4 * len(calls), 0.3, len(calls))

    monkeypatch.setattr(rounds_mod, "run_collectives", fake)
    full = rounds_mod.CollectiveRounds(2, quick=False)
    full.run()
    assert len(calls) == 1
    merged = full.result()  # runs the rounds left
    assert calls == [(2, False, rounds_mod.COLLECTIVE_SHARE)] * rounds_mod.COLLECTIVE_ROUNDS
    assert merged["allreduce"][0][1] == pytest.approx(2 * 2e-4 + SIZES[0] / 1e9)
    full.run()  # no more than planned
    assert len(calls) == rounds_mod.COLLECTIVE_ROUNDS
    calls.clear()
    quick = rounds_mod.CollectiveRounds(2, quick=True)  # whole quick runs, as many rounds
    assert len(quick.result()["rounds"]) == rounds_mod.COLLECTIVE_ROUNDS
    assert calls == [(2, True, 1.0)] * rounds_mod.COLLECTIVE_ROUNDS
