"""Hardware as data: devices, links, nodes and clusters read from ``hwprofiles/*.yaml``.

A *device* is a GPU or a group of CPU cores that runs a trainer's kernels. Its kernel
classes (``gemm``, ``aggregate``, ``gather``, ``elementwise``) each have an effective
launch cost and effective FLOP and byte rates: datasheet peak times an efficiency for a
nominal profile, fitted values for a calibrated one. A *link* moves bytes with a
latency and a per-direction bandwidth. A *node* holds host CPUs, trainer devices and the
links between them; a *cluster* is N nodes joined by a network.

Every profile carries ``sources:`` so that each number can be traced. A source is
either a plain string (calibration runs write these) or a mapping that says which
numbers it backs and on what basis::

    sources:
      - url: https://www.nvidia.com/.../a100-datasheet.pdf
        basis: nominal          # nominal | measured | estimate | derived | choice
        confidence: high        # high | medium | low (optional)
        covers: [memory_bytes, mem_bw_gbps, peak_tflops]
        note: "dense tensor-core peaks; sparsity doubles them"

Once a profile uses mapping sources, every number in it must be covered by one of
them (``covers`` entries are dotted key paths; ``peak_tflops`` covers all its dtypes),
so a number without a source is an error, not an oversight. Unknown keys are errors
too: a misspelt ``mem_bw_gpbs`` would otherwise be silently ignored.

A *calibrated* profile (``hwprofiles/calibrated/NAME.yaml``, written by ``gnnsim
calibrate``) stands in for the datasheet device of any cluster through
``cluster.device_profile: calibrated/NAME``; its optional ``sampler``, ``host_gather``,
``h2d_link``, ``intra_link`` and ``allreduce`` blocks replace the node's nominal numbers
where they were measured on the same kind of hardware (see :func:`load_node`).

Profiles are looked up by name in the ``hwprofiles`` folder (``GNNSIM_HWPROFILES``
overrides where that folder is).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError, did_you_mean, read_yaml_mapping

KERNEL_CLASSES = ("gemm", "aggregate", "gather", "elementwise")
# Optional classes a profile may fit separately, and the class they default to:
# gemm_tn is a GEMM with a transposed, long-k operand (weight gradients, x^T @ dy),
# which CPU BLAS runs well below the forward GEMM's rate;
# optimizer is one parameter tensor's whole optimizer step (framework overhead included).
OPTIONAL_KERNEL_CLASSES = {"gemm_tn": "gemm", "optimizer": "elementwise"}
LINK_KINDS = ("pcie", "nvlink", "nvswitch", "ethernet", "infiniband", "loopback", "memory")
DTYPES = ("float64", "float32", "tf32", "float16", "bfloat16", "fp8", "int8")
PROFILE_KINDS = ("clusters", "nodes", "devices", "links", "software", "calibrated")
SOURCE_BASES = ("nominal", "measured", "estimate", "derived", "choice")
SOURCE_CONFIDENCE = ("high", "medium", "low")
SOURCE_KEYS = frozenset({"url", "text", "basis", "confidence", "covers", "note"})

# The keys each kind of profile may hold, by dotted place in the file ("*" = any name).
# Other modules that read extra optional keys register them with :func:`allow_keys`;
# the topology keys are listed here already so files that use them always load.
ALLOWED_KEYS: dict[str, set[str]] = {
    "devices": {"name", "kind", "threads", "jitter_cv", "memory_bytes", "mem_bw_gbps", "peak_tflops", "kernels",
                "sources", "tdp_w", "memory_type", "form_factor", "notes", "framework_us_per_kernel",
                "random_read_gbps"},
    "devices.framework_us_per_kernel": {"forward", "backward"},
    "devices.peak_tflops": set(DTYPES),
    "devices.kernels": set(KERNEL_CLASSES) | set(OPTIONAL_KERNEL_CLASSES),
    "devices.kernels.*": {"launch_us", "compute_eff", "memory_eff", "tflops", "gbps", "cache_mb", "cache_gbps",
                          "first_touch_us_per_mb", "per_item_ns", "k_half", "n_half", "m_half",
                          "shape_power", "first_touch_above_mb"},
    "links": {"name", "kind", "bw_gbps", "latency_us", "duplex", "sources", "nominal_bw_gbps",
              "measured_bw_gbps", "bw_basis", "notes", "uva_read_gbps"},
    "nodes": {"name", "trainer_device", "trainers", "host_cpu_cores", "intra_link", "h2d_link", "nic",
              "nic_count", "price_per_hour", "host", "sources", "notes", "cpu", "host_memory_bytes",
              "instance_type",
              # read by gnnsim/hardware/topology.py (intra-node topology)
              "gpus_per_pcie_switch", "gpus_per_nic", "numa_nodes", "pcie_switches", "topology",
              # read by gnnsim/sim/loader.py (host DRAM shared by a placed loader's gathers and copies)
              "host_mem_bw_gbps"},
    "nodes.host": {"sampler_workers", "sampler", "gather"},
    "nodes.host.sampler": {"per_batch_us", "per_node_ns", "per_edge_ns", "per_edge_doubling_ns", "reference_nodes",
                           "per_hop_us", "per_draw_us", "per_check_ns"},
    "nodes.host.gather": {"launch_us", "gbps", "cache_mb", "cache_gbps", "first_touch_us_per_mb", "per_item_ns",
                          "first_touch_above_mb"},
    "clusters": {"name", "node", "num_nodes", "network", "nic", "nic_count", "sources", "notes",
                 # read by gnnsim/hardware/topology.py (inter-node topology)
                 "fat_tree", "oversubscription", "topology", "switch", "rails",
                 # nodes that are namespaces of one machine share its CPU (gnnsim/sim/cpu.py)
                 "nodes_per_host"},
    # framework overheads, read by gnnsim/hardware/software.py
    "software": {"name", "framework", "version", "overheads", "sampler", "sources", "notes"},
    "software.overheads": {"per_iteration_us", "per_layer_forward_us", "per_layer_backward_us"},
    "software.sampler": {"per_batch_us", "node_scale", "edge_scale"},
    # a calibrated profile's measured compute capacity (gnnsim/calibrate/capacity.py)
    "calibrated.cpu_sharing": {"effective_cores", "demand_cores", "processes", "threads", "alone_ms", "together_ms",
                               "time_slice_ms", "warmup_us", "warmup_idle_ms", "warmup_ramp_ms"},
    "calibrated.oversubscribed": {"processes", "cores", "intra_link", "allreduce"},
}


def allow_keys(place: str, *keys: str) -> None:
    """Let profiles hold extra optional ``keys`` at ``place`` (e.g. ``"nodes"``, ``"clusters"``).

    For modules that read keys this one does not know about.

    >>> allow_keys("clusters", "spine_switches")
    >>> "spine_switches" in ALLOWED_KEYS["clusters"]
    True
    """
    ALLOWED_KEYS.setdefault(place, set()).update(keys)


def profile_root() -> Path:
    """The folder that holds the profile catalog."""
    env = os.environ.get("GNNSIM_HWPROFILES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "hwprofiles"


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
        """Page-fault seconds of a kernel's new outputs (a :class:`gnnsim.workload.model.Kernel`),
        each allocation judged against the threshold on its own (``Kernel.fresh_bytes``)."""
        return self.first_touch_s_per_byte * kernel.fresh_bytes(self.first_touch_above_bytes)

    def memory_time_s(self, size_bytes: float) -> float:
        fast = min(size_bytes, self.cache_bytes)
        return fast / self.cache_bytes_per_s + (size_bytes - fast) / self.bytes_per_s


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
class Source:
    """Where a profile's numbers come from, and on what basis (nominal, measured ...)."""

    text: str
    url: str = ""
    basis: str = ""
    confidence: str = ""
    covers: tuple[str, ...] = ()
    note: str = ""

    def __str__(self) -> str:
        tag = f"[{self.basis}{', ' + self.confidence + ' confidence' if self.confidence else ''}] " if self.basis else ""
        body = " ".join(part for part in (self.url, self.text) if part)
        return f"{tag}{body}{' (' + self.note + ')' if self.note else ''}"


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

    @property
    def bytes_per_s(self) -> float:
        return self.bw_gbps * 1e9

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6

    def transfer_time_s(self, size_bytes: float) -> float:
        """Alpha-beta time of one message: latency + size / bandwidth."""
        return self.latency_s + size_bytes / self.bytes_per_s if size_bytes > 0 else 0.0


