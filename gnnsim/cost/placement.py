"""Where sampling and features run: the prices of GPU and UVA sampling and of UVA and
device feature gathers (``training.sampling.device``, ``training.features.placement``).

A GPU sampler (DGL's ``CSRRowWiseSampling`` and ``to_block`` on CUDA) does, per hop:

- one random read of ``indptr`` per frontier node (its two offsets share a sector) and
  one random read of ``indices`` per sampled edge. GPU memory is read in 32-byte
  sectors, so each of these small reads moves a sector;
- the unique/relabel step: every sampled edge's source is inserted into a hash table
  and looked up again (:data:`RELABEL_SECTORS_PER_EDGE` random sectors, in GPU memory);
- the sampled edges written out as three id arrays (rows, columns, edge ids), coalesced;
- :data:`KERNELS_PER_HOP` kernel launches and :data:`SYNCS_PER_HOP` small device-to-host
  copies that the host waits for (the sampled and the unique counts size the outputs).

``gpu`` reads the structure from device memory at the device's measured irregular-read
rate; ``uva`` reads it from pinned host memory over the host link at the link's measured
rate for GPU kernels' irregular reads. Everything else is the same, so the two differ by
the structure's bytes over the ratio of those two rates.

A UVA feature gather reads each row's sectors over the host link at the same rate (zero
copy: no H2D copy follows); a resident (``gpu``) gather is a device gather kernel.

Rates are shares of the profiles' bandwidths (``random_read_gbps`` of a device,
``uva_read_gbps`` of a link); a profile without them takes the share measured on the
A100 80GB (DGL PR 6645), so what-if scaling of memory or PCIe bandwidth scales them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnnsim.hardware.profiles import Device, Link
from gnnsim.workload.memory import structure_bytes  # noqa: F401 (re-exported; it lives with the footprints)

# CUDA C++ Best Practices Guide, "Coalesced Access to Global Memory": global memory is
# accessed in 32-byte sectors, so a random 8-byte read moves 32 bytes.
SECTOR_BYTES = 32
ID_BYTES = 8  # int64 node and edge ids (DGL's and PyG's default id type)
# DGL src/array/cuda/rowwise_sampling.cu (degree kernel, cub ExclusiveSum: 2, sampling
# kernel) and src/graph/transform/cuda/cuda_to_block.cu (hash-table fill, prefix sum,
# node map, edge relabel): 8 kernels per hop, each waiting for a small device-to-host copy
# of a count twice (the sampled edges' length, the unique nodes' count).
KERNELS_PER_HOP = 8
SYNCS_PER_HOP = 2
# to_block: each sampled edge's source inserted into the hash table (a sector read and a
# write, atomicCAS) and looked up again for the relabel (a sector read)
RELABEL_SECTORS_PER_EDGE = 3
OUTPUT_IDS_PER_EDGE = 3  # rows, columns and edge ids of the sampled COO
# Defaults for profiles without their own measurement, from DGL PR 6645 (comment by
# mfbalin, 2023-12-05; shared/reference hardware-figures.jsonl), A100 80GB: CSR rows of
# average degree 64 read at random from GPU memory at 426,864 MiB/s of its 2,039 GB/s, and
# from pinned host memory over PCIe 4 at 18,193 MiB/s of the 25 GB/s pinned H2D rate.
DEFAULT_RANDOM_READ_SHARE = 426_864 * 2**20 / 2039e9
DEFAULT_UVA_READ_SHARE = 18_193 * 2**20 / 25e9


def device_random_read_rate(device: Device) -> float:
    """Bytes/s of irregular small-record reads from the device's own memory."""
    return device.mem_bw_gbps * 1e9 * (device.random_read_share or DEFAULT_RANDOM_READ_SHARE)


def uva_read_rate(link: Link) -> float:
    """Bytes/s of GPU kernels' irregular reads of pinned host memory over ``link``."""
    return link.bytes_per_s * (link.uva_read_share or DEFAULT_UVA_READ_SHARE)


