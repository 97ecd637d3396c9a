"""The search on a Dask LocalCluster of two worker processes: the same answer as in one
process, each graph and partition built once for the whole cluster."""

import pytest

from gnnsim.search import search

from .conftest import GRID

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield c
    finally:
        c.close()


def test_dask_gives_the_serial_answer_and_builds_shared_work_once(tiny, cluster):
    serial = search(tiny, GRID, workers=0)
    with distributed.Client(cluster, set_as_default=False) as watcher, distributed.get_task_stream(watcher) as ts:
        on_dask = search(tiny, GRID, scheduler=cluster.scheduler_address)
    assert on_dask.points == serial.points
    assert [r.index for r in on_dask.table] == [r.index for r in serial.table]
    assert [r.index for r in on_dask.front] == [r.index for r in serial.front]
    names = [t["key"] if isinstance(t["key"], str) else t["key"][0] for t in ts.data]
    assert sum(n.startswith("gnnsim-graph-") for n in names) == 1
    assert sum(n.startswith("gnnsim-partition-") for n in names) == 4
    assert sum(n.startswith("gnnsim-point-") for n in names) == 8
    assert len({t["worker"] for t in ts.data}) == 2  # both workers took points


def test_a_failing_point_on_dask_is_recorded(tiny, cluster):
    result = search(tiny, ["partition.method=random,nosuch"], scheduler=cluster.scheduler_address)
    status = {r.settings["partition.method"]: r.status for r in result.table}
    assert status == {"random": "ok", "nosuch": "error"}
    assert "unknown partition method" in next(r for r in result.table if r.status == "error").record["error"]


def worker_environment():
    import os
    import signal

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_the_search_own_workers_keep_glibc_malloc_defaults_and_leave_ctrl_c_to_it(monkeypatch):
    from gnnsim.search.cluster import dask_client

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # another cluster in this process may have set it
    with dask_client(1) as client:
        assert client.submit(worker_environment, pure=False).result() == (None, True)
