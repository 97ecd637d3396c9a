"""Synthetic stand-ins for the datasets distributed GNN papers report on.

A preset reproduces a dataset's published node count, edge count, feature width, class
count and training-set size, scaled by ``scale`` (nodes and edges both multiply by it,
so the mean degree stays that of the real graph; the train set stays the same fraction),
and the structure that decides what a sampled mini-batch touches:

- **Directed or symmetrized as trained.** DGL's GraphBolt ``BuiltinDataset`` adds the
  reverse edges to ogbn-arxiv, ogbn-papers100M and ogb-lsc-mag240m and drops duplicates
  (``dgl/python/dgl/graphbolt/impl/ondisk_dataset.py``, BuiltinDataset docstring); the
  published per-batch counts below come from those datasets, so every preset is the
  undirected graph a sampler walks. Each published directed edge becomes one undirected
  edge, except where the share of reciprocal pairs is published (twitter-2010).
- **Degree distribution.** Expected degrees follow a power law whose tail exponent and
  head are fitted (:func:`gnnsim.graph.degrees.fit_power_law`) to the published largest
  degree and degree standard deviation where both exist (ogbn-products, reddit); where
  only a tail exponent is published (citations, Twitter, the web), that exponent is used
  and the head is set by the largest degree, published or else the natural cut-off
  ``sqrt(n * mean)``. ``gnnsim.graph.degrees.degree_statistics`` measures the result.
- **Clustering and spread.** Co-purchase and citation graphs close many triangles; a
  share of each preset's edges (``local_fraction``) joins neighbours on a square lattice
  (see :func:`~gnnsim.graph.generators.power_law_communities`; the radius gives about
  mean-degree cells around a node). The share was chosen so that a ring lattice gave the
  published average clustering of graphs of that kind (``clustering``). A ring, though,
  kept sampled neighbourhoods too close together: products gave 465,543 unique inputs per
  batch against GraphBolt's published 517,522 (-10%), papers100M at scale 0.05 562,421
  against 664,303 (-15%), and a wider ring window that fixed the count cut clustering
  to half. On the lattice, with the same shares, the counts are 537,545 (+3.9%) and
  668,719 (+0.7%) and clustering 0.30 (products at scale 0.02) and 0.23 (papers100M at
  0.002), three quarters of the analogue figures: the per-batch counts, measured on the
  datasets themselves, are what the cost depends on; the clustering figures are of other
  graphs of the same kind (``tests/graph/test_presets.py`` measures both).
- **Communities.** One per class; ``intra_fraction`` (an assumption, overridable:
  ``preset:reddit?intra_fraction=0.5``) of the other edges stays inside it.

Sources (numbers also in /work/shared/reference/dataset-statistics.jsonl):

- [OGB] Hu et al., "Open Graph Benchmark", NeurIPS 2020, Table 2 and the ogb.stanford.edu
  pages: arxiv 169,343 nodes, 1,166,243 edges, train 90,941; products 2,449,029 nodes,
  61,859,140 undirected edges, train 196,615; papers100M 111,059,956 nodes,
  1,615,685,872 edges, train 1,207,179.
- [OGB-LSC] Hu et al., "OGB-LSC", NeurIPS 2021 Datasets track, Table 1 and
  ogb.stanford.edu/docs/lsc/mag240m: 121,751,666 papers, 1,297,748,926 cites edges,
  768 features, 153 classes, 1,112,392 train papers (the reference file records only
  the rounded 121 M / 1.3 B of the page text).
- [DEG] degree of ogbn-products and reddit as loaded by PyG, printed by a public
  script that counts both ends of the doubled edge list (github code search,
  ``degrees.max(): 34962``, ``degrees.std(): 191.80998979272695`` for products;
  ``43314`` and ``1599.636410194922`` for reddit): halved, products max 17,481 and
  std 95.9, reddit max 21,657 and std 799.8.
- [REDDIT] Hamilton et al., GraphSAGE, NeurIPS 2017, as packaged by DGL RedditDataset /
  PyG Reddit: 232,965 nodes, 114,615,892 edges (both directions), 602 features,
  41 classes, train 153,431, mean degree 492.
- [SNAP] snap.stanford.edu dataset pages, average clustering coefficient: Amazon
  co-purchasing amazon0601 0.4177, com-Amazon 0.3967; arXiv citations cit-HepPh 0.2848,
  cit-HepTh 0.3120; com-Friendster 0.1623 (65,608,366 nodes, 1,806,067,135 edges).
- [REDNER] Redner, "How popular is your paper?", Eur. Phys. J. B 4, 1998: citation
  counts fall off as a power law with exponent about 3.
- [LAW] law.di.unimi.it/webdata: twitter-2010 41,652,230 nodes, 1,468,365,182 arcs,
  largest in-degree 770,155 and out-degree 2,997,469; uk-2006-05 77,741,046 nodes,
  2,965,197,340 arcs.
- [KWAK] Kwak et al., "What is Twitter, a social network or a news media?", WWW 2010 (the
  crawl twitter-2010 is): 22.1% of connected user pairs are reciprocal; followers follow a
  power law with exponent 2.276.
- [BRODER] Broder et al., "Graph structure in the Web", WWW 2000: web in-degree power
  law exponent 2.1.
- [P3] Gandhi & Iyer, "P3", OSDI 2021, Table 1: UK-2006-05 77.7 M nodes, 2.9 B edges,
  given 256 random features (graphs without features get that width here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnsim.errors import GraphFormatError, did_you_mean
from gnnsim.graph.degrees import fit_power_law
from gnnsim.graph.generators import power_law_communities
from gnnsim.graph.graph import Graph, pick_train_ids
from gnnsim.rng import rng_for

DEFAULT_EXPONENT = 2.5  # degree tail exponent typical of web/social graphs (Barabasi & Albert 1999 report 2.1-3)
CITATION_EXPONENT = 3.0  # [REDNER]
CITATION_CLUSTERING = 0.30  # [SNAP] arXiv citation graphs, cit-HepPh 0.2848 and cit-HepTh 0.3120
CITATION_LOCAL_FRACTION = 0.81  # gave CITATION_CLUSTERING on a ring (papers100M@0.002: 0.286 at 0.80, 0.373 at 0.87)
NO_FEATURES_WIDTH = 256  # [P3]: random features for graphs published without them
NO_LABELS_CLASSES = 64  # assumption: graphs published without labels
NO_SPLIT_TRAIN_SHARE = 0.01  # assumption: graphs published without a split train on 1% of their nodes


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
    max_degree: float | None = None  # published largest degree (None: natural cut-off)
    degree_std: float | None = None  # published standard deviation of the degree
    exponent: float = DEFAULT_EXPONENT  # tail exponent where no std is published
    clustering: float = 0.0  # published average clustering coefficient of graphs of this kind
    local_fraction: float = 0.0  # share of edges between lattice neighbours, for ``clustering``
    local_window: int = 0  # lattice radius a local edge may reach (0: about mean-degree cells around a node)

    @property
    def train_fraction(self) -> float:
        return self.train_nodes / self.nodes

    @property
    def mean_degree(self) -> float:
        return 2.0 * self.undirected_edges / self.nodes


OGB = "[OGB] Hu et al., Open Graph Benchmark, NeurIPS 2020"
SYM = "directed citations, trained with reverse edges added (GraphBolt BuiltinDataset)"


def _cites(name: str, nodes: int, edges: int, dim: int, classes: int, train: int, source: str) -> Preset:
    return Preset(name, nodes, edges, edges, SYM, dim, classes, train, 0.75, source,
                  exponent=CITATION_EXPONENT, clustering=CITATION_CLUSTERING, local_fraction=CITATION_LOCAL_FRACTION)


PRESETS: dict[str, Preset] = {
    "ogbn-arxiv": _cites("ogbn-arxiv", 169_343, 1_166_243, 128, 40, 90_941, OGB),
    "ogbn-products": Preset("ogbn-products", 2_449_029, 61_859_140, 61_859_140, "undirected, counted once", 100, 47,
                            196_615, 0.85, OGB + "; [DEG]; [SNAP] amazon co-purchasing clustering",
                            max_degree=17_481, degree_std=95.9, clustering=0.40, local_fraction=0.77),
    "reddit": Preset("reddit", 232_965, 57_307_946, 114_615_892, "both directions counted", 602, 41, 153_431,
                     0.65, "[REDDIT]; [DEG]", max_degree=21_657, degree_std=799.8),
    "ogbn-papers100M": _cites("ogbn-papers100M", 111_059_956, 1_615_685_872, 128, 172, 1_207_179, OGB),
    "mag240m": _cites("mag240m", 121_751_666, 1_297_748_926, 768, 153, 1_112_392,
                      "[OGB-LSC] paper-cites-paper part of MAG240M"),
    "twitter-2010": Preset("twitter-2010", 41_652_230, round(1_468_365_182 / 1.221), 1_468_365_182,
                           "directed arcs; symmetrized, reciprocal pairs (22.1% [KWAK]) once", NO_FEATURES_WIDTH,
                           NO_LABELS_CLASSES, round(41_652_230 * NO_SPLIT_TRAIN_SHARE), 0.5, "[LAW]; [KWAK]; [P3]",
                           max_degree=2_997_469, exponent=2.276),
    "com-friendster": Preset("com-friendster", 65_608_366, 1_806_067_135, 1_806_067_135, "undirected, counted once",
                             NO_FEATURES_WIDTH, NO_LABELS_CLASSES, round(65_608_366 * NO_SPLIT_TRAIN_SHARE), 0.5,
                             "[SNAP]; [P3]", clustering=0.1623, local_fraction=0.56),
    "uk-2006-05": Preset("uk-2006-05", 77_741_046, 2_965_197_340, 2_965_197_340,
                         "directed hyperlinks; symmetrized, each arc one edge (reciprocity unpublished)",
                         NO_FEATURES_WIDTH, NO_LABELS_CLASSES, round(77_741_046 * NO_SPLIT_TRAIN_SHARE), 0.5,
                         "[LAW]; [BRODER]; [P3]", exponent=2.1),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise GraphFormatError(f"unknown graph preset '{name}'. Known: {', '.join(PRESETS)}.{did_you_mean(name, PRESETS)}")
    return PRESETS[name]


def lattice_radius(mean_degree: float) -> int:
    """The radius whose square around a node holds about ``mean_degree`` other cells."""
    return max(1, round((np.sqrt(mean_degree + 1.0) - 1.0) / 2.0))


def preset_structure(p: Preset, exponent: float | None = None) -> tuple[float, float]:
    """``(exponent, offset_fraction)`` of the preset's degree sequence at full size."""
    uniform = p.local_fraction  # local edges are not drawn by degree
    max_degree = p.max_degree or float(np.sqrt(p.nodes * p.mean_degree))
    std = p.degree_std if exponent is None else None
    fit = fit_power_law(p.nodes, p.mean_degree, float(max_degree), std, exponent or p.exponent, uniform)
    return fit.exponent, fit.offset_fraction


