"""Chrome / Perfetto trace of a timeline.

Open the file in https://ui.perfetto.dev or chrome://tracing. Each node of the cluster
is a *process*; each resource is a *thread* (a track) in it: per trainer its sampler,
loader (feature exchange and host-to-device copy), device and communication stream,
and every link direction that carried traffic (when the simulation recorded links).
Links of the network fabric (fat-tree uplinks) are in a separate ``network`` process.

A track never holds two overlapping slices: a trainer's tracks are sequential by
construction, and a link's slices are the stretches of time during which it carried a
constant set of flows (named after their stages, with the flow count and bytes in
``args``).
"""

from __future__ import annotations

import json
from typing import Any

from gnnsim.sim.engine import Timeline

US = 1e6  # trace timestamps are microseconds


def _track_order(resource: str) -> tuple:
    local = resource.split("/", 1)[-1]
    name = local.rstrip("0123456789")
    digits = local[len(name):]
    order = {"sampler": 0, "loader": 1, "gpu": 2, "cpu": 2, "comm": 3}
    return (int(digits) if digits else 0, order.get(name, 9), local)


def chrome_trace(timeline: Timeline) -> dict[str, Any]:
    """The trace as a dict with ``traceEvents`` (``ph: X`` slices plus name metadata)."""
    nodes = max((timeline.node_of(s.rank) for s in timeline.spans), default=0) + 1
    net_pid = nodes + 1
    events: list[dict[str, Any]] = []
    tids: dict[str, tuple[int, int]] = {}

    def pid_of(resource: str) -> int:
        head = resource.split("/", 1)[0]
        return int(head[4:]) + 1 if head.startswith("node") and head[4:].isdigit() else net_pid

    resources = sorted({s.resource for s in timeline.spans}, key=lambda r: (pid_of(r), _track_order(r)))
    links = sorted({s.resource for s in timeline.link_spans}, key=lambda r: (pid_of(r), r))
    for pid in sorted({pid_of(r) for r in resources + links}):
        name = "network" if pid == net_pid else f"node {pid - 1}"
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
    for i, res in enumerate(resources + links):
        pid = pid_of(res)
        tids[res] = (pid, i + 1)
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": i + 1, "args": {"name": res}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": i + 1, "args": {"sort_index": i}})
    for s in timeline.spans:
        pid, tid = tids[s.resource]
        ts, end = s.start_s * US, s.end_s * US
        args: dict[str, Any] = {"rank": s.rank, "iteration": s.iteration}
        if s.bytes:
            args["bytes"] = s.bytes
        if s.flops:
            args["flops"] = s.flops
        if s.via:
            args["limited_by"] = s.via
        if s.parts:
            args["phases_s"] = dict(s.parts)
        events.append({"name": s.stage, "cat": s.stage, "ph": "X", "ts": ts, "dur": end - ts, "pid": pid, "tid": tid,
                       "args": args})
    for s in timeline.link_spans:
        pid, tid = tids[s.resource]
        ts, end = s.start_s * US, s.end_s * US
        cap = timeline.channels.get(s.resource, {}).get("capacity_bytes_per_s", 0.0)
        gbps = s.bytes / (s.end_s - s.start_s) / 1e9 if s.end_s > s.start_s else 0.0
        events.append({"name": s.stage, "cat": "link", "ph": "X", "ts": ts, "dur": end - ts, "pid": pid, "tid": tid,
                       "args": {"flows": int(s.flops), "bytes": s.bytes, "GB/s": gbps,
                                "utilization": gbps * 1e9 / cap if cap else 0.0}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"generator": "gnnsim", "makespan_s": timeline.makespan_s}}


def chrome_trace_json(timeline: Timeline) -> str:
    return json.dumps(chrome_trace(timeline), separators=(",", ":"))
