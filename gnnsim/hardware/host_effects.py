"""What a shared-vCPU host adds to the core cost model, as a profile carries it.

The core model prices a collective by alpha and bandwidth and a piece of CPU work by
its closed form. On a host whose vCPUs are shared (a cloud VM's, a laptop's), gloo's
collectives and the OS's scheduler add effects that a GPU cluster does not have:

- *arrival spread*: alpha holds for ranks that enter together; arriving ``d`` apart it
  is scaled by ``floor + (1 - floor) exp(-d / spread_s)`` (gloo stalls less then);
- *busy gap*: after ``g`` seconds of compute since the ranks' previous collective alpha
  is also scaled by ``1 + rise (1 - exp(-g / busy_s))`` (gloo stalls more often then);
- *wake-up*: a rank that waited at a collective longer than ``idle_threshold_s`` pays
  ``wakeup_s`` more (its idle vCPU must be woken);
- *time slice*: how long the OS runs a busy process before another on its core gets a
  turn, where trainers outnumber cores (:mod:`gnnsim.sim.cpu`), and the speed at which
  a core shared in turns computes (each turn starts with the other's data in the caches);
- *warm-up*: a core that sat idle computes slower for a while (:class:`Warmup`).

A calibrated profile (``gnnsim calibrate``) carries them as keys of its ``allreduce:``
and ``cpu_sharing:`` blocks; :func:`host_effects_from` reads them into one
:class:`HostEffects`, which a :class:`gnnsim.hardware.cluster.Node` holds only when the
profile carries one (else None: datasheet and GPU profiles). The simulator applies them
in one place, :mod:`gnnsim.sim.host_effects`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError
from gnnsim.hardware.schema import read_number

DEFAULT_TIME_SLICE_S = 4e-3  # one tick of a 250 Hz kernel, where no time slice was measured


@dataclass(frozen=True)
class Stalls:
    """Alpha's factors of one collective (the all-reduce or the all-to-all): for the
    spread of its ranks' arrival and for the compute since the previous collective.
    The defaults are no factor."""

    spread_floor: float = 1.0
    spread_s: float = 0.0
    busy_rise: float = 0.0
    busy_s: float = 0.0

    def spread_factor(self, spread_s: float) -> float:
        """Alpha's factor when the last rank arrives ``spread_s`` after the first.

        >>> s = Stalls(spread_floor=0.4, spread_s=5e-5)
        >>> s.spread_factor(0.0), round(s.spread_factor(1e-3), 3)
        (1.0, 0.4)
        """
        if self.spread_s <= 0 or self.spread_floor >= 1.0:
            return 1.0
        return self.spread_floor + (1.0 - self.spread_floor) * math.exp(-max(0.0, spread_s) / self.spread_s)

    def busy_factor(self, gap_s: float) -> float:
        """Alpha's factor after ``gap_s`` seconds of compute since the ranks' previous
        collective.

        >>> s = Stalls(busy_rise=0.5, busy_s=2e-3)
        >>> s.busy_factor(0.0), round(s.busy_factor(2e-3), 3), Stalls().busy_factor(1.0)
        (1.0, 1.316, 1.0)
        """
        if self.busy_rise <= 0 or self.busy_s <= 0:
            return 1.0
        return 1.0 + self.busy_rise * (1.0 - math.exp(-max(0.0, gap_s) / self.busy_s))


@dataclass(frozen=True)
class Warmup:
    """Extra compute time after a core sat idle (``cpu_sharing.warmup_*``, measured by
    :mod:`gnnsim.calibrate.warmup`): ``max_s (1 - exp(-idle / idle_s))`` after ``idle``
    seconds idle, paid over the work that follows, ``exp(-work / ramp_s)`` of it still
    owed after ``work`` seconds of it.

    >>> w = Warmup(max_s=4e-3, idle_s=0.1, ramp_s=5e-3)
    >>> round(w.extra_s(0.1) * 1e3, 2), w.extra_s(0.0)
    (2.53, 0.0)
    """

    max_s: float
    idle_s: float
    ramp_s: float

    def extra_s(self, idle_s: float) -> float:
        return self.max_s * -math.expm1(-max(idle_s, 0.0) / self.idle_s)


@dataclass(frozen=True)
class HostEffects:
    """The shared host's effects on collectives and scheduling (see the module's
    docstring); every default is "no effect"."""

    allreduce: Stalls = field(default_factory=Stalls)
    alltoall: Stalls = field(default_factory=Stalls)
    wakeup_s: float = 0.0
    idle_threshold_s: float = 0.0
    time_slice_s: float = DEFAULT_TIME_SLICE_S
    turn_speed: float = 1.0
    warmup: Warmup | None = None

    def latency_factor(self, spread_s: float, gap_s: float, kind: str = "allreduce") -> float:
        """Alpha's factor for a collective (``allreduce`` or ``alltoall``) whose last
        rank arrived ``spread_s`` after the first, ``gap_s`` after the ranks' previous
        collective ended.

        >>> fx = HostEffects(allreduce=Stalls(0.4, 5e-5), alltoall=Stalls(0.2, 1e-5, busy_rise=1.0, busy_s=1e-9))
        >>> round(fx.latency_factor(1e-3, 0.0), 3), round(fx.latency_factor(1e-3, 1.0, "alltoall"), 3)
        (0.4, 0.4)
        """
        stalls = self.alltoall if kind == "alltoall" else self.allreduce
        return stalls.spread_factor(spread_s) * stalls.busy_factor(gap_s)

    def wakeup_penalty_s(self, wait_s: float) -> float:
        return self.wakeup_s if wait_s > self.idle_threshold_s and self.wakeup_s > 0 else 0.0

    def crowded(self, w: float, other: HostEffects) -> HostEffects:
        """These effects a fraction ``w`` of the way to ``other``, measured with more
        processes than cores: the wake-up and the busy-gap rise fade out (they are part
        of the crowded means), the arrival spread is the crowded one's."""
        def fade(own: Stalls, crowded: Stalls) -> Stalls:
            return replace(own, busy_rise=(1 - w) * own.busy_rise, spread_floor=crowded.spread_floor,
                           spread_s=crowded.spread_s)

        return replace(self, wakeup_s=(1 - w) * self.wakeup_s, allreduce=fade(self.allreduce, other.allreduce),
                       alltoall=fade(self.alltoall, other.alltoall))


