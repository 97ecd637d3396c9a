import numpy as np
import pytest

from gnnsim.calibrate.fit import fit_linear_nonneg, fit_roofline, roofline


def _shapes(rng, n=40):
    flops = 10 ** rng.uniform(4, 10, n)
    nbytes = 10 ** rng.uniform(3, 9, n)
    return flops, nbytes


def test_roofline_fit_recovers_known_parameters():
    rng = np.random.default_rng(0)
    flops, nbytes = _shapes(rng)
    out = nbytes / 3
    truth = np.log([3e-6, 8e10, 5e9, 2e6, 4e10, 2e-10])
    t = roofline(truth, flops, nbytes, out)
    fit = fit_roofline(flops, nbytes, t, out_bytes=out)
    assert fit.launch_s == pytest.approx(3e-6, rel=0.05)
    assert fit.flops_per_s == pytest.approx(8e10, rel=0.05)
    assert fit.bytes_per_s == pytest.approx(5e9, rel=0.05)
    assert fit.first_touch_s_per_byte == pytest.approx(2e-10, rel=0.05)
    assert fit.fit_mape < 0.01 and fit.holdout_mape < 0.01


def test_roofline_fit_tolerates_noise_on_held_out_shapes():
    rng = np.random.default_rng(1)
    flops, nbytes = _shapes(rng, 60)
    t = roofline(np.log([5e-6, 5e10, 1e10, 1.0, 1e10, 1e-30]), flops, nbytes, np.zeros(60)) * rng.lognormal(0, 0.05, 60)
    fit = fit_roofline(flops, nbytes, t, tiered=False)
    assert fit.holdout_mape < 0.15


def test_linear_fit_recovers_sampler_costs():
    rng = np.random.default_rng(2)
    nodes = rng.integers(100, 100_000, 30)
    edges = nodes * rng.integers(3, 20, 30)
    X = np.column_stack([np.ones(30), nodes, edges])
    coef = np.array([200e-6, 150e-9, 40e-9])
    fit = fit_linear_nonneg(X, X @ coef)
    assert np.allclose(fit.coef, coef, rtol=0.02)
