"""Neighbour sampling as torch kernels, where the graph's CSR lives (``training.sampling.device``).

The real trainer's ``gpu`` placement keeps ``indptr`` and ``indices`` as CUDA tensors and
samples with this module; ``uva`` runs the same code on CUDA views of pinned host tensors
(:func:`gnnsim.realrun.placement.uva_view`), so its kernels read the structure over PCIe.
The same code runs on CPU tensors, which is how it is tested on a machine without a GPU.

It samples what :func:`gnnsim.workload.sampler.sample_minibatch` samples, with the same
distribution but not the same draws (a torch generator, not numpy's): hops out from the
sorted unique seeds, hop-from-seed first; without replacement every node keeps
``min(fanout, degree)`` distinct neighbours, uniformly at random; with replacement every
node that has a neighbour gets ``fanout`` independent uniform draws. There is no Python
loop over nodes or edges:

- without replacement, every candidate edge of the hop's nodes gets a random key in
  [0, 0.5); sorting ``owner + key`` (a float64: owners are integers) is a segmented sort,
  and an edge is taken when its rank inside its owner's segment is below the fan-out
  (a segmented top-k of random keys is a uniform sample without replacement);
- the relabel into block-local ids is ``torch.unique`` plus the first appearance of each
  id (a ``scatter_reduce`` of positions), so the local order is the numpy sampler's:
  the destinations, then new sources in order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TorchBlock:
    """One layer's bipartite graph as tensors; ``src_nodes[:num_dst]`` are the destinations."""

    src_nodes: torch.Tensor  # global ids, int64
    num_dst: int
    edge_src: torch.Tensor  # index into src_nodes
    edge_dst: torch.Tensor  # index into the first num_dst src_nodes

    @property
    def num_edges(self) -> int:
        return int(self.edge_src.numel())


@dataclass(frozen=True)
class TorchMiniBatch:
    seeds: torch.Tensor
    blocks: list[TorchBlock]  # input layer first

    @property
    def input_nodes(self) -> torch.Tensor:
        return self.blocks[0].src_nodes

    @property
    def num_sampled_edges(self) -> int:
        return sum(b.num_edges for b in self.blocks)


def segment_arange(starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Concatenate ``arange(s, s + l)`` for every (s, l) pair, as torch kernels.

    >>> segment_arange(torch.tensor([10, 20]), torch.tensor([2, 3])).tolist()
    [10, 11, 20, 21, 22]
    """
    total = int(lengths.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64, device=starts.device)
    offsets = torch.cumsum(lengths, 0) - lengths
    return (torch.repeat_interleave(starts - offsets, lengths, output_size=total)
            + torch.arange(total, dtype=torch.int64, device=starts.device))


def sample_neighbors(indptr: torch.Tensor, indices: torch.Tensor, nodes: torch.Tensor, fanout: int,
                     generator: torch.Generator, replace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``fanout`` neighbours of each of ``nodes`` (see the module docstring).

    Returns ``(owner, neighbor)``: each sampled edge's position in ``nodes`` and the
    neighbour's global id, on the device of ``nodes``.
    """
    dev = nodes.device
    start = indptr.index_select(0, nodes).to(dev)
    deg = indptr.index_select(0, nodes + 1).to(dev) - start
    if replace:
        has = torch.nonzero(deg > 0).flatten()
        draws = torch.rand(has.numel(), fanout, generator=generator, device=dev, dtype=torch.float64)
        offsets = (draws * deg[has, None]).to(torch.int64).clamp_(max=deg[has, None] - 1)
        owner = torch.repeat_interleave(has, fanout)
        return owner, indices.index_select(0, (offsets + start[has, None]).flatten()).to(dev)
    total = int(deg.sum())
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=dev), deg, output_size=total)
    edge = segment_arange(start, deg)
    keys = torch.rand(total, generator=generator, device=dev, dtype=torch.float64) * 0.5  # < 0.5: never rounds up
    order = torch.argsort(owner.to(torch.float64) + keys)  # to the next owner
    segment_start = (torch.cumsum(deg, 0) - deg).repeat_interleave(deg, output_size=total)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(total, device=dev) - segment_start  # a segment's edges stay inside it
    keep = torch.nonzero(rank < fanout).flatten()
    return owner[keep], indices.index_select(0, edge[keep]).to(dev)


def to_block(dst_nodes: torch.Tensor, owner: torch.Tensor, neighbor: torch.Tensor) -> TorchBlock:
    """Relabel sampled edges into a block whose sources are the (distinct) destinations,
    then every other neighbour in order of first appearance.

    >>> b = to_block(torch.tensor([7, 3]), torch.tensor([0, 0, 1, 1]), torch.tensor([3, 9, 5, 9]))
    >>> b.src_nodes.tolist(), b.edge_src.tolist()
    ([7, 3, 9, 5], [1, 2, 3, 2])
    """
    combined = torch.cat([dst_nodes, neighbor])
    uniq, inverse = torch.unique(combined, return_inverse=True)
    positions = torch.arange(combined.numel(), device=combined.device)
    first = torch.full((uniq.numel(),), combined.numel(), dtype=torch.int64, device=combined.device)
    first.scatter_reduce_(0, inverse, positions, reduce="amin")
    order = torch.argsort(first)
    local = torch.empty_like(order)
    local[order] = torch.arange(order.numel(), device=order.device)
    nd = int(dst_nodes.numel())
    return TorchBlock(uniq[order], nd, local[inverse[nd:]], owner)


def sample_minibatch(indptr: torch.Tensor, indices: torch.Tensor, seeds: torch.Tensor, fanouts: list[int],
                     generator: torch.Generator, replace: bool = False) -> TorchMiniBatch:
    """One mini-batch: ``len(fanouts)`` hops out from ``seeds`` (hop-from-seed first),
    sampled on ``seeds``' device from ``indptr``/``indices`` (there, or CUDA views of
    pinned host memory); blocks returned input layer first.

    >>> indptr, indices = torch.tensor([0, 2, 3, 4]), torch.tensor([1, 2, 0, 0])
    >>> mb = sample_minibatch(indptr, indices, torch.tensor([0]), [5], torch.Generator().manual_seed(0))
    >>> sorted(mb.input_nodes.tolist()), mb.num_sampled_edges
    ([0, 1, 2], 2)
    """
    if any(f is None for f in fanouts):
        raise ValueError("the torch sampler takes positive fan-outs only (full neighbourhoods run on the host)")
    frontier = seeds = torch.unique(seeds)
    blocks = []
    for fanout in fanouts:
        owner, neighbor = sample_neighbors(indptr, indices, frontier, int(fanout), generator, replace)
        block = to_block(frontier, owner, neighbor)
        blocks.append(block)
        frontier = block.src_nodes
    return TorchMiniBatch(seeds, blocks[::-1])
