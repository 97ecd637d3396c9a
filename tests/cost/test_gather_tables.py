"""The host gather priced by the size of the feature table it reads (issue 22: PyG's
``x[n_id]`` from an 8,000-row table was priced as a gather from the calibration's
60,000-row table)."""

from dataclasses import replace

import numpy as np
import pytest

from gnnsim.cost.model import CostModel
from gnnsim.hardware.cluster import KernelRate, TableGather
from gnnsim.hardware.profiles import load_cluster
from gnnsim.hardware.software import load_software
from gnnsim.workload.tasks import Kind, Rows, Stage, Task

LARGE = KernelRate(20e-6, 1e18, 10e9, per_item_s=15e-9)
SMALL = KernelRate(20e-6, 1e18, 30e9, per_item_s=8e-9)
ROW = 256  # 64 float32 features


def cost(tables: TableGather | None, framework: str = "torch") -> CostModel:
    c = load_cluster("localhost-cpu")
    c = replace(c, node=replace(c.node, host_gather=LARGE, host_gather_tables=tables))
    software = load_software(framework, None, "graphsage") if framework != "torch" else None
    return CostModel(c).with_software(software, 2)


def test_a_small_table_gathers_at_the_small_tables_rate():
    tables = TableGather(SMALL, 2 * 2**20, 60_000)
    model = cost(tables)
    large, small = model.gather_time(5000, ROW), cost(TableGather(LARGE, 1, 1)).gather_time(5000, ROW)
    assert model.gather_time(5000, ROW, table_rows=8000) < 0.8 * model.gather_time(5000, ROW)
    assert model.gather_time(5000, ROW, table_rows=4000) == model.gather_time(5000, ROW, table_rows=8000)  # at or below
    assert model.gather_time(5000, ROW, table_rows=60_000) == pytest.approx(large)  # the large sweep's table
    assert model.gather_time(5000, ROW, table_rows=2_000_000) == pytest.approx(large)  # no extrapolation past it
    assert model.gather_time(5000, ROW, table_rows=0) == large == small  # unknown table: as before
    between = model.gather_time(5000, ROW, table_rows=20_000)
    assert model.gather_time(5000, ROW, table_rows=8000) < between < large


def test_without_a_small_table_sweep_the_gather_is_priced_as_before():
    model = cost(None)
    assert model.gather_time(5000, ROW, table_rows=8000) == model.gather_time(5000, ROW)


def test_pygs_own_gather_reads_the_whole_graphs_table_once():
    tables = TableGather(SMALL, 2 * 2**20, 60_000)
    task = Task(Stage.FETCH, Kind.COLLECTIVE, rows=Rows((5000,), ROW, local_rows=5000, table_rows=8000))
    pyg, own = cost(tables, "pyg"), cost(tables)
    local = {p.name: p for p in pyg.fetch_plan([task])}["local"].seconds[0]
    assert local == pytest.approx(pyg.gather_time(5000, ROW, 8000))  # one copy, from the small table
    # gnnsim's own trainer: the gather from its table, then the placement into the batch
    own_local = {p.name: p for p in own.fetch_plan([task])}["local"].seconds[0]
    assert own_local == pytest.approx(own.gather_time(5000, ROW, 8000) + own.gather_time(5000, ROW))


def test_the_workload_says_how_large_each_trainers_table_is():
    from types import SimpleNamespace

    from gnnsim.workload.builder import table_rows

    graph = SimpleNamespace(num_nodes=10)  # all it reads
    part_sizes = np.bincount(np.array([0, 1, 1, 0, 1, 1, 1, 0, 1, 1]))
    assert table_rows(graph, part_sizes, 1, "minibatch") == 7
    assert table_rows(graph, part_sizes, 0, "minibatch") == 3
    assert table_rows(graph, part_sizes, 1, "single-node-multigpu") == graph.num_nodes == 10


def test_a_calibrated_small_table_block_is_read(catalog):
    catalog.edit("calibrated/localhost.yaml", lambda d: d["host_gather"].update(
        table_rows=60_000, small_table={"launch_us": 20.0, "gbps": 30.0, "per_item_ns": 8.0, "table_mb": 2.097152}))
    tables = load_cluster("localhost-cpu", device_profile="calibrated/localhost").node.host_gather_tables
    assert tables is not None and tables.large_table_rows == 60_000 and tables.small_table_bytes == 2.097152e6
    assert tables.small.per_item_s == pytest.approx(8e-9) and tables.small.bytes_per_s == pytest.approx(30e9)
