"""Read PyTorch profiler (Kineto) Chrome traces into a measured run.

A training script profiled with ``torch.profiler`` writes one Chrome-trace JSON per rank
(``prof.export_chrome_trace(f"rank{rank}.json")``). Each file is a list of
``traceEvents``; the complete events (``"ph": "X"``) have a start ``ts`` and a ``dur`` in
microseconds and a category ``cat``:

- ``user_annotation``: a ``record_function("forward")`` block on the CPU. Blocks named
  after gnnsim's stages (sample, fetch, h2d, forward, backward, halo, allreduce,
  optimizer; also ``stage:forward`` or ``forward#3``, any case) give the stage times. Other
  labels can be mapped with ``stage_map={"DDP.reducer": "allreduce"}``. A stage block
  inside another stage block is not counted twice (only the outermost counts), except
  ``allreduce`` (below).
- The all-reduce of a DDP run: DDP launches its gradient buckets from autograd hooks
  inside ``loss.backward()``, and gloo runs them on its own threads (``gloo:all_reduce``
  user annotations). Those events, and any block labelled (or mapped to) ``allreduce``,
  are the ``allreduce`` stage wherever they nest: the union of their intervals in the
  iteration, on every thread, and the time it overlaps another stage's blocks (the
  ``backward`` that waits for the buckets) is taken out of that stage, so nothing is
  counted twice and the stages still add up to the labelled time. One launched inside a
  stage block ends, for the trainer, no later than that block (a busy host may let
  gloo's thread close its event after ``backward`` has returned).
- ``ProfilerStep#N`` user annotations (written by ``prof.step()`` under a profiler
  ``schedule``) delimit the iterations. Without them an iteration starts wherever the
  sequence of stage labels wraps around (a stage that comes no later in the fixed order
  than the one before it), and lasts from its first stage's start to its last stage's end.
- ``kernel``, ``gpu_memcpy``, ``gpu_memset``: work on a GPU. NCCL's kernels
  (``ncclKernel_*`` in NCCL 2.x before 2.19, ``ncclDevKernel_*`` after) are collective
  communication; ``Memcpy HtoD`` is a host-to-device copy. Each GPU event is matched to
  the CPU call that launched it (``cuda_runtime`` event with the same ``correlation``)
  and counted in the iteration and stage where it was launched.

Per iteration the result has the stage seconds and a ``device`` block with kernel, NCCL
and memcpy busy seconds (in total and per stage). A GPU trace whose script labels no
``allreduce`` (DDP overlaps it with backward) gets ``allreduce`` = the NCCL kernels' busy
time, and one with no ``h2d`` label gets ``h2d`` = the host-to-device copies' time; the
run's ``meta.derived_stages`` says so.

Example
-------
>>> events = {"traceEvents": [
...     {"ph": "X", "cat": "user_annotation", "name": "forward", "ts": 0, "dur": 1000, "pid": 1, "tid": 1},
...     {"ph": "X", "cat": "user_annotation", "name": "backward", "ts": 1000, "dur": 2000, "pid": 1, "tid": 1},
...     {"ph": "X", "cat": "user_annotation", "name": "forward", "ts": 3000, "dur": 1000, "pid": 1, "tid": 1},
...     {"ph": "X", "cat": "user_annotation", "name": "backward", "ts": 4000, "dur": 1000, "pid": 1, "tid": 1}]}
>>> rank = rank_from_trace(events)
>>> [it["stages"] for it in rank["iterations"]]
[{'forward': 0.001, 'backward': 0.002}, {'forward': 0.001, 'backward': 0.001}]
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gnnsim.errors import GnnsimError
from gnnsim.measured import MeasuredRun, merged, overlap
from gnnsim.workload.builder import STAGES

NCCL_PREFIXES = ("ncclKernel_", "ncclDevKernel_")
GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")
STEP_RE = re.compile(r"^ProfilerStep#(\d+)$")
HOST_ALLREDUCE_RE = re.compile(r"^gloo:all_?reduce", re.IGNORECASE)  # gloo's worker-thread all-reduce
US = 1e-6  # trace times are microseconds


class TraceFormatError(GnnsimError):
    """A profiler trace cannot be read (not JSON, no events, no stage labels)."""


def stage_of(label: str, stage_map: dict[str, str] | None = None) -> str | None:
    """The gnnsim stage a ``record_function`` label stands for, or None.

    >>> stage_of("forward"), stage_of("Stage:Backward"), stage_of("allreduce#2"), stage_of("aten::mm")
    ('forward', 'backward', 'allreduce', None)
    >>> stage_of("DDP.reducer", {"DDP.reducer": "allreduce"})
    'allreduce'
    """
    if stage_map and label in stage_map:
        return stage_map[label]
    name = label.strip().lower()
    for prefix in ("stage:", "stage/", "gnnsim:", "gnnsim/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.split("#", 1)[0].strip()
    return name if name in STAGES else None


def is_nccl(name: str) -> bool:
    """Whether a GPU kernel is NCCL communication.

    >>> is_nccl("ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)")
    True
    >>> is_nccl("ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)"), is_nccl("void at::native::vectorized_elementwise_kernel")
    (True, False)
    """
    return name.startswith(NCCL_PREFIXES)


def _kind(event: dict[str, Any]) -> str:
    """kernel | nccl | memcpy_h2d | memcpy | memset for a GPU event."""
    name = str(event.get("name", ""))
    if event["cat"] == "kernel":
        return "nccl" if is_nccl(name) else "kernel"
    if event["cat"] == "gpu_memset":
        return "memset"
    return "memcpy_h2d" if "HtoD" in name else "memcpy"


def _outermost(spans: list[tuple]) -> list[tuple]:
    """Drop spans nested inside an earlier span of the same thread (they are already counted)."""
    out = []
    open_until: dict[Any, float] = {}
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end, _, tid, _ = span
        if start < open_until.get(tid, -np.inf):
            continue
        out.append(span)
        open_until[tid] = end
    return out


def _iteration_windows(steps: list[tuple[float, float]], spans: list[tuple]) -> list[tuple[float, float]]:
    if steps:
        return sorted(steps)
    order = {s: i for i, s in enumerate(STAGES)}
    windows: list[list[float]] = []
    last = None
    for start, end, stage, _, _ in spans:  # sorted by start
        if last is None or order[stage] <= order[last]:
            windows.append([start, end])
        windows[-1][1] = max(windows[-1][1], end)
        last = stage
    return [(a, b) for a, b in windows]


def rank_from_trace(trace: dict[str, Any], rank: int = 0, stage_map: dict[str, str] | None = None,
                    source: str = "<trace>") -> dict[str, Any]:
    """One rank's measured record (``iterations`` with ``stages`` in seconds) from a parsed trace."""
    events = trace.get("traceEvents") if isinstance(trace, dict) else trace
    if not isinstance(events, list):
        raise TraceFormatError(f"{source}: no 'traceEvents' list; expected a Chrome trace from "
                               "torch.profiler's export_chrome_trace()")
    complete = [e for e in events if isinstance(e, dict) and e.get("ph") == "X" and "ts" in e and "dur" in e]
    steps, spans, comm, gpu, launches = [], [], [], [], {}
    for e in complete:
        cat, name = e.get("cat"), str(e.get("name", ""))
        ts, dur = float(e["ts"]), float(e["dur"])
        if cat == "user_annotation" and STEP_RE.match(name):
            steps.append((ts, ts + dur))
        elif cat in ("user_annotation", "cpu_op") and (
                stage_of(name, stage_map) == "allreduce" or (HOST_ALLREDUCE_RE.match(name) and not stage_map_hides(
                    name, stage_map))):
            comm.append((ts, ts + dur, "allreduce", (e.get("pid"), e.get("tid")), dur))
        elif cat == "user_annotation":
            if (stage := stage_of(name, stage_map)) is not None:
                spans.append((ts, ts + dur, stage, (e.get("pid"), e.get("tid")), dur))
        elif cat in GPU_CATS:
            gpu.append(e)
        elif cat in ("cuda_runtime", "cuda_driver", "runtime") and "correlation" in (e.get("args") or {}):
            launches[e["args"]["correlation"]] = ts
    spans = _outermost(spans)
    if not spans and not steps and not comm:
        raise TraceFormatError(
            f"{source}: no record_function labels named after a stage ({', '.join(STAGES)}) and no ProfilerStep#N "
            "markers; wrap each stage in torch.profiler.record_function('forward') etc., or pass a stage map "
            "(--stage-map LABEL=STAGE)")
    windows = _iteration_windows(steps, sorted(spans + comm))
    starts = np.array([w[0] for w in windows])
    ends = np.array([w[1] for w in windows])
    step_dur = {a: b - a for a, b in steps}
    iterations = [{"iteration": i, "stages": {}, "iteration_time_s": step_dur.get(a, b - a) * US,
                   "device": {"kernel_s": 0.0, "nccl_s": 0.0, "memcpy_s": 0.0, "memcpy_h2d_s": 0.0, "memset_s": 0.0,
                              "kernels": 0, "nccl_kernels": 0, "by_stage": {}}}
                  for i, (a, b) in enumerate(windows)]

    def window_of(t: float) -> int | None:
        i = int(np.searchsorted(starts, t, side="right")) - 1
        return i if 0 <= i < len(windows) and t <= ends[i] else None

    stage_spans_by_iter: list[list[tuple[float, float, str]]] = [[] for _ in windows]
    comm_by_iter: list[list[tuple[float, float]]] = [[] for _ in windows]
    for start, end, _, _, _ in comm:
        # launched inside a stage block (DDP: backward, which returns only once its buckets are reduced):
        # it ends for the trainer when that block does, though gloo's thread may close its event later
        end = min([end] + [b for a, b, _, _, _ in spans if a <= start < b])
        if (i := window_of(start)) is not None:
            comm_by_iter[i].append((start, end))
            stage_spans_by_iter[i].append((start, end, "allreduce"))  # GPU work launched here is the all-reduce's
    unions = [merged(c) for c in comm_by_iter]
    for i, union in enumerate(unions):
        if union.size:
            iterations[i]["stages"]["allreduce"] = float((union[:, 1] - union[:, 0]).sum()) * US
    for start, end, stage, _, dur in spans:
        i = window_of(start)
        if i is None:
            continue
        stages = iterations[i]["stages"]
        # dur, not end - start: ts is large, dur exact; less the all-reduce it waited for
        stages[stage] = stages.get(stage, 0.0) + (dur - overlap(unions[i], start, end)) * US
        stage_spans_by_iter[i].append((start, end, stage))
    for e in gpu:
        launched = launches.get((e.get("args") or {}).get("correlation"), float(e["ts"]))
        i = window_of(launched)
        if i is None:
            continue
        dev, kind, dur_s = iterations[i]["device"], _kind(e), float(e["dur"]) * US
        dev[f"{kind}_s"] += dur_s
        if kind == "memcpy_h2d":
            dev["memcpy_s"] += dur_s
        if kind in ("kernel", "nccl"):
            dev["kernels"] += 1
            dev["nccl_kernels"] += kind == "nccl"
        stage = next((s for a, b, s in stage_spans_by_iter[i] if a <= launched <= b), "unlabelled")
        by = dev["by_stage"].setdefault(stage, {})
        by[kind] = by.get(kind, 0.0) + dur_s
    for it, union in zip(iterations, unions):
        if union.size:  # the all-reduce in the order of the stages (it was entered first)
            it["stages"] = {s: it["stages"][s] for s in STAGES if s in it["stages"]}
    derived = []
    for it in iterations:
        dev = it["device"]
        if "allreduce" not in it["stages"] and dev["nccl_s"] > 0:
            it["stages"]["allreduce"] = dev["nccl_s"]
            derived.append("allreduce")
        if "h2d" not in it["stages"] and dev["memcpy_h2d_s"] > 0:
            it["stages"]["h2d"] = dev["memcpy_h2d_s"]
            derived.append("h2d")
    dist = trace.get("distributedInfo") if isinstance(trace, dict) else None
    return {"rank": int(dist["rank"]) if isinstance(dist, dict) and "rank" in dist else rank,
            "iterations": iterations, "iterations_per_epoch": None,
            "iteration_markers": "ProfilerStep" if steps else "stage sequence",
            "derived_stages": sorted(set(derived)), "source": source,
            "host": trace.get("host_name") if isinstance(trace, dict) else None,
            "distributed": dist if isinstance(dist, dict) else None, "machine": trace_machine(trace),
            "gpu_events": len(gpu)}


