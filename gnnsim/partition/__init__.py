"""Partitioners (one registry) and partition quality metrics.

``partition_graph(graph, "metis", 8)`` runs any registered method (``known_methods()``
lists them: random, range, metis, ldg, fennel, random-edge, hdrf, grid2d and
``file:PATH``); ``partition_metrics`` / ``metrics_of`` measure the result.
"""

# the registry first; then the modules whose @register decorators fill it
from gnnsim.partition.registry import (EDGE_PARTITIONERS, PARTITIONERS, Partition, VertexCut, check_assignment,
                                       known_methods, partition_graph, register, register_vertex_cut)
from gnnsim.partition import methods, streaming, vertex_cut  # noqa: F401,I001 (they register themselves)
from gnnsim.partition.metrics import PartitionMetrics, metrics_of, partition_metrics

__all__ = ["EDGE_PARTITIONERS", "PARTITIONERS", "Partition", "PartitionMetrics", "VertexCut", "check_assignment",
           "known_methods", "metrics_of", "partition_graph", "partition_metrics", "register", "register_vertex_cut"]
