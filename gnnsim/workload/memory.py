"""GPU and host memory footprints of a training job, compared with the memory they have.

What a trainer keeps in device memory at the peak of an iteration (after the forward
pass, when every activation autograd saved is still alive):

- ``parameters``, ``gradients``: ``param_count x param bytes`` each (float32 also under
  mixed precision: ``model.dtype`` float16/bfloat16 shrinks activations, not these);
- ``optimizer_state``: Adam keeps two moments per parameter (``2 x`` parameters), plain
  SGD none;
- ``cached_features``: the feature cache (:mod:`gnnsim.workload.cache`);
- ``input_features``: the batch's input rows (full-batch: inner and halo rows), at
  ``graph.feature_dtype``'s bytes;
- ``activations``: per layer, the tensors the backward pass needs, for the largest
  simulated batch (see :func:`activation_elements`);
- ``graph``: the sampled blocks' edge indices (two int64 per edge) or, in full-batch
  training, the partition's edges that live on the GPU for the whole run; a placed GPU
  sampler's whole graph structure (:func:`structure_bytes`, added by
  :func:`gnnsim.workload.loader.resident_bytes`).

This is an estimate from tensor shapes, without allocator fragmentation or framework
workspaces (cuBLAS, NCCL buffers), so a job within a few percent of the capacity may still
fail; the report says so.
"""

from __future__ import annotations

from gnnsim.workload.models import get_model

INDEX_BYTES = 8  # int64 edge indices
ADAM_STATE_PER_PARAM = 2  # exp_avg and exp_avg_sq


def structure_bytes(num_nodes: int, num_edges: int) -> int:
    """Bytes of a CSR graph structure: ``indptr`` (N + 1 offsets) and ``indices`` (E ids).

    >>> structure_bytes(3, 4)
    64
    """
    return INDEX_BYTES * (num_nodes + 1 + num_edges)


def activation_elements(model: str, block: tuple[int, int, int], i: int, o: int, last: bool, heads: int = 1) -> int:
    """Elements one layer saves for backward on a block of (num_src, num_dst, num_edges):
    the model's own formula in the registry (:data:`gnnsim.workload.models.MODELS`).

    >>> activation_elements("graphsage", (10, 4, 20), 8, 2, False)
    48
    """
    return get_model(model).activations(block, i, o, last, heads)


def footprint(model: str, dims: list[tuple[int, int]], blocks: list[tuple[int, int, int]], heads: int,
              param_count: int, optimizer: str, dtype_bytes: int, input_rows: int, row_bytes: int,
              cache_bytes: int, graph_edges_on_gpu: int, param_bytes: int | None = None) -> dict[str, int]:
    """Bytes by category for one trainer (the categories of the module docstring).

    >>> fp = footprint("graphsage", [(8, 2)], [(10, 4, 20)], 1, 34, "adam", 4, 10, 32, 0, 20)
    >>> fp["parameters"], fp["optimizer_state"], fp["activations"], fp["graph"], fp["input_features"]
    (136, 272, 192, 320, 320)
    """
    last = len(dims) - 1
    acts = sum(activation_elements(model, b, i, o, layer == last, heads)
               for layer, (b, (i, o)) in enumerate(zip(blocks, dims)))
    params = param_count * (dtype_bytes if param_bytes is None else param_bytes)
    parts = {
        "parameters": params,
        "gradients": params,
        "optimizer_state": ADAM_STATE_PER_PARAM * params if optimizer == "adam" else 0,
        "cached_features": int(cache_bytes),
        "input_features": int(input_rows) * int(row_bytes),
        "activations": int(acts) * dtype_bytes,
        "graph": 2 * INDEX_BYTES * int(graph_edges_on_gpu),
    }
    return {k: int(v) for k, v in parts.items()}


def memory_report(per_rank: list[dict[str, int]], capacity_bytes: float, device_kind: str) -> dict:
    """The result's ``memory`` section: peak per trainer, capacity, whether it fits."""
    peaks = [int(sum(p.values())) for p in per_rank]
    worst = max(range(len(peaks)), key=lambda r: peaks[r]) if peaks else 0
    return {
        "peak_bytes": peaks,
        "capacity_bytes": int(capacity_bytes),
        "fits": bool(all(p <= capacity_bytes for p in peaks)),
        "device_kind": device_kind,
        "worst_rank": worst,
        "by_category": per_rank[worst] if per_rank else {},
        "note": "estimate from tensor shapes; allocator fragmentation and library workspaces not included",
    }


def host_footprint(graph, assignment, num_ranks: int, trainers_per_node: int, *, row_bytes: int,
                   whole_table: bool, features_on_host: bool, structure_on_host: bool,
                   replicated_structure: bool) -> list[dict[str, int]]:
    """Bytes each machine's host memory holds for the whole run, by category.

    ``host_features``: the feature rows of the machine's trainers' parts (the whole table
    where every trainer reads all of it: ``whole_table``), unless the features live on the
    GPUs. ``host_graph``: the CSR structure (int64 offsets and ids), whole where the
    graph store is replicated, else the in-edges of the machine's rows, unless a GPU
    sampler holds it. Lower bounds: halo copies, labels, loader buffers and the
    framework's own copies are left out.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> g = SimpleNamespace(num_nodes=4, num_edges=6, indptr=np.array([0, 1, 3, 5, 6]))
    >>> host_footprint(g, np.array([0, 0, 1, 1]), 2, 1, row_bytes=10, whole_table=False,
    ...                features_on_host=True, structure_on_host=True, replicated_structure=False)
    [{'host_features': 20, 'host_graph': 48}, {'host_features': 20, 'host_graph': 48}]
    """
    import numpy as np

    machines = -(-num_ranks // max(1, trainers_per_node))
    node_of_part = np.minimum(np.arange(num_ranks) // max(1, trainers_per_node), machines - 1)
    part = np.asarray(assignment, dtype=np.int64) % max(1, num_ranks)
    rows = np.bincount(node_of_part[part], minlength=machines)
    in_edges = np.bincount(node_of_part[part], weights=np.diff(np.asarray(graph.indptr, dtype=np.int64)),
                           minlength=machines)
    out = []
    for k in range(machines):
        table_rows = graph.num_nodes if whole_table else int(rows[k])
        structure = (structure_bytes(graph.num_nodes, graph.num_edges) if replicated_structure
                     else INDEX_BYTES * (int(rows[k]) + 1 + int(in_edges[k])))
        out.append({"host_features": table_rows * row_bytes if features_on_host else 0,
                    "host_graph": structure if structure_on_host else 0})
    return out


def host_memory_report(per_machine: list[dict[str, int]], capacity_bytes: float | None) -> dict:
    """The result's ``host_memory`` section: what each machine holds against its RAM
    (``fits`` is None where the node profile gives no ``host_memory_gib``)."""
    peaks = [int(sum(p.values())) for p in per_machine]
    worst = max(range(len(peaks)), key=lambda k: peaks[k]) if peaks else 0
    return {
        "peak_bytes": peaks,
        "capacity_bytes": None if capacity_bytes is None else int(capacity_bytes),
        "fits": None if capacity_bytes is None else bool(all(p <= capacity_bytes for p in peaks)),
        "worst_node": worst,
        "by_category": per_machine[worst] if per_machine else {},
        "note": "lower bound: feature rows and CSR structure only (no halo copies, labels or loader buffers)",
    }
