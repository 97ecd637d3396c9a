"""A measured-run record as a gnnsim scenario, or the capabilities it is missing.

:func:`record_scenario` reads one :class:`~gnnsim.validation.records.RunRecord` and
returns a :class:`Mapping`: the scenario (a plain dict that ``gnnsim simulate`` reads),
the approximations it took (each named), and the capabilities gnnsim lacks to express
the record at all. Those missing capabilities are the roadmap, so each names one thing
(``sampling on GPU``, ``heterogeneous model (RGCN)``, ``dataset not named``), never a
generic "unsupported".

Everything comes from the datasheet catalog (``hwprofiles/``), never from a calibration of
the machine running the prediction. A capability that a scenario key provides counts as
present when the scenario schema has that key, so the report follows the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gnnsim.config import Scenario
from gnnsim.errors import RecordError
from gnnsim.graph.presets import PRESETS
from gnnsim.validation.records import RunRecord
from gnnsim.validation.systems import (data_on_gpu_by_default, distributed_store, legacy_pyg_sampler, loader_gather,
                                      pre_3274_dgl_sampler)

# GPU as a record names it -> (device profile, cluster profile whose node holds it).
# First match wins; a record without a variant takes the first entry of its family.
GPU_CATALOG: tuple[tuple[str, str, str], ...] = (
    (r"H200", "h200-sxm-141gb", "dgx-h100-1"),
    (r"H100", "h100-sxm5-80gb", "dgx-h100-1"),
    (r"A100.*80\s*GB", "a100-sxm4-80gb", "dgx-a100-80gb-1"),
    (r"A100", "a100-sxm4-40gb", "dgx-a100-80gb-1"),
    (r"A10G", "a10g-24gb", "g5-24x-4-eth50"),
    (r"V100.*p3\.", "v100-sxm2-16gb", "p3-4-eth25"),
    (r"V100.*32\s*GB", "v100-sxm2-32gb", "dgx1-v100-1"),
    (r"V100", "v100-sxm2-16gb", "dgx1-v100-1"),
    (r"P100", "p100-pcie-16gb", "pcie3-gpu-workstation-1"),
    (r"T4", "t4-16gb", "g4dn-metal-2-eth100"),
    (r"L4", "l4-24gb", "pcie-4gpu-server-1"),
    (r"4090", "rtx4090-24gb", "pcie-4gpu-server-1"),
)
# Records that name no GPU form ratio groups only; they run on this stand-in.
STAND_IN = ("a100-sxm4-80gb", "dgx-a100-80gb-1")

MODELS = (("graphsage", r"sage"), ("gat", r"\bgat"), ("gcn", r"\bgcn"), ("gin", r"\bgin"))
# preset name -> scale the prediction runs at (1.0: the real size); larger graphs are
# predicted per iteration on a scaled preset and the epoch from the real iteration count
DATASET_SCALE = {"ogbn-products": 1.0, "reddit": 1.0, "ogbn-arxiv": 1.0, "ogbn-papers100M": 0.02}
# torch.utils.data.DataLoader keeps prefetch_factor (default 2) batches per worker in flight;
# PyG's loaders and DGL's DataLoader are DataLoaders (DGL refuses workers with GPU/UVA sampling)
TORCH_PREFETCH_FACTOR = 2
QUICK_EDGES = 1_000_000  # --quick: graphs of about this many undirected edges (a smoke test)


@dataclass
class Mapping:
    """A record turned into a scenario: ``scenario`` is None when ``missing`` is not empty."""

    record: RunRecord
    scenario: dict[str, Any] | None = None
    approximations: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    metric: str = ""  # the result field predicted: epoch_time_s | sampling_time_ms_per_batch | ...
    graph_scale: float = 1.0
    stand_in_hardware: bool = False

    @property
    def status(self) -> str:
        if self.missing:
            return "not expressible"
        return "partial" if self.approximations else "expressible"


def schema_has(dotted: str) -> bool:
    """Whether the scenario schema has the key ``a.b.c`` (a capability the code provides)."""
    model: type[BaseModel] = Scenario
    for part in dotted.split("."):
        f = model.model_fields.get(part)
        if f is None:
            return False
        ann = f.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else BaseModel
    return True


def _hardware(rec: RunRecord, out: Mapping) -> dict[str, Any] | None:
    hw = rec.hardware
    gpus = hw.gpus_per_node or 1
    if hw.gpus_per_node is None:
        out.approximations.append("GPUs per node not stated: 1")
    nodes = hw.nodes or 1
    if not hw.gpu or not rec.hardware_stated:
        out.stand_in_hardware = True
        device, cluster = STAND_IN
        out.approximations.append(f"no hardware named: ratio only, on a stand-in {device} ({cluster})")
    else:
        hit = next(((d, c) for pat, d, c in GPU_CATALOG if re.search(pat, hw.gpu, re.I)), None)
        if hit is None:
            families = ", ".join(sorted({pat.split(".")[0].split("\\")[0] for pat, _, _ in GPU_CATALOG}))
            raise RecordError(f"{rec.where}: hardware.gpu: unknown GPU {hw.gpu!r}. Known families: {families}. "
                              "Add its device profile to hwprofiles/devices/ and an entry to GPU_CATALOG in "
                              "gnnsim/validation/record_scenario.py, or set hardware_stated: false for a ratio-only record")
        device, cluster = hit
        if "variant not stated" in hw.gpu or "inferred" in hw.gpu:
            out.approximations.append(f"GPU variant not stated: {device}")
    if nodes > 1 and not distributed_store(rec.system):
        out.missing.append("multi-node training with the whole graph and features on every machine "
                           "(gnnsim's multi-node mode is DistDGL's: partitioned graph and feature stores)")
        return None
    if nodes > 1:
        out.approximations.append("DistDGL: one METIS part per trainer, partitioned graph store")
    return {"profile": cluster, "device_profile": device, "num_nodes": nodes, "trainers_per_node": gpus}


def _model(rec: RunRecord, out: Mapping) -> dict[str, Any] | None:
    kind = (rec.model.type or "").lower()
    if not kind:
        out.missing.append("model not stated")
        return None
    if "rgcn" in kind or "rgat" in kind:
        out.missing.append("heterogeneous model (RGCN/RGAT)")
        return None
    name = next((n for n, pat in MODELS if re.search(pat, kind)), None)
    if name is None:
        out.missing.append(f"GNN model not in the model registry: {rec.model.type}")
        return None
    if "unsupervised" in kind:
        out.missing.append("link-prediction (unsupervised) training: negative sampling and edge batches")
    unstated = [k for k in ("fanouts_seed_first", "hidden", "batch_size") if getattr(rec.model, k) is None]
    if unstated:
        out.missing.append(f"model hyper-parameters not stated: {', '.join(unstated)}")
    if rec.model.layers is not None and rec.model.fanouts_seed_first is not None \
            and rec.model.layers != len(rec.model.fanouts_seed_first):
        out.missing.append(f"model.layers {rec.model.layers} differs from the {len(rec.model.fanouts_seed_first)} "
                           "fan-outs (a layer without sampling)")
    spec: dict[str, Any] = {"name": name}
    if rec.model.hidden is not None:
        spec["hidden_dim"] = rec.model.hidden
    if name == "gat" and rec.model.heads:
        spec["heads"] = rec.model.heads
    return spec


def _labor(rec: RunRecord, out: Mapping, training: dict[str, Any]) -> None:
    """GraphBolt's ``sample_layer_neighbor`` (and DGL's LaborSampler) as ``sampler: labor``,
    with the layer and batch dependency the record's notes state."""
    kind, notes = (rec.model.type or "").lower(), (rec.notes or "").lower()
    if "labor" not in kind and "layer_neighbor" not in kind:
        return
    training["sampler"] = "labor"
    if re.search(r"layer_dependency\s*=\s*true", notes):
        training["labor_layer_dependency"] = True
    batch = re.search(r"batch_dependency\s*=\s*(\d+)", notes)
    if batch and int(batch.group(1)) > 1:
        out.approximations.append(f"LABOR batch_dependency={batch.group(1)} not modelled: it changes which nodes "
                                  "consecutive batches share (cache hits), not a batch's counts")


