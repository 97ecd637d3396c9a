"""Turn demands into durations: the cost model.

- Compute kernels follow a roofline per kernel class:
  ``t = launch + max(flops / flops_rate, bytes / bytes_rate)`` with the device's
  effective rates (datasheet x efficiency, or fitted by ``gnnsim calibrate``).
- CPU sampling costs ``per_batch + per_node * nodes + per_edge * edges``.
- Transfers are alpha-beta: ``latency + bytes / bandwidth``.
- The feature exchange is two all-to-alls (ids out, rows back) with the owners'
  gathers between them; the gradient all-reduce is a ring inside a node and a
  hierarchical ring across nodes.
- CPU trainers that ask for more threads than the node has cores are slowed by the
  oversubscription ratio (they time-share the cores).
"""

from __future__ import annotations

import numpy as np

from gnnsim.hardware.profiles import Cluster, KernelRate, Link
from gnnsim.workload.builder import ID_BYTES, Task
from gnnsim.workload.model import Kernel


def kernel_time(rate: KernelRate, k: Kernel) -> float:
    return rate.launch_s + max(k.flops / rate.flops_per_s, rate.memory_time_s(k.bytes))


def ring_allreduce_time(size_bytes: float, n: int, alpha_s: float, bytes_per_s: float) -> float:
    """Ring all-reduce: 2(n-1) steps of alpha, 2(n-1)/n of the buffer over each link."""
    if n <= 1 or size_bytes <= 0:
        return 0.0
    return 2 * (n - 1) * alpha_s + 2 * (n - 1) / n * size_bytes / bytes_per_s


class CostModel:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        node = cluster.node
        self.device = node.trainer_device
        self.num_ranks = cluster.num_trainers
        oversub = 1.0
        if self.device.kind == "cpu":
            oversub = max(1.0, node.trainers * self.device.threads / node.host_cpu_cores)
        self.cpu_oversubscription = oversub

    # -- compute ---------------------------------------------------------------
    def compute_time(self, task: Task) -> float:
        t = sum(kernel_time(self.device.kernel(k.cls), k) for k in task.kernels)
        return t * (self.cpu_oversubscription if self.device.kind == "cpu" else 1.0)

    def sample_time(self, task: Task) -> float:
        s = self.cluster.node.sampler
        t = s.per_batch_s + s.per_node_s * task.nodes + s.per_edge_s * task.edges
        return t * self.cpu_oversubscription

    def gather_time(self, rows: int, row_bytes: int) -> float:
        if rows <= 0:
            return 0.0
        g = self.cluster.node.host_gather
        return (g.launch_s + g.memory_time_s(2.0 * rows * row_bytes)) * self.cpu_oversubscription

    def h2d_time(self, task: Task) -> float:
        link = self.cluster.node.h2d_link
        return link.transfer_time_s(task.bytes) if link else 0.0

    # -- communication -----------------------------------------------------------
    def _alltoall_time(self, matrix: np.ndarray) -> float:
        """Time until every rank has sent row r and received column r of ``matrix`` (bytes)."""
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
            t += net.latency_s * (nodes - 1) + max(out_by_node.max(), in_by_node.max()) / net.bytes_per_s
        return float(t)

    def fetch_times(self, tasks: list[Task]) -> list[float]:
        """Per-rank duration of the feature exchange that all ranks enter together."""
        n = len(tasks)
        rows = np.array([t.rows_from for t in tasks], dtype=np.float64).reshape(n, -1)  # [requester, owner]
        np.fill_diagonal(rows, 0.0)
        row_bytes = tasks[0].row_bytes
        # Three all-to-alls: row counts (one id per peer), the row ids, then the rows.
        t_counts = self._alltoall_time(np.where(rows >= 0, ID_BYTES, 0.0) * (1 - np.eye(n)))
        t_ids = t_counts + self._alltoall_time(rows * ID_BYTES)
        served = rows.sum(0)  # rows each owner gathers for the others
        t_serve = max(self.gather_time(int(s), row_bytes) for s in served)
        t_rows = self._alltoall_time(rows.T * row_bytes)  # owner -> requester
        shared = t_ids + t_serve + t_rows
        # Local rows are gathered and then placed into the batch matrix (two copies);
        # received rows are placed once.
        return [shared + 2 * self.gather_time(t.local_rows, row_bytes) + self.gather_time(int(rows[r].sum()), row_bytes)
                for r, t in enumerate(tasks)]

    def allreduce_time(self, size_bytes: float) -> float:
        """Gradient all-reduce over all trainers: ring inside a node, hierarchical across nodes."""
        node = self.cluster.node
        per_node, nodes = node.trainers, self.cluster.num_nodes
        if node.collective is not None:
            alpha, bw = node.collective.alpha_s, node.collective.bytes_per_s
        else:
            alpha, bw = node.intra_link.latency_s, node.intra_link.bytes_per_s
        if nodes == 1:
            return ring_allreduce_time(size_bytes, per_node, alpha, bw)
        # reduce-scatter inside, ring over the network on the node's shard, all-gather inside
        inside = ring_allreduce_time(size_bytes, per_node, alpha, bw)
        net = self.cluster.network
        across = ring_allreduce_time(size_bytes, nodes, net.latency_s, net.bytes_per_s)
        return inside + across
