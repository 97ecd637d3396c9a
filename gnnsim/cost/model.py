"""Turn demands into durations: the cost model.

- Compute kernels follow a roofline per kernel class:
  ``t = launch + max(flops / flops_rate, memory time) + first_touch * new output bytes
  + per_item * items`` with the device's effective rates (datasheet x efficiency, or
  fitted by ``gnnsim calibrate``, which adds a cache tier to the memory time, the
  first-touch cost, a fixed cost per item: an edge aggregated, a row gathered, an
  optimizer step, and a lower FLOP rate for GEMMs with a narrow k, n or m).
- CPU sampling costs ``per_batch + per_node * nodes + per_edge * edges``, the per-edge
  cost growing with the graph's size where calibrated, plus its hops, draw rounds and
  duplicate checks (``workload.sampler.sampling_work``) where calibrated.
- Transfers are alpha-beta: ``latency + bytes / bandwidth``.
- The feature exchange is a plan of phases (:meth:`CostModel.fetch_plan`): all-to-alls
  of row counts, ids and rows, with the owners' gathers between them. The gradient
  all-reduce is a ring inside a node and a hierarchical ring across nodes
  (:mod:`gnnsim.cost.collectives` has the closed forms).
- These closed forms are what one collective costs alone. The simulator executes the
  same plans and algorithms as flows on the cluster's topology, so traffic that shares a
  link slows both; with no sharing it reproduces these numbers.
- Every time here is the time *alone*. CPU trainers that compute at the same moment
  share their host's effective cores, which only the simulator knows
  (:mod:`gnnsim.sim.cpu`), as it alone knows which flows share a link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gnnsim.cost.collectives import ALLREDUCE, ALLREDUCE_ALGORITHMS, Fabric
from gnnsim.hardware.profiles import Cluster, KernelRate, Link, SamplerCost
from gnnsim.hardware.software import SoftwareProfile
from gnnsim.hardware.topology import Topology, topology_for
from gnnsim.workload.builder import ID_BYTES, Task
from gnnsim.workload.kernels import Kernel


def _sampler_s(s: SamplerCost, w) -> float:
    """One batch's sampling on one core at sampler costs ``s`` (``w``: the task's ``Sampling``)."""
    return (s.per_batch_s + s.per_node_s * w.nodes + s.edge_cost_s(w.graph_nodes) * w.edges
            + s.per_hop_s * w.hops + s.per_draw_s * w.draws + s.per_check_s * w.checks)


def gemm_shape_efficiency(k_dim, n_dim, k_half, n_half, power=1.0, m_dim=0.0, m_half=0.0):
    """Fraction of the FLOP rate a GEMM reaches: ``1/(1 + (k_half/k)^p) * 1/(1 + (n_half/n)^p)
    * 1/(1 + (m_half/m)^p)`` with ``p = power``, the half-performance sizes of its inner
    dimension, its output width and its output rows (1 for kernels that are not GEMMs,
    whose k and n are 0; ``m_half`` 0, as in profiles fitted before it, leaves m out).
    ``power`` 1 is ``k/(k + k_half) * n/(n + n_half)``; a larger one falls off more steeply
    below the half sizes and saturates sooner above them. Works on numbers and numpy
    arrays alike.

    With p > 1 the time ``d (1 + (half/d)^p)`` of a dimension d would grow again as d
    shrinks below ``half (p - 1)^(1/p)``, as if a narrower GEMM cost more: below that
    size a dimension costs what that size costs (the kernel pads it to its width), so a
    4-column GEMM extrapolated from sweeps that start at 8 is not 100x off.

    >>> gemm_shape_efficiency(8, 128, 8, 0), round(gemm_shape_efficiency(64, 64, 16, 16, 2.0), 3)
    (0.5, 0.886)
    >>> gemm_shape_efficiency(128, 4, 0, 16, 2.0) == gemm_shape_efficiency(128, 16, 0, 16, 2.0) / 4
    True
    >>> gemm_shape_efficiency(128, 128, 0, 0, 1.0, m_dim=8, m_half=8)
    0.5
    """
    if np.ndim(k_dim) == 0 and np.ndim(n_dim) == 0 and np.ndim(m_dim) == 0:  # one kernel: plain floats
        if k_dim <= 0 or n_dim <= 0:
            return 1.0
        rows = _side_efficiency(m_dim, m_half, power) if m_half > 0 and m_dim > 0 else 1.0
        return _side_efficiency(k_dim, k_half, power) * _side_efficiency(n_dim, n_half, power) * rows
    gemm = (np.asarray(k_dim) > 0) & (np.asarray(n_dim) > 0)
    k, n = np.where(gemm, k_dim, 1.0), np.where(gemm, n_dim, 1.0)
    eff = _side_efficiency(k, k_half, power) * _side_efficiency(n, n_half, power)
    if m_half > 0:
        m = np.broadcast_to(np.asarray(m_dim, dtype=float), np.shape(eff))
        eff = eff * np.where(m > 0, _side_efficiency(np.where(m > 0, m, 1.0), m_half, power), 1.0)
    return np.where(gemm, eff, 1.0)


def _side_efficiency(dim, half: float, power: float):
    """One dimension's factor of :func:`gemm_shape_efficiency` (a number or an array of
    dimensions; plain float arithmetic for a number)."""
    if power <= 1.0 or half <= 0:
        return 1.0 / (1.0 + (half / dim) ** power)
    floor = half * (power - 1.0) ** (1.0 / power)  # where d (1 + (half/d)^p) is least
    padded = np.maximum(dim, floor) if np.ndim(dim) else max(dim, floor)
    return dim / padded / (1.0 + (half / padded) ** power)


def gemm_rows(flops, k_dim, n_dim):
    """A GEMM's output rows m from its ``2 m k n`` FLOPs (0 for kernels that are not GEMMs).

    >>> gemm_rows(2 * 64 * 128 * 8, 128, 8), gemm_rows(1e6, 0, 0)
    (64.0, 0.0)
    """
    if np.ndim(flops) == 0 and np.ndim(k_dim) == 0 and np.ndim(n_dim) == 0:
        return float(flops / (2.0 * k_dim * n_dim)) if k_dim > 0 and n_dim > 0 else 0.0
    kn = np.asarray(k_dim, dtype=float) * np.asarray(n_dim, dtype=float)
    return np.where(kn > 0, np.asarray(flops, dtype=float) / (2.0 * np.where(kn > 0, kn, 1.0)), 0.0)


def flops_rate(rate: KernelRate, k: Kernel) -> float:
    """The FLOP rate kernel ``k`` reaches: the class's rate, less for a narrow GEMM."""
    if rate.k_half or rate.n_half or rate.m_half:
        return rate.flops_per_s * gemm_shape_efficiency(k.k_dim, k.n_dim, rate.k_half, rate.n_half, rate.shape_power,
                                                        gemm_rows(k.flops, k.k_dim, k.n_dim), rate.m_half)
    return rate.flops_per_s


