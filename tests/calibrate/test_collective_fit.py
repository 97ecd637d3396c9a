"""Fits of the collective benchmark's rows (gnnsim.calibrate.collective_fit)."""

import numpy as np

from gnnsim.calibrate.collective_fit import fit_spread


def _pairs(skew, ratio, anchor=1e-3):
    return np.column_stack([skew, ratio * anchor]).tolist()


def test_the_factor_against_the_skew_is_recovered_from_noisy_stalling_calls():
    # stalls: a 3 ms slice hits 40% of the calls entered together, 4% of those entered
    # apart; the fit must find the mean cost's levels and the skew where it falls
    rng = np.random.default_rng(1)
    skew = np.concatenate([rng.uniform(0, 2e-5, 2000), rng.uniform(1e-4, 1e-3, 2000)])
    p_stall = 0.04 + 0.36 * np.exp(-skew / 1e-5)
    cost = 2e-4 + 3e-3 * (rng.random(skew.size) < p_stall)
    peak, floor, scale = fit_spread(np.column_stack([skew, cost]).tolist(), 2e-4)
    mean_together = 1 + 15 * 0.36 * np.exp(-1e-5 / 1e-5) + 15 * 0.04  # roughly, at a 10 us skew
    assert peak > floor > 0
    assert abs(floor - (1 + 15 * 0.04)) < 0.25  # 1.6: the far-apart mean over the anchor
    assert peak > mean_together * 0.8
    assert 2e-6 < scale < 1e-4


def test_the_scale_is_not_extrapolated_past_the_loosest_entry_measured():
    # the factor falls slowly and has only reached 0.9 at the loosest skew (1 ms): left
    # free, the scale ran to 9.5 ms and the floor to 0 (alpha gone for late ranks)
    skew = np.linspace(0, 1e-3, 400)
    ratio = 1.0 - 0.1 * skew / skew.max()
    peak, floor, scale = fit_spread(_pairs(skew, ratio), 1e-3)
    assert scale <= skew.max() + 1e-12
    assert 0.8 <= floor / peak < 0.95


def test_no_fall_with_the_skew_gives_one_level_and_no_factor():
    skew = np.linspace(0, 1e-3, 200)
    assert fit_spread(_pairs(skew, np.full(skew.size, 1.5)), 1e-3) == (1.5, 1.5, 0.0)
    # a rise (the idle rank's wake-up, fitted apart) is not a factor either
    peak, floor, scale = fit_spread(_pairs(skew, 1.0 + skew / 1e-3), 1e-3)
    assert peak == floor and scale == 0.0


def test_too_few_calls_or_no_anchor_give_no_factor():
    assert fit_spread([], 1e-3) == (1.0, 1.0, 0.0)
    assert fit_spread([[0.0, 1e-3], [1e-3, 5e-4]], 1e-3)[2] == 0.0
    assert fit_spread([[0.0, 1e-3]] * 10, 0.0) == (1.0, 1.0, 0.0)


def test_the_busy_gap_factor_is_recovered_from_stalling_calls():
    # after longer compute more calls stall: 20% right after a collective, 50% after 4 ms
    from gnnsim.calibrate.collective_fit import fit_busy_gap
    from gnnsim.calibrate.collectives import GAPS_S

    rng = np.random.default_rng(2)
    rows = []
    for gap in GAPS_S:
        p_stall = 0.2 + 0.3 * (1 - np.exp(-gap / 2e-3))
        cost = 3e-4 + 3e-3 * (rng.random(3000) < p_stall)
        rows += [[gap, 1e-4, c] for c in cost]
    rise, scale = fit_busy_gap(rows)
    expected = (3e-4 + 3e-3 * 0.5) / (3e-4 + 3e-3 * 0.2) - 1  # the mean's rise far out: 1.0
    assert abs(rise - expected) < 0.2
    assert 1e-3 < scale < 4e-3


def test_no_rise_with_the_gap_or_too_few_gaps_give_no_busy_factor():
    from gnnsim.calibrate.collective_fit import fit_busy_gap
    from gnnsim.calibrate.collectives import GAPS_S

    assert fit_busy_gap([[g, 0.0, 1e-3] for g in GAPS_S for _ in range(5)]) == (0.0, 0.0)
    assert fit_busy_gap([[g, 0.0, 1e-3 / (1 + g)] for g in GAPS_S]) == (0.0, 0.0)  # a fall is not a rise
    assert fit_busy_gap([[0.0, 0.0, 1e-3], [1e-3, 0.0, 2e-3]]) == (0.0, 0.0)
    assert fit_busy_gap([]) == (0.0, 0.0)
