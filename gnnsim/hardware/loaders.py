"""Reading the profile files into :mod:`gnnsim.hardware.cluster`'s values.

A nominal profile gives each kernel class a datasheet peak times an efficiency; a
*calibrated* profile (``hwprofiles/calibrated/NAME.yaml``, written by ``gnnsim
calibrate``) gives fitted rates and stands in for the datasheet device of any cluster
through ``cluster.device_profile: calibrated/NAME``; its optional ``sampler``,
``host_gather``, ``h2d_link``, ``intra_link`` and ``allreduce`` blocks replace the
node's nominal numbers where they were measured on the same kind of hardware (see
:func:`load_node`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gnnsim.errors import ProfileError
from gnnsim.hardware.cluster import (Cluster, Collective, Device, KernelRate, Link, Node, Oversubscribed, SamplerCost,
                                     TableGather)
from gnnsim.hardware.host_effects import HostEffects, carried, scheduling_from, stalls_from
from gnnsim.hardware.schema import (KERNEL_CLASSES, LINK_KINDS, OPTIONAL_KERNEL_CLASSES, check_keys, read_count,
                                    read_fraction, read_number, read_profile, read_yaml)
from gnnsim.hardware.sources import source_texts


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
        flops = (read_number(k, "tflops", where) * 1e12 if "tflops" in k
                 else peak_tflops * 1e12 * read_fraction(k, "compute_eff", where, 0.5))
        byts = (read_number(k, "gbps", where) * 1e9 if "gbps" in k
                else mem_bw_gbps * 1e9 * read_fraction(k, "memory_eff", where, 0.6))
        rates[cls] = _rate_from(k, where, flops, byts)
    return rates


def _rate_from(block: dict[str, Any], where: Path, flops_per_s: float, bytes_per_s: float) -> KernelRate:
    """A :class:`KernelRate` from ``launch_us`` and the optional ``cache_mb``,
    ``cache_gbps``, ``first_touch_us_per_mb``, ``per_item_ns``, ``k_half``, ``n_half``,
    ``first_touch_above_mb``, ``shape_power`` and ``m_half`` of a profile block."""
    return KernelRate(
        read_number(block, "launch_us", where, positive=False) * 1e-6, flops_per_s, bytes_per_s,
        read_number(block, "cache_mb", where, positive=False, default=0) * 1e6,
        read_number(block, "cache_gbps", where) * 1e9 if "cache_gbps" in block else float("inf"),
        read_number(block, "first_touch_us_per_mb", where, positive=False, default=0) * 1e-12,
        read_number(block, "per_item_ns", where, positive=False, default=0) * 1e-9,
        read_number(block, "k_half", where, positive=False, default=0),
        read_number(block, "n_half", where, positive=False, default=0),
        read_number(block, "first_touch_above_mb", where, positive=False, default=0) * 1e6,
        read_number(block, "shape_power", where, default=1),
        read_number(block, "m_half", where, positive=False, default=0),
    )


def _host_gather_from(block: dict[str, Any], where: Path) -> KernelRate:
    """A host feature gather: memory bound (no FLOP limit), ``gbps`` plus the rate options."""
    return _rate_from(block, where, HOST_GATHER_FLOPS_PER_S, read_number(block, "gbps", where) * 1e9)


def _table_gather_from(block: dict[str, Any], where: Path) -> TableGather | None:
    """``host_gather.small_table`` (the gather fitted on a small table) with the large
    sweep's ``table_rows``; None where the calibration has no small-table sweep."""
    small = block.get("small_table")
    if not isinstance(small, dict) or "table_rows" not in block:
        return None
    return TableGather(_host_gather_from(small, Path(f"{where}: small_table")),
                       read_number(small, "table_mb", Path(f"{where}: small_table")) * 1e6,
                       read_number(block, "table_rows", where))


HOST_GATHER_FLOPS_PER_S = 1e18  # a gather does no arithmetic: never the bound