def _framework(rec: RunRecord, out: Mapping) -> str:
    system = (rec.system or "").lower()
    if "graphbolt" in system or "dgl" in system:
        if "pyg" in system:  # GraphBolt's PyG examples run each layer on that layer's sampled subgraph
            out.approximations.append("GraphBolt with PyG layers on per-layer sampled subgraphs: priced as DGL blocks")
        return "dgl"
    if "pyg" in system or "quiver" in system:
        return "pyg"
    out.approximations.append("framework not stated: plain torch overheads")
    return "torch"


def _dataset(rec: RunRecord, out: Mapping, quick: bool) -> dict[str, Any] | None:
    name = rec.dataset.name
    if not name:
        out.missing.append("dataset not named")
        return None
    if name not in PRESETS:
        if "mag" in name.lower() or "igb" in name.lower():
            out.missing.append(f"heterogeneous graph ({name})")
        else:
            out.missing.append(f"no graph preset for {name}")
        return None
    full = DATASET_SCALE.get(name, 1.0)
    scale = min(full, float(f"{QUICK_EDGES / PRESETS[name].undirected_edges:.2g}")) if quick else full
    out.graph_scale = scale
    if scale == 1.0:
        return {"source": f"preset:{name}", "scale": scale}
    out.approximations.append(f"{name} at scale {scale:g}: iteration simulated on the scaled preset, "
                              "epoch extrapolated to the real iteration count")
    # the sampler's cache misses grow with the graph: priced at the size the stand-in stands for
    return {"source": f"preset:{name}", "scale": scale, "stands_for_nodes": PRESETS[name].nodes}


