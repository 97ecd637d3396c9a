"""The scenario's building blocks: the strict base every section shares (unknown keys,
non-finite numbers and true/false for a number are errors; keys added after results
were published stay out of a result's echo while they hold their defaults), and the
data loader's sections of ``training`` (cache, sampling, features, loader).
:mod:`gnnsim.config` assembles the whole scenario from them.
"""

from __future__ import annotations

import typing
from typing import Any, ClassVar, Literal

from pydantic import (BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, ValidationInfo, field_validator,
                      model_serializer, model_validator)


def _takes_bool(annotation: Any) -> bool:
    """Whether a field's type admits true/false (or anything, as ``dict[str, Any]`` does)."""
    if annotation is bool or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    return any(_takes_bool(a) for a in typing.get_args(annotation)) if origin is not list else False


class _Section(BaseModel):
    """A scenario section: unknown keys are errors, numbers must be finite, and true/false
    is not a number (pydantic would read ``batch_size: true`` as 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    # keys added after results were published: left out of a result's echo while they hold
    # these values, so results of scenarios written before them stay byte-identical
    _quiet_defaults: ClassVar[dict[str, Any]] = {}

    @model_serializer(mode="wrap")
    def _omit_quiet_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key, value in self._quiet_defaults.items():
            if key in data and getattr(self, key) == value:
                del data[key]
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or _takes_bool(field.annotation):
            return value
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool) for v in items):
            raise ValueError("true/false is not a valid value here: give a number (or a string where one is asked)")
        return value


class CacheConfig(_Section):
    """A per-trainer feature cache in device memory: cached rows need no fetch and no copy."""

    policy: Literal["none", "degree", "presample", "random"] = Field(
        "none", description="none | degree (static, highest in-degree first, PaGraph) | presample (hottest nodes "
                            "of a few pre-sampled batches, GNNLab) | random (uniform, seeded by simulation.seed)")
    budget_bytes: int | None = Field(None, ge=0, description="cache size in bytes of feature rows")
    budget_fraction: float | None = Field(None, ge=0, le=1, description="cache size as a fraction of all feature rows")
    presample_batches: int = Field(8, gt=0, description="batches pre-sampled per trainer to rank hotness (presample)")

    @model_validator(mode="after")
    def _one_budget(self) -> "CacheConfig":
        if self.budget_bytes is not None and self.budget_fraction is not None:
            raise ValueError("training.cache: give budget_bytes or budget_fraction, not both")
        if self.policy != "none" and self.budget_bytes is None and self.budget_fraction is None:
            raise ValueError(f"training.cache.policy is {self.policy!r}: set budget_bytes or budget_fraction")
        return self


class SamplingConfig(_Section):
    """Where mini-batches are sampled (:mod:`gnnsim.cost.placement` prices each)."""

    device: Literal["cpu", "gpu", "uva"] = Field(
        "cpu", description="cpu (loader workers on the host's cores) | gpu (graph structure in GPU memory, sampled "
                           "by GPU kernels: DGL graph.to('cuda')) | uva (structure in pinned host memory, the same "
                           "kernels reading it over PCIe: DGL use_uva=True)")


class FeaturesConfig(_Section):
    """Where the input feature rows live; ``training.cache`` sits in front of any placement."""

    placement: Literal["host", "uva", "gpu"] = Field(
        "host", description="host (workers gather rows on the CPU into pinned buffers, then one H2D copy) | uva "
                            "(the GPU gathers rows from pinned host memory over PCIe, zero copy) | gpu (all rows "
                            "resident in GPU memory, a device gather; single-node-multigpu)")


class LoaderConfig(_Section):
    """The data loader's worker processes (PyG/DGL ``num_workers``)."""

    workers: int | None = Field(
        None, ge=0, description="worker processes per trainer: CPU sampling and host feature gathers of one "
                                "trainer run in this many workers, at most the node's cores shared by its trainers "
                                "(hwprofiles node host_cpu_cores); 0 = in the training process (no overlap with "
                                "compute). Default: training.sampler_workers sample and the feature gather is one "
                                "serial stream in the fetch")
    persistent_workers: bool = Field(
        False, description="keep the workers alive between epochs (PyTorch DataLoader persistent_workers): their "
                           "start-up is paid once, not in every epoch's fixed cost (epoch_fixed_s)")
    gather: Literal["workers", "main", "prefetch"] = Field(
        "workers", description="who gathers host feature rows: workers (the worker pool, a batch per worker, ahead "
                               "of training: PyG NeighborLoader, whose filter_per_worker defaults to true for CPU "
                               "data) | main (the training process after the batch arrives, serial with compute, on "
                               "its torch threads: DGL <= 0.7 examples' load_subtensor, DGL 0.8's old "
                               "NodeDataLoader, PyG 1.x/2.0 NeighborSampler examples' x[n_id]) | prefetch (the "
                               "training process in a thread ahead of training, on its torch threads: DGL >= 0.8 "
                               "DataLoader's prefetcher, GraphBolt's FeatureFetcher)")
    _quiet_defaults: ClassVar[dict[str, Any]] = {"gather": "workers"}