def stage_map_hides(label: str, stage_map: dict[str, str] | None) -> bool:
    """Whether the stage map sends ``label`` to a stage other than allreduce."""
    return bool(stage_map) and label in stage_map and stage_map[label] != "allreduce"


def trace_machine(trace: Any) -> dict[str, Any]:
    """What a trace says about where it ran: host, backend and world size, the GPUs
    (``deviceProperties``) and any library versions it names (``nccl_version``,
    ``cuda_runtime_version`` ...; PyTorch's own version is in none that torch 2.x writes).

    >>> trace_machine({"host_name": "a", "distributedInfo": {"backend": "gloo", "world_size": 2}})["backend"]
    'gloo'
    """
    if not isinstance(trace, dict):
        return {}
    dist = trace.get("distributedInfo") if isinstance(trace.get("distributedInfo"), dict) else {}
    gpus = [str(d.get("name")) for d in trace.get("deviceProperties") or [] if isinstance(d, dict) and d.get("name")]
    versions = {k: v for k, v in {**trace, **dist}.items()
                if k.endswith("_version") and isinstance(v, (str, int, float))}
    torch = next((str(versions.pop(k)) for k in ("pytorch_version", "torch_version") if k in versions), None)
    return {"host": trace.get("host_name"), "backend": dist.get("backend"), "world_size": dist.get("world_size"),
            "gpus": gpus, "torch": torch, "versions": versions}


