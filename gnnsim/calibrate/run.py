"""``gnnsim calibrate``: measure this machine, fit the cost model, write a profile.

The profile is fitted from micro-benchmarks only (kernels, sampler, gloo collectives),
never from the end-to-end runs it is later judged on. It records its provenance (host,
CPU model, library versions, date, threads) and, per kernel class, the fit error on the
shapes used and on every fifth shape, held out of the fit.
"""

from __future__ import annotations

import platform
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

from gnnsim.calibrate import bench
from gnnsim.calibrate.capacity import measure_capacity
from gnnsim.calibrate.collectives import fit_wakeup, run_collectives
from gnnsim.calibrate.fit import Demands, LinearFit, fit_linear_nonneg, fit_roofline, roofline_kfold_mape
from gnnsim.calibrate.twin import twins
from gnnsim.errors import GnnsimError
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
MEMORY_ONLY = ("gather", "optimizer")  # kernels whose FLOPs do not bound them
ITEMIZED = ("aggregate", "gather", "optimizer")  # kernels with fixed work per item (see Kernel.items)
GEMMS = ("gemm", "gemm_tn")  # kernels whose FLOP rate depends on the shape (see Kernel.k_dim)


JITTER_MIN_TIME_S = 1e-3  # spread of kernels shorter than this is timer noise, not jitter


def _fit_kernels(quick: bool, repeats: int, progress) -> tuple[dict, dict, float]:
    """Fit every kernel class; also return the mean run-to-run CV of kernels >= 1 ms."""
    kernels, residuals, cvs = {}, {}, []
    for cls, fn in KERNEL_BENCHMARKS:
        progress(f"calibrate: {cls} ...", end=" ", flush=True)
        s = fn(quick, repeats)
        options = dict(memory_only=cls in MEMORY_ONLY, first_touch=True, per_item=cls in ITEMIZED,
                       gemm_shape=cls in GEMMS)
        demands = Demands.of(s.kernels)
        fit = fit_roofline(demands, s.times_s, **options)
        kfold = roofline_kfold_mape(demands, s.times_s, **options)
        kernels[cls] = {"launch_us": _round(fit.launch_s * 1e6), "tflops": _round(fit.flops_per_s / 1e12),
                        "gbps": _round(fit.bytes_per_s / 1e9), "cache_mb": _round(fit.cache_bytes / 1e6),
                        "cache_gbps": _round(fit.cache_bytes_per_s / 1e9),
                        "first_touch_us_per_mb": _round(fit.first_touch_s_per_byte * 1e12),
                        "per_item_ns": _round(fit.per_item_s * 1e9), "k_half": _round(fit.k_half),
                        "n_half": _round(fit.n_half)}
        residuals[cls] = {"fit_mape": _round(fit.fit_mape, 3), "holdout_mape": _round(fit.holdout_mape, 3),
                          "kfold_mape": _round(kfold, 3), "samples": fit.samples}
        progress(f"{len(s.times_s)} shapes, fit error {fit.fit_mape:.1%}, held-out {fit.holdout_mape:.1%}, "
                 f"5-fold cross-validated {kfold:.1%}")
        cvs += [cv for cv, t in zip(s.cvs, s.times_s) if t >= JITTER_MIN_TIME_S]
    return kernels, residuals, float(np.mean(cvs)) if cvs else 0.0


def _fit_collective(rows: list[list[float]], steps: float, wire: float) -> LinearFit:
    """Alpha-beta of one collective from [[bytes, mean s, median s]] rows, in its form
    ``steps * alpha + wire * bytes / B``. The fit uses the medians (the collective
    itself); the stalls, the mean excess of the mean over the median pooled over every
    size (a rare event needs many calls), are then added to alpha per step."""
    table = np.array(rows)
    fit = fit_linear_nonneg(np.column_stack([np.full(len(table), steps), wire * table[:, 0]]), table[:, 2])
    fit.coef[0] += max(0.0, float(np.mean(table[:, 1] - table[:, 2])) / steps)
    return fit


