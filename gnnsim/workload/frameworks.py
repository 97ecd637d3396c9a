"""What each framework's layers compute on one sampled mini-batch: a shape per layer.

The sampler hands every framework the same hops; the frameworks differ in which rows
and edges each GNN layer then runs on. A layer's shape is ``(num_src, num_dst,
num_edges)`` as :mod:`gnnsim.workload.models` prices it: ``num_src`` rows come in, the
first ``num_dst`` of them are computed, ``num_edges`` edges are aggregated.

- ``torch`` (gnnsim's own trainer) and ``dgl``: message-flow blocks. Layer ``l`` (input
  layer first) reads the nodes within ``L - l`` hops of the seeds and computes only the
  nodes within ``L - l - 1`` hops, on the edges of hop ``L - l``; the last layer
  computes the seeds alone (DGL's ``NeighborSampler.sample_blocks`` builds one block per
  hop with ``to_block``; ``SAGEConv`` reads ``feat[:num_dst_nodes]`` as the root).
- ``pyg`` (a plain ``model(x, edge_index)[:batch_size]``): every layer runs on the whole
  sampled subgraph. ``NodeLoader`` returns one ``Data`` with all sampled nodes and all
  sampled edges of every hop; ``SAGEConv`` turns ``x`` into ``(x, x)``, aggregates
  every edge into its destination and projects every node, so each layer computes all
  ``N`` nodes on all ``E`` edges, and only the seeds' rows are kept at the end.
- ``pyg`` with ``training.pyg_trim_to_layer``: PyG's ``trim_to_layer`` drops, before
  layer ``l``, the nodes and edges of the last ``l`` hops
  (``num_sampled_nodes_per_hop``/``num_sampled_edges_per_hop``): layer ``l`` computes
  every node within ``L - l`` hops on the edges of hops ``1 .. L - l``.

PyG's ``GCNConv`` also orders a layer differently (:func:`framework_model`): it always
projects first (``x = self.lin(x)``, then ``self.propagate``), where DGL's ``GraphConv``
(and gnnsim's own GCN) aggregates first when the input is no wider than the output; so
PyG's input layer also runs the aggregation's gradient in backward, to reach ``lin``'s
weights. Its per-call ``gcn_norm`` (self-loops, per-edge weights) is the ``pyg`` software
profile's element and row terms, measured against a torch GCN of the same order.

PyG also samples differently (:func:`pyg_minibatch`, which the builder uses for
``framework: pyg``): pyg-lib's ``neighbor_sample`` expands at each hop only the nodes the
previous hop added, where DGL (and gnnsim's :func:`~gnnsim.workload.sampler.sample_minibatch`)
samples again from every node reached so far.

Loader generations whose sampler the framework's software profile (which describes
today's loader) does not: :func:`legacy_sampler_scale` (PyG <= 2.0's ``NeighborSampler``) and
:func:`dgl_sampler_edge_factor` (DGL 0.4.3 to 0.7.1's CPU sampler).
What a loader's worker processes pay to hand a sampled batch to the training process is
:func:`handoff_size`.

``docs/architecture.md`` ("What each framework computes per layer") names the PyG and
DGL source files this follows. A cluster-GCN batch is one induced subgraph that every
layer computes whole, in every framework.
"""

from __future__ import annotations

import numpy as np

from dataclasses import replace
from functools import partial

from gnnsim.workload.models import ModelKernels, get_model
from gnnsim.workload.sampler import MiniBatch, sample_neighbors, to_block

BlockShape = tuple[int, int, int]  # (num_src, num_dst, num_edges)

# PyG <= 2.0's NeighborSampler (torch_sparse.sample_adj per hop: a serial C++ loop over hash
# sets and maps, then Python per hop) on ogbn-products, sizes [15, 10, 5], batch 1024, one
# process: 1.84 M sampled edges per second (torch-quiver docs/Introduction_en.md section 2.2,
# benchmarks/sample/bench_sampler.py bench_on_ogbproduct_cpu), 543 ns an edge; gnnsim's sampler
# on the same case on a 2.6 GHz AMD EPYC core, one thread: 94.7 ns an edge of the whole batch
# (docs/host-microbenchmarks.md, P2). Neither CPU clock is scaled: P2 names no CPU.
PYG_NEIGHBOR_SAMPLER_NS_PER_EDGE = 543.0
GNNSIM_SAMPLER_NS_PER_EDGE_ON_P2 = 94.7
LEGACY_SAMPLER_SCALES = {"neighbor_sampler": PYG_NEIGHBOR_SAMPLER_NS_PER_EDGE / GNNSIM_SAMPLER_NS_PER_EDGE_ON_P2}
# DGL's CPU sample_neighbors before dgl PR 3274 (rowwise_pick.h as in DGL 0.4.3 to 0.7.1; the PR
# is in 0.7.2 and 0.8.0): ~36 ms for the last layer of ogbn-products, fan-out 30,30, batch 4096,
# on an i7-7800X, where the PR's version takes ~21 ms (PR description, 2021-08-20; dgl.yaml's
# edge_scale is derived from the 21 ms). The PR removed array initialisations and a remove_if
# per row: per-row and per-edge work, so the older sampler's edge costs are 36 / 21 of dgl.yaml's.
DGL_PRE_3274_LAST_LAYER_MS = 36.0
DGL_3274_LAST_LAYER_MS = 21.0
DGL_SAMPLER_EDGE_FACTORS = {"current": 1.0, "pre_0_7_2": DGL_PRE_3274_LAST_LAYER_MS / DGL_3274_LAST_LAYER_MS}
HANDOFF_ID_BYTES = 8  # int64 ids in every array a worker hands over


