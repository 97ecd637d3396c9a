"""The GNN models gnnsim knows, as kernels with FLOPs and bytes, behind one registry.

Every model is a stack of layers; layer ``l`` maps width ``i`` to width ``o``
(:func:`gnnsim.workload.kernels.layer_dims`) on a bipartite block of ``num_src`` source
rows, the first ``num_dst`` of which are the destinations, and ``num_edges`` edges.
A :class:`ModelKernels` entry gives, for a list of such blocks, the forward kernels,
the loss-and-backward kernels, the parameter count (gradient bytes = count x dtype
bytes) and the number of parameter tensors (one optimizer kernel each).

Kernel classes are the ones devices are calibrated for: ``gemm``, ``gemm_tn`` (a
weight gradient ``x^T @ dy``), ``aggregate`` (gather rows along edges and add them
into their destinations), ``gather``, ``elementwise`` and ``optimizer``. Kernel names
start with ``L{layer}.`` so the simulator can tell which layer's gradients are ready.

- ``graphsage``: PyG ``SAGEConv`` with the mean aggregator; the registry calls the
  existing :func:`~gnnsim.workload.kernels.sage_forward` / ``sage_backward`` unchanged.
- ``gcn``: ``D_dst^-1/2 A D_src^-1/2 h W + b`` (DGL ``GraphConv(norm="both")``). Like
  DGL, it multiplies by ``W`` first when that makes the aggregated rows narrower
  (``i > o``), else it aggregates first.
- ``gin``: ``MLP((1 + eps) h_dst + sum h_src)`` with a two-layer MLP
  ``Linear(i, o) -> ReLU -> Linear(o, o)`` and a fixed ``eps = 0``.
- ``gat``: ``heads`` attention heads. Hidden layers concatenate ``heads`` heads of width
  ``o / heads``; the output layer averages ``heads`` heads of width ``o``. The edge
  softmax has no kernel class of its own, so it is written op by op as the layer runs
  it: the per-destination maximum and sum are ``aggregate`` kernels of width ``heads``
  (a scatter-max reads and writes like a scatter-add); every per-node term read on the
  edges (``el[src]``, ``er[dst]``, the maximum and the sum at each edge's destination)
  is a ``gather`` of ``num_edges`` rows of width ``heads``; the score, shift, exp and
  division are ``elementwise`` kernels over ``num_edges x heads``, one per torch op.
  The attention terms ``(z * a).sum(-1)`` are a multiply and a sum. Messages are an
  ``aggregate`` of width ``heads x d`` plus an ``elementwise`` weighting by the attention.

The forward and backward kernel lists follow what the torch modules in
:mod:`gnnsim.realrun.models` run; input features need no gradient, so layer 0 skips
the input-gradient kernels.

>>> spec = get_model("gin")
>>> spec.param_count([(8, 4), (4, 2)])  # (8*4+4 + 4*4+4) + (4*2+2 + 2*2+2)
72
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gnnsim.errors import ScenarioError, did_you_mean
from gnnsim.names import publish_models
from gnnsim.workload import kernels as m
from gnnsim.workload.kernels import Kernel, aggregate, at, elementwise, gather, gemm, weight_grad

BlockShape = tuple[int, int, int]  # (num_src, num_dst, num_edges)
Dims = list[tuple[int, int]]


@dataclass(frozen=True)
class ModelKernels:
    """What one model costs; ``heads`` matters for GAT only."""

    name: str
    forward: Callable[[list[BlockShape], Dims, int, int], list[Kernel]]
    backward: Callable[[list[BlockShape], Dims, int, int, int, int], list[Kernel]]
    layer_params: Callable[[int, int, bool, int], int]
    tensors_per_layer: int
    # elements one layer keeps for backward on a block (num_src, num_dst, num_edges), widths i -> o
    activations: Callable[[BlockShape, int, int, bool, int], int]
    description: str = ""  # one line for --help and error messages
    real_layer: str = ""  # the torch layer gnnsim realrun trains ("module:Class"; "": none)
    pyg_model: str = ""  # torch_geometric.nn.models class the PyG trainer builds ("": none)
    activation: str = "relu"  # between layers in the real models (gnnsim.realrun.models.ACTIVATIONS)

    def param_count(self, dims: Dims, heads: int = 1) -> int:
        """Trainable parameters of the whole model (sum over layers)."""
        return sum(self.layer_param_counts(dims, heads))

    def layer_param_counts(self, dims: Dims, heads: int = 1) -> list[int]:
        last = len(dims) - 1
        return [self.layer_params(i, o, layer == last, heads) for layer, (i, o) in enumerate(dims)]

    def param_tensors(self, num_layers: int) -> int:
        return self.tensors_per_layer * num_layers

    def forward_kernels(self, blocks: list[BlockShape], dims: Dims, dtype_bytes: int = 4, heads: int = 1) -> list[Kernel]:
        return self.forward(blocks, dims, dtype_bytes, heads)

    def backward_kernels(self, blocks: list[BlockShape], dims: Dims, num_seeds: int, num_classes: int,
                         dtype_bytes: int = 4, heads: int = 1) -> list[Kernel]:
        return self.backward(blocks, dims, num_seeds, num_classes, dtype_bytes, heads)


# -- GraphSAGE: the existing formulas, unchanged -------------------------------------------

def _sage_forward(blocks, dims, dtype_bytes, heads):
    return m.sage_forward(blocks, dims, dtype_bytes)


def _sage_backward(blocks, dims, num_seeds, num_classes, dtype_bytes, heads):
    return m.sage_backward(blocks, dims, num_seeds, num_classes, dtype_bytes)


def _sage_params(i: int, o: int, last: bool, heads: int) -> int:
    return 2 * i * o + o


# -- GCN --------------------------------------------------------------------------------------

def gcn_project_first(i: int, o: int) -> bool:
    """DGL's GraphConv multiplies by W before aggregating when that narrows the rows."""
    return i > o


