"""Forked workers see arrays in shared memory, and write back into them; one code path without workers."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from gnnsim.graph.forked import shared_empty, worker_pool

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked")


def _square_into(shared: dict, i: int) -> int:
    shared["out"][i] = shared["values"][i] ** 2
    return int(shared["out"][i]) + shared["add"]


def _fail(shared: dict, i: int) -> None:
    raise ValueError(f"task {i}")


@pytest.mark.parametrize("processes", [1, 2])
def test_workers_write_shared_arrays_and_return_small_results(processes):
    values = shared_empty(6, np.int64)
    values[:] = np.arange(6)
    out = shared_empty(6, np.int64)
    assert out.tolist() == [0] * 6  # zero-filled
    with worker_pool(processes, {"values": values, "out": out, "add": 100}) as pool:
        assert pool.map(_square_into, range(3)) == [100, 101, 104]
        assert list(pool.imap(_square_into, range(3, 6))) == [109, 116, 125]
    assert out.tolist() == [0, 1, 4, 9, 16, 25]


def test_a_failing_task_raises_in_the_caller():
    with pytest.raises(ValueError, match="task 1"), worker_pool(2, {}) as pool:
        pool.map(_fail, [1])
