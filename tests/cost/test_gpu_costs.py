"""The cost model's GPU-trainer terms: the batch's copies, cached rows, framework cost per kernel."""

from dataclasses import replace

import numpy as np
import pytest

from gnnsim.cost.model import CostModel
from gnnsim.hardware.profiles import load_cluster
from gnnsim.workload.builder import ID_BYTES, Task
from gnnsim.workload.tasks import Rows
from gnnsim.workload.kernels import Kernel


def gpu_cost(**device_changes) -> CostModel:
    cluster = load_cluster("dgx-h100-1", trainers_per_node=1)
    if device_changes:
        node = replace(cluster.node, trainer_device=replace(cluster.node.trainer_device, **device_changes))
        cluster = replace(cluster, node=node)
    return CostModel(cluster)


def test_each_copy_of_a_batch_pays_the_link_latency():
    cost = gpu_cost()
    link = cost.cluster.node.h2d_link
    one = cost.h2d_time(Task("h2d", "transfer", bytes=1e6, rounds=1))
    six = cost.h2d_time(Task("h2d", "transfer", bytes=1e6, rounds=6))
    assert one == pytest.approx(link.transfer_time_s(1e6))
    assert six - one == pytest.approx(5 * link.latency_s)


def test_cached_rows_cost_a_device_gather_on_gpus_only():
    cost = gpu_cost()
    assert cost.cached_rows_time(0, 400) == 0.0
    t = cost.cached_rows_time(10_000, 400)
    link = cost.cluster.node.h2d_link
    assert t > 2 * link.transfer_time_s(10_000 * ID_BYTES)  # the id uploads plus two gathers
    assert CostModel(load_cluster("localhost-cpu")).cached_rows_time(10_000, 400) == 0.0
    tasks = [Task("fetch", "collective", rows=Rows((50,), 400, local_rows=50, cached_rows=10_000))]
    cached = [p for p in cost.fetch_plan(tasks) if p.name == "cached"]
    assert len(cached) == 1 and cached[0].seconds[0] == pytest.approx(t)


def test_framework_cost_is_charged_per_kernel_of_its_stage():
    kernels = tuple(Kernel("elementwise", 1e3, 4e3) for _ in range(7))
    plain, charged = gpu_cost(), gpu_cost(framework_s_per_kernel={"forward": 50e-6, "backward": 60e-6})
    for stage, per_kernel in (("forward", 50e-6), ("backward", 60e-6), ("optimizer", 0.0)):
        task = Task(stage, "gpu_kernel", kernels=kernels)
        assert charged.compute_time(task) - plain.compute_time(task) == pytest.approx(7 * per_kernel)


def test_batch_copy_task_counts_indices_and_copies():
    from gnnsim.workload.builder import h2d_task
    from gnnsim.workload.sampler import Block, MiniBatch

    blocks = [Block(np.arange(30), 10, np.arange(20) % 30, np.arange(20) % 10),
              Block(np.arange(10), 4, np.arange(8) % 10, np.arange(8) % 4)]
    mb = MiniBatch(seeds=np.arange(4), blocks=blocks)
    task = h2d_task(mb, 30 * 400, cached=False)
    assert task.bytes == 30 * 400 + ID_BYTES * (2 * 28 + 4)
    assert task.rounds == 2 * 2 + 1 + 1  # index pairs, seeds, rows
    assert h2d_task(mb, 0, cached=True).rounds == 5  # every row cached: no row copy
    assert h2d_task(mb, 400, cached=True).rounds == 7  # rows and their positions