@dataclass(frozen=True)
class Collective:
    """Alpha-beta parameters of a collective library over one link (per ring step)."""

    alpha_s: float
    bytes_per_s: float
    # A rank that waited at a collective longer than ``idle_threshold_s`` pays
    # ``wakeup_s`` more (its idle CPU, e.g. a halted vCPU, must be woken). Measured by
    # ``gnnsim calibrate``; 0 where not measured.
    wakeup_s: float = 0.0
    idle_threshold_s: float = 0.0
    # alpha holds for ranks that arrive together; arriving ``d`` apart it is scaled by
    # ``spread_floor + (1 - spread_floor) exp(-d / spread_s)`` (gloo stalls less then).
    # The all-to-all (whose alpha is the node's ``intra_link`` latency) has its own
    # factor, ``alltoall_spread_*``; profiles from before it was measured apart give
    # it the all-reduce's.
    spread_floor: float = 1.0
    spread_s: float = 0.0
    alltoall_spread_floor: float = 1.0
    alltoall_spread_s: float = 0.0
    # after ``g`` seconds of compute since the ranks' previous collective alpha is also
    # scaled by ``1 + busy_rise (1 - exp(-g / busy_s))`` (gloo stalls more often then);
    # the all-to-all has its own, ``alltoall_busy_*``. 0: no such factor.
    busy_rise: float = 0.0
    busy_s: float = 0.0
    alltoall_busy_rise: float = 0.0
    alltoall_busy_s: float = 0.0

    def wakeup_penalty_s(self, wait_s: float) -> float:
        return self.wakeup_s if wait_s > self.idle_threshold_s and self.wakeup_s > 0 else 0.0

    def latency_factor(self, spread_s: float, kind: str = "allreduce") -> float:
        """Alpha's factor when the last rank arrives ``spread_s`` after the first, for the
        ``allreduce`` or the ``alltoall``.

        >>> c = Collective(1e-4, 1e9, spread_floor=0.4, spread_s=5e-5, alltoall_spread_floor=0.2, alltoall_spread_s=1e-5)
        >>> c.latency_factor(0.0), round(c.latency_factor(1e-3), 3), round(c.latency_factor(1e-3, "alltoall"), 3)
        (1.0, 0.4, 0.2)
        """
        floor, scale = ((self.alltoall_spread_floor, self.alltoall_spread_s) if kind == "alltoall"
                        else (self.spread_floor, self.spread_s))
        if scale <= 0 or floor >= 1.0:
            return 1.0
        return floor + (1.0 - floor) * math.exp(-max(0.0, spread_s) / scale)

    def busy_factor(self, gap_s: float, kind: str = "allreduce") -> float:
        """Alpha's factor after ``gap_s`` seconds of compute since the ranks' previous
        collective, for the ``allreduce`` or the ``alltoall``.

        >>> c = Collective(1e-4, 1e9, busy_rise=0.5, busy_s=2e-3)
        >>> c.busy_factor(0.0), round(c.busy_factor(2e-3), 3), c.busy_factor(1.0, "alltoall")
        (1.0, 1.316, 1.0)
        """
        rise, scale = ((self.alltoall_busy_rise, self.alltoall_busy_s) if kind == "alltoall"
                       else (self.busy_rise, self.busy_s))
        if rise <= 0 or scale <= 0:
            return 1.0
        return 1.0 + rise * (1.0 - math.exp(-max(0.0, gap_s) / scale))