def _pipeline(rec: RunRecord, out: Mapping, training: dict[str, Any], model: dict[str, Any]) -> None:
    p = rec.pipeline
    sampling = p.sampling_device or "cpu"
    if p.sampling_device is None:
        out.approximations.append("sampling device not stated: cpu")
    if sampling != "cpu":
        if schema_has("training.sampling.device"):
            training["sampling"] = {"device": sampling}
        else:
            out.missing.append({"gpu": "sampling on GPU (graph in device memory)",
                                "uva": "UVA sampling (GPU kernels on a graph pinned in host memory)"}[sampling])
    placement = p.feature_placement
    if placement is None:
        script_gpu = data_on_gpu_by_default(rec.system)
        placement = "gpu" if sampling == "gpu" or script_gpu else "host"
        why = " (DGL 0.6-0.7 train_sampling.py's default without --data-cpu)" if script_gpu and sampling != "gpu" else ""
        out.approximations.append(f"feature placement not stated: {placement}{why}")
    tiers = placement.split("+")
    if "disk" in tiers:
        out.missing.append("disk feature tier (features read from SSD)")
        return
    if placement == "cache":
        frac = p.cache_fraction
        if frac is None:
            out.missing.append("GPU feature cache of unstated size")
            return
        if frac > 0:
            training["cache"] = {"policy": "degree", "budget_fraction": frac}
            out.approximations.append("GPU feature cache as a static highest-degree cache")
        placement = "uva" if sampling == "uva" else "host"
    elif p.cache_fraction is not None and 0 < p.cache_fraction < 1:
        training["cache"] = {"policy": "degree", "budget_fraction": p.cache_fraction}
        out.approximations.append("GPU feature cache as a static highest-degree cache")
    if placement in ("uva", "gpu"):
        if schema_has("training.features.placement"):
            training["features"] = {"placement": placement}
        else:
            out.missing.append({"uva": "UVA feature gather (GPU reads pinned host rows)",
                                "gpu": "features resident in GPU memory"}[placement])
    elif placement != "host":
        out.missing.append(f"feature placement {placement!r}")
    if p.num_workers is not None:
        if schema_has("training.loader.workers"):
            training["loader"] = {"workers": p.num_workers}
            gather = loader_gather(rec.system, sampling)
            if placement == "host" and gather != "workers":
                training["loader"]["gather"] = gather
            if p.num_workers > 0 and sampling == "cpu":
                training["prefetch_depth"] = TORCH_PREFETCH_FACTOR * p.num_workers
        elif p.num_workers != 1:
            training["sampler_workers"] = max(1, p.num_workers)
            out.approximations.append(f"{p.num_workers} loader workers as {max(1, p.num_workers)} CPU sampler "
                                      "workers (feature gathers stay serial)")
    if p.dtype not in (None, "float32"):
        if p.dtype in ("tf32", "float16", "bfloat16"):
            model["dtype"] = p.dtype
        else:
            out.missing.append(f"dtype {p.dtype}")


