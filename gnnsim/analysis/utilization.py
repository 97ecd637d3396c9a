"""Busy, exposed and utilization: how much each stage and resource worked, and what showed.

- A stage's **busy** time is the time trainers spent in it (waits at barriers included,
  as a timer around the call sees it), per trainer per iteration.
- Its **exposed** time is the part of that during which the trainer's device computed
  nothing: the time the stage added to the iteration. Compute stages are fully
  exposed; a prefetched fetch or a bucket all-reduce under backward is partly hidden.
  Two communication stages exposed at the same moment are each counted.
- A resource's **utilization** is its busy time over the makespan (tracks), or for a
  link the bytes it carried over what it could have carried (``bytes / (capacity x
  makespan)``), with the share of time it carried anything (``busy``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from gnnsim.analysis.critical_path import CHANNEL_CLASSES, TRACK_CLASSES
from gnnsim.sim.engine import Timeline
from gnnsim.workload.builder import STAGES

COMPUTE_TRACKS = ("gpu", "cpu")


def covered(starts: np.ndarray, ends: np.ndarray, u_start: np.ndarray, u_end: np.ndarray) -> np.ndarray:
    """Length of each interval ``[starts[i], ends[i]]`` covered by disjoint sorted intervals ``u``.

    >>> covered(np.array([0.0, 5.0]), np.array([10.0, 6.0]), np.array([1.0, 4.0]), np.array([2.0, 5.5]))
    array([2.5, 0.5])
    """
    if u_start.size == 0:
        return np.zeros_like(starts)
    cum = np.concatenate([[0.0], np.cumsum(u_end - u_start)])

    def upto(t: np.ndarray) -> np.ndarray:  # union length in [-inf, t]
        i = np.searchsorted(u_start, t, side="right")  # intervals starting at or before t
        last = np.clip(i - 1, 0, None)
        partial = np.where(i > 0, np.clip(t - u_start[last], 0.0, (u_end - u_start)[last]), 0.0)
        return cum[last] + partial

    return upto(ends) - upto(starts)


def busy_and_exposed(timeline: Timeline, num_ranks: int, iterations: int) -> dict[str, dict[str, float]]:
    """Per stage: mean busy and exposed seconds per trainer per iteration."""
    by_rank: dict[int, list] = defaultdict(list)
    for s in timeline.spans:
        by_rank[s.rank].append(s)
    busy: dict[str, float] = defaultdict(float)
    exposed: dict[str, float] = defaultdict(float)
    for spans in by_rank.values():
        comp = sorted((s.start_s, s.end_s) for s in spans if s.resource.split("/", 1)[-1].rstrip("0123456789")
                      in COMPUTE_TRACKS)
        u0 = np.array([c[0] for c in comp])
        u1 = np.array([c[1] for c in comp])
        stages = [s.stage for s in spans]
        st = np.array([s.start_s for s in spans])
        en = np.array([s.end_s for s in spans])
        is_comp = np.array([s.resource.split("/", 1)[-1].rstrip("0123456789") in COMPUTE_TRACKS for s in spans])
        hidden = np.where(is_comp, 0.0, covered(st, en, u0, u1))
        for stage, d, h in zip(stages, en - st, hidden):
            busy[stage] += d
            exposed[stage] += d - h
    denom = max(1, num_ranks * iterations)
    return {s: {"busy_s": busy[s] / denom, "exposed_s": max(0.0, exposed[s] / denom)} for s in STAGES if s in busy} | {
        s: {"busy_s": busy[s] / denom, "exposed_s": max(0.0, exposed[s] / denom)} for s in busy if s not in STAGES}


def utilization(timeline: Timeline) -> dict[str, dict[str, object]]:
    """Per resource class: mean and max utilization over its instances, and the busiest one."""
    makespan = getattr(timeline, "makespan_s", 0.0) or max((s.end_s for s in timeline.spans), default=0.0)
    if makespan <= 0:
        return {}
    per: dict[str, dict[str, float]] = defaultdict(dict)
    busy: dict[str, float] = defaultdict(float)
    for s in timeline.spans:
        busy[s.resource] += s.duration_s
    for res, t in busy.items():
        track = res.split("/", 1)[-1].rstrip("0123456789")
        per[TRACK_CLASSES.get(track, track)][res] = t / makespan
    link_busy: dict[str, dict[str, float]] = defaultdict(dict)
    for name, ch in getattr(timeline, "channels", {}).items():
        cls = CHANNEL_CLASSES.get(ch["kind"], ch["kind"])
        per[f"link:{cls}"][name] = ch["bytes"] / (ch["capacity_bytes_per_s"] * makespan)
        link_busy[f"link:{cls}"][name] = ch["busy_s"] / makespan
    out = {}
    for cls, values in sorted(per.items()):
        name, top = max(values.items(), key=lambda kv: (kv[1], kv[0]))
        row: dict[str, object] = {"mean": float(np.mean(list(values.values()))), "max": top, "max_instance": name,
                                  "instances": len(values)}
        if cls in link_busy:
            row["busy_max"] = max(link_busy[cls].values())
        out[cls] = row
    return out
