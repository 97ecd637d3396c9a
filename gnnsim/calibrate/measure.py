"""What ``gnnsim calibrate`` measures on each device, and the fits of its blocks.

:func:`measure_cpu` and :func:`measure_cuda` run the micro-benchmarks in order (the
kernel classes, the framework's cost per kernel, the sampler, the host's feature
gather, PyG; on a CPU also the node's capacity, the time slice, the warm-up and gloo's
collectives in rounds, on a GPU the host-device copies), narrate each step, record
every measurement in ``samples`` and return the profile's blocks.
:mod:`gnnsim.calibrate.run` checks the host, calls one of them and writes the profile.
"""

from __future__ import annotations

import platform
import socket
from datetime import datetime, timezone
from pathlib import Path

from gnnsim.calibrate import bench
from gnnsim.calibrate.capacity import (TURN_PROCESSES_PER_CORE, capacity_rounds, measure_capacity, turn_slowdown,
                                       turn_speed)
from gnnsim.calibrate.collective_fit import fit_wakeup
from gnnsim.calibrate.collectives import SPREADS_S, run_collectives
from gnnsim.calibrate.profile_blocks import (HOST_GATHER_KEYS, collective_blocks, device_block, fit_class, fit_copy,
                                             fit_framework, fit_sampler, fit_sweeps, rounded)
from gnnsim.calibrate.pyg import available as pyg_available, calibrate_pyg
from gnnsim.calibrate.rounds import KERNEL_PASSES, CollectiveRounds, Rounds, kernel_jitter
from gnnsim.calibrate.timeslice import SPIN_S, measure_time_slice
from gnnsim.calibrate.timing import Samples, merged
from gnnsim.calibrate.twin import twins
from gnnsim.calibrate.warmup import calibrate_warmup
from gnnsim.hardware.profiles import warmup_from
from gnnsim.realrun.affinity import pinned


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fit_optimizer_rounds(rounds: Rounds, kernels: dict, residuals: dict, samples: dict, progress) -> None:
    """Fit the optimizer class on each shape's median round into ``kernels`` and
    ``residuals`` (its line as :func:`fit_sweeps` writes it); record it in ``samples``."""
    s = rounds.optimizer_samples()
    _record(samples, "optimizer", s)
    samples["rounds"] = {"probe_s": rounds.probes, "reference_s": rounds.reference_s(),
                         "optimizer_s": [r.times_s for r in rounds.optimizer]}
    progress(f"calibrate: optimizer ({len(rounds.optimizer)} rounds spread over the calibration, each scaled to the "
             f"host-speed probe's median {rounds.reference_s() * 1e3:.2f} ms, each shape's median) ...",
             end=" ", flush=True)
    fitted, res, _ = fit_sweeps([("optimizer", s)], True, progress)
    kernels.update(fitted)
    # (the host speed its rounds were scaled to: the median step of the load cpu_sharing.alone_ms times)
    residuals.update({"optimizer": {**res["optimizer"], "rounds": len(rounds.optimizer),
                                    "reference_step_ms": rounded(rounds.reference_s() * 1e3)}})
    progress.step()