@dataclass(frozen=True)
class Oversubscribed:
    """The collectives measured with ``per_core`` trainer processes on each core
    (``gnnsim calibrate``'s ``oversubscribed:`` block; see :meth:`Node.on_host`)."""

    per_core: float
    intra_link: Link
    collective: Collective


@dataclass(frozen=True)
class Warmup:
    """Extra compute time after a core sat idle (``cpu_sharing.warmup_*``, measured by
    :mod:`gnnsim.calibrate.warmup`): ``max_s (1 - exp(-idle / idle_s))`` after ``idle``
    seconds idle, paid over the work that follows, ``exp(-work / ramp_s)`` of it still
    owed after ``work`` seconds of it.

    >>> w = Warmup(max_s=4e-3, idle_s=0.1, ramp_s=5e-3)
    >>> round(w.extra_s(0.1) * 1e3, 2), w.extra_s(0.0)
    (2.53, 0.0)
    """

    max_s: float
    idle_s: float
    ramp_s: float

    def extra_s(self, idle_s: float) -> float:
        return self.max_s * -math.expm1(-max(idle_s, 0.0) / self.idle_s)


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
    # calibration measured less (``cpu_sharing``; 0.5 on a VM whose 2 vCPUs share a core).
    cpu_efficiency: float = 1.0
    # gloo's collectives measured with more processes than cores (calibrated CPU nodes)
    oversubscribed: Oversubscribed | None = None
    # How long the OS runs a busy process before another on its core gets a turn
    # (``cpu_sharing.time_slice_ms``, measured by calibration; 4 ms on the dev VM's Linux,
    # the default). Used where the trainers outnumber the cores (:mod:`gnnsim.sim.cpu`).
    time_slice_s: float = 4e-3
    # Extra compute time after a core sat idle (calibrated CPU nodes; None: not charged)
    warmup: Warmup | None = None

    @property
    def compute_cores(self) -> float:
        """The node's effective cores, which its CPU trainers share (:mod:`gnnsim.sim.cpu`)."""
        return self.host_cpu_cores * self.cpu_efficiency

    def on_host(self, trainers: int) -> Node:
        """This node as ``trainers`` trainer processes on its host's cores see it.

        Up to one process per core, the collectives are those calibrated with one each.
        With more, every message of a collective waits for its receiver to be scheduled
        behind the other processes on its core, and the collectives take the numbers
        calibrated with ``oversubscribed.per_core`` processes per core (on the dev VM
        4-7 times slower per peer); in between, alpha and seconds per byte move linearly
        with the processes per core. Beyond the measured crowding they stay at it (not
        extrapolated). The wake-up after idling is part of the crowded means, so it
        fades out with them.

        >>> from gnnsim.hardware.profiles import Collective, Link, Oversubscribed
        >>> node = load_node("localhost")
        >>> crowded = Oversubscribed(2.0, replace(node.intra_link, latency_us=1000.0), Collective(4e-4, 1e9))
        >>> node = replace(node, collective=Collective(1e-4, 1e9, 6e-5, 3e-4), oversubscribed=crowded)
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
                             bytes_per_s=1.0 / ((1 - w) / own.bytes_per_s + w / other.bytes_per_s),
                             wakeup_s=(1 - w) * own.wakeup_s, busy_rise=(1 - w) * own.busy_rise,
                             alltoall_busy_rise=(1 - w) * own.alltoall_busy_rise,
                             spread_floor=other.spread_floor, spread_s=other.spread_s,
                             alltoall_spread_floor=other.alltoall_spread_floor,
                             alltoall_spread_s=other.alltoall_spread_s)
        return replace(self, intra_link=_lerp_link(self.intra_link, crowded.intra_link, w), collective=collective)


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


# -- reading and checking -------------------------------------------------------------

def profile_path(kind: str, name: str) -> Path:
    """The file that holds profile ``name`` of ``kind`` (one of :data:`PROFILE_KINDS`)."""
    return profile_root() / kind / f"{name}.yaml"


_KIND_LABEL = {"clusters": "cluster", "nodes": "node", "devices": "device", "links": "link"}


def _read_yaml(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    folder = profile_root() / kind
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise ProfileError(
            f"unknown {_KIND_LABEL.get(kind, kind)} profile '{name}' (looked for {path}).{did_you_mean(name, known)} "
            f"Known: {', '.join(known) or 'none'}. Run 'gnnsim hw list' to see the catalog."
        )
    data = read_yaml_mapping(path, ProfileError)
    check_finite(data, path)
    return data, path


# Top-level blocks that describe a profile (fit quality, the host's load while calibrating,
# provenance) and that the model never reads: a calibration writes NaN there for "not measured".
_DESCRIPTIVE_KEYS = ("residuals", "quality", "provenance", "sources", "notes")


def check_finite(data: dict[str, Any], path: Path) -> None:
    """Raise :class:`ProfileError` naming the first NaN or infinite number in a profile
    (outside its descriptive blocks, :data:`_DESCRIPTIVE_KEYS`).

    >>> check_finite({"bw_gbps": float("nan")}, Path("links/x.yaml"))
    Traceback (most recent call last):
    ...
    gnnsim.errors.ProfileError: links/x.yaml: 'bw_gbps' is nan; every number in a profile must be finite. Fix the profile.
    """
    from gnnsim.config import non_finite_paths

    for key, value in data.items():
        if key in _DESCRIPTIVE_KEYS:
            continue
        for at in non_finite_paths(value, str(key)):
            got = value
            for part in at.replace("[", ".[").split(".")[1:]:
                got = got[int(part[1:-1])] if part.startswith("[") else got[part]
            raise ProfileError(f"{path}: '{at}' is {got}; every number in a profile must be finite. Fix the profile.")


def read_profile(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    """The raw mapping of a profile file and its path, keys checked (numbers not converted).

    >>> data, path = read_profile("links", "pcie4-x16")
    >>> data["kind"], path.name
    ('pcie', 'pcie4-x16.yaml')
    """
    if kind not in PROFILE_KINDS:
        raise ProfileError(f"unknown profile kind '{kind}'.{did_you_mean(kind, PROFILE_KINDS)} "
                           f"Kinds: {', '.join(PROFILE_KINDS)}")
    data, path = _read_yaml(kind, name)
    if kind in ALLOWED_KEYS:
        check_keys(data, kind, path)
    return data, path


def check_keys(data: dict[str, Any], place: str, path: Path, where: str = "") -> None:
    """Raise :class:`ProfileError` for a key that :data:`ALLOWED_KEYS` does not list at ``place``.

    Nested mappings are checked where ``ALLOWED_KEYS`` has an entry for them
    (``place.key`` or ``place.*``).
    """
    allowed = ALLOWED_KEYS.get(place)
    if allowed is None:
        return
    for key, value in data.items():
        key = str(key)
        at = f"{where}.{key}" if where else key
        if key not in allowed:
            raise ProfileError(
                f"{path}: unknown key '{at}'.{did_you_mean(key, allowed)} "
                f"Allowed here: {', '.join(sorted(allowed))}. Fix the spelling or remove the key."
            )
        for sub in (f"{place}.{key}", f"{place}.*"):
            if sub in ALLOWED_KEYS and isinstance(value, dict):
                check_keys(value, sub, path, at)
                break


def numeric_paths(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a profile mapping as (dotted key path, value), ``sources`` excluded.

    >>> list(numeric_paths({"a": 1, "b": {"c": 2.5, "d": "x"}, "sources": [{"e": 3}]}))
    [('a', 1), ('b.c', 2.5)]
    """
    if isinstance(data, dict):
        for key, value in data.items():
            if not prefix and key == "sources":
                continue
            yield from numeric_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix, data


