"""``gnnsim.search``: every point of a grid predicted, ranked, and the best one chosen.

:func:`search` is the whole search in one call, and ``gnnsim search`` is a shell over
it. Its steps, each in its own module:

1. the grid from the ``--vary`` axes, whole or a seeded sample (:mod:`.grid`);
2. each point's scenario, and the graph and partition keys it shares (:mod:`.plan`);
3. the points already in the results file when resuming (:mod:`.journal`);
4. the others, run in this process or on Dask (:mod:`.runners`, :mod:`.cluster`), each
   record appended to the results file as it comes back, with progress on a terminal
   (:mod:`.progress`);
5. the ranking, the Pareto front and the chosen point (:mod:`.rank`).

Everything that can be wrong with the request (an unknown key, an axis without values,
a results file from another search, a scheduler out of reach) raises before the first
point runs and before any file is written.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnnsim.config import Scenario, load_scenario, scenario_from_dict
from gnnsim.search.errors import NoFeasiblePointError, SearchError
from gnnsim.search.grid import parse_grid, settings_key
from gnnsim.search.journal import Journal
from gnnsim.search.plan import base_data, check_values, fingerprint, plan
from gnnsim.search.point import error_record
from gnnsim.search.progress import Progress
from gnnsim.search.rank import OBJECTIVES, Row, rank
from gnnsim.search.report import fmt_s, fmt_usd, label


@dataclass
class SearchResult:
    """What :func:`search` returns: the ranked ``table`` (:class:`~gnnsim.search.rank.Row`
    per point), the Pareto ``front``, the ``chosen`` row and every point's record
    (``points``, by point number)."""

    scenario: str
    axes: dict[str, list[str]]
    objective: str
    max_epoch_s: float | None
    max_cost: float | None
    epochs: int | None
    grid_size: int
    table: list[Row]
    front: list[Row]
    chosen: Row | None
    points: list[dict[str, Any]]
    simulated: int  # points run by this call
    resumed: int  # points taken from the results file

    def to_dict(self) -> dict[str, Any]:
        from gnnsim.search.report import to_dict

        return to_dict(self)

    def to_csv(self) -> str:
        from gnnsim.search.report import to_csv

        return to_csv(self)

    def text(self, top: int | None = 20) -> str:
        from gnnsim.search.report import summary_text

        return summary_text(self, top)


def _check_limits(objective: str, max_epoch_s: float | None, max_cost: float | None, epochs: int | None,
                  sample: int | None, workers: int | None, scheduler: str | None) -> None:
    if objective not in OBJECTIVES:
        raise SearchError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")
    for name, value in (("--max-epoch-s", max_epoch_s), ("--max-cost", max_cost)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SearchError(f"{name} {value}: expected a finite number > 0")
    for name, value, low in (("--epochs", epochs, 1), ("--sample", sample, 1), ("--workers", workers, 0)):
        if value is not None and (not isinstance(value, int) or value < low):
            raise SearchError(f"{name} {value}: expected a whole number >= {low}")
    if scheduler is not None and workers is not None:
        raise SearchError("--workers and --scheduler: give one (--workers starts a local cluster of that size, "
                          "--scheduler uses the workers of a running one)")


def _base(scenario: Scenario | str | Path, overrides: Sequence[str] | None) -> Scenario:
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        return scenario_from_dict(base_data(scenario), scenario.name, scenario.base_dir, list(overrides))
    return load_scenario(scenario, list(overrides or []))


def _no_answer(ranking_table: list[Row], max_epoch_s: float | None, max_cost: float | None,
               epochs: int | None, out: str | Path | None) -> str:
    kept = f"; the points are in {out}" if out else ""
    ran = [r for r in ranking_table if r.status == "ok"]
    if not ran:
        first = ranking_table[0].record.get("error", "no message") if ranking_table else "no points"
        return f"every point failed (first: {first}){kept}"
    fitting = [r for r in ran if r.fits]
    in_gpu = [r for r in ran if (r.record.get("memory") or {}).get("fits", True)]
    if not fitting and in_gpu:  # every point that fits its GPUs outgrows its machines' RAM
        small = min(in_gpu, key=lambda r: (r.record["host_memory"]["peak_bytes"], r.index))
        mem = small.record["host_memory"]
        return (f"no point fits in its machines' RAM: the smallest needs {mem['peak_bytes'] / 2**30:,.1f} GiB of "
                f"{mem['capacity_bytes'] / 2**30:,.0f} GiB per machine ({label(small.settings)}); vary more machines "
                f"(cluster.num_nodes) or a smaller graph.feature_dtype{kept}")
    if not fitting:
        small = min(ran, key=lambda r: (r.record["memory"]["peak_bytes"], r.index))
        mem = small.record["memory"]
        return (f"no point fits in GPU memory: the smallest needs {mem['peak_bytes'] / 2**30:.1f} GiB of "
                f"{mem['capacity_bytes'] / 2**30:.0f} GiB ({label(small.settings)}); vary a smaller batch_size, "
                f"fanouts or hidden_dim, or a device with more memory{kept}")
    limits = ([f"--max-epoch-s {max_epoch_s:g}"] if max_epoch_s is not None else []) + \
             ([f"--max-cost {max_cost:g}{' (per run)' if epochs else ''}"] if max_cost is not None else [])
    fast = min(fitting, key=lambda r: (r.epoch_time_s, r.index))
    cheap = min(fitting, key=lambda r: (r.cost_per_epoch_usd, r.index))
    per = epochs or 1
    return (f"no point meets {' and '.join(limits)}: the fastest that fits takes {fmt_s(fast.epoch_time_s)} per "
            f"epoch ({label(fast.settings)}), the cheapest costs {fmt_usd(cheap.cost_per_epoch_usd * per)}"
            f"{' per run' if epochs else ' per epoch'} ({label(cheap.settings)}){kept}")


def search(scenario: Scenario | str | Path, varies: Sequence[str] | Mapping[str, Sequence[Any]], *,
           overrides: Sequence[str] | None = None, objective: str = "time", max_epoch_s: float | None = None,
           max_cost: float | None = None, epochs: int | None = None, sample: int | None = None, seed: int = 0,
           workers: int | None = None, scheduler: str | None = None, out: str | Path | None = None,
           resume: bool = False, progress: bool | None = None, connect_timeout_s: float = 10.0) -> SearchResult:
    """Predict every point of a grid with the full simulator; rank them and choose one.

    Parameters
    ----------
    scenario
        A scenario file or a :class:`Scenario`; ``overrides`` are ``--set`` values on it.
    varies
        The axes: ``["training.batch_size=512,1024", ...]`` or ``{"training.batch_size": [512, 1024]}``.
    objective
        ``time`` (fastest epoch) or ``cost`` (cheapest epoch) among the points that fit in
        GPU memory and meet ``max_epoch_s`` and ``max_cost`` (dollars per epoch, or per
        run of ``epochs`` epochs when that is given).
    sample, seed
        Run ``sample`` points of the grid drawn by ``seed`` instead of all of them.
    workers, scheduler
        ``None``: a local Dask cluster with a worker per core; ``0``: this process, no
        Dask; ``N``: a local cluster of N workers; ``scheduler``: a running cluster.
    out, resume
        A JSON-lines results file, appended point by point; ``resume`` skips the points
        already in it (and tries failed ones again).
    progress
        Progress on stderr; ``None``: when stderr is a terminal.

    Raises
    ------
    SearchError
        A bad request (before any point runs), or every point failed.
    SchedulerError
        Dask missing, or the scheduler out of reach (before any point runs).
    NoFeasiblePointError
        No point fits and meets the limits; its ``result`` holds the rest.

    Examples
    --------
    >>> r = search("examples/validate-small.yaml", {"training.batch_size": [256, 512]}, workers=0,
    ...            overrides=["graph.num_nodes=2000", "simulation.iterations=2"])
    >>> len(r.table), r.chosen.rank, len(r.front) >= 1
    (2, 1, True)
    """
    _check_limits(objective, max_epoch_s, max_cost, epochs, sample, workers, scheduler)
    if resume and out is None:
        raise SearchError("--resume: give the results file to go on with as --out RESULTS.jsonl")
    base = _base(scenario, overrides)
    grid = parse_grid(varies)
    check_values(base, grid)
    indices = grid.select(sample, seed)
    journal = Journal(out, fingerprint(base), base.name, resume) if out is not None else None
    previous = journal.done() if journal is not None else {}
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for index in indices:
        settings = grid.settings(index)
        old = previous.get(settings_key(settings))
        if old is not None:
            records[index] = {**old, "index": index, "settings": settings}  # as numbered and ordered in this grid
        else:
            todo.append(index)
    resumed = len(records)
    points = plan(base, grid, todo)
    runnable = [p for p in points if p.error is None]
    tracker = Progress(len(indices), already=resumed, enabled=progress)

    def on_record(record: dict[str, Any]) -> None:
        records[record["index"]] = record
        if journal is not None:
            journal.append(record)
        tracker.point_done(record["status"] == "ok")

    with contextlib.ExitStack() as stack:
        client = None
        if runnable and workers != 0:
            from gnnsim.search.cluster import dask_client, default_workers

            size = None if scheduler else min(workers or default_workers(), len(runnable))  # no idle local workers
            client = stack.enter_context(dask_client(size, scheduler, connect_timeout_s))
        if journal is not None:
            journal.open()
            stack.callback(journal.close)
        stack.callback(tracker.close)
        for p in points:
            if p.error is not None:
                on_record(error_record(p.index, p.settings, p.error))
        if client is None:
            from gnnsim.search.runners import run_serial

            run_serial(runnable, on_record)
        else:
            from gnnsim.search.runners import run_dask

            run_dask(runnable, client, on_record)

    ranking = rank(list(records.values()), objective, max_epoch_s=max_epoch_s, max_cost=max_cost, epochs=epochs)
    result = SearchResult(base.name, {a.key: list(a.values) for a in grid.axes}, objective, max_epoch_s, max_cost,
                          epochs, grid.size, ranking.table, ranking.front, ranking.chosen,
                          [records[i] for i in sorted(records)], len(indices) - resumed, resumed)
    if ranking.chosen is None:
        message = _no_answer(ranking.table, max_epoch_s, max_cost, epochs, out)
        if not any(r.status == "ok" for r in ranking.table):
            raise SearchError(message)
        raise NoFeasiblePointError(message, result)
    return result
