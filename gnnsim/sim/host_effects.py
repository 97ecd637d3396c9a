"""Where the replay applies a shared-vCPU host's effects (:mod:`gnnsim.hardware.host_effects`).

The core replay prices a collective by alpha and bandwidth and a piece of CPU work by
its closed form. Where the node's profile carries host effects
(``Node.host_effects``), two small stateful helpers add them, and nothing else in
:mod:`gnnsim.sim` reads them:

- :class:`CollectiveStalls` (used by :mod:`gnnsim.sim.exchanges`): alpha's factor for
  the spread of a collective's ranks' arrival and for the compute since the ranks'
  previous collective, and the wake-up a rank pays after idling at the barrier;
- :class:`WarmupDebt` (used by :mod:`gnnsim.sim.cpu`): the extra time the work that
  follows an idle core carries, paid over its first ``ramp`` of work.

Without host effects both are None and the replay is the core model alone. The OS's
time slice is read where the slots are (:class:`gnnsim.sim.cpu.HostCpus`) through
:func:`time_slice_s`.

>>> from gnnsim.hardware.host_effects import HostEffects, Stalls, Warmup
>>> stalls = CollectiveStalls(HostEffects(allreduce=Stalls(busy_rise=1.0, busy_s=1e-3), wakeup_s=5e-4))
>>> stalls.latency_factor(now=0.0, spread_s=0.0), round(stalls.latency_factor(now=1.0, spread_s=0.0), 3)
(1.0, 2.0)
>>> stalls.ended(1.0); stalls.latency_factor(now=1.0, spread_s=0.0)
1.0
>>> debt = WarmupDebt(Warmup(max_s=1e-3, idle_s=1e-9, ramp_s=0.0))
>>> debt.pay("core", 1e-3, now=0.0, idle=True), debt.idle_from("core", 0.5), debt.pay("core", 1e-3, now=1.0, idle=True)
(0.0, None, 0.001)
"""

from __future__ import annotations

import math

import numpy as np

from gnnsim.hardware.host_effects import DEFAULT_TIME_SLICE_S, HostEffects, Warmup
from gnnsim.hardware.profiles import Node


class CollectiveStalls:
    """A calibrated collective library's stalls and wake-ups over one replay."""

    def __init__(self, effects: HostEffects):
        self.effects = effects
        self.last_end = 0.0  # when the ranks' latest collective finished

    def latency_factor(self, now: float, spread_s: float, kind: str = "allreduce") -> float:
        """Alpha's factor for a collective (``allreduce`` or ``alltoall``) starting at
        ``now``, whose last rank arrived ``spread_s`` after the first."""
        return self.effects.latency_factor(spread_s, now - self.last_end, kind)

    def ended(self, now: float) -> None:
        self.last_end = max(self.last_end, now)

    def wakeups(self, arrivals: np.ndarray) -> np.ndarray | None:
        """Per rank, the wake-up it pays after idling at the barrier past the library's
        threshold (None when the library has none)."""
        if self.effects.wakeup_s <= 0:
            return None
        waits = arrivals.max() - arrivals
        return np.array([self.effects.wakeup_penalty_s(w) for w in waits])


class WarmupDebt:
    """The warm-up each core (a rank's own, or a shared slot) still owes."""

    def __init__(self, warmup: Warmup):
        self.warmup = warmup
        self._last_end: dict[object, float] = {}  # when the core last stopped computing
        self._debt: dict[object, float] = {}

    def pay(self, core: object, seconds: float, now: float, idle: bool) -> float:
        """A piece of ``seconds`` starts on ``core`` at ``now`` (``idle``: nothing else
        runs there): the warm-up it pays. The debt decays only with work."""
        debt = self._debt.get(core, 0.0)
        if idle and core in self._last_end:
            debt = max(debt, self.warmup.extra_s(now - self._last_end[core]))
        paid = debt * -math.expm1(-seconds / self.warmup.ramp_s) if self.warmup.ramp_s > 0 else debt
        self._debt[core] = debt - paid
        return paid

    def idle_from(self, core: object, now: float) -> None:
        self._last_end[core] = now


def collective_stalls(node: Node) -> CollectiveStalls | None:
    """The stalls of ``node``'s calibrated collective library (None: no library or no
    host effects)."""
    if node.collective is None or node.host_effects is None:
        return None
    return CollectiveStalls(node.host_effects)


def warmup_debt(node: Node) -> WarmupDebt | None:
    effects = node.host_effects
    return WarmupDebt(effects.warmup) if effects is not None and effects.warmup is not None else None


def time_slice_s(node: Node) -> float:
    return node.host_effects.time_slice_s if node.host_effects is not None else DEFAULT_TIME_SLICE_S


def turn_speed(node: Node) -> float:
    """The speed of a core that trainers share in turns, against one a trainer has to itself."""
    return node.host_effects.turn_speed if node.host_effects is not None else 1.0