def _gcn_degree_norm(num_edges: int, num_nodes: int, name: str) -> list:
    """A GCN layer's degree norm ``deg^-1/2`` of one side, counted in the layer as DGL's
    GraphConv does: a bincount over the edges (GraphSAGE's ``degree`` kernel), then
    clamp, cast and power over the nodes."""
    return [m.degree(num_edges, name),
            *(elementwise(num_nodes, name=f"{name}.{op}") for op in ("clamp", "cast", "pow"))]


def _gcn_forward(blocks, dims, dtype_bytes, heads, project_first=gcn_project_first):
    kernels = []
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims):
        p = f"L{layer}."
        if project_first(i, o):
            kernels.append(at(layer, gemm(ns, i, o, dtype_bytes, p + "lin")))
            w = o
        else:
            w = i
        kernels += at(layer, _gcn_degree_norm(ne, ns, p + "src_degree"))
        kernels.append(at(layer, elementwise(ns * w, reads=2, dtype_bytes=dtype_bytes, name=p + "norm_src")))
        kernels.append(at(layer, aggregate(ne, nd, w, dtype_bytes, p + "aggregate")))
        kernels += at(layer, _gcn_degree_norm(ne, nd, p + "dst_degree"))
        kernels.append(at(layer, elementwise(nd * w, reads=2, dtype_bytes=dtype_bytes, name=p + "norm_dst")))
        if not project_first(i, o):
            kernels.append(at(layer, gemm(nd, i, o, dtype_bytes, p + "lin")))
        kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "bias_add")))
        if not is_last:
            kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "relu")))
    return kernels


def _gcn_backward(blocks, dims, num_seeds, num_classes, dtype_bytes, heads, project_first=gcn_project_first):
    kernels = [m.loss_kernel(num_seeds, num_classes)]
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims, backward=True):
        p = f"L{layer}."
        if not is_last:
            kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "relu_grad")))
        kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "bias_grad")))
        if project_first(i, o):
            # the aggregation runs at width o, so its gradient is needed for dW even on layer 0
            kernels += at(layer, _gcn_aggregation_grad(ns, nd, ne, o, dtype_bytes, p))
            kernels.append(at(layer, weight_grad(ns, i, o, dtype_bytes, p + "lin.dW")))
            if layer > 0:
                kernels.append(at(layer, gemm(ns, o, i, dtype_bytes, p + "lin.dX")))
        else:
            kernels.append(at(layer, weight_grad(nd, i, o, dtype_bytes, p + "lin.dW")))
            if layer > 0:
                kernels.append(at(layer, gemm(nd, o, i, dtype_bytes, p + "lin.dX")))
                kernels += at(layer, _gcn_aggregation_grad(ns, nd, ne, i, dtype_bytes, p))
    return kernels


