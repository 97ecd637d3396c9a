"""Rank a search's points, find the Pareto front, and choose one.

Every point that ran has an epoch time and a cost per epoch (the cluster's price per
hour times the epoch time). A point *fits* when its GPU memory estimate is within the
device's capacity and each machine's host footprint within its RAM (where the node
profile states it), and *meets* the constraints when its epoch time is at most
``max_epoch_s`` and its cost at most ``max_cost`` (per epoch, or per training run of
``epochs`` epochs when that is given). The *chosen* point is the best one that fits and
meets them, by the objective: ``time`` (the fastest; ties go to the cheaper) or
``cost`` (the cheapest; ties go to the faster), and then to the lower point number.

The *Pareto front* is the set of points that fit and that no other fitting point beats
on both epoch time and cost (a point as fast and as cheap as another, and better on
one, beats it); constraints do not move the front, they mark where on it the answer
may lie. With ``epochs`` the front per training run is the same set (both axes scale
by the same number).

>>> pts = [{"index": 0, "status": "ok", "epoch_time_s": 1.0, "cost_per_epoch_usd": 3.0, "memory": None},
...        {"index": 1, "status": "ok", "epoch_time_s": 2.0, "cost_per_epoch_usd": 1.0, "memory": None},
...        {"index": 2, "status": "ok", "epoch_time_s": 2.5, "cost_per_epoch_usd": 2.0, "memory": None}]
>>> [r.index for r in rank(pts, "time").front]
[0, 1]
>>> rank(pts, "cost", max_epoch_s=1.5).chosen.index
0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OBJECTIVES = ("time", "cost")
UNRANKED = 0  # the rank of a point that is not a candidate (does not fit, misses a limit, failed)


@dataclass
class Row:
    """One point in the ranked table."""

    index: int
    settings: dict[str, str]
    status: str  # ok | error
    record: dict[str, Any]
    rank: int = UNRANKED  # 1 = the chosen point; 0 = not a candidate
    fits: bool = True
    violations: list[str] = field(default_factory=list)  # constraints it misses, e.g. "epoch > 2 s"
    on_front: bool = False
    cost_per_run_usd: float | None = None

    @property
    def epoch_time_s(self) -> float:
        return self.record["epoch_time_s"]

    @property
    def cost_per_epoch_usd(self) -> float:
        return self.record["cost_per_epoch_usd"]

    @property
    def candidate(self) -> bool:
        return self.status == "ok" and self.fits and not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {**self.record, "rank": self.rank, "fits_memory": self.fits if self.status == "ok" else None,
                "violations": self.violations, "on_front": self.on_front, "cost_per_run_usd": self.cost_per_run_usd}


@dataclass
class Ranking:
    table: list[Row]  # candidates by rank, then the rest (misses a limit, does not fit, failed)
    front: list[Row]  # by epoch time
    chosen: Row | None


def _fits(record: dict[str, Any]) -> bool:
    """In GPU memory and in each machine's RAM (where the node profile states it)."""
    memory, host = record.get("memory"), record.get("host_memory")
    return (memory is None or bool(memory.get("fits", True))) and (host is None or host.get("fits") is not False)


def _cost(row: Row, epochs: int | None) -> float:
    return row.cost_per_epoch_usd * epochs if epochs else row.cost_per_epoch_usd


def pareto_front(rows: list[Row]) -> list[Row]:
    """The rows no other row beats on both epoch time and cost, by epoch time (then number)."""
    front: list[Row] = []
    best_cost = float("inf")
    for row in sorted(rows, key=lambda r: (r.epoch_time_s, r.cost_per_epoch_usd, r.index)):
        last = front[-1] if front else None
        tied = last is not None and (row.epoch_time_s, row.cost_per_epoch_usd) == (last.epoch_time_s,
                                                                                   last.cost_per_epoch_usd)
        if row.cost_per_epoch_usd < best_cost or tied:
            front.append(row)
            best_cost = min(best_cost, row.cost_per_epoch_usd)
    return front


def rank(records: list[dict[str, Any]], objective: str = "time", *, max_epoch_s: float | None = None,
         max_cost: float | None = None, epochs: int | None = None) -> Ranking:
    """The ranked table, the front and the chosen point of ``records`` (see the module doc)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    rows = []
    for record in sorted(records, key=lambda r: r["index"]):
        row = Row(record["index"], record.get("settings", {}), record["status"], record)
        if row.status == "ok":
            row.fits = _fits(record)
            if epochs:
                row.cost_per_run_usd = row.cost_per_epoch_usd * epochs
            if max_epoch_s is not None and row.epoch_time_s > max_epoch_s:
                row.violations.append(f"epoch > {max_epoch_s:g} s")
            if max_cost is not None and _cost(row, epochs) > max_cost:
                row.violations.append(f"cost > ${max_cost:g}{' per run' if epochs else ' per epoch'}")
        rows.append(row)
    ran = [r for r in rows if r.status == "ok"]
    front = pareto_front([r for r in ran if r.fits])
    for r in front:
        r.on_front = True

    def merit(r: Row) -> tuple:
        pair = (r.epoch_time_s, r.cost_per_epoch_usd) if objective == "time" else (r.cost_per_epoch_usd,
                                                                                 r.epoch_time_s)
        return (*pair, r.index)

    candidates = sorted((r for r in ran if r.candidate), key=merit)
    for i, r in enumerate(candidates, start=1):
        r.rank = i
    missing = sorted((r for r in ran if r.fits and r.violations), key=merit)
    too_big = sorted((r for r in ran if not r.fits), key=merit)
    failed = [r for r in rows if r.status != "ok"]
    return Ranking(candidates + missing + too_big + failed, front, candidates[0] if candidates else None)
