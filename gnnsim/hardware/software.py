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
- ``loader.worker_start_ms``: starting one data-loader worker process (PyTorch's
  ``DataLoader`` forks its ``num_workers`` one after another when an epoch's iterator is
  created, and joins them at its end unless ``persistent_workers``), a per-epoch fixed
  cost of a placed loader (:mod:`gnnsim.analysis.epoch_fixed`).

``torch`` is the reference: gnnsim's real trainer (``gnnsim realrun``) *is* plain PyTorch
with gnnsim's sampler, so its calibrated costs already contain that overhead and the
``torch`` profile adds nothing. Select a framework with ``training.framework`` in the
scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError, did_you_mean
from gnnsim.hardware.cluster import SamplerCost
from gnnsim.hardware.schema import allow_keys, check_keys, read_number, read_profile
from gnnsim.hardware.sources import Source, parse_sources

FRAMEWORKS = ("torch", "dgl", "pyg")
allow_keys("software", "loader")
allow_keys("software.loader", "worker_start_ms")



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


def load_software(name: str) -> SoftwareProfile:
    """Read ``hwprofiles/software/NAME.yaml``.

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
    sources = tuple(parse_sources(data, path))
    over = _block(data, "overheads", path)
    samp = _block(data, "sampler", path)
    loader = _block(data, "loader", path)
    where_o, where_s = Path(f"{path}: overheads"), Path(f"{path}: sampler")
    return SoftwareProfile(
        name=str(data.get("name", name)),
        framework=framework,
        per_iteration_s=read_number(over, "per_iteration_us", where_o, positive=False, default=0) * 1e-6,
        per_layer_forward_s=read_number(over, "per_layer_forward_us", where_o, positive=False, default=0) * 1e-6,
        per_layer_backward_s=read_number(over, "per_layer_backward_us", where_o, positive=False, default=0) * 1e-6,
        sampler_per_batch_s=read_number(samp, "per_batch_us", where_s, positive=False, default=0) * 1e-6,
        sampler_node_scale=read_number(samp, "node_scale", where_s, default=1),
        sampler_edge_scale=read_number(samp, "edge_scale", where_s, default=1),
        sources=sources,
        worker_start_s=read_number(loader, "worker_start_ms", Path(f"{path}: loader"), positive=False, default=0) * 1e-3,
    )
