"""What points share, built once: the graph, and a partition with its metrics.

A runner calls :func:`build_graph_for` once per distinct graph key and
:func:`build_partition_for` once per distinct partition key (:mod:`gnnsim.search.plan`),
then passes the results to every point that shares them. The partition's metrics (edge
cut, halo, balance) depend on nothing else, so they are computed here too, once. Both
come from gnnsim's on-disk cache when an earlier run stored them (:mod:`gnnsim.cache`),
as :func:`gnnsim.simulate` takes them. These are plain functions on plain data, so Dask
can run them as tasks on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.partition.metrics import PartitionMetrics
from gnnsim.partition.registry import Partition


@dataclass(frozen=True)
class SharedPartition:
    partition: Partition
    metrics: PartitionMetrics


def build_graph_for(scenario: Scenario) -> Graph:
    """The scenario's graph (the same for every scenario with the same graph key)."""
    from gnnsim.graph.build import build_graph

    return build_graph(scenario)


def build_partition_for(scenario: Scenario, graph: Graph) -> SharedPartition:
    """The scenario's partition of ``graph`` and its metrics (the same for every scenario
    with the same partition key)."""
    from gnnsim.pipeline import cluster_for, partition_and_metrics_for

    return SharedPartition(*partition_and_metrics_for(scenario, graph, cluster_for(scenario).num_trainers))
