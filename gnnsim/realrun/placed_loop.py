"""The mini-batch loop of a GPU rank whose loader is placed (``training.sampling``,
``training.features``, ``training.loader``), timed with CUDA events.

The stages are the simulator's for the same placement (:func:`gnnsim.workload.loader.placed_tasks`):

- ``sample``: the host sampler (``cpu``) or the torch sampler on the device's CSR
  (``gpu``, ``uva``: :mod:`gnnsim.realrun.gpu_sampling`);
- ``fetch``: the host gather into a pinned matrix (``host``) or the GPU's gather from
  pinned rows (``uva``); none for ``gpu`` features, whose device gather starts ``forward``;
- ``h2d``: the pinned rows' asynchronous copy and, for blocks sampled on the host, their
  edge indices and seeds; none when nothing crosses;
- ``forward``, ``backward``, ``allreduce`` (more than one rank), ``optimizer`` as before.

The real trainer has no loader workers: sampling and gathering run in the training
process, one stage after the other (``training.loader.workers: 0`` is the scenario that
predicts this). At each stage boundary a CUDA event is recorded and waited for, so a
stage's time is its own work (host work between two events is idle GPU time, which the
events count too).
"""

from __future__ import annotations

import numpy as np
import torch


def stage_names(training, world: int) -> tuple[str, ...]:
    """The stages a placed GPU rank times, in order.

    >>> from gnnsim.sections import TrainingConfig
    >>> stage_names(TrainingConfig(sampling={"device": "gpu"}, features={"placement": "gpu"}), 1)
    ('sample', 'forward', 'backward', 'optimizer')
    >>> stage_names(TrainingConfig(loader={"workers": 0}), 2)
    ('sample', 'fetch', 'h2d', 'forward', 'backward', 'allreduce', 'optimizer')
    """
    placement, sampling = training.features.placement, training.sampling.device
    has = {"fetch": placement != "gpu", "h2d": placement == "host" or sampling == "cpu", "allreduce": world > 1}
    return tuple(st for st in ("sample", "fetch", "h2d", "forward", "backward", "allreduce", "optimizer")
                 if has.get(st, True))


def run_placed(spec: dict, rank: int, scenario, graph, store, batches, sampler_rng, model_parts, labels, grad_group,
               per_epoch: int, device) -> dict:
    """Train ``batches`` on ``device`` with the scenario's placement; returns the rank's result
    (:func:`gnnsim.realrun.worker._run`'s format, stages timed by CUDA events)."""
    import torch.distributed as dist

    from gnnsim.realrun import gpu_sampling
    from gnnsim.realrun.blocks import block_indices, with_degrees
    from gnnsim.realrun.placement import FeatureRows, structure
    from gnnsim.realrun.stages import model_step, page_faults, stage_deltas
    from gnnsim.workload.builder import sampler_fanouts
    from gnnsim.workload.sampler import sample_minibatch

    t = scenario.training
    assignment, positions, local = store
    world = int(spec["world"])
    model, params, optimizer = model_parts
    fanouts, replace = sampler_fanouts(scenario), t.replace
    names = stage_names(t, world)
    indptr, indices = structure(graph.indptr, graph.indices, t.sampling.device, device)
    features = FeatureRows(t.features.placement, local, device)
    generator = None
    if t.sampling.device != "cpu":
        generator = torch.Generator(device=device).manual_seed(int(sampler_rng.integers(2**62)))
    records = []
    for it, batch in enumerate(batches):
        dist.barrier()
        marks, faults = {}, {}
        start, faults_at_start = _mark(), page_faults()
        if generator is None:
            mb = sample_minibatch(indptr, indices, batch, fanouts, sampler_rng, replace)
            inputs = mb.input_nodes
        else:
            mb = gpu_sampling.sample_minibatch(indptr, indices, torch.from_numpy(batch).to(device), fanouts,
                                               generator, replace)
            inputs = mb.input_nodes
        marks["sample"], faults["sample"] = _mark(), page_faults()
        x = None
        if "fetch" in names:
            x, n_local, n_remote = features.gather(inputs, (assignment, positions, rank, world))
            marks["fetch"], faults["fetch"] = _mark(), page_faults()
        else:
            n_local, n_remote = int(inputs.size if isinstance(inputs, np.ndarray) else inputs.numel()), 0
        if generator is None:
            indices_dev = block_indices(mb.blocks, device)
            seeds_at = torch.from_numpy(mb.seeds).to(device)
        else:
            indices_dev = [(b.edge_src, b.edge_dst, b.num_dst) for b in mb.blocks]
            seeds_at = mb.seeds
        if x is not None:
            x = features.copy_in(x)
        if "h2d" in names:
            marks["h2d"], faults["h2d"] = _mark(), page_faults()
        if x is None:  # resident rows: the forward pass starts with their device gather
            x, _, _ = features.gather(inputs, None)
        def mark(stage: str) -> None:
            marks[stage], faults[stage] = _mark(), page_faults()

        loss = model_step(model, with_degrees(indices_dev, model.uses_inverse_degree), x, labels, seeds_at, optimizer,
                          params, world, grad_group, mark)
        if it < scenario.simulation.warmup_iterations:
            continue
        stages = _event_stages(start, marks, names)
        records.append({"iteration": it - scenario.simulation.warmup_iterations, "stages": stages,
                        "iteration_time_s": sum(stages.values()),
                        "page_faults": stage_deltas(faults_at_start, faults, names),
                        "loss": float(loss.detach()), "input_nodes": int(n_local + n_remote),
                        "sampled_edges": mb.num_sampled_edges, "rows_local": n_local, "rows_remote": n_remote,
                        "rows_cached": 0})
    dist.barrier()
    return {"rank": rank, "iterations": records, "iterations_per_epoch": per_epoch,
            "threads": int(spec["threads"]), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(device),
            "placement": {"sampling": t.sampling.device, "features": t.features.placement, "timer": "cuda-events"}}


def _mark():
    """A CUDA event recorded now on the current stream, waited for."""
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    event.synchronize()
    return event


def _event_stages(start, marks: dict, names) -> dict:
    """Each stage's seconds between the events at its start and its end."""
    out, prev = {}, start
    for stage in names:
        out[stage] = prev.elapsed_time(marks[stage]) / 1e3
        prev = marks[stage]
    return out
