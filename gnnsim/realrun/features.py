"""Where each feature row lives, and the exchange that pulls remote rows from their owners.

Trainer ``r`` holds only the rows of the nodes in partition ``r``, in increasing node
id order. ``owner_position[v]`` is the row of node ``v`` inside its owner's matrix.
The exchange is two all-to-alls: the requested row positions go out, the rows come
back; between them each owner gathers what the others asked for.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def owner_positions(assignment: np.ndarray, num_parts: int) -> np.ndarray:
    """Row of each node within its owner's (id-sorted) feature matrix."""
    order = np.argsort(assignment, kind="stable")
    counts = np.bincount(assignment, minlength=num_parts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.empty(assignment.size, dtype=np.int64)
    pos[order] = np.arange(assignment.size) - starts[assignment[order]]
    return pos


def partition_features(labels: np.ndarray, dim: int, num_classes: int, seed: int, rank: int) -> torch.Tensor:
    """The feature rows this trainer owns: noise around a per-class centroid, so that the
    model has something real to learn (seeded, so reruns see the same data)."""
    centroids = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed * 1000 + rank + 1)
    return torch.randn(labels.size, dim, generator=gen) + centroids[torch.from_numpy(labels)]


def fetch_features(input_nodes: np.ndarray, assignment: np.ndarray, positions: np.ndarray,
                   local: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, int, int]:
    """Input features of a batch: local rows read in place, remote rows pulled from owners.

    Returns the (len(input_nodes), dim) matrix and the local and remote row counts.
    """
    owners = assignment[input_nodes]
    if world == 1:  # every row is local: no exchange, the same two copies
        x = torch.empty(input_nodes.size, local.shape[1], dtype=local.dtype)
        x.index_copy_(0, torch.arange(input_nodes.size), local.index_select(0, torch.from_numpy(positions[input_nodes])))
        return x, int(input_nodes.size), 0
    # Group the remote inputs by owner; a loop over ranks, not over nodes.
    by_owner = [np.flatnonzero(owners == q) if q != rank else np.zeros(0, dtype=np.int64) for q in range(world)]
    send_counts = np.array([idx.size for idx in by_owner], dtype=np.int64)
    remote_order = np.concatenate(by_owner)
    request = torch.from_numpy(positions[input_nodes[remote_order]])
    counts_in = torch.empty(world, dtype=torch.int64)
    dist.all_to_all_single(counts_in, torch.from_numpy(send_counts))
    recv_counts = counts_in.tolist()
    wanted = torch.empty(int(sum(recv_counts)), dtype=torch.int64)
    dist.all_to_all_single(wanted, request, recv_counts, send_counts.tolist())
    served = local.index_select(0, wanted)
    dim = local.shape[1]
    rows_in = torch.empty(int(send_counts.sum()), dim, dtype=local.dtype)
    dist.all_to_all_single(rows_in, served, send_counts.tolist(), recv_counts)
    x = torch.empty(input_nodes.size, dim, dtype=local.dtype)
    local_at = np.flatnonzero(owners == rank)
    x.index_copy_(0, torch.from_numpy(local_at), local.index_select(0, torch.from_numpy(positions[input_nodes[local_at]])))
    x.index_copy_(0, torch.from_numpy(remote_order), rows_in)
    return x, int(local_at.size), int(remote_order.size)
