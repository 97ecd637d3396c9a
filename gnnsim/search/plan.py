"""Each point's scenario, and what points share.

Most of a point's cost in a grid is work that other points repeat: building the graph
and partitioning it. A point's graph depends only on the scenario's ``graph`` section
and its seed, and its partition only on that graph, the method, the part count and the
seed. :func:`plan` gives every point a *graph key* and a *partition key* from exactly
those fields, so a runner builds each distinct graph and each distinct partition once
and hands them to every point that shares them. Points come back sorted by those keys,
so a runner can finish with one graph before it builds the next.

A value that is invalid on its own (``--vary training.batch_size=-5``) is an error
before anything runs; a combination that fails (a profile that does not exist, heads
that do not divide the hidden width, a job larger than this machine's memory by
:mod:`gnnsim.preflight`'s lower bound) becomes that point's recorded error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gnnsim.config import Scenario, scenario_from_dict
from gnnsim.errors import GnnsimError, ScenarioError
from gnnsim.search.errors import SearchError
from gnnsim.search.grid import Grid


@dataclass(frozen=True)
class Point:
    index: int  # its number in the grid
    settings: dict[str, str]
    scenario: Scenario | None  # None when the point could not be planned (see error)
    graph_key: str = ""
    partition_key: str = ""
    error: str | None = None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def base_data(scenario: Scenario) -> dict[str, Any]:
    """The fields the user set, as a dict that rebuilds the same scenario: defaults left
    unset stay unset, since some sources read whether a field was given (a preset keeps
    its own feature width unless ``graph.feature_dim`` is set)."""
    return scenario.model_dump(mode="json", exclude_unset=True, exclude={"base_dir"})


def fingerprint(scenario: Scenario) -> str:
    """A short digest of a scenario's settings (what a results file was written for)."""
    return _digest(base_data(scenario))


def portable(scenario: Scenario) -> dict[str, Any]:
    """``scenario`` as plain data for another process: a worker builds the
    :class:`Scenario` again with its own gnnsim (:func:`from_portable`), so a pickled
    model never has to match the worker's classes field for field."""
    return {"data": base_data(scenario), "base_dir": scenario.base_dir}


def from_portable(data: dict[str, Any]) -> Scenario:
    return scenario_from_dict(data["data"], data["data"].get("name", "search"), data["base_dir"])


def point_scenario(base: Scenario, settings: Mapping[str, str], source: str = "search") -> Scenario:
    """``base`` with every ``key=value`` of ``settings`` applied as a ``--set``."""
    sets = [f"{k}={v}" for k, v in settings.items()]
    return scenario_from_dict(base_data(base), source, base.base_dir, sets)


def graph_key(scenario: Scenario) -> str:
    """What the graph is built from: the ``graph`` section as given, the seed, and the
    folder relative paths start from (when the graph is read from a file)."""
    g = scenario.graph
    return "g" + _digest({"graph": g.model_dump(mode="json", exclude_unset=True), "seed": scenario.simulation.seed,
                          "base_dir": scenario.base_dir if g.path else None})


def partition_key(scenario: Scenario, trainers: int) -> str:
    """What the partition is built from: the graph, the method, the part count, the seed."""
    method = scenario.partition.method
    return "p" + _digest({"graph": graph_key(scenario), "method": method,
                          "parts": scenario.partition.num_parts or trainers, "seed": scenario.simulation.seed,
                          "base_dir": scenario.base_dir if method.startswith("file:") else None})


def check_values(base: Scenario, grid: Grid) -> None:
    """Raise :class:`SearchError` for a value that its own field refuses (a negative
    batch size, a model that does not exist); a rule between fields (GAT heads divide
    the hidden width) is left to the combinations, where another axis may satisfy it."""
    for axis in grid.axes:
        for value in axis.values:
            written = f"--vary {axis.key}={value}"
            try:
                point_scenario(base, {axis.key: value}, written)
            except ScenarioError as exc:
                as_set = f"--set {f'{axis.key}={value}'!r}"  # how config words an override it cannot apply
                own = [line.replace(as_set, written, 1) for line in str(exc).splitlines()
                       if line.startswith((f"{written}: {axis.key}:", f"{written}: {axis.key}.", as_set))]
                if own:
                    raise SearchError(own[0]) from None


def plan(base: Scenario, grid: Grid, indices: list[int]) -> list[Point]:
    """The points ``indices`` of ``grid`` over ``base``, sorted so that points sharing a
    graph, then a partition, are neighbours (then by number)."""
    from gnnsim.pipeline import cluster_for
    from gnnsim.preflight import check_memory

    trainers_by_cluster: dict[str, int | str] = {}  # cluster section -> trainers, or the error it raised
    points = []
    for index in indices:
        settings = grid.settings(index)
        try:
            scenario = point_scenario(base, settings)
        except GnnsimError as exc:
            points.append(Point(index, settings, None, error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
            continue
        ckey = json.dumps(scenario.cluster.model_dump(mode="json"), sort_keys=True)
        if ckey not in trainers_by_cluster:
            try:
                trainers_by_cluster[ckey] = cluster_for(scenario).num_trainers
            except GnnsimError as exc:
                trainers_by_cluster[ckey] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        trainers = trainers_by_cluster[ckey]
        if isinstance(trainers, str):
            points.append(Point(index, settings, None, error=trainers))
            continue
        try:
            check_memory(scenario, trainers)  # a point that cannot fit in this machine's memory never starts
        except ScenarioError as exc:
            points.append(Point(index, settings, None, error=f"ScenarioError: {str(exc).splitlines()[0]}"))
            continue
        points.append(Point(index, settings, scenario, graph_key(scenario), partition_key(scenario, trainers)))
    return sorted(points, key=lambda p: (p.graph_key, p.partition_key, p.index))