def _covered(key_path: str, covers: tuple[str, ...]) -> bool:
    return any(key_path == c or key_path.startswith(c + ".") for c in covers)


def parse_sources(data: dict[str, Any], path: Path) -> list[Source]:
    """Check a profile's ``sources:`` and return them.

    Plain strings are accepted (calibration runs write them). Mapping entries must name a
    ``url`` or ``text`` and a ``basis``; when any entry is a mapping, every number in the
    profile must be covered by some entry's ``covers``.
    """
    raw = data.get("sources")
    if not raw:
        raise ProfileError(f"{path}: missing 'sources:'. Every profile needs at least one source "
                           "(a datasheet URL with its basis, or the calibration run).")
    entries = raw if isinstance(raw, list) else [raw]
    out: list[Source] = []
    structured = False
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if isinstance(entry, str):
            out.append(Source(text=entry))
            continue
        if not isinstance(entry, dict):
            raise ProfileError(f"{where}: expected a string or a mapping with url/text, basis, covers; got {entry!r}")
        structured = True
        for key in entry:
            if key not in SOURCE_KEYS:
                raise ProfileError(f"{where}: unknown key '{key}'.{did_you_mean(str(key), SOURCE_KEYS)} "
                                   f"Allowed: {', '.join(sorted(SOURCE_KEYS))}.")
        if not entry.get("url") and not entry.get("text"):
            raise ProfileError(f"{where}: give 'url:' (datasheet or measurement) or 'text:' (what it is)")
        basis = entry.get("basis")
        if basis not in SOURCE_BASES:
            raise ProfileError(f"{where}: 'basis' must be one of {', '.join(SOURCE_BASES)}, got {basis!r}. "
                               "Say whether the numbers are nominal (datasheet) or measured.")
        confidence = entry.get("confidence", "")
        if confidence and confidence not in SOURCE_CONFIDENCE:
            raise ProfileError(f"{where}: 'confidence' must be one of {', '.join(SOURCE_CONFIDENCE)}, got {confidence!r}")
        covers = entry.get("covers") or []
        if isinstance(covers, str):
            covers = [covers]
        if not isinstance(covers, list) or not covers:
            raise ProfileError(f"{where}: 'covers' must list the keys this source backs, e.g. [mem_bw_gbps, peak_tflops]")
        out.append(Source(text=str(entry.get("text", "")), url=str(entry.get("url", "")), basis=basis,
                          confidence=str(confidence), covers=tuple(str(c) for c in covers),
                          note=str(entry.get("note", ""))))
    if structured:
        numbers = [p for p, _ in numeric_paths(data)]
        all_covers = tuple(c for s in out for c in s.covers)
        missing = [p for p in numbers if not _covered(p, all_covers)]
        if missing:
            raise ProfileError(f"{path}: no source covers {', '.join(missing)}. Add the key to the 'covers:' "
                               "list of the source it comes from, or add a source (basis: nominal, "
                               "measured or estimate).")
        stale = [c for c in all_covers if not any(_covered(p, (c,)) for p in numbers)]
        if stale:
            raise ProfileError(f"{path}: sources cover {', '.join(stale)}, which is not a number in this "
                               "profile. Fix the key path in 'covers:'.")
    return out


