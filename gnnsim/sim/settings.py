"""The replay's options, read once from the scenario.

The simulator reads a handful of training options (how far the loader may run ahead,
how DDP buckets the gradients, whether the ranks meet before every iteration, where the
loader samples and gathers) and two of the simulation's (the all-reduce algorithm, the
seed). :func:`sim_settings` reads them in one place, resolving the defaults that depend
on other keys, so the replay works from one small value and never reads the scenario;
the API's keyword overrides (``simulate_workload(w, cost, prefetch_depth=2)``) take
precedence over the scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnnsim.config import Scenario
from gnnsim.sections import TrainingConfig
from gnnsim.workload.frameworks import legacy_sampler_scale
from gnnsim.workload.loader import placed

# DDP's first bucket when bucket_cap_mb is left at its default: torch.distributed.
# _DEFAULT_FIRST_BUCKET_BYTES (torch/nn/parallel/distributed.py, _BucketCapacityConfig.create)
DDP_FIRST_BUCKET_BYTES = 1024 * 1024


@dataclass(frozen=True)
class LoaderSettings:
    """Where and how a trainer's loader samples and gathers (``training.sampling``,
    ``training.features``, ``training.loader``, ``sampler_workers``, ``sampler_gpus``)."""

    placed: bool = False  # any placement key set (gnnsim.workload.loader.placed)
    workers: int | None = None  # training.loader.workers (None: unset)
    persistent_workers: bool = False
    sampling_device: str = "cpu"  # cpu | gpu | uva
    features_placement: str = "host"  # host | uva | gpu
    sampler_workers: int = 1
    sampler_gpus: int = 0
    # an older loader generation's whole sampler as a multiple of gnnsim's (0: the profile's)
    legacy_sampler_scale: float = 0.0


def loader_settings(training: TrainingConfig) -> LoaderSettings:
    """The loader's part of the replay's settings.

    >>> from gnnsim.sections import TrainingConfig
    >>> loader_settings(TrainingConfig(loader={"workers": 4})).placed, loader_settings(TrainingConfig()).placed
    (True, False)
    """
    return LoaderSettings(placed=placed(training), workers=training.loader.workers,
                          persistent_workers=training.loader.persistent_workers,
                          sampling_device=training.sampling.device, features_placement=training.features.placement,
                          sampler_workers=training.sampler_workers, sampler_gpus=training.sampler_gpus,
                          legacy_sampler_scale=legacy_sampler_scale(training))


@dataclass(frozen=True)
class SimSettings:
    """What the replay does with a workload (seconds and bytes)."""

    # ready batches the loader may hold (0: the plain sequential loop); a loader in the training
    # process holds none whatever is asked (gnnsim.sim.loader.loader_depth)
    prefetch_depth: int
    bucket_bytes: float  # a gradient bucket's size (DDP's bucket_cap_mb)
    first_bucket_bytes: float  # the first bucket's (the output layer's gradients, ready first)
    iteration_barrier: bool  # ranks meet before each iteration (gnnsim's trainer); False: DDP as users run it
    allreduce_algorithm: str = "auto"  # auto | ring | tree | hierarchical
    # without the barrier, a feature gather that needs no other rank's rows runs on its own
    local_fetch: bool = False
    loader: LoaderSettings = LoaderSettings()
    seed: int = 0  # the simulation's seed (the jitter's random streams)


def iteration_barrier(training: TrainingConfig) -> bool:
    """``training.iteration_barrier``, or where unset the framework's: gnnsim's own
    trainer (``torch``) has a barrier before every iteration, PyG's and DGL's DDP
    trainers as their examples write them do not.

    >>> from gnnsim.sections import TrainingConfig
    >>> iteration_barrier(TrainingConfig()), iteration_barrier(TrainingConfig(framework="pyg"))
    (True, False)
    >>> iteration_barrier(TrainingConfig(framework="pyg", iteration_barrier=True))
    True
    """
    if training.iteration_barrier is not None:
        return training.iteration_barrier
    return training.framework == "torch"


def sim_settings(scenario: Scenario, *, prefetch_depth: int | None = None, bucket_bytes: float | None = None,
                 barrier: bool | None = None, allreduce_algorithm: str | None = None) -> SimSettings:
    """The replay's settings for ``scenario``; a keyword that is not None overrides the scenario.

    >>> from gnnsim.config import scenario_from_dict
    >>> s = sim_settings(scenario_from_dict({"training": {"framework": "pyg", "mode": "single-node-multigpu"}}))
    >>> s.iteration_barrier, s.first_bucket_bytes, s.bucket_bytes, s.local_fetch
    (False, 1048576.0, 26214400.0, True)
    >>> sim_settings(scenario_from_dict({})).first_bucket_bytes  # with the barrier: buckets as before
    26214400.0
    """
    t = scenario.training
    depth = int(t.prefetch_depth if prefetch_depth is None else prefetch_depth)
    cap = float(t.ddp_bucket_bytes if bucket_bytes is None else bucket_bytes)
    meet = iteration_barrier(t) if barrier is None else bool(barrier)
    if t.ddp_first_bucket_bytes is not None:
        first = t.ddp_first_bucket_bytes
    else:
        first = cap if meet else min(DDP_FIRST_BUCKET_BYTES, cap)
    return SimSettings(prefetch_depth=depth, bucket_bytes=cap, first_bucket_bytes=float(first), iteration_barrier=meet,
                       allreduce_algorithm=scenario.simulation.allreduce if allreduce_algorithm is None
                       else allreduce_algorithm,
                       local_fetch=not meet and t.mode == "single-node-multigpu", loader=loader_settings(t),
                       seed=scenario.simulation.seed)
