"""Synthetic stand-ins for the datasets distributed GNN papers report on.

A preset reproduces a dataset's published node count, edge count, feature width, class
count and training-set size, scaled by ``scale`` (nodes and edges both multiply by it,
so the mean degree stays that of the real graph; the train set stays the same fraction).
The structure is a power-law degree-corrected SBM (:func:`power_law_communities`):
one community per class, heavy-tailed degrees. Only the counts are published figures;
the structural knobs (``intra_fraction``, ``exponent``) are modelling assumptions,
named as such below and overridable (``preset:reddit?intra_fraction=0.5``).

Edge counts follow each source's convention and are converted to the distinct
undirected edges that gnnsim builds (``Graph.num_edges`` counts both directions):

- OGB counts each stored edge once. ogbn-products is undirected (61,859,140 undirected
  edges); ogbn-arxiv and ogbn-papers100M are directed citation graphs that training
  symmetrizes, so each published edge becomes one undirected edge (the few reciprocal
  citations are ignored).
- Reddit's 114,615,892 (DGL/PyG) counts both directions, i.e. 57,307,946 undirected.

Sources (also in /work/shared/reference/dataset-statistics.jsonl):

- OGB node-property datasets: Hu et al., "Open Graph Benchmark", NeurIPS 2020, Table 2
  (nodes, edges) and the ogb.stanford.edu dataset pages (feature width, classes, split
  sizes): arxiv train 90,941 of 169,343; products train 196,615 of 2,449,029;
  papers100M train 1,207,179 of 111,059,956.
- Reddit: Hamilton et al., "Inductive Representation Learning on Large Graphs"
  (GraphSAGE), NeurIPS 2017, as packaged by DGL (``dgl.data.RedditDataset``) and PyG
  (``torch_geometric.datasets.Reddit`` docs table): 232,965 nodes, 114,615,892 edges,
  602 features, 41 classes, train 153,431.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnsim.errors import GraphFormatError, did_you_mean
from gnnsim.graph.generators import power_law_communities
from gnnsim.graph.graph import Graph, pick_train_ids
from gnnsim.rng import rng_for

# Modelling assumptions (not published figures): how strongly edges stay inside a class.
DEFAULT_EXPONENT = 2.5  # degree tail exponent typical of web/social graphs (Barabasi & Albert 1999 report 2.1-3)


@dataclass(frozen=True)
class Preset:
    name: str
    nodes: int
    undirected_edges: int  # distinct undirected edges gnnsim builds at scale 1
    published_edges: int  # as the source states them
    edge_convention: str
    feature_dim: int
    num_classes: int
    train_nodes: int
    intra_fraction: float  # assumption, see module docstring
    source: str

    @property
    def train_fraction(self) -> float:
        return self.train_nodes / self.nodes


OGB = "Hu et al., Open Graph Benchmark, NeurIPS 2020, Table 2 and ogb.stanford.edu dataset pages"
REDDIT = ("Hamilton et al., GraphSAGE, NeurIPS 2017; counts as packaged by DGL RedditDataset / "
          "PyG torch_geometric.datasets.Reddit")

PRESETS: dict[str, Preset] = {
    "ogbn-arxiv": Preset("ogbn-arxiv", 169_343, 1_166_243, 1_166_243, "directed, counted once", 128, 40, 90_941,
                         0.75, OGB),
    "ogbn-products": Preset("ogbn-products", 2_449_029, 61_859_140, 61_859_140, "undirected, counted once", 100, 47,
                            196_615, 0.85, OGB),
    "reddit": Preset("reddit", 232_965, 57_307_946, 114_615_892, "both directions counted", 602, 41, 153_431,
                     0.65, REDDIT),
    "ogbn-papers100M": Preset("ogbn-papers100M", 111_059_956, 1_615_685_872, 1_615_685_872, "directed, counted once",
                              128, 172, 1_207_179, 0.75, OGB),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise GraphFormatError(f"unknown graph preset '{name}'. Known: {', '.join(PRESETS)}.{did_you_mean(name, PRESETS)}")
    return PRESETS[name]


def preset_graph(name: str, *, scale: float = 1.0, seed: int = 0, intra_fraction: float | None = None,
                 exponent: float = DEFAULT_EXPONENT, feature_dim: int | None = None) -> Graph:
    """A synthetic graph with the published counts of dataset ``name`` times ``scale``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS` (``ogbn-arxiv``, ``ogbn-products``, ``reddit``,
        ``ogbn-papers100M``).
    scale : float
        Multiplies nodes, edges and train nodes; ``1.0`` is the real size
        (ogbn-papers100M at scale 1 needs tens of GB: use ``scale<=0.05`` on a laptop).
    intra_fraction, exponent
        Structural assumptions; default per preset / 2.5.

    Examples
    --------
    >>> g = preset_graph("ogbn-arxiv", scale=0.01, seed=0)
    >>> g.num_nodes, g.num_edges // 2, g.feature_dim, g.train_ids.size
    (1693, 11662, 128, 909)
    """
    p = get_preset(name)
    if not 0 < scale <= 1.0:
        raise GraphFormatError(f"preset '{name}': scale must lie in (0, 1], got {scale}")
    nodes = max(2, int(round(p.nodes * scale)))
    edges = max(1, int(round(p.undirected_edges * scale)))
    rng = rng_for(seed, "graph")
    csr, community = power_law_communities(
        nodes, edges, num_communities=p.num_classes,
        intra_fraction=p.intra_fraction if intra_fraction is None else intra_fraction,
        exponent=exponent, rng=rng)
    labels = (community % p.num_classes).astype(np.int64)
    train = pick_train_ids(nodes, p.train_fraction, rng)
    label = name if scale == 1.0 else f"{name}@{scale:g}"
    return Graph(csr, feature_dim or p.feature_dim, p.num_classes, train, labels, name=label)
