"""The hardware a simulation runs on, as values: devices, links, nodes and clusters.

A *device* is a GPU or a group of CPU cores that runs a trainer's kernels. Its kernel
classes (``gemm``, ``aggregate``, ``gather``, ``elementwise``) each have an effective
launch cost and effective FLOP and byte rates (:class:`KernelRate`). A *link* moves
bytes with a latency and a per-direction bandwidth. A *node* holds host CPUs, trainer
devices and the links between them; a *cluster* is N nodes joined by a network. They
are read from the profile files by :mod:`gnnsim.hardware.loaders`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from gnnsim.hardware.host_effects import NO_EFFECTS, HostEffects, carried
from gnnsim.hardware.schema import OPTIONAL_KERNEL_CLASSES


@dataclass(frozen=True)
class KernelRate:
    """Effective cost of one kernel class: ``t = launch + max(flops/flops_rate, memory time)``
    plus the optional first-touch and per-item costs (see :func:`gnnsim.cost.model.kernel_time`)."""

    launch_s: float
    flops_per_s: float
    bytes_per_s: float
    # Optional cache tier: the first ``cache_bytes`` of a kernel's traffic move at
    # ``cache_bytes_per_s`` (fitted on CPUs, where small working sets stay in cache).
    cache_bytes: float = 0.0
    cache_bytes_per_s: float = float("inf")
    # Seconds per byte of newly allocated output (page faults on first touch; CPU only,
    # fitted by calibration, 0 elsewhere).
    first_touch_s_per_byte: float = 0.0
    # Seconds per item of fixed work (edge aggregated, row gathered, optimizer step; see
    # ``Kernel.items``; CPU only, fitted by calibration, 0 elsewhere).
    per_item_s: float = 0.0
    # GEMMs: the inner size k, output width n (and output rows m) at which the FLOP rate
    # halves, and how steeply it falls below them (``rate / (1 + (k_half/k)^p) / (1 +
    # (n_half/n)^p) / (1 + (m_half/m)^p)``, p = ``shape_power``; fitted by calibration, 0
    # and 1 elsewhere: see ``cost.model.gemm_shape_efficiency``).
    k_half: float = 0.0
    n_half: float = 0.0
    # Only allocations of at least this many bytes cost first touch: smaller ones reuse
    # memory freed by the previous batch (glibc serves blocks under its mmap threshold, at
    # most 32 MiB, from the heap; larger ones are mapped afresh every time). 0: every output.
    first_touch_above_bytes: float = 0.0
    shape_power: float = 1.0
    m_half: float = 0.0

    def first_touch_s(self, kernel) -> float:
        """Page-fault seconds of a kernel's new outputs (a :class:`gnnsim.workload.kernels.Kernel`),
        each allocation judged against the threshold on its own (``Kernel.fresh_bytes``)."""
        return self.first_touch_s_per_byte * kernel.fresh_bytes(self.first_touch_above_bytes)

    def memory_time_s(self, size_bytes: float) -> float:
        fast = min(size_bytes, self.cache_bytes)
        return fast / self.cache_bytes_per_s + (size_bytes - fast) / self.bytes_per_s


@dataclass(frozen=True)
class TableGather:
    """A host gather's rate by the size of the table it reads from (calibrated CPUs).

    ``Node.host_gather`` is fitted on gathers from a table of ``large_table_rows`` rows
    (larger than the last-level cache at most widths); ``small`` on gathers from a table
    of ``small_table_bytes`` (within the caches and the TLB's reach), both with the
    caches flushed before each call. Random rows of a small table cost less (about 30 ns
    against 45-60 ns a 64-float row here: docs/calibration-notes.md). A gather from a
    table in between costs the two fits' times interpolated in log table size
    (:meth:`gnnsim.cost.model.CostModel.gather_time`)."""

    small: KernelRate
    small_table_bytes: float
    large_table_rows: float

    def weight(self, table_bytes: float, row_bytes: float) -> float:
        """0 at (or below) the small table's size, 1 at (or above) the large one's.

        >>> t = TableGather(KernelRate(0, 1, 1), 2e6, 200)  # the large table: 200 rows of 40 kB
        >>> t.weight(1e6, 4e4), round(t.weight(4e6, 4e4), 6), t.weight(9e6, 4e4), t.weight(0, 4e4)
        (0.0, 0.5, 1.0, 1.0)
        """
        large = self.large_table_rows * row_bytes
        if table_bytes <= 0 or large <= self.small_table_bytes:
            return 1.0  # table unknown, or the sweeps do not bracket it: the large-table rate as before
        w = math.log(table_bytes / self.small_table_bytes) / math.log(large / self.small_table_bytes)
        return min(1.0, max(0.0, w))


@dataclass(frozen=True)
class SamplerCost:
    """CPU neighbour-sampling cost of one sampler worker: per batch, per seed node, per edge."""

    per_batch_s: float
    per_node_s: float
    per_edge_s: float
    # Locality: each doubling of the graph above ``reference_nodes`` adds this much per
    # edge (the graph's arrays fall out of cache). 0 where not calibrated.
    per_edge_doubling_s: float = 0.0
    reference_nodes: float = 0.0
    # The sampler's work beyond nodes and edges (``workload.sampler.sampling_work``): each
    # hop's fixed numpy passes, each round of draws, each duplicate check. 0 where not
    # calibrated (profiles fitted before these terms put their cost in per batch and edge).
    per_hop_s: float = 0.0
    per_draw_s: float = 0.0
    per_check_s: float = 0.0

    def faster(self, factor: float) -> SamplerCost:
        """The same sampler ``factor`` times faster: every cost divided by it.

        >>> SamplerCost(2e-4, 1e-7, 4e-8, per_hop_s=1e-4).faster(2).per_hop_s
        5e-05
        """
        return replace(self, **{f.name: getattr(self, f.name) / factor for f in fields(self)
                                if f.name.startswith("per_")})

    def edge_cost_s(self, graph_nodes: int = 0) -> float:
        """Seconds per sampled edge on a graph of ``graph_nodes`` nodes (0 = unknown)."""
        if self.per_edge_doubling_s <= 0 or self.reference_nodes <= 0 or graph_nodes <= 0:
            return self.per_edge_s
        return self.per_edge_s + self.per_edge_doubling_s * max(0.0, math.log2(graph_nodes / self.reference_nodes))


@dataclass(frozen=True)
class Device:
    name: str
    kind: str  # gpu | cpu
    memory_bytes: float
    mem_bw_gbps: float
    peak_tflops: dict[str, float]
    kernels: dict[str, KernelRate]
    sources: list[str]
    threads: int = 1
    # run-to-run coefficient of variation of kernel times (measured by calibration; 0 = none)
    jitter_cv: float = 0.0
    # host time per kernel of a training step beyond the kernel itself (Python, module
    # calls, autograd's graph), by stage: {"forward": s, "backward": s}; measured by
    # calibration on a tiny block, where the kernels' own work is negligible
    framework_s_per_kernel: dict[str, float] = field(default_factory=dict)
    # measured rate of irregular reads of small records (CSR rows) as a share of
    # mem_bw_gbps (``random_read_gbps`` in the profile); 0: gnnsim.cost.placement's default
    random_read_share: float = 0.0

    def framework_s(self, stage: str) -> float:
        """Framework host seconds per kernel of ``stage`` (0 where not calibrated)."""
        return self.framework_s_per_kernel.get(stage, 0.0)

    def kernel(self, cls: str) -> KernelRate:
        """The rate of a kernel class; an optional class (``gemm_tn``) falls back to its base."""
        if cls not in self.kernels and cls in OPTIONAL_KERNEL_CLASSES:
            return self.kernels[OPTIONAL_KERNEL_CLASSES[cls]]
        return self.kernels[cls]


@dataclass(frozen=True)
class Link:
    name: str
    kind: str
    bw_gbps: float  # GB/s per direction, the rate the model uses
    latency_us: float
    duplex: bool = True
    sources: tuple[str, ...] = ()
    nominal_bw_gbps: float | None = None  # datasheet / line rate per direction
    measured_bw_gbps: float | None = None  # a published or calibrated measurement
    bw_basis: str = ""  # which of the two bw_gbps is: nominal | measured
    # GPU kernels' irregular reads of pinned host memory (UVA, zero copy) as a share of
    # bw_gbps (``uva_read_gbps`` in the profile); 0: gnnsim.cost.placement's default
    uva_read_share: float = 0.0
    # a host-to-device copy from pageable memory (``pageable_h2d_gbps``): the driver stages
    # it through a pinned buffer with a host memcpy; 0: at bw_gbps, as from pinned memory
    pageable_h2d_gbps: float = 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bw_gbps * 1e9

    @property
    def pageable_bytes_per_s(self) -> float:
        """Bytes/s of one copy from pageable host memory (the pinned rate without a figure)."""
        return (self.pageable_h2d_gbps or self.bw_gbps) * 1e9

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6

    def transfer_time_s(self, size_bytes: float) -> float:
        """Alpha-beta time of one message: latency + size / bandwidth."""
        return self.latency_s + size_bytes / self.bytes_per_s if size_bytes > 0 else 0.0


@dataclass(frozen=True)
class Collective:
    """Alpha-beta parameters of a collective library over one link (per ring step).
    What a shared host adds to them is :class:`gnnsim.hardware.host_effects.HostEffects`."""

    alpha_s: float
    bytes_per_s: float


@dataclass(frozen=True)
class Oversubscribed:
    """The collectives measured with ``per_core`` trainer processes on each core
    (``gnnsim calibrate``'s ``oversubscribed:`` block; see :meth:`Node.on_host`), and
    the host's effects on them measured so."""

    per_core: float
    intra_link: Link
    collective: Collective
    effects: HostEffects = NO_EFFECTS


def _lerp_link(a: Link, b: Link, w: float) -> Link:
    """``a`` moved a fraction ``w`` of the way to ``b`` (latency and seconds per byte)."""
    return replace(a, latency_us=(1 - w) * a.latency_us + w * b.latency_us,
                   bw_gbps=1.0 / ((1 - w) / a.bw_gbps + w / b.bw_gbps))


@dataclass(frozen=True)
class Node:
    name: str
    trainer_device: Device
    trainers: int
    host_cpu_cores: int
    sampler: SamplerCost
    sampler_workers: int
    host_gather: KernelRate
    intra_link: Link  # between trainers of one node (nvlink, loopback)
    h2d_link: Link | None  # host to trainer device (pcie); None when trainers are CPUs
    nic: Link | None
    price_per_hour: float
    sources: list[str]
    collective: Collective | None = None
    nic_count: int = 1  # NICs (rails) per node; the node injects nic_count x nic.bw_gbps
    # Cores' worth of compute per nominal host core while all are busy: 1 unless a
    # calibration measured less (``cpu_sharing``; 0.5 where two vCPUs share a core).
    cpu_efficiency: float = 1.0
    # gloo's collectives measured with more processes than cores (calibrated CPU nodes)
    oversubscribed: Oversubscribed | None = None
    # A shared-vCPU host's effects on collectives and scheduling, where a calibrated
    # profile carries them (None: the core model alone; every GPU cluster profile)
    host_effects: HostEffects | None = None
    # the host gather's rate from a small (cache-resident) feature table, where calibrated
    host_gather_tables: TableGather | None = None
    # the host's RAM (``host_memory_gib``), where the profile states it: the host memory check
    host_memory_bytes: float | None = None

    @property
    def compute_cores(self) -> float:
        """The node's effective cores, which its CPU trainers share (:mod:`gnnsim.sim.cpu`)."""
        return self.host_cpu_cores * self.cpu_efficiency

    def on_host(self, trainers: int) -> Node:
        """This node as ``trainers`` trainer processes on its host's cores see it.

        Up to one process per core, the collectives are those calibrated with one each.
        With more, every message of a collective waits for its receiver to be scheduled
        behind the other processes on its core, and the collectives take the numbers
        calibrated with ``oversubscribed.per_core`` processes per core (several times
        slower per peer); in between, alpha and seconds per byte move linearly
        with the processes per core. Beyond the measured crowding they stay at it (not
        extrapolated). The wake-up after idling is part of the crowded means, so it
        fades out with them.

        >>> from gnnsim.hardware.loaders import load_node
        >>> node = load_node("localhost")
        >>> crowded = Oversubscribed(2.0, replace(node.intra_link, latency_us=1000.0), Collective(4e-4, 1e9))
        >>> node = replace(node, collective=Collective(1e-4, 1e9), oversubscribed=crowded)
        >>> node.on_host(2).collective.alpha_s, node.on_host(4).collective.alpha_s   # 2 cores
        (0.0001, 0.0004)
        >>> round(node.on_host(3).collective.alpha_s * 1e6), node.on_host(3).intra_link.latency_us > 500
        (250, True)
        """
        crowded = self.oversubscribed
        per_core = trainers / max(1, self.host_cpu_cores)
        if crowded is None or per_core <= 1.0 or self.collective is None:
            return self
        w = min(1.0, (per_core - 1.0) / max(crowded.per_core - 1.0, 1e-9))
        own, other = self.collective, crowded.collective
        collective = replace(own, alpha_s=(1 - w) * own.alpha_s + w * other.alpha_s,
                             bytes_per_s=1.0 / ((1 - w) / own.bytes_per_s + w / other.bytes_per_s))
        effects = carried((self.host_effects or NO_EFFECTS).crowded(w, crowded.effects))
        return replace(self, intra_link=_lerp_link(self.intra_link, crowded.intra_link, w), collective=collective,
                       host_effects=effects)


@dataclass(frozen=True)
class Cluster:
    name: str
    node: Node
    num_nodes: int
    network: Link
    sources: list[str] = field(default_factory=list)
    # Consecutive nodes that run on one machine and share its CPU (network namespaces of
    # one host in the validation's shaped-link clusters); 1 = every node has its own.
    nodes_per_host: int = 1

    @property
    def num_trainers(self) -> int:
        return self.num_nodes * self.node.trainers

    @property
    def price_per_hour(self) -> float:
        return self.num_nodes * self.node.price_per_hour

    def node_of(self, rank: int) -> int:
        return rank // self.node.trainers