def _gcn_aggregation_grad(ns, nd, ne, width, dtype_bytes, p):
    """Backward of the normalised aggregation at ``width``: destination norm, zero the
    source gradient, scatter into it, source norm."""
    return [elementwise(nd * width, reads=2, dtype_bytes=dtype_bytes, name=p + "norm_dst_grad"),
            elementwise(ns * width, reads=0, dtype_bytes=dtype_bytes, name=p + "grad_zero"),
            aggregate(ne, ns, width, dtype_bytes, p + "aggregate_grad"),
            elementwise(ns * width, reads=2, dtype_bytes=dtype_bytes, name=p + "norm_src_grad")]


def _gcn_params(i: int, o: int, last: bool, heads: int) -> int:
    return i * o + o


# -- GIN --------------------------------------------------------------------------------------

def _gin_forward(blocks, dims, dtype_bytes, heads):
    kernels = []
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims):
        p = f"L{layer}."
        kernels.append(at(layer, aggregate(ne, nd, i, dtype_bytes, p + "aggregate")))
        kernels.append(at(layer, elementwise(nd * i, reads=2, dtype_bytes=dtype_bytes, name=p + "self_add")))
        kernels.append(at(layer, gemm(nd, i, o, dtype_bytes, p + "mlp0")))
        kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "mlp0.bias_add")))
        kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "mlp0.relu")))
        kernels.append(at(layer, gemm(nd, o, o, dtype_bytes, p + "mlp1")))
        kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "mlp1.bias_add")))
        if not is_last:
            kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "relu")))
    return kernels


def _gin_backward(blocks, dims, num_seeds, num_classes, dtype_bytes, heads):
    kernels = [m.loss_kernel(num_seeds, num_classes)]
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims, backward=True):
        p = f"L{layer}."
        if not is_last:
            kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "relu_grad")))
        kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "mlp1.bias_grad")))
        kernels.append(at(layer, weight_grad(nd, o, o, dtype_bytes, p + "mlp1.dW")))
        kernels.append(at(layer, gemm(nd, o, o, dtype_bytes, p + "mlp1.dX")))
        kernels.append(at(layer, elementwise(nd * o, reads=2, dtype_bytes=dtype_bytes, name=p + "mlp0.relu_grad")))
        kernels.append(at(layer, elementwise(nd * o, dtype_bytes=dtype_bytes, name=p + "mlp0.bias_grad")))
        kernels.append(at(layer, weight_grad(nd, i, o, dtype_bytes, p + "mlp0.dW")))
        if layer > 0:
            kernels.append(at(layer, gemm(nd, o, i, dtype_bytes, p + "mlp0.dX")))
            kernels.append(at(layer, elementwise(ns * i, reads=0, dtype_bytes=dtype_bytes, name=p + "grad_zero")))
            kernels.append(at(layer, aggregate(ne, ns, i, dtype_bytes, p + "aggregate_grad")))
            kernels.append(at(layer, elementwise(nd * i, reads=2, dtype_bytes=dtype_bytes, name=p + "self_grad_add")))
    return kernels


def _gin_params(i: int, o: int, last: bool, heads: int) -> int:
    return i * o + o + o * o + o


# -- GAT --------------------------------------------------------------------------------------

def gat_head_dim(o: int, last: bool, heads: int) -> int:
    """Width of one head: hidden layers split ``o`` over the heads, the output layer averages them."""
    return o if last else o // heads


def _gat_attention_term(rows: int, f: int, dtype_bytes: int, name: str) -> list[Kernel]:
    """``(z * a).sum(-1)``: a broadcast multiply into a new ``rows x F`` tensor, then a sum
    over each head's ``d`` columns (reads it, writes ``rows x heads``)."""
    return [elementwise(rows * f, dtype_bytes=dtype_bytes, name=name + ".mul"),
            elementwise(rows * f, writes=0, dtype_bytes=dtype_bytes, name=name + ".sum")]