NO_EFFECTS = HostEffects()


def stalls_from(block: dict[str, Any], where: Path) -> dict[str, Any]:
    """The :class:`HostEffects` fields of a calibrated ``allreduce:`` block: the
    collectives' stalls and the wake-up. A profile from before the all-to-all's spread
    factor was measured apart gives it the all-reduce's."""
    def floor(key: str, default: float) -> float:
        value = read_number(block, key, where, positive=False, default=default)
        if value > 1.0:
            raise ProfileError(f"{where}: '{key}' must be between 0 and 1 (alpha's factor when the ranks "
                               f"arrive apart), got {value}. Recalibrate or remove the key.")
        return value

    def number(key: str, default: float = 0) -> float:
        return read_number(block, key, where, positive=False, default=default)

    ar_floor = floor("spread_floor", 1.0)
    spread_us = number("spread_us")
    return {"allreduce": Stalls(ar_floor, spread_us * 1e-6, number("busy_rise"), number("busy_us") * 1e-6),
            "alltoall": Stalls(floor("alltoall_spread_floor", ar_floor), number("alltoall_spread_us", spread_us) * 1e-6,
                               number("alltoall_busy_rise"), number("alltoall_busy_us") * 1e-6),
            "wakeup_s": number("wakeup_us") * 1e-6, "idle_threshold_s": number("idle_threshold_us") * 1e-6}


def scheduling_from(block: dict[str, Any], path: Path) -> dict[str, Any]:
    """The :class:`HostEffects` fields of a calibrated ``cpu_sharing:`` block: the OS's
    time slice, the speed of a core shared in turns and the warm-up after idling, where
    measured."""
    where = Path(f"{path}: cpu_sharing")
    fields: dict[str, Any] = {"warmup": warmup_from(block, path)}
    if "time_slice_ms" in block:
        fields["time_slice_s"] = read_number(block, "time_slice_ms", where) * 1e-3
    if "turn_speed" in block:
        fields["turn_speed"] = min(1.0, read_number(block, "turn_speed", where))
    return fields


def warmup_from(block: dict[str, Any], path: Path) -> Warmup | None:
    """The warm-up after idling of a ``cpu_sharing`` block's ``warmup_*`` keys (None: not
    measured); ``path`` names the file in errors."""
    if "warmup_us" not in block:
        return None
    where = Path(f"{path}: cpu_sharing")
    return Warmup(read_number(block, "warmup_us", where) * 1e-6, read_number(block, "warmup_idle_ms", where) * 1e-3,
                  read_number(block, "warmup_ramp_ms", where) * 1e-3)


def carried(effects: HostEffects) -> HostEffects | None:
    """``effects``, or None where every one is "no effect" (what a node holds then)."""
    return None if effects == NO_EFFECTS else effects
