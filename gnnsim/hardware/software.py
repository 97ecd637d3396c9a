"""Software profiles: what a GNN framework costs on top of the kernels it launches.

The same GraphSAGE step costs different wall time in plain PyTorch, DGL and PyG even
when the kernels are identical: each framework runs its own Python around them (a data
loader that builds sampled blocks, a message-passing layer that inspects its arguments,
an autograd graph with more nodes) and its own neighbour sampler. A software profile
(``hwprofiles/software/NAME.yaml``) names those costs as parameters with sources:

- ``per_iteration_us``: host time per training step outside the layers, most of it the
  data loader's (``next()``, building the batch object: PyG's ``filter_data`` into a
  ``Data``, DGL's ``DGLBlock`` wrappers), charged to the ``sample`` stage, where a real
  trainer's loader spends it (so a prefetching loader hides it as it hides sampling);
- ``per_layer_forward_us`` / ``per_layer_backward_us``: host time per GNN layer in the
  forward and backward pass (argument checks, graph objects, autograd nodes), charged
  to the ``forward`` and ``backward`` stages;
- ``sampler``: the framework's neighbour sampler relative to gnnsim's own vectorized
  sampler (the one the node profile or ``gnnsim calibrate`` describes): an extra
  ``per_batch_us`` and multipliers ``node_scale`` and ``edge_scale`` on the per-node and
  per-edge costs;
- ``per_element_forward_ns`` / ``per_element_backward_ns``: host time per aggregated
  element (an edge times the layer's width: the FLOPs of the stage's ``aggregate``
  kernels, :func:`aggregate_elements`) on top of the layer's kernels: PyG's GCN and GAT
  add a per-edge norm and a scatter softmax the workload model does not price; may be
  negative (a framework's per-edge work faster than gnnsim's layer);
- ``per_row_forward_ns`` / ``per_row_backward_ns``: the same per destination row times
  width of those kernels (:func:`aggregate_rows`): GCN's and GAT's self-loops, one more
  edge per node;
- ``loader_per_node_ns`` / ``loader_per_edge_ns``: the loader's collation per sampled
  node and edge of the batch (on top of ``per_iteration_us``, charged to ``sample``);
- ``ddp_forward_us`` / ``ddp_backward_us``: the host time that wrapping the model in
  PyTorch's ``DistributedDataParallel`` adds to a forward and a backward pass (its
  forward's pre- and post-processing, the reducer's autograd hooks), beyond the gradient
  copies the simulator prices; charged where the gradients are all-reduced as DDP does
  (``training.iteration_barrier`` off) on more than one rank;
- ``models: NAME:``: any of the per-layer, per-element and DDP keys for one model
  (``model.name``), replacing the ``overheads:`` ones for it;
- ``loader.worker_start_ms``: starting one data-loader worker process (PyTorch's
  ``DataLoader`` forks its ``num_workers`` one after another when an epoch's iterator is
  created, and joins them at its end unless ``persistent_workers``), a per-epoch fixed
  cost of a placed loader (:mod:`gnnsim.analysis.epoch_fixed`).

``torch`` is the reference: gnnsim's real trainer (``gnnsim realrun``) *is* plain PyTorch
with gnnsim's sampler, so its calibrated costs already contain that overhead and the
``torch`` profile adds nothing. Select a framework with ``training.framework`` in the
scenario.

A calibrated device profile (``cluster.device_profile: calibrated/NAME``) may hold a
``frameworks: NAME:`` block measured by ``gnnsim calibrate`` against the real framework
(:mod:`gnnsim.calibrate.pyg`); its keys replace the committed profile's, whose estimates
stay only where no calibration exists (:func:`load_software` with ``device_profile``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError, did_you_mean
from gnnsim.hardware.cluster import SamplerCost
from gnnsim.hardware.schema import allow_keys, check_keys, read_number, read_profile
from gnnsim.hardware.sources import Source, parse_sources

FRAMEWORKS = ("torch", "dgl", "pyg")
LAYER_KEYS = ("per_layer_forward_us", "per_layer_backward_us", "per_element_forward_ns", "per_element_backward_ns",
              "per_row_forward_ns", "per_row_backward_ns", "ddp_forward_us", "ddp_backward_us")
allow_keys("software", "loader", "models")
allow_keys("software.loader", "worker_start_ms")
allow_keys("software.overheads", *LAYER_KEYS, "loader_per_node_ns", "loader_per_edge_ns")
allow_keys("software.models.*", *LAYER_KEYS)


def aggregate_elements(kernels) -> float:
    """The elements (edges x width) the ``aggregate`` kernels of ``kernels`` sum.

    >>> from gnnsim.workload.kernels import aggregate, gather
    >>> aggregate_elements([aggregate(100, 10, 8), gather(5, 8), aggregate(3, 3, 2)])
    806.0
    """
    return float(sum(k.flops for k in kernels if k.cls == "aggregate"))


def aggregate_rows(kernels) -> float:
    """The destination rows times width the ``aggregate`` kernels of ``kernels`` write
    (their accumulators: edges x width scaled by the accumulator's share of the new bytes).

    >>> from gnnsim.workload.kernels import aggregate
    >>> aggregate_rows([aggregate(100, 10, 8), aggregate(3, 3, 2)])
    86.0
    """
    return float(sum(k.flops * k.out_parts[1] / k.out_parts[0] for k in kernels
                     if k.cls == "aggregate" and len(k.out_parts) == 2 and k.out_parts[0] > 0))



@dataclass(frozen=True)
class SoftwareProfile:
    """Per-iteration and per-layer host overheads and sampler speed of one framework."""

    name: str
    framework: str
    per_iteration_s: float = 0.0
    per_layer_forward_s: float = 0.0
    per_layer_backward_s: float = 0.0
    sampler_per_batch_s: float = 0.0
    sampler_node_scale: float = 1.0
    sampler_edge_scale: float = 1.0
    sources: tuple[Source, ...] = ()
    worker_start_s: float = 0.0  # one loader worker process started (per epoch without persistent workers)
    per_element_forward_s: float = 0.0  # per aggregated element (edge x width) of a layer's aggregate kernels
    per_element_backward_s: float = 0.0
    per_row_forward_s: float = 0.0  # per destination row x width of those kernels
    per_row_backward_s: float = 0.0
    loader_per_node_s: float = 0.0  # the loader's collation per sampled node and edge
    loader_per_edge_s: float = 0.0
    ddp_forward_s: float = 0.0  # DistributedDataParallel's wrapper per forward and backward pass
    ddp_backward_s: float = 0.0

    @property
    def sampler_scale(self) -> float:
        """The per-edge sampler cost multiplier (edges dominate sampling time)."""
        return self.sampler_edge_scale

    def stage_overhead_s(self, stage: str, num_layers: int) -> float:
        """Framework host time charged to ``stage`` for a model of ``num_layers`` GNN layers.

        >>> p = SoftwareProfile("x", "dgl", per_iteration_s=1e-3, per_layer_forward_s=1e-4, per_layer_backward_s=5e-5)
        >>> p.stage_overhead_s("forward", 2), p.stage_overhead_s("backward", 2), p.stage_overhead_s("sample", 2)
        (0.0002, 0.0001, 0.001)
        >>> p.stage_overhead_s("optimizer", 2), p.stage_overhead_s("fetch", 2)
        (0.0, 0.0)
        """
        if stage == "forward":
            return self.per_layer_forward_s * num_layers
        if stage == "backward":
            return self.per_layer_backward_s * num_layers
        if stage == "sample":
            return self.per_iteration_s
        return 0.0

    def aggregate_overhead_s(self, stage: str, kernels) -> float:
        """Framework host time of ``stage`` for its ``aggregate`` kernels' elements
        (edges x width) and rows (destinations x width).

        >>> from gnnsim.workload.kernels import aggregate
        >>> p = SoftwareProfile("x", "pyg", per_element_forward_s=1e-9, per_row_forward_s=2e-9)
        >>> round(p.aggregate_overhead_s("forward", [aggregate(1000, 100, 10)]), 9), p.aggregate_overhead_s("sample", [])
        (1.2e-05, 0.0)
        """
        if stage == "forward":
            per_element, per_row = self.per_element_forward_s, self.per_row_forward_s
        elif stage == "backward":
            per_element, per_row = self.per_element_backward_s, self.per_row_backward_s
        else:
            return 0.0
        if not per_element and not per_row:
            return 0.0
        return per_element * aggregate_elements(kernels) + per_row * aggregate_rows(kernels)

    def loader_overhead_s(self, nodes: int, edges: int) -> float:
        """The loader's per-batch collation of ``nodes`` sampled nodes and ``edges`` edges
        (its fixed part is ``per_iteration_s``)."""
        return self.loader_per_node_s * nodes + self.loader_per_edge_s * edges

    def iteration_overhead_s(self, num_layers: int) -> float:
        """All framework host time of one training step (the sampler's own costs excluded).

        >>> p = SoftwareProfile("x", "dgl", per_iteration_s=1e-3, per_layer_forward_s=1e-4, per_layer_backward_s=5e-5)
        >>> round(p.iteration_overhead_s(2), 9)
        0.0013
        """
        return sum(self.stage_overhead_s(s, num_layers) for s in ("sample", "forward", "backward"))

    def sampler_cost(self, base: SamplerCost) -> SamplerCost:
        """``base`` (gnnsim's sampler on this host) as this framework's sampler costs it.

        >>> p = SoftwareProfile("x", "pyg", sampler_per_batch_s=1e-4, sampler_edge_scale=0.5)
        >>> p.sampler_cost(SamplerCost(1e-4, 1e-7, 4e-8))
        SamplerCost(per_batch_s=0.0002, per_node_s=1e-07, per_edge_s=2e-08, per_edge_doubling_s=0.0, reference_nodes=0.0, per_hop_s=0.0, per_draw_s=0.0, per_check_s=0.0)
        """
        # (the draws and their checks are per-edge work; a hop's fixed passes are not scaled)
        return replace(base, per_batch_s=base.per_batch_s + self.sampler_per_batch_s,
                       per_node_s=base.per_node_s * self.sampler_node_scale,
                       per_edge_s=base.per_edge_s * self.sampler_edge_scale,
                       per_edge_doubling_s=base.per_edge_doubling_s * self.sampler_edge_scale,
                       per_draw_s=base.per_draw_s * self.sampler_edge_scale,
                       per_check_s=base.per_check_s * self.sampler_edge_scale)


def _block(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    block = data.get(key) or {}
    if not isinstance(block, dict):
        raise ProfileError(f"{path}: '{key}' must be a mapping, got {block!r}")
    return block


def _layer_fields(block: dict[str, Any], where: Path) -> dict[str, float]:
    """The per-layer and per-element fields a mapping of :data:`LAYER_KEYS` sets."""
    fields = {}
    for key in LAYER_KEYS:
        if key not in block:
            continue
        if not key.startswith("per_element"):
            fields[key.rsplit("_", 1)[0] + "_s"] = read_number(block, key, where, positive=False) * (
                1e-6 if key.endswith("_us") else 1e-9)
            continue
        # an element term may be negative: the framework's per-edge work faster than gnnsim's layer
        value = block[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ProfileError(f"{where}: '{key}' must be a finite number of ns, got {value!r}. Fix the profile.")
        fields[key.rsplit("_", 1)[0] + "_s"] = float(value) * 1e-9
    return fields


def calibrated_framework(device_profile: str | None, framework: str) -> tuple[dict[str, Any], Path] | None:
    """The ``frameworks: FRAMEWORK:`` block of a calibrated device profile, if it has one."""
    if not device_profile or not device_profile.startswith("calibrated/"):
        return None
    data, path = read_profile("calibrated", device_profile.split("/", 1)[1])
    block = (data.get("frameworks") or {}).get(framework)
    if block is None:
        return None
    if not isinstance(block, dict):
        raise ProfileError(f"{path}: 'frameworks.{framework}' must be a mapping, got {block!r}")
    return block, path


def _merged(data: dict[str, Any], calibrated: dict[str, Any] | None) -> dict[str, Any]:
    """The committed profile with a calibrated block's keys in place of its own."""
    if not calibrated:
        return data
    out = dict(data)
    for key in ("overheads", "sampler", "loader"):
        out[key] = {**(data.get(key) or {}), **(calibrated.get(key) or {})}
    out["models"] = {**(data.get("models") or {}), **(calibrated.get("models") or {})}
    out["sources"] = list(calibrated.get("sources") or []) + list(data.get("sources") or [])
    return out


def load_software(name: str, device_profile: str | None = None, model: str | None = None) -> SoftwareProfile:
    """Read ``hwprofiles/software/NAME.yaml``; with a calibrated ``device_profile`` that
    measured this framework (``frameworks: NAME:``), its numbers replace the file's; with
    ``model``, that model's ``models:`` entry replaces the per-layer ones.

    >>> load_software("torch").iteration_overhead_s(3)
    0.0
    >>> dgl = load_software("dgl")
    >>> dgl.framework, dgl.iteration_overhead_s(2) > 0
    ('dgl', True)
    """
    data, path = read_profile("software", name)
    check_keys(data, "software", path)
    framework = data.get("framework")
    if framework not in FRAMEWORKS:
        raise ProfileError(f"{path}: 'framework' must be one of {', '.join(FRAMEWORKS)}, got {framework!r}."
                           f"{did_you_mean(str(framework), FRAMEWORKS)}")
    found = calibrated_framework(device_profile, framework)
    if found is not None:
        check_keys(found[0], "software", found[1], f"frameworks.{framework}")
        path = Path(f"{found[1]}: frameworks.{framework} over {path}")
    data = _merged(data, found[0] if found else None)
    sources = tuple(parse_sources(data, path))
    over = _block(data, "overheads", path)
    samp = _block(data, "sampler", path)
    loader = _block(data, "loader", path)
    models = _block(data, "models", path)
    where_o, where_s = Path(f"{path}: overheads"), Path(f"{path}: sampler")
    layer = _layer_fields(over, where_o)
    if model and isinstance(models.get(model), dict):
        layer.update(_layer_fields(models[model], Path(f"{path}: models.{model}")))
    return SoftwareProfile(
        name=str(data.get("name", name)),
        framework=framework,
        per_iteration_s=read_number(over, "per_iteration_us", where_o, positive=False, default=0) * 1e-6,
        sampler_per_batch_s=read_number(samp, "per_batch_us", where_s, positive=False, default=0) * 1e-6,
        sampler_node_scale=read_number(samp, "node_scale", where_s, default=1),
        sampler_edge_scale=read_number(samp, "edge_scale", where_s, default=1),
        sources=sources,
        worker_start_s=read_number(loader, "worker_start_ms", Path(f"{path}: loader"), positive=False, default=0) * 1e-3,
        loader_per_node_s=read_number(over, "loader_per_node_ns", where_o, positive=False, default=0) * 1e-9,
        loader_per_edge_s=read_number(over, "loader_per_edge_ns", where_o, positive=False, default=0) * 1e-9,
        **layer,
    )
