"""DDP as users run it: gradient buckets as PyTorch fills them, and no barrier between iterations.

A data-parallel trainer written the way the PyTorch and PyG examples write it has no
barrier in its loop: each rank starts its next batch as soon as it has stepped its
optimizer, so a rank that was quick in one iteration begins the next one ahead of the
others. The ranks meet only where they must, in the gradient all-reduce: a bucket's
all-reduce finishes on a rank only once every rank has contributed that bucket. That is
where DDP absorbs the skew: a fast rank's lead becomes time inside its all-reduce, as a
timer around ``loss.backward()`` sees it. gnnsim's own trainer calls ``dist.barrier()``
before every iteration instead (``training.iteration_barrier``, :mod:`gnnsim.sim.settings`).

In the replay (:class:`gnnsim.sim.engine.Simulator`) each rank's next iteration starts
when its own previous one ends, with or without the barrier; every collective (a bucket's
all-reduce, a feature exchange that moves rows, a halo) is joined by all ranks and
ends together. With the barrier, the feature exchange is such a join in every iteration,
also where no row moves (the own trainer's all-to-alls), and holds the ranks together at
the start of each iteration. Without it:

- a trainer that holds every feature row (``training.mode: single-node-multigpu``, PyG's
  ``x[batch.n_id]``) gathers its own rows on its own clock (:func:`local_fetch`): no
  exchange, no wait for the other ranks' sampling;
- the first gradient bucket holds DDP's 1 MiB (:data:`gnnsim.sim.settings.DDP_FIRST_BUCKET_BYTES`);
- the gradient copies are backward's, as DDP's reducer makes them inside
  ``loss.backward()``; only the hook's division and the collective are the all-reduce's
  (:attr:`gnnsim.sim.engine.Simulator._ddp_reducer`).

How DDP buckets (torch 2.13, ``torch/nn/parallel/distributed.py`` and
``torch/csrc/distributed/c10d/reducer.cpp``): buckets of ``bucket_cap_mb`` (25 MiB), the
first one of 1 MiB when ``bucket_cap_mb`` is left at its default; after the first
iteration the reducer rebuilds them in the order the gradients became ready in backward
(output layer first), closing a bucket once it reaches its cap; each bucket's all-reduce
is launched as soon as its last gradient is ready and every bucket before it has been
launched (``Reducer::mark_bucket_ready``). :func:`backward_segments` does the same per
layer, not per tensor.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gnnsim.cost.model import HostWork
from gnnsim.workload.builder import Task, Workload

if TYPE_CHECKING:  # the engine imports this module
    from gnnsim.sim.engine import Simulator


def layer_grad_shares(workload: Workload) -> list[float]:
    """Share of the gradient bytes that each layer holds, input layer first (the
    workload's per-layer parameter counts)."""
    sizes = np.array(workload.layer_params, dtype=float)
    return list(sizes / sizes.sum())


def _layer_groups(task: Task) -> list[tuple[int, list]]:
    """The backward's kernels by layer in execution order (output layer first), by their
    ``Kernel.layer``; a kernel of no layer joins the group before it."""
    groups: list[tuple[int, list]] = []
    for k in task.kernels:
        layer = k.layer if k.layer >= 0 else None
        if layer is None or not groups or groups[-1][0] != layer:
            if layer is None and groups:
                groups[-1][1].append(k)
                continue
            groups.append((layer if layer is not None else -1, [k]))
        else:
            groups[-1][1].append(k)
    return groups


def backward_segments(task: Task, grad_bytes: float, shares: list[float], first_bytes: float,
                      bucket_bytes: float) -> list[tuple[Task, float]]:
    """Backward split where gradient buckets fill: (kernels until the cut, bytes of the bucket).

    Layers' gradients join the open bucket in the order backward computes them (output
    layer first, ``shares`` of ``grad_bytes`` each, input layer first); the first bucket
    closes once it holds ``first_bytes``, every later one at ``bucket_bytes``, and the
    last one at the end of backward.

    >>> from gnnsim.workload.kernels import Kernel
    >>> back = Task("backward", "gpu_kernel",
    ...             kernels=tuple(Kernel("gemm", 1.0, 1.0, f"L{i}.gemm", layer=i) for i in (2, 1, 0)))
    >>> [b for _, b in backward_segments(back, 10.0, [0.4, 0.5, 0.1], 1.0, 5.0)]  # DDP: the first of 1, then 5
    [1.0, 5.0, 4.0]
    >>> [b for _, b in backward_segments(back, 10.0, [0.4, 0.5, 0.1], 5.0, 5.0)]
    [6.0, 4.0]
    """
    if grad_bytes <= first_bytes:
        return [(task, grad_bytes)]
    segments: list[tuple[Task, float]] = []
    kernels: list = []
    bucket = 0.0
    for layer, ks in _layer_groups(task):
        kernels += ks
        if 0 <= layer < len(shares):
            bucket += grad_bytes * shares[layer]
        if bucket >= (bucket_bytes if segments else first_bytes):
            segments.append((replace(task, kernels=tuple(kernels)), bucket))
            kernels, bucket = [], 0.0
    if kernels or bucket > 0:
        segments.append((replace(task, kernels=tuple(kernels)), bucket))
    assigned = sum(b for _, b in segments)
    if assigned < grad_bytes:  # gradients of layers no kernel belongs to
        t, b = segments[-1]
        segments[-1] = (t, b + grad_bytes - assigned)
    return segments


def local_fetch(sim: Simulator, rank: int, it: int, task: Task, prev: int) -> Generator[Any, Any, int]:
    """A rank's feature gather when it holds every row: the host work of the exchange's
    plan (:meth:`gnnsim.cost.model.CostModel.fetch_plan`) for a rank without peers, on
    the rank's own clock. No rank waits for another, and no all-to-all runs. Returns the
    fetch span's index."""
    from gnnsim.sim.exchanges import HOST_GATHER
    from gnnsim.sim.timeline import SimulationError

    if sum(task.rows.rows_from) != task.rows.rows_from[rank]:
        raise SimulationError(f"rank {rank}'s feature gather in iteration {it} needs rows of other ranks, but "
                              "training.mode single-node-multigpu holds every row on every rank; check the "
                              "workload builder's fetch task")
    start = sim.env.now
    alone = replace(task, rows=replace(task.rows, rows_from=(0,)))  # its gathers, no exchange
    for phase in sim.cost.fetch_plan([alone]):
        if isinstance(phase, HostWork) and phase.seconds[0] > 0:
            yield sim._compute(rank, float(phase.seconds[0]))
    took = sim.env.now - start
    return sim._span(rank, "loader", "fetch", it, start, sim.env.now, bytes_=task.bytes, pred=prev,
                     parts=((HOST_GATHER, took),) if took > 0 else ())