def calibrate(device: str = "cpu", out: str | Path = "hwprofiles/calibrated/localhost.yaml", quick: bool = False,
              threads: int = 1, world: int = 2, progress=print, twin_load: bool = False) -> dict:
    """Run the micro-benchmarks, fit, and write the calibrated profile to ``out``.

    Kernels are timed alone and the node's effective cores are measured apart
    (:mod:`gnnsim.calibrate.capacity`); ``twin_load`` times them beside ``world - 1``
    busy twins instead (the rates of an always-busy node, the mode before CPU sharing)."""
    if device != "cpu":
        raise GnnsimError("calibrate --device cuda needs a CUDA GPU, which this build does not drive yet; "
                          "use --device cpu")
    import torch

    torch.set_num_threads(threads)
    repeats = 5 if quick else 11
    started = time.perf_counter()
    progress(f"calibrate: timing kernels beside {world - 1} twin trainer process(es) running a training-like load"
             if twin_load else "calibrate: timing kernels alone")
    with twins(world - 1 if twin_load else 0, threads), pinned(0, threads):  # this process is trainer 0
        kernels, residuals, jitter_cv = _fit_kernels(quick, repeats, progress)
        progress("calibrate: sampler ...", end=" ", flush=True)
        X, y, _ = bench.bench_sampler(quick, repeats)
    sfit = fit_linear_nonneg(X, y)
    sampler = {"per_batch_us": _round(sfit.coef[0] * 1e6), "per_node_ns": _round(sfit.coef[1] * 1e9),
               "per_edge_ns": _round(sfit.coef[2] * 1e9), "per_edge_doubling_ns": _round(sfit.coef[3] * 1e9),
               "reference_nodes": bench.SAMPLER_GRAPH_NODES[0]}
    residuals["sampler"] = {"fit_mape": _round(sfit.fit_mape, 3), "holdout_mape": _round(sfit.holdout_mape, 3), "samples": int(y.size)}
    progress(f"{y.size} batches, fit error {sfit.fit_mape:.1%}")
    # CPU sharing: how many cores' worth the node's busy trainers really get (not with twin_load)
    sharing = measure_capacity(world - 1, threads, quick, progress) if world > 1 and not twin_load else None

    progress(f"calibrate: gloo all-reduce and all-to-all on {world} local processes ...", end=" ", flush=True)
    coll = run_collectives(world, quick)
    # ring all-reduce on n ranks: 2(n-1) alpha + 2(n-1)/n * S / B
    ar_fit = _fit_collective(coll["allreduce"], steps=2.0 * (world - 1), wire=2.0 * (world - 1) / world)
    # pairwise all-to-all: (n-1) alpha + bytes sent per rank / B
    a2a_fit = _fit_collective(coll["alltoall"], steps=float(world - 1), wire=1.0)
    wakeup_s, idle_s = fit_wakeup(coll["wakeup"])
    for name, fit in (("allreduce", ar_fit), ("alltoall", a2a_fit)):
        residuals[name] = {"fit_mape": _round(fit.fit_mape, 3), "holdout_mape": _round(fit.holdout_mape, 3),
                           "samples": len(coll[name])}
    progress(f"all-reduce fit error {ar_fit.fit_mape:.1%}, all-to-all {a2a_fit.fit_mape:.1%}, "
             f"wake-up after idling {wakeup_s * 1e6:.0f} us (past {idle_s * 1e6:.0f} us)")

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    provenance = {"host": socket.gethostname(), "cpu_model": cpu_model(), "machine": platform.machine(),
                  "python": platform.python_version(), "torch": str(torch.__version__), "numpy": str(np.__version__),
                  "date": now, "threads": threads, "quick": quick, "world": world, "twin_load": twin_load,
                  "wall_s": round(time.perf_counter() - started, 1)}
    source = f"gnnsim calibrate --device cpu on {provenance['host']} ({provenance['cpu_model']}), {now}, torch {torch.__version__}"
    gemm = kernels["gemm"]
    profile = {
        "name": Path(out).stem,
        "device": {
            "name": f"calibrated-{Path(out).stem}", "kind": "cpu", "threads": threads,
            "memory_bytes": 8589934592, "mem_bw_gbps": kernels["elementwise"]["gbps"],
            "peak_tflops": {"float32": gemm["tflops"]},
            "kernels": kernels, "jitter_cv": _round(jitter_cv, 3), "sources": [source + " (measured)"],
        },
        "sampler": sampler,
        "host_gather": {k: kernels["gather"][k] for k in ("launch_us", "gbps", "cache_mb", "cache_gbps",
                                                           "first_touch_us_per_mb", "per_item_ns")},
        "intra_link": {"latency_us": _round(a2a_fit.coef[0] * 1e6), "bw_gbps": _round(1.0 / max(a2a_fit.coef[1], 1e-18) / 1e9)},
        "allreduce": {"alpha_us": _round(ar_fit.coef[0] * 1e6), "gbps": _round(1.0 / max(ar_fit.coef[1], 1e-18) / 1e9),
                      "wakeup_us": _round(wakeup_s * 1e6), "idle_threshold_us": _round(idle_s * 1e6)},
        **({"cpu_sharing": sharing} if sharing else {}),
        "residuals": residuals,
        "provenance": provenance,
        "sources": [source],
    }
    header = ("# Calibrated by `gnnsim calibrate` from micro-benchmarks only (never from end-to-end runs).\n"
              "# residuals: relative fit error on the benchmarked shapes, on held-out shapes (every 5th)\n"
              "# and 5-fold cross-validated (every shape judged by a fit that did not see it).\n")
    write_atomic(out, header + yaml.safe_dump(profile, sort_keys=False))
    progress(f"calibrate: wrote {out} in {provenance['wall_s']} s")
    return profile
