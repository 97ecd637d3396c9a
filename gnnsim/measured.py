"""The measured-run JSON: per rank, per iteration, seconds per stage (simulator names).

Aggregates use the same definitions as the simulator: a stage's time is the mean over
ranks and iterations; an iteration's time is the time until its last rank finished it
(:attr:`MeasuredRun.iteration_times_s`: with a barrier before every iteration, the
slowest rank's time for it). A stage that overlaps others (DDP's all-reduce
inside backward) counts the union of its intervals (:func:`merged`, :func:`overlap`).

The real trainer (:mod:`gnnsim.realrun`) writes this schema and the validation
(:mod:`gnnsim.validation`) reads it, with runs imported from profiler traces.
"""

from __future__ import annotations

import json
import platform
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from gnnsim.config import Scenario


@dataclass
class MeasuredRun:
    scenario: dict[str, Any]
    ranks: list[dict[str, Any]]
    meta: dict[str, Any]

    @classmethod
    def from_ranks(cls, scenario: Scenario, ranks: list[dict[str, Any]]) -> "MeasuredRun":
        device = ranks[0].get("device", "cpu")
        backend = "gloo" if device == "cpu" or len(ranks) == 1 else "gloo (features), nccl (gradients)"
        meta = {"host": socket.gethostname(), "machine": platform.machine(), "python": platform.python_version(),
                "torch": ranks[0].get("torch"), "backend": backend, "device": device,
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "threads_per_rank": ranks[0].get("threads")}
        return cls(scenario.to_dict(), ranks, meta)

    @property
    def barrier(self) -> bool:
        """Whether the ranks met before every iteration (``training.iteration_barrier``, else
        the framework's, as :func:`gnnsim.sim.settings.iteration_barrier` decides)."""
        training = self.scenario.get("training") or {}
        meet = training.get("iteration_barrier")
        return bool(meet) if meet is not None else training.get("framework", "torch") == "torch"

    @property
    def iteration_times_s(self) -> list[float]:
        """Per iteration, the time until the last rank finished it, as the simulator's
        iteration ends. With a barrier before each iteration that is the slowest rank's
        time for it. Without one (DDP as users run it) the ranks' iterations do not line
        up: each rank's follow back to back, so an iteration ends when the rank furthest
        behind has run it, at its cumulative time; the slowest rank's time per iteration
        would add up the ranks' jitter (with 4 ranks on 2 cores, 18% over the ranks' pace).

        >>> run = MeasuredRun({"training": {"framework": "pyg"}},
        ...                   [{"iterations": [{"iteration_time_s": t} for t in ts]} for ts in ([1, 3], [3, 1])], {})
        >>> run.iteration_times_s, run.iteration_time_s
        ([3.0, 1.0], 2.0)
        >>> MeasuredRun({}, run.ranks, {}).iteration_times_s   # gnnsim's own trainer: a barrier
        [3, 3]
        """
        per_rank = np.array([[it["iteration_time_s"] for it in r["iterations"]] for r in self.ranks])
        if self.barrier:
            return per_rank.max(axis=0).tolist()
        ends = np.cumsum(per_rank, axis=1).max(axis=0)
        return np.diff(np.concatenate([[0.0], ends])).tolist()

    @property
    def iteration_time_s(self) -> float:
        return float(np.mean(self.iteration_times_s))

    def breakdown(self) -> dict[str, dict[str, float]]:
        totals: dict[str, list[float]] = {}
        for r in self.ranks:
            for it in r["iterations"]:
                for stage, t in it["stages"].items():
                    totals.setdefault(stage, []).append(t)
        means = {s: float(np.mean(v)) for s, v in totals.items()}
        total = sum(means.values()) or 1.0
        return {s: {"time_s": t, "share": t / total} for s, t in means.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "meta": self.meta, "iteration_time_s": self.iteration_time_s,
                "iteration_times_s": self.iteration_times_s, "iterations_per_epoch": self.ranks[0]["iterations_per_epoch"],
                "breakdown": self.breakdown(), "ranks": self.ranks}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MeasuredRun":
        d = json.loads(text)
        return cls(d["scenario"], d["ranks"], d["meta"])

    def page_faults(self) -> dict[str, float]:
        """Mean minor page faults per iteration and rank in each stage, where the trainer
        counted them (``page_faults`` in its iterations; traces carry none)."""
        counts: dict[str, list[int]] = {}
        for r in self.ranks:
            for it in r["iterations"]:
                for stage, n in it.get("page_faults", {}).items():
                    counts.setdefault(stage, []).append(n)
        return {s: float(np.mean(v)) for s, v in counts.items()}

    def summary(self) -> str:
        faults = self.page_faults()
        lines = [f"measured over {len(self.ranks)} ranks x {len(self.ranks[0]['iterations'])} iterations",
                 f"{'stage':<10} {'time/iter':>12} {'share':>7}" + (f" {'page faults/iter':>17}" if faults else "")]
        for stage, row in self.breakdown().items():
            counted = f" {faults[stage]:>17.0f}" if stage in faults else ""
            lines.append(f"{stage:<10} {row['time_s'] * 1e3:9.3f} ms {row['share']:>7.1%}{counted}")
        if faults:
            lines.append("page faults: fresh 4 KiB pages a stage touched first, microseconds each; "
                         "glibc gives freed heap memory back to the OS when a step's peak is large (full-batch), "
                         "and the model charges first touch only to allocations of 32 MiB and more")
        losses = [it["loss"] for it in self.ranks[0]["iterations"] if "loss" in it]
        trained = f"; rank 0 loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else ""  # traces carry no loss
        lines.append(f"iteration {self.iteration_time_s * 1e3:.3f} ms mean{trained}")
        return "\n".join(lines)


def merged(intervals: list[tuple[float, float]]) -> np.ndarray:
    """The union of ``(start, end)`` intervals as sorted, disjoint rows of an (n, 2) array.

    >>> merged([(5, 7), (0, 2), (1, 3)]).tolist()
    [[0.0, 3.0], [5.0, 7.0]]
    """
    if not intervals:
        return np.zeros((0, 2))
    iv = np.array(sorted(intervals), dtype=float)
    reach = np.maximum.accumulate(iv[:, 1])
    new = np.concatenate([[True], iv[1:, 0] > reach[:-1]])  # starts after everything before it ends
    return np.column_stack([iv[new, 0], np.maximum.reduceat(iv[:, 1], np.flatnonzero(new))])


def overlap(union: np.ndarray, start: float, end: float) -> float:
    """Length of ``[start, end]`` covered by the disjoint intervals ``union``.

    >>> overlap(merged([(0, 3), (5, 7)]), 2, 6)
    2.0
    """
    if union.size == 0:
        return 0.0
    return float(np.clip(np.minimum(union[:, 1], end) - np.maximum(union[:, 0], start), 0.0, None).sum())
