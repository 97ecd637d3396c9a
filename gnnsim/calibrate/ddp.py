"""What wrapping a model in PyTorch's ``DistributedDataParallel`` costs the host.

A trainer written the way PyTorch's and PyG's examples write it wraps its model in DDP.
Besides the gradient copies into and out of its buckets (which the simulator prices as
memory copies, :mod:`gnnsim.sim.ddp`), DDP runs its own code in every pass: the forward's
pre- and post-processing in Python (``DistributedDataParallel.forward``: preparing the
reducer, finding the output tensors, the ``_DDPSink`` autograd node) and, in backward,
one autograd hook per parameter (``Reducer::autograd_hook``) and the reducer's end of
backward. This micro-benchmark measures it: each PyG model, bare and wrapped in DDP on
a one-process gloo group, runs forward and backward in turn on the same whole subgraph
(as :func:`gnnsim.calibrate.pyg.bench_layers` times them); the median paired difference
per stage is the model's ``ddp_forward_us`` / ``ddp_backward_us`` of the ``frameworks:
pyg:`` block. With one process the gloo all-reduce of each bucket returns at once, so
the difference is DDP's own work (its bucket copies included: tens of KB here).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gnnsim.calibrate.profile_blocks import rounded
from gnnsim.calibrate.timing import train_step_s

DDP_SIZE = (4096, 6144, 64)  # (nodes, edges, hidden): a whole sampled subgraph like the suite's batches
DDP_REPEATS = 80  # paired forward and backward steps per model (after 3 warm-up pairs)


def bench_ddp(build: Callable[[str, int], Any], models: tuple[str, ...], in_dim: int, classes: int,
              quick: bool = False) -> dict[str, dict[str, float]] | None:
    """Per model, ``{"ddp_forward_us", "ddp_backward_us"}``; ``build(name, hidden)``
    makes a model of ``in_dim`` inputs and ``classes`` outputs, the same weights each call
    (None where a process group already exists in this process: the benchmark makes its
    own one-process group)."""
    import torch
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        return None
    nodes, edges, hidden = DDP_SIZE
    rng = np.random.default_rng(11)
    edge_index = torch.from_numpy(rng.integers(0, nodes, (2, edges)))
    x = torch.randn(nodes, in_dim)
    seeds = nodes // 8
    y = torch.randint(0, classes, (seeds,))
    repeats = DDP_REPEATS // 4 if quick else DDP_REPEATS
    out = {}
    with tempfile.TemporaryDirectory(prefix="gnnsim-ddp-") as tmp:
        dist.init_process_group("gloo", store=dist.FileStore(str(Path(tmp) / "store"), 1), rank=0, world_size=1)
        try:
            for name in models:
                bare = build(name, hidden)
                wrapped = torch.nn.parallel.DistributedDataParallel(build(name, hidden))
                extra: dict[str, list[float]] = {"forward": [], "backward": []}
                for i in range(repeats + 3):
                    (bf, bb), (wf, wb) = (train_step_s(lambda m=m: m(x, edge_index)[:seeds], y, m, lambda: None)
                                          for m in (bare, wrapped))
                    if i >= 3:
                        extra["forward"].append(wf - bf)
                        extra["backward"].append(wb - bb)
                out[name] = {f"ddp_{stage}_us": rounded(max(0.0, float(np.median(d))) * 1e6)
                             for stage, d in extra.items()}
        finally:
            dist.destroy_process_group()
    return out