def sectors(record_bytes: float) -> float:
    """Bytes that reading one record of ``record_bytes`` at a random place moves (whole sectors).

    >>> sectors(8), sectors(400), sectors(32)
    (32, 416, 32)
    """
    return -(-int(record_bytes) // SECTOR_BYTES) * SECTOR_BYTES


@dataclass(frozen=True)
class GpuSampling:
    """One batch's GPU sampling work (see the module docstring)."""

    structure_bytes: float  # indptr and indices sectors: device memory (gpu) or over PCIe (uva)
    relabel_bytes: float  # hash-table sectors, always in device memory
    output_bytes: float  # the sampled COO, written coalesced
    launches: int
    syncs: int


def gpu_sampling_work(frontier: int, edges: int, hops: int, examined: float = 0.0) -> GpuSampling:
    """The work of sampling ``edges`` edges for ``frontier`` nodes over ``hops`` hops;
    ``examined`` neighbour ids a LABOR batch reads besides (whole neighbour lists, coalesced).

    >>> w = gpu_sampling_work(100, 1000, 2)
    >>> w.structure_bytes, w.relabel_bytes, w.output_bytes, w.launches, w.syncs
    (35200.0, 96000.0, 24000.0, 16, 4)
    """
    return GpuSampling(structure_bytes=float((frontier + edges) * SECTOR_BYTES + examined * ID_BYTES),
                       relabel_bytes=float(RELABEL_SECTORS_PER_EDGE * edges * SECTOR_BYTES),
                       output_bytes=float(OUTPUT_IDS_PER_EDGE * ID_BYTES * edges),
                       launches=KERNELS_PER_HOP * hops, syncs=SYNCS_PER_HOP * hops)


def gpu_sampling_fixed_s(work: GpuSampling, device: Device, link: Link | None) -> float:
    """The part of a GPU sampler's time that stays on the device: launches, the waits for
    counts (one small device-to-host copy each), relabel and output, but not the
    structure reads (:func:`structure_read_s`)."""
    launch = device.kernel("gather").launch_s
    sync = link.latency_s if link is not None else launch
    return (work.launches * launch + work.syncs * sync + work.relabel_bytes / device_random_read_rate(device)
            + work.output_bytes / device.kernel("gather").bytes_per_s)


def structure_read_s(work: GpuSampling, device: Device, link: Link | None, over_link: bool) -> float:
    """Seconds of the sampler's structure reads alone: from device memory, or over ``link`` (uva)."""
    if over_link:
        if link is None:
            raise ValueError("uva sampling reads over the host link; this node has none")
        return work.structure_bytes / uva_read_rate(link)
    return work.structure_bytes / device_random_read_rate(device)


def gpu_sampling_s(frontier: int, edges: int, hops: int, device: Device, link: Link | None, uva: bool,
                   examined: float = 0.0) -> float:
    """Closed-form seconds of one batch's GPU (``uva`` False) or UVA sampling alone.

    >>> from gnnsim.hardware.profiles import load_device, load_link
    >>> dev, pcie = load_device("a100-sxm4-80gb"), load_link("pcie4-x16")
    >>> gpu = gpu_sampling_s(10_000, 100_000, 2, dev, pcie, False)
    >>> uva = gpu_sampling_s(10_000, 100_000, 2, dev, pcie, True)
    >>> round((uva - gpu) * 1e6, 1)   # 3.52 MB of structure at 19.08 vs 447.6 GB/s
    176.6
    """
    work = gpu_sampling_work(frontier, edges, hops, examined)
    return gpu_sampling_fixed_s(work, device, link) + structure_read_s(work, device, link, uva)


def uva_gather_bytes(rows: float, row_bytes: int) -> float:
    """Bytes a UVA gather of ``rows`` rows moves over the host link (whole sectors per row)."""
    return float(rows) * sectors(row_bytes)


def uva_gather_s(rows: float, row_bytes: int, device: Device, link: Link) -> float:
    """Closed-form seconds of the GPU gathering ``rows`` rows from pinned host memory alone.

    >>> from gnnsim.hardware.profiles import load_device, load_link
    >>> round(uva_gather_s(100_000, 400, load_device("a100-sxm4-80gb"), load_link("pcie4-x16")) * 1e3, 3)
    2.188
    """
    if rows <= 0:
        return 0.0
    return device.kernel("gather").launch_s + uva_gather_bytes(rows, row_bytes) / uva_read_rate(link)
