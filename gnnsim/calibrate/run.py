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

This module checks the host, runs the measurements and writes the profile; what is
measured on each device, and how its blocks are fitted, is :mod:`gnnsim.calibrate.measure`.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np

from gnnsim.calibrate import bench, host_load
from gnnsim.calibrate.measure import cpu_model, measure_cpu, measure_cuda
from gnnsim.calibrate.profile_blocks import profile_text
from gnnsim.calibrate.rounds import KERNEL_PASSES
from gnnsim.errors import GnnsimError
from gnnsim.outputs import write_atomic
from gnnsim.progress import Progress


class Narration:
    """The calibration's narrative (``say``: print, to stdout) and its count of finished
    steps on stderr (``steps``); each measuring function (:mod:`gnnsim.calibrate.measure`)
    takes it as ``progress`` and calls :meth:`step` where a step ends and its narrative
    line is closed, so the two never share a line."""

    def __init__(self, say: Callable[..., object], steps: Progress):
        self.say, self.steps = say, steps

    def __call__(self, *args, **kwargs) -> None:
        self.say(*args, **kwargs)

    def step(self) -> None:
        self.steps.update()


def planned_steps(device: str, quick: bool, world: int, twin_load: bool) -> int:
    """How many times a calibration calls :meth:`Narration.step` (for the time left).

    >>> planned_steps("cpu", False, 2, False), planned_steps("cpu", True, 2, True), planned_steps("cuda", True, 2, False)
    (16, 10, 11)
    """
    if device == "cuda":
        return len(bench.KERNEL_BENCHMARKS) + 5  # + framework, copies, host gather, sampler, PyG
    share_cores = world > 1 and not twin_load
    passes = 1 if quick else KERNEL_PASSES
    return ((passes - 1) + len(bench.KERNEL_BENCHMARKS) + 3  # kernel passes, classes, framework, sampler, PyG
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
    measure = partial(measure_cpu, twin_load=twin_load) if device == "cpu" else measure_cuda
    samples: dict = {}
    with Progress("calibrate", planned_steps(device, quick, world, twin_load), "steps", lines=True) as steps:
        blocks, device_fields, residuals, what = measure(quick, repeats, threads, world, Narration(progress, steps),
                                                         samples)
    wall_s = round(time.perf_counter() - started, 1)
    quality = host_load.assess(before, host_load.probe(), device_fields["jitter_cv"], needed_cores)
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
        provenance.update(twin_load=twin_load, heap="steady")  # see timing.STEADY_HEAP
    source = (f"gnnsim calibrate --device {device} on {provenance['host']} ({what}), {now}, "
              f"torch {torch.__version__}")
    profile = {"name": Path(out).stem,
               "device": {"name": f"calibrated-{Path(out).stem}", **device_fields, "sources": [source + " (measured)"]},
               **blocks, "residuals": residuals, "quality": quality.to_dict(), "provenance": provenance,
               "sources": [source]}
    write_atomic(out, profile_text(profile))
    if samples_out is not None:
        write_atomic(samples_out, json.dumps({"provenance": provenance, "samples": samples}, indent=1) + "\n")
        progress(f"calibrate: wrote the measurements to {samples_out}")
    progress(f"calibrate: wrote {out} in {provenance['wall_s']} s")
    return profile


