"""Fits of the collective benchmark's rows (gnnsim.calibrate.collectives)."""

import numpy as np

from gnnsim.calibrate.collectives import SPREADS_S, fit_spread


def test_the_spread_factor_is_not_extrapolated_past_the_latest_arrival_measured():
    # the factor falls slowly and has only reached 0.9 at the sweep's last spread (1 ms):
    # left free, the scale ran to 9.5 ms and the floor to 0 (alpha gone for late ranks)
    late = np.array(SPREADS_S)
    factor = 1.0 - 0.1 * late / late.max()
    floor, scale = fit_spread([[d, 1e-3 * f, 5e-4 * f] for d, f in zip(late, factor)])
    assert scale <= late.max() + 1e-12
    assert 0.8 <= floor < 0.95
    # the fitted curve reproduces what was measured, within the noise a fit leaves
    fitted = floor + (1 - floor) * np.exp(-late / scale)
    assert np.max(np.abs(fitted - factor)) < 0.03


def test_no_dependence_on_the_spread_gives_no_factor():
    rows = [[d, 1e-3, 5e-4] for d in SPREADS_S]
    assert fit_spread(rows) == (1.0, 0.0)
