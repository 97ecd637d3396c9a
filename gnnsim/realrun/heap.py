"""glibc's heap held steady, as the cost model and the calibration assume it.

By default glibc raises its mmap threshold to the largest block freed and trims the
heap's top when more than twice that lies free, so a step whose transient peak exceeds
it gives its memory back after every step and faults it in again. The model charges
first touch only to allocations of :data:`MMAP_THRESHOLD_MAX_BYTES` and more, so the
real trainer's ranks run with a fixed threshold and no trimming
(:data:`STEADY_HEAP_ENV`), as CPU training setups get from jemalloc or tcmalloc; the
user's own settings win. Why it matters: ``docs/calibration-notes.md``.
"""

from __future__ import annotations

# glibc's largest dynamic mmap threshold (64-bit): a freed block under this size stays in
# the heap and the next allocation may reuse its pages; larger ones are mapped afresh
MMAP_THRESHOLD_MAX_BYTES = 32 * 2**20
STEADY_HEAP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_MAX_BYTES), "MALLOC_TRIM_THRESHOLD_": str(2**30)}
