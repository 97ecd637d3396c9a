"""Hardware models (devices, links, nodes, clusters) read from the YAML catalog."""

from gnnsim.hardware.profiles import (
    Cluster, Collective, Device, KernelRate, Link, Node, SamplerCost,
    list_profiles, load_cluster, load_device, load_link, load_node, profile_root,
)

__all__ = ["Cluster", "Collective", "Device", "KernelRate", "Link", "Node", "SamplerCost",
           "list_profiles", "load_cluster", "load_device", "load_link", "load_node", "profile_root"]
