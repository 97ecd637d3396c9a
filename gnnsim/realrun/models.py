"""The real models: GraphSAGE, GCN, GAT and GIN as stacks of :mod:`gnnsim.realrun.layers`,
matching the kernels of :mod:`gnnsim.workload.models`."""

from __future__ import annotations

import torch
from torch import nn

from gnnsim.realrun.layers import GATLayer, GCNLayer, GINLayer, LayerStack, SAGELayer
from gnnsim.workload.model import layer_dims


class GraphSAGE(LayerStack):
    """GraphSAGE with the mean aggregator: :class:`SAGELayer` stacked, ReLU between layers."""

    uses_inverse_degree = True

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__([SAGELayer(i, o) for i, o in layer_dims(in_dim, hidden_dim, out_dim, num_layers)])


LAYERS = {"gcn": GCNLayer, "gat": GATLayer, "gin": GINLayer}


class GNN(LayerStack):
    """A stack of one layer type; ReLU between layers (ELU for GAT, as in its paper)."""

    def __init__(self, name: str, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, heads: int = 1):
        dims = layer_dims(in_dim, hidden_dim, out_dim, num_layers)
        layer = LAYERS[name]
        super().__init__([layer(i, o, index == len(dims) - 1, heads) for index, (i, o) in enumerate(dims)],
                         torch.nn.functional.elu if name == "gat" else torch.relu)


def build_model(name: str, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, heads: int = 1) -> nn.Module:
    """The torch model for ``model.name``: the original GraphSAGE, or a :class:`GNN`."""
    if name == "graphsage":
        return GraphSAGE(in_dim, hidden_dim, out_dim, num_layers)
    return GNN(name, in_dim, hidden_dim, out_dim, num_layers, heads)