def _num(data: dict[str, Any], key: str, path: Path, *, positive: bool = True, default: Any = None) -> float:
    if key not in data:
        if default is not None:
            return float(default)
        raise ProfileError(f"{path}: missing key '{key}'. Add it with a value and a source.")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"{path}: '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ProfileError(f"{path}: '{key}' is {value}; it must be a finite number. Fix the profile.")
    if value < 0 or (positive and value == 0):
        raise ProfileError(f"{path}: '{key}' must be {'> 0' if positive else '>= 0'}, got {value}. Fix the profile.")
    return float(value)


def _fraction(data: dict[str, Any], key: str, path: Path, default: float) -> float:
    value = _num(data, key, path, default=default)
    if value > 1:
        raise ProfileError(f"{path}: '{key}' is a share of peak and must be in (0, 1], got {value}. Fix the profile.")
    return value


def _count(data: dict[str, Any], key: str, path: Path, default: int | None = None) -> int:
    value = _num(data, key, path, default=default)
    if value != int(value):
        raise ProfileError(f"{path}: '{key}' must be a whole number, got {value}. Fix the profile.")
    return int(value)


def _sources(data: dict[str, Any], path: Path) -> list[str]:
    return [str(s) for s in parse_sources(data, path)]


def _kernel_rates(data: dict[str, Any], path: Path, peak_tflops: float, mem_bw_gbps: float) -> dict[str, KernelRate]:
    """Per-class rates: fitted values where given, else peak x efficiency."""
    spec = data.get("kernels") or {}
    if not isinstance(spec, dict):
        raise ProfileError(f"{path}: 'kernels' must be a mapping of kernel classes ({', '.join(KERNEL_CLASSES)}), "
                           f"got {spec!r}")
    rates = {}
    for cls in (*KERNEL_CLASSES, *OPTIONAL_KERNEL_CLASSES):
        k = spec.get(cls)
        if k is None and cls in OPTIONAL_KERNEL_CLASSES:
            continue
        if not isinstance(k, dict):
            raise ProfileError(f"{path}: kernels.{cls} is missing; give launch_us with tflops/gbps or efficiencies")
        where = Path(f"{path}: kernels.{cls}")
        flops = _num(k, "tflops", where) * 1e12 if "tflops" in k else peak_tflops * 1e12 * _fraction(k, "compute_eff", where, 0.5)
        byts = _num(k, "gbps", where) * 1e9 if "gbps" in k else mem_bw_gbps * 1e9 * _fraction(k, "memory_eff", where, 0.6)
        rates[cls] = _rate_from(k, where, flops, byts)
    return rates


def _rate_from(block: dict[str, Any], where: Path, flops_per_s: float, bytes_per_s: float) -> KernelRate:
    """A :class:`KernelRate` from ``launch_us`` and the optional ``cache_mb``,
    ``cache_gbps``, ``first_touch_us_per_mb``, ``per_item_ns``, ``k_half``, ``n_half``,
    ``first_touch_above_mb``, ``shape_power`` and ``m_half`` of a profile block."""
    return KernelRate(
        _num(block, "launch_us", where, positive=False) * 1e-6, flops_per_s, bytes_per_s,
        _num(block, "cache_mb", where, positive=False, default=0) * 1e6,
        _num(block, "cache_gbps", where) * 1e9 if "cache_gbps" in block else float("inf"),
        _num(block, "first_touch_us_per_mb", where, positive=False, default=0) * 1e-12,
        _num(block, "per_item_ns", where, positive=False, default=0) * 1e-9,
        _num(block, "k_half", where, positive=False, default=0),
        _num(block, "n_half", where, positive=False, default=0),
        _num(block, "first_touch_above_mb", where, positive=False, default=0) * 1e6,
        _num(block, "shape_power", where, default=1),
        _num(block, "m_half", where, positive=False, default=0),
    )


def _host_gather_from(block: dict[str, Any], where: Path) -> KernelRate:
    """A host feature gather: memory bound (no FLOP limit), ``gbps`` plus the rate options."""
    return _rate_from(block, where, HOST_GATHER_FLOPS_PER_S, _num(block, "gbps", where) * 1e9)


HOST_GATHER_FLOPS_PER_S = 1e18  # a gather does no arithmetic: never the bound


def _device_from(data: dict[str, Any], path: Path, name: str, fallback_sources: Any = None) -> Device:
    kind = data.get("kind")
    if kind not in ("gpu", "cpu"):
        raise ProfileError(f"{path}: 'kind' must be gpu or cpu, got {kind!r}")
    peaks = data.get("peak_tflops") or {}
    if not isinstance(peaks, dict) or "float32" not in peaks:
        raise ProfileError(f"{path}: peak_tflops.float32 is missing (the FP32 non-tensor peak in TFLOP/s)")
    peak_values = {str(k): _num(peaks, k, Path(f"{path}: peak_tflops")) for k in peaks}
    mem_bw = _num(data, "mem_bw_gbps", path)
    if "sources" not in data and fallback_sources:
        data = {**data, "sources": fallback_sources}
    return Device(
        name=str(data.get("name", name)),
        kind=kind,
        memory_bytes=_num(data, "memory_bytes", path),
        mem_bw_gbps=mem_bw,
        peak_tflops=peak_values,
        kernels=_kernel_rates(data, path, peak_values["float32"], mem_bw),
        sources=_sources(data, path),
        threads=_count(data, "threads", path, default=1),
        jitter_cv=_num(data, "jitter_cv", path, positive=False, default=0),
        framework_s_per_kernel=_framework_costs(data, path),
        random_read_share=_num(data, "random_read_gbps", path, positive=False, default=0) / mem_bw,
    )


