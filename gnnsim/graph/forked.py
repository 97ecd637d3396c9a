"""Both cores for a build: forked workers that share its large arrays instead of copying them.

A chunked build (:mod:`gnnsim.graph.chunked_csr`) draws each chunk of candidate edges
from its own seed and sorts each block of rows on its own, so both can run in other
processes without changing a byte of the result. Large arrays never travel between
processes: they live in anonymous shared memory (:func:`shared_empty`, an ``mmap``)
allocated *before* the workers are forked, so every worker sees them; a worker writes
its chunk or block there and sends back only a count or a block's row offsets. What the
workers read (those arrays, the draw function with its tables) is inherited through the
fork, never pickled.

:func:`worker_pool` gives the same two calls, ``map`` and ``imap`` (in order), whether
it forks or runs each task in the calling process, so the build has one code path.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
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


def shared_empty(size: int, dtype) -> np.ndarray:
    """A zero-filled array in anonymous shared memory: what a process writes, the others forked after see."""
    count = int(size)
    buffer = mmap.mmap(-1, max(count * np.dtype(dtype).itemsize, 1))  # MAP_SHARED | MAP_ANONYMOUS
    return np.frombuffer(buffer, dtype=dtype, count=count)


def _run(job: tuple[Task, Any]) -> Any:
    task, arg = job
    return task(_SHARED, arg)


class _InProcess:
    def __init__(self, shared: dict):
        self.shared = shared

    def map(self, task: Task, args: Iterable) -> list:
        return [task(self.shared, a) for a in args]

    def imap(self, task: Task, args: Iterable) -> Iterator:
        return (task(self.shared, a) for a in args)


class _Forked:
    def __init__(self, pool):
        self.pool = pool

    def map(self, task: Task, args: Iterable) -> list:
        return self.pool.map(_run, [(task, a) for a in args], chunksize=1)

    def imap(self, task: Task, args: Iterable) -> Iterator:
        return self.pool.imap(_run, [(task, a) for a in args], chunksize=1)


@contextmanager
def worker_pool(processes: int, shared: dict):
    """``processes`` forked workers that see ``shared`` (its arrays must come from
    :func:`shared_empty` where workers write them), or the calling process alone when
    ``processes <= 1``. The workers are terminated on leaving, on an error too."""
    if processes <= 1:
        yield _InProcess(shared)
        return
    global _SHARED
    _SHARED = shared
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            yield _Forked(pool)
    finally:
        _SHARED = {}
