"""The critical path: the chain of steps that set the end time, and the bottleneck.

Every span remembers the span whose end let it start (``Span.pred``): its own previous
step, the batch it waited for, or — for a collective — the last trainer to arrive at
the barrier. Walking back along ``pred`` from the span that ends last gives the chain
of steps with no slack; each step is charged the time from its predecessor's end to
its own end (so a trainer's wait at a barrier is charged to whoever made it wait, not to
the collective). The charges add up to the makespan.

Each step is named by its stage and the *resource class* that did the work: the device
for compute, the sampler CPU for sampling, and for communication the class of the
channel that limited its last flow (``network``, ``pcie``, ``nvlink``, ...). A feature
exchange is split over its phases: each all-to-all by its limiting channel, and the
owners' and local gathers (with the waits for them) as ``cpu gather``.
The bottleneck is the (stage, resource) pair with the largest share of the path.
"""

from __future__ import annotations

from collections import defaultdict

from gnnsim.sim.engine import HOST_GATHER, Span, Timeline

# Channel kind -> resource class, in the words of sensitivity analysis.
CHANNEL_CLASSES = {"pcie": "pcie", "nvlink": "nvlink", "nvswitch": "nvlink", "loopback": "loopback",
                   "ethernet": "network", "infiniband": "network", "fabric": "network", "memory": "memory",
                   "cpu": "cpu cores"}
TRACK_CLASSES = {"gpu": "gpu compute", "cpu": "cpu compute", "sampler": "cpu sampling", "loader": "loader",
                 "comm": "collective", "gpusampler": "gpu sampling", "workers": "loader workers",
                 "samplergpu": "sampler gpus", "staging": "pageable copy"}


def part_class(name: str, timeline: Timeline) -> str:
    """Resource class of one phase of a collective: a channel's class, or host gather."""
    if name == HOST_GATHER:
        return "cpu gather"
    ch = timeline.channels.get(name)
    return CHANNEL_CLASSES.get(ch["kind"], ch["kind"]) if ch is not None else name


def resource_class(span: Span, timeline: Timeline) -> str:
    """The class of resource that did the work of ``span`` (see the module docstring)."""
    if getattr(span, "via", ""):
        ch = getattr(timeline, "channels", {}).get(span.via)
        if ch is not None:
            return CHANNEL_CLASSES.get(ch["kind"], ch["kind"])
    track = span.resource.split("/", 1)[-1].rstrip("0123456789")
    return TRACK_CLASSES.get(track, track)


def critical_path(timeline: Timeline) -> list[tuple[int, float]]:
    """(span index, seconds charged) along the critical path, last step first."""
    spans = timeline.spans
    if not spans:
        return []
    cur = max(range(len(spans)), key=lambda i: (spans[i].end_s, i))
    path = []
    seen = set()
    while cur >= 0 and cur not in seen:
        seen.add(cur)
        s = spans[cur]
        pred = getattr(s, "pred", -1)  # spans from elsewhere may not know their predecessor
        before = spans[pred].end_s if pred >= 0 else 0.0
        path.append((cur, max(0.0, s.end_s - before)))
        cur = pred
    return path


def critical_path_summary(timeline: Timeline) -> dict[str, object]:
    """Critical path grouped by (stage, resource): seconds and share of the makespan.

    Returns ``{"length_s", "steps", "by_stage_resource": [{stage, resource, time_s,
    share, instance}, ...] (largest first)}``; ``instance`` is the resource instance
    (a channel or a trainer's track) that carried the largest part of that entry.
    """
    path = critical_path(timeline)
    total = sum(t for _, t in path) or 1.0
    groups: dict[tuple[str, str], float] = defaultdict(float)
    instances: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for idx, t in path:
        s = timeline.spans[idx]
        parts = getattr(s, "parts", ())
        total_parts = sum(sec for _, sec in parts)
        if total_parts > 0:  # split a collective's charge over its phases
            for name, sec in parts:
                key = (s.stage, part_class(name, timeline))
                groups[key] += t * sec / total_parts
                instances[key][name if name != HOST_GATHER else s.resource] += t * sec / total_parts
            continue
        key = (s.stage, resource_class(s, timeline))
        groups[key] += t
        instances[key][getattr(s, "via", "") or s.resource] += t
    rows = [{"stage": st, "resource": res, "time_s": t, "share": t / total,
             "instance": max(instances[(st, res)].items(), key=lambda kv: kv[1])[0]}
            for (st, res), t in groups.items()]
    rows.sort(key=lambda r: (-r["time_s"], r["stage"], r["resource"]))
    return {"length_s": sum(t for _, t in path), "steps": len(path), "by_stage_resource": rows}