def _framework_costs(data: dict[str, Any], path: Path) -> dict[str, float]:
    block = data.get("framework_us_per_kernel") or {}
    if not isinstance(block, dict):
        raise ProfileError(f"{path}: framework_us_per_kernel must be a mapping like {{forward: 12.0, backward: 20.0}}")
    where = Path(f"{path}: framework_us_per_kernel")
    return {stage: _num(block, stage, where, positive=False) * 1e-6 for stage in block}


def device_from_mapping(data: dict[str, Any], where: str) -> Device:
    """A device from a mapping shaped like ``devices/NAME.yaml`` (``where`` names it in errors)."""
    return _device_from(data, Path(where), str(data.get("name", where)))


def load_device(name: str) -> Device:
    """Read ``hwprofiles/devices/NAME.yaml`` (or ``calibrated/NAME`` for a calibrated one).

    >>> d = load_device("a100-sxm4-80gb")
    >>> d.kind, d.mem_bw_gbps, d.peak_tflops["float32"]
    ('gpu', 2039.0, 19.5)
    """
    if name.startswith("calibrated/"):
        top, path = _read_yaml("calibrated", name.split("/", 1)[1])
        data = top.get("device", top)
        if not isinstance(data, dict):
            raise ProfileError(f"{path}: 'device' must be a mapping like a device profile")
        check_keys(data, "devices", Path(f"{path}: device"))
        return _device_from(data, path, name, top.get("sources"))
    data, path = read_profile("devices", name)
    return _device_from(data, path, name)


def load_link(name: str) -> Link:
    """Read ``hwprofiles/links/NAME.yaml``.

    >>> link = load_link("pcie4-x16")
    >>> link.bw_gbps, link.nominal_bw_gbps, link.bw_basis
    (25.0, 32.0, 'measured')
    """
    data, path = read_profile("links", name)
    return _link_from(data, path, name)


def _link_from(data: dict[str, Any], path: Path, name: str) -> Link:
    kind = data.get("kind")
    if kind not in LINK_KINDS:
        raise ProfileError(f"{path}: link 'kind' must be one of {', '.join(LINK_KINDS)}, got {kind!r}")
    bw = _num(data, "bw_gbps", path)
    nominal = _num(data, "nominal_bw_gbps", path) if "nominal_bw_gbps" in data else None
    measured = _num(data, "measured_bw_gbps", path) if "measured_bw_gbps" in data else None
    basis = str(data.get("bw_basis") or "")
    if basis:
        if basis not in ("nominal", "measured"):
            raise ProfileError(f"{path}: 'bw_basis' must be nominal or measured, got {basis!r}")
        chosen = nominal if basis == "nominal" else measured
        if chosen is None or abs(chosen - bw) > 1e-9 * max(bw, 1.0):
            raise ProfileError(f"{path}: bw_basis is {basis} but bw_gbps ({bw}) is not {basis}_bw_gbps ({chosen}). "
                               f"Set bw_gbps to the {basis} figure or change bw_basis.")
    return Link(
        name=str(data.get("name", name)),
        kind=kind,
        bw_gbps=bw,
        latency_us=_num(data, "latency_us", path, positive=False),
        duplex=bool(data.get("duplex", True)),
        sources=tuple(_sources(data, path)),
        nominal_bw_gbps=nominal,
        measured_bw_gbps=measured,
        bw_basis=basis,
        uva_read_share=_num(data, "uva_read_gbps", path, positive=False, default=0) / bw,
    )


def _sampler_from(data: dict[str, Any], path: Path) -> SamplerCost:
    return SamplerCost(
        per_batch_s=_num(data, "per_batch_us", path, positive=False) * 1e-6,
        per_node_s=_num(data, "per_node_ns", path, positive=False) * 1e-9,
        per_edge_s=_num(data, "per_edge_ns", path, positive=False) * 1e-9,
        per_edge_doubling_s=_num(data, "per_edge_doubling_ns", path, positive=False, default=0) * 1e-9,
        reference_nodes=_num(data, "reference_nodes", path, positive=False, default=0),
        per_hop_s=_num(data, "per_hop_us", path, positive=False, default=0) * 1e-6,
        per_draw_s=_num(data, "per_draw_us", path, positive=False, default=0) * 1e-6,
        per_check_s=_num(data, "per_check_ns", path, positive=False, default=0) * 1e-9,
    )


# Link kinds whose calibrated alpha/beta carry over to each other (NVLink through NVSwitch).
_SAME_FABRIC = {"nvlink": "nvlink", "nvswitch": "nvlink"}


def _same_fabric(a: str, b: str) -> bool:
    return _SAME_FABRIC.get(a, a) == _SAME_FABRIC.get(b, b)


def _cpu_efficiency_from(block: Any, path: Path) -> float:
    """Effective cores per nominal core from a calibrated ``cpu_sharing`` block (at most 1)."""
    if not isinstance(block, dict):
        raise ProfileError(f"{path}: 'cpu_sharing' must be a mapping like {{effective_cores: 1.0, demand_cores: 2}} "
                           f"(written by gnnsim calibrate), got {block!r}. Recalibrate or remove the key.")
    check_keys(block, "calibrated.cpu_sharing", path, "cpu_sharing")
    where = Path(f"{path}: cpu_sharing")
    return min(1.0, _num(block, "effective_cores", where) / _num(block, "demand_cores", where))


def _cpu_sharing_fields(block: Any, path: Path) -> dict[str, Any]:
    """The :class:`Node` fields of a calibrated ``cpu_sharing`` block: the cores'
    efficiency, and where measured the OS's time slice and the warm-up after idling."""
    fields: dict[str, Any] = {"cpu_efficiency": _cpu_efficiency_from(block, path), "warmup": warmup_from(block, path)}
    if "time_slice_ms" in block:
        fields["time_slice_s"] = _num(block, "time_slice_ms", Path(f"{path}: cpu_sharing")) * 1e-3
    return fields


