"""The scenario's building blocks: the strict base every section shares (unknown keys,
non-finite numbers and true/false for a number are errors; keys added after results
were published stay out of a result's echo while they hold their defaults), and the
``training`` section (:class:`TrainingConfig`: how the job trains) with the data
loader's sections inside it (cache, sampling, features, loader).
:mod:`gnnsim.config` assembles the whole scenario from them and loads it.
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


class TrainingConfig(_Section):
    _quiet_defaults: ClassVar[dict[str, Any]] = {
        "sampling": SamplingConfig(), "features": FeaturesConfig(), "loader": LoaderConfig(),
        "pyg_trim_to_layer": False, "pyg_loader": "neighbor_loader", "dgl_sampler": "current", "sampler_gpus": 0,
        "labor_layer_dependency": False,
        "iteration_barrier": None, "ddp_first_bucket_bytes": None,
    }
    mode: Literal["minibatch", "single-node-multigpu", "full-batch"] = Field(
        "minibatch", description="minibatch (distributed, DistDGL-like: each trainer owns a partition) | "
                                 "single-node-multigpu (all features in host memory, copied over PCIe) | "
                                 "full-batch (each trainer computes its whole partition; halo exchange per layer)")
    sampler: Literal["neighbor", "full", "cluster-gcn", "labor"] = Field(
        "neighbor", description="neighbor (fan-outs) | full (every neighbour, fan-outs give only the depth) | "
                                "cluster-gcn (batches of graph clusters, induced subgraph) | labor (layer-neighbour "
                                "sampling, GraphBolt's sample_layer_neighbor / DGL's LaborSampler: fan-outs as for "
                                "neighbor, one random variate per node shared by the hop, so fewer distinct nodes: "
                                "gnnsim/workload/labor.py)")
    labor_layer_dependency: bool = Field(
        False, description="sampler labor: one variate per node for every hop of a batch (GraphBolt's "
                           "layer_dependency), not one per hop")
    replace: bool = Field(False, description="neighbour sampling with replacement (fan-out draws per node)")
    sampler_workers: int = Field(1, gt=0, description="CPU sampler workers per trainer")
    sampler_gpus: int = Field(
        0, ge=0, description="GPUs of each node that only sample, for the node's other GPUs through a queue (GNNLab's "
                             "factored design): the node's GPUs (cluster.trainers_per_node, else the profile's) minus "
                             "these train; needs training.sampling.device gpu (structure in each sampler GPU) or uva")
    graph_store: Literal["replicated", "partitioned"] = Field(
        "replicated", description="replicated (every trainer holds the whole graph structure, as gnnsim realrun "
                                  "does) | partitioned (DistDGL: a neighbour owned by another part costs a remote "
                                  "sampling request to its owner)")
    cache: CacheConfig = Field(default_factory=CacheConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    loader: LoaderConfig = Field(default_factory=LoaderConfig)
    num_clusters: int | None = Field(None, gt=0, description="cluster-gcn: clusters of the whole graph "
                                                             "(default: about batch_size / clusters_per_batch nodes each)")
    clusters_per_batch: int = Field(1, gt=0, description="cluster-gcn: clusters joined into one batch")
    batch_size: int = Field(1024, gt=0, description="seeds per trainer per iteration")
    fanouts: list[int] = Field(
        default_factory=lambda: [10, 5],
        description="neighbours per hop, hop-from-seed first (PyG order; DGL lists them reversed)",
        min_length=1,
    )
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = Field(0.003, gt=0)
    framework: Literal["torch", "dgl", "pyg"] = Field(
        "torch", description="whose per-iteration overheads and sampler to model (hwprofiles/software/NAME.yaml); "
                             "torch adds nothing to calibrated costs; also what each layer computes "
                             "(gnnsim.workload.frameworks: blocks for torch/dgl, the whole sampled subgraph for pyg)")
    pyg_trim_to_layer: bool = Field(
        False, description="framework pyg: PyG's trim_to_layer (layer l drops the last l hops' nodes and edges); "
                           "off, every PyG layer computes the whole sampled subgraph")
    pyg_loader: Literal["neighbor_loader", "neighbor_sampler"] = Field(
        "neighbor_loader", description="framework pyg: neighbor_loader (NeighborLoader/NodeLoader on pyg-lib: one "
                                       "subgraph, model(x, edge_index)) | neighbor_sampler (PyG <= 2.0's "
                                       "torch_geometric.loader.NeighborSampler: every reached node sampled again "
                                       "each hop, one bipartite adj per layer, so layers compute blocks; its "
                                       "torch_sparse sampler priced from its published rate, 5.73x gnnsim's "
                                       "sampler: gnnsim/workload/frameworks.py)")
    dgl_sampler: Literal["current", "pre_0_7_2"] = Field(
        "current", description="framework dgl: current (DGL >= 0.7.2's CPU sample_neighbors, dgl.yaml's scales) | "
                               "pre_0_7_2 (DGL 0.4.3 to 0.7.1, before dgl PR 3274: 36 ms where 0.7.2 takes 21 on the "
                               "same layer, so its per-edge costs are 1.71x: gnnsim/workload/frameworks.py)")
    prefetch_depth: int = Field(
        0, ge=0, description="batches the loader may prepare ahead of training (0 = no overlap: sample, fetch and "
                             "copy each batch after the previous iteration ends)")
    ddp_bucket_bytes: int = Field(
        25 * 2**20, gt=0, description="gradient bucket size; full buckets are all-reduced while backward goes on "
                                      "(PyTorch DDP's bucket_cap_mb=25 default: https://pytorch.org/docs/stable/"
                                      "generated/torch.nn.parallel.DistributedDataParallel.html)")
    ddp_first_bucket_bytes: int | None = Field(
        None, gt=0, description="the first gradient bucket's size (the output layer's gradients, ready first); "
                                "default: DDP's 1 MiB (torch.distributed._DEFAULT_FIRST_BUCKET_BYTES) where "
                                "training.iteration_barrier is off, ddp_bucket_bytes where it is on. DDP uses "
                                "bucket_cap_mb for the first bucket too when bucket_cap_mb is passed explicitly: "
                                "then set this equal to ddp_bucket_bytes")
    iteration_barrier: bool | None = Field(
        None, description="every rank starts each iteration together (gnnsim's own trainer: dist.barrier() before "
                          "each iteration; in the replay every rank joins each iteration's feature exchange) | "
                          "false: DDP as users run it, no barrier: ranks drift, a rank's lead is carried into the "
                          "next iteration and absorbed in the all-reduce, a feature gather that needs no other rank "
                          "runs on its own (gnnsim.sim.ddp). Default: true for framework torch, false for pyg and "
                          "dgl")

    @model_validator(mode="after")
    def _placement_fits_mode(self) -> "TrainingConfig":
        if self.mode == "full-batch" and (self.sampling.device != "cpu" or self.features.placement != "host"):
            raise ValueError("training.sampling and training.features: full-batch training samples nothing and keeps "
                             "its partition on the device; remove them or use mode minibatch/single-node-multigpu")
        if self.sampling.device != "cpu" and self.graph_store == "partitioned":
            raise ValueError(f"training.sampling.device {self.sampling.device!r} samples the whole graph on each GPU: "
                             "set training.graph_store: replicated, or sample on the cpu")
        if self.sampler_gpus and self.sampling.device == "cpu":
            raise ValueError(f"training.sampler_gpus: {self.sampler_gpus} GPUs would sample, but "
                             "training.sampling.device is 'cpu': set it to gpu (the structure in each sampler GPU's "
                             "memory) or uva (read over PCIe), or remove sampler_gpus")
        if self.pyg_loader != "neighbor_loader" and (self.framework != "pyg" or self.pyg_trim_to_layer):
            raise ValueError("training.pyg_loader: neighbor_sampler is PyG's legacy loader: it needs "
                             "training.framework: pyg and has no trim_to_layer (its layers are bipartite already)")
        if self.sampler == "labor" and self.replace:
            raise ValueError("training.replace: LABOR keeps each node's neighbours of smallest variate, without "
                             "replacement; remove replace or use sampler: neighbor")
        if self.labor_layer_dependency and self.sampler != "labor":
            raise ValueError(f"training.labor_layer_dependency is LABOR's option: set training.sampler: labor "
                             f"(it is {self.sampler!r}) or remove it")
        if self.dgl_sampler != "current" and self.framework != "dgl":
            raise ValueError(f"training.dgl_sampler: {self.dgl_sampler} is a DGL sampler generation: set "
                             f"training.framework: dgl (it is {self.framework!r}) or remove it")
        if self.pyg_trim_to_layer and self.framework != "pyg":
            raise ValueError(f"training.pyg_trim_to_layer is PyG's trimming: set training.framework: pyg "
                             f"(it is {self.framework!r}) or remove it")
        return self

    @field_validator("fanouts")
    @classmethod
    def _positive_fanouts(cls, value: list[int]) -> list[int]:
        if any(f <= 0 for f in value):
            raise ValueError("every fan-out must be a positive integer (use full-neighbour sampling for -1)")
        return value
