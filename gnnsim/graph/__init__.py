"""Graphs: the CSR container, seeded generators, dataset presets and file readers.

:func:`load_graph` takes any spec a user can type (a file, a folder, ``preset:NAME``,
``sbm?num_nodes=...``); :func:`build_graph` does the same for a scenario's ``graph``
section.
"""

from gnnsim.graph.build import build_graph
from gnnsim.graph.generators import chung_lu, rmat, sbm
from gnnsim.graph.graph import Graph, csr_from_edges
from gnnsim.graph.load import load_graph
from gnnsim.graph.presets import PRESETS, preset_graph
from gnnsim.graph.readers import EdgeOptions, load_edge_list_graph, read_edge_list, read_npz

__all__ = ["PRESETS", "EdgeOptions", "Graph", "build_graph", "chung_lu", "csr_from_edges", "load_edge_list_graph",
           "load_graph", "preset_graph", "read_edge_list", "read_npz", "rmat", "sbm"]
