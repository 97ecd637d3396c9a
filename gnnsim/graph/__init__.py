"""Graphs: the CSR container, seeded generators and file readers."""

from gnnsim.graph.build import build_graph
from gnnsim.graph.generators import sbm
from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.graph.readers import load_edge_list_graph, read_edge_list

__all__ = ["Graph", "build_graph", "csr_from_edges", "load_edge_list_graph", "read_edge_list", "sbm"]
