"""The layers of the real models in plain torch, matching the simulator's kernels.

Every layer takes ``h, edge_src, edge_dst, num_dst, inv_deg`` on a sampler block whose
first ``num_dst`` source rows are the destinations (:mod:`gnnsim.realrun.blocks`), so one
training loop drives every model (:mod:`gnnsim.realrun.models`). :func:`aggregate_sum` is
the same function the calibration benchmarks, so the fitted ``aggregate`` rate describes
exactly the operation these layers run.

- :class:`SAGELayer`: ``W_l mean(h_src) + W_r h_dst + b``, as PyG's SAGEConv with mean
  aggregation.
- :class:`GCNLayer`: ``D_dst^-1/2 A D_src^-1/2 h W + b`` with degrees counted in the
  block; it multiplies by ``W`` first when ``in > out`` (as DGL's GraphConv does).
- :class:`GATLayer`: ``heads`` heads, edge softmax written out (scatter-max, exp,
  scatter-add, divide), messages weighted and summed with ``index_add``; hidden layers
  concatenate heads of width ``out / heads`` and apply ELU, the output layer averages
  heads of width ``out``.
- :class:`GINLayer`: ``MLP(h_dst + sum h_src)``, ``Linear -> ReLU -> Linear`` (eps = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from gnnsim.workload.models import gat_head_dim, gcn_project_first

GAT_NEGATIVE_SLOPE = 0.2  # the GAT paper's LeakyReLU slope (Velickovic et al., ICLR 2018)


def aggregate_sum(h_src: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, num_dst: int) -> torch.Tensor:
    """Sum each edge's source row into its destination row (gather + index_add)."""
    out = torch.zeros(num_dst, h_src.shape[1], dtype=h_src.dtype, device=h_src.device)
    return out.index_add_(0, edge_dst, h_src.index_select(0, edge_src))


class SAGELayer(nn.Module):
    """``W_l mean(h_src) + W_r h_dst + b``, as PyG's SAGEConv with mean aggregation."""

    uses_inverse_degree = True  # the mean divides by each destination's in-degree

    def __init__(self, in_dim: int, out_dim: int, last: bool = False, heads: int = 1):
        super().__init__()
        self.lin_neigh = nn.Linear(in_dim, out_dim, bias=False)
        self.lin_root = nn.Linear(in_dim, out_dim, bias=True)

    def forward(self, h: torch.Tensor, edge_src: torch.Tensor, edge_dst: torch.Tensor, num_dst: int,
                inv_deg: torch.Tensor) -> torch.Tensor:
        agg = aggregate_sum(h, edge_src, edge_dst, num_dst) * inv_deg
        return self.lin_neigh(agg) + self.lin_root(h[:num_dst])


class GCNLayer(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, last: bool = False, heads: int = 1):
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.project_first = gcn_project_first(in_dim, out_dim)

    def forward(self, h, edge_src, edge_dst, num_dst, inv_deg=None):
        out_norm = torch.bincount(edge_src, minlength=h.shape[0]).clamp_(min=1).to(h.dtype).pow_(-0.5).unsqueeze(1)
        in_norm = torch.bincount(edge_dst, minlength=num_dst).clamp_(min=1).to(h.dtype).pow_(-0.5).unsqueeze(1)
        if self.project_first:
            h = self.lin(h)
        agg = aggregate_sum(h * out_norm, edge_src, edge_dst, num_dst) * in_norm
        if not self.project_first:
            agg = self.lin(agg)
        return agg + self.bias


class GINLayer(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, last: bool = False, heads: int = 1):
        super().__init__()
        self.mlp0 = nn.Linear(in_dim, out_dim)
        self.mlp1 = nn.Linear(out_dim, out_dim)

    def forward(self, h, edge_src, edge_dst, num_dst, inv_deg=None):
        agg = aggregate_sum(h, edge_src, edge_dst, num_dst) + h[:num_dst]
        return self.mlp1(torch.relu(self.mlp0(agg)))


class GATLayer(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, last: bool = False, heads: int = 1):
        super().__init__()
        self.heads, self.last = heads, last
        self.head_dim = gat_head_dim(out_dim, last, heads)
        width = heads * self.head_dim
        self.fc = nn.Linear(in_dim, width, bias=False)
        self.attn_l = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.attn_r = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.bias = nn.Parameter(torch.zeros(self.head_dim if last else width))

    def forward(self, h, edge_src, edge_dst, num_dst, inv_deg=None):
        heads, d = self.heads, self.head_dim
        z = self.fc(h).view(-1, heads, d)
        el = (z * self.attn_l).sum(-1)
        er = (z[:num_dst] * self.attn_r).sum(-1)
        e = torch.nn.functional.leaky_relu(el[edge_src] + er[edge_dst], GAT_NEGATIVE_SLOPE)
        index = edge_dst.unsqueeze(1).expand(-1, heads)
        with torch.no_grad():  # the shift cancels in the softmax: no gradient needed
            emax = torch.full((num_dst, heads), float("-inf"), dtype=e.dtype, device=e.device).scatter_reduce_(
                0, index, e, reduce="amax", include_self=True)
        ex = torch.exp(e - emax[edge_dst])
        denom = torch.zeros(num_dst, heads, dtype=e.dtype, device=e.device).index_add_(0, edge_dst, ex)
        alpha = ex / denom[edge_dst]
        msg = z.index_select(0, edge_src) * alpha.unsqueeze(2)
        out = torch.zeros(num_dst, heads, d, dtype=z.dtype, device=z.device).index_add_(0, edge_dst, msg)
        out = out.mean(1) if self.last else out.reshape(num_dst, heads * d)
        return out + self.bias


class LayerStack(nn.Module):
    """Layers applied in turn to a list of blocks, with an activation between them."""

    # whether the layers read each block's inverse in-degree (GraphSAGE's mean); the
    # trainer computes it only then, as the workload model's ``degree`` kernel counts it
    uses_inverse_degree = False

    def __init__(self, layers: list[nn.Module], activation=torch.relu):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.activation = activation
        self.uses_inverse_degree = any(getattr(layer, "uses_inverse_degree", False) for layer in layers)

    def forward(self, blocks: list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
        h = x
        for index, (layer, (edge_src, edge_dst, num_dst, inv_deg)) in enumerate(zip(self.layers, blocks)):
            h = layer(h, edge_src, edge_dst, num_dst, inv_deg)
            if index != len(self.layers) - 1:
                h = self.activation(h)
        return h
