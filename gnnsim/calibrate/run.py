"""``gnnsim calibrate``: measure this machine, fit the cost model, write a profile.

The profile is fitted from micro-benchmarks only (kernels, the framework's cost per
kernel, the sampler, and on a CPU the node's effective cores and gloo's collectives, on
a GPU the host-device copies and the host's feature gather), never from the end-to-end
runs it is later judged on. It records its provenance (host, CPU or GPU model, library
versions, date, threads) and, per kernel class, the fit error on the shapes used, on
one shape in five (drawn with a fixed seed) held out of the fit, and 5-fold cross-validated.

Calibrating on a busy host gives a profile several times off, so calibrate looks at the
host's load before and after it measures and at the spread of its own repeats
(:mod:`gnnsim.calibrate.host_load`): past a threshold it warns and marks the profile
(``quality.busy_host: true``), and ``strict`` refuses. The narrative goes to stdout as it
always has; the count of finished steps and the time left go to stderr on a terminal
(:mod:`gnnsim.progress`), only between the narrative's lines.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import yaml

from gnnsim.calibrate import bench, host_load
from gnnsim.calibrate.capacity import capacity_rounds, measure_capacity
from gnnsim.calibrate.collectives import (SPREAD_BYTES, SPREADS_S, alltoall_sent_bytes, fit_busy_gap,
                                         fit_spread, fit_wakeup, run_collectives, spread_ratio)
from gnnsim.calibrate.fit import Demands, LinearFit, fit_linear_nonneg, fit_roofline, roofline_kfold_mape
from gnnsim.calibrate.timeslice import SPIN_S, measure_time_slice
from gnnsim.calibrate.twin import twins
from gnnsim.calibrate.warmup import calibrate_warmup
from gnnsim.errors import GnnsimError
from gnnsim.hardware.profiles import warmup_from
from gnnsim.progress import Progress
from gnnsim.realrun.affinity import pinned
from gnnsim.report.files import write_atomic


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _round(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


KERNEL_BENCHMARKS = (("gemm", bench.bench_gemm), ("gemm_tn", bench.bench_gemm_tn), ("aggregate", bench.bench_aggregate),
                     ("gather", bench.bench_gather), ("elementwise", bench.bench_elementwise),
                     ("optimizer", bench.bench_optimizer))
# Kernels whose FLOPs do not bound them. An elementwise op does a few FLOPs per 8-12
# bytes, far below every catalogued device's ridge point (H100 20 FLOP/B, a CPU core
# ~14), and a unary op's FLOPs are proportional to its bytes: a fitted FLOP rate only
# opens a degeneracy. On the committed H100 measurements the roofline fit landed on a
# FLOP-bound elementwise with 1.6e18 GB/s of memory (5-fold 14.8%, held-out 45%);
# memory-only it fits 2777 GB/s, 5-fold 8.0%. On this VM's CPU the two agree (6.5% and 7.1%).
MEMORY_ONLY = ("gather", "optimizer", "elementwise")
ITEMIZED = ("aggregate", "gather", "optimizer")  # kernels with fixed work per item (see Kernel.items)
GEMMS = ("gemm", "gemm_tn")  # kernels whose FLOP rate depends on the shape (see Kernel.k_dim)
# A CPU's GEMMs are fitted without the cache tier: at the shapes GNNs run they are bound
# by their FLOPs, and a cache size and speed that no GEMM sample pins down traded off
# against first touch and the narrow-shape halves from fold to fold (held-out error,
# 5-fold, two sweeps on this VM: gemm 20-24% tiered, 16-17% untiered; gemm_tn 15-17% and
# 11-12%). A GPU's small GEMMs are bound by memory, and the tier fits them (H100: gemm 7%
# tiered, 20% untiered).
CPU_UNTIERED = GEMMS


# A CPU's kernel sweeps run twice, a minute apart, and each shape keeps the mean of both:
# the machine runs in phases of seconds to minutes (the same fixed load took 3.7-7.6 ms
# within one suite run), and a class swept in one slow phase fitted a rate that was
# wrong for every shape at once (session 10: a suite calibration's optimizer predicted
# 1.05 ms for a step that the same sweep fits at 340-500 us minutes later and training
# measured at 450-670 us). Each pass gets half the repeats, so the big shapes cost the same.
KERNEL_PASSES = 2
JITTER_MIN_TIME_S = 1e-3  # spread of kernels shorter than this is timer noise, not jitter


def _fit_class(cls: str, s: bench.Samples, cpu: bool,
               touch_above: float = bench.MMAP_THRESHOLD_MAX_BYTES) -> tuple[dict, dict]:
    """One kernel class's fitted rates (profile units) and its residuals. A CPU kernel
    (``cpu``, timed with the heap in steady state: :data:`bench.STEADY_HEAP`) has a
    first-touch cost, charged only to allocations of at least ``touch_above`` bytes
    (``Kernel.fresh_bytes``), in the fit as in the profile it writes."""
    untiered = cpu and cls in CPU_UNTIERED
    options = dict(memory_only=cls in MEMORY_ONLY, first_touch=cpu, per_item=cls in ITEMIZED,
                   gemm_shape=cls in GEMMS, tiered=not untiered)
    demands = replace(Demands.of(s.kernels), out_bytes=np.array([k.fresh_bytes(touch_above) for k in s.kernels]))
    fit = fit_roofline(demands, s.times_s, **options)
    kfold = roofline_kfold_mape(demands, s.times_s, **options)
    rates = {"launch_us": _round(fit.launch_s * 1e6), "tflops": _round(fit.flops_per_s / 1e12),
             "gbps": _round(fit.bytes_per_s / 1e9), "cache_mb": _round(fit.cache_bytes / 1e6),
             "cache_gbps": _round(fit.cache_bytes_per_s / 1e9),
             "first_touch_us_per_mb": _round(fit.first_touch_s_per_byte * 1e12),
             "per_item_ns": _round(fit.per_item_s * 1e9), "k_half": _round(fit.k_half), "n_half": _round(fit.n_half)}
    if options["gemm_shape"]:
        rates["shape_power"], rates["m_half"] = _round(fit.shape_power), _round(fit.m_half)
    if untiered:  # the fit's one-byte stand-in for "no cache tier"
        rates["cache_mb"], rates["cache_gbps"] = 0.0, rates["gbps"]
    if cpu and touch_above:
        rates["first_touch_above_mb"] = round(touch_above / 1e6, 6)  # exact: 32 MiB is 33.554432 MB
    residuals = {"fit_mape": _round(fit.fit_mape, 3), "holdout_mape": _round(fit.holdout_mape, 3),
                 "kfold_mape": _round(kfold, 3), "samples": fit.samples}
    return rates, residuals


def _fit_kernels(quick: bool, repeats: int, progress, device: str, samples: dict) -> tuple[dict, dict, float]:
    """Measure and fit every kernel class; also return the mean run-to-run CV of kernels
    >= 1 ms (:func:`fit_sweeps`). Each class's measurements are added to ``samples``."""
    passes = KERNEL_PASSES if device == "cpu" and not quick else 1  # (--quick: one, under a minute)
    per_pass = -(-repeats // passes)  # (the big shapes' runs split over the passes)
    earlier: dict[str, list[bench.Samples]] = {cls: [] for cls, _ in KERNEL_BENCHMARKS}
    for n in range(1, passes):
        progress(f"calibrate: kernels, pass {n} of {passes} (the sweeps again after it) ...", end=" ", flush=True)
        for cls, fn in KERNEL_BENCHMARKS:
            progress(cls, end=" ", flush=True)
            earlier[cls].append(fn(quick, per_pass, device))
        progress("done")
        progress.step()

    def measured():
        for cls, fn in KERNEL_BENCHMARKS:
            progress(f"calibrate: {cls} ...", end=" ", flush=True)
            s = bench.merged(earlier[cls] + [fn(quick, per_pass, device)])
            _record(samples, cls, s)
            yield cls, s
            progress.step()  # (fit_sweeps has fitted the class and ended its line)
    return fit_sweeps(measured(), device == "cpu", progress)


def fit_sweeps(sweeps, cpu: bool, progress) -> tuple[dict, dict, float]:
    """Fit each (class, :class:`bench.Samples`) of ``sweeps`` in turn, reporting each
    class's errors; return the rates, the residuals and the mean
    run-to-run CV of kernels >= 1 ms (the device's jitter).

    A GPU's caching allocator reuses device memory, so its kernels have no first-touch
    cost to fit; a CPU's outputs of 32 MiB and more are mapped afresh (see
    :data:`bench.STEADY_HEAP`).
    """
    kernels, residuals, cvs = {}, {}, []
    for cls, s in sweeps:
        kernels[cls], residuals[cls] = _fit_class(cls, s, cpu=cpu)
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


def _record(samples: dict, cls: str, s: bench.Samples) -> None:
    samples[cls] = [{"shape": shape, "seconds": t, "cv": cv, "flops": k.flops, "bytes": k.bytes,
                     "out_bytes": k.out_bytes, "items": k.items,
                     **({"out_parts": list(k.out_parts)} if k.out_parts else {}),
                     **({"k_dim": k.k_dim, "n_dim": k.n_dim} if k.k_dim or k.n_dim else {})}
                    for shape, t, cv, k in zip(s.shapes, s.times_s, s.cvs, s.kernels)]


def _linear_residuals(fit: LinearFit, samples: int) -> dict:
    """A linear fit's residuals as the profile writes them."""
    return {"fit_mape": _round(fit.fit_mape, 3), "holdout_mape": _round(fit.holdout_mape, 3), "samples": samples}


def _link_block(fit: LinearFit) -> dict:
    """``latency + bytes / bandwidth`` fitted as [latency, 1/bandwidth], in profile units."""
    return {"latency_us": _round(fit.coef[0] * 1e6), "bw_gbps": _round(1.0 / max(fit.coef[1], 1e-18) / 1e9)}


def _measure_framework(kernels: dict, device: str, repeats: int, progress, samples: dict) -> dict:
    """Time every model's step on a tiny block (:func:`bench.bench_framework`), record it in
    ``samples`` and fit the framework cost per kernel (:func:`_fit_framework`)."""
    progress("calibrate: framework cost per kernel (every model on a tiny block) ...", end=" ", flush=True)
    measured = bench.bench_framework(repeats, device)
    samples["framework"] = {name: {stage: t for stage, (t, _) in by.items()} for name, by in measured.items()}
    out = _fit_framework(kernels, device, measured, samples)
    progress(f"forward {out['forward']:g} us, backward {out['backward']:g} us per kernel")
    progress.step()
    return out


def _fit_framework(kernels: dict, device: str, measured: dict, samples: dict) -> dict:
    """Host seconds per kernel of a forward and a backward step beyond the kernels' own
    costs: every model's step on a tiny block (``measured``: per model and stage, the
    step's mean seconds and its workload kernels, as :func:`bench.bench_framework` returns
    them) minus its kernels' costs, pooled over the models.

    A kernel of the tiny block is charged at least the fastest shape its class measured
    (``samples``), not only what the fitted rates predict: the fits trade their launch
    term against the per-byte and per-item ones (a CPU aggregation's launch fits near 0),
    so at tiny shapes they under-predict, and that shortfall is not a framework cost.
    """
    from gnnsim.cost.model import kernel_time
    from gnnsim.hardware.profiles import device_from_mapping

    rates = device_from_mapping({**_device_block("cpu" if device == "cpu" else "gpu", 1, 1, kernels, 0.0),
                                 "sources": ["this calibration, in progress"]}, "<calibration in progress>")
    fastest = {cls: min(r["seconds"] for r in samples[cls]) for cls, _ in KERNEL_BENCHMARKS}

    def own_cost(k) -> float:
        return max(kernel_time(rates.kernel(k.cls), k), fastest.get(k.cls, 0.0))

    out = {}
    for stage in ("forward", "backward"):
        extra = sum(t - sum(own_cost(k) for k in ks) for t, ks in (measured[name][stage] for name in measured))
        count = sum(len(measured[name][stage][1]) for name in measured)
        out[stage] = _round(max(0.0, extra / count) * 1e6)
    return out


HOST_GATHER_KEYS = ("launch_us", "gbps", "cache_mb", "cache_gbps", "first_touch_us_per_mb", "per_item_ns",
                    "first_touch_above_mb")


def _measure_sampler(quick: bool, repeats: int, residuals: dict, progress, samples: dict) -> dict:
    progress("calibrate: sampler ...", end=" ", flush=True)
    X, y, shapes = bench.bench_sampler(quick, repeats)
    samples["sampler"] = [{"shape": shape, "seconds": float(t), "features": [float(x) for x in row]}
                          for shape, t, row in zip(shapes, y, X)]
    block = _fit_sampler(X, y, residuals)
    progress(f"{y.size} batches, fit error {residuals['sampler']['fit_mape']:.1%}")
    progress.step()
    return block


def _fit_sampler(X: np.ndarray, y: np.ndarray, residuals: dict) -> dict:
    """The sampler's per batch, node, edge, locality, hop, draw and check costs from the
    batches' features (see :func:`bench.bench_sampler`) and times."""
    sfit = fit_linear_nonneg(X, y)
    residuals["sampler"] = _linear_residuals(sfit, int(y.size))
    c = sfit.coef
    return {"per_batch_us": _round(c[0] * 1e6), "per_node_ns": _round(c[1] * 1e9), "per_edge_ns": _round(c[2] * 1e9),
            "per_edge_doubling_ns": _round(c[3] * 1e9), "reference_nodes": bench.SAMPLER_GRAPH_NODES[0],
            "per_hop_us": _round(c[4] * 1e6), "per_draw_us": _round(c[5] * 1e6), "per_check_ns": _round(c[6] * 1e9)}


def _fit_collective(rows: list[list[float]], steps: float, wire: float) -> LinearFit:
    """Alpha-beta of one collective from [[bytes, mean s, median s]] rows, in its form
    ``steps * alpha + wire * bytes / B``, fitted to the means: the simulator predicts mean
    stage times, and the stalls are part of the mean.

    The rows are the collective's own times with the ranks arriving together (see
    :mod:`gnnsim.calibrate.collectives`); the spread sweep says how much less it costs
    when they arrive apart (:func:`gnnsim.calibrate.collectives.fit_spread`). Benchmarks
    that sent the ranks in together and took the slower rank's time fitted an
    all-to-all alpha of 430-910 us from one calibration to the next, while the same
    scenario's measured fetch and all-reduce held within 10% over four suite runs; one
    that spread every arrival over a millisecond fitted 215-230 us, stable, and
    predicted the suite's all-reduce 44% and its fetch 29% too fast. Fitting the medians
    plus the pooled mean excess lost half the stalls to the large sizes' bimodal medians.
    """
    table = np.array(rows)
    return fit_linear_nonneg(np.column_stack([np.full(len(table), steps), wire * table[:, 0]]), table[:, 1])


class Narration:
    """The calibration's narrative (``say``: print, to stdout) and its count of finished
    steps on stderr (``steps``); each measuring function takes it as ``progress`` and calls
    :meth:`step` where a step ends and its narrative line is closed, so the two never
    share a line."""

    def __init__(self, say: Callable[..., object], steps: Progress):
        self.say, self.steps = say, steps

    def __call__(self, *args, **kwargs) -> None:
        self.say(*args, **kwargs)

    def step(self) -> None:
        self.steps.update()


def planned_steps(device: str, quick: bool, world: int, twin_load: bool) -> int:
    """How many times a calibration calls :meth:`Narration.step` (for the time left).

    >>> planned_steps("cpu", False, 2, False), planned_steps("cpu", True, 2, True), planned_steps("cuda", True, 2, False)
    (15, 9, 10)
    """
    if device == "cuda":
        return len(KERNEL_BENCHMARKS) + 4  # + framework, copies, host gather, sampler
    share_cores = world > 1 and not twin_load
    passes = 1 if quick else KERNEL_PASSES
    return ((passes - 1) + len(KERNEL_BENCHMARKS) + 2  # kernel passes, classes, framework, sampler
            + (4 if share_cores else 0)  # capacity before and after, time slice, warm-up
            + 1 + (1 if not quick and world > 1 else 0))  # collectives, oversubscribed ones


def warn(text: str) -> None:
    """A warning in one line on stderr (not progress: ``--quiet`` keeps it)."""
    print(f"gnnsim: warning: {text}", file=sys.stderr, flush=True)


def check_host(quality: host_load.Quality, strict: bool, measured: bool, warn: Callable[[str], None] = warn) -> None:
    """Refuse (``strict``: :class:`GnnsimError`, nothing written) or warn when ``quality``
    says the host was busy; ``measured``: after the benchmarks, else before them."""
    if not quality.busy_host:
        return
    why = host_load.summary(quality)
    if strict:
        done = "measured nothing" if not measured else "measured, but wrote nothing"
        raise GnnsimError(f"calibrate --strict: the host is busy ({why}); {done}. Calibrate on an idle host "
                          "(stop other jobs), or leave out --strict to write a profile marked quality.busy_host: true")
    if measured:
        warn(f"calibrate: the host was busy ({why}); the profile is marked quality.busy_host: true and may predict "
             "several times too slow. Calibrate again on an idle host (--strict refuses a busy one)")
    else:
        warn(f"calibrate: the host is busy ({why}); measuring anyway, the profile will be marked "
             "quality.busy_host: true (Ctrl-C to stop; --strict refuses a busy host)")


def calibrate(device: str = "cpu", out: str | Path = "hwprofiles/calibrated/localhost.yaml", quick: bool = False,
              threads: int = 1, world: int = 2, progress=print, samples_out: str | Path | None = None,
              twin_load: bool = False, strict: bool = False) -> dict:
    """Run the micro-benchmarks, fit, and write the calibrated profile to ``out``.

    ``device="cpu"`` times the kernels alone on this process's core, measures the node's
    effective cores apart (:mod:`gnnsim.calibrate.capacity`, for the simulator's CPU
    sharing) and fits gloo's collectives on ``world`` local processes, with the ranks
    arriving together and with one late (the ``spread_*`` factor), and, unless
    ``quick``, on two processes per core (the ``oversubscribed:`` block); ``twin_load`` times
    the kernels beside ``world - 1`` busy twins instead (the rates of an always-busy node,
    the mode before CPU sharing). ``device="cuda"`` times the kernels on GPU 0, the
    host-device copies, and the host's own work (the sampler and the feature gather on
    ``threads`` cores); collectives between GPUs need several GPUs and are left to the
    node's nominal links. With ``samples_out``, every benchmarked shape and its measured
    time are also written there (JSON), to refit or inspect without measuring again.

    The profile's ``quality:`` block says how busy the host was (:mod:`.host_load`); on
    a busy host calibrate warns on stderr, or with ``strict`` raises :class:`GnnsimError`
    (before measuring when the host is busy already) and writes nothing.
    """
    if device not in ("cpu", "cuda"):
        raise GnnsimError(f"calibrate --device must be cpu or cuda, got {device!r}")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise GnnsimError(f"calibrate --device cuda: torch {torch.__version__} sees no CUDA GPU "
                          f"(built for CUDA {torch.version.cuda}); run it on the machine whose GPU you want "
                          "measured, or use --device cpu")
    torch.set_num_threads(threads)
    repeats = 5 if quick else 11
    needed_cores = threads * (world if device == "cpu" else 1)  # the trainer and its twins or ranks
    before = host_load.probe()
    check_host(host_load.assess(before, needed_cores=needed_cores), strict, measured=False)
    started = time.perf_counter()
    measure = partial(_measure_cpu, twin_load=twin_load) if device == "cpu" else _measure_cuda
    samples: dict = {}
    with Progress("calibrate", planned_steps(device, quick, world, twin_load), "steps", lines=True) as steps:
        blocks, device_block, residuals, what = measure(quick, repeats, threads, world, Narration(progress, steps),
                                                        samples)
    wall_s = round(time.perf_counter() - started, 1)
    quality = host_load.assess(before, host_load.probe(), device_block["jitter_cv"], needed_cores)
    check_host(quality, strict, measured=True)

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    provenance = {"host": socket.gethostname(), "cpu_model": cpu_model(), "machine": platform.machine(),
                  "python": platform.python_version(), "torch": str(torch.__version__), "numpy": str(np.__version__),
                  "date": now, "threads": threads, "quick": quick, "world": world,
                  "wall_s": wall_s}
    if device == "cuda":
        provenance.update(gpu_model=torch.cuda.get_device_name(0), cuda=str(torch.version.cuda))
        del provenance["world"]
    else:
        provenance.update(twin_load=twin_load, heap="steady")  # see bench.STEADY_HEAP
    source = (f"gnnsim calibrate --device {device} on {provenance['host']} ({what}), {now}, "
              f"torch {torch.__version__}")
    profile = {"name": Path(out).stem,
               "device": {"name": f"calibrated-{Path(out).stem}", **device_block, "sources": [source + " (measured)"]},
               **blocks, "residuals": residuals, "quality": quality.to_dict(), "provenance": provenance,
               "sources": [source]}
    write_atomic(out, profile_text(profile))
    if samples_out is not None:
        write_atomic(samples_out, json.dumps({"provenance": provenance, "samples": samples}, indent=1) + "\n")
        progress(f"calibrate: wrote the measurements to {samples_out}")
    progress(f"calibrate: wrote {out} in {provenance['wall_s']} s")
    return profile


def profile_text(profile: dict, refitted: str = "") -> str:
    """A calibrated profile as written: a header that says what it is (and, with
    ``refitted``, when and from what it was fitted again), then the YAML."""
    return ("# Calibrated by `gnnsim calibrate` from micro-benchmarks only (never from end-to-end runs)"
            + (f",\n# refitted {refitted}.\n" if refitted else ".\n")
            + "# residuals: relative fit error on the benchmarked shapes, on held-out shapes (one in five, seeded)\n"
              "# and 5-fold cross-validated (every shape judged by a fit that did not see it).\n"
            + yaml.safe_dump(profile, sort_keys=False))


def _device_block(kind: str, threads: int, memory_bytes: int, kernels: dict, jitter_cv: float,
                  framework: dict | None = None) -> dict:
    """The ``device:`` mapping: the fitted kernel classes, the GEMM rate as the FP32 peak."""
    block = {"kind": kind, "threads": threads, "memory_bytes": int(memory_bytes),
             "mem_bw_gbps": kernels["elementwise"]["gbps"], "peak_tflops": {"float32": kernels["gemm"]["tflops"]},
             "kernels": kernels, "jitter_cv": _round(jitter_cv, 3)}
    if framework:
        block["framework_us_per_kernel"] = framework
    return block


def _collective_blocks(coll: dict, world: int, residuals: dict, suffix: str) -> tuple[dict, dict]:
    """The ``intra_link`` (all-to-all) and ``allreduce`` blocks fitted from the benchmark's
    rows on ``world`` processes; their residuals go under ``allreduce{suffix}`` and
    ``alltoall{suffix}``."""
    # ring all-reduce on n ranks: 2(n-1) alpha + 2(n-1)/n * S / B
    ar_fit = _fit_collective(coll["allreduce"], steps=2.0 * (world - 1), wire=2.0 * (world - 1) / world)
    # pairwise all-to-all: (n-1) alpha + bytes sent per rank / B
    a2a_fit = _fit_collective(coll["alltoall"], steps=float(world - 1), wire=1.0)
    for name, fit in (("allreduce", ar_fit), ("alltoall", a2a_fit)):
        residuals[name + suffix] = _linear_residuals(fit, len(coll[name]))
    # alpha's factor against the ranks' entry skew, each collective apart, relative to the
    # size sweep's prediction for the skew sweep's message (see fit_spread); the profile's
    # alpha is the one of ranks entering together, its floor the factor far apart
    small = float(SPREAD_BYTES)
    sweep_s = {"allreduce": ar_fit.coef @ [2.0 * (world - 1), 2.0 * (world - 1) / world * small],
               "alltoall": a2a_fit.coef @ [float(world - 1), alltoall_sent_bytes(SPREAD_BYTES, world)]}
    skew = coll.get("skew", {})
    factor = {name: fit_spread(skew.get(name, []), float(sweep_s[name])) for name in sweep_s}
    (ar_peak, ar_floor, ar_scale), (a2a_peak, a2a_floor, a2a_scale) = factor["allreduce"], factor["alltoall"]
    intra = _link_block(a2a_fit)
    intra["latency_us"] = _round(intra["latency_us"] * a2a_peak)
    # and its factor against the compute since the ranks' previous collective
    gap = coll.get("gap", {})
    # (over what the skew factor above predicts for the same calls, so the two agree)
    (ar_rise, ar_busy), (a2a_rise, a2a_busy) = (
        fit_busy_gap(gap.get(name, []), lambda skew, name=name: float(sweep_s[name]) * spread_ratio(skew, *factor[name]))
        for name in ("allreduce", "alltoall"))
    return intra, {"alpha_us": _round(ar_fit.coef[0] * ar_peak * 1e6),
                   "gbps": _round(1.0 / max(ar_fit.coef[1], 1e-18) / 1e9),
                   "spread_floor": _round(min(1.0, ar_floor / ar_peak)), "spread_us": _round(ar_scale * 1e6),
                   "alltoall_spread_floor": _round(min(1.0, a2a_floor / a2a_peak)),
                   "alltoall_spread_us": _round(a2a_scale * 1e6),
                   "busy_rise": ar_rise, "busy_us": _round(ar_busy * 1e6),
                   "alltoall_busy_rise": a2a_rise, "alltoall_busy_us": _round(a2a_busy * 1e6)}


OVERSUBSCRIPTION = 2  # processes per core in the oversubscribed collective benchmark


def _oversubscribed(world: int, quick: bool, residuals: dict, progress) -> dict:
    """Gloo's collectives with ``OVERSUBSCRIPTION`` processes on each of ``world`` cores.

    When trainers outnumber the cores, a collective's every message must wait for its
    receiver to be scheduled, behind the work of the other processes on its core. Measured
    on the dev VM (2 cores), a 4 KB all-to-all takes 0.16 ms between 2 processes and
    1.8 ms between 4 in a tight loop, 3.2 ms with work between the calls: 4-7 times the
    2-process alpha times the extra peers. The simulator uses these numbers for hosts
    with more trainers than cores (:meth:`gnnsim.hardware.profiles.Node.on_host`).
    """
    processes = OVERSUBSCRIPTION * world
    progress(f"calibrate: the same on {processes} processes sharing {world} cores ...", end=" ", flush=True)
    with pinned(0, world):  # the benchmark's processes inherit these cores and share them
        coll = run_collectives(processes, quick, crowded=True)
    intra_block, ar_block = _collective_blocks(coll, processes, residuals, "_oversubscribed")
    progress(f"all-reduce alpha {ar_block['alpha_us']:.0f} us, all-to-all {intra_block['latency_us']:.0f} us")
    return {"processes": processes, "cores": world, "intra_link": intra_block, "allreduce": ar_block}


def _measure_cpu(quick: bool, repeats: int, threads: int, world: int, progress,
                 samples: dict, twin_load: bool = False) -> tuple[dict, dict, dict, str]:
    # the node's capacity is timed now and again after the kernels, and the two pooled
    share_cores = world > 1 and not twin_load
    early = []
    if share_cores:
        progress(f"calibrate: node capacity, first look (a training-like load alone and beside {world - 1} "
                 "busy twin(s); looked at again after the kernels) ...", end=" ", flush=True)
        early = capacity_rounds(world - 1, threads, quick)
        progress(f"{len(early)} round pairs")
        progress.step()
    progress(f"calibrate: timing kernels beside {world - 1} twin trainer process(es) running a training-like load"
             if twin_load else "calibrate: timing kernels alone")
    with twins(world - 1 if twin_load else 0, threads), pinned(0, threads):  # this process is trainer 0
        kernels, residuals, jitter_cv = _fit_kernels(quick, repeats, progress, "cpu", samples)
        framework = _measure_framework(kernels, "cpu", repeats, progress, samples)
        sampler = _measure_sampler(quick, repeats, residuals, progress, samples)
    # CPU sharing: how many cores' worth the node's busy trainers really get (not with twin_load)
    sharing = measure_capacity(world - 1, threads, quick, progress, earlier=early) if share_cores else None
    if sharing is not None:
        progress.step()
        # the turns that trainers sharing a core take (used where trainers outnumber cores)
        slice_s = measure_time_slice(SPIN_S / 2 if quick else SPIN_S)
        if slice_s is not None:
            sharing["time_slice_ms"] = _round(slice_s * 1e3)
            progress(f"calibrate: time slice between two busy processes on one core: {slice_s * 1e3:.2f} ms")
        progress.step()
        progress("calibrate: warm-up after idling ...", end=" ", flush=True)
        warm = calibrate_warmup()
        if warm is not None:
            sharing.update(warm)
            idle = warmup_from(warm, Path("calibrate"))
            progress(f"+{idle.extra_s(0.03) * 1e3:.2f} ms of compute after 30 ms idle, "
                     f"+{idle.extra_s(0.003) * 1e3:.2f} ms after 3 ms (paid over {warm['warmup_ramp_ms']:.0f} ms of work)")
        else:
            progress("none measured")
        progress.step()

    progress(f"calibrate: gloo all-reduce and all-to-all on {world} local processes ...", end=" ", flush=True)
    coll = run_collectives(world, quick)
    intra_block, ar_block = _collective_blocks(coll, world, residuals, "")
    wakeup_s, idle_s = fit_wakeup(coll["wakeup"])
    # up to the skew sweep's latest arrival its costs (last entry to last exit) hold the
    # idle rank's wake-up already: the penalty counts only beyond
    idle_s = max(idle_s, SPREADS_S[-1]) if wakeup_s > 0 else idle_s
    progress(f"all-reduce fit error {residuals['allreduce']['fit_mape']:.1%}, "
             f"all-to-all {residuals['alltoall']['fit_mape']:.1%}, "
             f"alpha x{ar_block['spread_floor']:.2f} (all-to-all x{ar_block['alltoall_spread_floor']:.2f}) when the "
             f"ranks enter apart (scale {ar_block['spread_us']:.0f} us, {ar_block['alltoall_spread_us']:.0f} us), "
             f"x{1 + ar_block['busy_rise']:.2f} (x{1 + ar_block['alltoall_busy_rise']:.2f}) after long compute "
             f"(scale {ar_block['busy_us'] / 1e3:.1f} ms, {ar_block['alltoall_busy_us'] / 1e3:.1f} ms), "
             f"wake-up after idling {wakeup_s * 1e6:.0f} us (past {idle_s * 1e6:.0f} us)")
    progress.step()
    blocks = {
        "sampler": sampler,
        "host_gather": {k: kernels["gather"][k] for k in HOST_GATHER_KEYS},
        "intra_link": intra_block,
        "allreduce": {**ar_block, "wakeup_us": _round(wakeup_s * 1e6), "idle_threshold_us": _round(idle_s * 1e6)},
        **({"cpu_sharing": sharing} if sharing else {}),
    }
    if not quick and world > 1:
        blocks["oversubscribed"] = _oversubscribed(world, quick, residuals, progress)
        progress.step()
    return blocks, _device_block("cpu", threads, 8589934592, kernels, jitter_cv, framework), residuals, cpu_model()


def _fit_copies(quick: bool, repeats: int, residuals: dict, progress, samples: dict) -> dict:
    """Latency and bandwidth of each copy direction, ``t = latency + bytes / bandwidth``."""
    progress("calibrate: host-device copies ...", end=" ", flush=True)
    copies = {}
    for direction, (size, seconds) in bench.bench_copies(quick, repeats).items():
        samples[f"copy_{direction}"] = [{"bytes": float(b), "seconds": float(t)} for b, t in zip(size, seconds)]
        copies[direction] = _fit_copy(direction, size, seconds, residuals)
    progress(", ".join(f"{d} {c['bw_gbps']:g} GB/s" for d, c in copies.items()))
    progress.step()
    return copies


def _fit_copy(direction: str, size: np.ndarray, seconds: np.ndarray, residuals: dict) -> dict:
    """One copy direction's ``latency + bytes / bandwidth``; its residuals go under ``copy_DIRECTION``."""
    fit = fit_linear_nonneg(np.column_stack([np.ones_like(size), size]), seconds)
    residuals[f"copy_{direction}"] = _linear_residuals(fit, int(size.size))
    return _link_block(fit)


def _measure_cuda(quick: bool, repeats: int, threads: int, world: int, progress,
                  samples: dict) -> tuple[dict, dict, dict, str]:
    import torch

    gpu = torch.cuda.get_device_name(0)
    progress(f"calibrate: timing kernels on {gpu} (queued back to back, one synchronisation per batch)")
    with pinned(0, threads):  # trainer 0's host thread issues the kernels, samples and gathers
        kernels, residuals, jitter_cv = _fit_kernels(quick, repeats, progress, "cuda", samples)
        framework = _measure_framework(kernels, "cuda", repeats, progress, samples)
        copies = _fit_copies(quick, repeats, residuals, progress, samples)
        progress("calibrate: host feature gather ...", end=" ", flush=True)
        host_samples = bench.bench_gather(quick, repeats, "cpu", host_for_gpu=True)
        _record(samples, "host_gather", host_samples)
        host, residuals["host_gather"] = _fit_class("gather", host_samples, cpu=True)
        progress(f"fit error {residuals['host_gather']['fit_mape']:.1%}")
        progress.step()
        sampler = _measure_sampler(quick, repeats, residuals, progress, samples)
    blocks = {
        "sampler": sampler,
        "host_gather": {k: host[k] for k in HOST_GATHER_KEYS},
        # the trainer copies the freshly gathered (pageable) batch; pinned is there to compare
        "h2d_link": dict(copies["h2d_pageable"]),
        "copies": copies,
    }
    memory = torch.cuda.get_device_properties(0).total_memory
    return blocks, _device_block("gpu", 1, memory, kernels, jitter_cv, framework), residuals, f"{gpu}, host {cpu_model()}"
