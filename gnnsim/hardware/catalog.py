"""The profile catalog as plain data: what ``gnnsim hw list`` and ``gnnsim hw show`` print.

:func:`catalog` loads every profile of every kind (so a broken file shows up at once)
and returns one summary line of numbers per profile. :func:`describe` returns one
profile's numbers, each with the sources that back it and their basis (nominal,
measured, estimate ...), plus the values gnnsim derives from them (effective kernel
rates, a cluster's network rate and price).
"""

from __future__ import annotations

from typing import Any

from gnnsim.errors import ProfileError, did_you_mean
from gnnsim.hardware.loaders import load_cluster, load_device, load_link, load_node
from gnnsim.hardware.schema import PROFILE_KINDS, list_profiles, read_profile, read_yaml
from gnnsim.hardware.sources import covered, numeric_paths, parse_sources
from gnnsim.hardware.software import load_software

GIB = 1024.0**3


def _device_summary(name: str) -> dict[str, Any]:
    d = load_device(name)
    return {"kind": d.kind, "memory_gib": round(d.memory_bytes / GIB, 1), "mem_bw_gbps": d.mem_bw_gbps,
            "peak_tflops": d.peak_tflops}


def _link_summary(name: str) -> dict[str, Any]:
    link = load_link(name)
    out: dict[str, Any] = {"kind": link.kind, "bw_gbps": link.bw_gbps, "latency_us": link.latency_us}
    if link.bw_basis:
        out["bw_basis"] = link.bw_basis
    if link.nominal_bw_gbps is not None:
        out["nominal_bw_gbps"] = link.nominal_bw_gbps
    if link.measured_bw_gbps is not None:
        out["measured_bw_gbps"] = link.measured_bw_gbps
    return out


def _node_summary(name: str) -> dict[str, Any]:
    n = load_node(name)
    return {"trainers": n.trainers, "device": n.trainer_device.name, "intra_link": n.intra_link.name,
            "h2d_link": n.h2d_link.name if n.h2d_link else None,
            "nic": f"{n.nic_count}x {n.nic.name}" if n.nic else None, "host_cpu_cores": n.host_cpu_cores,
            "host_memory_gib": None if n.host_memory_bytes is None else n.host_memory_bytes / 2**30,
            "price_per_hour": n.price_per_hour}


def _cluster_summary(name: str, device_profile: str | None = None) -> dict[str, Any]:
    c = load_cluster(name, device_profile=device_profile)
    node = c.node
    return {"num_nodes": c.num_nodes, "node": node.name, "trainers": c.num_trainers,
            "device": node.trainer_device.name,
            "intra_link": f"{node.intra_link.name} ({node.intra_link.bw_gbps:g} GB/s)",
            "h2d_link": f"{node.h2d_link.name} ({node.h2d_link.bw_gbps:g} GB/s)" if node.h2d_link else None,
            "network": c.network.name if c.num_nodes > 1 else None,
            "network_bw_gbps": c.network.bw_gbps if c.num_nodes > 1 else None, "price_per_hour": c.price_per_hour}


def _software_summary(name: str) -> dict[str, Any]:
    s = load_software(name)
    return {"framework": s.framework, "per_iteration_us": s.per_iteration_s * 1e6,
            "per_layer_forward_us": s.per_layer_forward_s * 1e6, "per_layer_backward_us": s.per_layer_backward_s * 1e6,
            "sampler_edge_scale": s.sampler_edge_scale}


def _calibrated_summary(name: str) -> dict[str, Any]:
    out = _device_summary(f"calibrated/{name}")
    top, _ = read_yaml("calibrated", name)
    out["blocks"] = sorted(k for k in ("sampler", "host_gather", "h2d_link", "intra_link", "allreduce")
                           if isinstance(top.get(k), dict))
    return out


_SUMMARY = {"devices": _device_summary, "links": _link_summary, "nodes": _node_summary,
            "clusters": _cluster_summary, "software": _software_summary, "calibrated": _calibrated_summary}


def catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """Every profile by kind, each with a summary of its main numbers.

    Loading every profile checks it; a broken one gets ``{"error": message}`` as its summary.

    >>> cat = catalog()
    >>> cat["devices"]["a100-sxm4-80gb"]["mem_bw_gbps"]
    2039.0
    >>> cat["links"]["pcie4-x16"]["bw_basis"]
    'measured'
    """
    return {kind: {name: _summary_or_error(kind, name) for name in names} for kind, names in list_profiles().items()}


def _summary_or_error(kind: str, name: str) -> dict[str, Any]:
    """The profile's summary, or ``{"error": message}`` so one broken file does not hide the rest."""
    try:
        return _SUMMARY[kind](name)
    except ProfileError as exc:
        return {"error": str(exc)}


def find_profile(name: str) -> tuple[str, str]:
    """(kind, name) of a profile given as ``NAME`` or ``KIND/NAME`` (``calibrated/NAME``).

    >>> find_profile("nvlink3"), find_profile("devices/t4-16gb")
    (('links', 'nvlink3'), ('devices', 't4-16gb'))
    """
    if "/" in name:
        kind, _, bare = name.partition("/")
        if kind not in PROFILE_KINDS:
            raise ProfileError(f"'{name}': unknown profile kind '{kind}'.{did_you_mean(kind, PROFILE_KINDS)} "
                               f"Kinds: {', '.join(PROFILE_KINDS)}")
        return kind, bare
    profiles = list_profiles()
    for kind in PROFILE_KINDS:
        if name in profiles.get(kind, []):
            return kind, name
    every = [n for names in profiles.values() for n in names]
    raise ProfileError(f"no profile named '{name}'.{did_you_mean(name, every)} Run 'gnnsim hw list' to see the catalog.")


def describe(name: str) -> dict[str, Any]:
    """One profile's numbers with their sources, and what gnnsim derives from them.

    >>> info = describe("a100-sxm4-80gb")
    >>> row = next(r for r in info["numbers"] if r["key"] == "mem_bw_gbps")
    >>> row["value"], row["basis"]
    (2039, ['nominal'])
    """
    kind, bare = find_profile(name)
    if kind == "calibrated":
        data, path = read_yaml("calibrated", bare)
    else:
        data, path = read_profile(kind, bare)
    sources = parse_sources(data, path) if data.get("sources") or kind != "calibrated" else []
    if kind == "calibrated" and not sources and isinstance(data.get("device"), dict):
        sources = parse_sources(data["device"], path)
    numbers = []
    for key, value in numeric_paths(data):
        backing = [i for i, s in enumerate(sources) if s.covers and covered(key, s.covers)]
        numbers.append({"key": key, "value": value, "sources": backing,
                        "basis": sorted({sources[i].basis for i in backing})})
    return {
        "kind": kind, "name": bare, "path": str(path), "numbers": numbers,
        "sources": [{"url": s.url, "text": s.text, "basis": s.basis, "confidence": s.confidence,
                     "covers": list(s.covers), "note": s.note} for s in sources],
        "derived": _derived(kind, bare),
    }


def _derived(kind: str, name: str) -> dict[str, Any]:
    """Values gnnsim computes from the profile (what the cost model will use)."""
    if kind in ("devices", "calibrated"):
        d = load_device(name if kind == "devices" else f"calibrated/{name}")
        return {"kernels": {cls: {"launch_us": round(r.launch_s * 1e6, 3), "tflops": round(r.flops_per_s / 1e12, 4),
                                  "gbps": round(r.bytes_per_s / 1e9, 3)} for cls, r in d.kernels.items()},
                **({"calibrated_as_device_profile": _calibrated_summary(name)["blocks"]} if kind == "calibrated" else {})}
    if kind == "clusters":
        return _cluster_summary(name)
    if kind == "nodes":
        return _node_summary(name)
    if kind == "links":
        return _link_summary(name)
    return _software_summary(name)
