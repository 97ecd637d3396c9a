"""The state of memory a timed call finds: where the heap puts its allocations, and
what the caches hold.

A kernel timed back to back finds its inputs in cache and its output on pages the heap
has just freed; in a training step it finds neither. The timing harness
(:mod:`gnnsim.calibrate.timing`) sets the stage before a run with these: a cold run
gives freed memory back to the OS (:data:`RELEASE_FREE_MEMORY`) and shifts the heap by
a random few KB (:class:`HeapShift`); an evicted run first streams over more than the
caches hold (:func:`evict_caches`, :func:`evict_all_caches`, sized by
:func:`cache_bytes`).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


_LIBC = _libc()
# glibc's ``malloc_trim(0)``, or a no-op where there is no glibc
RELEASE_FREE_MEMORY = _LIBC.malloc_trim if _LIBC is not None else (lambda *_: 0)
SHIFT_MAX_BYTES = 8192  # the heap is shifted by up to this much before each cold run


class HeapShift:
    """Holds a small block of a random size (seeded) during each cold run, so that the
    timed call's allocations land at a different heap offset every run.

    After ``malloc_trim`` a small output may start on a page the heap still has or on a
    fresh one, depending on where the heap's top happens to be; training's allocations
    land at a different offset from batch to batch, and so do the shifted runs."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.block = None

    def __enter__(self) -> HeapShift:
        if _LIBC is not None:
            self.block = _LIBC.malloc(int(self.rng.integers(16, SHIFT_MAX_BYTES)))
        return self

    def __exit__(self, *exc) -> None:
        if self.block is not None:
            _LIBC.free(self.block)
            self.block = None


_EVICT: list = []


def evict_caches() -> None:
    """Stream over a table larger than the private caches, as training's gathers do."""
    import torch

    if not _EVICT:
        rows = EVICT_BYTES // (128 * 4)
        _EVICT.append((torch.randn(rows, 128), torch.from_numpy(np.random.default_rng(0).integers(0, rows, rows // 2))))
    table, idx = _EVICT[0]
    table.index_select(0, idx)


EVICT_BYTES = 32 * 2**20  # well above a core's private caches


def cache_bytes(index: int = 3, default: int = 32 * 2**20) -> int:
    """The size of core 0's cache ``index`` (2: L2, 3: the last level; sysfs), or
    ``default`` where the system does not say."""
    try:
        text = Path(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size").read_text().strip()
        return int(text[:-1]) * {"K": 2**10, "M": 2**20}[text[-1]] if text[-1] in "KM" else int(text)
    except (OSError, ValueError, KeyError, IndexError):
        return default


_EVICT_STREAM: list = []

# At most this much is streamed per eviction: a VM's sysfs can report its host socket's
# whole last-level cache (480 MiB on a 2-vCPU Xeon VM), where twice that took 82 ms an
# eviction and a calibration hours; 64 MiB (8 ms there) is twice the 32 MiB L3 share of
# the AMD EPYC VM the evicted timings were validated on, and more than a suite's step touches
EVICT_STREAM_MAX_BYTES = 64 * 2**20


def evict_stream_bytes() -> int:
    """Bytes :func:`evict_all_caches` streams: twice the last-level cache, at most
    :data:`EVICT_STREAM_MAX_BYTES`."""
    return min(2 * cache_bytes(), EVICT_STREAM_MAX_BYTES)


def evict_all_caches() -> None:
    """Stream over twice the last-level cache (:func:`evict_stream_bytes`), so that a
    kernel's inputs and the reused pages its output lands on come from memory, as in a
    training step; then run the common ops once on tiny tensors, so that the dispatcher's
    and the kernels' code is warm, as it is between the ops of a step."""
    import torch

    if not _EVICT_STREAM:
        x = torch.randn(64, 16)
        _EVICT_STREAM.append((torch.zeros(evict_stream_bytes() // 4), x, torch.arange(8), torch.randn(16, 16)))
    stream, x, idx, w = _EVICT_STREAM[0]
    stream.sum()
    torch.relu(x + x * 2.0)
    torch.zeros(8, 16).index_add_(0, idx, x.index_select(0, idx))
    torch.mm(x, w)
