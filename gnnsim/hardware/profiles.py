"""Hardware as data: devices, links, nodes and clusters read from ``hwprofiles/*.yaml``.

A *device* is a GPU or a group of CPU cores that runs a trainer's kernels. Its kernel
classes (``gemm``, ``aggregate``, ``gather``, ``elementwise``) each have an effective
launch cost and effective FLOP and byte rates: datasheet peak times an efficiency for a
nominal profile, fitted values for a calibrated one. A *link* moves bytes with a
latency and a per-direction bandwidth. A *node* holds host CPUs, trainer devices and the
links between them; a *cluster* is N nodes joined by a network.

Every profile carries ``sources:`` (datasheet URLs or the calibration run) so that each
number can be traced. Profiles are looked up by name in the ``hwprofiles`` folder
(``GNNSIM_HWPROFILES`` overrides where that folder is).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gnnsim.errors import ProfileError, did_you_mean

KERNEL_CLASSES = ("gemm", "aggregate", "gather", "elementwise")
LINK_KINDS = ("pcie", "nvlink", "nvswitch", "ethernet", "infiniband", "loopback", "memory")


def profile_root() -> Path:
    """The folder that holds the profile catalog."""
    env = os.environ.get("GNNSIM_HWPROFILES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "hwprofiles"


@dataclass(frozen=True)
class KernelRate:
    """Effective cost of one kernel class: ``t = launch + max(flops/flops_rate, bytes/bytes_rate)``."""

    launch_s: float
    flops_per_s: float
    bytes_per_s: float
    # Optional cache tier: the first ``cache_bytes`` of a kernel's traffic move at
    # ``cache_bytes_per_s`` (fitted on CPUs, where small working sets stay in cache).
    cache_bytes: float = 0.0
    cache_bytes_per_s: float = float("inf")

    def memory_time_s(self, size_bytes: float) -> float:
        fast = min(size_bytes, self.cache_bytes)
        return fast / self.cache_bytes_per_s + (size_bytes - fast) / self.bytes_per_s


@dataclass(frozen=True)
class SamplerCost:
    """CPU neighbour-sampling cost of one sampler worker: per batch, per seed node, per edge."""

    per_batch_s: float
    per_node_s: float
    per_edge_s: float


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

    def kernel(self, cls: str) -> KernelRate:
        return self.kernels[cls]


@dataclass(frozen=True)
class Link:
    name: str
    kind: str
    bw_gbps: float  # GB/s per direction
    latency_us: float
    duplex: bool = True
    sources: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class Cluster:
    name: str
    node: Node
    num_nodes: int
    network: Link
    sources: list[str] = field(default_factory=list)

    @property
    def num_trainers(self) -> int:
        return self.num_nodes * self.node.trainers

    @property
    def price_per_hour(self) -> float:
        return self.num_nodes * self.node.price_per_hour

    def node_of(self, rank: int) -> int:
        return rank // self.node.trainers


def _read_yaml(kind: str, name: str) -> tuple[dict[str, Any], Path]:
    folder = profile_root() / kind
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise ProfileError(
            f"unknown {kind[:-1]} profile '{name}' (looked for {path}).{did_you_mean(name, known)} "
            f"Known: {', '.join(known) or 'none'}. Run 'gnnsim hw list' to see the catalog."
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return data, path


def _num(data: dict[str, Any], key: str, path: Path, *, positive: bool = True, default: Any = None) -> float:
    if key not in data:
        if default is not None:
            return float(default)
        raise ProfileError(f"{path}: missing key '{key}'. Add it with a value and a source.")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"{path}: '{key}' must be a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ProfileError(f"{path}: '{key}' must be {'> 0' if positive else '>= 0'}, got {value}. Fix the profile.")
    return float(value)


def _sources(data: dict[str, Any], path: Path) -> list[str]:
    src = data.get("sources")
    if not src:
        raise ProfileError(f"{path}: every profile needs 'sources:' (datasheet URL or calibration run)")
    return [str(s) for s in src] if isinstance(src, list) else [str(src)]


def _kernel_rates(data: dict[str, Any], path: Path, peak_tflops: float, mem_bw_gbps: float) -> dict[str, KernelRate]:
    """Per-class rates: fitted values where given, else peak x efficiency."""
    spec = data.get("kernels") or {}
    rates = {}
    for cls in KERNEL_CLASSES:
        k = spec.get(cls)
        if not isinstance(k, dict):
            raise ProfileError(f"{path}: kernels.{cls} is missing; give launch_us with tflops/gbps or efficiencies")
        where = Path(f"{path}: kernels.{cls}")
        launch = _num(k, "launch_us", where, positive=False) * 1e-6
        flops = _num(k, "tflops", where) * 1e12 if "tflops" in k else peak_tflops * 1e12 * _num(k, "compute_eff", where, default=0.5)
        byts = _num(k, "gbps", where) * 1e9 if "gbps" in k else mem_bw_gbps * 1e9 * _num(k, "memory_eff", where, default=0.6)
        cache_bytes = _num(k, "cache_mb", where, positive=False, default=0) * 1e6 if "cache_mb" in k else 0.0
        cache_rate = _num(k, "cache_gbps", where) * 1e9 if "cache_gbps" in k else float("inf")
        rates[cls] = KernelRate(launch, flops, byts, cache_bytes, cache_rate)
    return rates


def load_device(name: str) -> Device:
    """Read ``hwprofiles/devices/NAME.yaml`` (or ``calibrated/NAME`` for a calibrated one)."""
    if name.startswith("calibrated/"):
        data, path = _read_yaml("calibrated", name.split("/", 1)[1])
        data = data.get("device", data)
    else:
        data, path = _read_yaml("devices", name)
    kind = data.get("kind")
    if kind not in ("gpu", "cpu"):
        raise ProfileError(f"{path}: 'kind' must be gpu or cpu, got {kind!r}")
    peaks = data.get("peak_tflops") or {}
    if "float32" not in peaks:
        raise ProfileError(f"{path}: peak_tflops.float32 is missing")
    peak32 = _num(peaks, "float32", path)
    mem_bw = _num(data, "mem_bw_gbps", path)
    return Device(
        name=str(data.get("name", name)),
        kind=kind,
        memory_bytes=_num(data, "memory_bytes", path),
        mem_bw_gbps=mem_bw,
        peak_tflops={k: float(v) for k, v in peaks.items()},
        kernels=_kernel_rates(data, path, peak32, mem_bw),
        sources=_sources(data, path),
        threads=int(data.get("threads", 1)),
    )


def load_link(name: str) -> Link:
    data, path = _read_yaml("links", name)
    return _link_from(data, path, name)


def _link_from(data: dict[str, Any], path: Path, name: str) -> Link:
    kind = data.get("kind")
    if kind not in LINK_KINDS:
        raise ProfileError(f"{path}: link 'kind' must be one of {', '.join(LINK_KINDS)}, got {kind!r}")
    return Link(
        name=str(data.get("name", name)),
        kind=kind,
        bw_gbps=_num(data, "bw_gbps", path),
        latency_us=_num(data, "latency_us", path, positive=False),
        duplex=bool(data.get("duplex", True)),
        sources=tuple(_sources(data, path)),
    )


def _sampler_from(data: dict[str, Any], path: Path) -> SamplerCost:
    return SamplerCost(
        per_batch_s=_num(data, "per_batch_us", path, positive=False) * 1e-6,
        per_node_s=_num(data, "per_node_ns", path, positive=False) * 1e-9,
        per_edge_s=_num(data, "per_edge_ns", path, positive=False) * 1e-9,
    )


def load_node(name: str, device_override: str | None = None, trainers: int | None = None) -> Node:
    data, path = _read_yaml("nodes", name)
    device = load_device(device_override or str(data.get("trainer_device")))
    host = data.get("host") or {}
    sampler_data = host.get("sampler")
    gather = host.get("gather")
    if not isinstance(sampler_data, dict) or not isinstance(gather, dict):
        raise ProfileError(f"{path}: host.sampler and host.gather are required (CPU sampling and feature gather costs)")
    sampler = _sampler_from(sampler_data, Path(f"{path}: host.sampler"))
    host_gather = KernelRate(
        _num(gather, "launch_us", path, positive=False) * 1e-6, 1e18, _num(gather, "gbps", path) * 1e9
    )
    collective = None
    intra = load_link(str(data.get("intra_link")))
    if device_override and device_override.startswith("calibrated/"):
        cal, cal_path = _read_yaml("calibrated", device_override.split("/", 1)[1])
        if isinstance(cal.get("sampler"), dict):
            sampler = _sampler_from(cal["sampler"], Path(f"{cal_path}: sampler"))
        if isinstance(cal.get("host_gather"), dict):
            g = cal["host_gather"]
            host_gather = KernelRate(_num(g, "launch_us", cal_path, positive=False) * 1e-6, 1e18, _num(g, "gbps", cal_path) * 1e9,
                                     _num(g, "cache_mb", cal_path, positive=False, default=0) * 1e6,
                                     _num(g, "cache_gbps", cal_path) * 1e9 if "cache_gbps" in g else float("inf"))
        if isinstance(cal.get("intra_link"), dict) and intra.kind == "loopback":
            intra = _link_from({**cal["intra_link"], "kind": "loopback", "sources": [str(cal_path)]}, cal_path, "calibrated-loopback")
        if isinstance(cal.get("allreduce"), dict):
            a = cal["allreduce"]
            collective = Collective(_num(a, "alpha_us", cal_path, positive=False) * 1e-6, _num(a, "gbps", cal_path) * 1e9)
    n_trainers = trainers or int(data.get("trainers", 0))
    if n_trainers <= 0:
        raise ProfileError(f"{path}: 'trainers' must be a positive count of trainer devices per node")
    return Node(
        name=str(data.get("name", name)),
        trainer_device=device,
        trainers=n_trainers,
        host_cpu_cores=int(_num(data, "host_cpu_cores", path)),
        sampler=sampler,
        sampler_workers=int(_num(host, "sampler_workers", path, default=1)),
        host_gather=host_gather,
        intra_link=intra,
        h2d_link=load_link(str(data["h2d_link"])) if data.get("h2d_link") else None,
        nic=load_link(str(data["nic"])) if data.get("nic") else None,
        price_per_hour=_num(data, "price_per_hour", path, positive=False, default=0.0),
        sources=_sources(data, path),
        collective=collective,
    )


def load_cluster(name: str, *, num_nodes: int | None = None, trainers_per_node: int | None = None,
                 device_profile: str | None = None) -> Cluster:
    """Read ``hwprofiles/clusters/NAME.yaml`` and apply a scenario's overrides."""
    data, path = _read_yaml("clusters", name)
    node = load_node(str(data.get("node")), device_profile, trainers_per_node)
    n = num_nodes or int(_num(data, "num_nodes", path))
    network = load_link(str(data.get("network"))) if data.get("network") else node.intra_link
    if n > 1 and node.nic is not None:
        # A node reaches the network through its NIC: the slower of the two bounds a flow.
        slower = min((network, node.nic), key=lambda link: link.bw_gbps)
        network = replace(slower, latency_us=max(network.latency_us, node.nic.latency_us))
    return Cluster(name=str(data.get("name", name)), node=node, num_nodes=n, network=network, sources=_sources(data, path))


def list_profiles() -> dict[str, list[str]]:
    root = profile_root()
    return {kind: sorted(p.stem for p in (root / kind).glob("*.yaml"))
            for kind in ("clusters", "nodes", "devices", "links", "calibrated") if (root / kind).is_dir()}