def warmup_from(block: dict[str, Any], path: Path) -> Warmup | None:
    """The warm-up after idling of a ``cpu_sharing`` block's ``warmup_*`` keys (None: not
    measured); ``path`` names the file in errors."""
    if "warmup_us" not in block:
        return None
    where = Path(f"{path}: cpu_sharing")
    return Warmup(_num(block, "warmup_us", where) * 1e-6, _num(block, "warmup_idle_ms", where) * 1e-3,
                  _num(block, "warmup_ramp_ms", where) * 1e-3)


def _calibrated_fields(cal_name: str, device: Device, intra: Link, h2d: Link | None) -> dict[str, Any]:
    """The :class:`Node` fields measured in ``calibrated/CAL_NAME``, to replace the
    node's nominal ones.

    ``sampler`` and ``host_gather`` (host CPU costs) always apply. ``h2d_link`` applies
    when the trainers are GPUs and the node has a host-to-device link. ``intra_link``
    and ``allreduce`` apply only when they were measured over the same kind of link as
    the node's own (their ``kind:``/``over:`` key, default ``loopback``, the gloo path
    that ``gnnsim calibrate --device cpu`` measures), so that gloo-over-TCP numbers from
    a laptop never replace NVLink on a DGX. ``cpu_sharing`` gives the node's cores the
    measured efficiency (effective cores per busy core; see :attr:`Node.compute_cores`)
    and, where measured, the OS's time slice.
    """
    cal, cal_path = _read_yaml("calibrated", cal_name)
    fields: dict[str, Any] = {}
    collective = None
    if "cpu_sharing" in cal:
        fields.update(_cpu_sharing_fields(cal["cpu_sharing"], cal_path))
    if isinstance(cal.get("sampler"), dict):
        fields["sampler"] = _sampler_from(cal["sampler"], Path(f"{cal_path}: sampler"))
    if isinstance(cal.get("host_gather"), dict):
        fields["host_gather"] = _host_gather_from(cal["host_gather"], Path(f"{cal_path}: host_gather"))
    if isinstance(cal.get("h2d_link"), dict) and h2d is not None and device.kind == "gpu":
        block = cal["h2d_link"]
        h2d = _link_from({**block, "kind": block.get("kind", h2d.kind), "sources": [str(cal_path)]},
                         Path(f"{cal_path}: h2d_link"), f"calibrated-{h2d.kind}")
    measured_over = "loopback"
    if isinstance(cal.get("intra_link"), dict):
        block = cal["intra_link"]
        measured_over = str(block.get("kind", "loopback"))
        if _same_fabric(measured_over, intra.kind):
            intra = _link_from({**block, "kind": intra.kind, "sources": [str(cal_path)]},
                               Path(f"{cal_path}: intra_link"), f"calibrated-{intra.kind}")
    if isinstance(cal.get("allreduce"), dict):
        a = cal["allreduce"]
        if _same_fabric(str(a.get("over", measured_over)), intra.kind):
            collective = _collective_from(a, Path(f"{cal_path}: allreduce"))
    crowded = _oversubscribed_from(cal["oversubscribed"], cal_path, intra) \
        if "oversubscribed" in cal and collective is not None else None
    return {**fields, "intra_link": intra, "h2d_link": h2d, "collective": collective, "oversubscribed": crowded}


def _collective_from(block: dict[str, Any], where: Path) -> Collective:
    """A calibrated ``allreduce:`` block (alpha, bandwidth, wake-up, arrival-spread factor)."""
    def floor(key: str, default: float) -> float:
        value = _num(block, key, where, positive=False, default=default)
        if value > 1.0:
            raise ProfileError(f"{where}: '{key}' must be between 0 and 1 (alpha's factor when the ranks "
                               f"arrive apart), got {value}. Recalibrate or remove the key.")
        return value

    floors = {"spread_floor": floor("spread_floor", 1.0)}
    floors["alltoall_spread_floor"] = floor("alltoall_spread_floor", floors["spread_floor"])
    spread_us = _num(block, "spread_us", where, positive=False, default=0)
    busy = {key: _num(block, key, where, positive=False, default=0)
            for key in ("busy_rise", "busy_us", "alltoall_busy_rise", "alltoall_busy_us")}
    return Collective(_num(block, "alpha_us", where, positive=False) * 1e-6, _num(block, "gbps", where) * 1e9,
                      _num(block, "wakeup_us", where, positive=False, default=0) * 1e-6,
                      _num(block, "idle_threshold_us", where, positive=False, default=0) * 1e-6,
                      floors["spread_floor"], spread_us * 1e-6, floors["alltoall_spread_floor"],
                      _num(block, "alltoall_spread_us", where, positive=False, default=spread_us) * 1e-6,
                      busy["busy_rise"], busy["busy_us"] * 1e-6, busy["alltoall_busy_rise"],
                      busy["alltoall_busy_us"] * 1e-6)


