"""Hardware models (devices, links, nodes, clusters) and software profiles read from the YAML catalog.

``gnnsim hw list`` shows the catalog; :mod:`gnnsim.hardware.profiles` explains the file
format and its sources, :mod:`gnnsim.hardware.software` the framework overheads.
"""

from gnnsim.hardware.profiles import (
    Cluster, Collective, Device, KernelRate, Link, Node, SamplerCost, Source,
    allow_keys, list_profiles, load_cluster, load_device, load_link, load_node, profile_root, read_profile,
)
from gnnsim.hardware.software import FRAMEWORKS, SoftwareProfile, load_software

__all__ = ["Cluster", "Collective", "Device", "FRAMEWORKS", "KernelRate", "Link", "Node", "SamplerCost",
           "SoftwareProfile", "Source", "allow_keys", "list_profiles", "load_cluster", "load_device", "load_link",
           "load_node", "load_software", "profile_root", "read_profile"]
