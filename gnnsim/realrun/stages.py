"""What every rank's loop shares: its start (the scenario, the refusal check, its cores and
the gloo group), the model's step, minor page-fault counts, per-stage deltas of a running
count, and the gradient all-reduce."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta


def start_rank(spec: dict, rank: int, unsupported: Callable[[object], str | None]):
    """The rank's scenario, after refusing what its trainer cannot run (``unsupported``),
    pinning it to its own cores and threads and joining the gloo group of ``spec["world"]``."""
    import torch
    import torch.distributed as dist

    from gnnsim.config import scenario_from_dict
    from gnnsim.errors import RealRunError
    from gnnsim.realrun.affinity import pin_to_own_cores

    scenario = scenario_from_dict(spec["scenario"], "<realrun>", spec["base_dir"])
    reason = unsupported(scenario)
    if reason:
        raise RealRunError(reason)
    pin_to_own_cores(rank, int(spec["threads"]))
    torch.set_num_threads(int(spec["threads"]))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{spec['port']}", rank=rank,
                            world_size=int(spec["world"]), timeout=timedelta(seconds=float(spec["timeout_s"])))
    return scenario


def page_faults() -> int:
    """Minor page faults of this process so far (0 where the OS does not count them)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def stage_deltas(at_start, after: dict, stages) -> dict:
    """Each stage's share of a running count (the clock, the page faults) from its value
    ``after`` each stage (in order) and at the start.

    A page fault is a fresh page the stage's memory touched first (microseconds each):
    allocations the heap gave back to the OS and took again, which the cost
    model charges only to allocations of 32 MiB and more (see ``KernelRate``).

    >>> stage_deltas(100, {"forward": 130, "backward": 131}, ("forward", "backward"))
    {'forward': 30, 'backward': 1}
    """
    out, prev = {}, at_start
    for stage in stages:
        out[stage] = after[stage] - prev
        prev = after[stage]
    return out


def allreduce_gradients(params, world: int, group=None) -> None:
    """Average the gradients over all ranks with one all-reduce of a flat buffer (on
    ``group``, the default gloo group unless given). A lone rank has nothing to average."""
    import torch
    import torch.distributed as dist

    if world == 1:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, group=group)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def model_step(model, blocks, x, labels, seeds_at, optimizer, params, world: int, grad_group,
               mark: Callable[[str], None]):
    """One training step on a batch: forward, the loss on the seeds, backward, the gradient
    all-reduce (more than one rank) and the optimizer, calling ``mark(stage)`` as each ends.
    Returns the loss."""
    import torch

    logits = model(blocks, x)
    mark("forward")
    loss = torch.nn.functional.cross_entropy(logits, labels[seeds_at])
    loss.backward()
    mark("backward")
    if world > 1:
        allreduce_gradients(params, world, grad_group)
        mark("allreduce")
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)
    mark("optimizer")
    return loss
