"""Full-batch training (``training.mode: full-batch``): each trainer computes its whole
partition every iteration (one iteration per epoch), exchanging the boundary (halo)
rows its neighbouring parts need before each layer but the first, and sending the halo
rows' gradients back to their owners layer by layer in backward.
"""

from __future__ import annotations

import numpy as np

from gnnsim.config import Scenario
from gnnsim.graph.graph import Graph
from gnnsim.hardware.profiles import Cluster
from gnnsim.partition.registry import Partition
from gnnsim.workload import kernels as m
from gnnsim.workload.models import get_model
from gnnsim.workload.sampler import all_neighbors
from gnnsim.workload.tasks import Kind, Rows, Stage, Task, Workload, batches_memory, compute_kind, gradient_allreduce


def halo_matrix(graph: Graph, assignment: np.ndarray, num_parts: int) -> np.ndarray:
    """``H[q, r]``: distinct nodes of part q that part r needs as halo (in-neighbours of
    its nodes), i.e. the rows q sends r before each layer.

    >>> from gnnsim.graph.graph import csr_from_edges
    >>> g = Graph(csr_from_edges(np.array([0, 1, 2]), np.array([1, 2, 3]), 4), 2, 2, np.array([0]), np.zeros(4, dtype=np.int64))
    >>> halo_matrix(g, np.array([0, 0, 1, 1]), 2).tolist()  # path 0-1 | 2-3: 1 and 2 cross
    [[0, 1], [1, 0]]
    """
    deg = np.diff(graph.indptr).astype(np.int64)
    dst = np.repeat(np.arange(graph.num_nodes, dtype=np.int64), deg)
    src = graph.indices.astype(np.int64)
    cut = assignment[dst] != assignment[src]
    pairs = np.unique(src[cut] * num_parts + assignment[dst[cut]])
    cells = assignment[pairs // num_parts].astype(np.int64) * num_parts + pairs % num_parts
    return np.bincount(cells, minlength=num_parts * num_parts).reshape(num_parts, num_parts)


def fullbatch_tasks(rank: int, block: tuple[int, int, int], halo: np.ndarray, train_rows: int, scenario: Scenario,
                    graph: Graph, cluster: Cluster, param_count: int) -> list[Task]:
    """One full-batch iteration of trainer ``rank``: per layer halo exchange then compute,
    then per layer from the output down its backward and its halo rows' gradients sent
    back, the all-reduce and the optimizer."""
    t = scenario.training
    spec = get_model(scenario.model.name)
    heads = scenario.model.heads
    num_layers = len(t.fanouts)
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, num_layers)
    dtype_bytes = m.DTYPE_BYTES[scenario.model.dtype]
    kind = compute_kind(cluster)
    forward = [*m.feature_cast(block[0], graph.feature_dim, m.DTYPE_BYTES[scenario.graph.feature_dtype], dtype_bytes),
               *spec.forward_kernels([block] * num_layers, dims, dtype_bytes, heads)]
    backward = spec.backward_kernels([block] * num_layers, dims, train_rows, graph.num_classes, dtype_bytes, heads)
    sent, received = halo[rank, :], halo[:, rank]  # rows this trainer sends / receives per layer

    def of_layer(kernels, layer: int) -> tuple:
        return tuple(k for k in kernels if k.layer == layer)

    chain = []
    for layer in range(num_layers):
        if layer > 0:
            width = dims[layer][0] * dtype_bytes
            chain.append(Task(Stage.HALO, Kind.COLLECTIVE, rows=Rows(tuple(int(x) for x in received), width),
                              bytes=float(sent.sum() * width)))
        chain.append(Task(Stage.FORWARD, kind, kernels=of_layer(forward, layer), layers=1))
    # backward from the output layer (the loss first); each layer's gradients of the halo
    # rows go back to their owners before the layer below computes
    loss = tuple(k for k in backward if k.layer < 0)
    for layer in range(num_layers - 1, -1, -1):
        chain.append(Task(Stage.BACKWARD, kind, kernels=(loss if layer == num_layers - 1 else ()) + of_layer(backward, layer),
                          layers=1))
        if layer > 0:
            width = dims[layer][0] * dtype_bytes
            chain.append(Task(Stage.HALO, Kind.COLLECTIVE, rows=Rows(tuple(int(x) for x in sent), width),
                              bytes=float(received.sum() * width)))
    chain += [
        gradient_allreduce(param_count, spec.param_tensors(num_layers), m.PARAM_BYTES, cluster.num_trainers),
        Task(Stage.OPTIMIZER, kind, kernels=tuple(m.optimizer_kernels(param_count, spec.param_tensors(num_layers), t.optimizer))),
    ]
    return chain


def build_fullbatch_workload(scenario: Scenario, graph: Graph, partition: Partition, cluster: Cluster) -> Workload:
    """Full-batch training: one iteration per epoch, every trainer on its whole partition."""
    t = scenario.training
    n = cluster.num_trainers
    a = partition.assignment
    spec = get_model(scenario.model.name)
    dims = m.layer_dims(graph.feature_dim, scenario.model.hidden_dim, graph.num_classes, len(t.fanouts))
    params = spec.param_count(dims, scenario.model.heads)
    halo = halo_matrix(graph, a, n)
    inner = np.bincount(a, minlength=n)
    edges = np.bincount(a, weights=graph.degrees(), minlength=n).astype(np.int64)
    train = np.bincount(a[graph.train_ids], minlength=n)
    blocks = [(int(inner[r] + halo[:, r].sum()), int(inner[r]), int(edges[r])) for r in range(n)]
    chains = [fullbatch_tasks(r, blocks[r], halo, int(train[r]), scenario, graph, cluster, params) for r in range(n)]
    stats = {"sampled_edges_mean": float(edges.mean()), "input_nodes_mean": float(np.mean([b[0] for b in blocks])),
             "halo_nodes_mean": float(halo.sum(0).mean()), "inner_nodes_mean": float(inner.mean())}
    memory = batches_memory(scenario, graph, cluster, params,
                     [[([blocks[r]] * len(t.fanouts), blocks[r][0], blocks[r][2])] for r in range(n)],
                     [None] * n, graph_on_gpu=True)
    return Workload(scenario, n, 1, 1, [chains], params, [int(x) for x in train], stats, memory,
                    [[0.0] * n], t.prefetch_depth, t.sampler_workers, spec.layer_param_counts(dims, scenario.model.heads))


def fullbatch_halo_nodes(graph: Graph, assignment: np.ndarray, rank: int) -> np.ndarray:
    """The halo of part ``rank``: sorted ids of in-neighbours of its nodes owned by other parts."""
    own = np.flatnonzero(assignment == rank)
    _, nbr = all_neighbors(graph.indptr, graph.indices, own)
    return np.unique(nbr[assignment[nbr] != rank])
