"""Where a search runs: a Dask client on a local cluster of its own, or on one that exists.

By default a search starts a ``LocalCluster`` of one single-threaded worker *process*
per core of this machine (the simulator is Python: threads in one process would share
one interpreter lock), and shuts it down when the search ends, however it ends. With
``scheduler="tcp://HOST:PORT"`` it connects to a running cluster instead (its workers
need gnnsim installed and, for graphs read from files, the same paths) and leaves the
cluster running. ``dask[distributed]`` is an optional dependency (``pip install
'gnnsim[search]'``); a search with ``workers=0`` runs in this process without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

from gnnsim.search.errors import SchedulerError


# Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand freed memory back to
# the OS soon). Setting it pins glibc's mmap threshold at 128 KiB, so each of the
# sampler's large numpy temporaries is a fresh mmap: a point ran 2-3x slower on a worker
# than in one process (178k minor page faults a point against 10k, 0.4 s of system time
# against 0.02 s, ogbn-products at scale 0.05). The search's own workers start without it.
KEEP_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SchedulerError("search on Dask needs dask[distributed], which is not installed: pip install "
                             "'gnnsim[search]' (or run in this process with --workers 0)") from None
    return distributed


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Dask's own INFO/WARNING lines (worker start, a closed comm at shutdown) stay out of
    the search's output; its errors still show."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                connect_timeout_s: float = 10.0) -> Iterator[Any]:
    """A connected ``distributed.Client``, closed (and its own cluster shut down) on exit.

    Raises :class:`SchedulerError` when Dask is missing, the scheduler cannot be reached
    within ``connect_timeout_s``, or it has no worker after that long.
    """
    distributed = _distributed()
    import dask

    with _quiet_logs(), contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(f"--scheduler {scheduler}: cannot connect within {connect_timeout_s:g} s "
                                     f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no reply'}); "
                                     "check the address and that the scheduler is running, or leave out "
                                     "--scheduler to start a local cluster") from None
            stack.callback(client.close)
            try:
                client.wait_for_workers(1, timeout=connect_timeout_s)
            except (OSError, TimeoutError) as exc:
                raise SchedulerError(f"--scheduler {scheduler}: no worker joined within {connect_timeout_s:g} s "
                                     f"({type(exc).__name__}); start workers with dask worker {scheduler}") from None
        else:
            n = default_workers() if workers is None else workers
            try:
                # the scheduler's HTTP endpoints take another port when 8787 is taken: no need to say so
                with dask.config.set({KEEP_MALLOC_TRIM: None}), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Port .* is already in use")
                    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=logging.ERROR,
                                                       preload=["gnnsim.search.worker_setup"])
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise SchedulerError(f"cannot start a local Dask cluster of {n} workers ({type(exc).__name__}: "
                                     f"{exc}); run in this process with --workers 0") from None
            stack.callback(cluster.close)
            client = distributed.Client(cluster, set_as_default=False)
            stack.callback(client.close)
        yield client
