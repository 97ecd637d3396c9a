"""Graph specs, format detection and scenario sources."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import GraphFormatError, ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.graph.load import detect_format, load_graph, parse_spec


def test_parse_spec_types():
    assert parse_spec("sbm?num_nodes=10&intra_fraction=0.5&name=x&flag=true") == (
        "sbm", {"num_nodes": 10, "intra_fraction": 0.5, "name": "x", "flag": True})
    with pytest.raises(GraphFormatError, match="expected NAME\\?key=value"):
        parse_spec("sbm?num_nodes")


def test_generator_specs():
    g = load_graph("sbm?num_nodes=300&avg_degree=4", seed=0, feature_dim=16)
    assert g.num_nodes == 300 and g.feature_dim == 16
    assert load_graph("rmat?num_nodes=256&avg_degree=8").num_edges == 2048
    assert load_graph("chung-lu?num_nodes=500&avg_degree=6").num_edges == 3000


def test_spec_errors():
    with pytest.raises(GraphFormatError, match="unknown option 'nodes'.*Did you mean 'num_nodes'"):
        load_graph("sbm?nodes=10")
    with pytest.raises(GraphFormatError, match="unknown graph preset 'redit'.*Did you mean 'reddit'"):
        load_graph("preset:redit")
    with pytest.raises(GraphFormatError, match="no such file or folder"):
        load_graph("missing/edges.txt")


def test_detect_and_force_format(tmp_path):
    (tmp_path / "e.txt").write_text("0 1\n1 2\n")
    np.savez(tmp_path / "g.npz", edge_index=np.array([[0], [1]]))
    assert detect_format(tmp_path / "e.txt") == "edgelist" and detect_format(tmp_path / "g.npz") == "npz"
    assert load_graph(tmp_path / "e.txt").num_nodes == 3
    assert load_graph(tmp_path / "g.npz").num_nodes == 2
    (tmp_path / "edges.dat").write_text("0,1\n")
    assert load_graph(tmp_path / "edges.dat", fmt="edgelist").num_edges == 2
    with pytest.raises(GraphFormatError, match="unknown format"):
        load_graph(tmp_path / "e.txt", fmt="parquet")
    with pytest.raises(GraphFormatError, match="neither an OGB dataset"):
        load_graph(tmp_path)


def test_dgl_config_is_refused_as_a_graph(tmp_path):
    (tmp_path / "g.json").write_text(json.dumps({"num_parts": 1, "node_map": {"_N": [[0, 2]]}}))
    with pytest.raises(GraphFormatError, match="--method file:"):
        load_graph(tmp_path / "g.json")


@pytest.mark.parametrize("graph,nodes", [
    ({"source": "rmat", "num_nodes": 512, "avg_degree": 8}, 512),
    ({"source": "chung-lu", "num_nodes": 400, "avg_degree": 6, "exponent": 2.2}, 400),
    ({"source": "preset:ogbn-arxiv", "scale": 0.005}, 847),
    ({"source": "sbm", "num_nodes": 300}, 300),
])
def test_scenario_sources(graph, nodes):
    g = build_graph(scenario_from_dict({"graph": graph}))
    assert g.num_nodes == nodes


def test_scenario_file_sources(tmp_path):
    (tmp_path / "e.txt").write_text("0 1\n1 1\n1 2\n1 2\n")
    s = scenario_from_dict({"graph": {"source": "edgelist", "path": "e.txt", "self_loops": True, "dedup": False}},
                           base_dir=str(tmp_path))
    assert build_graph(s).num_edges == 7  # 0-1 x2, 1-2 x2 both ways (6) + the loop once
    np.savez(tmp_path / "g.npz", edge_index=np.array([[0, 1], [1, 2]]))
    s = scenario_from_dict({"graph": {"source": "npz", "path": "g.npz"}}, base_dir=str(tmp_path))
    assert build_graph(s).num_edges == 4


def test_preset_scenario_keeps_published_feature_dim_unless_set():
    base = {"source": "preset:reddit", "scale": 0.002}
    assert build_graph(scenario_from_dict({"graph": base})).feature_dim == 602
    assert build_graph(scenario_from_dict({"graph": {**base, "feature_dim": 64}})).feature_dim == 64


def test_scenario_errors():
    with pytest.raises(ScenarioError, match="unknown preset 'reddt'.*Did you mean 'reddit'"):
        build_graph(scenario_from_dict({"graph": {"source": "preset:reddt"}}))
    with pytest.raises(ScenarioError, match="unknown source 'rmta'"):
        build_graph(scenario_from_dict({"graph": {"source": "rmta"}}))
    with pytest.raises(ScenarioError, match="reads a file: set graph.path"):
        scenario_from_dict({"graph": {"source": "ogb"}})
