"""The scenario: one YAML (or JSON) file that describes a training job and its cluster.

A scenario has the sections ``graph``, ``partition``, ``model``, ``training``,
``cluster`` and ``simulation``. Every field has a default except where a choice
matters, every unit is in the field name (``_s``, ``_bytes``, ``_gbps`` = GB/s), and an
unknown key is an error that names the file, the key path, the allowed keys and the
closest one. ``--set a.b=c`` overrides any field before validation.

Fan-outs are listed hop-from-seed first, as in PyG's ``num_neighbors``: ``[10, 5]``
samples 10 neighbours of each seed, then 5 of each of those. DGL's
``MultiLayerNeighborSampler`` lists them the other way round (input layer first).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel, Field, ValidationError, field_validator,
    model_validator,
)

from gnnsim.errors import ScenarioError, did_you_mean, read_text_file, yaml_problem
from gnnsim.names import model_names
from gnnsim.sections import (CacheConfig, FeaturesConfig, LoaderConfig, SamplingConfig,  # noqa: F401 (re-exported)
                             _Section)


class GraphConfig(_Section):
    """Where the graph comes from.

    ``source`` is ``sbm`` (a seeded stochastic block model with community structure, so
    that partitioning matters) or ``edgelist`` (a whitespace/CSV file given by ``path``).
    """

    source: str = Field("sbm", description="sbm | edgelist | npz | ogb | pyg | rmat | chung-lu | preset:NAME "
                                           "(ogbn-arxiv, ogbn-products, reddit, ogbn-papers100M)")
    path: str | None = Field(None, description="graph file for file sources, relative to the scenario file")
    num_nodes: int = Field(20_000, gt=0, description="nodes of a generated graph")
    num_communities: int = Field(8, gt=0, description="SBM blocks")
    avg_degree: float = Field(10.0, gt=0, description="mean undirected degree of a generated graph")
    intra_fraction: float = Field(0.9, ge=0, le=1, description="share of SBM edges that stay inside a block")
    feature_dim: int = Field(128, gt=0, description="input feature width")
    num_classes: int = Field(8, gt=1, description="output classes")
    train_fraction: float = Field(0.5, gt=0, le=1, description="share of nodes that are training seeds")
    symmetrize: bool = Field(True, description="add the reverse of every edge read from a file")
    self_loops: bool = Field(False, description="keep v->v edges read from a file (default: drop them)")
    dedup: bool = Field(True, description="keep one copy of a repeated edge read from a file")
    scale: float = Field(1.0, gt=0, le=1, description="preset:NAME size as a fraction of the real dataset")
    exponent: float = Field(2.5, gt=2, description="degree tail exponent of chung-lu and preset graphs")
    split: str | None = Field(None, description="OGB split folder to take train ids from (default: the only one)")
    feature_dtype: Literal["float32", "float16", "bfloat16", "int8"] = Field(
        "float32", description="how input feature rows are stored: float32 | float16 | bfloat16 | int8 (quantized); "
                               "scales the bytes of every row gathered, copied and cached, and of resident rows")
    stands_for_nodes: int | None = Field(
        None, gt=0, description="nodes of the graph this one stands in for (a scaled preset predicting the real "
                                "dataset): size-dependent costs, such as the CPU sampler's cache misses "
                                "(host.sampler per_edge_doubling_ns), are priced at this size. Default: the graph's "
                                "own nodes, as a real job on it would run")
    _quiet_defaults: ClassVar[dict[str, Any]] = {"feature_dtype": "float32", "stands_for_nodes": None}


class PartitionConfig(_Section):
    method: str = Field("metis", description="partitioner name (gnnsim partition --help lists them)")
    num_parts: int | None = Field(None, gt=0, description="default: one part per trainer")


class ModelConfig(_Section):
    name: str = Field(
        "graphsage", description="a model of the registry (gnnsim/workload/models.py MODELS: graphsage (mean) | "
                                 "gcn | gat (multi-head, edge softmax) | gin (MLP update); a new model is one entry)")
    hidden_dim: int = Field(128, gt=0)
    dtype: Literal["float32", "tf32", "float16", "bfloat16"] = Field(
        "float32", description="what the GNN computes in: float32 | tf32 (fp32 tensors, GEMMs on the tensor cores) | "
                               "float16 | bfloat16 (torch.autocast: GEMMs at the dtype's peak, activations in 2 bytes, "
                               "parameters, gradients and optimizer state float32); priced from the device profile's "
                               "peak_tflops by dtype (gnnsim/cost/dtypes.py)")
    heads: int = Field(4, gt=0, description="GAT attention heads (hidden layers split hidden_dim over them)")

    @field_validator("name")
    @classmethod
    def _registered(cls, value: str) -> str:
        models = model_names()  # the registry's names (gnnsim/workload/models.py publishes them)
        if value not in models:
            raise ValueError(f"must be one of {', '.join(repr(k) for k in models)} (gnnsim/workload/models.py)"
                             f"{did_you_mean(value, models)}")
        return value

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "ModelConfig":
        if self.name == "gat" and self.hidden_dim % self.heads:
            raise ValueError(f"model.hidden_dim ({self.hidden_dim}) must be a multiple of model.heads ({self.heads}) "
                             "for gat: each hidden layer concatenates heads of width hidden_dim / heads")
        return self


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


class ClusterConfig(_Section):
    profile: str = Field("localhost-cpu", description="a cluster in hwprofiles/clusters/ (gnnsim hw list)")
    num_nodes: int | None = Field(None, gt=0, description="override the profile's node count")
    trainers_per_node: int | None = Field(None, gt=0, description="override trainers (ranks) per node")
    device_profile: str | None = Field(
        None, description="replace the trainers' device with this profile, e.g. calibrated/localhost"
    )


class SimulationConfig(_Section):
    iterations: int = Field(20, gt=0, description="real sampled iterations to simulate per trainer")
    warmup_iterations: int = Field(3, ge=0, description="iterations a real run discards before timing")
    seed: int = Field(0, ge=0)
    allreduce: Literal["auto", "ring", "tree", "hierarchical"] = Field(
        "auto", description="gradient all-reduce algorithm (gnnsim/cost/collectives.py): auto (ring inside one node, "
                            "hierarchical across nodes) | ring | tree | hierarchical")
    _quiet_defaults: ClassVar[dict[str, Any]] = {"allreduce": "auto"}


class Scenario(_Section):
    """A whole training job: what to train, how, and on which cluster."""

    graph: GraphConfig = Field(default_factory=GraphConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    name: str = "scenario"
    validation: dict[str, Any] | None = Field(
        None, description="metadata for validation/run.py (groups, ranks, ...); ignored by the simulator")
    base_dir: str = Field(".", description="folder that relative paths are resolved against (set on load)")

    @model_validator(mode="after")
    def _file_source_needs_path(self) -> "Scenario":
        if self.graph.source in ("edgelist", "npz", "ogb", "pyg") and not self.graph.path:
            raise ValueError(f"graph.source '{self.graph.source}' reads a file: set graph.path")
        return self

    def resolve(self, path: str) -> Path:
        """A path from the scenario, resolved against the scenario file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"base_dir"})