def _gat_forward(blocks, dims, dtype_bytes, heads):
    kernels = []
    h = heads
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims):
        p = f"L{layer}."
        d = gat_head_dim(o, is_last, h)
        f = h * d
        out = d if is_last else f
        ks = [gemm(ns, i, f, dtype_bytes, p + "fc"),
              # per-node attention terms el (all sources) and er (the destinations)
              *_gat_attention_term(ns, f, dtype_bytes, p + "attn_src"),
              *_gat_attention_term(nd, f, dtype_bytes, p + "attn_dst"),
              # e = leaky_relu(el[src] + er[dst]) on every edge and head: two gathers to the edges
              gather(ne, h, dtype_bytes, p + "attn_src.gather"),
              gather(ne, h, dtype_bytes, p + "attn_dst.gather"),
              elementwise(ne * h, reads=2, dtype_bytes=dtype_bytes, name=p + "edge_score"),
              elementwise(ne * h, dtype_bytes=dtype_bytes, name=p + "edge_score.leaky_relu"),
              # edge softmax: max per destination, gathered back to the edges, exp(e - max),
              # sum per destination, gathered back, divide
              aggregate(ne, nd, h, dtype_bytes, p + "softmax_max"),
              gather(ne, h, dtype_bytes, p + "softmax_max.gather"),
              elementwise(ne * h, reads=2, dtype_bytes=dtype_bytes, name=p + "softmax_shift"),
              elementwise(ne * h, dtype_bytes=dtype_bytes, name=p + "softmax_exp"),
              aggregate(ne, nd, h, dtype_bytes, p + "softmax_sum"),
              gather(ne, h, dtype_bytes, p + "softmax_sum.gather"),
              elementwise(ne * h, reads=2, dtype_bytes=dtype_bytes, name=p + "softmax_div"),
              # messages: z[src] weighted by the attention, summed into the destinations
              elementwise(ne * f, reads=2, dtype_bytes=dtype_bytes, name=p + "msg_weight"),
              aggregate(ne, nd, f, dtype_bytes, p + "aggregate")]
        if is_last:
            ks.append(elementwise(nd * f, dtype_bytes=dtype_bytes, name=p + "head_mean"))
        ks.append(elementwise(nd * out, reads=2, dtype_bytes=dtype_bytes, name=p + "bias_add"))
        if not is_last:
            ks.append(elementwise(nd * out, flops_per=3.0, dtype_bytes=dtype_bytes, name=p + "elu"))
        kernels += at(layer, ks)
    return kernels


def _gat_backward(blocks, dims, num_seeds, num_classes, dtype_bytes, heads):
    kernels = [m.loss_kernel(num_seeds, num_classes)]
    h = heads
    for layer, is_last, (ns, nd, ne), (i, o) in m.layers(blocks, dims, backward=True):
        p = f"L{layer}."
        d = gat_head_dim(o, is_last, h)
        f = h * d
        out = d if is_last else f
        if not is_last:
            kernels.append(at(layer, elementwise(nd * out, reads=2, flops_per=3.0, dtype_bytes=dtype_bytes, name=p + "elu_grad")))
        kernels.append(at(layer, elementwise(nd * out, dtype_bytes=dtype_bytes, name=p + "bias_grad")))
        if is_last:
            kernels.append(at(layer, elementwise(nd * f, dtype_bytes=dtype_bytes, name=p + "head_mean_grad")))
        # the sum's gradient reaches every edge's message (a gather of the destination rows)
        kernels.append(at(layer, gather(ne, f, dtype_bytes, p + "aggregate_grad")))
        kernels.append(at(layer, elementwise(ne * f, reads=2, dtype_bytes=dtype_bytes, name=p + "msg_weight_grad")))
        kernels.append(at(layer, elementwise(ne * f, reads=2, writes=0, flops_per=2.0, dtype_bytes=dtype_bytes, name=p + "attn_grad")))
        kernels.append(at(layer, elementwise(ns * f, reads=0, dtype_bytes=dtype_bytes, name=p + "grad_zero")))
        kernels.append(at(layer, aggregate(ne, ns, f, dtype_bytes, p + "msg_scatter")))
        # softmax and leaky-relu gradients on the edges, scattered back to el / er
        kernels.append(at(layer, elementwise(ne * h, reads=2, dtype_bytes=dtype_bytes, name=p + "softmax_grad")))
        kernels.append(at(layer, aggregate(ne, nd, h, dtype_bytes, p + "softmax_grad_sum")))
        kernels.append(at(layer, elementwise(ne * h, reads=3, flops_per=2.0, dtype_bytes=dtype_bytes, name=p + "score_grad")))
        kernels.append(at(layer, aggregate(ne, ns, h, dtype_bytes, p + "attn_src_scatter")))
        kernels.append(at(layer, aggregate(ne, nd, h, dtype_bytes, p + "attn_dst_scatter")))
        kernels.append(at(layer, elementwise(ns * f, reads=2, flops_per=2.0, dtype_bytes=dtype_bytes, name=p + "attn_src_grad")))
        kernels.append(at(layer, elementwise(nd * f, reads=2, flops_per=2.0, dtype_bytes=dtype_bytes, name=p + "attn_dst_grad")))
        kernels.append(at(layer, weight_grad(ns, i, f, dtype_bytes, p + "fc.dW")))
        if layer > 0:
            kernels.append(at(layer, gemm(ns, f, i, dtype_bytes, p + "fc.dX")))
    return kernels


