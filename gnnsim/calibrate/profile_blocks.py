"""A calibrated profile's blocks, fitted from measurements.

``gnnsim calibrate`` measures (:mod:`gnnsim.calibrate.run`) and ``gnnsim calibrate
--refit`` reads measurements back (:mod:`gnnsim.calibrate.refit`); both turn them into
the profile's blocks here, in profile units: each kernel class's rates and residuals
(:func:`fit_class`, :func:`fit_sweeps`, fitted by :mod:`gnnsim.calibrate.fit`), the
framework cost per kernel, the sampler, host-device copies, gloo's collectives, the
``device:`` mapping, and the profile's text.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import yaml

from gnnsim.calibrate import bench
from gnnsim.calibrate.collective_fit import fit_busy_gap, fit_spread, spread_ratio
from gnnsim.calibrate.collectives import SPREAD_BYTES, alltoall_sent_bytes
from gnnsim.calibrate.fit import Demands, LinearFit, fit_linear_nonneg, fit_roofline, roofline_kfold_mape
from gnnsim.calibrate.timing import Samples
from gnnsim.realrun.heap import MMAP_THRESHOLD_MAX_BYTES


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


# Kernels whose FLOPs do not bound them (a few FLOPs per 8-12 bytes, far below any
# device's ridge point): a fitted FLOP rate would only open a degeneracy
MEMORY_ONLY = ("gather", "optimizer", "elementwise")
ITEMIZED = ("aggregate", "gather", "optimizer")  # kernels with fixed work per item (see Kernel.items)
GEMMS = ("gemm", "gemm_tn")  # kernels whose FLOP rate depends on the shape (see Kernel.k_dim)
# A CPU's GEMMs are fitted without the cache tier (FLOP-bound at GNN shapes, no sample
# pins a cache down); a GPU's small GEMMs are memory-bound and keep it
CPU_UNTIERED = GEMMS
JITTER_MIN_TIME_S = 1e-3  # spread of kernels shorter than this is timer noise, not jitter
HOST_GATHER_KEYS = ("launch_us", "gbps", "cache_mb", "cache_gbps", "first_touch_us_per_mb", "per_item_ns",
                    "first_touch_above_mb")


def fit_class(cls: str, s: Samples, cpu: bool,
               touch_above: float = MMAP_THRESHOLD_MAX_BYTES) -> tuple[dict, dict]:
    """One kernel class's fitted rates (profile units) and its residuals. A CPU kernel
    (``cpu``, timed with the heap in steady state: :data:`~gnnsim.calibrate.timing.STEADY_HEAP`) has a
    first-touch cost, charged only to allocations of at least ``touch_above`` bytes
    (``Kernel.fresh_bytes``), in the fit as in the profile it writes."""
    untiered = cpu and cls in CPU_UNTIERED
    options = dict(memory_only=cls in MEMORY_ONLY, first_touch=cpu, per_item=cls in ITEMIZED,
                   gemm_shape=cls in GEMMS, tiered=not untiered)
    demands = replace(Demands.of(s.kernels), out_bytes=np.array([k.fresh_bytes(touch_above) for k in s.kernels]))
    fit = fit_roofline(demands, s.times_s, **options)
    kfold = roofline_kfold_mape(demands, s.times_s, **options)
    rates = {"launch_us": rounded(fit.launch_s * 1e6), "tflops": rounded(fit.flops_per_s / 1e12),
             "gbps": rounded(fit.bytes_per_s / 1e9), "cache_mb": rounded(fit.cache_bytes / 1e6),
             "cache_gbps": rounded(fit.cache_bytes_per_s / 1e9),
             "first_touch_us_per_mb": rounded(fit.first_touch_s_per_byte * 1e12),
             "per_item_ns": rounded(fit.per_item_s * 1e9), "k_half": rounded(fit.k_half), "n_half": rounded(fit.n_half)}
    if options["gemm_shape"]:
        rates["shape_power"], rates["m_half"] = rounded(fit.shape_power), rounded(fit.m_half)
    if untiered:  # the fit's one-byte stand-in for "no cache tier"
        rates["cache_mb"], rates["cache_gbps"] = 0.0, rates["gbps"]
    if cpu and touch_above:
        rates["first_touch_above_mb"] = round(touch_above / 1e6, 6)  # exact: 32 MiB is 33.554432 MB
    residuals = {"fit_mape": rounded(fit.fit_mape, 3), "holdout_mape": rounded(fit.holdout_mape, 3),
                 "kfold_mape": rounded(kfold, 3), "samples": fit.samples}
    return rates, residuals


def fit_sweeps(sweeps, cpu: bool, progress) -> tuple[dict, dict, float]:
    """Fit each (class, :class:`~gnnsim.calibrate.timing.Samples`) of ``sweeps`` in turn, reporting each
    class's errors; return the rates, the residuals and the mean
    run-to-run CV of kernels >= 1 ms (the device's jitter).

    A GPU's caching allocator reuses device memory, so its kernels have no first-touch
    cost to fit; a CPU's outputs of 32 MiB and more are mapped afresh (see
    :data:`~gnnsim.calibrate.timing.STEADY_HEAP`).
    """
    kernels, residuals, cvs = {}, {}, []
    for cls, s in sweeps:
        kernels[cls], residuals[cls] = fit_class(cls, s, cpu=cpu)
        r = residuals[cls]
        progress(f"{len(s.times_s)} shapes, fit error {r['fit_mape']:.1%}, held-out {_share(r['holdout_mape'])}, "
                 f"5-fold cross-validated {_share(r['kfold_mape'])}")
        cvs += [cv for cv, t in zip(s.cvs, s.times_s) if t >= JITTER_MIN_TIME_S]
    return kernels, residuals, float(np.mean(cvs)) if cvs else 0.0


def _share(x: float) -> str:
    """A relative error for the progress line; a sweep too small to hold shapes out has none.

    >>> _share(0.1234), _share(float("nan"))
    ('12.3%', 'n/a (too few shapes)')
    """
    return "n/a (too few shapes)" if np.isnan(x) else f"{x:.1%}"


def linear_residuals(fit: LinearFit, samples: int) -> dict:
    """A linear fit's residuals as the profile writes them."""
    return {"fit_mape": rounded(fit.fit_mape, 3), "holdout_mape": rounded(fit.holdout_mape, 3), "samples": samples}


