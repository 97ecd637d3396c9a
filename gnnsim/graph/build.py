"""Turn a scenario's ``graph`` section into a :class:`Graph` (one registry of sources).

``graph.source`` names the source: ``sbm``, ``rmat``, ``chung-lu`` (generators sized
by ``num_nodes`` and ``avg_degree``), ``edgelist``, ``npz``, ``ogb``, ``pyg`` (files or
folders at ``graph.path``), or ``preset:NAME`` (a stand-in for a published dataset at
``graph.scale``). Every source is seeded by ``simulation.seed``.

Generated graphs go through a graph cache that a layer above this one installs with
:func:`use_graph_cache` (gnnsim's package init installs the disk cache,
:func:`gnnsim.cache.graphs.cached_graph`); without one every graph is built.
"""

from __future__ import annotations

from collections.abc import Callable

from gnnsim.config import Scenario
from gnnsim.errors import ScenarioError, did_you_mean
from gnnsim.graph.generators import chung_lu, rmat, sbm
from gnnsim.graph.graph import Graph
from gnnsim.graph.load import pyg_partition_graph
from gnnsim.graph.ogb import load_ogb_graph
from gnnsim.graph.presets import PRESETS, preset_graph
from gnnsim.graph.readers import EdgeOptions, load_edge_list_graph, load_npz_graph


def _sbm(s: Scenario) -> Graph:
    g = s.graph
    return sbm(g.num_nodes, g.num_communities, g.avg_degree, g.intra_fraction, feature_dim=g.feature_dim,
               num_classes=g.num_classes, train_fraction=g.train_fraction, seed=s.simulation.seed)


def _options(s: Scenario) -> EdgeOptions:
    return EdgeOptions(symmetrize=s.graph.symmetrize, self_loops=s.graph.self_loops, dedup=s.graph.dedup)


def _edgelist(s: Scenario) -> Graph:
    g = s.graph
    return load_edge_list_graph(s.resolve(g.path or ""), feature_dim=g.feature_dim, num_classes=g.num_classes,
                                train_fraction=g.train_fraction, symmetrize=g.symmetrize, seed=s.simulation.seed,
                                self_loops=g.self_loops, dedup=g.dedup)


def _npz(s: Scenario) -> Graph:
    g = s.graph
    return load_npz_graph(s.resolve(g.path or ""), feature_dim=g.feature_dim, num_classes=g.num_classes,
                          train_fraction=g.train_fraction, options=_options(s), seed=s.simulation.seed)


def _ogb(s: Scenario) -> Graph:
    g = s.graph
    classes = g.num_classes if "num_classes" in g.model_fields_set else None
    return load_ogb_graph(s.resolve(g.path or ""), feature_dim=g.feature_dim, num_classes=classes,
                          train_fraction=g.train_fraction, split=g.split, options=_options(s), seed=s.simulation.seed)


def _pyg(s: Scenario) -> Graph:
    g = s.graph
    dim = g.feature_dim if "feature_dim" in g.model_fields_set else None
    return pyg_partition_graph(s.resolve(g.path or ""), feature_dim=dim, num_classes=g.num_classes,
                               train_fraction=g.train_fraction, options=_options(s), seed=s.simulation.seed)


def _rmat(s: Scenario) -> Graph:
    g = s.graph
    return rmat(g.num_nodes, g.avg_degree, feature_dim=g.feature_dim, num_classes=g.num_classes,
                train_fraction=g.train_fraction, seed=s.simulation.seed)


def _chung_lu(s: Scenario) -> Graph:
    g = s.graph
    return chung_lu(g.num_nodes, g.avg_degree, exponent=g.exponent, feature_dim=g.feature_dim,
                    num_classes=g.num_classes, train_fraction=g.train_fraction, seed=s.simulation.seed)


def _preset(s: Scenario, name: str) -> Graph:
    g = s.graph
    dim = g.feature_dim if "feature_dim" in g.model_fields_set else None
    intra = g.intra_fraction if "intra_fraction" in g.model_fields_set else None
    exponent = g.exponent if "exponent" in g.model_fields_set else None  # else the preset's fitted one
    return preset_graph(name, scale=g.scale, seed=s.simulation.seed, intra_fraction=intra, exponent=exponent,
                        feature_dim=dim)


# (the graph's spec, or None for a file; how to build it) -> the graph
GraphCache = Callable[[dict | None, Callable[[], Graph]], Graph]


def _uncached(spec: dict | None, build: Callable[[], Graph]) -> Graph:
    return build()


_graph_cache: GraphCache = _uncached


def use_graph_cache(cache: GraphCache) -> None:
    """Let :func:`build_graph` take generated graphs from ``cache`` and store them there."""
    global _graph_cache
    _graph_cache = cache


GRAPH_SOURCES: dict[str, Callable[[Scenario], Graph]] = {
    "sbm": _sbm, "edgelist": _edgelist, "npz": _npz, "ogb": _ogb, "pyg": _pyg, "rmat": _rmat, "chung-lu": _chung_lu,
}


def build_graph(scenario: Scenario) -> Graph:
    """The scenario's graph; the same scenario and seed always give the same graph.

    Generated graphs (presets, sbm, rmat, chung-lu) come from the graph cache when it
    holds a sound entry for the same ``graph`` section and seed (:mod:`gnnsim.cache`,
    installed by :func:`use_graph_cache`).
    """
    source = scenario.graph.source
    if source.startswith("preset:"):
        name = source.split(":", 1)[1]
        if name not in PRESETS:
            raise ScenarioError(f"graph.source: unknown preset '{name}'. Known: "
                                f"{', '.join('preset:' + p for p in PRESETS)}.{did_you_mean(name, PRESETS)}")
        return _graph_cache(graph_spec(scenario), lambda: _preset(scenario, name))
    if source not in GRAPH_SOURCES:
        known = [*GRAPH_SOURCES, *("preset:" + p for p in PRESETS)]
        hint = (f" A file? Set graph.source to its format (edgelist, npz, ogb or pyg) and graph.path: {source}."
                if "/" in source or "." in source else "")
        raise ScenarioError(f"graph.source: unknown source '{source}'. Known: {', '.join(known)}."
                            f"{did_you_mean(source, known)}{hint}")
    if scenario.graph.path and source in FILE_SOURCES:
        _check_graph_path(scenario, source)
    return _graph_cache(graph_spec(scenario), lambda: GRAPH_SOURCES[source](scenario))


def graph_spec(scenario: Scenario) -> dict | None:
    """What decides a generated graph (the cache key), or None for a file, which can change under us."""
    g = scenario.graph
    if g.source in FILE_SOURCES:
        return None
    return {"graph": g.model_dump(mode="json"), "set": sorted(g.model_fields_set), "seed": scenario.simulation.seed}


# What each file source reads at graph.path: a file, or a folder.
FILE_SOURCES = {"edgelist": "file", "npz": "file", "ogb": "folder", "pyg": "folder"}


def _check_graph_path(scenario: Scenario, source: str) -> None:
    path = scenario.resolve(scenario.graph.path or "")
    wants = FILE_SOURCES[source]
    if not path.exists():
        raise ScenarioError(f"graph.path: {path}: no such {wants}; graph.source '{source}' reads a {wants} "
                            "(a relative path is relative to the scenario file's folder)")
    if wants == "file" and path.is_dir():
        raise ScenarioError(f"graph.path: {path}: is a folder; graph.source '{source}' reads a file (for an OGB "
                            "or PyG folder set graph.source: ogb or pyg)")
    if wants == "folder" and not path.is_dir():
        raise ScenarioError(f"graph.path: {path}: is a file; graph.source '{source}' reads a folder")