def _field_models(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the last key of ``loc``, or None."""
    current = model
    for key in loc[:-1]:
        field = current.model_fields.get(str(key))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        current = field.annotation
    return current


def _explain(err: dict[str, Any], source: str) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "<top level>"
    holder = _field_models(Scenario, loc) if loc else Scenario
    if err["type"] == "extra_forbidden" and holder is not None:
        allowed = sorted(k for k in holder.model_fields if k != "base_dir")
        where = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return (
            f"{source}: {path}: unknown key. Allowed keys in {where}: {', '.join(allowed)}."
            f"{did_you_mean(str(loc[-1]), allowed)}"
        )
    msg = err["msg"]
    if err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
        msg = f"must be one of {err['ctx']['expected']}"
    elif err["type"] == "finite_number":
        msg = "must be a finite number (NaN and infinity are not allowed); give a plain number"
    elif err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) < 80 else f"a {type(got).__name__}"
    return f"{source}: {path}: {msg} (got {shown})."


def non_finite_paths(data: Any, prefix: str = "") -> list[str]:
    """The dotted key paths of every NaN or infinite number in ``data`` (nested mappings and lists).

    >>> non_finite_paths({"a": {"b": float("nan"), "c": [1, float("inf")]}, "d": 2.0})
    ['a.b', 'a.c[1]']
    """
    if isinstance(data, float):
        return [] if math.isfinite(data) else [prefix or "<top level>"]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in non_finite_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in non_finite_paths(v, f"{prefix}[{i}]")]
    return []


def _check_finite(data: Any, source: str) -> None:
    bad = non_finite_paths(data)
    if bad:
        raise ScenarioError(f"{source}: {', '.join(bad)}: must be a finite number (NaN and infinity are not "
                            "allowed); give a plain number.")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=c`` into (['a', 'b'], c) with c read as YAML (numbers, lists, bools)."""
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected KEY.PATH=VALUE, for example training.batch_size=512")
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ScenarioError(f"--set {text!r}: the key is empty; expected e.g. training.fanouts=[15,10]")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        why = yaml_problem(exc)
        raise ScenarioError(f"--set {text!r}: the value of {'.'.join(parts)} is not valid YAML ({why}); quote it or "
                            "write it as YAML, e.g. training.fanouts=[15,10]") from None
    bad = non_finite_paths(value, ".".join(parts))
    if bad:
        raise ScenarioError(f"--set {text!r}: {', '.join(bad)}: must be a finite number (NaN and infinity are not "
                            "allowed); give a plain number.")
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with every ``a.b=c`` override applied."""
    out = json.loads(json.dumps(data))
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ScenarioError(f"--set {text!r}: '{p}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def scenario_from_dict(data: Any, source: str = "<scenario>", base_dir: str = ".",
                       overrides: list[str] | None = None) -> Scenario:
    """Validate a plain dict into a :class:`Scenario`, with errors that name ``source``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of sections (graph, partition, model, "
                            f"training, cluster, simulation), got {type(data).__name__}")
    if "base_dir" in data:
        raise ScenarioError(f"{source}: base_dir: this key is set by gnnsim; remove it from the file")
    _check_finite(data, source)
    data = apply_overrides(data, overrides or [])
    try:
        return Scenario.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        lines = [_explain(e, source) for e in exc.errors()]
        raise ScenarioError("\n".join(lines)) from None


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Load a scenario from YAML or JSON, apply ``--set`` overrides and validate it.

    >>> s = load_scenario("examples/quickstart.yaml", ["training.batch_size=256"])
    >>> s.training.batch_size
    256
    """
    path = Path(path)
    text = read_text_file(path, "scenario", ScenarioError)
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply to be a scenario; see examples/quickstart.yaml") from None
    if data is None:
        raise ScenarioError(f"{path}: empty scenario; see examples/quickstart.yaml for one to start from")
    name = data.get("name", path.stem) if isinstance(data, dict) else path.stem
    if isinstance(data, dict):
        data = {**data, "name": name}
    return scenario_from_dict(data, str(path), str(path.parent.resolve()), overrides)