def kernel_time(rate: KernelRate, k: Kernel) -> float:
    return (rate.launch_s + max(k.flops / flops_rate(rate, k), rate.memory_time_s(k.bytes))
            + rate.first_touch_s(k) + rate.per_item_s * k.items)


@dataclass(frozen=True)
class Exchange:
    """One all-to-all among all ranks: ``matrix[src, dst]`` bytes (the diagonal stays home)."""

    name: str
    matrix: np.ndarray


@dataclass(frozen=True)
class HostWork:
    """Per-rank host CPU seconds; with ``barrier`` every rank waits for the slowest."""

    name: str
    seconds: np.ndarray
    barrier: bool


class CostModel:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.device = cluster.node.trainer_device
        self.num_ranks = cluster.num_trainers
        self._topology: Topology | None = None

    # -- compute ---------------------------------------------------------------
    def compute_time(self, task: Task) -> float:
        t = sum(kernel_time(self.device.kernel(k.cls), k) for k in task.kernels)
        t += len(task.kernels) * self.device.framework_s(task.stage)  # the host's cost of issuing each kernel
        overhead = self.framework_overhead_s(task.stage)
        if task.layers and self.num_layers:  # a task of some layers (full-batch) pays their share
            overhead *= task.layers / self.num_layers
        if self.software is not None:  # and its work per aggregated edge and row (PyG's GCN/GAT per-edge steps)
            overhead += self.software.aggregate_overhead_s(task.stage, task.kernels)
        return max(t + overhead, 0.0)  # (a calibrated element term may be negative: faster than gnnsim's layer)

    def sample_time(self, task: Task) -> float:
        w = task.sampling
        return (_sampler_s(self.sampler_cost, w)
                + self.framework_overhead_s("sample")  # the framework loader's per-batch work
                + (self.software.loader_overhead_s(w.nodes, w.edges) if self.software is not None else 0.0))

    def bare_sample_time(self, task: Task) -> float:
        """gnnsim's own sampler on the node (``host.sampler``), without the framework's scales or overheads."""
        return _sampler_s(self.cluster.node.sampler, task.sampling)

    def gather_time(self, rows: int, row_bytes: int, table_rows: int = 0) -> float:
        """A host gather of ``rows`` rows from a table of ``table_rows`` rows (0: unknown,
        priced as from a large table). Where the profile has the small-table sweep
        (``Node.host_gather_tables``) the time is interpolated between the two fits by the
        table's bytes: random rows of a table within the caches cost less."""
        if rows <= 0:
            return 0.0
        # the rows are read once and written once into a new matrix (model.gather's demands)
        rows_kernel = Kernel("gather", 0.0, 2.0 * rows * row_bytes, "host_gather", float(rows) * row_bytes, float(rows))
        node = self.cluster.node
        large = kernel_time(node.host_gather, rows_kernel)
        tables = node.host_gather_tables
        if tables is None or table_rows <= 0:
            return large
        w = tables.weight(float(table_rows) * row_bytes, row_bytes)
        return large if w >= 1.0 else w * large + (1.0 - w) * kernel_time(tables.small, rows_kernel)

    def h2d_time(self, task: Task) -> float:
        """The batch's copies to the device: one latency per copy, the bytes at the link's rate."""
        link = self.cluster.node.h2d_link
        return link.transfer_time_s(task.bytes) + link.latency_s * max(0, task.rounds - 1) if link else 0.0

    def cached_rows_time(self, rows: int, row_bytes: int) -> float:
        """Device-side assembly of the rows found in the device cache: their slots and
        positions go up (two small copies), a gather reads them out of the cache and a
        second copy places them into the batch matrix."""
        link = self.cluster.node.h2d_link
        if rows <= 0 or self.device.kind != "gpu" or link is None:
            return 0.0
        return 2 * self.device_gather_time(rows, row_bytes) + 2 * link.transfer_time_s(rows * ID_BYTES)

    def device_gather_time(self, rows: float, row_bytes: float) -> float:
        """Copying ``rows`` rows of ``row_bytes`` on the trainer's device (``index_select``
        or ``index_copy``): a gather kernel, rows read once and written once."""
        rows_kernel = Kernel("gather", 0.0, 2.0 * rows * row_bytes, "device_gather", float(rows) * row_bytes, float(rows))
        return kernel_time(self.device.kernel("gather"), rows_kernel)

    # -- communication -----------------------------------------------------------
    @property
    def topology(self) -> Topology:
        """The cluster's channels and routes (built on first use)."""
        if self._topology is None:
            self._topology = topology_for(self.cluster)
        return self._topology

    def intra_alpha_bw(self) -> tuple[float, float]:
        """Collective alpha (s) and bandwidth (bytes/s) inside a node: the calibrated
        collective library when the profile has one, else the intra-node link."""
        node = self.cluster.node
        if node.collective is not None:
            return node.collective.alpha_s, node.collective.bytes_per_s
        return node.intra_link.latency_s, node.intra_link.bytes_per_s

    def _alltoall_time(self, matrix: np.ndarray) -> float:
        """Time until every rank has sent row r and received column r of ``matrix`` (bytes).

        A pairwise exchange inside each node over the intra-node link and, at the same
        time, one between nodes over the network (node-to-node totals).
        """
        n = matrix.shape[0]
        if n <= 1:
            return 0.0
        per_node = self.cluster.node.trainers
        node_of = np.arange(n) // per_node
        same = node_of[:, None] == node_of[None, :]
        offdiag = ~np.eye(n, dtype=bool)
        intra = np.where(same & offdiag, matrix, 0.0)
        inter = np.where(~same, matrix, 0.0)
        intra_link: Link = self.cluster.node.intra_link
        t_intra = max(intra.sum(1).max(), intra.sum(0).max()) / intra_link.bytes_per_s
        t = intra_link.latency_s * (min(n, per_node) - 1) + t_intra
        if self.cluster.num_nodes > 1:
            nodes = self.cluster.num_nodes
            out_by_node = np.bincount(node_of, weights=inter.sum(1), minlength=nodes)
            in_by_node = np.bincount(node_of, weights=inter.sum(0), minlength=nodes)
            net = self.cluster.network
            t = max(t, net.latency_s * (nodes - 1) + max(out_by_node.max(), in_by_node.max()) / net.bytes_per_s)
        return float(t)

    def fetch_plan(self, tasks: list[Task]) -> list[Exchange | HostWork]:
        """The feature exchange as phases that every rank goes through together.

        :meth:`fetch_times` evaluates this plan in closed form and the simulator executes
        the same plan with flows on the links, so change the exchange here, not there.
        """
        n = len(tasks)
        rows = np.array([t.rows.rows_from for t in tasks], dtype=np.float64).reshape(n, -1)  # [requester, owner]
        np.fill_diagonal(rows, 0.0)
        row_bytes = tasks[0].rows.row_bytes
        served = rows.sum(0)  # rows each owner gathers for the others
        gather = np.vectorize(lambda r: self.gather_time(int(r), row_bytes), otypes=[float])
        # the owner's own rows are gathered from its feature table, of the size the workload says
        tables = np.array([t.rows.table_rows for t in tasks])
        own = np.vectorize(lambda r, n: self.gather_time(int(r), row_bytes, int(n)), otypes=[float])
        local = np.array([t.rows.local_rows for t in tasks])
        return [
            # Three all-to-alls: row counts (one id per peer), the row ids, then the rows.
            Exchange("counts", ID_BYTES * (1.0 - np.eye(n))),
            Exchange("ids", rows * ID_BYTES),
            HostWork("serve", own(served, tables), barrier=True),
            Exchange("rows", rows.T * row_bytes),  # owner -> requester
            # Local rows are gathered and then placed into the batch matrix (two copies; PyG's
            # ``x[batch.n_id]`` gathers into the batch at once: one); received rows are placed once.
            HostWork("local", own(local, tables) + (self._local_copies - 1) * gather(local), barrier=False),
            HostWork("place", gather(rows.sum(1)), barrier=False),
            # rows found in a GPU's feature cache are gathered on the device
            HostWork("cached", np.array([self.cached_rows_time(t.rows.cached_rows, row_bytes) for t in tasks]),
                     barrier=False),
        ]

    def fetch_times(self, tasks: list[Task]) -> list[float]:
        """Per-rank duration of the feature exchange that all ranks enter together, each
        rank's host work at its speed alone (the simulator shares a CPU host's cores among
        the ranks gathering at once, so there it can take longer)."""
        clock = np.zeros(len(tasks))
        for phase in self.fetch_plan(tasks):
            if isinstance(phase, Exchange):
                clock[:] = clock.max() + self._alltoall_time(phase.matrix)
            elif phase.barrier:
                clock[:] = (clock + phase.seconds).max()
            else:
                clock = clock + phase.seconds
        return [float(x) for x in clock]

    def allreduce_algorithm(self, algorithm: str = "auto") -> str:
        """The algorithm ``auto`` stands for: a ring in one node, hierarchical across nodes."""
        if algorithm not in ALLREDUCE_ALGORITHMS:
            raise ValueError(f"all-reduce algorithm must be one of {ALLREDUCE_ALGORITHMS}, got {algorithm!r}")
        if algorithm == "auto":
            return "ring" if self.cluster.num_nodes == 1 else "hierarchical"
        if algorithm == "hierarchical" and self.cluster.num_nodes == 1:
            return "ring"
        return algorithm

    def allreduce_time(self, size_bytes: float, algorithm: str = "auto") -> float:
        """Gradient all-reduce over all trainers: ring inside a node, hierarchical across nodes."""
        alpha, bw = self.intra_alpha_bw()
        net = self.cluster.network
        fabric = Fabric(self.cluster.node.trainers, self.cluster.num_nodes, alpha, bw, net.latency_s, net.bytes_per_s)
        return ALLREDUCE[self.allreduce_algorithm(algorithm)].time(size_bytes, fabric)

    # -- framework overheads (software profiles; added by the hardware catalog, see
    # gnnsim/hardware/software.py). Class-level defaults keep CostModel(cluster) unchanged:
    # no software profile means no framework overhead and the node's own sampler costs.
    software: SoftwareProfile | None = None
    num_layers: int = 0

    def with_software(self, software: SoftwareProfile | None, num_layers: int) -> "CostModel":
        """Charge ``software``'s per-iteration and per-layer host overheads (for a model of
        ``num_layers`` GNN layers) and use its sampler speed. Returns ``self``."""
        self.software, self.num_layers = software, num_layers
        return self

    @property
    def _local_copies(self) -> int:
        """Copies of each local feature row a fetch makes (see :meth:`fetch_plan`)."""
        return 1 if self.software is not None and self.software.framework == "pyg" else 2

    @property
    def worker_start_s(self) -> float:
        """Seconds to start one data-loader worker (the software profile's; 0 without one)."""
        return self.software.worker_start_s if self.software is not None else 0.0

    def framework_overhead_s(self, stage: str) -> float:
        """Framework host time added to ``stage`` (sample, forward, backward); 0 without a profile."""
        return self.software.stage_overhead_s(stage, self.num_layers) if self.software is not None else 0.0

    def ddp_overhead_s(self, stage: str) -> float:
        """DistributedDataParallel's host time per ``forward`` or ``backward`` pass (the
        software profile's ``ddp_*_us``); 0 for other stages or without a profile."""
        if self.software is None:
            return 0.0
        return {"forward": self.software.ddp_forward_s, "backward": self.software.ddp_backward_s}.get(stage, 0.0)

    @property
    def sampler_cost(self) -> SamplerCost:
        """The node's sampler costs as the scenario's framework runs them."""
        base = self.cluster.node.sampler
        return self.software.sampler_cost(base) if self.software is not None else base

    def scaled(self, factors: dict[str, float]) -> "CostModel":
        """A cost model of the same cluster with some resources faster (see :mod:`gnnsim.cost.scaling`)."""
        from gnnsim.cost.scaling import scale_cluster

        return CostModel(scale_cluster(self.cluster, factors)).with_software(self.software, self.num_layers)
