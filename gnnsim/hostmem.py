"""The memory a process may still allocate, and the least a graph of a given size takes.

The low-level half of the pre-flight check (:mod:`gnnsim.preflight`): the graph readers
and generators call it too, before they allocate.
"""

from __future__ import annotations

import math
import os
import resource

# lower bounds of a graph build's peak (how they were found: :mod:`gnnsim.preflight`)
GRAPH_BYTES_PER_EDGE = 36  # per stored (directed) edge, over the generators
GRAPH_BYTES_PER_NODE = 32  # the CSR's offsets, labels, blocks


def available_bytes() -> float:
    """Bytes this process may still allocate: ``MemAvailable`` (inf where there is no
    ``/proc/meminfo``), or less under an address-space limit (``ulimit -v``)."""
    avail = math.inf
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/statm") as fh:
                used = float(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            used = 0.0
        avail = min(avail, max(0.0, soft - used))
    return avail


def graph_bytes(nodes: float, edges: float) -> float:
    """The lower bound of the memory to build a graph of ``nodes`` and ``edges`` stored edges."""
    return GRAPH_BYTES_PER_EDGE * edges + GRAPH_BYTES_PER_NODE * nodes


def fmt_bytes(n: float) -> str:
    """A byte count for a message: ``3.2 GB``, ``512 bytes``.

    >>> fmt_bytes(3.2e9), fmt_bytes(512)
    ('3.2 GB', '512 bytes')
    """
    if n >= 1e15:
        return f"{n:.2g} bytes"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} bytes"
