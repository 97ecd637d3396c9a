"""Per-epoch fixed costs of a placed loader: what an epoch pays once, not per iteration.

Two things happen once at the start of every epoch and belong to no iteration's stage:

- **loader start-up**: the data loader forks its worker processes (each trainer its
  own ``W``, one after another; ``W x`` the software profile's ``loader.worker_start_ms``,
  0 with ``training.loader.persistent_workers``), computed by the simulator
  (:func:`gnnsim.sim.loader.loader_startup_s`) and added to the epoch;
- **the first batch's latency**: with a prefetch queue (``training.prefetch_depth`` >
  0) later batches are prepared while the GPU computes, but the first one is not: the
  trainers wait until it is sampled, gathered and copied. It is the moment the last
  trainer starts its first forward pass. It is already inside the simulated epoch (the
  first iteration), so it is reported, not added. Without a queue every batch's loading
  is exposed in its own iteration and its stages, so it is no fixed cost (0).

``epoch_fixed_s`` is their sum; the epoch is then ``epoch_fixed_s`` plus the rest of the
iterations. Unplaced loaders (no ``training.sampling``, ``features`` or ``loader``
keys) report nothing, so their results stay as they were.
"""

from __future__ import annotations

from gnnsim.sim.engine import Timeline

COMPUTE_TRACKS = ("gpu", "cpu")


def first_batch_s(timeline: Timeline) -> float:
    """When the last trainer starts computing its first batch (0 without a prefetch queue).

    >>> from gnnsim.sim.engine import Span
    >>> tl = Timeline(prefetch_depth=2, resources={"node0/sampler0": "sampler", "node0/gpu0": "gpu", "node0/gpu1": "gpu"})
    >>> tl.spans = [Span(0, "node0/sampler0", "sample", 0, 0.0, 0.004), Span(0, "node0/gpu0", "forward", 0, 0.004, 0.006),
    ...             Span(1, "node0/gpu1", "forward", 0, 0.005, 0.007), Span(1, "node0/gpu1", "forward", 1, 0.008, 0.01)]
    >>> first_batch_s(tl)
    0.005
    """
    if timeline.prefetch_depth <= 0:
        return 0.0
    first: dict[int, float] = {}
    for span in timeline.spans:
        if span.iteration == 0 and span.stage == "forward" and timeline.resources.get(span.resource) in COMPUTE_TRACKS:
            first[span.rank] = min(first.get(span.rank, span.start_s), span.start_s)
    return max(first.values(), default=0.0)


def epoch_fixed(timeline: Timeline) -> dict[str, float]:
    """``{"loader_startup_s", "first_batch_s", "total_s"}`` of a placed loader's timeline,
    or ``{}`` for an unplaced one."""
    startup = timeline.loader_startup_s
    if startup is None:
        return {}
    first = first_batch_s(timeline)
    return {"loader_startup_s": float(startup), "first_batch_s": float(first), "total_s": float(startup + first)}
