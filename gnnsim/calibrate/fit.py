"""Fit cost-model parameters to micro-benchmark timings (scipy ``least_squares``).

Residuals are relative (``predicted / measured - 1``) so that microsecond kernels and
second-long kernels count the same. Parameters are fitted in log space, which keeps
them positive without bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


@dataclass(frozen=True)
class RooflineFit:
    launch_s: float
    flops_per_s: float
    bytes_per_s: float  # beyond the cache tier (DRAM)
    cache_bytes: float
    cache_bytes_per_s: float
    first_touch_s_per_byte: float  # newly allocated output (page faults)
    fit_mape: float
    holdout_mape: float
    samples: int

    def predict(self, flops: np.ndarray, nbytes: np.ndarray, out_bytes: np.ndarray | None = None) -> np.ndarray:
        p = np.log([self.launch_s, self.flops_per_s, self.bytes_per_s, self.cache_bytes, self.cache_bytes_per_s,
                    max(self.first_touch_s_per_byte, NO_FIRST_TOUCH)])
        return roofline(p, flops, nbytes, np.zeros_like(nbytes) if out_bytes is None else out_bytes)


NO_FIRST_TOUCH = 1e-30  # s/byte: log-space stand-in for "no first-touch cost"


def roofline(log_params: np.ndarray, flops: np.ndarray, nbytes: np.ndarray, out_bytes: np.ndarray) -> np.ndarray:
    """``launch + max(flops/F, min(B, C)/Bc + max(B - C, 0)/B) + T * out``: a roofline whose
    first C bytes move at cache speed, plus a first-touch cost per byte of new output (the
    same formula as ``KernelRate`` and ``cost.model.kernel_time``)."""
    launch, rate_f, rate_b, cache, rate_c, touch = np.exp(log_params)
    fast = np.minimum(nbytes, cache)
    return launch + np.maximum(flops / rate_f, fast / rate_c + (nbytes - fast) / rate_b) + touch * out_bytes


def _mape(pred: np.ndarray, meas: np.ndarray) -> float:
    return float(np.mean(np.abs(pred / meas - 1.0))) if meas.size else float("nan")


def holdout_mask(n: int, every: int = 5) -> np.ndarray:
    """Every ``every``-th sample (deterministic) is held out of the fit."""
    mask = np.zeros(n, dtype=bool)
    mask[every - 1::every] = True
    return mask


TINY_CACHE_BYTES = 1.0  # a "cache" of one byte: the plain roofline


def fit_roofline(flops: np.ndarray, nbytes: np.ndarray, times: np.ndarray, *, memory_only: bool = False,
                 tiered: bool = True, out_bytes: np.ndarray | None = None) -> RooflineFit:
    """Fit ``launch + max(flops/F, memory time) + first touch``; with ``memory_only`` F is
    pinned far above reach, with ``tiered`` the memory time has a cache tier (size and
    speed fitted), and with ``out_bytes`` a first-touch cost per byte of new output.

    >>> f = np.array([1e6, 1e7, 1e8, 1e9, 2e9, 4e9, 1e6, 1e7, 1e8, 1e9])
    >>> b = np.array([1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e7, 1e8, 1e9])
    >>> t = 1e-5 + np.maximum(f / 5e10, b / 2e9)
    >>> fit = fit_roofline(f, b, t, tiered=False)
    >>> round(fit.flops_per_s / 5e10, 2), round(fit.bytes_per_s / 2e9, 2), round(fit.launch_s * 1e5, 2)
    (1.0, 1.0, 1.0)
    """
    flops, nbytes, times = (np.asarray(a, dtype=np.float64) for a in (flops, nbytes, times))
    touched = out_bytes is not None
    out = np.asarray(out_bytes, dtype=np.float64) if touched else np.zeros_like(nbytes)
    held = holdout_mask(times.size) if times.size >= 10 else np.zeros(times.size, dtype=bool)
    train = ~held
    big = 1e18
    f = np.zeros_like(flops) if memory_only else flops

    def unpack(p: np.ndarray) -> np.ndarray:
        launch, rate_f, rate_b = p[0], (np.log(big) if memory_only else p[1]), p[2]
        cache, rate_c = (p[3], p[4]) if tiered else (np.log(TINY_CACHE_BYTES), p[2])
        touch = p[5] if touched else np.log(NO_FIRST_TOUCH)
        return np.array([launch, rate_f, rate_b, cache, rate_c, touch])

    def residual(p: np.ndarray) -> np.ndarray:
        return roofline(unpack(p), f[train], nbytes[train], out[train]) / times[train] - 1.0

    t_min = max(float(times.min()), 1e-7)
    # The max() has no gradient on its inactive branch, so start where both branches can
    # be active (each rate at its upper bound: the work over the measured time) and keep
    # the best of a few starts.
    rate_f0 = float(np.max(f[train] / times[train])) if (f[train] > 0).any() else big
    rate_b0 = float(np.max(nbytes[train] / times[train]))
    best = None
    caches = (2**16, 2**18, 2**20, 2**22, 2**24, 2**26) if tiered else (TINY_CACHE_BYTES,)
    touches = (1e-10, 1e-12) if touched else (NO_FIRST_TOUCH,)
    for shrink in (1.0, 0.5, 0.2):
        for cache in caches:
            for dram in ((0.05, 0.3) if tiered else (1.0,)):
                for touch in touches:
                    start = np.log([t_min / 2, max(rate_f0 * shrink, 1.0), max(rate_b0 * shrink * dram, 1.0), cache,
                                    max(rate_b0 * shrink, 1.0), touch])
                    sol = least_squares(residual, start, method="trf", loss="soft_l1", f_scale=0.1)
                    if best is None or sol.cost < best.cost:
                        best = sol
    params = np.exp(unpack(best.x))
    if not touched:
        params[5] = 0.0
    fit = RooflineFit(*(float(x) for x in params), 0.0, 0.0, int(times.size))
    pred = fit.predict(f, nbytes, out)
    return RooflineFit(*(float(x) for x in params), _mape(pred[train], times[train]),
                       _mape(pred[held], times[held]), int(times.size))


@dataclass(frozen=True)
class LinearFit:
    coef: np.ndarray
    fit_mape: float
    holdout_mape: float


def fit_linear_nonneg(features: np.ndarray, times: np.ndarray) -> LinearFit:
    """Non-negative linear fit ``t = X @ c`` with relative residuals (sampler, alpha-beta).

    >>> X = np.array([[1, 10.0], [1, 100], [1, 1000], [1, 5000]])
    >>> fit_linear_nonneg(X, X @ np.array([2e-5, 1e-8])).coef.round(10).tolist()
    [2e-05, 1e-08]
    """
    X, y = np.asarray(features, dtype=np.float64), np.asarray(times, dtype=np.float64)
    held = holdout_mask(y.size) if y.size >= 10 else np.zeros(y.size, dtype=bool)
    train = ~held
    scale = np.maximum(X[train].max(axis=0), 1e-30)
    Xs = X / scale

    sol = least_squares(lambda c: Xs[train] @ c / y[train] - 1.0, np.full(X.shape[1], y[train].mean() / max(Xs.shape[1], 1)),
                        bounds=(0.0, np.inf), method="trf")
    coef = sol.x / scale
    pred = X @ coef
    return LinearFit(coef, _mape(pred[train], y[train]), _mape(pred[held], y[held]))