def _fit_kernels(quick: bool, repeats: int, progress, device: str, samples: dict,
                 rounds: Rounds | None = None) -> tuple[dict, dict, float]:
    """Measure and fit every kernel class; also return the mean run-to-run CV of kernels
    >= 1 ms (:func:`fit_sweeps`). Each class's measurements are added to ``samples``.
    With ``rounds`` the optimizer is left to them (a round after each pass) and fitted later."""
    passes = KERNEL_PASSES if device == "cpu" and not quick else 1  # (--quick: one, under a minute)
    per_pass = -(-repeats // passes)  # (the big shapes' runs split over the passes)
    classes = [(cls, fn) for cls, fn in bench.KERNEL_BENCHMARKS if rounds is None or cls != "optimizer"]
    earlier: dict[str, list[Samples]] = {cls: [] for cls, _ in classes}
    for n in range(1, passes):
        progress(f"calibrate: kernels, pass {n} of {passes} (the sweeps again after it) ...", end=" ", flush=True)
        for cls, fn in classes:
            progress(cls, end=" ", flush=True)
            earlier[cls].append(fn(quick, per_pass, device))
        if rounds is not None:
            progress("optimizer (a round)", end=" ", flush=True)
            rounds.run()
        progress("done")
        progress.step()

    def measured():
        for cls, fn in classes:
            progress(f"calibrate: {cls} ...", end=" ", flush=True)
            s = merged(earlier[cls] + [fn(quick, per_pass, device)])
            _record(samples, cls, s)
            yield cls, s
            progress.step()  # (fit_sweeps has fitted the class and ended its line)
        if rounds is not None:
            rounds.run()
    return fit_sweeps(measured(), device == "cpu", progress)


def _record(samples: dict, cls: str, s: Samples) -> None:
    samples[cls] = [{"shape": shape, "seconds": t, "cv": cv, "flops": k.flops, "bytes": k.bytes,
                     "out_bytes": k.out_bytes, "items": k.items,
                     **({"out_parts": list(k.out_parts)} if k.out_parts else {}),
                     **({"k_dim": k.k_dim, "n_dim": k.n_dim} if k.k_dim or k.n_dim else {})}
                    for shape, t, cv, k in zip(s.shapes, s.times_s, s.cvs, s.kernels)]


def _measure_framework(kernels: dict, device: str, repeats: int, progress, samples: dict) -> dict:
    """Time every model's step on a tiny block (:func:`bench.bench_framework`), record it in
    ``samples`` and fit the framework cost per kernel (:func:`fit_framework`)."""
    progress("calibrate: framework cost per kernel (every model on a tiny block) ...", end=" ", flush=True)
    measured = bench.bench_framework(repeats, device)
    samples["framework"] = {name: {stage: t for stage, (t, _) in by.items()} for name, by in measured.items()}
    out = fit_framework(kernels, device, measured, samples)
    progress(f"forward {out['forward']:g} us, backward {out['backward']:g} us per kernel")
    progress.step()
    return out


def _measure_sampler(quick: bool, repeats: int, residuals: dict, progress, samples: dict) -> dict:
    progress("calibrate: sampler ...", end=" ", flush=True)
    X, y, shapes = bench.bench_sampler(quick, repeats)
    samples["sampler"] = [{"shape": shape, "seconds": float(t), "features": [float(x) for x in row]}
                          for shape, t, row in zip(shapes, y, X)]
    block = fit_sampler(X, y, residuals)
    progress(f"{y.size} batches, fit error {residuals['sampler']['fit_mape']:.1%}")
    progress.step()
    return block


def _framework_source(device: str) -> str:
    """Where a framework block's numbers come from (host and date), for its ``sources:``."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"gnnsim calibrate --device {device} on {socket.gethostname()} ({cpu_model()}), {now}"


OVERSUBSCRIPTION = 2  # processes per core in the oversubscribed collective benchmark


def _oversubscribed(world: int, quick: bool, residuals: dict, progress) -> dict:
    """Gloo's collectives with ``OVERSUBSCRIPTION`` processes on each of ``world`` cores.

    When trainers outnumber the cores, a collective's every message must wait for its
    receiver to be scheduled, behind the work of the other processes on its core. The
    simulator uses these numbers for hosts with more trainers than cores
    (:meth:`gnnsim.hardware.cluster.Node.on_host`).
    """
    processes = OVERSUBSCRIPTION * world
    progress(f"calibrate: the same on {processes} processes sharing {world} cores ...", end=" ", flush=True)
    with pinned(0, world):  # the benchmark's processes inherit these cores and share them
        coll = run_collectives(processes, quick, crowded=True)
    intra_block, ar_block = collective_blocks(coll, processes, residuals, "_oversubscribed")
    progress(f"all-reduce alpha {ar_block['alpha_us']:.0f} us, all-to-all {intra_block['latency_us']:.0f} us")
    return {"processes": processes, "cores": world, "intra_link": intra_block, "allreduce": ar_block}


def measure_cpu(quick: bool, repeats: int, threads: int, world: int, progress,
                samples: dict, twin_load: bool = False) -> tuple[dict, dict, dict, str]:
    """Measure and fit what a CPU profile holds: (its blocks, its ``device:`` block, the
    fits' residuals, the CPU's name). See :func:`gnnsim.calibrate.run.calibrate`."""
    # the node's capacity is timed now and again after the kernels, and the two pooled
    share_cores = world > 1 and not twin_load
    early = []
    if share_cores:
        progress(f"calibrate: node capacity, first look (a training-like load alone and beside {world - 1} "
                 "busy twin(s); looked at again after the kernels) ...", end=" ", flush=True)
        early = capacity_rounds(world - 1, threads, quick)
        progress(f"{len(early)} round pairs")
        progress.step()
    # gloo's collectives in rounds: now, after the kernels and at the end (CollectiveRounds)
    collectives = CollectiveRounds(world, quick)
    progress(f"calibrate: gloo collectives, round 1 of {collectives.planned()} ...")
    collectives.run()
    progress(f"calibrate: timing kernels beside {world - 1} twin trainer process(es) running a training-like load"
             if twin_load else "calibrate: timing kernels alone")
    # a full calibration times the optimizer and PyG's loader in rounds: after each kernel
    # pass, the framework step, the sampler and the small-table gather (Rounds)
    rounds = None if quick else Rounds(repeats, pyg_available() is not None, threads)
    with twins(world - 1 if twin_load else 0, threads), pinned(0, threads):  # this process is trainer 0
        kernels, residuals, jitter_cv = _fit_kernels(quick, repeats, progress, "cpu", samples, rounds)
        if rounds is not None:  # for now from the rounds so far (the framework's fit reads every class)
            _record(samples, "optimizer", rounds.optimizer_samples())
            kernels["optimizer"] = fit_class("optimizer", rounds.optimizer_samples(), cpu=True)[0]
        framework = _measure_framework(kernels, "cpu", repeats, progress, samples)
        if rounds is not None:
            rounds.run()
        sampler = _measure_sampler(quick, repeats, residuals, progress, samples)
        if rounds is not None:
            rounds.run()
        small_table = _small_table_gather(quick, repeats, kernels["gather"], residuals, progress, samples)
        if rounds is not None:
            rounds.run()
            _fit_optimizer_rounds(rounds, kernels, residuals, samples, progress)
            jitter_cv = kernel_jitter(samples)
        pyg = calibrate_pyg(quick, repeats, "cpu", progress, samples, residuals, _framework_source("cpu"), sampler,
                            loader_rows=rounds.loader_rows() if rounds is not None else None)
        if pyg and rounds is not None:
            residuals["pyg_loader"].update(rounds=len(rounds.loader),
                                           reference_step_ms=rounded(rounds.reference_s() * 1e3))
    progress(f"calibrate: gloo collectives, round 2 of {collectives.planned()} ...")
    collectives.run()
    # CPU sharing: how many cores' worth the node's busy trainers really get (not with twin_load)
    sharing = measure_capacity(world - 1, threads, quick, progress, earlier=early) if share_cores else None
    if sharing is not None:
        progress.step()
        # the turns that trainers sharing a core take (used where trainers outnumber cores)
        slice_s = measure_time_slice(SPIN_S / 2 if quick else SPIN_S)
        if slice_s is not None:
            sharing["time_slice_ms"] = rounded(slice_s * 1e3)
            progress(f"calibrate: time slice between two busy processes on one core: {slice_s * 1e3:.2f} ms")
            # the speed of a core shared in turns: the training-like load, two busy processes per core
            slowdown = turn_slowdown(world, threads, quick)
            sharing["turn_slowdown"] = rounded(slowdown)
            sharing["turn_speed"] = rounded(turn_speed(slowdown, sharing["together_ms"] / sharing["alone_ms"]))
            progress(f"calibrate: {TURN_PROCESSES_PER_CORE} busy processes per core: each {slowdown:.2f}x slower "
                     f"than alone, so a shared core computes at {sharing['turn_speed']:.0%} of its speed")
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

    progress(f"calibrate: gloo all-reduce and all-to-all on {world} local processes"
             + f" (the last of {collectives.planned()} rounds, each size's median round)"
             + " ...", end=" ", flush=True)
    coll = collectives.result()
    intra_block, ar_block = collective_blocks(coll, world, residuals, "")
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
        "host_gather": {**{k: kernels["gather"][k] for k in HOST_GATHER_KEYS}, "table_rows": bench.GATHER_TABLE_ROWS,
                        "small_table": small_table},
        "intra_link": intra_block,
        "allreduce": {**ar_block, "wakeup_us": rounded(wakeup_s * 1e6), "idle_threshold_us": rounded(idle_s * 1e6)},
        **({"cpu_sharing": sharing} if sharing else {}),
        **({"frameworks": {"pyg": pyg}} if pyg else {}),
    }
    if not quick and world > 1:
        blocks["oversubscribed"] = _oversubscribed(world, quick, residuals, progress)
        progress.step()
    return blocks, device_block("cpu", threads, 8589934592, kernels, jitter_cv, framework), residuals, cpu_model()


def _small_table_gather(quick: bool, repeats: int, large: dict, residuals: dict, progress, samples: dict) -> dict:
    """The host gather fitted on a small table (:func:`bench.bench_gather_small_table`),
    with the large sweep's first-touch terms (its outputs stay under the mmap threshold)."""
    progress("calibrate: feature gather from a small table ...", end=" ", flush=True)
    s = bench.bench_gather_small_table(quick, repeats)
    _record(samples, "host_gather_small_table", s)
    fitted, residuals["host_gather_small_table"] = fit_class("gather", s, cpu=True)
    progress(f"fit error {residuals['host_gather_small_table']['fit_mape']:.1%}")
    block = {k: fitted[k] for k in HOST_GATHER_KEYS}
    block.update(first_touch_us_per_mb=large["first_touch_us_per_mb"], first_touch_above_mb=large["first_touch_above_mb"])
    return {**block, "table_mb": round(bench.SMALL_TABLE_BYTES / 1e6, 6)}


def _fit_copies(quick: bool, repeats: int, residuals: dict, progress, samples: dict) -> dict:
    """Latency and bandwidth of each copy direction, ``t = latency + bytes / bandwidth``."""
    progress("calibrate: host-device copies ...", end=" ", flush=True)
    copies = {}
    for direction, (size, seconds) in bench.bench_copies(quick, repeats).items():
        samples[f"copy_{direction}"] = [{"bytes": float(b), "seconds": float(t)} for b, t in zip(size, seconds)]
        copies[direction] = fit_copy(direction, size, seconds, residuals)
    progress(", ".join(f"{d} {c['bw_gbps']:g} GB/s" for d, c in copies.items()))
    progress.step()
    return copies


def measure_cuda(quick: bool, repeats: int, threads: int, world: int, progress,
                 samples: dict) -> tuple[dict, dict, dict, str]:
    """Measure and fit what a GPU profile holds (GPU 0 and its host): (its blocks, its
    ``device:`` block, the fits' residuals, the GPU's and the host CPU's names)."""
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
        host, residuals["host_gather"] = fit_class("gather", host_samples, cpu=True)
        progress(f"fit error {residuals['host_gather']['fit_mape']:.1%}")
        progress.step()
        sampler = _measure_sampler(quick, repeats, residuals, progress, samples)
        pyg = calibrate_pyg(quick, repeats, "cuda", progress, samples, residuals, _framework_source("cuda"),
                            sampler)
    blocks = {
        "sampler": sampler,
        "host_gather": {k: host[k] for k in HOST_GATHER_KEYS},
        # the trainer copies the freshly gathered (pageable) batch; pinned is there to compare
        "h2d_link": dict(copies["h2d_pageable"]),
        "copies": copies,
        **({"frameworks": {"pyg": pyg}} if pyg else {}),
    }
    memory = torch.cuda.get_device_properties(0).total_memory
    return blocks, device_block("gpu", 1, memory, kernels, jitter_cv, framework), residuals, f"{gpu}, host {cpu_model()}"
