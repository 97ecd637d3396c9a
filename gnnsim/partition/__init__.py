"""Partitioners (one registry) and partition quality metrics."""

from gnnsim.partition.metrics import PartitionMetrics, partition_metrics
from gnnsim.partition.registry import PARTITIONERS, Partition, check_assignment, partition_graph, register

__all__ = ["PARTITIONERS", "Partition", "PartitionMetrics", "check_assignment", "partition_graph",
           "partition_metrics", "register"]
