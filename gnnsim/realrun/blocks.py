"""Sampler blocks as torch tensors: the index tensors a trainer copies to its device, and
each block's inverse in-degree where the model reads it."""

from __future__ import annotations

import torch


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
