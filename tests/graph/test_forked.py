"""Forked workers see arrays in shared memory, and write back into them; one code path without
workers, taken also where a fork could hang."""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import types

import numpy as np
import pytest

from gnnsim.graph.forked import fork_blocker, shared_empty, worker_pool

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked")


def _square_into(shared: dict, i: int) -> int:
    shared["out"][i] = shared["values"][i] ** 2
    return int(shared["out"][i]) + shared["add"]


def _fail(shared: dict, i: int) -> None:
    raise ValueError(f"task {i}")


def _pid(shared: dict, i: int) -> int:
    return os.getpid()


def _killed(shared: dict, i: int) -> int:
    if i == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
    return i


@pytest.mark.parametrize("processes", [1, 2])
def test_workers_write_shared_arrays_and_return_small_results(processes, forked):
    values = shared_empty(6, np.int64)
    values[:] = np.arange(6)
    out = shared_empty(6, np.int64)
    assert out.tolist() == [0] * 6  # zero-filled
    with worker_pool(processes, {"values": values, "out": out, "add": 100}) as pool:
        assert pool.map(_square_into, range(3)) == [100, 101, 104]
        assert list(pool.imap(_square_into, range(3, 6))) == [109, 116, 125]
    assert out.tolist() == [0, 1, 4, 9, 16, 25]


def test_a_failing_task_raises_in_the_caller_and_no_worker_is_left(forked):
    with pytest.raises(ValueError, match=r"task \d"), worker_pool(2, {}) as pool:
        pool.map(_fail, [0, 1, 2])
    assert multiprocessing.active_children() == []


def test_a_worker_killed_raises_in_the_caller_instead_of_a_hang(forked):
    from concurrent.futures.process import BrokenProcessPool

    faulthandler.dump_traceback_later(60, exit=True)  # a hang ends the test run, not the CI job's clock
    try:
        with pytest.raises(BrokenProcessPool), worker_pool(2, {}) as pool:
            pool.map(_killed, range(4))
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert multiprocessing.active_children() == []


def test_tasks_run_in_other_processes_that_are_gone_afterwards(forked):
    with worker_pool(2, {}) as pool:
        pids = set(pool.map(_pid, range(8)))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert multiprocessing.active_children() == []


def test_no_fork_while_another_thread_runs_or_torch_is_loaded(monkeypatch):
    """A lock another thread holds stays locked in a forked child: the tasks run here instead."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert "other thread" in fork_blocker()
        with worker_pool(2, {}) as pool:
            assert pool.map(_pid, range(3)) == [os.getpid()] * 3
    finally:
        release.set()
        thread.join()
    assert fork_blocker() is None
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert "torch" in fork_blocker()
    with worker_pool(2, {}) as pool:
        assert pool.map(_pid, range(3)) == [os.getpid()] * 3


KILLED_PARENT = """
import os, sys, time
from gnnsim.graph.forked import worker_pool

def _report_and_wait(shared, i):
    print(os.getpid(), flush=True)
    time.sleep(60)

with worker_pool(2, {}) as pool:
    pool.map(_report_and_wait, range(2))
"""


def test_workers_die_with_a_parent_killed_outright(tmp_path):
    """SIGKILL (or SIGTERM) leaves no cleanup to the parent: its workers, which hold the
    shared arrays, must go with it (PR_SET_PDEATHSIG) rather than sleep on as orphans."""
    import subprocess
    import time

    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:  # (a fresh interpreter: no fork_blocker)
            line = parent.stdout.readline()
            if not line:
                break
            workers.append(int(line))
        assert len(workers) == 2
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        parent.kill()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False
