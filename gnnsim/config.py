"""The scenario: one YAML (or JSON) file that describes a training job and its cluster.

A scenario has the sections ``graph``, ``partition``, ``model``, ``training``,
``cluster`` and ``simulation``. Every field has a default except where a choice
matters, every unit is in the field name (``_s``, ``_bytes``, ``_gbps`` = GB/s), and an
unknown key is an error that names the file, the key path, the allowed keys and the
closest one. ``--set a.b=c`` overrides any field before validation.

Fan-outs are listed hop-from-seed first, as in PyG's ``num_neighbors``: ``[10, 5]``
samples 10 neighbours of each seed, then 5 of each of those. DGL's
``MultiLayerNeighborSampler`` lists them the other way round (input layer first).

This module holds the other sections, the whole :class:`Scenario` and its loading
(overrides, validation errors a person can act on); the ``training`` section and its
parts are :mod:`gnnsim.sections`.
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
                             TrainingConfig, _Section)


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