def _oversubscribed_from(block: Any, path: Path, intra: Link) -> Oversubscribed:
    """The collectives measured with more processes than cores (``oversubscribed:``)."""
    if not isinstance(block, dict) or not isinstance(block.get("intra_link"), dict) \
            or not isinstance(block.get("allreduce"), dict):
        raise ProfileError(f"{path}: 'oversubscribed' must be a mapping like {{processes: 4, cores: 2, "
                           "intra_link: {latency_us, bw_gbps}, allreduce: {alpha_us, gbps}}} (written by gnnsim "
                           f"calibrate), got {block!r}. Recalibrate or remove the key.")
    check_keys(block, "calibrated.oversubscribed", path, "oversubscribed")
    where = Path(f"{path}: oversubscribed")
    per_core = _num(block, "processes", where) / _num(block, "cores", where)
    if per_core <= 1.0:
        raise ProfileError(f"{where}: 'processes' must exceed 'cores' (more processes than cores is what this block "
                           f"measures), got {block['processes']} on {block['cores']}")
    link = _link_from({**block["intra_link"], "kind": intra.kind, "sources": [str(path)]},
                      Path(f"{where}.intra_link"), f"calibrated-{intra.kind}-oversubscribed")
    return Oversubscribed(per_core, link, _collective_from(block["allreduce"], Path(f"{where}.allreduce")))


def load_node(name: str, device_override: str | None = None, trainers: int | None = None) -> Node:
    """Read ``hwprofiles/nodes/NAME.yaml``; ``device_override`` replaces its trainer device.

    >>> node = load_node("dgx-a100-80gb")
    >>> node.trainers, node.trainer_device.name, node.intra_link.kind
    (8, 'a100-sxm4-80gb', 'nvswitch')
    """
    data, path = read_profile("nodes", name)
    device = load_device(device_override or str(data.get("trainer_device")))
    host = data.get("host") or {}
    if not isinstance(host, dict):
        raise ProfileError(f"{path}: 'host' must be a mapping with sampler and gather blocks, got {host!r}")
    sampler_data = host.get("sampler")
    gather = host.get("gather")
    if not isinstance(sampler_data, dict) or not isinstance(gather, dict):
        raise ProfileError(f"{path}: host.sampler and host.gather are required (CPU sampling and feature gather costs)")
    sampler = _sampler_from(sampler_data, Path(f"{path}: host.sampler"))
    gather_path = Path(f"{path}: host.gather")
    host_gather = _host_gather_from(gather, gather_path)
    if not data.get("intra_link"):
        raise ProfileError(f"{path}: missing key 'intra_link' (the link between trainers of one node, e.g. nvlink3)")
    intra = load_link(str(data["intra_link"]))
    h2d = load_link(str(data["h2d_link"])) if data.get("h2d_link") else None
    n_trainers = trainers or _count(data, "trainers", path, default=0)
    if n_trainers <= 0:
        raise ProfileError(f"{path}: 'trainers' must be a positive count of trainer devices per node")
    node = Node(
        name=str(data.get("name", name)),
        trainer_device=device,
        trainers=n_trainers,
        host_cpu_cores=_count(data, "host_cpu_cores", path),
        sampler=sampler,
        sampler_workers=_count(host, "sampler_workers", Path(f"{path}: host"), default=1),
        host_gather=host_gather,
        intra_link=intra,
        h2d_link=h2d,
        nic=load_link(str(data["nic"])) if data.get("nic") else None,
        price_per_hour=_num(data, "price_per_hour", path, positive=False, default=0.0),
        sources=_sources(data, path),
        nic_count=_count(data, "nic_count", path, default=1),
    )
    if device_override and device_override.startswith("calibrated/"):
        node = replace(node, **_calibrated_fields(device_override.split("/", 1)[1], device, intra, h2d))
    return node


def load_cluster(name: str, *, num_nodes: int | None = None, trainers_per_node: int | None = None,
                 device_profile: str | None = None) -> Cluster:
    """Read ``hwprofiles/clusters/NAME.yaml`` and apply a scenario's overrides.

    A node reaches the network through ``nic_count`` NICs (one per rail); the cluster
    may say which NICs its nodes use (``nic:``, ``nic_count:``) in place of the node's.
    The per-node network rate is ``nic_count x min(network, nic)``. ``nodes_per_host``
    (default 1) says how many consecutive nodes are really one machine, whose CPU their
    trainers share (the network namespaces of the validation's shaped-link clusters).

    >>> c = load_cluster("a100-8x8-ib-hdr")
    >>> c.num_trainers, c.network.bw_gbps   # 8 HDR rails of 25 GB/s per node
    (64, 200.0)
    """
    data, path = read_profile("clusters", name)
    if not data.get("node"):
        raise ProfileError(f"{path}: missing key 'node' (a profile in hwprofiles/nodes/)")
    per_host = _count(data, "nodes_per_host", path, default=1)
    node = load_node(str(data["node"]), device_profile, trainers_per_node)
    node = node.on_host(node.trainers * per_host)  # its trainers may outnumber the host's cores
    if data.get("nic"):
        node = replace(node, nic=load_link(str(data["nic"])))
    if "nic_count" in data:
        node = replace(node, nic_count=_count(data, "nic_count", path))
    n = num_nodes or _count(data, "num_nodes", path)
    network = load_link(str(data["network"])) if data.get("network") else node.intra_link
    if n > 1 and node.nic is not None:
        # A node reaches the network through its NICs: the slower of the two bounds a flow.
        slower = min((network, node.nic), key=lambda link: link.bw_gbps)
        network = replace(slower, latency_us=max(network.latency_us, node.nic.latency_us))
        if node.nic_count > 1:
            network = replace(network, name=f"{node.nic_count}x {network.name}",
                              bw_gbps=network.bw_gbps * node.nic_count)
    return Cluster(name=str(data.get("name", name)), node=node, num_nodes=n, network=network, sources=_sources(data, path),
                   nodes_per_host=per_host)


def list_profiles() -> dict[str, list[str]]:
    """Profile names by kind (clusters, nodes, devices, links, software, calibrated)."""
    root = profile_root()
    return {kind: sorted(p.stem for p in (root / kind).glob("*.yaml"))
            for kind in ("clusters", "nodes", "devices", "links", "software", "calibrated") if (root / kind).is_dir()}
