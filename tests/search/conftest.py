"""A scenario small enough that a point takes tens of milliseconds: a 1,500-node SBM
graph, two trainers on one node, two simulated iterations."""

from __future__ import annotations

import pytest

TINY = """\
name: tiny
graph: {source: sbm, num_nodes: 1500, num_communities: 4, avg_degree: 6, feature_dim: 16, num_classes: 4}
partition: {method: metis}
model: {name: graphsage, hidden_dim: 16}
training: {batch_size: 64, fanouts: [4, 3]}
cluster: {profile: a100-2x8-eth100, num_nodes: 1, trainers_per_node: 2}
simulation: {iterations: 2, seed: 0}
"""

# 2 partition methods x 2 batch sizes x 2 trainer counts: one graph, four partitions
GRID = ["partition.method=random,metis", "training.batch_size=32,64", "cluster.trainers_per_node=1,2"]


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path
