"""Turn a scenario's ``graph`` section into a :class:`Graph` (one registry of sources)."""

from __future__ import annotations

from collections.abc import Callable

from gnnsim.config import Scenario
from gnnsim.errors import ScenarioError, did_you_mean
from gnnsim.graph.generators import sbm
from gnnsim.graph.graph import Graph
from gnnsim.graph.readers import load_edge_list_graph


def _sbm(s: Scenario) -> Graph:
    g = s.graph
    return sbm(g.num_nodes, g.num_communities, g.avg_degree, g.intra_fraction, feature_dim=g.feature_dim,
               num_classes=g.num_classes, train_fraction=g.train_fraction, seed=s.simulation.seed)


def _edgelist(s: Scenario) -> Graph:
    g = s.graph
    return load_edge_list_graph(s.resolve(g.path or ""), feature_dim=g.feature_dim, num_classes=g.num_classes,
                                train_fraction=g.train_fraction, symmetrize=g.symmetrize, seed=s.simulation.seed)


GRAPH_SOURCES: dict[str, Callable[[Scenario], Graph]] = {"sbm": _sbm, "edgelist": _edgelist}


def build_graph(scenario: Scenario) -> Graph:
    """The scenario's graph; the same scenario and seed always give the same graph."""
    source = scenario.graph.source
    if source not in GRAPH_SOURCES:
        raise ScenarioError(f"graph.source: unknown source '{source}'. Known: {', '.join(GRAPH_SOURCES)}."
                            f"{did_you_mean(source, GRAPH_SOURCES)}")
    return GRAPH_SOURCES[source](scenario)