def _metric(rec: RunRecord, out: Mapping) -> None:
    r = rec.result
    for key in ("epoch_time_s", "sampling_time_ms_per_batch", "throughput_samples_per_s"):
        if getattr(r, key) is not None:
            out.metric = key
            return
    out.missing.append("no time-like measurement (epoch time, per-batch sampling time or throughput)")


def record_scenario(rec: RunRecord, *, quick: bool = False, iterations: int = 8) -> Mapping:
    """The scenario for ``rec`` (or what is missing to write one).

    >>> from gnnsim.validation.records import parse_record
    >>> rec = parse_record('{"id": "a", "source": "s", "system": "DGL 1.0", "hardware": {"gpu": "NVIDIA A100 80GB", '
    ...     '"gpus_per_node": 4, "nodes": 1}, "dataset": {"name": "ogbn-products"}, "model": {"type": "GraphSAGE", '
    ...     '"hidden": 256, "fanouts_seed_first": [15, 10, 5], "batch_size": 1024}, "pipeline": {"sampling_device": '
    ...     '"cpu", "feature_placement": "host", "num_workers": 1, "dtype": "float32"}, '
    ...     '"result": {"epoch_time_s": 9.0}, "group": "g"}', "x.jsonl", 1)
    >>> m = record_scenario(rec)
    >>> m.status, m.scenario["cluster"]["device_profile"], m.scenario["training"]["fanouts"]
    ('expressible', 'a100-sxm4-80gb', [15, 10, 5])
    """
    out = Mapping(rec)
    _metric(rec, out)
    cluster = _hardware(rec, out)
    model = _model(rec, out)
    graph = _dataset(rec, out, quick)
    multi = (rec.hardware.nodes or 1) > 1
    training: dict[str, Any] = {"mode": "minibatch" if multi else "single-node-multigpu",
                                "framework": _framework(rec, out)}
    if training["framework"] == "pyg" and legacy_pyg_sampler(rec.system):
        training["pyg_loader"] = "neighbor_sampler"
    if training["framework"] == "dgl" and pre_3274_dgl_sampler(rec.system):
        training["dgl_sampler"] = "pre_0_7_2"
    if multi:
        training["graph_store"] = "partitioned"
    if rec.model.fanouts_seed_first is not None:
        training["fanouts"] = list(rec.model.fanouts_seed_first)
    if rec.model.batch_size is not None:
        training["batch_size"] = rec.model.batch_size
    _labor(rec, out, training)
    _pipeline(rec, out, training, model if model is not None else {})
    if out.missing:
        return out
    out.scenario = {
        "name": rec.id,
        "graph": graph,
        "partition": {"method": "metis" if multi else "random"},
        "model": model,
        "training": training,
        "cluster": cluster,
        "simulation": {"iterations": 3 if quick else iterations, "seed": 0},
    }
    return out
