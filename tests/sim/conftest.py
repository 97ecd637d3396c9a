"""Synthetic workloads: real task shapes with sizes drawn from a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from gnnsim.config import Scenario
from gnnsim.workload import kernels as m
from gnnsim.workload.builder import Task, Workload
from gnnsim.workload.tasks import Rows, Sampling

FEATURE_DIM, HIDDEN, CLASSES, LAYERS = 128, 128, 8, 2


def synthetic_workload(cluster, iterations: int, seed: int = 0, *, per_epoch: int | None = None,
                       scale: float = 1.0) -> Workload:
    """GraphSAGE-shaped tasks for every rank of ``cluster`` with random batch sizes."""
    rng = np.random.default_rng(seed)
    n = cluster.num_trainers
    on_gpu = cluster.node.trainer_device.kind == "gpu"
    kind = "gpu_kernel" if on_gpu else "cpu_compute"
    dims = m.layer_dims(FEATURE_DIM, HIDDEN, CLASSES, LAYERS)
    params = m.sage_param_count(FEATURE_DIM, HIDDEN, CLASSES, LAYERS)
    row_bytes = FEATURE_DIM * 4
    tasks = []
    for _ in range(iterations):
        per_rank = []
        for r in range(n):
            seeds = int(rng.integers(64, 256) * scale) + 1
            mid = seeds * int(rng.integers(4, 10))
            inputs = mid * int(rng.integers(3, 6))
            blocks = [(mid, seeds, mid * 2), (inputs, mid, inputs * 2)][::-1]
            rows_from = rng.multinomial(inputs, np.full(n, 1.0 / n))
            chain = [
                Task("sample", "cpu_sample", sampling=Sampling(seeds, nodes=inputs, edges=mid * 2 + inputs * 2)),
                Task("fetch", "collective", rows=Rows(tuple(int(x) for x in rows_from), row_bytes,
                                                      local_rows=int(rows_from[r])),
                     bytes=float(inputs - rows_from[r]) * row_bytes),
            ]
            if on_gpu:
                chain.append(Task("h2d", "transfer", bytes=float(inputs * row_bytes)))
            chain += [
                Task("forward", kind, kernels=tuple(m.sage_forward(blocks, dims))),
                Task("backward", kind, kernels=tuple(m.sage_backward(blocks, dims, seeds, CLASSES))),
                Task("allreduce", "collective", bytes=float(params * 4)),
                Task("optimizer", kind, kernels=tuple(m.optimizer_kernels(params, m.sage_param_tensors(LAYERS), "adam"))),
            ]
            per_rank.append(chain)
        tasks.append(per_rank)
    scenario = Scenario.model_validate({"graph": {"feature_dim": FEATURE_DIM, "num_classes": CLASSES},
                                        "model": {"hidden_dim": HIDDEN}, "training": {"fanouts": [10, 5]}})
    return Workload(scenario, n, per_epoch or iterations, iterations, tasks, params, [1000] * n)


@pytest.fixture
def make_workload():
    return synthetic_workload