def preset_graph(name: str, *, scale: float = 1.0, seed: int = 0, intra_fraction: float | None = None,
                 exponent: float | None = None, feature_dim: int | None = None) -> Graph:
    """A synthetic graph with the published counts and structure of dataset ``name`` times ``scale``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.
    scale : float
        Multiplies nodes, edges and train nodes; ``1.0`` is the real size. The degree
        distribution is kept (the fitted head stays the same share of the ranks).
    intra_fraction, exponent
        Structural overrides; by default the preset's own (``exponent`` given: the
        published standard deviation is no longer fitted, only the largest degree).

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
    gamma, offset_fraction = preset_structure(p, exponent)
    csr, community = power_law_communities(
        nodes, edges, num_communities=p.num_classes,
        intra_fraction=p.intra_fraction if intra_fraction is None else intra_fraction,
        exponent=gamma, offset_fraction=offset_fraction, local_fraction=p.local_fraction,
        local_window=p.local_window or lattice_radius(p.mean_degree), rng=rng)
    labels = np.remainder(community, p.num_classes, out=community)  # in place: one int64 per node, not two
    train = pick_train_ids(nodes, p.train_fraction, rng)
    label = name if scale == 1.0 else f"{name}@{scale:g}"
    return Graph(csr, feature_dim or p.feature_dim, p.num_classes, train, labels, name=label, undirected=True)
