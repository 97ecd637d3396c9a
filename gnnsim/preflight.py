"""Pre-flight: the memory a job will need, checked before anything large is allocated.

A mistyped size (``training.batch_size: 1000000000000``, ``graph.avg_degree: 1e9``, an
edge-list id of 10^11) would otherwise allocate until the kernel kills the process, on a
machine that others share. The estimate here is a deliberate *lower* bound of the peak,
from the scenario alone, so that a job it refuses could not have run:

- the graph: a generator draws ``num_nodes * avg_degree / 2`` candidate edges and builds
  both directions; measured peaks are 37-60 bytes per stored edge (rmat and chung-lu
  37, sbm 60, ``python -c`` with ``ru_maxrss`` on 400k-2M nodes), so 36 bytes per edge
  plus 32 per node (the CSR's offsets, labels, blocks);
- the sampled batches: a trainer's shuffled seeds (8 bytes each, ``batch_size`` times the
  batches it samples, wrapping around its training nodes) and the largest hop of one
  batch (32 bytes per sampled edge: sources, destinations and the draw's keys);
- a real run (``gnnsim realrun``) also holds every rank's feature matrix and model.

It is compared with the memory available now (``MemAvailable`` in ``/proc/meminfo``,
and the address-space limit where one is set); over it, :class:`ScenarioError` names the
key that drives the estimate, the estimate and what is available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gnnsim.config import Scenario
from gnnsim.errors import ScenarioError
# the host's memory and a graph's least size; gnnsim.graph still imports them from here
from gnnsim.hostmem import available_bytes, fmt_bytes, graph_bytes

SEED_BYTES = 8  # one int64 seed id
SAMPLED_EDGE_BYTES = 32
FEATURE_BYTES = 4  # float32
GENERATORS = ("sbm", "rmat", "chung-lu")


@dataclass(frozen=True)
class Need:
    """One part of a job's memory: how many bytes, which scenario key drives it, and what it is."""

    bytes: float
    key: str
    what: str


def graph_size(scenario: Scenario) -> tuple[float, float, float, str] | None:
    """(nodes, stored edges, training nodes, the key that sets their number) of the
    scenario's graph, where the scenario says (generators and presets); None for a graph
    read from a file."""
    g = scenario.graph
    if g.source in GENERATORS:
        key = "graph.avg_degree" if g.avg_degree > g.num_nodes else "graph.num_nodes"
        return float(g.num_nodes), float(g.num_nodes) * g.avg_degree, g.num_nodes * g.train_fraction, key
    if g.source.startswith("preset:"):
        from gnnsim.graph.presets import PRESETS

        preset = PRESETS.get(g.source.split(":", 1)[1])
        if preset is not None:
            return (preset.nodes * g.scale, 2.0 * preset.undirected_edges * g.scale, preset.train_nodes * g.scale,
                    "graph.scale")
    return None


def needs(scenario: Scenario, trainers: int, *, real_run: bool = False) -> list[Need]:
    """The parts of the memory ``scenario`` needs on ``trainers`` trainers (see the module
    docstring); ``real_run`` adds the ranks' features and models."""
    out = []
    size = graph_size(scenario)
    g, t = scenario.graph, scenario.training
    if size is not None:
        nodes, edges, _, key = size
        chunked = g.source.startswith("preset:") or g.source == "chung-lu"  # built in place, 32-bit ids
        if chunked:
            from gnnsim.graph.chunked_csr import build_bytes
        need = build_bytes(nodes, edges) if chunked else graph_bytes(nodes, edges)
        out.append(Need(need, key, f"the graph ({nodes:.3g} nodes, {edges:.3g} stored edges)"))
    nodes = size[0] if size is not None else None
    if t.sampler in ("neighbor", "full", "labor") and nodes is not None:
        train = max(1.0, size[2] / max(trainers, 1))
        batches = min(scenario.simulation.iterations, max(1, math.ceil(train / t.batch_size)))
        out.append(Need(SEED_BYTES * t.batch_size * batches, "training.batch_size",
                        f"a trainer's seeds ({t.batch_size:,} per batch)"))
        avg_degree = size[1] / max(nodes, 1.0)
        frontier, largest = float(min(t.batch_size, nodes)), 0.0
        for fanout in t.fanouts:
            if t.sampler == "full":
                hop = frontier * avg_degree
            elif t.replace:
                hop = frontier * fanout
            else:
                hop = min(frontier * fanout, size[1])
            largest = max(largest, hop)
            frontier = min(nodes, frontier + hop)
        key = "training.fanouts" if largest > SEED_BYTES * t.batch_size else "training.batch_size"
        out.append(Need(SAMPLED_EDGE_BYTES * largest, key, f"one sampled batch ({largest:.3g} edges in its largest hop)"))
    if real_run:
        if nodes is not None:
            out.append(Need(FEATURE_BYTES * nodes * g.feature_dim * trainers, "graph.feature_dim",
                            f"{trainers} ranks' feature matrices ({nodes:.3g} x {g.feature_dim})"))
        h = scenario.model.hidden_dim
        params = g.feature_dim * h + (len(t.fanouts) - 1) * h * h + h * g.num_classes
        # weights, gradients and two Adam moments per rank
        out.append(Need(4 * FEATURE_BYTES * params * trainers, "model.hidden_dim",
                        f"{trainers} ranks' models ({params:.3g} parameters each)"))
    return out


def check_memory(scenario: Scenario, trainers: int, *, real_run: bool = False, source: str = "") -> None:
    """Raise :class:`ScenarioError` when the job cannot fit in the memory available now,
    naming the key behind the largest part of the estimate.

    >>> from gnnsim.config import scenario_from_dict
    >>> check_memory(scenario_from_dict({"graph": {"num_nodes": 1000}}), 2)   # fits
    >>> check_memory(scenario_from_dict({"training": {"batch_size": 10**15}}), 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gnnsim.errors.ScenarioError: training.batch_size: the job needs at least 8e+15 bytes of memory for a trainer's seeds (1,000,000,000,000,000 per batch), ...
    """
    parts = needs(scenario, trainers, real_run=real_run)
    if not parts:
        return
    total = sum(p.bytes for p in parts)
    avail = available_bytes()
    if total <= avail:
        return
    big = max(parts, key=lambda p: p.bytes)
    where = f"{source}: " if source else ""
    raise ScenarioError(
        f"{where}{big.key}: the job needs at least {fmt_bytes(total)} of memory for {big.what}"
        f"{', and more' if len(parts) > 1 and big.bytes < total else ''}, but {fmt_bytes(avail)} is available. "
        f"Make {big.key} smaller.")
