"""Run planned points, in this process or as tasks on a Dask cluster.

Both runners take the points sorted by graph and partition (:func:`gnnsim.search.plan.plan`)
and call ``on_record`` with each point's record as soon as it is known, in whatever
order points finish. The order does not change any record: a point's numbers depend
only on its scenario, so the ranking is the same for one process or a hundred workers.

- :func:`run_serial` builds each graph and partition when the first point that needs
  it comes, and drops it when the last one is done.
- :func:`run_dask` submits one task per distinct graph and per distinct partition (the
  partition task takes the graph's future), and one task per point that takes both
  futures: Dask builds each once, on one worker, and copies it to the workers whose
  points need it. Points are submitted a few per worker thread at a time, in plan
  order, so only the graphs of the points in flight are held in memory, and a graph's
  futures are dropped once its last point is back. Each point goes to the worker with
  the fewest points in flight: left to itself, Dask would keep every point on the
  worker that holds the graph (moving tens of megabytes looks dearer than waiting), and
  the other workers would idle. The choice is a preference, not a pin: if that worker
  is lost, the point runs on another.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from gnnsim.graph.graph import Graph
from gnnsim.search.plan import Point, from_portable, portable
from gnnsim.search.point import error_record, error_text, run_point
from gnnsim.search.shared import SharedPartition, build_graph_for, build_partition_for

OnRecord = Callable[[dict[str, Any]], None]


# Dask tasks take each scenario as plain data (plan.portable) and build it again on the worker.

def graph_task(scenario: dict[str, Any]) -> Graph:
    return build_graph_for(from_portable(scenario))


def partition_task(scenario: dict[str, Any], graph: Graph) -> SharedPartition:
    return build_partition_for(from_portable(scenario), graph)


def point_task(index: int, settings: dict[str, str], scenario: dict[str, Any], graph: Graph,
               shared: SharedPartition) -> dict[str, Any]:
    return run_point(index, settings, from_portable(scenario), graph, shared)


def run_serial(points: list[Point], on_record: OnRecord) -> None:
    """Every point in this process, one after another."""
    held: dict[str, Any] = {}  # graph or partition key -> the object, or the exception building it raised
    left = Counter(k for p in points for k in (p.graph_key, p.partition_key))

    def shared(key: str, build: Callable[[], Any]) -> Any:
        if key not in held:
            try:
                held[key] = build()
            except Exception as exc:  # noqa: BLE001 - recorded on every point that shares it
                held[key] = exc
        if isinstance(held[key], Exception):
            raise held[key]
        return held[key]

    for p in points:
        try:
            graph = shared(p.graph_key, lambda: build_graph_for(p.scenario))
            part = shared(p.partition_key, lambda: build_partition_for(p.scenario, graph))
        except Exception as exc:  # noqa: BLE001
            record = error_record(p.index, p.settings, error_text(exc))
        else:
            record = run_point(p.index, p.settings, p.scenario, graph, part)
        for key in (p.graph_key, p.partition_key):
            left[key] -= 1
            if left[key] == 0:
                held.pop(key, None)
        on_record(record)


def run_dask(points: list[Point], client: Any, on_record: OnRecord, per_thread: int = 2) -> None:
    """Every point as a task on ``client``'s cluster, ``per_thread`` points in flight per
    worker thread (one running, one ready to start)."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]  # keys unique to this search on a scheduler others may share
    futures: dict[str, Any] = {}  # graph/partition key -> its future, while points that need it are left
    left = Counter(k for p in points for k in (p.graph_key, p.partition_key))
    in_flight: dict[str, tuple[Point, str | None]] = {}  # point task key -> the point, the worker it was sent to
    load: Counter[str | None] = Counter()  # worker -> points in flight there
    todo: Iterator[Point] = iter(points)
    done = as_completed(loop=client.loop)

    def least_loaded() -> tuple[str | None, int]:
        threads = client.nthreads()  # workers may come and go on a shared cluster
        if not threads:  # none at the moment: the scheduler holds the point until one joins
            return None, per_thread
        worker = min(threads, key=lambda w: (load[w] / max(threads[w], 1), w))
        return worker, per_thread * sum(max(1, n) for n in threads.values())

    def submit_next() -> bool:
        worker, window = least_loaded()
        if len(in_flight) >= window:
            return False
        p = next(todo, None)
        if p is None:
            return False
        scenario = portable(p.scenario)
        if p.graph_key not in futures:
            futures[p.graph_key] = client.submit(graph_task, scenario, key=f"gnnsim-graph-{p.graph_key}-{run}")
        graph = futures[p.graph_key]
        if p.partition_key not in futures:
            futures[p.partition_key] = client.submit(partition_task, scenario, graph,
                                                     key=f"gnnsim-partition-{p.partition_key}-{run}")
        future = client.submit(point_task, p.index, p.settings, scenario, graph, futures[p.partition_key],
                               key=f"gnnsim-point-{p.index}-{run}", workers=[worker] if worker else None,
                               allow_other_workers=bool(worker))
        in_flight[future.key] = (p, worker)
        load[worker] += 1
        done.add(future)
        return True

    while submit_next():
        pass
    for future in done:
        p, worker = in_flight.pop(future.key)
        load[worker] -= 1
        try:
            record = future.result()
        except Exception as exc:  # noqa: BLE001 - a failed graph/partition task, a lost worker
            record = error_record(p.index, p.settings, error_text(exc))
        future.release()
        for key in (p.graph_key, p.partition_key):
            left[key] -= 1
            if left[key] == 0:
                futures.pop(key).release()
        on_record(record)
        while submit_next():
            pass