def _device_from(data: dict[str, Any], path: Path, name: str, fallback_sources: Any = None) -> Device:
    kind = data.get("kind")
    if kind not in ("gpu", "cpu"):
        raise ProfileError(f"{path}: 'kind' must be gpu or cpu, got {kind!r}")
    peaks = data.get("peak_tflops") or {}
    if not isinstance(peaks, dict) or "float32" not in peaks:
        raise ProfileError(f"{path}: peak_tflops.float32 is missing (the FP32 non-tensor peak in TFLOP/s)")
    peak_values = {str(k): read_number(peaks, k, Path(f"{path}: peak_tflops")) for k in peaks}
    mem_bw = read_number(data, "mem_bw_gbps", path)
    if "sources" not in data and fallback_sources:
        data = {**data, "sources": fallback_sources}
    return Device(
        name=str(data.get("name", name)),
        kind=kind,
        memory_bytes=read_number(data, "memory_bytes", path),
        mem_bw_gbps=mem_bw,
        peak_tflops=peak_values,
        kernels=_kernel_rates(data, path, peak_values["float32"], mem_bw),
        sources=source_texts(data, path),
        threads=read_count(data, "threads", path, default=1),
        jitter_cv=read_number(data, "jitter_cv", path, positive=False, default=0),
        framework_s_per_kernel=_framework_costs(data, path),
        random_read_share=read_number(data, "random_read_gbps", path, positive=False, default=0) / mem_bw,
    )


def _framework_costs(data: dict[str, Any], path: Path) -> dict[str, float]:
    block = data.get("framework_us_per_kernel") or {}
    if not isinstance(block, dict):
        raise ProfileError(f"{path}: framework_us_per_kernel must be a mapping like {{forward: 12.0, backward: 20.0}}")
    where = Path(f"{path}: framework_us_per_kernel")
    return {stage: read_number(block, stage, where, positive=False) * 1e-6 for stage in block}


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
        top, path = read_yaml("calibrated", name.split("/", 1)[1])
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
    bw = read_number(data, "bw_gbps", path)
    nominal = read_number(data, "nominal_bw_gbps", path) if "nominal_bw_gbps" in data else None
    measured = read_number(data, "measured_bw_gbps", path) if "measured_bw_gbps" in data else None
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
        latency_us=read_number(data, "latency_us", path, positive=False),
        duplex=bool(data.get("duplex", True)),
        sources=tuple(source_texts(data, path)),
        nominal_bw_gbps=nominal,
        measured_bw_gbps=measured,
        bw_basis=basis,
        uva_read_share=read_number(data, "uva_read_gbps", path, positive=False, default=0) / bw,
        pageable_h2d_gbps=read_number(data, "pageable_h2d_gbps", path, positive=False, default=0),
    )


