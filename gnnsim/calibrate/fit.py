"""Fit cost-model parameters to micro-benchmark timings (scipy ``least_squares``).

Residuals are relative (``predicted / measured - 1``) so that microsecond kernels and
second-long kernels count the same. Parameters are fitted in log space, which keeps
them positive without bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from itertools import product

import numpy as np
from scipy.optimize import least_squares

from gnnsim.cost.model import gemm_rows, gemm_shape_efficiency
from gnnsim.workload.kernels import Kernel


@dataclass(frozen=True)
class Demands:
    """What a sweep of kernels asks for, one entry per kernel (see :class:`Kernel`)."""

    flops: np.ndarray
    bytes: np.ndarray
    out_bytes: np.ndarray
    items: np.ndarray
    k_dim: np.ndarray
    n_dim: np.ndarray

    @classmethod
    def of(cls, kernels: list[Kernel]) -> Demands:
        return cls(*(np.array([getattr(k, f.name) for k in kernels], dtype=np.float64) for f in fields(cls)))

    @classmethod
    def arrays(cls, flops, nbytes, out_bytes=None, items=None, k_dim=None, n_dim=None) -> Demands:
        """From arrays; the optional demands default to none (zeros)."""
        zeros = np.zeros(np.shape(nbytes))
        return cls(*(zeros if a is None else np.asarray(a, dtype=np.float64)
                     for a in (flops, nbytes, out_bytes, items, k_dim, n_dim)))

    def __getitem__(self, mask: np.ndarray) -> Demands:
        return Demands(*(getattr(self, f.name)[mask] for f in fields(self)))

    def without_flops(self) -> Demands:
        return replace(self, flops=np.zeros_like(self.flops))


NONE = 1e-30  # log-space stand-in for "no such cost" (first touch, per item, narrow GEMM dimensions)
NEGLIGIBLE = 1e-20  # a fitted optional term below this is reported as 0 (far below any effect)


SHAPE_POWER_RANGE = (0.5, 4.0)  # the steepness of the narrow-GEMM penalty the fit may choose
SHAPE_POWER_MIN_SAMPLES = 16  # fitted shapes below which the power stays 1 (k/(k + k_half)) and m is left out


def _unlog(log_params: np.ndarray) -> np.ndarray:
    """The parameters from their logs, clipped: a start that wanders off must not overflow."""
    return np.exp(np.clip(log_params, -700.0, 700.0))


def roofline(log_params: np.ndarray, d: Demands) -> np.ndarray:
    """``launch + max(flops / (F * narrow), min(B, C)/Bc + max(B - C, 0)/B) + T * out + I *
    items``: a roofline whose first C bytes move at cache speed, whose GEMMs run slower
    when their k, n or m is narrow, plus a first-touch cost per byte of new output and a
    fixed cost per item (the same formula as ``cost.model.kernel_time``). ``log_params``
    holds the logs of launch, F, B, C, Bc, T, I, k_half, n_half, the narrow penalty's power
    p (``cost.model.gemm_shape_efficiency``; held within :data:`SHAPE_POWER_RANGE`) and
    m_half."""
    launch, rate_f, rate_b, cache, rate_c, touch, item, k_half, n_half, power, m_half = _unlog(log_params)
    power = np.clip(power, *SHAPE_POWER_RANGE)
    fast = np.minimum(d.bytes, cache)
    narrow = gemm_shape_efficiency(d.k_dim, d.n_dim, k_half, n_half, power, gemm_rows(d.flops, d.k_dim, d.n_dim),
                                   m_half if m_half > NEGLIGIBLE else 0.0)
    compute = d.flops / (rate_f * narrow)
    return launch + np.maximum(compute, fast / rate_c + (d.bytes - fast) / rate_b) + touch * d.out_bytes + item * d.items


@dataclass(frozen=True)
class RooflineFit:
    launch_s: float
    flops_per_s: float
    bytes_per_s: float  # beyond the cache tier (DRAM)
    cache_bytes: float
    cache_bytes_per_s: float
    first_touch_s_per_byte: float  # newly allocated output (page faults)
    per_item_s: float  # each item of fixed work (edge aggregated, row gathered, optimizer step)
    k_half: float  # GEMM inner size at which the FLOP rate halves (0: no narrow-k penalty)
    n_half: float  # GEMM output width at which the FLOP rate halves (0: no narrow-n penalty)
    shape_power: float  # how steeply a narrow GEMM's rate falls (1: k/(k + k_half))
    m_half: float  # GEMM output rows at which the FLOP rate halves (0: no few-rows penalty)
    fit_mape: float
    holdout_mape: float
    samples: int

    def log_params(self) -> np.ndarray:
        return np.log([max(x, NONE) for x in (self.launch_s, self.flops_per_s, self.bytes_per_s, self.cache_bytes,
                                              self.cache_bytes_per_s, self.first_touch_s_per_byte, self.per_item_s,
                                              self.k_half, self.n_half, self.shape_power, self.m_half)])

    def predict(self, d: Demands) -> np.ndarray:
        return roofline(self.log_params(), d)


def _mape(pred: np.ndarray, meas: np.ndarray) -> float:
    return float(np.mean(np.abs(pred / meas - 1.0))) if meas.size else float("nan")


def holdout_mask(n: int, every: int = 5) -> np.ndarray:
    """One in ``every`` samples, drawn with a fixed seed, is held out of the fit.

    Drawn, not every ``every``-th in order: the sweeps are grids listed size by size,
    and a stride equal to a grid's width (the optimizer's 5 sizes per tensor count)
    held out the largest size every time, an extrapolation rather than a held-out
    shape (27-29% error there, 10% cross-validated).

    >>> int(holdout_mask(10).sum()), holdout_mask(10).tolist() == holdout_mask(10).tolist()
    (2, True)
    """
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(0).permutation(n)[:n // every]] = True
    return mask


TINY_CACHE_BYTES = 1.0  # a "cache" of one byte: the plain roofline


SCOUT_EVALS = 15  # residual evaluations each start of the roofline fit gets before the cut
POLISHED_STARTS = 8  # starts the roofline fit runs to convergence (plus each group's best)
# A GEMM fit's half sizes and power trade off in its first steps: on noise-free GEMMs the
# default cut kept a basin 0.6% off (k_half 9 for 6, power 0.9 for 1); scouted deeper, it
# finds the truth. GEMM sweeps are small, so this costs under a second per fit.
GEMM_SCOUT_EVALS = 40
GEMM_POLISHED_STARTS = 12


def fit_roofline(d: Demands, times: np.ndarray, *, memory_only: bool = False, tiered: bool = True,
                 first_touch: bool = False, per_item: bool = False, gemm_shape: bool = False,
                 held: np.ndarray | None = None) -> RooflineFit:
    """Fit :func:`roofline` to measured ``times``: launch, F and B always; with
    ``memory_only`` F is pinned far above reach (and FLOPs ignored), with ``tiered`` the
    memory time has a cache tier (size and speed), with ``first_touch`` a cost per byte of
    new output, with ``per_item`` a cost per item, and with ``gemm_shape`` the sizes of k
    and n at which a GEMM's FLOP rate halves and how steeply it falls below them (the
    power, and the half size of its rows m, from :data:`SHAPE_POWER_MIN_SAMPLES` fitted
    shapes up; else 1 and none). ``held`` marks
    the samples kept out of the fit (default: one in five, drawn with a fixed seed, see
    :func:`holdout_mask`).

    >>> f = np.array([1e6, 1e7, 1e8, 1e9, 2e9, 4e9, 1e6, 1e7, 1e8, 1e9])
    >>> b = np.array([1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6, 1e7, 1e8, 1e9])
    >>> t = 1e-5 + np.maximum(f / 5e10, b / 2e9)
    >>> fit = fit_roofline(Demands.arrays(f, b), t, tiered=False)
    >>> round(fit.flops_per_s / 5e10, 2), round(fit.bytes_per_s / 2e9, 2), round(fit.launch_s * 1e5, 2)
    (1.0, 1.0, 1.0)
    """
    times = np.asarray(times, dtype=np.float64)
    if held is None:
        held = holdout_mask(times.size) if times.size >= 10 else np.zeros(times.size, dtype=bool)
    train = ~held
    big = 1e18
    if memory_only:
        d = d.without_flops()
    none = np.log(NONE)

    def unpack(p: np.ndarray) -> np.ndarray:
        launch, rate_f, rate_b = p[0], (np.log(big) if memory_only else p[1]), p[2]
        cache, rate_c = (p[3], p[4]) if tiered else (np.log(TINY_CACHE_BYTES), p[2])
        return np.array([launch, rate_f, rate_b, cache, rate_c, p[5] if first_touch else none,
                         p[6] if per_item else none, p[7] if gemm_shape else none, p[8] if gemm_shape else none,
                         p[9] if free_power else 0.0, p[10] if free_power else none])

    d_train, t_train = d[train], times[train]
    # a term no fitted sample exercises would float free: leave it out
    first_touch = first_touch and bool((d_train.out_bytes > 0).any())
    per_item = per_item and bool((d_train.items > 0).any())
    # the penalty's power only where enough shapes pin it (a quick sweep's 9 weight-gradient
    # GEMMs fitted a power that predicted a tiny model's backward 5x too slow)
    free_power = gemm_shape and t_train.size >= SHAPE_POWER_MIN_SAMPLES

    def residual(p: np.ndarray) -> np.ndarray:
        return roofline(unpack(p), d_train) / t_train - 1.0

    t_min = max(float(times.min()), 1e-7)
    # The max() has no gradient on its inactive branch, so start where both branches can
    # be active (each rate at its upper bound: the work over the measured time) and keep
    # the best of a few starts.
    rate_f0 = float(np.max(d_train.flops / t_train)) if (d_train.flops > 0).any() else big
    rate_b0 = float(np.max(d_train.bytes / t_train))
    caches = (2**16, 2**18, 2**20, 2**22, 2**24, 2**26) if tiered else (TINY_CACHE_BYTES,)
    touches = (1e-10, 1e-12) if first_touch else (NONE,)
    # per item: from nothing, through a serial scatter of one short row, to a whole call
    per_items = (1e-10, 2e-8, t_min) if per_item else (NONE,)
    # the half sizes with the power each suits: gentle from small halves, steep from large
    halves = tuple(product((2.0, 16.0), (1.0, 2.0) if free_power else (1.0,))) if gemm_shape else ((NONE, 1.0),)
    # (the optional terms' starting values, the rates' and the cache's)
    starts = [((touch, item, half), np.log([t_min / 2, max(rate_f0 * shrink, 1.0), max(rate_b0 * shrink * dram, 1.0),
                                            cache, max(rate_b0 * shrink, 1.0), touch, item, half, half, power,
                                            half]))
              for touch, item, (half, power) in product(touches, per_items, halves)
              for shrink, cache, dram in product((1.0, 0.5, 0.2), caches, (0.05, 0.3) if tiered else (1.0,))]

    def solve(start: np.ndarray, budget: int | None):
        # a start far off overflows on its way (a rate of 1e300): the step is rejected,
        # and the warning would only litter the calibration's output
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return least_squares(residual, start, method="trf", loss="soft_l1", f_scale=0.1, max_nfev=budget)

    # Every start runs a short budget first; the best few overall and the best of each
    # choice of the optional terms' starts (a term's basin can look poor early) go on
    # to convergence. A full run of every start cost 4x the time (~40 s per refit) and
    # fitted the same parameters.
    scout_evals, polished = (GEMM_SCOUT_EVALS, GEMM_POLISHED_STARTS) if gemm_shape else (SCOUT_EVALS, POLISHED_STARTS)
    if len(starts) > polished:
        scouts = sorted(((solve(x, scout_evals), group) for group, x in starts), key=lambda pair: pair[0].cost)
        kept = scouts[:polished]
        kept += [next(pair for pair in scouts if pair[1] == group) for group in dict.fromkeys(g for _, g in scouts)]
        finals = [sol.x for sol, _ in kept]
    else:
        finals = [x for _, x in starts]
    best = min((solve(x, None) for x in finals), key=lambda sol: sol.cost)
    params = [float(x) for x in _unlog(unpack(best.x))]
    params[9] = float(np.clip(params[9], *SHAPE_POWER_RANGE)) if free_power else 1.0
    for index, fitted in ((5, first_touch), (6, per_item), (7, gemm_shape), (8, gemm_shape), (10, free_power)):
        # an optional term the fit drove to its log-space floor is absent, not 1e-47
        params[index] = params[index] if fitted and params[index] > NEGLIGIBLE else 0.0
    pred = roofline(unpack(best.x), d)
    return RooflineFit(*params, _mape(pred[train], times[train]), _mape(pred[held], times[held]), int(times.size))


def kfold_mape(n: int, errors_without, folds: int = 5) -> float:
    """Cross-validated error: split the ``n`` samples into ``folds`` seeded random folds,
    fit without each fold (``errors_without(held_mask)`` fits on the others and returns
    every sample's absolute relative error) and judge it on that fold; the mean over
    every sample. Every shape is judged once, by a fit that never saw it: a steadier figure
    than the fixed every-fifth holdout, which judges only a handful of shapes."""
    if n < 2 * folds:
        return float("nan")
    errors = np.empty(n)
    for fold in np.array_split(np.random.default_rng(0).permutation(n), folds):
        held = np.zeros(n, dtype=bool)
        held[fold] = True
        errors[fold] = errors_without(held)[fold]
    return float(np.mean(errors))


def roofline_kfold_mape(d: Demands, times: np.ndarray, **options) -> float:
    """:func:`kfold_mape` of :func:`fit_roofline` with the same options."""
    times = np.asarray(times, dtype=np.float64)
    memory_only = options.get("memory_only", False)

    def errors_without(held: np.ndarray) -> np.ndarray:
        fit = fit_roofline(d, times, held=held, **options)
        return np.abs(fit.predict(d.without_flops() if memory_only else d) / times - 1.0)

    return kfold_mape(times.size, errors_without)


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
    coef = np.where(X[train].any(axis=0), sol.x / scale, 0.0)  # a feature no sample has costs nothing
    pred = X @ coef
    return LinearFit(coef, _mape(pred[train], y[train]), _mape(pred[held], y[held]))
