"""``simulation.allreduce`` picks the gradient all-reduce algorithm from the scenario."""

from __future__ import annotations

import pytest

from gnnsim.config import scenario_from_dict
from gnnsim.errors import ScenarioError
from gnnsim.pipeline import simulate

BASE = {"graph": {"source": "sbm", "num_nodes": 3000}, "cluster": {"profile": "a100-2x8-eth100"},
        "simulation": {"iterations": 2}}


def _run(algorithm: str | None):
    data = {**BASE, "simulation": {**BASE["simulation"], **({"allreduce": algorithm} if algorithm else {})}}
    return simulate(scenario_from_dict(data), sensitivity=False).to_dict()


def test_the_scenario_chooses_and_the_result_says_which():
    auto, tree = _run(None), _run("tree")
    assert "allreduce" not in auto["simulator"] and "allreduce" not in auto["scenario"]["simulation"]
    assert tree["simulator"]["allreduce"] == "tree" and tree["scenario"]["simulation"]["allreduce"] == "tree"
    # 16 ranks over two nodes: a flat binary tree pays 2 x depth 4 network latencies and moves 2 S per port
    # per phase, the hierarchical ring (auto) 2 ring passes: the tree's all-reduce is the slower one here
    assert tree["breakdown"]["allreduce"]["time_s"] > auto["breakdown"]["allreduce"]["time_s"]
    assert _run("hierarchical")["breakdown"]["allreduce"]["time_s"] == auto["breakdown"]["allreduce"]["time_s"]


def test_an_unknown_algorithm_is_a_scenario_error():
    with pytest.raises(ScenarioError, match="simulation.allreduce: must be one of"):
        scenario_from_dict({**BASE, "simulation": {"allreduce": "butterfly"}})
