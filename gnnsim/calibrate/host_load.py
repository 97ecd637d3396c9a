"""Is the host quiet enough to calibrate on? Its load, and the spread of calibrate's own repeats.

A calibration times kernels, the sampler and gloo's collectives on a few cores. Any other
work on those cores stretches the times, and the profile then predicts the same job
several times too slow.
So ``gnnsim calibrate`` looks at the host just before it measures and just after:

- the 1-minute load average per core (``os.getloadavg``);
- for :data:`PROBE_S` while calibrate itself sleeps, the CPU time that other processes
  take, in cores (``/proc/stat``);
- over the whole run, the share of CPU time the hypervisor stole from a VM;

and at the spread of its own repeats: the mean run-to-run coefficient of variation of
the kernels of 1 ms and more (the profile's ``device.jitter_cv``). Past any threshold
below, the host was busy: calibrate warns on stderr and writes the profile with
``quality.busy_host: true`` (and why); ``--strict`` refuses and writes nothing.

>>> quiet = HostLoad(load_1min=0.1, cores=2, others_cores=0.05, cpu=None)
>>> assess(quiet, quiet, spread_cv=0.07).busy_host
False
>>> busy = HostLoad(load_1min=4.3, cores=2, others_cores=1.9, cpu=None)
>>> assess(busy, quiet, spread_cv=0.07).reasons[0]
'1-minute load average 2.15 per core before measuring (over 1)'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROBE_S = 1.0  # each look at /proc/stat: long enough to average over many scheduler ticks (100-1000 Hz)

# More runnable tasks than cores means that some wait for one: calibrate's threads among them.
LOAD_PER_CORE_MAX = 1.0
# Other processes may take this many cores beyond those calibrate leaves free (the host's
# cores less calibrate's processes x threads) before they must share calibrate's cores: a
# quarter core is an idle machine's own daemons, shells and monitoring.
OTHERS_SLACK_CORES = 0.25
# A VM whose hypervisor takes more than this share of its CPU time runs the benchmarks at
# a speed that comes and goes with its neighbours'.
STEAL_SHARE_MAX = 0.05
# About twice the run-to-run spread of an idle CPU host's kernels (a loaded host's is
# larger still; docs/calibration-notes.md)
SPREAD_CV_MAX = 0.15


@dataclass(frozen=True)
class CpuTimes:
    """The host's CPU time so far (all cores, clock ticks), from ``/proc/stat``'s ``cpu`` line."""

    busy: int
    steal: int
    total: int
    cores: int


def read_cpu_times(path: str | Path = "/proc/stat") -> CpuTimes | None:
    """The counters now, or ``None`` where there is no ``/proc/stat`` (not Linux).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix="stat", delete=False) as f:
    ...     _ = f.write("cpu  100 5 20 800 10 0 3 12 0 0\\ncpu0 50 2 10 400 5 0 1 6 0 0\\ncpu1 50 3 10 400 5 0 2 6 0 0\\n")
    >>> read_cpu_times(f.name)
    CpuTimes(busy=128, steal=12, total=950, cores=2)
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    head = next((ln.split() for ln in lines if ln.startswith("cpu ")), None)
    if head is None:
        return None
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    ticks = [int(x) for x in head[1:9]] + [0] * max(0, 9 - len(head))
    user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
    cores = sum(1 for ln in lines if ln.startswith("cpu") and ln[3:4].isdigit())
    return CpuTimes(busy=user + nice + system + irq + softirq, steal=steal,
                    total=user + nice + system + idle + iowait + irq + softirq + steal, cores=max(1, cores))


@dataclass(frozen=True)
class HostLoad:
    """One look at the host (see :func:`probe`); ``None`` where it could not be measured."""

    load_1min: float | None  # runnable (and uninterruptible) tasks, 1-minute average
    cores: int
    others_cores: float | None  # cores' worth of CPU time other processes took while calibrate slept
    cpu: CpuTimes | None  # the counters at the end of the look (for the steal over the whole run)

    @property
    def load_per_core(self) -> float | None:
        return None if self.load_1min is None else self.load_1min / self.cores


