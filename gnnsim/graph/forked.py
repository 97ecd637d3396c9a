"""Every core for the long passes: forked workers that share the large arrays instead of copying them.

A chunked build (:mod:`gnnsim.graph.chunked_csr`) draws each chunk of candidate edges
from its own seed and sorts each block of rows on its own, so both can run in other
processes without changing a byte of the result. Large arrays never travel between
processes: they live in anonymous shared memory (:func:`shared_empty`, an ``mmap``)
allocated *before* the workers are forked, so every worker sees them; a worker writes
its chunk or block there and sends back only a count or a block's row offsets. What the
workers read (those arrays, the draw function with its tables) is inherited through the
fork, never pickled. The partition metrics (:mod:`gnnsim.partition.metrics`, blocks of
rows) and the trainers' sampling (:func:`gnnsim.workload.batches.trainer_counts`, one
trainer a task) use the same pool: their sums and per-trainer generators do not depend
on which process ran what.

:func:`worker_pool` gives the same two calls, ``map`` and ``imap`` (in order), whether
it forks or runs each task in the calling process, so the build has one code path;
its ``workers`` says how many tasks run at once (1 in the calling process), for a step
that splits its work only where the split pays.
It runs them in the calling process also whenever a fork could hang (:func:`fork_blocker`):
while another Python thread runs (a lock it holds would stay locked in the child for
ever; callers above the cache layer join its background saves first), or once torch is
loaded (its intra-op thread pool may be running): a slower run, never a hung one.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

Task = Callable[[dict, Any], Any]  # a module-level function of (shared, task): picklable by name

_SHARED: dict = {}  # what forked workers read (inherited through the fork, not pickled)


def usable_cores() -> int:
    """Cores this process may run on where ``fork`` exists, else 1 (no worker processes)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fork_blocker() -> str | None:
    """Why forking now could hang or cannot be done, or None when it is safe."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return "this platform has no fork"
    if threading.active_count() > 1:
        return f"{threading.active_count() - 1} other thread(s) running"
    if "torch" in sys.modules:
        return "torch is loaded (its thread pool may be running)"
    return None


def shared_empty(size: int, dtype) -> np.ndarray:
    """A zero-filled array in anonymous shared memory: what a process writes, the others forked after see."""
    count = int(size)
    buffer = mmap.mmap(-1, max(count * np.dtype(dtype).itemsize, 1))  # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buffer, dtype=dtype, count=count)


def kill_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (``prctl(PR_SET_PDEATHSIG)``;
    elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass


def pid_running(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_start(parent: int) -> None:
    # a worker must not outlive a parent killed by SIGTERM or SIGKILL: it holds the shared
    # arrays (GBs) and the parent's output pipes
    kill_with_parent()
    if os.getppid() != parent:  # the parent died before the request
        os._exit(1)


def _run(job: tuple[Task, Any]) -> Any:
    task, arg = job
    return task(_SHARED, arg)


class _InProcess:
    workers = 1  # tasks run one after another

    def __init__(self, shared: dict):
        self.shared = shared

    def map(self, task: Task, args: Iterable) -> list:
        return [task(self.shared, a) for a in args]

    def imap(self, task: Task, args: Iterable) -> Iterator:
        return (task(self.shared, a) for a in args)


class _Forked:
    def __init__(self, executor: ProcessPoolExecutor, workers: int):
        self.executor, self.workers = executor, workers

    def map(self, task: Task, args: Iterable) -> list:
        return list(self.imap(task, args))

    def imap(self, task: Task, args: Iterable) -> Iterator:
        return self.executor.map(_run, [(task, a) for a in args])


@contextmanager
def worker_pool(processes: int, shared: dict):
    """``processes`` forked workers that see ``shared`` (its arrays must come from
    :func:`shared_empty` where workers write them), or the calling process alone when
    ``processes <= 1`` or a fork could hang (:func:`fork_blocker`).

    The workers fork at the first task and are gone on leaving. A task's exception is
    raised in the caller (the tasks not started are dropped), and a worker that dies (the
    out-of-memory killer) raises ``BrokenProcessPool`` instead of leaving the caller
    waiting for ever, as ``multiprocessing.Pool`` would; a caller killed outright (SIGTERM,
    SIGKILL) takes its workers with it (:func:`kill_with_parent`).
    """
    if processes <= 1 or fork_blocker() is not None:
        yield _InProcess(shared)
        return
    global _SHARED
    _SHARED = shared
    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_worker_start, initargs=(os.getpid(),))
    try:
        yield _Forked(executor, processes)
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        executor.shutdown(wait=True)
    finally:
        _SHARED = {}
