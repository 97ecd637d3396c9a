"""The whole pipeline in one call: scenario -> graph -> partition -> workload -> sim -> analysis."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from gnnsim.analysis.breakdown import Analysis, analyze
from gnnsim.cache.graphs import cached_partition
from gnnsim.config import Scenario
from gnnsim.cost.dtypes import cluster_for_dtype
from gnnsim.cost.model import CostModel
from gnnsim.errors import PartitionError, ProfileError, ScenarioError
from gnnsim.graph.build import build_graph
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster, load_cluster
from gnnsim.hardware.schema import existing_profile_path
from gnnsim.hardware.software import load_software
from gnnsim.partition.metrics import PartitionMetrics, metrics_of
from gnnsim.partition.registry import Partition, cache_token, partition_graph
from gnnsim.preflight import check_memory
from gnnsim.progress import progress
from gnnsim.sim.engine import Timeline, simulate_workload
from gnnsim.workload.builder import Workload, build_workload
from gnnsim.workload.frameworks import dgl_sampler_edge_factor
from gnnsim.workload.loader import host_memory_for, training_gpus


@dataclass
class SimResult:
    scenario: Scenario
    cluster: Cluster
    partition_metrics: PartitionMetrics
    workload: Workload
    timeline: Timeline
    analysis: Analysis
    sensitivity: dict[str, dict[str, Any]] | None = None  # resource class -> epoch time if 2x faster
    cost: CostModel | None = None  # the cost model it ran with (what-if analyses re-simulate with it)
    allreduce: str = "auto"  # the all-reduce algorithm asked for (simulation.allreduce or the call's override)

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {
            "scenario": self.scenario.to_dict(),
            "cluster": {"name": self.cluster.name, "num_nodes": self.cluster.num_nodes,
                        "trainers": self.cluster.num_trainers, "device": self.cluster.node.trainer_device.name,
                        "price_per_hour": self.cluster.price_per_hour},
            "epoch_time_s": a.epoch_time_s,
            "iteration_time_s": a.iteration_time_s,
            "iteration_time_std_s": a.iteration_time_std_s,
            "iterations_per_epoch": a.iterations_per_epoch,
            "simulated_iterations": a.simulated_iterations,
            "extrapolated": a.extrapolated,
            **({"epoch_fixed_s": a.epoch_fixed["total_s"], "epoch_fixed": a.epoch_fixed} if a.epoch_fixed else {}),
            "breakdown": a.breakdown,
            "bottleneck": a.bottleneck,
            # partitioning wall time is left out: the same scenario and seed give byte-identical JSON
            "partition": {k: v for k, v in self.partition_metrics.to_dict().items() if k != "time_s"},
            "workload": {"param_count": self.workload.param_count, "train_per_rank": self.workload.train_per_rank,
                         **self.workload.batch_stats},
            "memory": self.workload.memory or None,  # GPU footprint vs capacity (workload/memory.py)
            "host_memory": self.workload.host_memory or None,  # each machine's RAM: features, structure
            "cost_per_epoch_usd": self.cluster.price_per_hour * a.epoch_time_s / 3600.0,
            "epoch_time_ci95_s": list(a.epoch_time_ci95_s),
            "makespan_s": a.makespan_s,
            "critical_path": a.critical_path,
            "utilization": a.utilization,
            "sensitivity": self.sensitivity,
            "simulator": {"flows": self.timeline.flows, "events": self.timeline.events,
                          "prefetch_depth": self.timeline.prefetch_depth,
                          # DDP as users run it (gnnsim.sim.ddp); with the barrier, results read as they did
                          **({"iteration_barrier": False} if not self.timeline.iteration_barrier else {}),
                          # the algorithm that ran, when one was asked for (auto leaves results as they were)
                          **({"allreduce": self.cost.allreduce_algorithm(self.allreduce)}
                             if self.allreduce != "auto" and self.cost is not None else {})},
        }

    def to_csv(self) -> str:
        """The per-stage breakdown as CSV (one row per stage, then a total row)."""
        from gnnsim.report.files import breakdown_csv

        return breakdown_csv(self)

    def to_chrome_trace(self) -> str:
        """The timeline as Chrome/Perfetto trace JSON (one process per node, one track per resource).

        Link tracks are there when the run recorded them: ``simulate(s, record_links=True)``
        (the CLI's ``--trace`` does)."""
        from gnnsim.report.trace import chrome_trace_json

        return chrome_trace_json(self.timeline)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def cluster_for(scenario: Scenario) -> Cluster:
    c = scenario.cluster
    _known_profile("clusters", c.profile, "cluster.profile")
    if c.device_profile:
        _known_profile("devices", c.device_profile, "cluster.device_profile")
    cluster = load_cluster(c.profile, num_nodes=c.num_nodes, trainers_per_node=c.trainers_per_node,
                           device_profile=c.device_profile)
    trainers = training_gpus(scenario, cluster)  # the node's GPUs less training.sampler_gpus
    if trainers != cluster.node.trainers:
        cluster = load_cluster(c.profile, num_nodes=c.num_nodes, trainers_per_node=trainers,
                               device_profile=c.device_profile)
    return cluster_for_dtype(cluster, scenario.model.dtype)  # GEMMs at model.dtype's peak (cost/dtypes.py)


def _known_profile(kind: str, name: str, key: str) -> None:
    """An unknown profile the scenario names is the scenario's error: it names the key
    (``calibrated/NAME`` is a calibration's profile; a broken profile's own error names its file)."""
    if name.startswith("calibrated/"):
        kind, name = "calibrated", name.split("/", 1)[1]
    try:
        existing_profile_path(kind, name)
    except ProfileError as exc:
        raise ScenarioError(f"{key}: {exc}") from None


def software_for(scenario: Scenario):
    """The scenario's framework profile: ``hwprofiles/software/FRAMEWORK.yaml``, with the
    numbers its calibrated device profile measured for that framework and its model in
    place of the estimates (:func:`gnnsim.hardware.software.load_software`)."""
    software = load_software(scenario.training.framework, scenario.cluster.device_profile, scenario.model.name)
    factor = dgl_sampler_edge_factor(scenario.training)  # an older DGL sampler generation
    if factor != 1.0:
        software = replace(software, sampler_edge_scale=software.sampler_edge_scale * factor)
    return software


def partition_and_metrics_for(scenario: Scenario, graph: Graph, num_ranks: int) -> tuple[Partition, PartitionMetrics]:
    """:func:`partition_for` and its metrics, from the on-disk cache when the graph came from it."""
    partition = None

    def compute() -> tuple[Partition, PartitionMetrics]:
        part = partition if partition is not None else partition_for(scenario, graph, num_ranks)
        return part, metrics_of(graph, part)  # with partitioning time and vertex-cut replication

    if graph.cache_key is None or scenario.partition.method.startswith("file:"):
        return compute()
    parts = scenario.partition.num_parts or num_ranks
    if parts != num_ranks:
        partition = partition_for(scenario, graph, num_ranks)  # raises the scenario error
    with _named_key():
        token = cache_token(graph, scenario.partition.method)
    return cached_partition(graph, scenario.partition.method, parts, scenario.simulation.seed, compute, token=token)


def partition_for(scenario: Scenario, graph: Graph, num_ranks: int) -> Partition:
    parts = scenario.partition.num_parts or num_ranks
    if parts != num_ranks:
        raise ScenarioError(f"partition.num_parts is {parts} but the cluster has {num_ranks} trainers; "
                            "each trainer owns one part: remove partition.num_parts or make them equal")
    if parts > graph.num_nodes:
        key = "partition.num_parts" if scenario.partition.num_parts else "cluster.num_nodes x cluster.trainers_per_node"
        raise ScenarioError(f"{key}: {parts} trainers, each owning a part, but the graph has only {graph.num_nodes:,} "
                            "nodes; make the cluster smaller or the graph larger (graph.num_nodes)")
    method = scenario.partition.method
    if method.startswith("file:"):
        # an assignment file named in the scenario is relative to the scenario's folder
        method = f"file:{scenario.resolve(method[len('file:'):])}"
    with _named_key():
        return partition_graph(graph, method, parts, seed=scenario.simulation.seed)


@contextmanager
def _named_key():
    """A partitioner's error names the scenario key the user sets: ``partition.method``."""
    try:
        yield
    except PartitionError as exc:
        raise PartitionError(f"partition.method: {exc}") from None


def simulate(scenario: Scenario, *, sensitivity: bool = True, record_links: bool = False,
             allreduce_algorithm: str | None = None, graph: Graph | None = None) -> SimResult:
    """Run the whole pipeline for ``scenario`` and return its :class:`SimResult`.

    ``sensitivity`` also re-simulates the same batches with each resource class 2x
    faster; ``allreduce_algorithm`` overrides the scenario's ``simulation.allreduce``;
    ``record_links`` keeps per-link traffic spans for the Chrome trace;
    ``graph`` is the scenario's graph when the caller already built it (many
    predictions on one graph build it once).
    """
    if allreduce_algorithm is None:
        allreduce_algorithm = scenario.simulation.allreduce
    cluster = cluster_for(scenario)
    software = software_for(scenario)  # framework overheads (torch adds none)
    # progress on stderr at each stage (gnnsim.progress); the simulation reports its own iterations
    if graph is None:
        check_memory(scenario, cluster.num_trainers)  # before anything large is allocated
        with progress("graph"):
            graph = build_graph(scenario)
    with progress(f"partition: {scenario.partition.method}, {cluster.num_trainers} parts"):
        partition, metrics = partition_and_metrics_for(scenario, graph, cluster.num_trainers)
    with progress("workload"):
        workload = build_workload(scenario, graph, partition, cluster)
        workload.host_memory = host_memory_for(scenario, graph, partition.assignment, cluster)
    cost = CostModel(cluster).with_software(software, len(scenario.training.fanouts))
    timeline = simulate_workload(workload, cost, record_links=record_links, allreduce_algorithm=allreduce_algorithm)
    analysis = analyze(timeline, workload.num_ranks, workload.iterations_per_epoch)
    sens = None
    if sensitivity:
        from gnnsim.analysis.sensitivity import sensitivity as run_sensitivity

        with progress("sensitivity: each resource class 2x faster"):
            sens = run_sensitivity(workload, cost, analysis.epoch_time_s, allreduce_algorithm=allreduce_algorithm)
    return SimResult(scenario, cluster, metrics, workload, timeline, analysis, sens, cost, allreduce_algorithm)
