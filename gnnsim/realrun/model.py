"""The real GraphSAGE (mean aggregator) in plain torch, matching the simulator's kernels.

``aggregate_mean`` is the same function the calibration benchmarks, so the fitted
``aggregate`` rate describes exactly the operation this model runs.
"""

from __future__ import annotations

import torch
from torch import nn

from gnnsim.workload.model import layer_dims


def aggregate_sum(h_src: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, num_dst: int) -> torch.Tensor:
    """Sum each edge's source row into its destination row (gather + index_add)."""
    out = torch.zeros(num_dst, h_src.shape[1], dtype=h_src.dtype, device=h_src.device)
    return out.index_add_(0, edge_dst, h_src.index_select(0, edge_src))


class SAGELayer(nn.Module):
    """``W_l mean(h_src) + W_r h_dst + b``, as PyG's SAGEConv with mean aggregation."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.lin_neigh = nn.Linear(in_dim, out_dim, bias=False)
        self.lin_root = nn.Linear(in_dim, out_dim, bias=True)

    def forward(self, h: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, num_dst: int,
                inv_deg: torch.Tensor) -> torch.Tensor:
        agg = aggregate_sum(h, edge_src, edge_dst, num_dst) * inv_deg
        return self.lin_neigh(agg) + self.lin_root(h[:num_dst])


class LayerStack(nn.Module):
    """Layers applied in turn to a list of blocks, with an activation between them."""

    # whether the layers read each block's inverse in-degree (GraphSAGE's mean); the
    # trainer computes it only then, as the workload model's ``degree`` kernel counts it
    uses_inverse_degree = False

    def __init__(self, layers: list[nn.Module], activation=torch.relu):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = activation

    def forward(self, blocks: list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        h = x
        for index, (layer, (edge_src, edge_dst, num_dst, inv_deg)) in enumerate(zip(self.layers, blocks)):
            h = layer(h, edge_src, edge_dst, num_dst, inv_deg)
            if index != len(self.layers) - 1:
                h = self.activation(h)
        return h


class GraphSAGE(LayerStack):
    uses_inverse_degree = True

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__([SAGELayer(i, o) for i, o in layer_dims(in_dim, hidden_dim, out_dim, num_layers)])


def block_indices(blocks, device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """Sampler blocks as torch index tensors on ``device`` (the copy a GPU trainer makes)."""
    return [(torch.from_numpy(b.edge_src).to(device), torch.from_numpy(b.edge_dst).to(device), b.num_dst)
            for b in blocks]


def with_degrees(indices, inverse_degree: bool = True) -> list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor | None]]:
    """Each block's indices plus the inverse in-degree of its destinations, computed where
    the indices are (the workload model's ``degree`` kernel, part of the forward pass);
    None in its place without ``inverse_degree`` (a model that does not read it: GCN
    counts its own degrees in each layer, GAT and GIN use none)."""
    out = []
    for edge_src, edge_dst, num_dst in indices:
        inv = None
        if inverse_degree:
            deg = torch.bincount(edge_dst, minlength=num_dst).clamp_(min=1).to(torch.float32)
            inv = (1.0 / deg).unsqueeze(1)
        out.append((edge_src, edge_dst, num_dst, inv))
    return out


def block_tensors(blocks, device: str | torch.device = "cpu") -> list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]]:
    """Sampler blocks as torch index tensors on ``device`` plus the inverse in-degree of
    each destination."""
    return with_degrees(block_indices(blocks, device))
