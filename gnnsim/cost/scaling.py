"""What-if hardware: the same cluster with some resources faster or slower.

A *knob* names a resource class and what to scale; a factor of 2 makes it twice as
fast (bandwidths and rates doubled, per-item costs halved):

=================  =============================================================
knob               what changes
=================  =============================================================
``gpu.peak``       the trainer device's FLOP rates (all kernel classes)
``gpu.mem_bw``     the trainer device's memory rates
``gpu.compute``    both, and the kernel launch cost (the whole kernel is faster)
``gpu.launch``     the kernel launch cost only
``pcie.bw``        the host-to-device link bandwidth
``nvlink.bw``      the intra-node link bandwidth (and the calibrated collective's)
``nvlink.latency`` the intra-node link latency and the calibrated collective's alpha
``network.bw``     the network and NIC bandwidth
``network.latency``the network latency (factor 2 halves it)
``cpu.sampling``   every cost of the sampler (per batch, node, edge, hop, draw, check)
``cpu.gather``     the host feature-gather rate
``cpu.cores``      the node's effective cores for its busy trainers (at most one per
                   nominal core: a factor cannot add cores the host does not have)
=================  =============================================================

``device.*`` is a synonym of ``gpu.*`` (CPU trainers have a device too), ``intra.*``
of ``nvlink.*``. The five classes that sensitivity analysis varies are in
:data:`SENSITIVITY_CLASSES`.

>>> from gnnsim.hardware.profiles import load_cluster
>>> c = scale_cluster(load_cluster("a100-2x8-eth100"), {"network.bw": 2})
>>> c.network.bw_gbps
25.0
"""

from __future__ import annotations

from dataclasses import replace

from gnnsim.errors import GnnsimError, did_you_mean
from gnnsim.hardware.profiles import Cluster, KernelRate, Link

KNOBS = ("gpu.peak", "gpu.mem_bw", "gpu.compute", "gpu.launch", "pcie.bw", "nvlink.bw", "nvlink.latency",
         "network.bw", "network.latency", "cpu.sampling", "cpu.gather", "cpu.cores")
SYNONYMS = {"device.": "gpu.", "intra.": "nvlink."}

# Resource class -> the knob that makes it faster, for sensitivity analysis.
SENSITIVITY_CLASSES = {
    "gpu compute": "gpu.compute",
    "pcie": "pcie.bw",
    "nvlink": "nvlink.bw",
    "network": "network.bw",
    "cpu sampling": "cpu.sampling",
    "cpu gather": "cpu.gather",
}


class ScalingError(GnnsimError):
    """An unknown what-if knob or a non-positive factor."""


def canonical_knob(name: str) -> str:
    for prefix, target in SYNONYMS.items():
        if name.startswith(prefix):
            name = target + name[len(prefix):]
    if name not in KNOBS:
        raise ScalingError(f"--scale {name}: unknown resource knob.{did_you_mean(name, KNOBS)} "
                           f"Known: {', '.join(KNOBS)}")
    return name


def _rate(k: KernelRate, flops: float = 1.0, mem: float = 1.0, launch: float = 1.0, fixed: float = 1.0) -> KernelRate:
    """``k`` with its FLOP rate, memory rates and launch ``flops``/``mem``/``launch`` times
    faster, and its fixed costs (per item, first touch) ``fixed`` times smaller."""
    return replace(k, flops_per_s=k.flops_per_s * flops, bytes_per_s=k.bytes_per_s * mem,
                   cache_bytes_per_s=k.cache_bytes_per_s * mem, launch_s=k.launch_s / launch,
                   per_item_s=k.per_item_s / fixed, first_touch_s_per_byte=k.first_touch_s_per_byte / fixed)


def _link(link: Link | None, bw: float = 1.0, latency: float = 1.0) -> Link | None:
    if link is None:
        return None
    return replace(link, bw_gbps=link.bw_gbps * bw, latency_us=link.latency_us / latency)


def scale_cluster(cluster: Cluster, factors: dict[str, float]) -> Cluster:
    """Return ``cluster`` with every knob in ``factors`` made ``factor`` times faster."""
    node, network = cluster.node, cluster.network
    for raw, f in factors.items():
        knob = canonical_knob(raw)
        if not f > 0:
            raise ScalingError(f"--scale {raw}={f}: the factor must be > 0 (2 = twice as fast)")
        dev = node.trainer_device
        if knob.startswith("gpu."):
            flops = f if knob in ("gpu.peak", "gpu.compute") else 1.0
            mem = f if knob in ("gpu.mem_bw", "gpu.compute") else 1.0
            launch = f if knob in ("gpu.compute", "gpu.launch") else 1.0
            fixed = f if knob == "gpu.compute" else 1.0  # the whole kernel, its fixed costs too
            kernels = {cls: _rate(k, flops, mem, launch, fixed) for cls, k in dev.kernels.items()}
            dev = replace(dev, kernels=kernels, mem_bw_gbps=dev.mem_bw_gbps * mem,
                          peak_tflops={k: v * flops for k, v in dev.peak_tflops.items()})
            node = replace(node, trainer_device=dev)
        elif knob == "pcie.bw":
            node = replace(node, h2d_link=_link(node.h2d_link, bw=f))
        elif knob == "nvlink.bw":
            coll = node.collective and replace(node.collective, bytes_per_s=node.collective.bytes_per_s * f)
            node = replace(node, intra_link=_link(node.intra_link, bw=f), collective=coll)
            if cluster.num_nodes == 1:  # a one-node cluster's "network" is its intra-node link
                network = _link(network, bw=f)
        elif knob == "nvlink.latency":
            coll = node.collective and replace(node.collective, alpha_s=node.collective.alpha_s / f)
            node = replace(node, intra_link=_link(node.intra_link, latency=f), collective=coll)
            if cluster.num_nodes == 1:
                network = _link(network, latency=f)
        elif knob == "network.bw":
            node = replace(node, nic=_link(node.nic, bw=f))
            if cluster.num_nodes > 1:
                network = _link(network, bw=f)
        elif knob == "network.latency":
            node = replace(node, nic=_link(node.nic, latency=f))
            if cluster.num_nodes > 1:
                network = _link(network, latency=f)
        elif knob == "cpu.sampling":
            node = replace(node, sampler=node.sampler.faster(f))
        elif knob == "cpu.gather":
            node = replace(node, host_gather=_rate(node.host_gather, mem=f, launch=f, fixed=f))
        elif knob == "cpu.cores":
            node = replace(node, cpu_efficiency=min(1.0, node.cpu_efficiency * f))
    return replace(cluster, node=node, network=network)