def _gat_params(i: int, o: int, last: bool, heads: int) -> int:
    d = gat_head_dim(o, last, heads)
    f = heads * d
    return i * f + 2 * f + (d if last else f)  # fc (no bias), attn_l, attn_r, bias


# -- activations kept for backward (the memory model) ---------------------------------------

def _sage_activations(block: BlockShape, i: int, o: int, last: bool, heads: int) -> int:
    """The mean-aggregated rows ``nd*i`` and the two projections ``2*nd*o``."""
    ns, nd, ne = block
    return nd * i + 2 * nd * o


def _gcn_activations(block: BlockShape, i: int, o: int, last: bool, heads: int) -> int:
    """The normalized source rows and the aggregated rows at the aggregation width, and the output."""
    ns, nd, ne = block
    w = o if gcn_project_first(i, o) else i
    return ns * w + nd * w + nd * o


def _gin_activations(block: BlockShape, i: int, o: int, last: bool, heads: int) -> int:
    """Aggregated and self-added rows ``2*nd*i``, the MLP's hidden, activated hidden and output ``3*nd*o``."""
    ns, nd, ne = block
    return 2 * nd * i + 3 * nd * o


def _gat_activations(block: BlockShape, i: int, o: int, last: bool, heads: int) -> int:
    """The projected sources ``ns*F``, edge scores and attention ``2*ne*heads``, the weighted
    messages ``ne*F``, the aggregated rows ``nd*F`` and the output."""
    ns, nd, ne = block
    d = gat_head_dim(o, last, heads)
    f = heads * d
    return ns * f + 2 * ne * heads + ne * f + nd * f + nd * (d if last else f)


# The registry: a new model is one entry here (kernels, parameters, activations, and
# the torch and PyG layers real runs train it with).
MODELS: dict[str, ModelKernels] = {
    "graphsage": ModelKernels("graphsage", _sage_forward, _sage_backward, _sage_params, 3, _sage_activations,
                              "GraphSAGE, mean aggregator", "gnnsim.realrun.layers:SAGELayer", "GraphSAGE"),
    "gcn": ModelKernels("gcn", _gcn_forward, _gcn_backward, _gcn_params, 2, _gcn_activations,
                        "GCN, symmetric degree norm", "gnnsim.realrun.layers:GCNLayer", "GCN"),
    "gin": ModelKernels("gin", _gin_forward, _gin_backward, _gin_params, 4, _gin_activations,
                        "GIN, two-layer MLP update", "gnnsim.realrun.layers:GINLayer", "GIN"),
    "gat": ModelKernels("gat", _gat_forward, _gat_backward, _gat_params, 4, _gat_activations,
                        "GAT, multi-head attention with edge softmax", "gnnsim.realrun.layers:GATLayer", "GAT", "elu"),
}

publish_models(MODELS)  # the names model.name accepts (gnnsim.config checks them there)


def get_model(name: str) -> ModelKernels:
    """The registry entry for ``name`` (graphsage, gcn, gat, gin)."""
    try:
        return MODELS[name]
    except KeyError:
        raise ScenarioError(f"model.name: unknown model {name!r}; known: {', '.join(MODELS)}."
                            f"{did_you_mean(name, list(MODELS))}") from None