def link_block(fit: LinearFit) -> dict:
    """``latency + bytes / bandwidth`` fitted as [latency, 1/bandwidth], in profile units."""
    return {"latency_us": rounded(fit.coef[0] * 1e6), "bw_gbps": rounded(1.0 / max(fit.coef[1], 1e-18) / 1e9)}


def fit_framework(kernels: dict, device: str, measured: dict, samples: dict) -> dict:
    """Host seconds per kernel of a forward and a backward step beyond the kernels' own
    costs: every model's step on a tiny block (``measured``: per model and stage, the
    step's mean seconds and its workload kernels, as :func:`~gnnsim.calibrate.bench.bench_framework` returns
    them) minus its kernels' costs, pooled over the models.

    A kernel of the tiny block is charged at least the fastest shape its class measured
    (``samples``), not only what the fitted rates predict: the fits trade their launch
    term against the per-byte and per-item ones (a CPU aggregation's launch fits near 0),
    so at tiny shapes they under-predict, and that shortfall is not a framework cost.
    """
    from gnnsim.cost.model import kernel_time
    from gnnsim.hardware.profiles import device_from_mapping

    rates = device_from_mapping({**device_block("cpu" if device == "cpu" else "gpu", 1, 1, kernels, 0.0),
                                 "sources": ["this calibration, in progress"]}, "<calibration in progress>")
    fastest = {cls: min(r["seconds"] for r in samples[cls]) for cls, _ in bench.KERNEL_BENCHMARKS}

    def own_cost(k) -> float:
        return max(kernel_time(rates.kernel(k.cls), k), fastest.get(k.cls, 0.0))

    out = {}
    for stage in ("forward", "backward"):
        extra = sum(t - sum(own_cost(k) for k in ks) for t, ks in (measured[name][stage] for name in measured))
        count = sum(len(measured[name][stage][1]) for name in measured)
        out[stage] = rounded(max(0.0, extra / count) * 1e6)
    return out


def fit_sampler(X: np.ndarray, y: np.ndarray, residuals: dict) -> dict:
    """The sampler's per batch, node, edge, locality, hop, draw and check costs from the
    batches' features (see :func:`~gnnsim.calibrate.bench.bench_sampler`) and times."""
    sfit = fit_linear_nonneg(X, y)
    residuals["sampler"] = linear_residuals(sfit, int(y.size))
    c = sfit.coef
    return {"per_batch_us": rounded(c[0] * 1e6), "per_node_ns": rounded(c[1] * 1e9), "per_edge_ns": rounded(c[2] * 1e9),
            "per_edge_doubling_ns": rounded(c[3] * 1e9), "reference_nodes": bench.SAMPLER_GRAPH_NODES[0],
            "per_hop_us": rounded(c[4] * 1e6), "per_draw_us": rounded(c[5] * 1e6), "per_check_ns": rounded(c[6] * 1e9)}


def fit_copy(direction: str, size: np.ndarray, seconds: np.ndarray, residuals: dict) -> dict:
    """One copy direction's ``latency + bytes / bandwidth``; its residuals go under ``copy_DIRECTION``."""
    fit = fit_linear_nonneg(np.column_stack([np.ones_like(size), size]), seconds)
    residuals[f"copy_{direction}"] = linear_residuals(fit, int(size.size))
    return link_block(fit)


def fit_collective(rows: list[list[float]], steps: float, wire: float) -> LinearFit:
    """Alpha-beta of one collective from [[bytes, mean s, median s]] rows, in its form
    ``steps * alpha + wire * bytes / B``, fitted to the means: the simulator predicts mean
    stage times, and the stalls are part of the mean.

    The rows are the collective's own times with the ranks arriving together (see
    :mod:`gnnsim.calibrate.collectives`); the spread sweep says how much less it costs
    when they arrive apart (:func:`gnnsim.calibrate.collective_fit.fit_spread`).
    """
    table = np.array(rows)
    return fit_linear_nonneg(np.column_stack([np.full(len(table), steps), wire * table[:, 0]]), table[:, 1])