def read_trace(path: str | Path) -> dict[str, Any]:
    """Parse one trace file (``.json`` or ``.json.gz``)."""
    path = Path(path)
    if path.is_dir():
        raise TraceFormatError(f"{path}: is a folder; give the JSON file that export_chrome_trace() wrote")
    if not path.is_file():
        raise TraceFormatError(f"{path}: no such trace file; give the JSON that export_chrome_trace() wrote")
    try:
        if path.suffix == ".gz":
            import gzip

            text = gzip.decompress(path.read_bytes()).decode()
        else:
            text = path.read_text()
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise TraceFormatError(f"{path}: not a JSON Chrome trace ({exc})") from None


def import_traces(paths: list[str | Path], stage_map: dict[str, str] | None = None, skip_first: int = 0,
                  scenario: dict[str, Any] | None = None) -> MeasuredRun:
    """A :class:`MeasuredRun` from one trace per rank (in rank order unless the traces say their rank).

    ``skip_first`` drops that many warm-up iterations of every rank. Ranks with more
    iterations than the others are cut to the shortest, so that every iteration has all ranks.
    """
    if not paths:
        raise TraceFormatError("give at least one trace file (one per rank)")
    ranks = [rank_from_trace(read_trace(p), r, stage_map, str(p)) for r, p in enumerate(paths)]
    ranks.sort(key=lambda r: r["rank"])
    if len({r["rank"] for r in ranks}) != len(ranks):
        raise TraceFormatError(f"two traces say they are the same rank ({[r['rank'] for r in ranks]}); "
                               "give one trace per rank")
    for r in ranks:
        r["iterations"] = r["iterations"][skip_first:]
    shortest = min(len(r["iterations"]) for r in ranks)
    if shortest == 0:
        raise TraceFormatError(f"no iterations left after --skip-first {skip_first} in "
                               f"{', '.join(r['source'] for r in ranks if not r['iterations'])}")
    cut = any(len(r["iterations"]) > shortest for r in ranks)
    for r in ranks:
        r["iterations"] = r["iterations"][:shortest]
        for i, it in enumerate(r["iterations"]):
            it["iteration"] = i
    hosts = sorted({str(r["host"]) for r in ranks if r["host"]})
    said = [r.pop("machine") for r in ranks]
    gpu_events = sum(r.pop("gpu_events") for r in ranks)
    gpus = sorted({g for m in said for g in m.get("gpus", [])})
    meta = {"source": "torch.profiler (Kineto) Chrome trace", "files": [r["source"] for r in ranks],
            "host": ", ".join(hosts) or None, "backend": next((r["distributed"].get("backend") for r in ranks
                                                                if r["distributed"]), None),
            # what the traces say about the machine: the GPUs they list (a CPU trace names none), library
            # versions; PyTorch's own version only where a trace carries one
            "machine": ", ".join(gpus) or None, "device": "cuda" if gpus or gpu_events else "cpu",
            "torch": next((m["torch"] for m in said if m.get("torch")), None),
            "versions": {k: v for m in said for k, v in m.get("versions", {}).items()},
            "world_size": next((m["world_size"] for m in said if m.get("world_size")), None),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "skip_first": skip_first,
            "iteration_markers": sorted({r["iteration_markers"] for r in ranks}),
            "derived_stages": sorted({s for r in ranks for s in r["derived_stages"]}),
            "cut_to_iterations": shortest if cut else None}
    return MeasuredRun(scenario or {}, ranks, meta)