def block_shapes(mb: MiniBatch) -> list[BlockShape]:
    """The message-flow blocks as sampled (torch, DGL), input layer first."""
    return [(b.num_src, b.num_dst, b.num_edges) for b in mb.blocks]


def pyg_shapes(mb: MiniBatch, trim_to_layer: bool = False) -> list[BlockShape]:
    """PyG's layers on the sampled subgraph, input layer first.

    Block ``l`` (input first) is hop ``L - l``: its sources are the nodes within
    ``L - l`` hops, its edges those sampled in that hop. Untrimmed, every layer sees all
    nodes (block 0's sources) and every hop's edges; trimmed, layer ``l`` sees block
    ``l``'s sources and the edges of blocks ``l ..``.

    >>> from gnnsim.workload.sampler import Block
    >>> import numpy as np
    >>> hop2 = Block(np.arange(9), 3, np.zeros(12, dtype=np.int64), np.zeros(12, dtype=np.int64))
    >>> hop1 = Block(np.arange(3), 1, np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64))
    >>> mb = MiniBatch(np.array([0]), [hop2, hop1])
    >>> pyg_shapes(mb), pyg_shapes(mb, trim_to_layer=True)
    ([(9, 9, 14), (9, 9, 14)], [(9, 9, 14), (3, 3, 2)])
    """
    if mb.shared_blocks:
        return block_shapes(mb)
    if not trim_to_layer:
        nodes, edges = mb.blocks[0].num_src, sum(b.num_edges for b in mb.blocks)
        return [(nodes, nodes, edges)] * len(mb.blocks)
    shapes = []
    for layer, block in enumerate(mb.blocks):
        edges = sum(b.num_edges for b in mb.blocks[layer:])
        shapes.append((block.num_src, block.num_src, edges))
    return shapes


def pyg_minibatch(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, fanouts: list[int | None],
                  rng: np.random.Generator, replace: bool = False) -> MiniBatch:
    """PyG's neighbour sampling (pyg-lib's ``neighbor_sample``): hop h samples up to
    ``fanouts[h]`` neighbours of each node that hop h - 1 added (the seeds for hop 1).

    The batch has the builder's shape: block ``l`` (input first) is hop ``L - l``, its
    sources every node within that many hops (seeds first, then each hop's new nodes),
    its destinations the nodes within one hop less, and its edges only the ones that hop
    sampled; ``frontier_only`` tells :func:`~gnnsim.workload.sampler.sampling_work` which
    destinations were expanded.

    >>> indptr, indices = np.array([0, 2, 3, 5, 5, 5]), np.array([1, 2, 3, 3, 4])  # 0<-{1,2}, 1<-3, 2<-{3,4}
    >>> mb = pyg_minibatch(indptr, indices, np.array([0]), [None, None], np.random.default_rng(0))
    >>> [(b.num_src, b.num_dst, b.num_edges) for b in mb.blocks], mb.num_sampled_nodes
    ([(5, 3, 3), (3, 1, 2)], 3)
    """
    seeds = np.unique(np.asarray(seeds, dtype=np.int64))
    nodes, begin, blocks = seeds, 0, []
    for fanout in fanouts:
        owner, neighbor = sample_neighbors(indptr, indices, nodes[begin:], fanout, rng, replace)
        block = to_block(nodes, owner + begin, neighbor)
        blocks.append(block)
        begin, nodes = nodes.size, block.src_nodes
    return MiniBatch(seeds, blocks[::-1], frontier_only=True)