def collective_blocks(coll: dict, world: int, residuals: dict, suffix: str) -> tuple[dict, dict]:
    """The ``intra_link`` (all-to-all) and ``allreduce`` blocks fitted from the benchmark's
    rows on ``world`` processes; their residuals go under ``allreduce{suffix}`` and
    ``alltoall{suffix}``."""
    # ring all-reduce on n ranks: 2(n-1) alpha + 2(n-1)/n * S / B
    ar_fit = fit_collective(coll["allreduce"], steps=2.0 * (world - 1), wire=2.0 * (world - 1) / world)
    # pairwise all-to-all: (n-1) alpha + bytes sent per rank / B
    a2a_fit = fit_collective(coll["alltoall"], steps=float(world - 1), wire=1.0)
    for name, fit in (("allreduce", ar_fit), ("alltoall", a2a_fit)):
        residuals[name + suffix] = linear_residuals(fit, len(coll[name]))
    # alpha's factor against the ranks' entry skew, each collective apart, relative to the
    # size sweep's prediction for the skew sweep's message (see fit_spread); the profile's
    # alpha is the one of ranks entering together, its floor the factor far apart
    small = float(SPREAD_BYTES)
    sweep_s = {"allreduce": ar_fit.coef @ [2.0 * (world - 1), 2.0 * (world - 1) / world * small],
               "alltoall": a2a_fit.coef @ [float(world - 1), alltoall_sent_bytes(SPREAD_BYTES, world)]}
    # With rounds spread over the calibration (collective_fit.median_rounds) both factors are
    # fitted round by round and each parameter keeps its median round
    rounds = coll.get("rounds", [coll])
    factors = [{name: fit_spread(r.get("skew", {}).get(name, []), float(sweep_s[name])) for name in sweep_s}
               for r in rounds]
    # and its factor against the compute since the ranks' previous collective
    # (over what the skew factor above predicts for the same calls, so the two agree)
    busy = [{name: fit_busy_gap(r.get("gap", {}).get(name, []),
                                lambda skew, name=name, f=f: float(sweep_s[name]) * spread_ratio(skew, *f[name]))
             for name in sweep_s} for r, f in zip(rounds, factors)]
    factor = {name: tuple(np.median([f[name] for f in factors], axis=0).tolist()) for name in sweep_s}
    (ar_peak, ar_floor, ar_scale), (a2a_peak, a2a_floor, a2a_scale) = factor["allreduce"], factor["alltoall"]
    (ar_rise, ar_busy), (a2a_rise, a2a_busy) = (tuple(np.median([b[name] for b in busy], axis=0).tolist())
                                                for name in ("allreduce", "alltoall"))
    intra = link_block(a2a_fit)
    intra["latency_us"] = rounded(intra["latency_us"] * a2a_peak)
    return intra, {"alpha_us": rounded(ar_fit.coef[0] * ar_peak * 1e6),
                   "gbps": rounded(1.0 / max(ar_fit.coef[1], 1e-18) / 1e9),
                   "spread_floor": rounded(min(1.0, ar_floor / ar_peak)), "spread_us": rounded(ar_scale * 1e6),
                   "alltoall_spread_floor": rounded(min(1.0, a2a_floor / a2a_peak)),
                   "alltoall_spread_us": rounded(a2a_scale * 1e6),
                   "busy_rise": ar_rise, "busy_us": rounded(ar_busy * 1e6),
                   "alltoall_busy_rise": a2a_rise, "alltoall_busy_us": rounded(a2a_busy * 1e6)}


def device_block(kind: str, threads: int, memory_bytes: int, kernels: dict, jitter_cv: float,
                  framework: dict | None = None) -> dict:
    """The ``device:`` mapping: the fitted kernel classes, the GEMM rate as the FP32 peak."""
    block = {"kind": kind, "threads": threads, "memory_bytes": int(memory_bytes),
             "mem_bw_gbps": kernels["elementwise"]["gbps"], "peak_tflops": {"float32": kernels["gemm"]["tflops"]},
             "kernels": kernels, "jitter_cv": rounded(jitter_cv, 3)}
    if framework:
        block["framework_us_per_kernel"] = framework
    return block


def profile_text(profile: dict, refitted: str = "") -> str:
    """A calibrated profile as written: a header that says what it is (and, with
    ``refitted``, when and from what it was fitted again), then the YAML."""
    return ("# Calibrated by `gnnsim calibrate` from micro-benchmarks only (never from end-to-end runs)"
            + (f",\n# refitted {refitted}.\n" if refitted else ".\n")
            + "# residuals: relative fit error on the benchmarked shapes, on held-out shapes (one in five, seeded)\n"
              "# and 5-fold cross-validated (every shape judged by a fit that did not see it).\n"
            + yaml.safe_dump(profile, sort_keys=False))
