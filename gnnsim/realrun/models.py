"""The real models: each registry entry's torch layer (:data:`gnnsim.workload.models.MODELS`,
``real_layer``) stacked with its activation between layers, matching the kernels the
simulator prices for the same entry."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from gnnsim.realrun.layers import GATLayer, GCNLayer, GINLayer, LayerStack, SAGELayer  # noqa: F401 (re-exported)
from gnnsim.workload.kernels import layer_dims
from gnnsim.workload.models import get_model

ACTIVATIONS = {"relu": torch.relu, "elu": torch.nn.functional.elu}


def layer_class(name: str) -> type[nn.Module]:
    """The torch layer class the registry names for model ``name`` (``module:Class``)."""
    module, _, cls = get_model(name).real_layer.partition(":")
    return getattr(importlib.import_module(module), cls)


class GNN(LayerStack):
    """A stack of one model's layers with its activation between them."""

    def __init__(self, name: str, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, heads: int = 1):
        dims = layer_dims(in_dim, hidden_dim, out_dim, num_layers)
        layer = layer_class(name)
        super().__init__([layer(i, o, index == len(dims) - 1, heads) for index, (i, o) in enumerate(dims)],
                         ACTIVATIONS[get_model(name).activation])


def GraphSAGE(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> GNN:  # noqa: N802 (a model's name)
    """GraphSAGE with the mean aggregator, ReLU between layers."""
    return GNN("graphsage", in_dim, hidden_dim, out_dim, num_layers)


def build_model(name: str, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, heads: int = 1) -> nn.Module:
    """The torch model for ``model.name``."""
    return GNN(name, in_dim, hidden_dim, out_dim, num_layers, heads)