def probe(seconds: float = PROBE_S, sleep: Callable[[float], None] = time.sleep,
          read: Callable[[], CpuTimes | None] = read_cpu_times) -> HostLoad:
    """Look at the host for ``seconds``, doing nothing meanwhile (see the module doc)."""
    try:
        load: float | None = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on this platform
        load = None
    first = read()
    sleep(seconds)
    last = read()
    cores = last.cores if last is not None else (os.cpu_count() or 1)
    others = None
    if first is not None and last is not None and last.total > first.total:
        others = (last.busy - first.busy) / (last.total - first.total) * cores
    return HostLoad(load_1min=load, cores=cores, others_cores=others, cpu=last)


@dataclass(frozen=True)
class Quality:
    """What calibrate saw of the host, and the thresholds it crossed (:func:`assess`)."""

    before: HostLoad
    after: HostLoad | None
    spread_cv: float | None
    steal_share: float | None
    needed_cores: int
    reasons: tuple[str, ...]

    @property
    def busy_host(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict:
        """The profile's ``quality:`` block."""
        def r(x: float | None) -> float | None:
            return None if x is None else float(f"{x:.3g}")

        looks = {"before": self.before, **({"after": self.after} if self.after is not None else {})}
        return {
            "busy_host": self.busy_host,
            **({"reasons": list(self.reasons)} if self.reasons else {}),
            "cores": self.before.cores,
            "needed_cores": self.needed_cores,
            "load_1min_per_core": {k: r(v.load_per_core) for k, v in looks.items()},
            "others_cores": {k: r(v.others_cores) for k, v in looks.items()},
            "steal_share": r(self.steal_share),
            "spread_cv": r(self.spread_cv),
            "thresholds": {"load_1min_per_core": LOAD_PER_CORE_MAX, "others_cores_slack": OTHERS_SLACK_CORES,
                           "steal_share": STEAL_SHARE_MAX, "spread_cv": SPREAD_CV_MAX},
        }


def assess(before: HostLoad, after: HostLoad | None = None, spread_cv: float | None = None,
           needed_cores: int = 2) -> Quality:
    """The :class:`Quality` of a calibration: ``before`` and ``after`` it measured (``after``
    ``None``: not yet), the spread of its repeats, and the cores its processes use.

    The load average after measuring counts calibrate's own processes, so only the load
    before it is judged; other processes' cores are judged before and after.

    >>> h = HostLoad(load_1min=0.5, cores=8, others_cores=6.5, cpu=None)
    >>> assess(h, needed_cores=2).reasons  # 8 cores, 2 for calibrate: others may take 6.25
    ('other processes took 6.5 of 8 cores before measuring, calibrate needs 2 (more than 6.25 leaves it too few)',)
    """
    reasons = []
    if before.load_per_core is not None and before.load_per_core > LOAD_PER_CORE_MAX:
        reasons.append(f"1-minute load average {before.load_per_core:.2f} per core before measuring "
                       f"(over {LOAD_PER_CORE_MAX:g})")
    for when, look in (("before", before), ("after", after)):
        allowed = max(0.0, look.cores - needed_cores) + OTHERS_SLACK_CORES if look is not None else 0.0
        if look is not None and look.others_cores is not None and look.others_cores > allowed:
            reasons.append(f"other processes took {look.others_cores:.3g} of {look.cores} cores {when} measuring, "
                           f"calibrate needs {needed_cores} (more than {allowed:g} leaves it too few)")
    steal = None
    if after is not None and before.cpu is not None and after.cpu is not None and after.cpu.total > before.cpu.total:
        steal = (after.cpu.steal - before.cpu.steal) / (after.cpu.total - before.cpu.total)
        if steal > STEAL_SHARE_MAX:
            reasons.append(f"the hypervisor stole {steal:.0%} of the CPU time (over {STEAL_SHARE_MAX:.0%})")
    if spread_cv is not None and spread_cv > SPREAD_CV_MAX:
        reasons.append(f"repeats of the same kernel spread {spread_cv:.0%} (mean coefficient of variation of kernels "
                       f">= 1 ms, over {SPREAD_CV_MAX:.0%})")
    return Quality(before, after, spread_cv, steal, needed_cores, tuple(reasons))


def summary(quality: Quality) -> str:
    """The reasons in one line, for the warning and the refusal."""
    return "; ".join(quality.reasons)
