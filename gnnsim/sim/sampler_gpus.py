"""Sampler GPUs: a few GPUs of a node sample for the others (``training.sampler_gpus``).

GNNLab (Yang et al., EuroSys 2022) splits a server's GPUs into *samplers* and
*trainers*: a sampler GPU holds the graph structure (or reads it over UVA), samples
mini-batches and puts them into a queue in host memory; a trainer GPU takes the next
batch, gathers its features and trains. Think of one counter with ``k`` clerks (the
sampler GPUs) serving the queue of every trainer's loader on the node.

Here each node has ``k`` sampler GPUs as a pool of numbered slots (a simpy ``Store``):
a trainer's ``pool_sample`` task waits for a free one, which then

- runs the GPU sampler's kernels on the batch (:func:`gnnsim.cost.placement.gpu_sampling_s`:
  structure reads from the sampler's memory for ``gpu``, over its PCIe link for
  ``uva``), and
- copies the sampled blocks (two int64 ids per edge and the seeds) to host memory over
  its PCIe link,

and is free again. The trainer's H2D copy then carries the blocks with its rows. The
span sits on the sampler's own track (``node<n>/samplergpu<j>``, resource class
``sampler gpus``) from the moment it was granted, so the waiting for a busy pool is
charged to it on the critical path and the bottleneck line names the sampler GPUs when
they cannot keep up. The samplers' own PCIe traffic is priced alone (their links are
not in the topology the trainers share), and several batches of one sampler do not
overlap (one at a time, as GNNLab's sampler loop).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from gnnsim.cost.placement import gpu_sampling_s
from gnnsim.workload.builder import ID_BYTES, Task

if TYPE_CHECKING:
    from gnnsim.sim.engine import Simulator

TRACK = "samplergpu"


def sampled_block_bytes(edges: int, seeds: int) -> float:
    """Bytes of a sampled batch in the host queue: two int64 ids per edge and the seeds.

    >>> sampled_block_bytes(1000, 64)
    16512.0
    """
    return float(ID_BYTES * (2 * edges + seeds))


class SamplerGpus:
    """The sampler GPUs of every node, as pools of numbered slots."""

    def __init__(self, sim: Simulator, per_node: int):
        self.sim = sim
        self.pools = []
        for _ in range(sim.cost.cluster.num_nodes):
            pool = simpy.Store(sim.env, capacity=max(1, per_node))
            pool.items.extend(range(per_node))
            self.pools.append(pool)

    def seconds(self, task: Task) -> float:
        """One batch on a sampler GPU alone: the sampling kernels and the copy of its blocks to host memory."""
        cost = self.sim.cost
        link = cost.cluster.node.h2d_link
        uva = self.sim.settings.loader.sampling_device == "uva"
        w = task.sampling
        sample = gpu_sampling_s(w.nodes, w.edges, w.hops, cost.device, link, uva, w.examined)
        copy = link.transfer_time_s(sampled_block_bytes(w.edges, w.seeds)) if link is not None else 0.0
        return sample + copy

    def run(self, rank: int, task: Task, it: int, prev: int) -> Generator[Any, Any, int]:
        """Sample ``rank``'s batch ``it`` on the node's next free sampler GPU; returns the span's index."""
        from gnnsim.sim.timeline import Span

        sim = self.sim
        node = sim.topo.node_of(rank)
        pool = self.pools[node]
        slot = yield pool.get()
        start = sim.env.now
        yield sim.env.timeout(sim._jittered(rank, self.seconds(task)))
        pool.put(slot)
        resource = f"node{node}/{TRACK}{slot}"
        sim.timeline.resources.setdefault(resource, TRACK)
        sim.timeline.spans.append(Span(rank, resource, "sample", it, start, sim.env.now,
                                       sampled_block_bytes(task.sampling.edges, task.sampling.seeds), 0.0, prev))
        return len(sim.timeline.spans) - 1