def _sampler_from(data: dict[str, Any], path: Path) -> SamplerCost:
    return SamplerCost(
        per_batch_s=read_number(data, "per_batch_us", path, positive=False) * 1e-6,
        per_node_s=read_number(data, "per_node_ns", path, positive=False) * 1e-9,
        per_edge_s=read_number(data, "per_edge_ns", path, positive=False) * 1e-9,
        per_edge_doubling_s=read_number(data, "per_edge_doubling_ns", path, positive=False, default=0) * 1e-9,
        reference_nodes=read_number(data, "reference_nodes", path, positive=False, default=0),
        per_hop_s=read_number(data, "per_hop_us", path, positive=False, default=0) * 1e-6,
        per_draw_s=read_number(data, "per_draw_us", path, positive=False, default=0) * 1e-6,
        per_check_s=read_number(data, "per_check_ns", path, positive=False, default=0) * 1e-9,
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
    return min(1.0, read_number(block, "effective_cores", where) / read_number(block, "demand_cores", where))


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
    cal, cal_path = read_yaml("calibrated", cal_name)
    fields: dict[str, Any] = {}
    effects: dict[str, Any] = {}  # the shared host's, where carried (gnnsim.hardware.host_effects)
    collective = None
    if "cpu_sharing" in cal:
        fields["cpu_efficiency"] = _cpu_efficiency_from(cal["cpu_sharing"], cal_path)
        effects.update(scheduling_from(cal["cpu_sharing"], cal_path))
    if isinstance(cal.get("sampler"), dict):
        fields["sampler"] = _sampler_from(cal["sampler"], Path(f"{cal_path}: sampler"))
    if isinstance(cal.get("host_gather"), dict):
        fields["host_gather"] = _host_gather_from(cal["host_gather"], Path(f"{cal_path}: host_gather"))
        fields["host_gather_tables"] = _table_gather_from(cal["host_gather"], Path(f"{cal_path}: host_gather"))
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
            effects.update(stalls_from(a, Path(f"{cal_path}: allreduce")))
    crowded = _oversubscribed_from(cal["oversubscribed"], cal_path, intra) \
        if "oversubscribed" in cal and collective is not None else None
    return {**fields, "intra_link": intra, "h2d_link": h2d, "collective": collective, "oversubscribed": crowded,
            "host_effects": carried(HostEffects(**effects))}


def _collective_from(block: dict[str, Any], where: Path) -> Collective:
    """A calibrated ``allreduce:`` block's alpha and bandwidth (its other keys are the
    host's effects: :func:`gnnsim.hardware.host_effects.stalls_from`)."""
    return Collective(read_number(block, "alpha_us", where, positive=False) * 1e-6,
                      read_number(block, "gbps", where) * 1e9)


def _oversubscribed_from(block: Any, path: Path, intra: Link) -> Oversubscribed:
    """The collectives measured with more processes than cores (``oversubscribed:``)."""
    if not isinstance(block, dict) or not isinstance(block.get("intra_link"), dict) \
            or not isinstance(block.get("allreduce"), dict):
        raise ProfileError(f"{path}: 'oversubscribed' must be a mapping like {{processes: 4, cores: 2, "
                           "intra_link: {latency_us, bw_gbps}, allreduce: {alpha_us, gbps}}} (written by gnnsim "
                           f"calibrate), got {block!r}. Recalibrate or remove the key.")
    check_keys(block, "calibrated.oversubscribed", path, "oversubscribed")
    where = Path(f"{path}: oversubscribed")
    per_core = read_number(block, "processes", where) / read_number(block, "cores", where)
    if per_core <= 1.0:
        raise ProfileError(f"{where}: 'processes' must exceed 'cores' (more processes than cores is what this block "
                           f"measures), got {block['processes']} on {block['cores']}")
    link = _link_from({**block["intra_link"], "kind": intra.kind, "sources": [str(path)]},
                      Path(f"{where}.intra_link"), f"calibrated-{intra.kind}-oversubscribed")
    ar_where = Path(f"{where}.allreduce")
    return Oversubscribed(per_core, link, _collective_from(block["allreduce"], ar_where),
                          HostEffects(**stalls_from(block["allreduce"], ar_where)))


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
    n_trainers = trainers or read_count(data, "trainers", path, default=0)
    if n_trainers <= 0:
        raise ProfileError(f"{path}: 'trainers' must be a positive count of trainer devices per node")
    node = Node(
        name=str(data.get("name", name)),
        trainer_device=device,
        trainers=n_trainers,
        host_cpu_cores=read_count(data, "host_cpu_cores", path),
        sampler=sampler,
        sampler_workers=read_count(host, "sampler_workers", Path(f"{path}: host"), default=1),
        host_gather=host_gather,
        intra_link=intra,
        h2d_link=h2d,
        nic=load_link(str(data["nic"])) if data.get("nic") else None,
        price_per_hour=read_number(data, "price_per_hour", path, positive=False, default=0.0),
        sources=source_texts(data, path),
        nic_count=read_count(data, "nic_count", path, default=1),
        host_memory_bytes=(read_number(data, "host_memory_gib", path) * 2**30 if "host_memory_gib" in data else None),
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
    per_host = read_count(data, "nodes_per_host", path, default=1)
    node = load_node(str(data["node"]), device_profile, trainers_per_node)
    node = node.on_host(node.trainers * per_host)  # its trainers may outnumber the host's cores
    if data.get("nic"):
        node = replace(node, nic=load_link(str(data["nic"])))
    if "nic_count" in data:
        node = replace(node, nic_count=read_count(data, "nic_count", path))
    n = num_nodes or read_count(data, "num_nodes", path)
    network = load_link(str(data["network"])) if data.get("network") else node.intra_link
    if n > 1 and node.nic is not None:
        # A node reaches the network through its NICs: the slower of the two bounds a flow.
        slower = min((network, node.nic), key=lambda link: link.bw_gbps)
        network = replace(slower, latency_us=max(network.latency_us, node.nic.latency_us))
        if node.nic_count > 1:
            network = replace(network, name=f"{node.nic_count}x {network.name}",
                              bw_gbps=network.bw_gbps * node.nic_count)
    return Cluster(name=str(data.get("name", name)), node=node, num_nodes=n, network=network, sources=source_texts(data, path),
                   nodes_per_host=per_host)