def layer_shapes(mb: MiniBatch, framework: str, trim_to_layer: bool = False) -> list[BlockShape]:
    """What ``framework`` computes per layer on ``mb`` (``training.framework``)."""
    if framework == "pyg":
        return pyg_shapes(mb, trim_to_layer)
    return block_shapes(mb)


def pyg_subgraph(training) -> bool:
    """Whether a scenario's layers and sampling are PyG's NeighborLoader's (one subgraph,
    pyg-lib sampling); PyG's legacy NeighborSampler samples and computes as blocks do
    (``adjs``: one bipartite ``(edge_index, e_id, size)`` per layer; the examples run
    ``conv((x, x[:size[1]]), edge_index)``)."""
    return training.framework == "pyg" and training.pyg_loader == "neighbor_loader"


def training_shapes(mb: MiniBatch, training) -> list[BlockShape]:
    """:func:`layer_shapes` for a scenario's ``training`` section."""
    if training.framework == "pyg" and not pyg_subgraph(training):
        return block_shapes(mb)
    return layer_shapes(mb, training.framework, training.pyg_trim_to_layer)


def legacy_sampler_scale(training) -> float:
    """The whole sampler of a scenario's loader generation as a multiple of gnnsim's own
    sampler on the same batches (the node profile's ``host.sampler``, without the software
    profile's sampler scales), or 0 where the software profile describes the sampler.

    >>> from gnnsim.sections import TrainingConfig
    >>> round(legacy_sampler_scale(TrainingConfig(framework="pyg", pyg_loader="neighbor_sampler")), 2)
    5.73
    >>> legacy_sampler_scale(TrainingConfig(framework="pyg")), legacy_sampler_scale(TrainingConfig(framework="dgl"))
    (0.0, 0.0)
    """
    if training.framework != "pyg":
        return 0.0
    return LEGACY_SAMPLER_SCALES.get(training.pyg_loader, 0.0)


def dgl_sampler_edge_factor(training) -> float:
    """The multiple of the ``dgl`` software profile's sampler edge costs that a scenario's
    DGL sampler generation (``training.dgl_sampler``) runs at; 1 for other frameworks.

    >>> from gnnsim.sections import TrainingConfig
    >>> round(dgl_sampler_edge_factor(TrainingConfig(framework="dgl", dgl_sampler="pre_0_7_2")), 3)
    1.714
    >>> dgl_sampler_edge_factor(TrainingConfig(framework="dgl")), dgl_sampler_edge_factor(TrainingConfig())
    (1.0, 1.0)
    """
    if training.framework != "dgl":
        return 1.0
    return DGL_SAMPLER_EDGE_FACTORS[training.dgl_sampler]


def handoff_size(nodes: int, edges: int, hops: int) -> tuple[float, int]:
    """Bytes and tensors of a sampled batch that a loader worker hands to the training
    process: per hop an edge index pair and the edges' ids (PyG's ``EdgeIndex(edge_index,
    e_id, size)``; a DGL block's two id arrays and its ``dgl.EID`` frame), and the sampled
    nodes' ids (``n_id``; the blocks' ``dgl.NID``), int64. Torch's worker queue moves each
    tensor's storage into shared memory on the way (``ForkingPickler``).

    >>> handoff_size(1000, 10_000, 2)
    (248000.0, 5)
    """
    return float(HANDOFF_ID_BYTES * (3 * edges + nodes)), 1 + 2 * hops


def pyg_gcn_project_first(i: int, o: int) -> bool:
    """PyG's ``GCNConv.forward`` runs ``self.lin`` before ``self.propagate`` at any widths
    (torch_geometric/nn/conv/gcn_conv.py, 2.8.1)."""
    return True


def framework_model(name: str, framework: str) -> ModelKernels:
    """Model ``name``'s kernels as ``framework``'s layers compute them: the registry's
    (gnnsim's own layers, DGL's order), but for PyG's GCN, which always projects first.

    >>> from gnnsim.workload.kernels import layer_dims
    >>> shapes, dims = [(100, 100, 300)] * 2, layer_dims(16, 64, 4, 2)
    >>> [k.name for k in framework_model("gcn", "torch").backward_kernels(shapes, dims, 10, 4) if "aggregate" in k.name]
    ['L1.aggregate_grad']
    >>> [k.name for k in framework_model("gcn", "pyg").backward_kernels(shapes, dims, 10, 4) if "aggregate" in k.name]
    ['L1.aggregate_grad', 'L0.aggregate_grad']
    """
    spec = get_model(name)
    if framework == "pyg" and name == "gcn":
        return replace(spec, forward=partial(spec.forward, project_first=pyg_gcn_project_first),
                       backward=partial(spec.backward, project_first=pyg_gcn_project_first))
    return spec
