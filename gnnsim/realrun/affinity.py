"""Give each local trainer process its own CPU cores.

With two trainers on two cores and nothing pinned, Linux now and then runs both main
threads on one core for a time slice (milliseconds), and the other trainer waits for
that rank at the next collective. Pinning rank ``r`` to its own block of cores, as CPU
training guides advise (``numactl``/``taskset`` per rank), removes those stalls and
matches what the cost model assumes: a trainer owns ``threads`` cores. When there are
more trainers than cores, they share cores round-robin (the model's oversubscription).
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def cores_for(rank: int, threads: int, available: list[int]) -> set[int]:
    """The cores rank ``rank`` gets: its own block of ``threads``, wrapping around.

    >>> sorted(cores_for(1, 1, [0, 1])), sorted(cores_for(3, 1, [0, 1])), sorted(cores_for(1, 2, [0, 1, 2, 3]))
    ([1], [1], [2, 3])
    """
    n = len(available)
    start = (rank * threads) % n
    return {available[(start + i) % n] for i in range(min(threads, n))}


def pin_to_own_cores(rank: int, threads: int) -> set[int] | None:
    """Pin this process to its cores; None where the OS has no affinity call."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = cores_for(rank, threads, sorted(os.sched_getaffinity(0)))
    os.sched_setaffinity(0, cores)
    return cores


@contextmanager
def pinned(rank: int, threads: int):
    """Pin this process as trainer ``rank`` for the block, then restore its old cores
    (so that processes it starts later are free to pin themselves)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    try:
        yield pin_to_own_cores(rank, threads)
    finally:
        os.sched_setaffinity(0, before)
